//! Argument parsing, return values, errors and blocking waits shared by
//! the C functions of `_erlang_channel` (`module.rs` and the `*_fns.rs`
//! files).

use std::ffi::CStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use py_convert::capi::{self, PyExc, RawObj};
use py_convert::{Attached, ConvertError, ErlTypes, Limits, PyObj};
use py_core::erlang_module;
use py_core::WaitError;

use crate::handle::{handle_of, Handle};
use crate::{Wake, WatchId};

/// Wakes a thread blocked in [`wait`].
struct WakeWaiter(py_core::Waker);

impl Wake for WakeWaiter {
    fn wake(&self) {
        self.0.wake();
    }
}

/// Waits (GIL released; serving the context's requests on a context
/// thread) until `ready()` or `deadline`, woken through a watcher that
/// `watch` registers and `unwatch` removes. `Ok(false)`: the deadline
/// passed. A Python error is set on `Err`.
pub(crate) fn wait(
    py: Attached<'_>,
    watch: &dyn Fn(Arc<dyn Wake>) -> WatchId,
    unwatch: &dyn Fn(WatchId),
    ready: &dyn Fn() -> bool,
    deadline: Option<Instant>,
) -> Result<bool, ()> {
    let id = watch(Arc::new(WakeWaiter(py_core::current_waker())));
    let result = py_core::block_until_deadline(py, ready, deadline);
    unwatch(id);
    match result {
        Ok(met) => Ok(met),
        Err(WaitError::Interrupted) => {
            capi::raise(py, PyExc::KeyboardInterrupt, "");
            Err(())
        }
        Err(WaitError::Stopped) => {
            capi::raise(py, PyExc::RuntimeError, "the context is stopping");
            Err(())
        }
    }
}

/// The handle in a capsule argument (TypeError otherwise).
pub(crate) fn handle_arg<'a>(py: Attached<'_>, obj: &'a PyObj) -> Option<&'a Handle> {
    let h = handle_of(obj);
    if h.is_none() {
        capi::raise(py, PyExc::TypeError, "expected a channel, buffer or shared dict handle");
    }
    h
}

/// A timeout argument in seconds: None waits for ever.
pub(crate) fn deadline_arg(py: Attached<'_>, obj: &PyObj) -> Result<Option<Instant>, ()> {
    if capi::is_none(obj) {
        return Ok(None);
    }
    let Some(secs) = capi::float_arg(py, obj) else { return Err(()) };
    if secs.is_nan() {
        capi::raise(py, PyExc::ValueError, "timeout must be a number of seconds or None");
        return Err(());
    }
    let wait = Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::from_secs(u32::MAX as u64));
    Ok(Some(Instant::now() + wait))
}

/// Runs `f` with the calling interpreter's Erlang types and limits.
pub(crate) fn with_types<R>(py: Attached<'_>, f: impl FnOnce(&ErlTypes, Limits) -> R) -> Option<R> {
    let mut f = Some(f);
    if let Some(r) = py_core::with_worker(|w| (f.take().expect("called once"))(w.types(), w.limits())) {
        return Some(r);
    }
    match erlang_module::interpreter_types(py) {
        Ok((_module, types)) => Some((f.take().expect("called once"))(&types, Limits::default())),
        Err(e) => {
            capi::raise(py, PyExc::RuntimeError, &format!("{}: {}", e.class, e.message));
            None
        }
    }
}

/// Raises a conversion error as TypeError (or ValueError for values that
/// are too deep or malformed).
pub(crate) fn raise_convert(py: Attached<'_>, e: &ConvertError) {
    let kind = match e {
        ConvertError::Opaque { .. } => PyExc::TypeError,
        _ => PyExc::ValueError,
    };
    capi::raise(py, kind, &e.to_string());
}

/// Raises the module's exception class `name` (defined in channel.py).
pub(crate) fn raise_class(py: Attached<'_>, module: &PyObj, name: &CStr, message: &str) {
    match capi::getattr(py, module, name) {
        Some(class) => capi::raise_class(py, &class, message),
        None => capi::raise(py, PyExc::RuntimeError, message),
    }
}

/// Bytes as a Python `bytes` object.
pub(crate) fn new_bytes(py: Attached<'_>, data: &[u8]) -> Option<PyObj> {
    capi::new_bytes(py, data)
}

/// The bytes of a bytes-like argument (copied), or TypeError.
pub(crate) fn bytes_arg(py: Attached<'_>, obj: &PyObj) -> Option<Vec<u8>> {
    capi::bytes_like(py, obj)
}

/// A non-negative size argument; negative (or None) means "no limit".
pub(crate) fn size_arg(py: Attached<'_>, obj: &PyObj) -> Option<Option<usize>> {
    if capi::is_none(obj) {
        return Some(None);
    }
    let n = capi::int_arg(py, obj)?;
    Some(usize::try_from(n).ok())
}

/// `int(v)` for the C functions.
pub(crate) fn int_obj(v: i64) -> RawObj {
    capi::int(v)
}
