//! Helpers for this workspace's tests, benches and fuzz targets.

use crate::capi;
use crate::pyobj::Attached;

pub use crate::standalone::with_python;

/// Evaluates a Python expression in a fresh namespace (test helper).
///
/// # Panics
/// If the expression raises.
pub fn eval(py: Attached<'_>, code: &str) -> crate::PyObj {
    let code = std::ffi::CString::new(code).expect("no NUL in test code");
    match capi::eval_fresh(py, &code) {
        Some(o) => o,
        None => {
            let e = crate::PyErrInfo::fetch(py);
            panic!("python raised {}: {}", e.class, e.message)
        }
    }
}

/// Whether two Python values are the same value of the same types all the
/// way down (test helper): `==` alone would equate `1`, `1.0` and `True`
/// inside containers, and never equates two NaNs.
pub fn identical(py: Attached<'_>, a: &crate::PyObj, b: &crate::PyObj) -> bool {
    // Items are held by new references while compared, so no comparison
    // can free them.
    if capi::type_of(a) != capi::type_of(b) {
        return false;
    }
    if let (Some(x), Some(y)) = (capi::float_value(a), capi::float_value(b)) {
        return x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
    }
    if capi::is_exact_list(a) || capi::is_exact_tuple(a) {
        let (Some(xs), Some(ys)) = (capi::sequence_items(py, a), capi::sequence_items(py, b)) else { return false };
        return xs.len() == ys.len() && xs.iter().zip(&ys).all(|(x, y)| identical(py, x, y));
    }
    if capi::is_exact_dict(a) {
        // Both were filled in the same order, so pairs line up.
        let (Some(xs), Some(ys)) = (capi::dict_items(py, a), capi::dict_items(py, b)) else { return false };
        return xs.len() == ys.len()
            && xs.iter().zip(&ys).all(|((ka, va), (kb, vb))| identical(py, ka, kb) && identical(py, va, vb));
    }
    if capi::buffer::has_buffer(a) && !capi::is_bytes(a) {
        return same_buffer(py, a, b);
    }
    match capi::rich_eq(py, a, b) {
        Some(same) => same,
        None => {
            capi::clear_error(py);
            false
        }
    }
}

/// Two buffer exporters of one type (numpy arrays, memoryviews) hold the
/// same elements: format, shape and row-major bytes (so NaN payloads
/// count). `==` on numpy arrays is elementwise and has no truth value.
fn same_buffer(py: Attached<'_>, a: &crate::PyObj, b: &crate::PyObj) -> bool {
    let (Some(x), Some(y)) = (capi::buffer::BufferView::get(py, a), capi::buffer::BufferView::get(py, b)) else {
        capi::clear_error(py);
        return false;
    };
    let bytes = |v: &capi::buffer::BufferView<'_>| {
        let mut out = vec![0; v.byte_len()];
        v.copy_c_order(&mut out).map(|()| out).ok()
    };
    let same = x.format() == y.format() && x.shape() == y.shape() && x.itemsize() == y.itemsize();
    let (bx, by) = (bytes(&x), bytes(&y));
    if bx.is_none() || by.is_none() {
        capi::clear_error(py);
        return false;
    }
    same && bx == by
}
