//! Contexts: one OS thread each, bound for life to one Python thread state
//! (in the main interpreter, or in its own sub-interpreter), fed through a
//! [`Mailbox`]. Everything a context runs happens on that thread, so
//! libraries with thread-local state (numpy, torch) see one thread.
//!
//! A task may wait for something from outside (an Erlang callback) with
//! [`block_until`]: on a context thread the wait keeps serving the queue,
//! so requests made while it waits — including ones the callback itself
//! makes to this very context — run on top of the waiting task, to any
//! depth, and nothing is ever executed twice.

use std::cell::Cell;
use std::ffi::c_ulong;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::handoff::{Mailbox, DEFAULT_POLL_WINDOW};
use crate::interp::{self, Mode, ThreadState};
use crate::interrupt::{interrupter, Order};
use crate::pool::{self, Snapshot};
use crate::release::{Owner, SubOwner};
use crate::run_state::{RunState, Target};
use crate::state::{Assignment, Queued, Shared};
use crate::worker::Worker;

pub use crate::state::{ContextOptions, FnTask, Task};

/// How long `stop_and_wait` lets the code end on its own after the first
/// interrupt before it dooms the thread.
const TERMINATE_AFTER: Duration = Duration::from_millis(100);
/// How often it interrupts again while waiting.
const REINTERRUPT_EVERY: Duration = Duration::from_millis(50);

/// A running context. Share it with `Arc`; dropping the last handle stops
/// the thread.
pub struct Context {
    shared: Arc<Shared>,
    mode: Mode,
    interp_id: i64,
    native_thread_id: u64,
}

