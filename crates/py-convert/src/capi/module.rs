//! The pieces every built-in module written on the C API needs (`erlang`,
//! `_erlang_loop`, `_erlang_channel`): FASTCALL method entries, argument
//! access and return values, [`crate::fastcall_entry!`] (a module function
//! whose panics become Python errors), [`crate::builtin_module!`] (a
//! multi-phase module definition that imports in own-GIL
//! sub-interpreters), module state, and running a module's Python half.
//!
//! C functions return raw pointers ([`RawObj`]): a new reference, or null
//! with an exception set.

use std::ffi::{c_int, c_void, CStr, CString};
use std::ptr::{self, NonNull};

use pyo3_ffi as ffi;

use super::call::{builtins, compile, eval_code, CodeMode};
use super::error::{raise, PyExc};
use crate::pyobj::{Attached, PyErrInfo, PyObj};

/// A Python object pointer as C functions take and return it.
pub type RawObj = *mut ffi::PyObject;

/// An entry of a module's method table.
pub type MethodDef = ffi::PyMethodDef;

/// A FASTCALL module function.
pub type FastFn = unsafe extern "C" fn(RawObj, *mut RawObj, ffi::Py_ssize_t) -> RawObj;

/// A method table entry for a FASTCALL module function.
pub const fn fast(name: &'static CStr, f: FastFn, doc: &'static CStr) -> MethodDef {
    ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunctionFast: f },
        ml_flags: ffi::METH_FASTCALL,
        ml_doc: doc.as_ptr(),
    }
}

/// The zeroed entry that ends a method table.
pub const METHODS_END: MethodDef = ffi::PyMethodDef::zeroed();

/// The arguments of a FASTCALL function as owned references.
///
/// # Safety
/// Attached thread; `args` points at `n` live objects.
pub unsafe fn arguments(args: *mut RawObj, n: ffi::Py_ssize_t) -> Vec<PyObj> {
    (0..n.max(0) as usize)
        // SAFETY: caller contract: each of the n pointers is a live object.
        .map(|i| unsafe { PyObj::from_borrowed(NonNull::new_unchecked(*args.add(i))) })
        .collect()
}

/// The module object CPython passes as `self`, as an owned reference.
///
/// # Safety
/// Attached thread; `module` is a live module object.
pub unsafe fn module_of(module: RawObj) -> PyObj {
    // SAFETY: caller contract.
    unsafe { PyObj::from_borrowed(NonNull::new_unchecked(module)) }
}

/// The null error value of C functions (an exception must be set).
#[inline]
pub fn null() -> RawObj {
    ptr::null_mut()
}

/// An optional result as a C function returns it: the new reference, or
/// null (the exception is set).
#[inline]
pub fn into_raw_or_null(obj: Option<PyObj>) -> RawObj {
    obj.map_or(ptr::null_mut(), PyObj::into_raw)
}

/// Sets `exc(message)` and returns the null error value.
fn set_error(exc: RawObj, message: &CStr) -> RawObj {
    // SAFETY: called from module functions, with the GIL held; `exc` is a
    // built-in exception type.
    unsafe { ffi::PyErr_SetString(exc, message.as_ptr()) };
    ptr::null_mut()
}

/// `TypeError(message)`.
pub fn wrong_args(message: &CStr) -> RawObj {
    // SAFETY: reading the address of a built-in exception type.
    set_error(unsafe { ffi::PyExc_TypeError }, message)
}

/// `RuntimeError(message)`, returning null.
pub fn runtime_error(message: &CStr) -> RawObj {
    // SAFETY: reading the address of a built-in exception type.
    set_error(unsafe { ffi::PyExc_RuntimeError }, message)
}

/// `SystemError` for a panic caught in a module function.
pub fn internal_error() -> RawObj {
    // SAFETY: reading the address of a built-in exception type.
    set_error(unsafe { ffi::PyExc_SystemError }, c"internal error in a built-in module of erlang_python")
}

/// `None`, as a new reference.
pub fn none_raw() -> RawObj {
    // SAFETY: with the GIL held; None is a singleton.
    unsafe { PyObj::from_borrowed(NonNull::new_unchecked(ffi::Py_None())) }.into_raw()
}

/// A bool, as a new reference.
pub fn boolean(v: bool) -> RawObj {
    // SAFETY: with the GIL held; the booleans are singletons.
    unsafe { PyObj::from_borrowed(NonNull::new_unchecked(if v { ffi::Py_True() } else { ffi::Py_False() })) }.into_raw()
}

