//! Erlang -> Python: one recursive pass from a [`TermSource`] to Python
//! objects, allocating each container at its final size.

use std::ffi::c_char;

use pyo3_ffi as ffi;

use crate::error::ConvertError;
use crate::pyobj::{new_ref, Attached, PyErrInfo, PyObj};
use crate::pytypes::ErlTypes;
use crate::term::{BigInt, KnownAtom, TermKind, TermSource};
use crate::Limits;

/// Converts an Erlang term to a new Python object.
pub fn term_to_py<S: TermSource>(
    py: Attached<'_>,
    types: &ErlTypes,
    src: &S,
    term: S::Term,
    limits: Limits,
) -> Result<PyObj, ConvertError> {
    let cx = ToPy { py, types, src, max_depth: limits.max_depth() };
    cx.convert(term, 0)
}

struct ToPy<'a, 'py, S> {
    py: Attached<'py>,
    types: &'a ErlTypes,
    src: &'a S,
    max_depth: usize,
}

impl<S: TermSource> ToPy<'_, '_, S> {
    #[inline]
    fn py_err(&self) -> ConvertError {
        ConvertError::Python(PyErrInfo::fetch(self.py))
    }

    #[inline]
    fn owned(&self, p: *mut ffi::PyObject) -> Result<PyObj, ConvertError> {
        // SAFETY: `p` is a new reference or null from a CPython call made on
        // this attached thread.
        unsafe { PyObj::from_owned(p) }.ok_or_else(|| self.py_err())
    }

