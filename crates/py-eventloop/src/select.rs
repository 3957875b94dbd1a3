//! `_erlang_loop._select`: the `select` of the loop's selector, in one call.
//!
//! The selector is Python's `selectors.EpollSelector` (its registrations,
//! keys and epoll object are the stdlib's); only the wait is ours. On a
//! context thread that wait also serves the context: queued requests run
//! first, an idle loop watches its poller and the queue for a short window
//! with the GIL released, then blocks in epoll with the context's wake-up
//! descriptor registered, so a request wakes it. Timeouts are kept to the
//! nanosecond (`epoll_pwait2`) and the window counts against them.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use py_convert::capi::{self, PyExc};
use py_convert::{Attached, PyObj};

use crate::poller::{self, Event};

/// How long a loop that just worked keeps watching for more before it
/// blocks (see `py_core::poll_window`).
const POLL_WINDOW: Duration = Duration::from_micros(50);

/// Events taken per wait; more stay queued in the kernel for the next one.
const MAX_EVENTS: usize = 256;

/// `selectors.EVENT_READ` and `EVENT_WRITE`.
const EVENT_READ: i64 = 1;
const EVENT_WRITE: i64 = 2;

/// Waits like `EpollSelector.select(timeout)` and returns its list of
/// `(key, events)`; `wake` is the context's wake-up descriptor (never
/// reported), or negative off a context thread. `None` with a Python
/// error set on failure.
pub fn select(
    py: Attached<'_>,
    epfd: RawFd,
    fd_to_key: &PyObj,
    timeout: Option<Duration>,
    wake: RawFd,
) -> Option<PyObj> {
    let mut events = [poller::EMPTY; MAX_EVENTS];
    let n = wait(py, epfd, &mut events, timeout, wake)?;
    ready_list(py, fd_to_key, &events[..n], wake)
}

fn wait(py: Attached<'_>, epfd: RawFd, events: &mut [Event], timeout: Option<Duration>, wake: RawFd) -> Option<usize> {
    let on_context = wake >= 0;
    let mut timeout = timeout;
    if on_context && serve(py)? {
        // What ran may have scheduled callbacks: the timeout asyncio
        // computed before is stale, so only look for ready I/O.
        timeout = Some(Duration::ZERO);
    }
    // A busy loop's next event is usually there already.
    let n = checked(py, poller::wait(epfd, events, Some(Duration::ZERO)))?;
    if n > 0 || timeout == Some(Duration::ZERO) {
        return Some(n);
    }
    if !on_context {
        return checked(py, py_core::without_gil(py, || poller::wait(epfd, events, timeout)));
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let left = |deadline: Option<Instant>| deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let window = left(deadline).map_or(POLL_WINDOW, |t| t.min(POLL_WINDOW));
    if !window.is_zero() && py_core::poll_window(py, epfd, window) {
        serve(py)?;
        return checked(py, poller::wait(epfd, events, Some(Duration::ZERO)));
    }
    let remaining = left(deadline);
    if remaining == Some(Duration::ZERO) || !py_core::begin_external_sleep() {
        // Time is up, or a request came: asyncio runs its timers, and the
        // next select serves the request.
        return Some(0);
    }
    let result = py_core::without_gil(py, || poller::wait(epfd, events, remaining));
    py_core::end_external_sleep();
    checked(py, result)
}

/// Runs the queued requests; false if there were none. A request's own
/// errors go to its caller; one left pending here would be the loop's.
fn serve(py: Attached<'_>) -> Option<bool> {
    let ran = py_core::serve_pending(py) > 0;
    if capi::error_occurred(py) {
        return None;
    }
    Some(ran)
}

fn checked(py: Attached<'_>, result: std::io::Result<usize>) -> Option<usize> {
    result.map_err(|e| capi::raise(py, PyExc::OSError, &format!("epoll: {e}"))).ok()
}

/// `[(key, events & key.events)]` for the events of registered
/// descriptors, as the stdlib selector builds it.
fn ready_list(py: Attached<'_>, fd_to_key: &PyObj, events: &[Event], wake: RawFd) -> Option<PyObj> {
    if !capi::is_dict(fd_to_key) {
        capi::raise(py, PyExc::TypeError, "_select: fd_to_key must be a dict");
        return None;
    }
    let list = capi::new_list(py)?;
    for event in events {
        let fd = poller::event_fd(event);
        if fd == wake {
            continue;
        }
        let fd_obj = capi::new_int(py, fd as i64)?;
        let Some(key) = capi::dict_get(py, fd_to_key, &fd_obj).ok()? else { continue };
        let mut mask = 0;
        if poller::reports_read(event) {
            mask |= EVENT_READ;
        }
        if poller::reports_write(event) {
            mask |= EVENT_WRITE;
        }
        let mask = capi::new_int(py, mask & key_events(py, &key)?)?;
        let pair = capi::tuple_of(py, &[key, mask])?;
        capi::list_append(py, &list, &pair).ok()?;
    }
    Some(list)
}

/// `key.events` of a `SelectorKey` (a named tuple: fileobj, fd, events,
/// data).
fn key_events(py: Attached<'_>, key: &PyObj) -> Option<i64> {
    let Some(events) = capi::tuple_item(key, 2) else {
        capi::raise(py, PyExc::TypeError, "_select: selector keys must be SelectorKey tuples");
        return None;
    };
    capi::int_arg(py, &events)
}
