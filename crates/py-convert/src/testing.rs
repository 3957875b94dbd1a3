//! Helpers for this workspace's tests, benches and fuzz targets.

use pyo3_ffi as ffi;

use crate::pyobj::Attached;

pub use crate::standalone::with_python;

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

/// Whether two Python values are the same value of the same types all the
/// way down (test helper): `==` alone would equate `1`, `1.0` and `True`
/// inside containers, and never equates two NaNs.
// `py` is the proof of attachment the calls below rely on, not a value.
#[allow(clippy::only_used_in_recursion)]
pub fn identical(py: Attached<'_>, a: &crate::PyObj, b: &crate::PyObj) -> bool {
    use std::ptr::{addr_of_mut, NonNull};
    // Items are held by new references while compared, so no comparison
    // can free them.
    let hold = |p: *mut ffi::PyObject| {
        // SAFETY: `p` is a live item borrowed from a container we hold.
        NonNull::new(p).map(|p| unsafe { crate::PyObj::from_borrowed(p) })
    };
    // SAFETY: attached thread (token); both objects are alive (owned).
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let tp = ffi::Py_TYPE(pa);
        if tp != ffi::Py_TYPE(pb) {
            return false;
        }
        if tp == addr_of_mut!(ffi::PyFloat_Type) {
            let (x, y) = (ffi::PyFloat_AS_DOUBLE(pa), ffi::PyFloat_AS_DOUBLE(pb));
            return x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
        }
        if tp == addr_of_mut!(ffi::PyList_Type) || tp == addr_of_mut!(ffi::PyTuple_Type) {
            let n = ffi::PyObject_Size(pa);
            if n != ffi::PyObject_Size(pb) {
                return false;
            }
            return (0..n).all(|i| {
                let (x, y) = if tp == addr_of_mut!(ffi::PyList_Type) {
                    (hold(ffi::PyList_GetItem(pa, i)), hold(ffi::PyList_GetItem(pb, i)))
                } else {
                    (hold(ffi::PyTuple_GetItem(pa, i)), hold(ffi::PyTuple_GetItem(pb, i)))
                };
                matches!((x, y), (Some(x), Some(y)) if identical(py, &x, &y))
            });
        }
        if tp == addr_of_mut!(ffi::PyDict_Type) {
            if ffi::PyDict_Size(pa) != ffi::PyDict_Size(pb) {
                return false;
            }
            let (mut i, mut j) = (0, 0);
            let (mut ka, mut va, mut kb, mut vb) =
                (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
            // Both were filled in the same order, so pairs line up.
            while ffi::PyDict_Next(pa, &mut i, &mut ka, &mut va) != 0 {
                if ffi::PyDict_Next(pb, &mut j, &mut kb, &mut vb) == 0 {
                    return false;
                }
                let same = |x: *mut ffi::PyObject, y: *mut ffi::PyObject| matches!((hold(x), hold(y)), (Some(x), Some(y)) if identical(py, &x, &y));
                if !same(ka, kb) || !same(va, vb) {
                    return false;
                }
            }
            return true;
        }
        match ffi::PyObject_RichCompareBool(pa, pb, ffi::Py_EQ) {
            1 => true,
            r => {
                if r < 0 {
                    ffi::PyErr_Clear();
                }
                false
            }
        }
    }
}
