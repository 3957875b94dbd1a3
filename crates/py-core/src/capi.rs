//! Small safe wrappers over CPython's C API for the built-in modules of
//! this workspace (`erlang`, `_erlang_loop`, `_erlang_channel`): raising
//! built-in exceptions, reading arguments, building small values, running a
//! module's Python half. They take the attachment token, so callers need
//! no `unsafe` of their own.

use std::ffi::CStr;
use std::ptr::NonNull;

use py_convert::{Attached, PyErrInfo, PyObj};
use pyo3_ffi as ffi;

/// Executes Python `source` in a module's namespace (the Python half of a
/// built-in module, from its exec slot).
///
/// # Safety
/// Attached thread; `module` is a module object.
pub unsafe fn exec_module_source(
    py: Attached<'_>,
    module: &PyObj,
    source: &str,
    filename: &CStr,
) -> Result<(), PyErrInfo> {
    let source = std::ffi::CString::new(source).expect("no NUL in a module source");
    // SAFETY: caller contract; the module dict is a borrowed reference kept
    // alive by the module; compiled code and results are owned.
    unsafe {
        let dict = ffi::PyModule_GetDict(module.as_ptr());
        // Modules the import system runs get `__builtins__` from exec();
        // parts of the stdlib (warnings raised from our frames) index it.
        if ffi::PyDict_SetItemString(dict, c"__builtins__".as_ptr(), ffi::PyEval_GetBuiltins()) < 0 {
            return Err(PyErrInfo::fetch(py));
        }
        let code = PyObj::from_owned(ffi::Py_CompileString(source.as_ptr(), filename.as_ptr(), ffi::Py_file_input))
            .ok_or_else(|| PyErrInfo::fetch(py))?;
        PyObj::from_owned(ffi::PyEval_EvalCode(code.as_ptr(), dict, dict)).ok_or_else(|| PyErrInfo::fetch(py))?;
    }
    Ok(())
}

/// Built-in exceptions the modules raise.
#[derive(Clone, Copy, Debug)]
pub enum PyExc {
    TypeError,
    ValueError,
    RuntimeError,
    KeyboardInterrupt,
    OSError,
    TimeoutError,
    KeyError,
}

/// Sets a built-in exception with `message` (C-API style: the caller then
/// returns its null/None error value).
pub fn raise(_py: Attached<'_>, kind: PyExc, message: &str) {
    let text = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: attached (token); the exception types are built-in objects.
    unsafe {
        let exc = match kind {
            PyExc::TypeError => ffi::PyExc_TypeError,
            PyExc::ValueError => ffi::PyExc_ValueError,
            PyExc::RuntimeError => ffi::PyExc_RuntimeError,
            PyExc::KeyboardInterrupt => ffi::PyExc_KeyboardInterrupt,
            PyExc::OSError => ffi::PyExc_OSError,
            PyExc::TimeoutError => ffi::PyExc_TimeoutError,
            PyExc::KeyError => ffi::PyExc_KeyError,
        };
        ffi::PyErr_SetString(exc, text.as_ptr());
    }
}

/// Clears a pending exception (after a failed optional conversion).
pub fn clear_error(_py: Attached<'_>) {
    // SAFETY: attached (token).
    unsafe { ffi::PyErr_Clear() }
}

/// `(a, b)` as a Python tuple of ints.
pub fn int_pair(py: Attached<'_>, a: i64, b: i64) -> Option<PyObj> {
    // SAFETY: attached (token); new references are handed to the tuple.
    unsafe {
        let x = PyObj::from_owned(ffi::PyLong_FromLongLong(a))?;
        let y = PyObj::from_owned(ffi::PyLong_FromLongLong(b))?;
        let _ = py;
        PyObj::from_owned(ffi::PyTuple_Pack(2, x.as_ptr(), y.as_ptr()))
    }
}

