//! Identity and type checks, and reading values out of objects (the
//! arguments of module functions). A `PyObj` exists only on an attached
//! thread, so checks that only read an object's header need no token.

use std::ptr::NonNull;

use pyo3_ffi as ffi;

use super::error::{clear_error, raise, PyExc, Raised};
use crate::pyobj::{str_to_string, Attached, PyObj};

/// A Python type object, as CPython's headers spell it.
pub type TypePtr = *mut ffi::PyTypeObject;

/// Whether `obj` is `None`.
#[inline]
pub fn is_none(obj: &PyObj) -> bool {
    // SAFETY: comparing against the address of the None singleton.
    obj.as_ptr() == unsafe { ffi::Py_None() }
}

/// Whether `obj` is `True`.
#[inline]
pub fn is_true(obj: &PyObj) -> bool {
    // SAFETY: comparing against the address of the True singleton.
    obj.as_ptr() == unsafe { ffi::Py_True() }
}

/// `type(obj)` as a pointer (for identity checks against known types).
#[inline]
pub fn type_of(obj: &PyObj) -> TypePtr {
    // SAFETY: reading the type of a live object (a `PyObj` keeps it alive).
    unsafe { ffi::Py_TYPE(obj.as_ptr()) }
}

/// Whether `type(obj) is cls`.
#[inline]
pub fn has_type(obj: &PyObj, cls: &PyObj) -> bool {
    type_of(obj) as *mut ffi::PyObject == cls.as_ptr()
}

/// `isinstance(obj, str)`.
#[inline]
pub fn is_str(obj: &PyObj) -> bool {
    // SAFETY: reads the type flags of a live object.
    unsafe { ffi::PyUnicode_Check(obj.as_ptr()) != 0 }
}

/// `isinstance(obj, bytes)`.
#[inline]
pub fn is_bytes(obj: &PyObj) -> bool {
    // SAFETY: reads the type flags of a live object.
    unsafe { ffi::PyBytes_Check(obj.as_ptr()) != 0 }
}

/// `isinstance(obj, dict)`.
#[inline]
pub fn is_dict(obj: &PyObj) -> bool {
    // SAFETY: reads the type flags of a live object.
    unsafe { ffi::PyDict_Check(obj.as_ptr()) != 0 }
}

/// `isinstance(obj, tuple)`.
#[inline]
pub fn is_tuple(obj: &PyObj) -> bool {
    // SAFETY: reads the type flags of a live object.
    unsafe { ffi::PyTuple_Check(obj.as_ptr()) != 0 }
}

/// `isinstance(obj, list)`.
#[inline]
pub fn is_list(obj: &PyObj) -> bool {
    // SAFETY: reads the type flags of a live object.
    unsafe { ffi::PyList_Check(obj.as_ptr()) != 0 }
}

/// `type(obj) is list`.
#[inline]
pub fn is_exact_list(obj: &PyObj) -> bool {
    // SAFETY: compares the type of a live object with a built-in type's
    // address.
    unsafe { ffi::PyList_CheckExact(obj.as_ptr()) != 0 }
}

/// `type(obj) is tuple`.
#[inline]
pub fn is_exact_tuple(obj: &PyObj) -> bool {
    // SAFETY: compares the type of a live object with a built-in type's
    // address.
    unsafe { ffi::PyTuple_CheckExact(obj.as_ptr()) != 0 }
}

/// `type(obj) is dict`.
#[inline]
pub fn is_exact_dict(obj: &PyObj) -> bool {
    // SAFETY: compares the type of a live object with a built-in type's
    // address.
    unsafe { ffi::PyDict_CheckExact(obj.as_ptr()) != 0 }
}

/// `isinstance(obj, type)`.
#[inline]
pub fn is_type(obj: &PyObj) -> bool {
    // SAFETY: reads the type flags of a live object.
    unsafe { ffi::PyType_Check(obj.as_ptr()) != 0 }
}

/// `type(obj) is float`.
#[inline]
pub fn is_exact_float(obj: &PyObj) -> bool {
    // SAFETY: compares the type of a live object with a built-in type's
    // address.
    unsafe { ffi::PyFloat_CheckExact(obj.as_ptr()) != 0 }
}