impl Context {
    /// Starts the thread and waits until its interpreter is ready. Python
    /// must be running ([`crate::runtime::start`]).
    pub fn start(opts: ContextOptions) -> Result<Context, String> {
        crate::erlang_module::set_template_sink(|template| with_worker(|w| w.set_namespace_template(template)));
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
                resumes: AtomicU64::new(0),
                interrupt_on_resume: AtomicU64::new(0),
                interrupt_pending: AtomicBool::new(false),
                waiting: Mutex::new(Vec::new()),
                stops: AtomicUsize::new(0),
                ident: AtomicU64::new(0),
            }),
            next_seq: AtomicU64::new(1),
            target: Mutex::new(Target { interp: std::ptr::null_mut(), ident: 0, alive: false }),
            doomed: AtomicBool::new(false),
            ended: (Mutex::new(false), Condvar::new()),
        });
        let (tx, rx) = mpsc::channel();
        let mode = opts.mode;
        let work = Assignment { shared: shared.clone(), opts, ready: tx };
        let work = match mode {
            Mode::OwnGil => pool::assign(work).err(),
            Mode::Worker => Some(work),
        };
        if let Some(work) = work {
            // Detached: the thread frees its stack when it ends, whoever
            // still holds the context.
            thread::Builder::new()
                .name(work.opts.name.clone())
                .stack_size(work.opts.stack_size)
                .spawn(move || thread_main(work))
                .map_err(|e| format!("cannot start a context thread: {e}"))?;
        }
        match rx.recv() {
            Ok(Ok((interp_id, native_thread_id))) => Ok(Context { shared, mode, interp_id, native_thread_id }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the context thread died during start-up".into()),
        }
    }

    /// Queues a task; returns its sequence number (for [`Context::interrupt`]),
    /// or gives the task back if the context is stopping.
    #[inline]
    pub fn submit(&self, task: Box<dyn Task>) -> Result<u64, Box<dyn Task>> {
        let seq = self.reserve_seq();
        self.submit_as(seq, task).map(|_| seq)
    }

    /// A sequence number for a task submitted later with [`submit_as`]
    /// (for callers that must record it before the task can run).
    ///
    /// [`submit_as`]: Context::submit_as
    #[inline]
    pub fn reserve_seq(&self) -> u64 {
        self.shared.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a task under a number from [`Context::reserve_seq`].
    #[inline]
    pub fn submit_as(&self, seq: u64, task: Box<dyn Task>) -> Result<(), Box<dyn Task>> {
        self.shared.mailbox.push((seq, task)).map_err(|(_, t)| t)
    }

    /// Queues a closure.
    pub fn submit_fn(&self, f: impl FnOnce(&Worker) + Send + 'static) -> Option<u64> {
        self.submit(Box::new(FnTask(f))).ok()
    }

    /// Raises KeyboardInterrupt in the task `seq` (or whatever task runs,
    /// if `None`) at its next bytecode boundary. Returns whether a task was
    /// running when asked; delivery happens on the interrupter thread.
    pub fn interrupt(&self, seq: Option<u64>) -> bool {
        let running = self.shared.run.running.load(Ordering::Acquire);
        if let Some(s) = seq.filter(|&s| s != running) {
            // Not the innermost request: it may be waiting for Erlang under
            // nested ones.
            return self.shared.run.stop_waiting(s) && {
                self.shared.mailbox.poke();
                true
            };
        }
        // Between a nested task's reply and its end, the task under it is
        // the one to interrupt: the interrupter, which checks with the GIL
        // held, takes whichever of the two runs by then.
        let resumes = self.shared.run.resumes.load(Ordering::Acquire);
        let (target, or_else) = match (running, seq) {
            (0, None) => (resumes, 0),
            (r, None) => (r, resumes),
            (r, Some(_)) => (r, 0),
        };
        if target == 0 {
            return false;
        }
        interrupter().send(Order::Interrupt(self.shared.clone(), seq.unwrap_or(target), or_else));
        true
    }

    /// Stops accepting tasks and interrupts the one running; the thread
    /// cancels what is queued and leaves the context. Does not wait: see
    /// [`Context::stop_and_wait`].
    pub fn stop(&self) {
        self.shared.mailbox.close();
        self.interrupt(None);
    }

    /// Stops, then waits up to `grace` for the thread to leave the context.
    /// Code that ignores the interrupt is stopped harder after a moment
    /// (with a `grace` longer than that): the thread is doomed, so its
    /// Python code raises KeyboardInterrupt at every line until it returns
    /// (Python 3.12+). Returns false if the thread still runs the
    /// context's code at `grace` (blocked in C, or on 3.11 swallowing
    /// interrupts); the doom is then lifted (tracing costs the
    /// interpreter's other threads too) and the thread leaves when its code
    /// returns.
    pub fn stop_and_wait(&self, grace: Duration) -> bool {
        self.stop();
        let deadline = Instant::now() + grace;
        if self.wait_ended(TERMINATE_AFTER.min(grace)) {
            return true;
        }
        if grace <= TERMINATE_AFTER {
            return false;
        }
        loop {
            interrupter().send(Order::Terminate(self.shared.clone()));
            let left = deadline.saturating_duration_since(Instant::now());
            if self.wait_ended(REINTERRUPT_EVERY.min(left)) {
                return true;
            }
            if Instant::now() >= deadline {
                interrupter().send(Order::Spare(self.shared.clone()));
                return self.wait_ended(Duration::ZERO);
            }
        }
    }

    /// Stops and waits for the thread to leave the context, however long.
    pub fn stop_and_join(&self) {
        while !self.stop_and_wait(Duration::from_secs(3600)) {}
    }

    /// Whether the thread has left the context (its interpreter ended or
    /// waits for reuse), waiting up to `timeout` for it.
    pub fn wait_ended(&self, timeout: Duration) -> bool {
        let (lock, cvar) = &self.shared.ended;
        let ended = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (ended, _) = cvar.wait_timeout_while(ended, timeout, |e| !*e).unwrap_or_else(|p| p.into_inner());
        *ended
    }

    /// Whether the context's code was found ignoring a stop and is being
    /// stopped at every line.
    pub fn is_doomed(&self) -> bool {
        self.shared.doomed.load(Ordering::Acquire)
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

/// Everything a context thread uses while it serves one context,
/// reachable from waits nested in its tasks (through [`CURRENT`]).
struct ContextThread<'t> {
    shared: Arc<Shared>,
    ts: &'t ThreadState,
    worker: Worker,
    sub_owner: Option<&'t Arc<SubOwner>>,
}

thread_local! {
    /// The context thread running on this OS thread, if any.
    static CURRENT: Cell<*const ContextThread<'static>> = const { Cell::new(std::ptr::null()) };
}

impl ContextThread<'_> {
    fn drain_releases(&self) {
        if let Some(s) = &self.sub_owner {
            s.drain(self.ts.py());
        }
    }

    /// The next request, waiting (with the GIL released) until one comes
    /// or `stop()` holds. Releases queued before a request was submitted
    /// are done before it runs (popping it makes them visible).
    fn next(&self, stop: impl FnMut() -> bool) -> Option<Queued> {
        self.next_before(stop, None)
    }

    /// Whether the waiting request `mine` was interrupted.
    fn interrupted(&self, mine: u64) -> bool {
        let run = &self.shared.run;
        (run.interrupt_pending.load(Ordering::Acquire) && run.running.load(Ordering::Acquire) == mine)
            || (mine != 0 && run.asked_to_stop(mine))
    }

    /// Why a wait of request `mine` must end now, if it must: interrupted
    /// (the pending asynchronous exception is withdrawn: the waiter raises
    /// KeyboardInterrupt itself) or the context is stopping.
    fn wait_check(&self, mine: u64) -> Option<WaitError> {
        if self.interrupted(mine) {
            let run = &self.shared.run;
            if run.interrupt_pending.swap(false, Ordering::AcqRel) {
                // SAFETY: attached on this context thread (loop invariant).
                unsafe { interp::clear_async_exception(run.ident.load(Ordering::Relaxed) as c_ulong) };
            }
            return Some(WaitError::Interrupted);
        }
        self.shared.mailbox.is_closed().then_some(WaitError::Stopped)
    }

    /// Like [`ContextThread::next`], giving up at `deadline`.
    fn next_before(&self, mut stop: impl FnMut() -> bool, deadline: Option<std::time::Instant>) -> Option<Queued> {
        let next = match self.shared.mailbox.try_pop() {
            Some(item) => Some(item),
            None => {
                self.ts.detach();
                let sub = self.sub_owner;
                let next = self
                    .shared
                    .mailbox
                    .wait_until_deadline(|| stop() || sub.as_ref().is_some_and(|s| s.has_pending()), deadline);
                self.ts.attach();
                next
            }
        };
        self.drain_releases();
        next
    }

    /// Runs a request, possibly on top of a waiting one: the waiting
    /// request is interruptible again once this one is done.
    fn run(&self, seq: u64, task: Box<dyn Task>) {
        debug_assert!(self.ts.is_attached());
        if self.shared.mailbox.is_closed() {
            let _ = catch_unwind(AssertUnwindSafe(|| task.cancel()));
            return;
        }
        let run = &self.shared.run;
        let outer = run.running.load(Ordering::Acquire);
        if outer != 0 && run.interrupt_pending.swap(false, Ordering::AcqRel) {
            // An interrupt meant for the waiting request arrived while it
            // waited: it must not fire in this nested one. The waiting
            // request raises it itself once this one is done.
            // SAFETY: attached on this context thread (loop invariant).
            unsafe { interp::clear_async_exception(run.ident.load(Ordering::Relaxed) as c_ulong) };
            run.stop_waiting(outer);
        }
        // Changed with the GIL held, as the interrupter checks it with the
        // GIL held.
        run.running.store(seq, Ordering::Release);
        let resumed_before = run.resumes.swap(outer, Ordering::AcqRel);
        let outcome = catch_unwind(AssertUnwindSafe(|| task.run(&self.worker)));
        // Settles an interrupt that arrived after the task's own code ended.
        self.shared.run.settle();
        self.shared.run.running.store(outer, Ordering::Release);
        self.shared.run.resumes.store(resumed_before, Ordering::Release);
        if outer != 0 && run.interrupt_on_resume.compare_exchange(outer, 0, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            run.interrupt_pending.store(true, Ordering::Release);
            // SAFETY: attached on this context thread (loop invariant); the
            // ident is this thread's.
            unsafe { interp::raise_async_keyboard_interrupt(run.ident.load(Ordering::Relaxed) as c_ulong) };
        }
        if outcome.is_err() {
            // The task's own code catches panics to reply; this is a last line.
            self.worker.clear_error();
        }
    }
}

