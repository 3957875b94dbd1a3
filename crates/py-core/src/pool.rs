//! Own-GIL interpreters kept for reuse.
//!
//! CPython 3.12 and 3.13 leak about 2 MB each time a sub-interpreter with
//! its own obmalloc state is destroyed (measured here with plain
//! `_interpreters.create/destroy` as well as through contexts), so a
//! service that creates and stops own-GIL contexts would grow without
//! bound. Instead, when an own-GIL context ends, its thread brings the
//! interpreter back to the state right after start-up (see
//! `_interp_reset` in the `erlang` module's Python half) and waits here,
//! still attached to it, for the next own-GIL context. At most
//! [`max_idle`] interpreters wait; beyond that, or when the reset says the
//! interpreter cannot be reused (a thread it started still runs), the
//! interpreter is destroyed as before.
//!
//! A reused interpreter is not a fresh one: state kept in C (extension
//! modules' globals, objects reachable from the modules present at
//! start-up) survives. It is not a security boundary; isolated contexts
//! are. `set_max_idle(0)` turns reuse off.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use py_convert::{capi, Attached, PyObj};

use crate::state::Assignment;

static MAX_IDLE: AtomicUsize = AtomicUsize::new(4);

/// Threads holding an idle interpreter, each waiting on its channel.
static IDLE: Mutex<Vec<mpsc::Sender<Assignment>>> = Mutex::new(Vec::new());

/// How many own-GIL interpreters may wait for reuse (default 4; 0 turns
/// reuse off). Interpreters already waiting beyond a lowered limit are
/// destroyed when next reused or never, as the limit allows.
pub fn set_max_idle(n: usize) {
    MAX_IDLE.store(n, Ordering::Relaxed);
    if n == 0 {
        // Waiting threads see their channel close and end their interpreter.
        IDLE.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

pub fn max_idle() -> usize {
    MAX_IDLE.load(Ordering::Relaxed)
}

/// How many own-GIL interpreters wait for reuse now.
pub fn idle_count() -> usize {
    IDLE.lock().unwrap_or_else(|p| p.into_inner()).len()
}

/// Hands `work` to an idle interpreter's thread; gives it back if none
/// waits (the caller then starts a new thread).
pub(crate) fn assign(mut work: Assignment) -> Result<(), Assignment> {
    loop {
        let Some(tx) = IDLE.lock().unwrap_or_else(|p| p.into_inner()).pop() else {
            return Err(work);
        };
        match tx.send(work) {
            Ok(()) => return Ok(()),
            // That thread gave up waiting: try the next one.
            Err(mpsc::SendError(w)) => work = w,
        }
    }
}

/// On an own-GIL context thread whose context ended and whose interpreter
/// was reset: waits (detached) for the next context. `None` when there is
/// no room in the pool or reuse was turned off: the interpreter must end.
pub(crate) fn wait_for_work(detach: impl FnOnce(), attach: impl FnOnce()) -> Option<Assignment> {
    let (tx, rx) = mpsc::channel();
    {
        let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() >= max_idle() {
            return None;
        }
        idle.push(tx);
    }
    detach();
    let next = rx.recv().ok();
    attach();
    next
}

/// The state an interpreter returns to between contexts: the `reset`
/// function and its saved state, taken right after start-up.
pub(crate) struct Snapshot(PyObj);

impl Snapshot {
    /// Takes the snapshot through the `erlang` module; `None` if that fails
    /// (the interpreter is then not reused).
    pub(crate) fn take(py: Attached<'_>, erlang_module: &PyObj) -> Option<Snapshot> {
        let f = capi::getattr(py, erlang_module, c"_interp_snapshot");
        let snap = f.and_then(|f| capi::call0(py, &f));
        if snap.is_none() {
            capi::clear_error(py);
        }
        snap.map(Snapshot)
    }

    /// Restores it; false if the interpreter cannot be reused.
    pub(crate) fn restore(&self, py: Attached<'_>) -> bool {
        // The snapshot is a 2-tuple (reset, state) made by `_interp_snapshot`.
        if capi::tuple_len(&self.0) != Some(2) {
            return false;
        }
        let (Some(reset), Some(state)) = (capi::tuple_item(&self.0, 0), capi::tuple_item(&self.0, 1)) else {
            return false;
        };
        let result = capi::call1(py, &reset, &state);
        let reusable = result.is_some_and(|r| capi::is_true(&r));
        capi::clear_error(py);
        reusable
    }
}
