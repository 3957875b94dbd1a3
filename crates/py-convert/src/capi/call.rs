//! Attributes, calls, imports, and compiling and evaluating code. Each
//! returns a new reference, or `None` with an error set.

use std::ffi::CStr;
use std::ptr::{self, NonNull};

use pyo3_ffi as ffi;

use super::error::{clear_error, Raised};
use crate::pyobj::{Attached, PyObj};

/// `getattr(obj, name)`.
#[inline]
pub fn getattr(_py: Attached<'_>, obj: &PyObj, name: &CStr) -> Option<PyObj> {
    // SAFETY: attached (token); `obj` alive; a new reference or null.
    unsafe { PyObj::from_owned(ffi::PyObject_GetAttrString(obj.as_ptr(), name.as_ptr())) }
}

/// `getattr(obj, name, None)`-like: `None` and no error if it is missing
/// (or the lookup raised).
#[inline]
pub fn getattr_opt(py: Attached<'_>, obj: &PyObj, name: &CStr) -> Option<PyObj> {
    let v = getattr(py, obj, name);
    if v.is_none() {
        clear_error(py);
    }
    v
}

/// `getattr(obj, name)` with a str object as the name.
#[inline]
pub fn getattr_obj(_py: Attached<'_>, obj: &PyObj, name: &PyObj) -> Option<PyObj> {
    // SAFETY: attached (token); both alive.
    unsafe { PyObj::from_owned(ffi::PyObject_GetAttr(obj.as_ptr(), name.as_ptr())) }
}

/// `f()`.
#[inline]
pub fn call0(_py: Attached<'_>, f: &PyObj) -> Option<PyObj> {
    // SAFETY: attached (token); `f` alive.
    unsafe { PyObj::from_owned(ffi::PyObject_CallNoArgs(f.as_ptr())) }
}

/// `f(arg)`.
#[inline]
pub fn call1(_py: Attached<'_>, f: &PyObj, arg: &PyObj) -> Option<PyObj> {
    // SAFETY: attached (token); both alive.
    unsafe { PyObj::from_owned(ffi::PyObject_CallOneArg(f.as_ptr(), arg.as_ptr())) }
}

/// `f(*args, **kwargs)` by vectorcall; the arguments are borrowed.
#[inline]
pub fn vectorcall(_py: Attached<'_>, f: &PyObj, args: &[PyObj], kwargs: Option<&PyObj>) -> Option<PyObj> {
    // `PyObj` is a transparent pointer, so the slice is an array of object
    // pointers as vectorcall expects.
    let argv = args.as_ptr() as *const *mut ffi::PyObject;
    // SAFETY: attached (token); the argument array and the kwargs dict are
    // alive for the call; vectorcall borrows them.
    unsafe {
        PyObj::from_owned(match kwargs {
            None => ffi::PyObject_Vectorcall(f.as_ptr(), argv, args.len(), ptr::null_mut()),
            Some(kw) => ffi::PyObject_VectorcallDict(f.as_ptr(), argv, args.len(), kw.as_ptr()),
        })
    }
}

/// `import name` (the module object).
#[inline]
pub fn import(_py: Attached<'_>, name: &CStr) -> Option<PyObj> {
    // SAFETY: attached (token); a NUL-terminated name.
    unsafe { PyObj::from_owned(ffi::PyImport_ImportModule(name.as_ptr())) }
}

/// `import name` with a str object as the name.
#[inline]
pub fn import_obj(_py: Attached<'_>, name: &PyObj) -> Option<PyObj> {
    // SAFETY: attached (token); `name` alive.
    unsafe { PyObj::from_owned(ffi::PyImport_Import(name.as_ptr())) }
}

/// `sys.modules.get(name)`: `Ok(None)` if not imported yet.
#[inline]
pub fn imported_module(_py: Attached<'_>, name: &PyObj) -> Result<Option<PyObj>, Raised> {
    // SAFETY: attached (token); GetModule returns a new reference or null
    // (with or without an error set).
    unsafe {
        match PyObj::from_owned(ffi::PyImport_GetModule(name.as_ptr())) {
            Some(m) => Ok(Some(m)),
            None if !ffi::PyErr_Occurred().is_null() => Err(Raised),
            None => Ok(None),
        }
    }
}

/// The `builtins` dict of the running frame or interpreter.
#[inline]
pub fn builtins(_py: Attached<'_>) -> Option<PyObj> {
    // SAFETY: attached (token); a borrowed reference (never null while
    // attached), made owned.
    unsafe { NonNull::new(ffi::PyEval_GetBuiltins()).map(|p| PyObj::from_borrowed(p)) }
}

/// What source code is compiled as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodeMode {
    /// One expression (`eval`).
    Eval,
    /// Statements (`exec`, a module).
    Exec,
}

/// `compile(source, filename, mode)` with the default flags.
#[inline]
pub fn compile(_py: Attached<'_>, source: &CStr, filename: &CStr, mode: CodeMode) -> Option<PyObj> {
    let start = match mode {
        CodeMode::Eval => ffi::Py_eval_input,
        CodeMode::Exec => ffi::Py_file_input,
    };
    // SAFETY: attached (token); NUL-terminated source and file name.
    unsafe {
        PyObj::from_owned(ffi::Py_CompileStringExFlags(source.as_ptr(), filename.as_ptr(), start, ptr::null_mut(), -1))
    }
}

/// Runs a code object with `globals` and `locals` (dicts).
#[inline]
pub fn eval_code(_py: Attached<'_>, code: &PyObj, globals: &PyObj, locals: &PyObj) -> Option<PyObj> {
    // SAFETY: attached (token); all alive.
    unsafe { PyObj::from_owned(ffi::PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), locals.as_ptr())) }
}

/// Evaluates an expression in a fresh namespace.
pub fn eval_fresh(py: Attached<'_>, source: &CStr) -> Option<PyObj> {
    let globals = super::value::new_dict(py)?;
    // SAFETY: attached (token); the namespace is owned for the call.
    unsafe {
        PyObj::from_owned(ffi::PyRun_String(source.as_ptr(), ffi::Py_eval_input, globals.as_ptr(), globals.as_ptr()))
    }
}

/// The calling thread's interpreter id (0 for the main one).
pub fn interpreter_id(_py: Attached<'_>) -> i64 {
    // SAFETY: attached (token): the calling thread's interpreter is valid.
    unsafe { ffi::PyInterpreterState_GetID(ffi::PyInterpreterState_Get()) }
}