/// A context thread: creates its thread state (and for own-GIL contexts
/// its interpreter), serves its context, and for own-GIL contexts then
/// resets the interpreter and serves the next context given to it, for as
/// long as the pool wants it (see [`crate::pool`]).
fn thread_main(first: Assignment) {
    let mode = first.opts.mode;
    let ts = match ThreadState::create(mode) {
        Ok(ts) => ts,
        Err(e) => {
            let _ = first.ready.send(Err(e));
            first.shared.mark_ended();
            return;
        }
    };
    let ident = interp::current_thread_ident();
    let native_id = native_thread_id();
    let sub_owner = match mode {
        Mode::Worker => None,
        Mode::OwnGil => Some(SubOwner::new(ts.interp_id())),
    };
    let mut snapshot: Option<Snapshot> = None;
    let mut work = first;
    loop {
        let shared = work.shared.clone();
        let reusable = serve(&ts, ident, native_id, sub_owner.as_ref(), &mut snapshot, work);
        shared.mark_ended();
        drop(shared);
        let next = match (&sub_owner, reusable) {
            (Some(_), true) if snapshot.as_ref().is_some_and(|s| s.restore(ts.py())) => {
                pool::wait_for_work(|| ts.detach(), || ts.attach())
            }
            _ => None,
        };
        match next {
            Some(w) => work = w,
            None => break,
        }
    }
    if let Some(s) = &sub_owner {
        s.close(ts.py());
    }
    // The snapshot belongs to the interpreter: dropped before it ends.
    drop(snapshot);
    ts.finish();
}