/// An int, as a new reference (null with an error set on failure).
pub fn int(v: i64) -> RawObj {
    // SAFETY: with the GIL held (module functions only).
    unsafe { ffi::PyLong_FromLongLong(v) }
}

/// `module.name = value` (the reference is not stolen).
pub fn add_object(_py: Attached<'_>, module: &PyObj, name: &CStr, value: &PyObj) -> Option<()> {
    // SAFETY: attached (token); AddObjectRef takes its own reference.
    (unsafe { ffi::PyModule_AddObjectRef(module.as_ptr(), name.as_ptr(), value.as_ptr()) } == 0).then_some(())
}

/// The state of a module whose definition has `m_size` of a `T`
/// (null for a module without state). Dereferencing it is the caller's
/// business: CPython zeroes the state before the exec slot runs.
pub fn module_state<T>(module: &PyObj) -> *mut T {
    // SAFETY: `module` is a live object; PyModule_GetState reads a field
    // (and sets an error, returning null, if it is not a module).
    unsafe { ffi::PyModule_GetState(module.as_ptr()) as *mut T }
}

/// The state of a module being freed (`m_free` gets the module as a void
/// pointer).
///
/// # Safety
/// `module` is a module object, with the GIL held.
pub unsafe fn module_state_raw<T>(module: *mut c_void) -> *mut T {
    // SAFETY: caller contract.
    unsafe { ffi::PyModule_GetState(module as RawObj) as *mut T }
}

/// Executes Python `source` in a module's namespace (the Python half of a
/// built-in module, from its exec slot).
pub fn exec_module_source(py: Attached<'_>, module: &PyObj, source: &str, filename: &CStr) -> Result<(), PyErrInfo> {
    let source = CString::new(source).expect("no NUL in a module source");
    // SAFETY: attached (token); the module dict is a borrowed reference
    // kept alive by the module.
    let dict = unsafe { ffi::PyModule_GetDict(module.as_ptr()) };
    let Some(dict) = NonNull::new(dict) else { return Err(PyErrInfo::fetch(py)) };
    // SAFETY: a live dict borrowed from the module.
    let dict = unsafe { PyObj::from_borrowed(dict) };
    // Modules the import system runs get `__builtins__` from exec(); parts
    // of the stdlib (warnings raised from our frames) index it.
    let b = builtins(py).ok_or_else(|| PyErrInfo::fetch(py))?;
    super::value::dict_set_str(py, &dict, c"__builtins__", &b).map_err(|_| PyErrInfo::fetch(py))?;
    let code = compile(py, &source, filename, CodeMode::Exec).ok_or_else(|| PyErrInfo::fetch(py))?;
    eval_code(py, &code, &dict, &dict).ok_or_else(|| PyErrInfo::fetch(py))?;
    Ok(())
}

/// Runs the Python half of a built-in module from its exec slot: `source`
/// in the module's namespace. On failure the error is raised again as
/// RuntimeError naming the module, and -1 returned (the exec slot's
/// convention).
pub fn exec_python_half(py: Attached<'_>, module: &PyObj, source: &str, filename: &CStr) -> c_int {
    match exec_module_source(py, module, source, filename) {
        Ok(()) => 0,
        // An interrupt that lands while the module runs stays an interrupt
        // (code that catches Exception must not swallow it).
        Err(e) if e.class == "KeyboardInterrupt" => {
            raise(py, PyExc::KeyboardInterrupt, "");
            -1
        }
        Err(e) => {
            let text = format!("{}: {}: {}", filename.to_string_lossy(), e.class, e.message);
            raise(py, PyExc::RuntimeError, &text);
            -1
        }
    }
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
            module: $crate::capi::RawObj,
            args: *mut $crate::capi::RawObj,
            n: $crate::capi::ffi::Py_ssize_t,
        ) -> $crate::capi::RawObj {
            // SAFETY: CPython calls module functions with the GIL held,
            // `module` the module object and `args` `n` live objects.
            let ($py, $module, $args) = unsafe {
                ($crate::Attached::assume(), $crate::capi::module_of(module), $crate::capi::arguments(args, n))
            };
            let _ = (&$py, &$module, &$args);
            ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body))
                .unwrap_or_else(|_| $crate::capi::internal_error())
        }
    };
}

