//! `erlang.SharedDict` for Python: keys are UTF-8 encoded `str` or `bytes`
//! (Erlang binaries), values are kept in the external term format, so
//! Erlang reads and writes them without Python.

use std::sync::Arc;

use py_convert::{Attached, PyObj};
use py_core::capi::{self, PyExc};
use py_core::cfunc::{boolean, none_raw};
use pyo3_ffi as ffi;

use crate::args::{self, handle_arg, with_types};
use crate::handle::{null, Core};
use crate::{Destroyed, SharedDict};

fn dict_of(py: Attached<'_>, cap: &PyObj) -> Option<Arc<SharedDict>> {
    match handle_arg(py, cap).map(|h| &h.core) {
        Some(Core::Dict(d)) => Some(d.clone()),
        Some(_) => {
            capi::raise(py, PyExc::TypeError, "not a shared dict");
            None
        }
        None => None,
    }
}

fn destroyed(py: Attached<'_>, _: Destroyed) -> *mut ffi::PyObject {
    capi::raise(py, PyExc::RuntimeError, "the SharedDict was destroyed");
    null()
}

/// A key as bytes: `str` (UTF-8) or bytes-like.
fn key_bytes(py: Attached<'_>, key: &PyObj) -> Option<Vec<u8>> {
    // SAFETY: attached (token); the UTF-8 buffer belongs to the str and is
    // copied at once.
    unsafe {
        if ffi::PyUnicode_Check(key.as_ptr()) != 0 {
            let mut len: ffi::Py_ssize_t = 0;
            let p = ffi::PyUnicode_AsUTF8AndSize(key.as_ptr(), &mut len);
            if p.is_null() {
                return None;
            }
            return Some(std::slice::from_raw_parts(p as *const u8, len as usize).to_vec());
        }
    }
    args::bytes_arg(py, key)
}

pub fn get(py: Attached<'_>, cap: &PyObj, key: &PyObj) -> *mut ffi::PyObject {
    let (Some(d), Some(k)) = (dict_of(py, cap), key_bytes(py, key)) else { return null() };
    match d.get(&k) {
        Ok(Some(v)) => match with_types(py, |types, limits| py_convert::etf_to_py(py, types, &v, limits)) {
            Some(Ok(obj)) => obj.into_raw(),
            Some(Err(e)) => {
                args::raise_convert(py, &e);
                null()
            }
            None => null(),
        },
        Ok(None) => {
            // SAFETY: attached (token); KeyError(key) like a dict.
            unsafe { ffi::PyErr_SetObject(ffi::PyExc_KeyError, key.as_ptr()) };
            null()
        }
        Err(e) => destroyed(py, e),
    }
}

pub fn set(py: Attached<'_>, cap: &PyObj, key: &PyObj, value: &PyObj) -> *mut ffi::PyObject {
    let (Some(d), Some(k)) = (dict_of(py, cap), key_bytes(py, key)) else { return null() };
    let encoded = match with_types(py, |types, limits| py_convert::py_to_etf(py, types, value, limits)) {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => {
            args::raise_convert(py, &e);
            return null();
        }
        None => return null(),
    };
    match d.set(k, encoded) {
        Ok(()) => none_raw(),
        Err(e) => destroyed(py, e),
    }
}

pub fn delete(py: Attached<'_>, cap: &PyObj, key: &PyObj) -> *mut ffi::PyObject {
    let (Some(d), Some(k)) = (dict_of(py, cap), key_bytes(py, key)) else { return null() };
    match d.delete(&k) {
        Ok(was) => boolean(was),
        Err(e) => destroyed(py, e),
    }
}

pub fn contains(py: Attached<'_>, cap: &PyObj, key: &PyObj) -> *mut ffi::PyObject {
    let (Some(d), Some(k)) = (dict_of(py, cap), key_bytes(py, key)) else { return null() };
    match d.contains(&k) {
        Ok(there) => boolean(there),
        Err(e) => destroyed(py, e),
    }
}

pub fn len(py: Attached<'_>, cap: &PyObj) -> *mut ffi::PyObject {
    let Some(d) = dict_of(py, cap) else { return null() };
    match d.len() {
        Ok(n) => args::int_obj(n as i64),
        Err(e) => destroyed(py, e),
    }
}

/// Keys as `str` (bytes for keys that are not UTF-8).
pub fn keys(py: Attached<'_>, cap: &PyObj) -> *mut ffi::PyObject {
    let Some(d) = dict_of(py, cap) else { return null() };
    let keys = match d.keys() {
        Ok(k) => k,
        Err(e) => return destroyed(py, e),
    };
    // SAFETY: attached (token); PyList_SetItem steals each new reference.
    unsafe {
        let Some(list) = PyObj::from_owned(ffi::PyList_New(keys.len() as ffi::Py_ssize_t)) else { return null() };
        for (i, k) in keys.iter().enumerate() {
            let item = match std::str::from_utf8(k) {
                Ok(s) => ffi::PyUnicode_FromStringAndSize(s.as_ptr().cast(), s.len() as ffi::Py_ssize_t),
                Err(_) => ffi::PyBytes_FromStringAndSize(k.as_ptr().cast(), k.len() as ffi::Py_ssize_t),
            };
            if item.is_null() {
                return null();
            }
            ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, item);
        }
        list.into_raw()
    }
}

pub fn destroy(py: Attached<'_>, cap: &PyObj) -> *mut ffi::PyObject {
    let Some(d) = dict_of(py, cap) else { return null() };
    d.destroy();
    none_raw()
}
