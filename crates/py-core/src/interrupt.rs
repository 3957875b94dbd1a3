//! Stopping Python code on a context thread from outside: interrupts
//! (an asynchronous KeyboardInterrupt) and, for code that swallows them
//! while its context is being stopped, the terminator.
//!
//! One interrupter thread delivers both: taking another interpreter's GIL
//! can take milliseconds, which must not happen on a scheduler.
//!
//! The terminator is a C trace function installed in the context's
//! interpreter (`PyEval_SetTraceAllThreads`, Python 3.12+): on the doomed
//! context thread it raises KeyboardInterrupt at every line, so the
//! exception reaches the task's own C code through every `except` and
//! `finally` the Python code has. On any other thread it does nothing.
//! Setting the trace instruments the code objects already running, so a
//! tight loop in a frame entered before the stop is reached too.
//! Code blocked in C (a `time.sleep` of an hour, a socket read) cannot be
//! stopped at all; `Context::stop_and_wait` reports that.

use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;

use pyo3_ffi as ffi;

use crate::interp;
use crate::state::Shared;

/// What the interrupter is asked to do.
pub(crate) enum Order {
    /// KeyboardInterrupt in the task with this sequence number, if it still
    /// runs, or else in the second one (when not 0) if that runs by then:
    /// the task a finishing nested one resumes.
    Interrupt(Arc<Shared>, u64, u64),
    /// The context is stopping and its code did not end: doom the thread
    /// (the terminator) and interrupt whatever runs.
    Terminate(Arc<Shared>),
    /// Stopping gave up on the thread (blocked in C, say): take the
    /// terminator away again, so the interpreter's other threads do not pay
    /// for tracing while it waits.
    Spare(Arc<Shared>),
}

pub(crate) struct Interrupter {
    tx: Mutex<mpsc::Sender<Order>>,
}

impl Interrupter {
    pub(crate) fn send(&self, order: Order) {
        let _ = self.tx.lock().unwrap_or_else(|p| p.into_inner()).send(order);
    }
}

/// The interrupter thread, started with the first context so thread
/// counts stay flat afterwards.
pub(crate) fn interrupter() -> &'static Interrupter {
    static INTERRUPTER: OnceLock<Interrupter> = OnceLock::new();
    INTERRUPTER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Order>();
        thread::Builder::new()
            .name("py-interrupter".into())
            .spawn(move || {
                for order in rx {
                    match order {
                        Order::Interrupt(shared, seq, or_else) => deliver_interrupt(&shared, Some(seq), or_else),
                        Order::Terminate(shared) => deliver_termination(&shared),
                        Order::Spare(shared) => spare(&shared),
                    }
                }
            })
            .expect("spawn the interrupter thread");
        Interrupter { tx: Mutex::new(tx) }
    })
}

/// Raises KeyboardInterrupt in the task `seq` (any running task if `None`)
/// of the context, or in `or_else` if that one runs instead, with the
/// target's GIL held.
fn deliver_interrupt(shared: &Shared, seq: Option<u64>, or_else: u64) {
    let target = shared.target.lock().unwrap_or_else(|p| p.into_inner());
    if !target.alive {
        return;
    }
    // SAFETY: the target lock is held, so the context thread cannot end the
    // interpreter (it takes the lock and clears `alive` first).
    unsafe {
        interp::with_interpreter(target.interp, || {
            // Checked with the target's GIL held: the context thread only
            // changes `running` while holding it.
            let running = shared.run.running.load(Ordering::Acquire);
            match seq {
                Some(s) if s != running && (or_else == 0 || or_else != running) => {
                    // A request started on top of the target after the
                    // interrupt was asked for (or is finishing there): the
                    // target waits beneath it and stops once it may.
                    shared.run.interrupt_beneath(s);
                }
                _ if running == 0 => {}
                _ => {
                    shared.run.interrupt_pending.store(true, Ordering::Release);
                    interp::raise_async_keyboard_interrupt(target.ident);
                }
            }
        });
    }
    // A request waiting in `block_until` notices the interrupt only when woken.
    shared.mailbox.poke();
}