/// Serves one context on this thread until it stops. Returns whether the
/// thread may serve another (its worker started).
fn serve(
    ts: &ThreadState,
    ident: c_ulong,
    native_id: u64,
    sub_owner: Option<&Arc<SubOwner>>,
    snapshot: &mut Option<Snapshot>,
    work: Assignment,
) -> bool {
    let Assignment { shared, opts, ready } = work;
    shared.mailbox.bind_consumer();
    shared.run.ident.store(ident, Ordering::Relaxed);
    let owner = match sub_owner {
        Some(s) => {
            let waker = shared.clone();
            s.set_waker(Arc::new(move || waker.mailbox.poke()));
            Owner::Sub(s.clone())
        }
        None => Owner::Main,
    };
    if let Some(s) = sub_owner {
        s.next_generation();
        s.drain(ts.py());
    }
    let worker = match Worker::new(ts.py(), opts.limits, shared.run.clone(), owner) {
        Ok(w) => w,
        Err(e) => {
            let _ = ready.send(Err(e));
            return false;
        }
    };
    if sub_owner.is_some() && snapshot.is_none() {
        // A new sub-interpreter: what the library imports lazily is
        // imported now, outside any request, and kept by the reset.
        crate::runtime::import_preloaded(ts.py());
        *snapshot = Snapshot::take(ts.py(), worker.erlang_module());
    }
    {
        let mut target = shared.target.lock().unwrap_or_else(|p| p.into_inner());
        *target = Target { interp: ts.interp(), ident, alive: true };
    }
    let _ = ready.send(Ok((ts.interp_id(), native_id)));

    let ct = ContextThread { shared, ts, worker, sub_owner };
    // SAFETY (lifetime): CURRENT is cleared below, before `ct` goes away.
    CURRENT.with(|c| c.set(std::ptr::from_ref(&ct).cast::<ContextThread<'static>>()));
    crate::state::set_serving(Some(&ct.shared));
    loop {
        match ct.next(|| false) {
            Some((seq, task)) => ct.run(seq, task),
            None if ct.shared.mailbox.is_closed() => break,
            None => {}
        }
    }
    crate::state::set_serving(None);
    CURRENT.with(|c| c.set(std::ptr::null()));

    let ContextThread { shared, worker, .. } = ct;
    // Stopping: no interrupt may reach the interpreter from here on. The
    // interrupter holds the target lock while it waits for this
    // interpreter's GIL, so the GIL must not be held while taking the lock.
    ts.detach();
    shared.target.lock().unwrap_or_else(|p| p.into_inner()).alive = false;
    ts.attach();
    if shared.doomed.swap(false, Ordering::AcqRel) {
        // SAFETY: attached to this interpreter (just above).
        unsafe { crate::interrupt::remove_terminator(ts.interp()) };
    }
    shared.run.settle();
    worker.clear_error();
    while let Some((_, task)) = shared.mailbox.try_pop() {
        let _ = catch_unwind(AssertUnwindSafe(|| task.cancel()));
    }
    shared.mailbox.release_external();
    worker.forget_thread();
    drop(worker);
    true
}

/// The sequence number of the request running on this thread (the
/// innermost one when requests are nested), if this is a context thread
/// running one.
pub fn running_seq() -> Option<u64> {
    let seq = current_thread()?.shared.run.running.load(Ordering::Acquire);
    (seq != 0).then_some(seq)
}

fn current_thread() -> Option<&'static ContextThread<'static>> {
    let ct = CURRENT.with(|c| c.get());
    // SAFETY: CURRENT points at this thread's ContextThread while its loop
    // runs, and is cleared before it ends; callers only use the reference
    // within the current task (which runs inside that loop).
    (!ct.is_null()).then(|| unsafe { &*ct })
}

/// Runs `f` with this context thread's worker (`None` off a context
/// thread), for code called from Python that needs it (task outcomes).
pub fn with_worker<R>(f: impl FnOnce(&Worker) -> R) -> Option<R> {
    current_thread().map(|ct| f(&ct.worker))
}

/// Runs the requests queued for this context, now, nested in the current
/// one. An event loop running on a context thread calls this from its
/// `select`, so the context keeps serving calls while the loop runs.
/// Returns how many ran (0 off a context thread).
pub fn serve_pending(_py: py_convert::Attached<'_>) -> usize {
    let Some(ct) = current_thread() else { return 0 };
    let mut ran = 0;
    while let Some((seq, task)) = ct.shared.mailbox.try_pop() {
        ct.drain_releases();
        ct.run(seq, task);
        ran += 1;
    }
    ran
}

/// Whether the task running on this context thread has an interrupt that
/// has not fired yet. If so it is withdrawn, and the caller raises
/// KeyboardInterrupt itself: an event loop waiting in its poller runs no
/// bytecode to see it (and an asynchronous exception may land where it is
/// swallowed), so the loop's wait checks on every return.
pub fn take_pending_interrupt(_py: py_convert::Attached<'_>) -> bool {
    let Some(ct) = current_thread() else { return false };
    let run = &ct.shared.run;
    if !run.interrupt_pending.swap(false, Ordering::AcqRel) {
        return false;
    }
    // SAFETY: attached on this context thread (token); the ident is its own.
    unsafe { interp::clear_async_exception(run.ident.load(Ordering::Relaxed) as c_ulong) };
    true
}

/// Runs `f` with the GIL released: a blocking system call made for Python
/// (an event loop's poller). On a context thread its own state is detached
/// and re-attached; on any other thread the current state is saved and
/// restored. `f` must not touch Python.
pub fn without_gil<R>(py: py_convert::Attached<'_>, f: impl FnOnce() -> R) -> R {
    if let Some(ct) = current_thread() {
        ct.ts.detach();
        let result = catch_unwind(AssertUnwindSafe(f));
        ct.ts.attach();
        return result.unwrap_or_else(|p| std::panic::resume_unwind(p));
    }
    interp::released(py, f)
}

/// Before an event loop on this context thread blocks in its poller: keeps
/// checking, for up to `window` and with the GIL released, whether the
/// poller (`poll_fd`, e.g. an epoll descriptor) has events or a request
/// came, yielding the core between checks. Returns true as soon as either
/// holds: the loop then polls without blocking. Waking a blocked thread
/// costs tens of microseconds here, more than a busy loop's next event
/// usually takes to come.
pub fn poll_window(_py: py_convert::Attached<'_>, poll_fd: std::os::fd::RawFd, window: std::time::Duration) -> bool {
    let Some(ct) = current_thread() else { return false };
    let deadline = std::time::Instant::now() + window;
    ct.ts.detach();
    let ready = loop {
        if !ct.shared.mailbox.is_empty() || fd_readable(poll_fd) {
            break true;
        }
        if std::time::Instant::now() >= deadline {
            break false;
        }
        thread::yield_now();
    };
    ct.ts.attach();
    ready
}

/// Whether `fd` is readable right now.
fn fd_readable(fd: std::os::fd::RawFd) -> bool {
    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: i16,
        revents: i16,
    }
    extern "C" {
        fn poll(fds: *mut PollFd, nfds: u64, timeout: i32) -> i32;
    }
    const POLLIN: i16 = 1;
    let mut p = PollFd { fd, events: POLLIN, revents: 0 };
    // SAFETY: one valid pollfd on the stack; a zero timeout never blocks.
    unsafe { poll(&mut p, 1, 0) > 0 }
}

/// The descriptor an event loop on this context thread watches to wake up
/// when a request (or a wake-up for a waiting callback) comes.
pub fn wake_fd() -> Option<std::os::fd::RawFd> {
    current_thread()?.shared.mailbox.external_wake_fd()
}

/// Before an event loop on this context thread blocks in its poller: wake-ups
/// go to [`wake_fd`] until [`end_external_sleep`]. False when a request is
/// already queued (the loop must not block then) or off a context thread.
pub fn begin_external_sleep() -> bool {
    current_thread().is_some_and(|ct| {
        if !ct.shared.mailbox.sleep_external() {
            return false;
        }
        // An interrupt delivered while this thread was not yet asleep
        // poked nobody: seen here (sleep_external's fence pairs with the
        // one in `poke`), the caller does not block and checks it.
        if ct.shared.run.interrupt_pending.load(Ordering::Acquire) {
            ct.shared.mailbox.end_external();
            return false;
        }
        true
    })
}

/// After the poller returned (see [`begin_external_sleep`]).
pub fn end_external_sleep() {
    if let Some(ct) = current_thread() {
        ct.shared.mailbox.end_external();
    }
}

/// Sleeps for `duration` (the GIL released). On a context thread the sleep
/// keeps serving the context's requests, nested, and ends early with
/// [`WaitError::Interrupted`] if the sleeping request is interrupted (so
/// `py:interrupt` and timeouts stop a sleep, unlike `time.sleep`).
pub fn sleep(py: py_convert::Attached<'_>, duration: std::time::Duration) -> Result<(), WaitError> {
    let deadline = std::time::Instant::now() + duration;
    let Some(ct) = current_thread() else {
        interp::released(py, || thread::sleep(duration));
        return Ok(());
    };
    let _ = py;
    let run = &ct.shared.run;
    let mine = run.running.load(Ordering::Acquire);
    run.push_waiting(mine);
    let result = loop {
        if std::time::Instant::now() >= deadline {
            break Ok(());
        }
        if let Some(e) = ct.wait_check(mine) {
            break Err(e);
        }
        if let Some((seq, task)) = ct.next_before(|| ct.interrupted(mine), Some(deadline)) {
            ct.run(seq, task);
        }
    };
    run.pop_waiting();
    result
}

/// Why [`block_until`] gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitError {
    /// The waiting request was interrupted (timeout or `py:interrupt`).
    Interrupted,
    /// The context is stopping.
    Stopped,
}