    fn convert(&self, t: S::Term, depth: usize) -> Result<PyObj, ConvertError> {
        let src = self.src;
        // SAFETY (all blocks in this function): the thread is attached
        // (`self.py`), and every pointer passed to CPython is either a live
        // object we own or data that outlives the call.
        match src.kind(t) {
            TermKind::Integer => {
                if let Some(i) = src.int64(t) {
                    return self.int(i);
                }
                if let Some(u) = src.uint64(t) {
                    // SAFETY: see above.
                    return self.owned(unsafe { ffi::PyLong_FromUnsignedLongLong(u) });
                }
                self.big_int(&src.big_int(t)?)
            }
            TermKind::Float => {
                let f = src.float(t).ok_or(ConvertError::BadTerm("float"))?;
                // SAFETY: see above.
                self.owned(unsafe { ffi::PyFloat_FromDouble(f) })
            }
            TermKind::Binary => match src.binary(t) {
                Some(bytes) => self.text_or_bytes(bytes),
                None => Err(ConvertError::UnsupportedTerm("bitstring")),
            },
            TermKind::Atom => match src.known_atom(t) {
                // SAFETY: see above (singletons).
                Some(KnownAtom::True) => Ok(unsafe { new_ref(ffi::Py_True()) }),
                // SAFETY: see above (singletons).
                Some(KnownAtom::False) => Ok(unsafe { new_ref(ffi::Py_False()) }),
                Some(KnownAtom::None | KnownAtom::Nil | KnownAtom::Undefined) => {
                    // SAFETY: see above (singletons).
                    Ok(unsafe { new_ref(ffi::Py_None()) })
                }
                _ => src.with_atom_name(t, |name| {
                    // SAFETY: see above.
                    self.owned(unsafe {
                        ffi::PyUnicode_FromStringAndSize(name.as_ptr() as *const c_char, name.len() as ffi::Py_ssize_t)
                    })
                })?,
            },
            TermKind::List => {
                self.enter(depth)?;
                let len = src.list_len(t).ok_or(ConvertError::UnsupportedTerm("improper_list"))?;
                // SAFETY: see above.
                let list = self.owned(unsafe { ffi::PyList_New(len as ffi::Py_ssize_t) })?;
                for (i, e) in src.list_elems(t).enumerate().take(len) {
                    let item = self.element(e, depth + 1)?;
                    // SAFETY: `i < len`; SET_ITEM steals the new reference
                    // into an empty slot of a list we own.
                    unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t, item.into_raw()) };
                }
                Ok(list)
            }
            TermKind::Tuple => {
                self.enter(depth)?;
                let len = src.tuple_len(t);
                if len == 4 {
                    if let Some(tensor) = crate::tensor::tensor_term_to_py(self.py, src, t) {
                        return tensor;
                    }
                }
                if len == 2 {
                    if let Some(bytes) = self.explicit_bytes(t) {
                        // SAFETY: see above.
                        return self.owned(unsafe {
                            ffi::PyBytes_FromStringAndSize(
                                bytes.as_ptr() as *const c_char,
                                bytes.len() as ffi::Py_ssize_t,
                            )
                        });
                    }
                }
                // SAFETY: see above.
                let tuple = self.owned(unsafe { ffi::PyTuple_New(len as ffi::Py_ssize_t) })?;
                for (i, e) in src.tuple_elems(t).enumerate().take(len) {
                    let item = self.element(e, depth + 1)?;
                    // SAFETY: `i < len`; steals into an empty slot of a new
                    // tuple no one else has seen.
                    unsafe { ffi::PyTuple_SET_ITEM(tuple.as_ptr(), i as ffi::Py_ssize_t, item.into_raw()) };
                }
                Ok(tuple)
            }
            TermKind::Map => {
                self.enter(depth)?;
                // SAFETY: see above.
                let dict = self.owned(unsafe { ffi::PyDict_New() })?;
                for (k, v) in src.map_pairs(t) {
                    let key = self.convert(k, depth + 1)?;
                    let value = self.convert(v, depth + 1)?;
                    // SAFETY: see above; SetItem does not steal.
                    if unsafe { ffi::PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) } < 0 {
                        return Err(self.py_err());
                    }
                }
                Ok(dict)
            }
            TermKind::Pid => self.types.new_pid(self.py, &src.external_form(t)?),
            TermKind::Reference => match src.special_reference(self.py, t) {
                Some(r) => r,
                None => self.types.new_ref(self.py, &src.external_form(t)?),
            },
            TermKind::Fun => Err(ConvertError::UnsupportedTerm("fun")),
            TermKind::Port => Err(ConvertError::UnsupportedTerm("port")),
        }
    }

    /// A container element: small integers take a short path.
    #[inline(always)]
    fn element(&self, e: S::Term, depth: usize) -> Result<PyObj, ConvertError> {
        if let Some(i) = self.src.small_int(e) {
            return self.int(i);
        }
        self.convert(e, depth)
    }

    /// An int, shared from the interpreter's cache when in its range.
    #[inline(always)]
    fn int(&self, i: i64) -> Result<PyObj, ConvertError> {
        if let Some(o) = self.types.cached_int(self.py, i) {
            // SAFETY: `cached_int` returns a new reference.
            return Ok(unsafe { PyObj::from_owned(o) }.expect("non-null"));
        }
        // SAFETY: attached thread (`self.py`).
        self.owned(unsafe { ffi::PyLong_FromLongLong(i) })
    }

    #[inline]
    fn enter(&self, depth: usize) -> Result<(), ConvertError> {
        if depth >= self.max_depth || !crate::guard::stack_has_room() {
            Err(ConvertError::NestingTooDeep(self.max_depth))
        } else {
            Ok(())
        }
    }

    /// The binary of `{bytes, Binary}`, if `t` is that shape.
    fn explicit_bytes(&self, t: S::Term) -> Option<&[u8]> {
        let mut elems = self.src.tuple_elems(t);
        let tag = elems.next()?;
        if self.src.known_atom(tag) != Some(KnownAtom::Bytes) {
            return None;
        }
        let payload = elems.next()?;
        if self.src.kind(payload) != TermKind::Binary {
            return None;
        }
        self.src.binary(payload)
    }

    /// Valid UTF-8 becomes `str`, anything else `bytes`.
    fn text_or_bytes(&self, bytes: &[u8]) -> Result<PyObj, ConvertError> {
        let (ptr, len) = (bytes.as_ptr() as *const c_char, bytes.len() as ffi::Py_ssize_t);
        // SAFETY: attached thread; `bytes` outlives the calls.
        unsafe {
            if let Some(s) = PyObj::from_owned(ffi::PyUnicode_DecodeUTF8(ptr, len, std::ptr::null())) {
                return Ok(s);
            }
            if ffi::PyErr_ExceptionMatches(ffi::PyExc_UnicodeDecodeError) == 0 {
                return Err(self.py_err());
            }
            ffi::PyErr_Clear();
            self.owned(ffi::PyBytes_FromStringAndSize(ptr, len))
        }
    }

    fn big_int(&self, b: &BigInt) -> Result<PyObj, ConvertError> {
        let mut text = String::with_capacity(b.magnitude.len() * 2 + 2);
        if b.negative {
            text.push('-');
        }
        if b.magnitude.is_empty() {
            text.push('0');
        }
        for byte in b.magnitude.iter().rev() {
            text.push_str(&format!("{byte:02x}"));
        }
        text.push('\0');
        // SAFETY: attached thread; `text` is NUL-terminated hex digits.
        self.owned(unsafe { ffi::PyLong_FromString(text.as_ptr() as *const c_char, std::ptr::null_mut(), 16) })
    }
}
