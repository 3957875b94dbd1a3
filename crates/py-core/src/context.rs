//! Contexts: one OS thread each, bound for life to one Python thread state
//! (in the main interpreter, or in its own sub-interpreter), fed through a
//! [`Mailbox`]. Everything a context runs happens on that thread, so
//! libraries with thread-local state (numpy, torch) see one thread.

use std::ffi::c_ulong;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use py_convert::Limits;
use pyo3_ffi as ffi;

use crate::handoff::{Mailbox, DEFAULT_POLL_WINDOW};
use crate::interp::{self, Mode, ThreadState};
use crate::release::{Owner, SubOwner};
use crate::worker::Worker;

/// Work for a context thread.
pub trait Task: Send {
    /// Runs on the context thread with the interpreter attached.
    fn run(self: Box<Self>, worker: &mut Worker);
    /// The context stopped before the task could run. No Python here.
    fn cancel(self: Box<Self>) {}
}

/// A task made of a closure (tests, internal work).
pub struct FnTask<F>(pub F);

impl<F: FnOnce(&mut Worker) + Send> Task for FnTask<F> {
    fn run(self: Box<Self>, worker: &mut Worker) {
        (self.0)(worker)
    }
}

type Queued = (u64, Box<dyn Task>);

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

/// What an interrupter needs to reach the thread, guarded so the
/// interpreter cannot be destroyed while an interrupt is being delivered.
struct Target {
    interp: *mut ffi::PyInterpreterState,
    ident: c_ulong,
    alive: bool,
}

// SAFETY: the raw interpreter pointer is only dereferenced (by CPython)
// while the mutex is held and `alive` is true.
unsafe impl Send for Target {}

/// Which task may be interrupted right now; shared with the [`Worker`] so a
/// task can end its interruptible part early (after replying).
pub(crate) struct RunState {
    /// Sequence number of the task in progress (0 when none).
    running: AtomicU64,
    /// An asynchronous KeyboardInterrupt was set and may not be raised yet.
    interrupt_pending: AtomicBool,
    ident: AtomicU64,
}

impl RunState {
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
}

pub(crate) struct Shared {
    pub(crate) mailbox: Mailbox<Queued>,
    run: Arc<RunState>,
    next_seq: AtomicU64,
    target: Mutex<Target>,
}