/// The text of a name argument: `str` (including `erlang.Atom`) or `bytes`.
pub fn name_text(_py: Attached<'_>, obj: &PyObj) -> Option<String> {
    // SAFETY: attached (token); type checks before each accessor.
    unsafe {
        if ffi::PyUnicode_Check(obj.as_ptr()) != 0 {
            let s = py_convert::pyobj::str_to_string(obj);
            if s.is_none() {
                ffi::PyErr_Clear();
            }
            s
        } else if ffi::PyBytes_Check(obj.as_ptr()) != 0 {
            let p = ffi::PyBytes_AsString(obj.as_ptr()) as *const u8;
            let n = ffi::PyBytes_Size(obj.as_ptr()) as usize;
            Some(String::from_utf8_lossy(std::slice::from_raw_parts(p, n)).into_owned())
        } else {
            None
        }
    }
}

/// An integer argument.
pub fn int_arg(_py: Attached<'_>, obj: &PyObj) -> Option<i64> {
    // SAFETY: attached (token); PyLong_AsLongLong sets an error on failure.
    unsafe {
        let v = ffi::PyLong_AsLongLong(obj.as_ptr());
        if v == -1 && !ffi::PyErr_Occurred().is_null() {
            None
        } else {
            Some(v)
        }
    }
}

/// `None` as a new reference.
pub fn none(_py: Attached<'_>) -> Option<PyObj> {
    // SAFETY: attached (token); None is an immortal singleton.
    unsafe { Some(PyObj::from_borrowed(NonNull::new_unchecked(ffi::Py_None()))) }
}

/// Whether `obj` is `True`.
pub fn is_true(obj: &PyObj) -> bool {
    // SAFETY: comparing against the address of the True singleton.
    obj.as_ptr() == unsafe { ffi::Py_True() }
}

/// The items of a list or tuple (anything else: `None`).
pub fn sequence_items(_py: Attached<'_>, obj: &PyObj) -> Option<Vec<PyObj>> {
    // SAFETY: attached (token); the fast sequence is a new reference whose
    // items are borrowed and then owned by the Vec.
    unsafe {
        if ffi::PyList_Check(obj.as_ptr()) == 0 && ffi::PyTuple_Check(obj.as_ptr()) == 0 {
            return None;
        }
        let seq = PyObj::from_owned(ffi::PySequence_Fast(obj.as_ptr(), c"not a sequence".as_ptr()))?;
        let n = ffi::PySequence_Fast_GET_SIZE(seq.as_ptr());
        let items = ffi::PySequence_Fast_ITEMS(seq.as_ptr());
        Some((0..n as usize).map(|i| PyObj::from_borrowed(NonNull::new_unchecked(*items.add(i)))).collect())
    }
}

/// Whether `obj` is an empty dict (or not a dict at all).
pub fn is_empty_dict(obj: &PyObj) -> bool {
    // SAFETY: type check before the size read; attached (callers hold the GIL).
    unsafe { ffi::PyDict_Check(obj.as_ptr()) == 0 || ffi::PyDict_Size(obj.as_ptr()) == 0 }
}

/// A tuple of the given objects.
pub fn tuple_of(py: Attached<'_>, items: &[PyObj]) -> Option<PyObj> {
    // SAFETY: attached (token); PyTuple_SetItem steals the new references
    // made for it.
    unsafe {
        let t = PyObj::from_owned(ffi::PyTuple_New(items.len() as ffi::Py_ssize_t))?;
        for (i, item) in items.iter().enumerate() {
            ffi::PyTuple_SetItem(t.as_ptr(), i as ffi::Py_ssize_t, item.clone().into_raw());
        }
        let _ = py;
        Some(t)
    }
}

/// A str object.
pub fn new_str(_py: Attached<'_>, text: &str) -> Option<PyObj> {
    // SAFETY: attached (token); the text is valid UTF-8 of the given length.
    unsafe { PyObj::from_owned(ffi::PyUnicode_FromStringAndSize(text.as_ptr().cast(), text.len() as ffi::Py_ssize_t)) }
}

/// An int object.
pub fn new_int(_py: Attached<'_>, v: i64) -> Option<PyObj> {
    // SAFETY: attached (token).
    unsafe { PyObj::from_owned(ffi::PyLong_FromLongLong(v)) }
}
