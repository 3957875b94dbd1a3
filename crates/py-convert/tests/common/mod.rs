#![allow(dead_code)]

pub mod strategies;

use py_convert::model::{ModelSink, ModelSource, Term};
use py_convert::testing::{eval, with_python};
use py_convert::{py_to_term, term_to_py, Attached, ConvertError, ErlTypes, Limits, PyObj};
use pyo3_ffi as ffi;

pub fn to_py(py: Attached<'_>, types: &ErlTypes, t: &Term) -> Result<PyObj, ConvertError> {
    term_to_py(py, types, &ModelSource, t as *const Term, Limits::default())
}

pub fn from_py(py: Attached<'_>, types: &ErlTypes, o: &PyObj) -> Result<Term, ConvertError> {
    let mut sink = ModelSink::new();
    let t = py_to_term(py, types, &mut sink, o, Limits::default())?;
    Ok(sink.take(t))
}

/// `repr(obj)` as a Rust string.
pub fn repr(o: &PyObj) -> String {
    // SAFETY: callers hold the GIL (inside with_python).
    unsafe {
        let r = PyObj::from_owned(ffi::PyObject_Repr(o.as_ptr())).expect("repr");
        py_convert::pyobj::str_to_string(&r).expect("utf8")
    }
}

/// Python `a == b` and the same type.
pub fn same(py: Attached<'_>, a: &PyObj, expected_expr: &str) -> bool {
    let b = eval(py, expected_expr);
    // SAFETY: callers hold the GIL.
    unsafe {
        ffi::Py_TYPE(a.as_ptr()) == ffi::Py_TYPE(b.as_ptr())
            && ffi::PyObject_RichCompareBool(a.as_ptr(), b.as_ptr(), ffi::Py_EQ) == 1
    }
}

pub fn assert_py(t: Term, expected_expr: &str) {
    with_python(|py, types| {
        let o = to_py(py, types, &t).expect("convert");
        assert!(same(py, &o, expected_expr), "{t:?} became {} not {expected_expr}", repr(&o));
    })
}

pub fn assert_term(expr: &str, expected: Term) {
    with_python(|py, types| {
        let o = eval(py, expr);
        let t = from_py(py, types, &o).expect("convert");
        assert_eq!(t, expected, "{expr}");
    })
}

pub fn nested_list(levels: usize) -> Term {
    let mut t = Term::Int(1);
    for _ in 0..levels {
        t = Term::list(vec![t]);
    }
    t
}

/// A pid's external form, as term_to_binary gives it for a local pid.
pub fn pid_etf(id: u32, serial: u32, creation: u32) -> Vec<u8> {
    let mut v = vec![131, 88, 119, 13];
    v.extend_from_slice(b"nonode@nohost");
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&serial.to_be_bytes());
    v.extend_from_slice(&creation.to_be_bytes());
    v
}

pub fn ref_etf(words: [u32; 3], creation: u32) -> Vec<u8> {
    let mut v = vec![131, 90, 0, 3, 119, 13];
    v.extend_from_slice(b"nonode@nohost");
    v.extend_from_slice(&creation.to_be_bytes());
    for w in words {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v
}
