//! The store behind Python's file-like `erlang.PyBuffer`: append-only bytes
//! written from Erlang (`py_buffer:write/2`), read and re-read (with seek)
//! from Python, and exportable to a `memoryview` without a copy.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::lock;
use crate::wake::{Wake, WatchId, Watchers};

/// Why [`Buffer::write`] refused bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferError {
    /// [`Buffer::close`] was called: the data is complete.
    Closed,
    /// The bytes do not fit in the current allocation and an export pins it.
    Pinned,
}

impl fmt::Display for BufferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BufferError::Closed => "buffer is closed",
            BufferError::Pinned => "buffer is exported and full",
        })
    }
}

impl std::error::Error for BufferError {}

/// Append-only bytes with a read position.
///
/// Nothing written is ever dropped before the buffer is: reads only move
/// the position, so a reader may seek back and read again.
///
/// # Exports
///
/// [`Buffer::export`] hands out a raw pointer to the bytes written so far,
/// for a Python `memoryview` to read without the lock. The invariant that
/// keeps this sound: while the export count is above zero the allocation is
/// never moved or freed, and the exported bytes are never written — appends
/// only go into spare capacity past them (a write needing more room fails
/// with [`BufferError::Pinned`]), and no method removes or changes written
/// bytes. The exporter must keep the `Buffer` alive (hold its `Arc`) until
/// the matching [`Buffer::unexport`]; dropping the buffer frees the bytes.
/// The pointer is only handed out, never dereferenced here, so `Buffer` is
/// `Send + Sync` without any unsafe code.
pub struct Buffer {
    state: Mutex<State>,
}

struct State {
    data: Vec<u8>,
    position: usize,
    closed: bool,
    exports: usize,
    /// No b'\n' lies in `data[position..newline_free_until]`, so a reader
    /// polling `line_len` while a long line arrives in small writes scans
    /// each byte once rather than once per poll.
    newline_free_until: usize,
    watchers: Watchers,
}

impl Buffer {
    /// Pre-allocates `capacity_hint` bytes (a content-length hint, not a
    /// maximum). A hint the allocator refuses is ignored rather than fatal,
    /// since it may come from an untrusted header.
    pub fn new(capacity_hint: usize) -> Buffer {
        let mut data = Vec::new();
        let _ = data.try_reserve_exact(capacity_hint);
        Buffer {
            state: Mutex::new(State {
                data,
                position: 0,
                closed: false,
                exports: 0,
                newline_free_until: 0,
                watchers: Watchers::default(),
            }),
        }
    }

    /// Appends. Err(Closed) after close. Err(Pinned) if the bytes would not
    /// fit in the current allocation while at least one export is live
    /// (growing would move memory a Python memoryview points into) — nothing
    /// is written then. Wakes watchers (an empty write changes nothing and
    /// wakes no one).
    pub fn write(&self, data: &[u8]) -> Result<(), BufferError> {
        let pending = {
            let mut state = lock(&self.state);
            if state.closed {
                return Err(BufferError::Closed);
            }
            if state.exports > 0 && state.data.capacity() - state.data.len() < data.len() {
                return Err(BufferError::Pinned);
            }
            if data.is_empty() {
                return Ok(());
            }
            // Within capacity this never reallocates (`Vec` only grows when
            // the spare room is too small), which is what keeps exports valid.
            state.data.extend_from_slice(data);
            state.watchers.pending()
        };
        pending.wake();
        Ok(())
    }

    /// End of data (EOF); idempotent; wakes watchers (only on the call that
    /// closes it).
    pub fn close(&self) {
        let pending = {
            let mut state = lock(&self.state);
            if state.closed {
                return;
            }
            state.closed = true;
            state.watchers.pending()
        };
        pending.wake();
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        lock(&self.state).data.len()
    }

    pub fn is_empty(&self) -> bool {
        lock(&self.state).data.is_empty()
    }

    /// The current allocation: how many bytes fit before a write would need
    /// to grow it (and so fail while exported).
    pub fn capacity(&self) -> usize {
        lock(&self.state).data.capacity()
    }

    /// The read position.
    pub fn position(&self) -> usize {
        lock(&self.state).position
    }

