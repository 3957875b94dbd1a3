//! Python -> Erlang: one recursive pass from Python objects into a
//! [`TermSink`], children first. Exact built-in types are recognised by one
//! pointer comparison each; subclasses and the rarer types take a slower path.

use std::ptr::{self, NonNull};

use pyo3_ffi as ffi;

use crate::error::ConvertError;
use crate::pyobj::{str_to_string, Attached, PyErrInfo, PyObj};
use crate::pytypes::ErlTypes;
use crate::tensor::ArrayMode;
use crate::term::{BigInt, KnownAtom, TermSink};
use crate::Limits;

/// Converts a Python object to an Erlang term built by `sink`.
pub fn py_to_term<K: TermSink>(
    py: Attached<'_>,
    types: &ErlTypes,
    sink: &mut K,
    obj: &PyObj,
    limits: Limits,
) -> Result<K::Term, ConvertError> {
    let mut cx = FromPy {
        py,
        types,
        sink,
        max_depth: limits.max_depth(),
        arrays: limits.arrays(),
        elems: Vec::new(),
        values: Vec::new(),
    };
    cx.convert(obj.as_ptr(), 0)
}

struct FromPy<'a, 'py, K: TermSink> {
    py: Attached<'py>,
    types: &'a ErlTypes,
    sink: &'a mut K,
    max_depth: usize,
    arrays: ArrayMode,
    /// Shared stack of finished children (list/tuple elements, map keys);
    /// each container truncates it back to where it started.
    elems: Vec<K::Term>,
    /// Map values, in step with the keys on `elems`.
    values: Vec<K::Term>,
}

impl<K: TermSink> FromPy<'_, '_, K> {
    #[inline]
    fn py_err(&self) -> ConvertError {
        ConvertError::Python(PyErrInfo::fetch(self.py))
    }

    /// Entering a container (or a value converted through Python code) at
    /// `depth`: refused past the nesting limit, or when the thread's stack
    /// runs low (values converted through Python recurse through the
    /// interpreter too).
    #[inline]
    fn enter(&self, depth: usize) -> Result<(), ConvertError> {
        if depth >= self.max_depth || !crate::guard::stack_has_room() {
            Err(ConvertError::NestingTooDeep(self.max_depth))
        } else {
            Ok(())
        }
    }

