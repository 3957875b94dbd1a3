//! Tensor terms -> numpy arrays (or memoryviews without numpy), after a
//! strict check of the term.

use std::sync::Mutex;

use super::{TensorType, MAX_RANK, TENSOR_TAG};
use crate::capi::buffer::memoryview;
use crate::capi::{
    clear_error, getattr, import, imported_module, interpreter_id, new_bytes, new_int, new_str, tuple_of, vectorcall,
};
use crate::error::ConvertError;
use crate::pyobj::{Attached, PyErrInfo, PyObj};
use crate::term::{TermKind, TermSource};

/// A checked tensor term: `data` is a binary of exactly
/// `product(shape) * ty.size()` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorParts<T> {
    pub ty: TensorType,
    pub shape: Vec<usize>,
    /// The binary term holding the elements.
    pub data: T,
}

fn bad(what: &'static str) -> ConvertError {
    ConvertError::BadTerm(what)
}

/// Whether `t` is a tensor term: `None` if it is not one (no `tensor`
/// tag or no valid type: it converts as the tuple it is), `Some(Err)` if
/// it is one with a bad shape or data, else its checked parts.
pub fn parse_tensor_term<S: TermSource>(src: &S, t: S::Term) -> Option<Result<TensorParts<S::Term>, ConvertError>> {
    if src.kind(t) != TermKind::Tuple || src.tuple_len(t) != 4 {
        return None;
    }
    let mut elems = src.tuple_elems(t);
    let (tag, ty, shape, data) = (elems.next()?, elems.next()?, elems.next()?, elems.next()?);
    if src.kind(tag) != TermKind::Atom || !src.with_atom_name(tag, |n| n == TENSOR_TAG).ok()? {
        return None;
    }
    let ty = tensor_type(src, ty)?;
    Some(checked_parts(src, ty, shape, data))
}

/// The type of `{Kind, Bits}`, if valid.
fn tensor_type<S: TermSource>(src: &S, t: S::Term) -> Option<TensorType> {
    if src.kind(t) != TermKind::Tuple || src.tuple_len(t) != 2 {
        return None;
    }
    let mut elems = src.tuple_elems(t);
    let (kind, bits) = (elems.next()?, elems.next()?);
    if src.kind(kind) != TermKind::Atom || src.kind(bits) != TermKind::Integer {
        return None;
    }
    let bits = src.int64(bits)?;
    src.with_atom_name(kind, |k| TensorType::from_nx(k, bits)).ok()?
}

fn checked_parts<S: TermSource>(
    src: &S,
    ty: TensorType,
    shape: S::Term,
    data: S::Term,
) -> Result<TensorParts<S::Term>, ConvertError> {
    if src.kind(shape) != TermKind::Tuple {
        return Err(bad("tensor shape is not a tuple"));
    }
    let rank = src.tuple_len(shape);
    if rank > MAX_RANK {
        return Err(bad("tensor of more than 64 dimensions"));
    }
    let mut dims = Vec::with_capacity(rank);
    let mut elems: usize = 1;
    for d in src.tuple_elems(shape).take(rank) {
        if src.kind(d) != TermKind::Integer {
            return Err(bad("tensor dimension is not an integer"));
        }
        let n = match src.int64(d) {
            Some(n) if n < 0 => return Err(bad("tensor dimension is negative")),
            Some(n) => usize::try_from(n).map_err(|_| bad("tensor size overflows"))?,
            None if src.uint64(d).is_some() => return Err(bad("tensor size overflows")),
            None => match src.big_int(d) {
                Ok(b) if b.negative => return Err(bad("tensor dimension is negative")),
                _ => return Err(bad("tensor size overflows")),
            },
        };
        elems = elems.checked_mul(n).ok_or_else(|| bad("tensor size overflows"))?;
        dims.push(n);
    }
    let bytes = elems.checked_mul(ty.size()).filter(|&b| b <= isize::MAX as usize);
    let bytes = bytes.ok_or_else(|| bad("tensor size overflows"))?;
    if src.kind(data) != TermKind::Binary {
        return Err(bad("tensor data is not a binary"));
    }
    let bin = src.binary(data).ok_or_else(|| bad("tensor data is a bitstring"))?;
    if bin.len() != bytes {
        return Err(bad("tensor data size does not match its shape and type"));
    }
    Ok(TensorParts { ty, shape: dims, data })
}

fn py_err(py: Attached<'_>) -> ConvertError {
    ConvertError::Python(PyErrInfo::fetch(py))
}

