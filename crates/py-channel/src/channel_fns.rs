//! Channel operations for Python: receiving (waiting without the GIL, or
//! in an event loop through a watched descriptor), sending bytes back, and
//! closing.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use py_convert::capi::boolean;
use py_convert::capi::{self, PyExc, RawObj};
use py_convert::{Attached, PyObj};

use crate::args::{self, bytes_arg, new_bytes, raise_class, with_types};
use crate::handle::{null, Core, Handle};
use crate::{Queue, RecvError, SendError, Wake, WatchId};

/// What receiving from a closed, drained channel does.
#[derive(Clone, Copy)]
pub enum OnClosed {
    /// Raise `ChannelClosed` (`ByteChannelClosed`).
    Raise,
    /// End an iteration.
    StopIteration,
}

/// The queue Python receives from, and whether items are raw bytes.
fn inbound(h: &Handle) -> Option<(&Arc<Queue>, bool)> {
    match &h.core {
        Core::Channel(q) => Some((q, false)),
        Core::ByteChannel { inbound, .. } => Some((inbound, true)),
        _ => None,
    }
}

fn not_a_channel(py: Attached<'_>) -> RawObj {
    capi::raise(py, PyExc::TypeError, "not a channel");
    null()
}

/// An item as Python sees it: bytes, or the decoded term.
fn decode(py: Attached<'_>, raw: bool, item: &[u8]) -> RawObj {
    if raw {
        return new_bytes(py, item).map_or(null(), PyObj::into_raw);
    }
    match with_types(py, |types, limits| py_convert::etf_to_py(py, types, item, limits)) {
        Some(Ok(obj)) => obj.into_raw(),
        Some(Err(e)) => {
            args::raise_convert(py, &e);
            null()
        }
        None => null(),
    }
}

fn closed(py: Attached<'_>, module: &PyObj, raw: bool, on_closed: OnClosed) -> RawObj {
    match on_closed {
        OnClosed::StopIteration => capi::raise_empty(py, PyExc::StopIteration),
        OnClosed::Raise => {
            let class = if raw { c"ByteChannelClosed" } else { c"ChannelClosed" };
            raise_class(py, module, class, "the channel is closed");
        }
    }
    null()
}

/// The next item, waiting until `deadline` (None: no limit).
pub fn receive(py: Attached<'_>, module: &PyObj, h: &Handle, deadline: Option<Instant>, on_closed: OnClosed) -> RawObj {
    let Some((q, raw)) = inbound(h) else { return not_a_channel(py) };
    loop {
        match q.try_recv() {
            Ok(item) => return decode(py, raw, &item),
            Err(RecvError::Closed) => return closed(py, module, raw, on_closed),
            Err(RecvError::Empty) => {}
        }
        let ready = || {
            let i = q.info();
            i.len > 0 || i.closed
        };
        match args::wait(py, &|w| q.watch(w), &|id| q.unwatch(id), &ready, deadline) {
            Ok(true) => {}
            Ok(false) => {
                capi::raise(py, PyExc::TimeoutError, "no item came in time");
                return null();
            }
            Err(()) => return null(),
        }
    }
}

/// The next item, or `default` if none is queued.
pub fn try_receive(py: Attached<'_>, module: &PyObj, h: &Handle, default: &PyObj) -> RawObj {
    let Some((q, raw)) = inbound(h) else { return not_a_channel(py) };
    match q.try_recv() {
        Ok(item) => decode(py, raw, &item),
        Err(RecvError::Empty) => default.clone().into_raw(),
        Err(RecvError::Closed) => closed(py, module, raw, OnClosed::Raise),
    }
}

/// Closes a channel (both directions of a byte channel).
pub fn close(h: &Handle) {
    match &h.core {
        Core::Channel(q) => {
            q.close();
        }
        Core::ByteChannel { inbound, outbound } => {
            inbound.close();
            outbound.close();
        }
        Core::Buffer(b) => b.close(),
        Core::Dict(_) => {}
    }
}

/// `{size, len, max_size, closed}` of the inbound queue.
pub fn info(py: Attached<'_>, h: &Handle) -> Option<PyObj> {
    let Some((q, _)) = inbound(h) else {
        not_a_channel(py);
        return None;
    };
    let i = q.info();
    let d = capi::new_dict(py)?;
    for (k, v) in [(c"size", i.size as i64), (c"len", i.len as i64), (c"max_size", i.max_size as i64)] {
        let v = capi::new_int(py, v)?;
        capi::dict_set_str(py, &d, k, &v).ok()?;
    }
    capi::dict_set_str(py, &d, c"closed", &capi::new_bool(py, i.closed)).ok()?;
    Some(d)
}

/// `ByteChannel.send_bytes`: True, or False when the channel is busy.
pub fn send_bytes(py: Attached<'_>, module: &PyObj, h: &Handle, data: &PyObj) -> RawObj {
    let Core::ByteChannel { outbound, .. } = &h.core else {
        capi::raise(py, PyExc::TypeError, "send_bytes needs a byte channel");
        return null();
    };
    let Some(data) = bytes_arg(py, data) else { return null() };
    match outbound.send(data) {
        Ok(()) => boolean(true),
        Err(SendError::Busy) => boolean(false),
        Err(SendError::Closed) => {
            raise_class(py, module, c"ByteChannelClosed", "the channel is closed");
            null()
        }
    }
}

/// A watch an event loop waits on: a socket that turns readable when an
/// item comes or the channel closes (one byte at most is outstanding).
struct SocketWake {
    writer: UnixStream,
    signalled: AtomicBool,
}

impl Wake for SocketWake {
    fn wake(&self) {
        if !self.signalled.swap(true, Ordering::AcqRel) {
            let _ = (&self.writer).write(&[1]);
        }
    }
}

struct Watch {
    queue: Arc<Queue>,
    id: WatchId,
    _reader: UnixStream,
}

fn watches() -> &'static Mutex<HashMap<i64, Watch>> {
    static WATCHES: OnceLock<Mutex<HashMap<i64, Watch>>> = OnceLock::new();
    WATCHES.get_or_init(Default::default)
}

/// Starts a watch on the inbound queue; returns the descriptor to watch.
pub fn watch_begin(py: Attached<'_>, h: &Handle) -> RawObj {
    let Some((q, _)) = inbound(h) else { return not_a_channel(py) };
    let (reader, writer) = match UnixStream::pair() {
        Ok(p) => p,
        Err(e) => {
            capi::raise(py, PyExc::OSError, &format!("cannot create a notification socket: {e}"));
            return null();
        }
    };
    let _ = reader.set_nonblocking(true);
    let _ = writer.set_nonblocking(true);
    let fd = reader.as_raw_fd() as i64;
    let id = q.watch(Arc::new(SocketWake { writer, signalled: AtomicBool::new(false) }));
    watches().lock().unwrap_or_else(|p| p.into_inner()).insert(fd, Watch { queue: q.clone(), id, _reader: reader });
    args::int_obj(fd)
}

/// Ends a watch (the descriptor is closed).
pub fn watch_end(fd: i64) {
    let watch = watches().lock().unwrap_or_else(|p| p.into_inner()).remove(&fd);
    if let Some(w) = watch {
        w.queue.unwatch(w.id);
        let mut sink = [0u8; 16];
        let _ = (&w._reader).read(&mut sink);
    }
}