    /// `obj` is borrowed: the caller keeps it alive for the call.
    fn convert(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<K::Term, ConvertError> {
        // SAFETY: attached thread (`self.py`) and `obj` is alive (contract).
        unsafe {
            let tp = ffi::Py_TYPE(obj);
            if tp == ptr::addr_of_mut!(ffi::PyUnicode_Type) {
                self.text(obj)
            } else if tp == ptr::addr_of_mut!(ffi::PyLong_Type) {
                self.int(obj)
            } else if tp == ptr::addr_of_mut!(ffi::PyFloat_Type) {
                Ok(self.float(ffi::PyFloat_AS_DOUBLE(obj)))
            } else if obj == ffi::Py_None() {
                Ok(self.sink.known_atom(KnownAtom::None))
            } else if obj == ffi::Py_True() {
                Ok(self.sink.known_atom(KnownAtom::True))
            } else if obj == ffi::Py_False() {
                Ok(self.sink.known_atom(KnownAtom::False))
            } else if tp == ptr::addr_of_mut!(ffi::PyList_Type) {
                self.list(obj, depth)
            } else if tp == ptr::addr_of_mut!(ffi::PyTuple_Type) {
                self.tuple(obj, depth)
            } else if tp == ptr::addr_of_mut!(ffi::PyDict_Type) {
                self.dict(obj, depth)
            } else if tp == ptr::addr_of_mut!(ffi::PyBytes_Type) {
                self.bytes(obj)
            } else {
                self.uncommon(obj, depth)
            }
        }
    }

    /// A container element: exact ints take a short path (no Python code
    /// can run while one converts, so the container cannot change under it
    /// and no extra reference is needed); anything else is held by a new
    /// reference while converted.
    ///
    /// # Safety
    /// Attached thread; `item` is alive (borrowed from its container).
    #[inline(always)]
    unsafe fn element(&mut self, item: *mut ffi::PyObject, depth: usize) -> Result<K::Term, ConvertError> {
        // SAFETY: caller contract.
        unsafe {
            if ffi::Py_TYPE(item) == ptr::addr_of_mut!(ffi::PyLong_Type) {
                if let Some(v) = compact_int(item) {
                    return Ok(self.sink.int64(v));
                }
                return self.int(item);
            }
            let item = PyObj::from_borrowed(NonNull::new_unchecked(item));
            self.convert(item.as_ptr(), depth)
        }
    }

    /// Subclasses of the built-ins and the types that are rare on hot paths.
    ///
    /// # Safety
    /// Attached thread; `obj` alive.
    unsafe fn uncommon(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<K::Term, ConvertError> {
        // SAFETY: caller contract.
        unsafe {
            if let Some(etf) = self.types.external_form_of(obj) {
                return self.sink.external_term(etf);
            }
            if ffi::Py_TYPE(obj) == self.types.atom_type() {
                let name = PyObj::from_borrowed(NonNull::new_unchecked(obj));
                let text = str_to_string(&name).ok_or(ConvertError::BadTerm("atom name"))?;
                return self.sink.atom(&text);
            }
            if ffi::PyLong_Check(obj) != 0 {
                return self.int(obj);
            }
            if ffi::PyFloat_Check(obj) != 0 {
                let v = ffi::PyFloat_AsDouble(obj);
                if v == -1.0 && !ffi::PyErr_Occurred().is_null() {
                    return Err(self.py_err());
                }
                return Ok(self.float(v));
            }
            if ffi::PyUnicode_Check(obj) != 0 {
                return self.text(obj);
            }
            if ffi::PyBytes_Check(obj) != 0 {
                return self.bytes(obj);
            }
            if ffi::PyByteArray_Check(obj) != 0 {
                let p = ffi::PyByteArray_AsString(obj) as *const u8;
                let n = ffi::PyByteArray_Size(obj) as usize;
                return self.sink.binary(std::slice::from_raw_parts(p, n));
            }
            if ffi::PyList_Check(obj) != 0 {
                return self.list(obj, depth);
            }
            if ffi::Py_TYPE(obj) == self.types.tensor_type() {
                return self.marked_tensor(obj, depth);
            }
            if ffi::PyTuple_Check(obj) != 0 {
                return self.tuple(obj, depth);
            }
            if ffi::PyDict_Check(obj) != 0 {
                return self.dict(obj, depth);
            }
            if ffi::PyAnySet_Check(obj) != 0 {
                return self.iterable(obj, depth);
            }
            let obj = PyObj::from_borrowed(NonNull::new_unchecked(obj));
            // The plain value is one level down: an object whose `tolist()`
            // returns itself (a 0-d object array holding itself) must reach
            // the nesting limit, not recurse at one depth for ever.
            self.enter(depth)?;
            if self.arrays == ArrayMode::Tensor {
                if let Some(t) = crate::tensor::embedded_tensor(self.py, &obj, self.sink)? {
                    return Ok(t);
                }
            }
            if let Some(plain) = self.numpy_plain(&obj)? {
                return self.convert(plain.as_ptr(), depth + 1);
            }
            self.sink.opaque(self.py, &obj)
        }
    }

    /// `erlang.tensor(array)`: the array as a tensor term, whatever the
    /// call's array mode; one with no tensor form (an object array, say)
    /// converts as it would unmarked.
    ///
    /// # Safety
    /// Attached thread; `obj` alive and an `erlang.Tensor`.
    unsafe fn marked_tensor(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<K::Term, ConvertError> {
        // SAFETY: caller contract; the tuple's size is checked before its
        // item is borrowed, and the item is held by a new reference.
        unsafe {
            if ffi::PyTuple_GET_SIZE(obj) != 1 {
                return Err(ConvertError::BadTerm("erlang.Tensor holds exactly one array"));
            }
            let item = PyObj::from_borrowed(NonNull::new_unchecked(ffi::PyTuple_GET_ITEM(obj, 0)));
            self.enter(depth)?;
            if let Some(t) = crate::tensor::py_to_tensor_term(self.py, &item, self.sink)? {
                return Ok(t);
            }
            self.convert(item.as_ptr(), depth + 1)
        }
    }

    /// numpy arrays and scalars become their plain Python value
    /// (`tolist()`), like the C library does (arrays only reach here in
    /// [`ArrayMode::Lists`], or when their type has no tensor form).
    ///
    /// # Safety
    /// Attached thread.
    unsafe fn numpy_plain(&mut self, obj: &PyObj) -> Result<Option<PyObj>, ConvertError> {
        // SAFETY: caller contract; every object used is owned or borrowed
        // from a live owner.
        unsafe {
            let tp = ffi::Py_TYPE(obj.as_ptr()) as *mut ffi::PyObject;
            let Some(module) = PyObj::from_owned(ffi::PyObject_GetAttrString(tp, c"__module__".as_ptr())) else {
                ffi::PyErr_Clear();
                return Ok(None);
            };
            if ffi::PyUnicode_Check(module.as_ptr()) == 0
                || ffi::PyUnicode_CompareWithASCIIString(module.as_ptr(), c"numpy".as_ptr()) != 0
            {
                return Ok(None);
            }
            let Some(method) = PyObj::from_owned(ffi::PyObject_GetAttrString(obj.as_ptr(), c"tolist".as_ptr())) else {
                ffi::PyErr_Clear();
                return Ok(None);
            };
            PyObj::from_owned(ffi::PyObject_CallNoArgs(method.as_ptr())).ok_or_else(|| self.py_err()).map(Some)
        }
    }

    #[inline]
    fn float(&mut self, v: f64) -> K::Term {
        if v.is_finite() {
            self.sink.float(v)
        } else if v.is_nan() {
            self.sink.known_atom(KnownAtom::Nan)
        } else if v > 0.0 {
            self.sink.known_atom(KnownAtom::Infinity)
        } else {
            self.sink.known_atom(KnownAtom::NegInfinity)
        }
    }

    /// # Safety
    /// Attached thread; `obj` is a live `str` (or subclass).
    #[inline]
    unsafe fn text(&mut self, obj: *mut ffi::PyObject) -> Result<K::Term, ConvertError> {
        let mut len: ffi::Py_ssize_t = 0;
        // SAFETY: caller contract; the UTF-8 buffer is cached in the str and
        // lives as long as `obj`.
        unsafe {
            let p = ffi::PyUnicode_AsUTF8AndSize(obj, &mut len);
            if p.is_null() {
                if ffi::PyErr_ExceptionMatches(ffi::PyExc_UnicodeEncodeError) != 0 {
                    let e = PyErrInfo::fetch(self.py);
                    return Err(ConvertError::UnicodeEncode(e.message));
                }
                return Err(self.py_err());
            }
            self.sink.binary(std::slice::from_raw_parts(p as *const u8, len as usize))
        }
    }

    /// # Safety
    /// Attached thread; `obj` is a live `bytes`.
    #[inline]
    unsafe fn bytes(&mut self, obj: *mut ffi::PyObject) -> Result<K::Term, ConvertError> {
        // SAFETY: caller contract; the buffer lives as long as `obj`.
        unsafe {
            let p = ffi::PyBytes_AS_STRING(obj) as *const u8;
            let n = ffi::Py_SIZE(obj) as usize;
            self.sink.binary(std::slice::from_raw_parts(p, n))
        }
    }

    /// # Safety
    /// Attached thread; `obj` is a live `int` (or subclass).
    #[inline]
    unsafe fn int(&mut self, obj: *mut ffi::PyObject) -> Result<K::Term, ConvertError> {
        // SAFETY: caller contract.
        unsafe {
            if ffi::Py_TYPE(obj) == ptr::addr_of_mut!(ffi::PyLong_Type) {
                if let Some(v) = compact_int(obj) {
                    return Ok(self.sink.int64(v));
                }
            }
            let mut overflow = 0;
            let v = ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow);
            if overflow == 0 {
                if v == -1 && !ffi::PyErr_Occurred().is_null() {
                    return Err(self.py_err());
                }
                return Ok(self.sink.int64(v));
            }
            if overflow > 0 {
                let u = ffi::PyLong_AsUnsignedLongLong(obj);
                if u != u64::MAX || ffi::PyErr_Occurred().is_null() {
                    return Ok(self.sink.uint64(u));
                }
                ffi::PyErr_Clear();
            }
            let big = self.big_int(obj)?;
            self.sink.big_int(&big)
        }
    }

    /// Any int, through its hexadecimal text (public API on every version).
    ///
    /// # Safety
    /// Attached thread; `obj` is a live int.
    unsafe fn big_int(&mut self, obj: *mut ffi::PyObject) -> Result<BigInt, ConvertError> {
        // SAFETY: caller contract.
        let hex = unsafe { PyObj::from_owned(ffi::PyNumber_ToBase(obj, 16)) }.ok_or_else(|| self.py_err())?;
        // SAFETY: `hex` is a str.
        let text = unsafe { str_to_string(&hex) }.ok_or(ConvertError::BadTerm("int text"))?;
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let digits = digits.trim_start_matches("0x").as_bytes();
        let mut magnitude = Vec::with_capacity(digits.len() / 2 + 1);
        let nibble = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
        let mut i = digits.len();
        while i > 0 {
            let lo = nibble(digits[i - 1]);
            let hi = if i >= 2 { nibble(digits[i - 2]) } else { 0 };
            magnitude.push(hi << 4 | lo);
            i = i.saturating_sub(2);
        }
        Ok(BigInt { negative, magnitude }.normalized())
    }

    /// # Safety
    /// Attached thread; `obj` is a live list.
    unsafe fn list(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<K::Term, ConvertError> {
        self.enter(depth)?;
        let base = self.elems.len();
        let mut i = 0;
        // The size is re-read every step: converting an element can run
        // Python code (numpy's tolist) that changes the list.
        // SAFETY: caller contract; the index is checked against the current
        // size; `element` keeps the item alive while converting it.
        unsafe {
            self.elems.reserve(ffi::PyList_GET_SIZE(obj) as usize);
            while i < ffi::PyList_GET_SIZE(obj) {
                let item = ffi::PyList_GET_ITEM(obj, i);
                let t = self.element(item, depth + 1)?;
                self.elems.push(t);
                i += 1;
            }
        }
        let list = self.sink.list(&self.elems[base..]);
        self.elems.truncate(base);
        Ok(list)
    }

    /// # Safety
    /// Attached thread; `obj` is a live tuple.
    unsafe fn tuple(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<K::Term, ConvertError> {
        self.enter(depth)?;
        let base = self.elems.len();
        // SAFETY: caller contract; tuples are immutable and keep their items
        // alive while `obj` is alive.
        unsafe {
            let n = ffi::PyTuple_GET_SIZE(obj);
            for i in 0..n {
                let t = self.element(ffi::PyTuple_GET_ITEM(obj, i), depth + 1)?;
                self.elems.push(t);
            }
        }
        let tuple = self.sink.tuple(&self.elems[base..]);
        self.elems.truncate(base);
        Ok(tuple)
    }

    /// A dict. Converting a key or value can run Python code (numpy's
    /// `tolist()`, a list subclass's items...) that changes the dict; as
    /// CPython's own iteration does, that is an error rather than a map
    /// missing entries or holding stale ones.
    ///
    /// # Safety
    /// Attached thread; `obj` is a live dict.
    unsafe fn dict(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<K::Term, ConvertError> {
        self.enter(depth)?;
        let (base, vbase) = (self.elems.len(), self.values.len());
        let mut pos: ffi::Py_ssize_t = 0;
        let mut k = ptr::null_mut();
        let mut v = ptr::null_mut();
        // SAFETY: caller contract; key and value are held by new references
        // while converted, so a mutation of the dict cannot free them.
        unsafe {
            let n = ffi::PyDict_Size(obj);
            self.elems.reserve(n as usize);
            self.values.reserve(n as usize);
            let mut seen: ffi::Py_ssize_t = 0;
            while ffi::PyDict_Next(obj, &mut pos, &mut k, &mut v) != 0 {
                seen += 1;
                if seen > n || ffi::PyDict_Size(obj) != n {
                    return Err(dict_changed(base, vbase, self));
                }
                let key = PyObj::from_borrowed(NonNull::new_unchecked(k));
                let value = PyObj::from_borrowed(NonNull::new_unchecked(v));
                let kt = self.convert(key.as_ptr(), depth + 1)?;
                self.elems.push(kt);
                let vt = self.convert(value.as_ptr(), depth + 1)?;
                self.values.push(vt);
            }
            if seen != n || ffi::PyDict_Size(obj) != n {
                return Err(dict_changed(base, vbase, self));
            }
        }
        let map = self.sink.map(&self.elems[base..], &self.values[vbase..]);
        self.elems.truncate(base);
        self.values.truncate(vbase);
        map
    }

    /// Sets and other iterables: a list of their items.
    ///
    /// # Safety
    /// Attached thread; `obj` is alive.
    unsafe fn iterable(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<K::Term, ConvertError> {
        self.enter(depth)?;
        let base = self.elems.len();
        // SAFETY: caller contract; each item is an owned reference.
        unsafe {
            let it = PyObj::from_owned(ffi::PyObject_GetIter(obj)).ok_or_else(|| self.py_err())?;
            while let Some(item) = PyObj::from_owned(ffi::PyIter_Next(it.as_ptr())) {
                let t = self.convert(item.as_ptr(), depth + 1)?;
                self.elems.push(t);
            }
            if !ffi::PyErr_Occurred().is_null() {
                self.elems.truncate(base);
                return Err(self.py_err());
            }
        }
        let list = self.sink.list(&self.elems[base..]);
        self.elems.truncate(base);
        Ok(list)
    }
}

/// The error for a dict changed while it was converted; drops the
/// children converted so far.
fn dict_changed<K: TermSink>(base: usize, vbase: usize, cx: &mut FromPy<'_, '_, K>) -> ConvertError {
    cx.elems.truncate(base);
    cx.values.truncate(vbase);
    ConvertError::Python(PyErrInfo {
        class: "RuntimeError".into(),
        message: "dictionary changed during conversion".into(),
        traceback: None,
    })
}

/// The value of an exact `int` that fits in one internal digit, read the way
/// CPython's `PyUnstable_Long_CompactValue` does (3.12+; the layout is part
/// of that unstable-but-public API): `lv_tag` holds the digit count above
/// three flag bits and the sign in the low two, then the digits follow.
/// `None` for larger ints (and always before 3.12), which take the API path.
///
/// # Safety
/// `obj` is a live object of exact type `int`.
#[inline(always)]
unsafe fn compact_int(obj: *mut ffi::PyObject) -> Option<i64> {
    #[cfg(Py_3_12)]
    {
        #[repr(C)]
        struct LongLayout {
            ob_base: ffi::PyObject,
            lv_tag: usize,
            digit0: u32,
        }
        // SAFETY: caller contract; an exact int has this layout on 3.12+.
        unsafe {
            let l = obj as *const LongLayout;
            let tag = (*l).lv_tag;
            if tag < (2 << 3) {
                let sign = 1 - (tag & 3) as i64;
                return Some(sign * (*l).digit0 as i64);
            }
            None
        }
    }
    #[cfg(not(Py_3_12))]
    {
        let _ = obj;
        None
    }
}
