//! What a context's handle, its thread, the interrupter and the pool of
//! own-GIL interpreters share: the task queue, the options, the stop and
//! end flags, and the assignment that hands a context to a thread.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Duration;

use py_convert::Limits;

use crate::handoff::{Mailbox, DEFAULT_POLL_WINDOW};
use crate::interp::Mode;
use crate::run_state::{RunState, Target};
use crate::worker::Worker;

/// Work for a context thread.
pub trait Task: Send {
    /// Runs on the context thread with the interpreter attached.
    fn run(self: Box<Self>, worker: &Worker);
    /// The context stopped before the task could run. No Python here.
    fn cancel(self: Box<Self>) {}
}

/// A task made of a closure (tests, internal work).
pub struct FnTask<F>(pub F);

impl<F: FnOnce(&Worker) + Send> Task for FnTask<F> {
    fn run(self: Box<Self>, worker: &Worker) {
        (self.0)(worker)
    }
}

pub(crate) type Queued = (u64, Box<dyn Task>);

#[derive(Clone, Debug)]
pub struct ContextOptions {
    pub mode: Mode,
    pub limits: Limits,
    /// How long the thread polls for more work before parking.
    pub poll_window: Duration,
    /// Stack size of the context thread (deep conversions recurse).
    pub stack_size: usize,
    /// Thread name, for debuggers and `top -H`.
    pub name: String,
}

impl Default for ContextOptions {
    fn default() -> Self {
        ContextOptions {
            mode: Mode::Worker,
            limits: Limits::default(),
            poll_window: DEFAULT_POLL_WINDOW,
            stack_size: 16 << 20,
            name: "py-context".into(),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) mailbox: Mailbox<Queued>,
    pub(crate) run: Arc<RunState>,
    pub(crate) next_seq: AtomicU64,
    pub(crate) target: Mutex<Target>,
    /// The context is stopping and its code did not end when asked: the
    /// terminator (see [`crate::interrupt`]) stops it at every line.
    pub(crate) doomed: AtomicBool,
    /// Set once the thread has left this context for good (its interpreter
    /// ended or waits for reuse); see [`Context::wait_ended`].
    pub(crate) ended: (Mutex<bool>, Condvar),
}

impl Shared {
    pub(crate) fn mark_ended(&self) {
        *self.ended.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.ended.1.notify_all();
    }
}

/// How a context thread reports that it is ready (interpreter id, native
/// thread id) or why it could not start.
pub(crate) type Ready = mpsc::Sender<Result<(i64, u64), String>>;

/// A context for a thread to serve: a new thread's first, or the next one
/// of a thread whose own-GIL interpreter waited for reuse.
pub(crate) struct Assignment {
    pub(crate) shared: Arc<Shared>,
    pub(crate) opts: ContextOptions,
    pub(crate) ready: Ready,
}

thread_local! {
    /// The context this thread serves right now (set by the context's
    /// loop), for the interrupter's checks that run on this thread.
    static SERVING: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
}

/// Records (or clears) the context this thread serves.
pub(crate) fn set_serving(shared: Option<&Arc<Shared>>) {
    SERVING.with(|s| s.set(shared.map_or(std::ptr::null(), Arc::as_ptr)));
}

/// Whether the task running on this thread belongs to a context being
/// stopped the hard way (see [`crate::interrupt`]).
pub(crate) fn current_task_is_doomed() -> bool {
    let shared = SERVING.with(|s| s.get());
    // SAFETY: SERVING points at the Shared of the context this thread
    // serves; the context loop holds an Arc to it and clears SERVING
    // before letting go of it.
    unsafe { shared.as_ref() }
        .is_some_and(|sh| sh.doomed.load(Ordering::Acquire) && sh.run.running.load(Ordering::Acquire) != 0)
}
