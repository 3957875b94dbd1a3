//! Thread states and interpreters for long-lived threads: the raw
//! attach/detach and create/destroy calls, in one place.
//!
//! A context thread keeps ONE thread state for its whole life (creating one
//! per call costs time and is the pattern behind crashes elsewhere), and
//! detaches it whenever it goes idle so other threads can take the GIL.

use std::ffi::c_ulong;

use py_convert::{Attached, PyErrInfo};
use pyo3_ffi as ffi;

/// Which interpreter a context runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The main interpreter, sharing its GIL with every other worker context.
    Worker,
    /// A sub-interpreter with its own GIL (Python 3.12+): runs in parallel
    /// with everything else, with its own `sys.modules`.
    OwnGil,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Worker => "worker",
            Mode::OwnGil => "owngil",
        }
    }
}

/// Whether this build can create own-GIL sub-interpreters.
pub const fn owngil_supported() -> bool {
    cfg!(Py_3_12)
}

/// A thread state owned by the current OS thread.
pub(crate) struct ThreadState {
    tstate: *mut ffi::PyThreadState,
    mode: Mode,
    attached: std::cell::Cell<bool>,
}

impl ThreadState {
    /// Creates a thread state for `mode` on the calling thread and leaves it
    /// attached. For `OwnGil` this creates the sub-interpreter.
    pub(crate) fn create(mode: Mode) -> Result<ThreadState, String> {
        match mode {
            Mode::Worker => {
                // SAFETY: Python is initialised (callers start the runtime
                // first); PyThreadState_New does not need the GIL, and
                // RestoreThread attaches it to this thread.
                unsafe {
                    let ts = ffi::PyThreadState_New(ffi::PyInterpreterState_Main());
                    if ts.is_null() {
                        return Err("cannot create a thread state".into());
                    }
                    ffi::PyEval_RestoreThread(ts);
                    Ok(ThreadState { tstate: ts, mode, attached: std::cell::Cell::new(true) })
                }
            }
            Mode::OwnGil => Self::create_subinterpreter(),
        }
    }

    #[cfg(Py_3_12)]
    fn create_subinterpreter() -> Result<ThreadState, String> {
        // SAFETY: Python is initialised. Creating a sub-interpreter needs an
        // attached thread state: we attach a temporary main-interpreter one,
        // which the call detaches (releasing the main GIL) when it switches
        // to the new interpreter's own GIL. The temporary state is deleted
        // under the main GIL afterwards.
        unsafe {
            let temp = ffi::PyThreadState_New(ffi::PyInterpreterState_Main());
            if temp.is_null() {
                return Err("cannot create a thread state".into());
            }
            ffi::PyEval_RestoreThread(temp);
            let config = ffi::PyInterpreterConfig {
                use_main_obmalloc: 0,
                allow_fork: 0,
                allow_exec: 0,
                allow_threads: 1,
                allow_daemon_threads: 0,
                check_multi_interp_extensions: 1,
                gil: ffi::PyInterpreterConfig_OWN_GIL,
            };
            let mut sub: *mut ffi::PyThreadState = std::ptr::null_mut();
            let status = ffi::Py_NewInterpreterFromConfig(&mut sub, &config);
            let failed = ffi::PyStatus_Exception(status) != 0 || sub.is_null();
            let message = if failed && !status.err_msg.is_null() {
                std::ffi::CStr::from_ptr(status.err_msg).to_string_lossy().into_owned()
            } else {
                "unknown error".to_string()
            };
            // Park the new interpreter's state, clean up the temporary one.
            if !failed {
                ffi::PyEval_SaveThread();
            }
            ffi::PyThreadState_Swap(std::ptr::null_mut());
            ffi::PyEval_RestoreThread(temp);
            ffi::PyThreadState_Clear(temp);
            ffi::PyThreadState_DeleteCurrent();
            if failed {
                return Err(format!("cannot create a sub-interpreter: {message}"));
            }
            ffi::PyEval_RestoreThread(sub);
            Ok(ThreadState { tstate: sub, mode: Mode::OwnGil, attached: std::cell::Cell::new(true) })
        }
    }

    #[cfg(not(Py_3_12))]
    fn create_subinterpreter() -> Result<ThreadState, String> {
        Err("owngil_requires_python312".into())
    }

    /// Takes the GIL (if not held) and makes this state current.
    #[inline]
    pub(crate) fn attach(&self) {
        if !self.attached.get() {
            // SAFETY: the state belongs to this thread and is detached.
            unsafe { ffi::PyEval_RestoreThread(self.tstate) };
            self.attached.set(true);
        }
    }