/// The value of an exact `float` (`None` for anything else).
#[inline]
pub fn float_value(obj: &PyObj) -> Option<f64> {
    // SAFETY: a live float object (checked).
    is_exact_float(obj).then(|| unsafe { ffi::PyFloat_AS_DOUBLE(obj.as_ptr()) })
}

/// An integer argument (`None` with an error set if it is not one or does
/// not fit).
#[inline]
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

/// A float argument, `float(obj)` (`None` with an error set on failure).
#[inline]
pub fn float_arg(_py: Attached<'_>, obj: &PyObj) -> Option<f64> {
    // SAFETY: attached (token); PyFloat_AsDouble sets an error on failure.
    unsafe {
        let v = ffi::PyFloat_AsDouble(obj.as_ptr());
        if v == -1.0 && !ffi::PyErr_Occurred().is_null() {
            None
        } else {
            Some(v)
        }
    }
}

/// The text of a `str` (`None`, error cleared, if it is not one or cannot
/// be encoded).
pub fn str_text(py: Attached<'_>, obj: &PyObj) -> Option<String> {
    if !is_str(obj) {
        return None;
    }
    // SAFETY: a str (checked); attached (token).
    let s = unsafe { str_to_string(obj) };
    if s.is_none() {
        clear_error(py);
    }
    s
}

/// The text of a name argument: `str` (including `erlang.Atom`) or `bytes`.
pub fn name_text(py: Attached<'_>, obj: &PyObj) -> Option<String> {
    if is_str(obj) {
        str_text(py, obj)
    } else if is_bytes(obj) {
        // SAFETY: a bytes object (checked); its buffer lives as long as
        // `obj` and is copied at once.
        unsafe {
            let p = ffi::PyBytes_AsString(obj.as_ptr()) as *const u8;
            let n = ffi::PyBytes_Size(obj.as_ptr()) as usize;
            Some(String::from_utf8_lossy(std::slice::from_raw_parts(p, n)).into_owned())
        }
    } else {
        None
    }
}

/// The UTF-8 bytes of a `str` (`Err` with an error set if it cannot be
/// encoded); `Ok(None)` if `obj` is not a `str`.
pub fn str_utf8(_py: Attached<'_>, obj: &PyObj) -> Result<Option<Vec<u8>>, Raised> {
    if !is_str(obj) {
        return Ok(None);
    }
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: a str (checked); attached (token); the UTF-8 buffer belongs
    // to the str and is copied at once.
    unsafe {
        let p = ffi::PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut len);
        if p.is_null() {
            return Err(Raised);
        }
        Ok(Some(std::slice::from_raw_parts(p as *const u8, len as usize).to_vec()))
    }
}

/// The bytes of a bytes-like object (copied through the buffer protocol),
/// or a TypeError.
pub fn bytes_like(py: Attached<'_>, obj: &PyObj) -> Option<Vec<u8>> {
    // SAFETY: attached (token); the buffer view is released before return.
    unsafe {
        let mut view: ffi::Py_buffer = std::mem::zeroed();
        if ffi::PyObject_GetBuffer(obj.as_ptr(), &mut view, ffi::PyBUF_SIMPLE) != 0 {
            ffi::PyErr_Clear();
            raise(py, PyExc::TypeError, "expected a bytes-like object");
            return None;
        }
        let data = std::slice::from_raw_parts(view.buf as *const u8, view.len.max(0) as usize).to_vec();
        ffi::PyBuffer_Release(&mut view);
        Some(data)
    }
}

/// The items of a list or tuple (anything else: `None`, no error).
pub fn sequence_items(_py: Attached<'_>, obj: &PyObj) -> Option<Vec<PyObj>> {
    if !is_list(obj) && !is_tuple(obj) {
        return None;
    }
    // SAFETY: attached (token); the fast sequence is a new reference whose
    // items are borrowed and then owned by the Vec.
    unsafe {
        let seq = PyObj::from_owned(ffi::PySequence_Fast(obj.as_ptr(), c"not a sequence".as_ptr()))?;
        let n = ffi::PySequence_Fast_GET_SIZE(seq.as_ptr());
        let items = ffi::PySequence_Fast_ITEMS(seq.as_ptr());
        Some((0..n as usize).map(|i| PyObj::from_borrowed(NonNull::new_unchecked(*items.add(i)))).collect())
    }
}