    /// Bytes between the read position and the end of what is written.
    pub fn available(&self) -> usize {
        let state = lock(&self.state);
        state.data.len() - state.position
    }

    /// Closed and everything written has been read.
    pub fn at_eof(&self) -> bool {
        let state = lock(&self.state);
        state.closed && state.position == state.data.len()
    }

    /// Up to n bytes from the read position (None = all available),
    /// advancing it.
    pub fn take(&self, n: Option<usize>) -> Vec<u8> {
        let mut state = lock(&self.state);
        let start = state.position;
        let available = state.data.len() - start;
        let count = n.map_or(available, |n| n.min(available));
        state.position = start + count;
        state.data[start..start + count].to_vec()
    }

    /// Length of the next line from the read position including its b'\n',
    /// if a b'\n' has been written.
    pub fn line_len(&self) -> Option<usize> {
        let mut state = lock(&self.state);
        let scan_from = state.newline_free_until.max(state.position);
        match state.data[scan_from..].iter().position(|&byte| byte == b'\n') {
            Some(offset) => {
                let newline = scan_from + offset;
                state.newline_free_until = newline;
                Some(newline + 1 - state.position)
            }
            None => {
                state.newline_free_until = state.data.len();
                None
            }
        }
    }

    /// Absolute offset of the first occurrence of needle within
    /// [start, min(end, len)), like `bytes.find`. Empty needle -> Some(start)
    /// if start <= min(end, len).
    pub fn find(&self, needle: &[u8], start: usize, end: usize) -> Option<usize> {
        let state = lock(&self.state);
        let end = end.min(state.data.len());
        if start > end {
            return None;
        }
        find_bytes(&state.data[start..end], needle).map(|offset| start + offset)
    }

    /// Moves the read position (clamped to len); returns the new position.
    pub fn seek(&self, pos: usize) -> usize {
        let mut state = lock(&self.state);
        let pos = pos.min(state.data.len());
        if pos < state.position {
            // Bytes before the old position were never scanned for b'\n'.
            state.newline_free_until = pos;
        }
        state.position = pos;
        pos
    }

    /// Pins the allocation and returns (pointer, len) of the bytes written
    /// so far; the memory stays valid and unmoved until the matching
    /// unexport. Writes that fit in the capacity still succeed while pinned
    /// (they append past len, never touching exported bytes).
    pub fn export(&self) -> (*const u8, usize) {
        let mut state = lock(&self.state);
        state.exports += 1;
        (state.data.as_ptr(), state.data.len())
    }

    /// Releases one [`Buffer::export`]. An unmatched call is a caller bug:
    /// it asserts in debug builds and is ignored in release builds.
    pub fn unexport(&self) {
        let mut state = lock(&self.state);
        debug_assert!(state.exports > 0, "unexport without a matching export");
        state.exports = state.exports.saturating_sub(1);
    }

    /// Live exports.
    pub fn exports(&self) -> usize {
        lock(&self.state).exports
    }

    /// Registers a watcher woken on every later non-empty write and on
    /// close, until unwatch. A wake already in flight may still arrive just
    /// after `unwatch` returns.
    pub fn watch(&self, w: Arc<dyn Wake>) -> WatchId {
        lock(&self.state).watchers.add(w)
    }

    /// Removes a registration; unknown ids are ignored.
    pub fn unwatch(&self, id: WatchId) {
        let removed = lock(&self.state).watchers.remove(id);
        drop(removed);
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Buffer")
            .field("len", &state.data.len())
            .field("position", &state.position)
            .field("closed", &state.closed)
            .field("exports", &state.exports)
            .finish()
    }
}

/// First occurrence of `needle` in `haystack`: a byte scan for the needle's
/// first byte (which the compiler vectorises), then a compare at each hit.
fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    let last_start = haystack.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last_start {
        let candidate = from + haystack[from..=last_start].iter().position(|&byte| byte == first)?;
        if haystack[candidate + 1..candidate + needle.len()] == *rest {
            return Some(candidate);
        }
        from = candidate + 1;
    }
    None
}

#[cfg(test)]
mod tests;