    /// Releases the GIL.
    #[inline]
    pub(crate) fn detach(&self) {
        if self.attached.get() {
            // SAFETY: the state is current on this thread (attached).
            let saved = unsafe { ffi::PyEval_SaveThread() };
            debug_assert_eq!(saved, self.tstate);
            self.attached.set(false);
        }
    }

    pub(crate) fn is_attached(&self) -> bool {
        self.attached.get()
    }

    /// The token proving attachment.
    ///
    /// # Panics
    /// In debug builds, if detached.
    #[inline]
    pub(crate) fn py(&self) -> Attached<'_> {
        debug_assert!(self.attached.get());
        // SAFETY: attached (checked in debug builds; every caller attaches
        // before running Python work).
        unsafe { Attached::assume() }
    }

    pub(crate) fn interp(&self) -> *mut ffi::PyInterpreterState {
        // SAFETY: the thread state is alive.
        unsafe { ffi::PyThreadState_GetInterpreter(self.tstate) }
    }

    pub(crate) fn interp_id(&self) -> i64 {
        // SAFETY: the interpreter is alive while its thread state is.
        unsafe { ffi::PyInterpreterState_GetID(self.interp()) }
    }

    /// Ends the state (and for `OwnGil` the interpreter). Must be attached.
    pub(crate) fn finish(self) {
        self.attach();
        // SAFETY: attached; after this nothing uses the state. For a
        // sub-interpreter, this thread's state is its only one (the
        // interrupter deletes its temporary states before releasing the
        // target lock), as Py_EndInterpreter requires.
        unsafe {
            match self.mode {
                Mode::Worker => {
                    ffi::PyThreadState_Clear(self.tstate);
                    ffi::PyThreadState_DeleteCurrent();
                }
                Mode::OwnGil => ffi::Py_EndInterpreter(self.tstate),
            }
        }
        self.attached.set(false);
    }
}

/// The current thread's identifier as `PyThreadState_SetAsyncExc` wants it.
pub(crate) fn current_thread_ident() -> c_ulong {
    // SAFETY: a plain query of the OS thread id.
    unsafe { ffi::PyThread_get_thread_ident() }
}

/// Runs `f` attached to the interpreter `interp` through a temporary
/// thread state, from a thread that is not attached to anything.
///
/// # Safety
/// `interp` must stay alive for the whole call (callers hold the context's
/// target lock, which interpreter destruction also takes); the calling
/// thread is not attached.
pub(crate) unsafe fn with_interpreter<R>(interp: *mut ffi::PyInterpreterState, f: impl FnOnce() -> R) -> Option<R> {
    // SAFETY: the caller keeps `interp` alive; the temporary thread state
    // is created, attached, cleared and deleted on this thread.
    unsafe {
        let ts = ffi::PyThreadState_New(interp);
        if ts.is_null() {
            return None;
        }
        ffi::PyEval_RestoreThread(ts);
        let result = f();
        ffi::PyThreadState_Clear(ts);
        ffi::PyThreadState_DeleteCurrent();
        Some(result)
    }
}

/// Raises KeyboardInterrupt asynchronously in the thread `ident` of the
/// current interpreter.
///
/// # Safety
/// The calling thread is attached to the interpreter `ident` runs in.
pub(crate) unsafe fn raise_async_keyboard_interrupt(ident: c_ulong) -> bool {
    // SAFETY: caller contract.
    unsafe { ffi::PyThreadState_SetAsyncExc(ident as _, ffi::PyExc_KeyboardInterrupt) == 1 }
}

/// Withdraws an asynchronous exception that was not raised yet.
///
/// # Safety
/// The current thread is attached and `ident` is its own id.
pub(crate) unsafe fn clear_async_exception(ident: c_ulong) {
    // SAFETY: caller contract.
    unsafe {
        ffi::PyThreadState_SetAsyncExc(ident as _, std::ptr::null_mut());
    }
}

/// A description of the current error for start-up failures.
pub(crate) fn error_text(py: Attached<'_>) -> String {
    let e = PyErrInfo::fetch(py);
    format!("{}: {}", e.class, e.message)
}

/// Runs `f` with the calling thread's state saved (its GIL released) and
/// restores that state afterwards, also when `f` panics. `f` must not
/// touch Python.
pub(crate) fn released<R>(_py: Attached<'_>, f: impl FnOnce() -> R) -> R {
    // SAFETY: attached (token): the state is saved around `f` and restored
    // on the same thread.
    let saved = unsafe { ffi::PyEval_SaveThread() };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    // SAFETY: restores the state saved above, on the same thread.
    unsafe { ffi::PyEval_RestoreThread(saved) };
    result.unwrap_or_else(|p| std::panic::resume_unwind(p))
}
