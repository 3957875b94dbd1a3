//! Building Python values: each returns a new reference, or `None` with an
//! error set (out of memory).

use std::ffi::CStr;
use std::ptr::NonNull;

use pyo3_ffi as ffi;

use super::error::Raised;
use crate::pyobj::{Attached, PyObj};

/// `None` as a new reference.
#[inline]
pub fn none(_py: Attached<'_>) -> Option<PyObj> {
    // SAFETY: attached (token); None is an immortal singleton.
    unsafe { Some(PyObj::from_borrowed(NonNull::new_unchecked(ffi::Py_None()))) }
}

/// `True` or `False` as a new reference.
#[inline]
pub fn new_bool(_py: Attached<'_>, v: bool) -> PyObj {
    // SAFETY: attached (token); the booleans are singletons.
    unsafe { PyObj::from_borrowed(NonNull::new_unchecked(if v { ffi::Py_True() } else { ffi::Py_False() })) }
}

/// An int object.
#[inline]
pub fn new_int(_py: Attached<'_>, v: i64) -> Option<PyObj> {
    // SAFETY: attached (token).
    unsafe { PyObj::from_owned(ffi::PyLong_FromLongLong(v)) }
}

/// A str object.
#[inline]
pub fn new_str(_py: Attached<'_>, text: &str) -> Option<PyObj> {
    // SAFETY: attached (token); the text is valid UTF-8 of the given length
    // and copied.
    unsafe { PyObj::from_owned(ffi::PyUnicode_FromStringAndSize(text.as_ptr().cast(), text.len() as ffi::Py_ssize_t)) }
}

/// A str object decoded from UTF-8 bytes (`None` with a
/// UnicodeDecodeError set if they are not UTF-8).
#[inline]
pub fn decode_utf8(_py: Attached<'_>, bytes: &[u8]) -> Option<PyObj> {
    // SAFETY: attached (token); the bytes are copied.
    unsafe {
        PyObj::from_owned(ffi::PyUnicode_DecodeUTF8(
            bytes.as_ptr().cast(),
            bytes.len() as ffi::Py_ssize_t,
            std::ptr::null(),
        ))
    }
}

/// The interned version of a str (`s` itself if it is the first).
#[inline]
pub fn intern(_py: Attached<'_>, s: PyObj) -> PyObj {
    let mut raw = s.into_raw();
    // SAFETY: `raw` is an owned str; InternInPlace swaps in the interned
    // object, keeping ownership of one reference, never null.
    unsafe {
        ffi::PyUnicode_InternInPlace(&mut raw);
        PyObj::from_owned(raw).expect("interned str")
    }
}

/// A bytes object (the data is copied).
#[inline]
pub fn new_bytes(_py: Attached<'_>, data: &[u8]) -> Option<PyObj> {
    // SAFETY: attached (token); the data is copied.
    unsafe { PyObj::from_owned(ffi::PyBytes_FromStringAndSize(data.as_ptr().cast(), data.len() as ffi::Py_ssize_t)) }
}

/// A tuple of the given objects.
pub fn tuple_of(_py: Attached<'_>, items: &[PyObj]) -> Option<PyObj> {
    // SAFETY: attached (token); PyTuple_SetItem steals the new references
    // made for it.
    unsafe {
        let t = PyObj::from_owned(ffi::PyTuple_New(items.len() as ffi::Py_ssize_t))?;
        for (i, item) in items.iter().enumerate() {
            ffi::PyTuple_SetItem(t.as_ptr(), i as ffi::Py_ssize_t, item.clone().into_raw());
        }
        Some(t)
    }
}

/// `(a, b)` as a Python tuple of ints.
pub fn int_pair(py: Attached<'_>, a: i64, b: i64) -> Option<PyObj> {
    let x = new_int(py, a)?;
    let y = new_int(py, b)?;
    tuple_of(py, &[x, y])
}

/// A list of the given objects (moved into it).
pub fn list_of(_py: Attached<'_>, items: Vec<PyObj>) -> Option<PyObj> {
    // SAFETY: attached (token); PyList_SetItem steals each reference.
    unsafe {
        let list = PyObj::from_owned(ffi::PyList_New(items.len() as ffi::Py_ssize_t))?;
        for (i, item) in items.into_iter().enumerate() {
            ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, item.into_raw());
        }
        Some(list)
    }
}

/// An empty list.
#[inline]
pub fn new_list(_py: Attached<'_>) -> Option<PyObj> {
    // SAFETY: attached (token).
    unsafe { PyObj::from_owned(ffi::PyList_New(0)) }
}

/// `list.append(item)`.
#[inline]
pub fn list_append(_py: Attached<'_>, list: &PyObj, item: &PyObj) -> Result<(), Raised> {
    // SAFETY: attached (token); both alive; Append takes its own reference.
    if unsafe { ffi::PyList_Append(list.as_ptr(), item.as_ptr()) } < 0 {
        return Err(Raised);
    }
    Ok(())
}

/// An empty dict.
#[inline]
pub fn new_dict(_py: Attached<'_>) -> Option<PyObj> {
    // SAFETY: attached (token).
    unsafe { PyObj::from_owned(ffi::PyDict_New()) }
}

/// `d[key] = value` (neither reference is stolen).
#[inline]
pub fn dict_set(_py: Attached<'_>, d: &PyObj, key: &PyObj, value: &PyObj) -> Result<(), Raised> {
    // SAFETY: attached (token); all alive; SetItem does not steal.
    if unsafe { ffi::PyDict_SetItem(d.as_ptr(), key.as_ptr(), value.as_ptr()) } < 0 {
        return Err(Raised);
    }
    Ok(())
}

/// `d[key] = value` for a str key.
#[inline]
pub fn dict_set_str(_py: Attached<'_>, d: &PyObj, key: &CStr, value: &PyObj) -> Result<(), Raised> {
    // SAFETY: attached (token); all alive; SetItemString does not steal.
    if unsafe { ffi::PyDict_SetItemString(d.as_ptr(), key.as_ptr(), value.as_ptr()) } < 0 {
        return Err(Raised);
    }
    Ok(())
}

/// `dict(d)`: a shallow copy.
#[inline]
pub fn dict_copy(_py: Attached<'_>, d: &PyObj) -> Option<PyObj> {
    // SAFETY: attached (token); `d` alive.
    unsafe { PyObj::from_owned(ffi::PyDict_Copy(d.as_ptr())) }
}

/// `d.update(other)` (both dicts).
#[inline]
pub fn dict_update(_py: Attached<'_>, d: &PyObj, other: &PyObj) -> Result<(), Raised> {
    // SAFETY: attached (token); both alive.
    if unsafe { ffi::PyDict_Update(d.as_ptr(), other.as_ptr()) } < 0 {
        return Err(Raised);
    }
    Ok(())
}