/// The items of a tuple (anything else: `None`, no error).
pub fn tuple_items(_py: Attached<'_>, obj: &PyObj) -> Option<Vec<PyObj>> {
    if !is_tuple(obj) {
        return None;
    }
    // SAFETY: a tuple (checked); its items are live borrowed references,
    // owned by the Vec from here on.
    unsafe {
        let n = ffi::PyTuple_GET_SIZE(obj.as_ptr());
        Some(
            (0..n)
                .map(|i| PyObj::from_borrowed(NonNull::new_unchecked(ffi::PyTuple_GET_ITEM(obj.as_ptr(), i))))
                .collect(),
        )
    }
}

/// `len(t)` of a tuple (`None` if `obj` is not one).
#[inline]
pub fn tuple_len(obj: &PyObj) -> Option<usize> {
    // SAFETY: a tuple (checked) of a live object.
    is_tuple(obj).then(|| unsafe { ffi::PyTuple_GET_SIZE(obj.as_ptr()) } as usize)
}

/// `t[i]` of a tuple (`None` if `obj` is not a tuple or too short).
#[inline]
pub fn tuple_item(obj: &PyObj, i: usize) -> Option<PyObj> {
    if tuple_len(obj)? <= i {
        return None;
    }
    // SAFETY: a tuple with more than `i` items (checked); the item is a
    // live borrowed reference.
    unsafe { Some(PyObj::from_borrowed(NonNull::new_unchecked(ffi::PyTuple_GET_ITEM(obj.as_ptr(), i as _)))) }
}

/// `len(d)` of a dict (0 for anything else).
#[inline]
pub fn dict_len(obj: &PyObj) -> usize {
    if !is_dict(obj) {
        return 0;
    }
    // SAFETY: a dict (checked).
    unsafe { ffi::PyDict_Size(obj.as_ptr()) as usize }
}

/// Whether `obj` is an empty dict (or not a dict at all).
#[inline]
pub fn is_empty_dict(obj: &PyObj) -> bool {
    dict_len(obj) == 0
}

/// `d[key]` of a dict: `Ok(None)` if missing, `Err` with an error set if
/// hashing or comparing failed.
#[inline]
pub fn dict_get(_py: Attached<'_>, d: &PyObj, key: &PyObj) -> Result<Option<PyObj>, Raised> {
    // SAFETY: attached (token); GetItemWithError returns a borrowed
    // reference (made owned at once) or null with or without an error.
    unsafe {
        match NonNull::new(ffi::PyDict_GetItemWithError(d.as_ptr(), key.as_ptr())) {
            Some(p) => Ok(Some(PyObj::from_borrowed(p))),
            None if !ffi::PyErr_Occurred().is_null() => Err(Raised),
            None => Ok(None),
        }
    }
}

/// The `(key, value)` pairs of a dict, in order (anything else: `None`).
pub fn dict_items(_py: Attached<'_>, d: &PyObj) -> Option<Vec<(PyObj, PyObj)>> {
    if !is_dict(d) {
        return None;
    }
    let mut pos: ffi::Py_ssize_t = 0;
    let (mut k, mut v) = (std::ptr::null_mut(), std::ptr::null_mut());
    let mut out = Vec::new();
    // SAFETY: a dict (checked); PyDict_Next lends live references, owned
    // at once; nothing runs Python code between the calls.
    unsafe {
        while ffi::PyDict_Next(d.as_ptr(), &mut pos, &mut k, &mut v) != 0 {
            out.push((
                PyObj::from_borrowed(NonNull::new_unchecked(k)),
                PyObj::from_borrowed(NonNull::new_unchecked(v)),
            ));
        }
    }
    Some(out)
}

/// `len(obj)` (`None` with an error set on failure).
pub fn length(_py: Attached<'_>, obj: &PyObj) -> Option<usize> {
    // SAFETY: attached (token); PyObject_Size sets an error on failure.
    let n = unsafe { ffi::PyObject_Size(obj.as_ptr()) };
    usize::try_from(n).ok()
}

/// `a == b` (`None` with an error set if the comparison raised).
pub fn rich_eq(_py: Attached<'_>, a: &PyObj, b: &PyObj) -> Option<bool> {
    // SAFETY: attached (token); both objects alive.
    match unsafe { ffi::PyObject_RichCompareBool(a.as_ptr(), b.as_ptr(), ffi::Py_EQ) } {
        r if r < 0 => None,
        r => Some(r == 1),
    }
}
