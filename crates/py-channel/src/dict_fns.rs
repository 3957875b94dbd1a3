//! `erlang.SharedDict` for Python: keys are UTF-8 encoded `str` or `bytes`
//! (Erlang binaries), values are kept in the external term format, so
//! Erlang reads and writes them without Python.

use std::sync::Arc;

use py_convert::capi::{self, PyExc, RawObj};
use py_convert::capi::{boolean, none_raw};
use py_convert::{Attached, PyObj};

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

fn destroyed(py: Attached<'_>, _: Destroyed) -> RawObj {
    capi::raise(py, PyExc::RuntimeError, "the SharedDict was destroyed");
    null()
}

/// A key as bytes: `str` (UTF-8) or bytes-like.
fn key_bytes(py: Attached<'_>, key: &PyObj) -> Option<Vec<u8>> {
    match capi::str_utf8(py, key) {
        Ok(Some(bytes)) => Some(bytes),
        Ok(None) => args::bytes_arg(py, key),
        Err(capi::Raised) => None,
    }
}

pub fn get(py: Attached<'_>, cap: &PyObj, key: &PyObj) -> RawObj {
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
            // KeyError(key) like a dict.
            capi::raise_value(py, PyExc::KeyError, key);
            null()
        }
        Err(e) => destroyed(py, e),
    }
}

pub fn set(py: Attached<'_>, cap: &PyObj, key: &PyObj, value: &PyObj) -> RawObj {
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

pub fn delete(py: Attached<'_>, cap: &PyObj, key: &PyObj) -> RawObj {
    let (Some(d), Some(k)) = (dict_of(py, cap), key_bytes(py, key)) else { return null() };
    match d.delete(&k) {
        Ok(was) => boolean(was),
        Err(e) => destroyed(py, e),
    }
}

pub fn contains(py: Attached<'_>, cap: &PyObj, key: &PyObj) -> RawObj {
    let (Some(d), Some(k)) = (dict_of(py, cap), key_bytes(py, key)) else { return null() };
    match d.contains(&k) {
        Ok(there) => boolean(there),
        Err(e) => destroyed(py, e),
    }
}

pub fn len(py: Attached<'_>, cap: &PyObj) -> RawObj {
    let Some(d) = dict_of(py, cap) else { return null() };
    match d.len() {
        Ok(n) => args::int_obj(n as i64),
        Err(e) => destroyed(py, e),
    }
}

/// Keys as `str` (bytes for keys that are not UTF-8).
pub fn keys(py: Attached<'_>, cap: &PyObj) -> RawObj {
    let Some(d) = dict_of(py, cap) else { return null() };
    let keys = match d.keys() {
        Ok(k) => k,
        Err(e) => return destroyed(py, e),
    };
    let items: Option<Vec<PyObj>> = keys
        .iter()
        .map(|k| match std::str::from_utf8(k) {
            Ok(s) => capi::new_str(py, s),
            Err(_) => capi::new_bytes(py, k),
        })
        .collect();
    capi::into_raw_or_null(items.and_then(|items| capi::list_of(py, items)))
}

pub fn destroy(py: Attached<'_>, cap: &PyObj) -> RawObj {
    let Some(d) = dict_of(py, cap) else { return null() };
    d.destroy();
    none_raw()
}
