//! The small pieces every built-in module written on the C API needs
//! (`erlang` here, `_erlang_loop` in py-eventloop): FASTCALL method
//! entries, argument access and return values, and [`crate::fastcall_entry!`],
//! which defines a module function whose panics become Python errors.

use std::ffi::CStr;
use std::ptr::{self, NonNull};

use crate::capi;
use py_convert::PyObj;
use pyo3_ffi as ffi;

/// A FASTCALL module function.
pub type FastFn =
    unsafe extern "C" fn(*mut ffi::PyObject, *mut *mut ffi::PyObject, ffi::Py_ssize_t) -> *mut ffi::PyObject;

/// A method table entry for a FASTCALL module function.
pub const fn fast(name: &'static CStr, f: FastFn, doc: &'static CStr) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunctionFast: f },
        ml_flags: ffi::METH_FASTCALL,
        ml_doc: doc.as_ptr(),
    }
}

/// The arguments of a FASTCALL function as owned references.
///
/// # Safety
/// Attached thread; `args` points at `n` live objects.
pub unsafe fn arguments(args: *mut *mut ffi::PyObject, n: ffi::Py_ssize_t) -> Vec<PyObj> {
    (0..n.max(0) as usize)
        // SAFETY: caller contract: each of the n pointers is a live object.
        .map(|i| unsafe { PyObj::from_borrowed(NonNull::new_unchecked(*args.add(i))) })
        .collect()
}

/// The module object CPython passes as `self`, as an owned reference.
///
/// # Safety
/// Attached thread; `module` is a live module object.
pub unsafe fn module_of(module: *mut ffi::PyObject) -> PyObj {
    // SAFETY: caller contract.
    unsafe { PyObj::from_borrowed(NonNull::new_unchecked(module)) }
}

/// Sets `exc(message)` and returns the null error value.
pub(crate) fn set_error(exc: *mut ffi::PyObject, message: &CStr) -> *mut ffi::PyObject {
    // SAFETY: called from module functions, with the GIL held; `exc` is a
    // built-in exception type.
    unsafe { ffi::PyErr_SetString(exc, message.as_ptr()) };
    ptr::null_mut()
}

/// `TypeError(message)`.
pub fn wrong_args(message: &CStr) -> *mut ffi::PyObject {
    // SAFETY: reading the address of a built-in exception type.
    set_error(unsafe { ffi::PyExc_TypeError }, message)
}

/// `SystemError` for a panic caught in a module function.
pub fn internal_error() -> *mut ffi::PyObject {
    // SAFETY: reading the address of a built-in exception type.
    set_error(unsafe { ffi::PyExc_SystemError }, c"internal error in a built-in module of erlang_python")
}

/// `None`, as a new reference.
pub fn none_raw() -> *mut ffi::PyObject {
    // SAFETY: with the GIL held; None is a singleton.
    unsafe { PyObj::from_borrowed(NonNull::new_unchecked(ffi::Py_None())) }.into_raw()
}

/// A bool, as a new reference.
pub fn boolean(v: bool) -> *mut ffi::PyObject {
    // SAFETY: with the GIL held; the booleans are singletons.
    unsafe { PyObj::from_borrowed(NonNull::new_unchecked(if v { ffi::Py_True() } else { ffi::Py_False() })) }.into_raw()
}

/// An int, as a new reference (null with an error set on failure).
pub fn int(v: i64) -> *mut ffi::PyObject {
    // SAFETY: with the GIL held (module functions only).
    unsafe { ffi::PyLong_FromLongLong(v) }
}

/// Defines a FASTCALL module function:
/// `fastcall_entry!(name, |py, module, args| { ... })`, where `py` is the
/// attachment token, `module` the module (owned) and `args` a `Vec<PyObj>`.
/// The body returns a new reference, or null with an exception set; a panic
/// becomes a `SystemError` instead of unwinding into CPython.
#[macro_export]
macro_rules! fastcall_entry {
    ($fn_name:ident, |$py:ident, $module:ident, $args:ident| $body:block) => {
        unsafe extern "C" fn $fn_name(
            module: *mut ::pyo3_ffi::PyObject,
            args: *mut *mut ::pyo3_ffi::PyObject,
            n: ::pyo3_ffi::Py_ssize_t,
        ) -> *mut ::pyo3_ffi::PyObject {
            // SAFETY: CPython calls module functions with the GIL held,
            // `module` the module object and `args` `n` live objects.
            let ($py, $module, $args) = unsafe {
                (::py_convert::Attached::assume(), $crate::cfunc::module_of(module), $crate::cfunc::arguments(args, n))
            };
            let _ = (&$py, &$module, &$args);
            ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body))
                .unwrap_or_else(|_| $crate::cfunc::internal_error())
        }
    };
}