/// A tensor term as a read-only numpy array when numpy imports, else as a
/// `memoryview`; `None` if `t` is not a tensor term (see
/// [`parse_tensor_term`]).
pub fn tensor_term_to_py<S: TermSource>(py: Attached<'_>, src: &S, t: S::Term) -> Option<Result<PyObj, ConvertError>> {
    let parts = match parse_tensor_term(src, t)? {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    Some(match numpy_module(py) {
        Some(np) => to_numpy(py, &np, src, &parts),
        None => to_memoryview(py, src, &parts),
    })
}

/// A tensor term as a `memoryview` of its element format and shape (flat
/// when the shape has a zero), numpy or not; `None` if `t` is not a tensor
/// term.
pub fn tensor_term_to_memoryview<S: TermSource>(
    py: Attached<'_>,
    src: &S,
    t: S::Term,
) -> Option<Result<PyObj, ConvertError>> {
    Some(parse_tensor_term(src, t)?.and_then(|parts| to_memoryview(py, src, &parts)))
}

/// The object exporting the data: lent by the source, or a copy.
fn data_object<S: TermSource>(py: Attached<'_>, src: &S, data: S::Term) -> Result<PyObj, ConvertError> {
    if let Some(lent) = src.lend_binary(py, data) {
        return lent;
    }
    let bytes = src.binary(data).ok_or_else(|| bad("tensor data is a bitstring"))?;
    new_bytes(py, bytes).ok_or_else(|| py_err(py))
}

fn shape_tuple(py: Attached<'_>, shape: &[usize]) -> Result<PyObj, ConvertError> {
    let dims: Option<Vec<PyObj>> = shape.iter().map(|&d| new_int(py, d as i64)).collect();
    dims.and_then(|d| tuple_of(py, &d)).ok_or_else(|| py_err(py))
}

fn to_numpy<S: TermSource>(
    py: Attached<'_>,
    np: &PyObj,
    src: &S,
    parts: &TensorParts<S::Term>,
) -> Result<PyObj, ConvertError> {
    let dtype = match parts.ty {
        TensorType::BF16 => import(py, c"ml_dtypes").and_then(|m| getattr(py, &m, c"bfloat16")).ok_or_else(|| {
            clear_error(py);
            bad("tensor type {bf, 16} needs the ml_dtypes package")
        })?,
        ty => getattr(py, np, numpy_name(ty)).ok_or_else(|| py_err(py))?,
    };
    let frombuffer = getattr(py, np, c"frombuffer").ok_or_else(|| py_err(py))?;
    let data = data_object(py, src, parts.data)?;
    let flat = vectorcall(py, &frombuffer, &[data, dtype], None).ok_or_else(|| py_err(py))?;
    if parts.shape.len() == 1 {
        return Ok(flat);
    }
    let reshape = getattr(py, &flat, c"reshape").ok_or_else(|| py_err(py))?;
    let dims = shape_tuple(py, &parts.shape)?;
    vectorcall(py, &reshape, &[dims], None).ok_or_else(|| py_err(py))
}

fn numpy_name(ty: TensorType) -> &'static std::ffi::CStr {
    match ty {
        TensorType::F16 => c"float16",
        TensorType::F32 => c"float32",
        TensorType::F64 => c"float64",
        TensorType::BF16 => c"bfloat16",
        TensorType::S8 => c"int8",
        TensorType::S16 => c"int16",
        TensorType::S32 => c"int32",
        TensorType::S64 => c"int64",
        TensorType::U8 => c"uint8",
        TensorType::U16 => c"uint16",
        TensorType::U32 => c"uint32",
        TensorType::U64 => c"uint64",
    }
}

fn to_memoryview<S: TermSource>(
    py: Attached<'_>,
    src: &S,
    parts: &TensorParts<S::Term>,
) -> Result<PyObj, ConvertError> {
    let format = parts.ty.struct_format().ok_or_else(|| bad("tensor type {bf, 16} has no memoryview format"))?;
    let data = data_object(py, src, parts.data)?;
    let view = memoryview(py, &data).ok_or_else(|| py_err(py))?;
    let cast = getattr(py, &view, c"cast").ok_or_else(|| py_err(py))?;
    let format = new_str(py, format).ok_or_else(|| py_err(py))?;
    // memoryview cannot cast to a shape with a zero in it: such a view
    // stays flat (and empty).
    if parts.shape.len() == 1 || parts.shape.contains(&0) {
        return vectorcall(py, &cast, &[format], None).ok_or_else(|| py_err(py));
    }
    let dims = shape_tuple(py, &parts.shape)?;
    vectorcall(py, &cast, &[format, dims], None).ok_or_else(|| py_err(py))
}

/// Interpreters (by id) where `import numpy` failed: not tried again, as
/// a failing import can cost milliseconds (numpy refuses isolated
/// sub-interpreters).
static NO_NUMPY: Mutex<Vec<i64>> = Mutex::new(Vec::new());

/// The numpy module, imported if need be; `None` (no error set) if it
/// cannot be.
pub(crate) fn numpy_module(py: Attached<'_>) -> Option<PyObj> {
    let Some(name) = new_str(py, "numpy") else {
        clear_error(py);
        return None;
    };
    match imported_module(py, &name) {
        Ok(Some(np)) => return Some(np),
        Ok(None) => {}
        Err(_) => {
            clear_error(py);
            return None;
        }
    }
    let id = interpreter_id(py);
    if NO_NUMPY.lock().map(|ids| ids.contains(&id)).unwrap_or(false) {
        return None;
    }
    let np = import(py, c"numpy");
    if np.is_none() {
        clear_error(py);
        if let Ok(mut ids) = NO_NUMPY.lock() {
            ids.push(id);
        }
    }
    np
}