/// Wakes a thread blocked in [`block_until`].
#[derive(Clone)]
pub struct Waker(WakerKind);

#[derive(Clone)]
enum WakerKind {
    Context(Arc<Shared>),
    Thread(thread::Thread),
}

impl Waker {
    pub fn wake(&self) {
        match &self.0 {
            WakerKind::Context(s) => s.mailbox.poke(),
            WakerKind::Thread(t) => t.unpark(),
        }
    }
}

/// How to wake the calling thread once what it waits for is ready; pair
/// with [`block_until`] on the same thread.
pub fn current_waker() -> Waker {
    let ct = CURRENT.with(|c| c.get());
    if ct.is_null() {
        Waker(WakerKind::Thread(thread::current()))
    } else {
        // SAFETY: CURRENT points at the ContextThread of this very thread,
        // alive while its loop (and so any task calling this) runs.
        Waker(WakerKind::Context(unsafe { &*ct }.shared.clone()))
    }
}

/// Waits until `done()` holds; whoever makes it hold must wake the waker
/// from [`current_waker`]. Called from Python code (the GIL held).
///
/// On a context thread the wait keeps running the context's requests,
/// nested on top of the waiting one, and gives up if the waiting request is
/// interrupted or the context stops. On any other thread (`threading`,
/// executors) it releases the GIL and parks.
pub fn block_until(py: py_convert::Attached<'_>, done: &dyn Fn() -> bool) -> Result<(), WaitError> {
    block_until_deadline(py, done, None).map(|_| ())
}

