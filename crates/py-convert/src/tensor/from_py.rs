//! Python arrays -> tensor terms: one copy of the bytes, into the binary.

use super::to_py::numpy_module;
use super::{TensorType, MAX_RANK, TENSOR_TAG};
use crate::capi::buffer::{has_buffer, type_full_name, BufferView};
use crate::capi::{call1, clear_error, getattr_opt};
use crate::error::ConvertError;
use crate::pyobj::{Attached, PyErrInfo, PyObj};
use crate::term::TermSink;

/// Builds `{tensor, Type, Shape, Binary}` from any object exporting a
/// numeric buffer (a numpy array, `array.array`, `memoryview`, `bytes`, a
/// numpy scalar as a rank-0 tensor) or, when numpy imports, with
/// `__array__` or `__dlpack__`. `Ok(None)` when `obj` has no such form
/// (no buffer, an object or bool array, a big-endian one, a protocol
/// method that raised): the caller keeps its other path. The bytes are
/// copied once, straight into the binary, in row-major order whatever the
/// strides of the export.
pub fn py_to_tensor_term<K: TermSink>(
    py: Attached<'_>,
    obj: &PyObj,
    sink: &mut K,
) -> Result<Option<K::Term>, ConvertError> {
    if has_buffer(obj) {
        return from_buffer(py, obj, sink);
    }
    match as_numpy_array(py, obj) {
        Some(array) if has_buffer(&array) => from_buffer(py, &array, sink),
        _ => Ok(None),
    }
}

/// [`py_to_tensor_term`] for an object met inside a value converted with
/// [`ArrayMode::Tensor`](super::ArrayMode::Tensor), if it is an array: a
/// numpy array, `array.array`, `memoryview`, or an object with `__array__`
/// or `__dlpack__`. Other buffer exporters (`mmap`, the library's own
/// buffer views) keep their path, and numpy scalars their plain value (a
/// float stays a float).
pub(crate) fn embedded_tensor<K: TermSink>(
    py: Attached<'_>,
    obj: &PyObj,
    sink: &mut K,
) -> Result<Option<K::Term>, ConvertError> {
    let name = type_full_name(obj);
    // numpy's scalar types are the C-defined `numpy.*` types other than
    // `numpy.ndarray` (classes defined in Python, `numpy.matrix` say,
    // carry no module in their C name).
    if name.starts_with("numpy.") && name != "numpy.ndarray" {
        return Ok(None);
    }
    let array = matches!(name.as_str(), "numpy.ndarray" | "memoryview" | "array.array")
        || getattr_opt(py, obj, c"__array__").is_some()
        || getattr_opt(py, obj, c"__dlpack__").is_some();
    if !array {
        return Ok(None);
    }
    py_to_tensor_term(py, obj, sink)
}

/// `numpy.asarray(obj)` for objects with `__array__`, `numpy.from_dlpack`
/// for objects with only `__dlpack__`; `None` (no error set) if neither
/// applies, numpy does not import, or the call raised.
fn as_numpy_array(py: Attached<'_>, obj: &PyObj) -> Option<PyObj> {
    let convert = if getattr_opt(py, obj, c"__array__").is_some() {
        c"asarray"
    } else if getattr_opt(py, obj, c"__dlpack__").is_some() {
        c"from_dlpack"
    } else {
        return None;
    };
    let np = numpy_module(py)?;
    let f = getattr_opt(py, &np, convert)?;
    let array = call1(py, &f, obj);
    if array.is_none() {
        clear_error(py);
    }
    array
}

fn from_buffer<K: TermSink>(py: Attached<'_>, obj: &PyObj, sink: &mut K) -> Result<Option<K::Term>, ConvertError> {
    let Some(view) = BufferView::get(py, obj) else {
        clear_error(py);
        return Ok(None);
    };
    let Some(ty) = TensorType::from_buffer_format(view.format(), view.itemsize()) else {
        return Ok(None);
    };
    let shape = view.shape();
    let elems = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    // An exporter whose numbers disagree is not trusted with a copy.
    if shape.len() > MAX_RANK || elems.and_then(|n| n.checked_mul(ty.size())) != Some(view.byte_len()) {
        return Ok(None);
    }
    let tag = sink.atom(TENSOR_TAG)?;
    let kind = sink.atom(ty.kind())?;
    let bits = sink.int64(i64::from(ty.bits()));
    let ty_term = sink.tuple(&[kind, bits]);
    let dims: Vec<K::Term> = shape.iter().map(|&d| sink.int64(d as i64)).collect();
    let shape_term = sink.tuple(&dims);
    let data = match view.c_contiguous() {
        Some(bytes) => sink.binary(bytes)?,
        None => sink.binary_filled(view.byte_len(), |out| {
            view.copy_c_order(out).map_err(|_| ConvertError::Python(PyErrInfo::fetch(py)))
        })?,
    };
    drop(view);
    Ok(Some(sink.tuple(&[tag, ty_term, shape_term, data])))
}
