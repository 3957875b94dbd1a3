//! Attaching a thread that owns no thread state of its own (programs and
//! tests that use conversion without `py-core`'s runtime).

use std::marker::PhantomData;

use pyo3_ffi as ffi;

use crate::pyobj::Attached;

/// Starts Python if nobody in the process has (without its signal
/// handlers), runs `f` attached to the main interpreter, then releases the
/// GIL for other threads (saving this thread's state for good).
///
/// # Safety
/// Call at most once per process, from code that owns Python's start-up,
/// on a thread that is not attached.
pub unsafe fn start_then_release<R>(f: impl FnOnce(Attached<'_>) -> R) -> R {
    // SAFETY: caller contract; after initialisation this thread holds the
    // GIL until PyEval_SaveThread.
    unsafe {
        if ffi::Py_IsInitialized() == 0 {
            ffi::Py_InitializeEx(0);
        }
        let r = f(Attached::assume());
        ffi::PyEval_SaveThread();
        r
    }
}

/// The GIL of the main interpreter, taken with `PyGILState_Ensure` and
/// given back on drop (also when unwinding).
pub struct GilGuard(ffi::PyGILState_STATE, PhantomData<*mut ()>);

impl GilGuard {
    /// Takes the GIL, giving the thread a thread state if it has none.
    ///
    /// # Safety
    /// Python is initialised; the guard is dropped on this thread.
    pub unsafe fn ensure() -> GilGuard {
        // SAFETY: caller contract.
        GilGuard(unsafe { ffi::PyGILState_Ensure() }, PhantomData)
    }

    /// The attachment token, for as long as the guard lives.
    pub fn py(&self) -> Attached<'_> {
        // SAFETY: the GIL is held until the guard drops.
        unsafe { Attached::assume() }
    }
}

impl Drop for GilGuard {
    fn drop(&mut self) {
        // SAFETY: pairs with the PyGILState_Ensure of `ensure`.
        unsafe { ffi::PyGILState_Release(self.0) }
    }
}