/// Dooms the context thread and installs the terminator in its
/// interpreter, then interrupts whatever runs.
fn deliver_termination(shared: &Shared) {
    {
        let target = shared.target.lock().unwrap_or_else(|p| p.into_inner());
        if !target.alive {
            return;
        }
        if !shared.doomed.swap(true, Ordering::AcqRel) {
            // SAFETY: as in `deliver_interrupt`: the target lock keeps the
            // interpreter alive; the terminator is installed with its GIL.
            unsafe { interp::with_interpreter(target.interp, || install_terminator(target.interp)) };
        }
    }
    deliver_interrupt(shared, None, 0);
}

fn spare(shared: &Shared) {
    let target = shared.target.lock().unwrap_or_else(|p| p.into_inner());
    if target.alive && shared.doomed.swap(false, Ordering::AcqRel) {
        // SAFETY: the target lock keeps the interpreter alive; removed with
        // its GIL.
        unsafe { interp::with_interpreter(target.interp, || remove_terminator(target.interp)) };
    }
}

/// How many doomed contexts each interpreter has (keyed by its address):
/// the trace function is installed for the first and removed after the last.
fn terminators() -> &'static Mutex<HashMap<usize, usize>> {
    static COUNTS: OnceLock<Mutex<HashMap<usize, usize>>> = OnceLock::new();
    COUNTS.get_or_init(Default::default)
}

/// # Safety
/// The calling thread holds the GIL of `interp`.
unsafe fn install_terminator(interp: *mut ffi::PyInterpreterState) {
    let mut counts = terminators().lock().unwrap_or_else(|p| p.into_inner());
    let n = counts.entry(interp as usize).or_insert(0);
    *n += 1;
    if *n == 1 {
        // SAFETY: caller contract (the GIL of the interpreter is held).
        unsafe { set_trace_all_threads(Some(terminator)) };
    }
}

/// Called by a doomed context thread once its code is over, before it runs
/// any Python of its own.
///
/// # Safety
/// The calling thread holds the GIL of `interp`.
pub(crate) unsafe fn remove_terminator(interp: *mut ffi::PyInterpreterState) {
    let mut counts = terminators().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = counts.get_mut(&(interp as usize)) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&(interp as usize));
            // SAFETY: caller contract.
            unsafe { set_trace_all_threads(None) };
        }
    }
}

#[cfg(Py_3_12)]
unsafe fn set_trace_all_threads(f: Option<ffi::Py_tracefunc>) {
    // SAFETY: caller contract: the GIL of the current interpreter is held.
    unsafe {
        ffi::PyEval_SetTraceAllThreads(f, std::ptr::null_mut());
        // Setting a trace can fail only on an audit hook's refusal; the
        // context stays doomed and is reported as not stopped.
        ffi::PyErr_Clear();
    }
}

/// Before 3.12 there is no way to trace another thread: a context whose
/// code swallows interrupts cannot be stopped, and is reported so.
#[cfg(not(Py_3_12))]
unsafe fn set_trace_all_threads(_f: Option<ffi::Py_tracefunc>) {}

/// The trace function: KeyboardInterrupt at every event on a doomed
/// context thread while one of its tasks runs; nothing anywhere else.
unsafe extern "C" fn terminator(
    _obj: *mut ffi::PyObject,
    _frame: *mut ffi::PyFrameObject,
    _what: c_int,
    _arg: *mut ffi::PyObject,
) -> c_int {
    if !crate::state::current_task_is_doomed() {
        return 0;
    }
    // SAFETY: trace functions run with the GIL held on the traced thread.
    unsafe { ffi::PyErr_SetNone(ffi::PyExc_KeyboardInterrupt) };
    -1
}
