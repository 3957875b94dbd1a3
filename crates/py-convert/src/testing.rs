//! A process-wide interpreter for tests, benches and fuzz targets that run
//! conversion without the rest of the system. Not for production use.

use std::sync::OnceLock;

use pyo3_ffi as ffi;

use crate::pyobj::Attached;
use crate::pytypes::ErlTypes;

struct Shared(ErlTypes);
// SAFETY: the types are only touched by `with_python`, which holds the GIL
// of the one interpreter they belong to.
unsafe impl Send for Shared {}
// SAFETY: as above; every access happens with the GIL held.
unsafe impl Sync for Shared {}

static TYPES: OnceLock<Shared> = OnceLock::new();

/// Runs `f` with the GIL held and the `erlang` types of a test interpreter,
/// initialising Python (without signal handlers) on first use.
pub fn with_python<R>(f: impl FnOnce(Attached<'_>, &ErlTypes) -> R) -> R {
    let shared = TYPES.get_or_init(|| {
        // SAFETY: runs once (OnceLock); initialises Python, creates the
        // types with the GIL held, then releases the GIL for other threads.
        unsafe {
            if ffi::Py_IsInitialized() == 0 {
                ffi::Py_InitializeEx(0);
            }
            let types = ErlTypes::standalone(Attached::assume()).expect("create erlang types").1;
            ffi::PyEval_SaveThread();
            Shared(types)
        }
    });
    struct Release(ffi::PyGILState_STATE);
    impl Drop for Release {
        fn drop(&mut self) {
            // SAFETY: pairs with the PyGILState_Ensure below, also when the
            // test body panics, so a failing test cannot keep the GIL.
            unsafe { ffi::PyGILState_Release(self.0) }
        }
    }
    // SAFETY: Python is initialised; PyGILState gives this thread a thread
    // state and the GIL until the guard releases it.
    let _guard = Release(unsafe { ffi::PyGILState_Ensure() });
    // SAFETY: the GIL is held for the duration of `f`.
    f(unsafe { Attached::assume() }, &shared.0)
}

/// Evaluates a Python expression in a fresh namespace (test helper).
///
/// # Panics
/// If the expression raises.
pub fn eval(py: Attached<'_>, code: &str) -> crate::PyObj {
    let code = std::ffi::CString::new(code).expect("no NUL in test code");
    // SAFETY: attached thread (token); the objects are owned references.
    unsafe {
        let globals = crate::PyObj::from_owned(ffi::PyDict_New()).expect("dict");
        let result = ffi::PyRun_String(code.as_ptr(), ffi::Py_eval_input, globals.as_ptr(), globals.as_ptr());
        match crate::PyObj::from_owned(result) {
            Some(o) => o,
            None => {
                let e = crate::PyErrInfo::fetch(py);
                panic!("python raised {}: {}", e.class, e.message)
            }
        }
    }
}
