//! `erlang.PyBuffer` reads: waiting (without the GIL) for enough bytes, a
//! line, or the writer's end.

use std::sync::Arc;

use py_convert::capi::wrong_args;
use py_convert::capi::{self, PyExc, RawObj};
use py_convert::{Attached, PyObj};

use crate::args::{self, new_bytes};
use crate::handle::{null, Core, Handle};
use crate::Buffer;

fn buffer_of<'a>(py: Attached<'_>, h: &'a Handle) -> Option<&'a Arc<Buffer>> {
    match &h.core {
        Core::Buffer(b) => Some(b),
        _ => {
            capi::raise(py, PyExc::TypeError, "not a buffer");
            None
        }
    }
}

/// Waits until `ready()` holds for `b`.
fn wait_for(py: Attached<'_>, b: &Buffer, ready: &dyn Fn() -> bool) -> Result<(), ()> {
    while !ready() {
        args::wait(py, &|w| b.watch(w), &|id| b.unwatch(id), ready, None)?;
    }
    Ok(())
}

/// `read(n)` (`n` None: to the end), waiting for the bytes or the end when
/// `block`.
pub fn read(py: Attached<'_>, h: &Handle, n: Option<usize>, block: bool) -> RawObj {
    let Some(b) = buffer_of(py, h) else { return null() };
    if block {
        let ready = || b.is_closed() || n.is_some_and(|n| b.available() >= n);
        if wait_for(py, b, &ready).is_err() {
            return null();
        }
    }
    new_bytes(py, &b.take(n)).map_or(null(), PyObj::into_raw)
}

/// `readline(limit)`: up to and including the next newline, or what is
/// left at the end, or `limit` bytes.
pub fn readline(py: Attached<'_>, h: &Handle, limit: Option<usize>) -> RawObj {
    let Some(b) = buffer_of(py, h) else { return null() };
    let ready = || b.is_closed() || b.line_len().is_some() || limit.is_some_and(|l| b.available() >= l);
    if wait_for(py, b, &ready).is_err() {
        return null();
    }
    let len = b.line_len().unwrap_or_else(|| b.available());
    let len = limit.map_or(len, |l| len.min(l));
    new_bytes(py, &b.take(Some(len))).map_or(null(), PyObj::into_raw)
}

/// `seek(offset, whence)` as for files (0: start, 1: current, 2: end).
pub fn seek(py: Attached<'_>, h: &Handle, offset: i64, whence: i64) -> RawObj {
    let Some(b) = buffer_of(py, h) else { return null() };
    let base = match whence {
        0 => 0,
        1 => b.position() as i64,
        2 => b.len() as i64,
        _ => {
            capi::raise(py, PyExc::ValueError, "whence must be 0, 1 or 2");
            return null();
        }
    };
    let target = base.saturating_add(offset);
    if target < 0 {
        capi::raise(py, PyExc::ValueError, "negative seek position");
        return null();
    }
    args::int_obj(b.seek(target as usize) as i64)
}

/// `find(sub, start, end)`: like `bytes.find` over what was written.
pub fn find(py: Attached<'_>, h: &Handle, sub: &[u8], start: i64, end: i64) -> RawObj {
    let Some(b) = buffer_of(py, h) else { return null() };
    let len = b.len() as i64;
    let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) } as usize;
    args::int_obj(b.find(sub, clamp(start), clamp(end)).map_or(-1, |i| i as i64))
}

/// A number read from the buffer in `args` (`[capsule]`).
pub fn number(py: Attached<'_>, args: &[PyObj], f: impl Fn(&Buffer) -> i64) -> RawObj {
    let [cap] = args else { return wrong_args(c"expected one buffer") };
    let Some(h) = args::handle_arg(py, cap) else { return null() };
    let Some(b) = buffer_of(py, h) else { return null() };
    args::int_obj(f(b))
}