/// A running context. Share it with `Arc`; dropping the last handle stops
/// the thread.
pub struct Context {
    shared: Arc<Shared>,
    mode: Mode,
    interp_id: i64,
    native_thread_id: u64,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Context {
    /// Starts the thread and waits until its interpreter is ready. Python
    /// must be running ([`crate::runtime::start`]).
    pub fn start(opts: ContextOptions) -> Result<Context, String> {
        if !crate::runtime::is_running() {
            return Err("python_not_running".into());
        }
        if opts.mode == Mode::OwnGil && !interp::owngil_supported() {
            return Err("owngil_requires_python312".into());
        }
        // The interrupter thread starts with the first context rather than
        // on the first interrupt, so thread counts stay flat afterwards.
        interrupter();
        let shared = Arc::new(Shared {
            mailbox: Mailbox::new(opts.poll_window),
            run: Arc::new(RunState {
                running: AtomicU64::new(0),
                interrupt_pending: AtomicBool::new(false),
                ident: AtomicU64::new(0),
            }),
            next_seq: AtomicU64::new(1),
            target: Mutex::new(Target { interp: std::ptr::null_mut(), ident: 0, alive: false }),
        });
        let (tx, rx) = mpsc::channel();
        let thread_shared = shared.clone();
        let mode = opts.mode;
        let handle = thread::Builder::new()
            .name(opts.name.clone())
            .stack_size(opts.stack_size)
            .spawn(move || thread_main(thread_shared, opts, tx))
            .map_err(|e| format!("cannot start a context thread: {e}"))?;
        match rx.recv() {
            Ok(Ok((interp_id, native_thread_id))) => Ok(Context {
                shared,
                mode,
                interp_id,
                native_thread_id,
                thread: Mutex::new(Some(handle)),
            }),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => {
                let _ = handle.join();
                Err("the context thread died during start-up".into())
            }
        }
    }

    /// Queues a task; returns its sequence number (for [`Context::interrupt`]),
    /// or gives the task back if the context is stopping.
    #[inline]
    pub fn submit(&self, task: Box<dyn Task>) -> Result<u64, Box<dyn Task>> {
        let seq = self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
        self.shared.mailbox.push((seq, task)).map(|_| seq).map_err(|(_, t)| t)
    }

    /// Queues a closure.
    pub fn submit_fn(&self, f: impl FnOnce(&mut Worker) + Send + 'static) -> Option<u64> {
        self.submit(Box::new(FnTask(f))).ok()
    }

    /// Raises KeyboardInterrupt in the task `seq` (or whatever task runs,
    /// if `None`) at its next bytecode boundary. Returns whether a task was
    /// running when asked; delivery happens on the interrupter thread.
    pub fn interrupt(&self, seq: Option<u64>) -> bool {
        let running = self.shared.run.running.load(Ordering::Acquire);
        if running == 0 || seq.is_some_and(|s| s != running) {
            return false;
        }
        interrupter().send((self.shared.clone(), seq.unwrap_or(running)));
        true
    }

    /// Stops accepting tasks and interrupts the one running; the thread
    /// cancels what is queued and exits. (Code that swallows
    /// KeyboardInterrupt or blocks in C keeps the thread until it returns.)
    pub fn stop(&self) {
        self.shared.mailbox.close();
        self.interrupt(None);
    }

    /// Stops and waits for the thread to exit.
    pub fn stop_and_join(&self) {
        self.stop();
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            if h.thread().id() != thread::current().id() {
                let _ = h.join();
            }
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.shared.mailbox.is_closed()
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The interpreter's id (0 for the main interpreter).
    pub fn interp_id(&self) -> i64 {
        self.interp_id
    }

    /// The OS thread id (`threading.get_native_id()` on that thread).
    pub fn native_thread_id(&self) -> u64 {
        self.native_thread_id
    }

    /// Whether nothing is running or queued (a request submitted now would
    /// start at once).
    pub fn is_idle(&self) -> bool {
        !self.is_busy() && self.shared.mailbox.is_empty()
    }

    /// Whether a task is running right now.
    pub fn is_busy(&self) -> bool {
        self.shared.run.running.load(Ordering::Acquire) != 0
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        self.stop();
    }
}

fn thread_main(shared: Arc<Shared>, opts: ContextOptions, ready: mpsc::Sender<Result<(i64, u64), String>>) {
    shared.mailbox.bind_consumer();
    let mut ts = match ThreadState::create(opts.mode) {
        Ok(ts) => ts,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let ident = interp::current_thread_ident();
    shared.run.ident.store(ident as u64, Ordering::Relaxed);
    let sub_owner = match opts.mode {
        Mode::Worker => None,
        Mode::OwnGil => {
            let waker = shared.clone();
            Some(SubOwner::new(ts.interp_id(), Arc::new(move || waker.mailbox.poke())))
        }
    };
    let owner = match &sub_owner {
        Some(s) => Owner::Sub(s.clone()),
        None => Owner::Main,
    };
    let mut worker = match Worker::new(ts.py(), opts.limits, shared.run.clone(), owner) {
        Ok(w) => w,
        Err(e) => {
            let _ = ready.send(Err(e));
            ts.finish();
            return;
        }
    };
    {
        let mut target = shared.target.lock().unwrap_or_else(|p| p.into_inner());
        *target = Target { interp: ts.interp(), ident, alive: true };
    }
    let native_id = native_thread_id();
    let _ = ready.send(Ok((ts.interp_id(), native_id)));

    loop {
        let next = match shared.mailbox.try_pop() {
            Some(item) => Some(item),
            None => {
                ts.detach();
                let next = shared.mailbox.wait_until(|| sub_owner.as_ref().is_some_and(|s| s.has_pending()));
                ts.attach();
                next
            }
        };
        // Releases queued before a request was submitted are done before it
        // runs (a request may rely on an object being gone); popping the
        // request makes them visible.
        if let Some(s) = &sub_owner {
            s.drain(ts.py());
        }
        match next {
            Some((seq, task)) => {
                if shared.mailbox.is_closed() {
                    let _ = catch_unwind(AssertUnwindSafe(|| task.cancel()));
                    break;
                }
                run_task(&shared, &mut worker, &ts, seq, task);
            }
            None if shared.mailbox.is_closed() => break,
            None => {}
        }
    }

    // Stopping: no interrupt may reach the interpreter from here on. The
    // interrupter holds the target lock while it waits for this
    // interpreter's GIL, so the GIL must not be held while taking the lock.
    ts.detach();
    shared.target.lock().unwrap_or_else(|p| p.into_inner()).alive = false;
    ts.attach();
    while let Some((_, task)) = shared.mailbox.try_pop() {
        let _ = catch_unwind(AssertUnwindSafe(|| task.cancel()));
    }
    drop(worker);
    if let Some(s) = &sub_owner {
        s.close(ts.py());
    }
    ts.finish();
}

fn run_task(shared: &Shared, worker: &mut Worker, ts: &ThreadState, seq: u64, task: Box<dyn Task>) {
    debug_assert!(ts.is_attached());
    shared.run.running.store(seq, Ordering::Release);
    let outcome = catch_unwind(AssertUnwindSafe(|| task.run(worker)));
    // Settles an interrupt that arrived after the task's own code ended.
    shared.run.settle();
    if outcome.is_err() {
        // The task's own code catches panics to reply; this is a last line.
        worker.clear_error();
    }
}

fn native_thread_id() -> u64 {
    extern "C" {
        fn gettid() -> i32;
    }
    // SAFETY: gettid has no preconditions (glibc >= 2.30).
    unsafe { gettid() as u64 }
}

/// The one thread that delivers interrupts: taking another context's GIL
/// can take milliseconds, which must not happen on a scheduler.
struct Interrupter {
    tx: Mutex<mpsc::Sender<(Arc<Shared>, u64)>>,
}

impl Interrupter {
    fn send(&self, req: (Arc<Shared>, u64)) {
        let _ = self.tx.lock().unwrap_or_else(|p| p.into_inner()).send(req);
    }
}

fn interrupter() -> &'static Interrupter {
    static INTERRUPTER: OnceLock<Interrupter> = OnceLock::new();
    INTERRUPTER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(Arc<Shared>, u64)>();
        thread::Builder::new()
            .name("py-interrupter".into())
            .spawn(move || {
                for (shared, seq) in rx {
                    deliver_interrupt(&shared, seq);
                }
            })
            .expect("spawn the interrupter thread");
        Interrupter { tx: Mutex::new(tx) }
    })
}

fn deliver_interrupt(shared: &Shared, seq: u64) {
    let target = shared.target.lock().unwrap_or_else(|p| p.into_inner());
    if !target.alive {
        return;
    }
    // SAFETY: the target lock is held, so the context thread cannot end the
    // interpreter (it takes the lock and clears `alive` first).
    unsafe {
        interp::raise_keyboard_interrupt(target.interp, target.ident, || {
            // Checked with the target's GIL held: the context thread only
            // changes `running` while holding it.
            if shared.run.running.load(Ordering::Acquire) == seq {
                shared.run.interrupt_pending.store(true, Ordering::Release);
                true
            } else {
                false
            }
        });
    }
}