/// [`block_until`], giving up at `deadline`: `Ok(true)` if `done()` holds,
/// `Ok(false)` if the deadline passed first.
pub fn block_until_deadline(
    py: py_convert::Attached<'_>,
    done: &dyn Fn() -> bool,
    deadline: Option<std::time::Instant>,
) -> Result<bool, WaitError> {
    let ct = CURRENT.with(|c| c.get());
    if ct.is_null() {
        // The thread state is saved while parked, then the same one restored.
        let met = interp::released(py, || {
            // Poll briefly before parking, as context threads do between
            // requests: an answer from Erlang usually comes within microseconds,
            // and waking a parked thread costs more than that.
            let poll_until = std::time::Instant::now() + DEFAULT_POLL_WINDOW;
            let mut met = true;
            while !done() {
                let now = std::time::Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    met = false;
                    break;
                }
                if now < poll_until {
                    thread::yield_now();
                } else if let Some(d) = deadline {
                    thread::park_timeout(d - now);
                } else {
                    thread::park();
                }
            }
            met
        });
        return Ok(met);
    }
    // SAFETY: CURRENT points at this thread's ContextThread, alive while its
    // loop runs; a task (and so this call) only runs inside that loop.
    let ct = unsafe { &*ct };
    let run = &ct.shared.run;
    let mine = run.running.load(Ordering::Acquire);
    run.push_waiting(mine);
    let result = wait_serving(ct, mine, done, deadline);
    run.pop_waiting();
    result
}

/// The context-thread half of [`block_until_deadline`].
fn wait_serving(
    ct: &ContextThread,
    mine: u64,
    done: &dyn Fn() -> bool,
    deadline: Option<std::time::Instant>,
) -> Result<bool, WaitError> {
    loop {
        if done() {
            return Ok(true);
        }
        if let Some(e) = ct.wait_check(mine) {
            return Err(e);
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Ok(false);
        }
        if let Some((seq, task)) = ct.next_before(|| done() || ct.interrupted(mine), deadline) {
            ct.run(seq, task);
        }
    }
}

fn native_thread_id() -> u64 {
    extern "C" {
        fn gettid() -> i32;
    }
    // SAFETY: gettid has no preconditions (glibc >= 2.30).
    unsafe { gettid() as u64 }
}