/// Defines an exec slot: `exec_slot!(name, |py, module| { ... })`, where
/// the body returns 0, or -1 with an exception set.
#[macro_export]
macro_rules! exec_slot {
    ($fn_name:ident, |$py:ident, $module:ident| $body:block) => {
        unsafe extern "C" fn $fn_name(module: $crate::capi::RawObj) -> ::std::ffi::c_int {
            let Some(module) = ::std::ptr::NonNull::new(module) else { return -1 };
            // SAFETY: CPython calls the exec slot with the GIL held and the
            // live module object.
            let ($py, $module) = unsafe { ($crate::Attached::assume(), $crate::PyObj::from_borrowed(module)) };
            $body
        }
    };
}

/// Defines `$init`, the init function (for `py_core::runtime::
/// add_builtin_module`) of a multi-phase built-in module `$name` with the
/// method table `$methods` (a `static mut [MethodDef; N]` ending with
/// [`METHODS_END`]) and the exec slot `$exec`. The module supports
/// sub-interpreters with their own GIL (3.12+). With `state: T, free: f`
/// each module object has a zeroed `T` as its state and `f` (an
/// `unsafe extern "C" fn(*mut c_void)`) runs when it is freed; without, it
/// keeps no state of its own.
#[macro_export]
macro_rules! builtin_module {
    ($vis:vis $init:ident, $name:expr, $doc:expr, $methods:ident, $exec:ident, state: $state:ty, free: $free:ident) => {
        $crate::builtin_module!(@def $vis $init, $name, $doc, $methods, $exec,
            ::std::mem::size_of::<$state>() as $crate::capi::ffi::Py_ssize_t, Some($free));
    };
    ($vis:vis $init:ident, $name:expr, $doc:expr, $methods:ident, $exec:ident) => {
        $crate::builtin_module!(@def $vis $init, $name, $doc, $methods, $exec, 0, None);
    };
    (@def $vis:vis $init:ident, $name:expr, $doc:expr, $methods:ident, $exec:ident, $size:expr, $free:expr) => {
        #[cfg(Py_3_12)]
        static mut BUILTIN_SLOTS: [$crate::capi::ffi::PyModuleDef_Slot; 3] = [
            $crate::capi::ffi::PyModuleDef_Slot {
                slot: $crate::capi::ffi::Py_mod_exec,
                value: $exec as *mut ::std::ffi::c_void,
            },
            $crate::capi::ffi::PyModuleDef_Slot {
                slot: $crate::capi::ffi::Py_mod_multiple_interpreters,
                value: $crate::capi::ffi::Py_MOD_PER_INTERPRETER_GIL_SUPPORTED,
            },
            $crate::capi::ffi::PyModuleDef_Slot { slot: 0, value: ::std::ptr::null_mut() },
        ];

        #[cfg(not(Py_3_12))]
        static mut BUILTIN_SLOTS: [$crate::capi::ffi::PyModuleDef_Slot; 2] = [
            $crate::capi::ffi::PyModuleDef_Slot {
                slot: $crate::capi::ffi::Py_mod_exec,
                value: $exec as *mut ::std::ffi::c_void,
            },
            $crate::capi::ffi::PyModuleDef_Slot { slot: 0, value: ::std::ptr::null_mut() },
        ];

        static mut BUILTIN_DEF: $crate::capi::ffi::PyModuleDef = $crate::capi::ffi::PyModuleDef {
            m_base: $crate::capi::ffi::PyModuleDef_HEAD_INIT,
            m_name: $name.as_ptr(),
            m_doc: $doc.as_ptr(),
            m_size: $size,
            m_methods: ::std::ptr::addr_of_mut!($methods) as *mut $crate::capi::MethodDef,
            m_slots: ::std::ptr::addr_of_mut!(BUILTIN_SLOTS) as *mut $crate::capi::ffi::PyModuleDef_Slot,
            m_traverse: None,
            m_clear: None,
            m_free: $free,
        };

        $vis unsafe extern "C" fn $init() -> $crate::capi::RawObj {
            // SAFETY: CPython calls init functions with the GIL held;
            // PyModuleDef_Init only initialises the definition's header
            // (idempotently).
            unsafe { $crate::capi::ffi::PyModuleDef_Init(::std::ptr::addr_of_mut!(BUILTIN_DEF)) }
        }
    };
}