/// Runs the Python half of a built-in module from its exec slot: `source`
/// in the module's namespace. On failure the error is raised again as
/// RuntimeError naming the module, and -1 returned (the exec slot's
/// convention).
///
/// # Safety
/// Attached thread; `module` is the module object being executed.
pub unsafe fn exec_python_half(module: *mut ffi::PyObject, source: &str, filename: &CStr) -> std::ffi::c_int {
    // SAFETY: caller contract.
    let py = unsafe { py_convert::Attached::assume() };
    let Some(m) = NonNull::new(module) else { return -1 };
    // SAFETY: caller contract: a live module object.
    let m = unsafe { PyObj::from_borrowed(m) };
    // SAFETY: caller contract.
    match unsafe { capi::exec_module_source(py, &m, source, filename) } {
        Ok(()) => 0,
        // An interrupt that lands while the module runs stays an interrupt
        // (code that catches Exception must not swallow it).
        Err(e) if e.class == "KeyboardInterrupt" => {
            capi::raise(py, capi::PyExc::KeyboardInterrupt, "");
            -1
        }
        Err(e) => {
            let text = format!("{}: {}: {}", filename.to_string_lossy(), e.class, e.message);
            capi::raise(py, capi::PyExc::RuntimeError, &text);
            -1
        }
    }
}

/// Defines `$init`, the init function (for `runtime::add_builtin_module`)
/// of a multi-phase built-in module `$name` with the method table
/// `$methods` (a `static mut [PyMethodDef; N]` ending with a zeroed entry)
/// and the exec slot `$exec`. The module supports sub-interpreters with
/// their own GIL (3.12+) and keeps no state of its own.
#[macro_export]
macro_rules! builtin_module {
    ($init:ident, $name:expr, $doc:expr, $methods:ident, $exec:ident) => {
        #[cfg(Py_3_12)]
        static mut BUILTIN_SLOTS: [::pyo3_ffi::PyModuleDef_Slot; 3] = [
            ::pyo3_ffi::PyModuleDef_Slot { slot: ::pyo3_ffi::Py_mod_exec, value: $exec as *mut ::std::ffi::c_void },
            ::pyo3_ffi::PyModuleDef_Slot {
                slot: ::pyo3_ffi::Py_mod_multiple_interpreters,
                value: ::pyo3_ffi::Py_MOD_PER_INTERPRETER_GIL_SUPPORTED,
            },
            ::pyo3_ffi::PyModuleDef_Slot { slot: 0, value: ::std::ptr::null_mut() },
        ];

        #[cfg(not(Py_3_12))]
        static mut BUILTIN_SLOTS: [::pyo3_ffi::PyModuleDef_Slot; 2] = [
            ::pyo3_ffi::PyModuleDef_Slot { slot: ::pyo3_ffi::Py_mod_exec, value: $exec as *mut ::std::ffi::c_void },
            ::pyo3_ffi::PyModuleDef_Slot { slot: 0, value: ::std::ptr::null_mut() },
        ];

        static mut BUILTIN_DEF: ::pyo3_ffi::PyModuleDef = ::pyo3_ffi::PyModuleDef {
            m_base: ::pyo3_ffi::PyModuleDef_HEAD_INIT,
            m_name: $name.as_ptr(),
            m_doc: $doc.as_ptr(),
            m_size: 0,
            m_methods: ::std::ptr::addr_of_mut!($methods) as *mut ::pyo3_ffi::PyMethodDef,
            m_slots: ::std::ptr::addr_of_mut!(BUILTIN_SLOTS) as *mut ::pyo3_ffi::PyModuleDef_Slot,
            m_traverse: None,
            m_clear: None,
            m_free: None,
        };

        unsafe extern "C" fn $init() -> *mut ::pyo3_ffi::PyObject {
            // SAFETY: CPython calls init functions with the GIL held;
            // PyModuleDef_Init only initialises the definition's header
            // (idempotently).
            unsafe { ::pyo3_ffi::PyModuleDef_Init(::std::ptr::addr_of_mut!(BUILTIN_DEF)) }
        }
    };
}
