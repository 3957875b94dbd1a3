//! Which task of a context may be interrupted right now, and how an
//! interrupter reaches the context's thread: shared by the context's
//! thread, its [`Worker`](crate::worker::Worker) and the interrupter.

use std::ffi::c_ulong;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use pyo3_ffi as ffi;

use crate::interp;

/// What an interrupter needs to reach the thread, guarded so the
/// interpreter cannot be destroyed while an interrupt is being delivered.
pub(crate) struct Target {
    pub(crate) interp: *mut ffi::PyInterpreterState,
    pub(crate) ident: c_ulong,
    /// The context's code may still run: cleared (with the GIL released)
    /// before the thread leaves the context, whether its interpreter then
    /// ends or waits for reuse.
    pub(crate) alive: bool,
}

// SAFETY: the raw interpreter pointer is only dereferenced (by CPython)
// while the mutex is held and `alive` is true.
unsafe impl Send for Target {}

/// Which task may be interrupted right now; shared with the [`Worker`] so a
/// task can end its interruptible part early (after replying).
pub(crate) struct RunState {
    /// Sequence number of the task in progress (0 when none).
    pub(crate) running: AtomicU64,
    /// The task a nested one runs on top of (0 when none): it is
    /// interruptible again as soon as the nested one has replied, so an
    /// interrupt of the context that finds no task running while the
    /// nested one finishes is meant for it.
    pub(crate) resumes: AtomicU64,
    /// An interrupt for the task in `resumes` that arrived while the
    /// nested task still ran: raised as soon as that task resumes.
    pub(crate) interrupt_on_resume: AtomicU64,
    /// An asynchronous KeyboardInterrupt was set and may not be raised yet.
    pub(crate) interrupt_pending: AtomicBool,
    /// The requests waiting in `block_until`, outermost first, each with
    /// whether it was asked to stop (it raises KeyboardInterrupt once the
    /// requests nested on top of it have returned).
    pub(crate) waiting: Mutex<Vec<(u64, bool)>>,
    /// How many entries of `waiting` are asked to stop (checked without
    /// the lock while polling).
    pub(crate) stops: AtomicUsize,
    pub(crate) ident: AtomicU64,
}

impl RunState {
    /// Asks the waiting request `seq` to stop; false if it is not waiting.
    pub(crate) fn stop_waiting(&self, seq: u64) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        match waiting.iter_mut().find(|(s, _)| *s == seq) {
            Some((_, stop)) => {
                if !*stop {
                    *stop = true;
                    self.stops.fetch_add(1, Ordering::AcqRel);
                }
                true
            }
            None => false,
        }
    }

    /// An interrupt for `seq` found another task running: if `seq` waits
    /// beneath it, it stops when it may (in `block_until`, or as soon as
    /// it resumes).
    pub(crate) fn interrupt_beneath(&self, seq: u64) {
        if !self.stop_waiting(seq) && self.resumes.load(Ordering::Acquire) == seq {
            self.interrupt_on_resume.store(seq, Ordering::Release);
        }
    }

    /// Whether the waiting request `seq` was asked to stop.
    pub(crate) fn asked_to_stop(&self, seq: u64) -> bool {
        self.stops.load(Ordering::Acquire) > 0
            && self.waiting.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|&(s, stop)| s == seq && stop)
    }

    pub(crate) fn push_waiting(&self, seq: u64) {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).push((seq, false));
    }

    pub(crate) fn pop_waiting(&self) {
        let popped = self.waiting.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if let Some((_, true)) = popped {
            self.stops.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Ends the interruptible part of the current task, withdrawing an
    /// interrupt that has not fired yet. Call with the GIL held.
    pub(crate) fn settle(&self) {
        self.running.store(0, Ordering::Release);
        if self.interrupt_pending.swap(false, Ordering::AcqRel) {
            // SAFETY: called on the context thread with the GIL held; the
            // ident is this thread's.
            unsafe { interp::clear_async_exception(self.ident.load(Ordering::Relaxed) as c_ulong) };
        }
    }

    /// Whether an interrupt was delivered to the current task (it may have
    /// fired already, or still wait for the next bytecode).
    pub(crate) fn interrupt_delivered(&self) -> bool {
        self.interrupt_pending.load(Ordering::Acquire)
    }
}
