//! The Python types that stand for Erlang values with no Python equivalent:
//! `erlang.Pid`, `erlang.Ref` and `erlang.Atom`.
//!
//! They are heap types created per interpreter (static types cannot be shared
//! between interpreters that have their own GIL). Pids and references keep
//! their external term format inline, which makes them hashable, comparable
//! and exact on the way back, local or remote. `erlang.Atom` is a `str`
//! subclass, so an atom compares equal to its name.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::Arc;

use pyo3_ffi as ffi;

use crate::error::ConvertError;
use crate::etf;
use crate::intcache::IntCache;
use crate::pyobj::{new_ref, Attached, PyErrInfo, PyObj};

/// Layout of `erlang.Pid` and `erlang.Ref` instances: a var-sized object
/// whose items are the bytes of the term's external format.
#[repr(C)]
struct ExternalTermObject {
    ob_base: ffi::PyVarObject,
    hash: ffi::Py_hash_t,
    data: [u8; 0],
}

/// # Safety
/// `obj` must be an instance of one of the external-term types.
unsafe fn external_bytes<'a>(obj: *mut ffi::PyObject) -> &'a [u8] {
    // SAFETY: per the contract, `obj` has the ExternalTermObject layout and
    // `ob_size` bytes follow `data`.
    unsafe {
        let o = obj as *mut ExternalTermObject;
        let len = (*o).ob_base.ob_size as usize;
        std::slice::from_raw_parts(ptr::addr_of!((*o).data) as *const u8, len)
    }
}

unsafe extern "C" fn external_richcompare(
    a: *mut ffi::PyObject,
    b: *mut ffi::PyObject,
    op: c_int,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this slot with the GIL held and `a` an instance
    // of the slot's type; `b` is checked to be the same type before its
    // bytes are read.
    unsafe {
        if (op != ffi::Py_EQ && op != ffi::Py_NE) || ffi::Py_TYPE(a) != ffi::Py_TYPE(b) {
            return new_ref(ffi::Py_NotImplemented()).into_raw();
        }
        let equal = external_bytes(a) == external_bytes(b);
        let result = if (op == ffi::Py_EQ) == equal { ffi::Py_True() } else { ffi::Py_False() };
        new_ref(result).into_raw()
    }
}

unsafe extern "C" fn external_hash(a: *mut ffi::PyObject) -> ffi::Py_hash_t {
    // SAFETY: called by CPython with the GIL held on an instance of this type.
    unsafe {
        let o = a as *mut ExternalTermObject;
        if (*o).hash == -1 {
            // FNV-1a: stable, cheap, and good enough for short byte strings.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for &b in external_bytes(a) {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            let mut h = h as ffi::Py_hash_t;
            if h == -1 {
                h = -2;
            }
            (*o).hash = h;
        }
        (*o).hash
    }
}

unsafe extern "C" fn external_repr(a: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held on an instance of this type.
    unsafe {
        let tp = ffi::Py_TYPE(a);
        let name = CStr::from_ptr((*tp).tp_name).to_string_lossy();
        let text = format!("<{} {}>", name, etf::describe_external(external_bytes(a)));
        ffi::PyUnicode_FromStringAndSize(text.as_ptr() as *const _, text.len() as ffi::Py_ssize_t)
    }
}

unsafe extern "C" fn atom_repr(a: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held on a str subclass instance.
    unsafe {
        let inner = ffi::PyUnicode_Type.tp_repr.map(|f| f(a));
        match inner {
            Some(r) if !r.is_null() => {
                let r = PyObj::from_owned(r).expect("checked non-null");
                let prefix = ffi::PyUnicode_FromString(c"erlang.Atom(".as_ptr());
                if prefix.is_null() {
                    return ptr::null_mut();
                }
                let prefix = PyObj::from_owned(prefix).expect("checked non-null");
                let joined = ffi::PyUnicode_Concat(prefix.as_ptr(), r.as_ptr());
                if joined.is_null() {
                    return ptr::null_mut();
                }
                let joined = PyObj::from_owned(joined).expect("checked non-null");
                let close = PyObj::from_owned(ffi::PyUnicode_FromString(c")".as_ptr()));
                match close {
                    Some(c) => ffi::PyUnicode_Concat(joined.as_ptr(), c.as_ptr()),
                    None => ptr::null_mut(),
                }
            }
            _ => ptr::null_mut(),
        }
    }
}

fn slot(slot: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot, pfunc }
}

/// A subclass of a built-in type with no state of its own (`erlang.Atom`
/// of `str`, `erlang.Tensor` of `tuple`), with an optional `repr`.
///
/// # Safety
/// Attached thread; `module` is a live module object, `base` a live type.
unsafe fn make_builtin_subclass(
    module: &PyObj,
    name: &'static CStr,
    doc: &'static CStr,
    base: *mut ffi::PyTypeObject,
    repr: Option<unsafe extern "C" fn(*mut ffi::PyObject) -> *mut ffi::PyObject>,
) -> Result<PyObj, PyErrInfo> {
    let mut slots = vec![slot(ffi::Py_tp_doc, doc.as_ptr() as *mut c_void)];
    if let Some(repr) = repr {
        slots.push(slot(ffi::Py_tp_repr, repr as *mut c_void));
    }
    slots.push(slot(0, ptr::null_mut()));
    let mut spec = ffi::PyType_Spec {
        name: name.as_ptr(),
        basicsize: 0,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_IMMUTABLETYPE) as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: caller contract (attached, live module and base); the spec
    // and slots are valid for the call and CPython copies what it keeps
    // (name and doc are 'static).
    unsafe {
        let py = Attached::assume();
        let bases = PyObj::from_owned(ffi::PyTuple_Pack(1, base)).ok_or_else(|| PyErrInfo::fetch(py))?;
        PyObj::from_owned(ffi::PyType_FromModuleAndSpec(module.as_ptr(), &mut spec, bases.as_ptr()))
            .ok_or_else(|| PyErrInfo::fetch(py))
    }
}

/// # Safety
/// Attached thread; `module` is a module object.
unsafe fn make_external_type(module: &PyObj, name: &'static CStr, doc: &'static CStr) -> Result<PyObj, PyErrInfo> {
    let mut slots = [
        slot(ffi::Py_tp_richcompare, external_richcompare as *mut c_void),
        slot(ffi::Py_tp_hash, external_hash as *mut c_void),
        slot(ffi::Py_tp_repr, external_repr as *mut c_void),
        slot(ffi::Py_tp_doc, doc.as_ptr() as *mut c_void),
        slot(0, ptr::null_mut()),
    ];
    let mut spec = ffi::PyType_Spec {
        name: name.as_ptr(),
        basicsize: std::mem::size_of::<ExternalTermObject>() as c_int,
        itemsize: 1,
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_IMMUTABLETYPE | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: attached thread (caller); the spec and slots are valid for the
    // call and CPython copies what it keeps (the name is 'static).
    unsafe {
        PyObj::from_owned(ffi::PyType_FromModuleAndSpec(module.as_ptr(), &mut spec, ptr::null_mut()))
            .ok_or_else(|| PyErrInfo::fetch(Attached::assume()))
    }
}

/// The per-interpreter Erlang types, kept alive by strong references, and
/// the interpreter's shared small ints (see [`crate::intcache`]).
pub struct ErlTypes {
    pid: PyObj,
    reference: PyObj,
    atom: PyObj,
    /// `erlang.Tensor`: a one-element tuple marking its element to cross as
    /// a tensor term (`erlang.tensor(obj)` makes one).
    tensor: PyObj,
    /// `erlang.atom(name)` results by name: the same name gives the same
    /// object within an interpreter.
    atoms: PyObj,
    ints: Arc<IntCache>,
}

impl ErlTypes {
    /// Creates the types and adds them to `module` as `Pid`, `Ref`, `Atom`
    /// and `Tensor`.
    pub fn create(py: Attached<'_>, module: &PyObj) -> Result<ErlTypes, PyErrInfo> {
        // SAFETY: attached thread (token); `module` is a live object.
        unsafe {
            let pid = make_external_type(module, c"erlang.Pid", c"An Erlang process identifier.")?;
            let reference = make_external_type(module, c"erlang.Ref", c"An Erlang reference.")?;
            let atom = make_builtin_subclass(
                module,
                c"erlang.Atom",
                c"An Erlang atom; equal to its name as a str.",
                ptr::addr_of_mut!(ffi::PyUnicode_Type),
                Some(atom_repr),
            )?;
            let tensor = make_builtin_subclass(
                module,
                c"erlang.Tensor",
                c"(array,): the array crosses into Erlang as {tensor, Type, Shape, Binary}.",
                ptr::addr_of_mut!(ffi::PyTuple_Type),
                None,
            )?;
            for (name, ty) in [(c"Pid", &pid), (c"Ref", &reference), (c"Atom", &atom), (c"Tensor", &tensor)] {
                if ffi::PyModule_AddObjectRef(module.as_ptr(), name.as_ptr(), ty.as_ptr()) < 0 {
                    return Err(PyErrInfo::fetch(py));
                }
            }
            let atoms = PyObj::from_owned(ffi::PyDict_New()).ok_or_else(|| PyErrInfo::fetch(py))?;
            Ok(ErlTypes { pid, reference, atom, tensor, atoms, ints: Arc::default() })
        }
    }

    /// A fresh module named `erlang` holding only the types; for tests and
    /// tools that run conversion without the full `erlang` module.
    pub fn standalone(py: Attached<'_>) -> Result<(PyObj, ErlTypes), PyErrInfo> {
        // SAFETY: attached thread (token).
        let module = unsafe { PyObj::from_owned(ffi::PyModule_New(c"erlang".as_ptr())) };
        let module = module.ok_or_else(|| PyErrInfo::fetch(py))?;
        let types = ErlTypes::create(py, &module)?;
        Ok((module, types))
    }

    /// Another handle on the same types (new references).
    pub fn clone_refs(&self) -> ErlTypes {
        ErlTypes {
            pid: self.pid.clone(),
            reference: self.reference.clone(),
            atom: self.atom.clone(),
            tensor: self.tensor.clone(),
            atoms: self.atoms.clone(),
            ints: self.ints.clone(),
        }
    }

    fn new_external(&self, _py: Attached<'_>, ty: &PyObj, etf: &[u8]) -> Result<PyObj, ConvertError> {
        // SAFETY: attached thread (token); the allocation has room for
        // `etf.len()` items of one byte after the header.
        unsafe {
            let tp = ty.as_ptr() as *mut ffi::PyTypeObject;
            let obj = ffi::PyType_GenericAlloc(tp, etf.len() as ffi::Py_ssize_t);
            let obj = PyObj::from_owned(obj).ok_or_else(|| ConvertError::Python(PyErrInfo::fetch(_py)))?;
            let o = obj.as_ptr() as *mut ExternalTermObject;
            (*o).hash = -1;
            ptr::copy_nonoverlapping(etf.as_ptr(), ptr::addr_of_mut!((*o).data) as *mut u8, etf.len());
            Ok(obj)
        }
    }

    /// An `erlang.Pid` from a pid's external term format.
    pub fn new_pid(&self, py: Attached<'_>, etf: &[u8]) -> Result<PyObj, ConvertError> {
        self.new_external(py, &self.pid, etf)
    }

    /// An `erlang.Ref` from a reference's external term format.
    pub fn new_ref(&self, py: Attached<'_>, etf: &[u8]) -> Result<PyObj, ConvertError> {
        self.new_external(py, &self.reference, etf)
    }

    /// An `erlang.Atom` with the given name.
    pub fn new_atom(&self, py: Attached<'_>, name: &str) -> Result<PyObj, ConvertError> {
        // SAFETY: attached thread (token); arguments are live objects.
        unsafe {
            let s = ffi::PyUnicode_FromStringAndSize(name.as_ptr() as *const _, name.len() as ffi::Py_ssize_t);
            let s = PyObj::from_owned(s).ok_or_else(|| ConvertError::Python(PyErrInfo::fetch(py)))?;
            PyObj::from_owned(ffi::PyObject_CallOneArg(self.atom.as_ptr(), s.as_ptr()))
                .ok_or_else(|| ConvertError::Python(PyErrInfo::fetch(py)))
        }
    }

    /// The interpreter's one `erlang.Atom` for `name`, made on first use.
    pub fn interned_atom(&self, py: Attached<'_>, name: &str) -> Result<PyObj, ConvertError> {
        // SAFETY: attached thread (token); the cache dict and the key are
        // live objects; GetItemWithError returns a borrowed reference.
        unsafe {
            let key = ffi::PyUnicode_FromStringAndSize(name.as_ptr() as *const _, name.len() as ffi::Py_ssize_t);
            let key = PyObj::from_owned(key).ok_or_else(|| ConvertError::Python(PyErrInfo::fetch(py)))?;
            let found = ffi::PyDict_GetItemWithError(self.atoms.as_ptr(), key.as_ptr());
            if let Some(found) = ptr::NonNull::new(found) {
                return Ok(PyObj::from_borrowed(found));
            }
            if !ffi::PyErr_Occurred().is_null() {
                return Err(ConvertError::Python(PyErrInfo::fetch(py)));
            }
            let atom = PyObj::from_owned(ffi::PyObject_CallOneArg(self.atom.as_ptr(), key.as_ptr()))
                .ok_or_else(|| ConvertError::Python(PyErrInfo::fetch(py)))?;
            if ffi::PyDict_SetItem(self.atoms.as_ptr(), key.as_ptr(), atom.as_ptr()) < 0 {
                return Err(ConvertError::Python(PyErrInfo::fetch(py)));
            }
            Ok(atom)
        }
    }

    /// The external term format held by an `erlang.Pid` or `erlang.Ref`.
    ///
    /// # Safety
    /// Attached thread; `obj` is a live object. The slice lives as long as it.
    #[inline]
    pub unsafe fn external_form_of<'a>(&self, obj: *mut ffi::PyObject) -> Option<&'a [u8]> {
        // SAFETY: caller contract; the type check guarantees the layout.
        unsafe {
            let tp = ffi::Py_TYPE(obj) as *mut ffi::PyObject;
            if tp == self.pid.as_ptr() || tp == self.reference.as_ptr() {
                Some(external_bytes(obj))
            } else {
                None
            }
        }
    }

    /// The interpreter's shared int for `v` (a new reference), if cached.
    #[inline]
    pub fn cached_int(&self, py: Attached<'_>, v: i64) -> Option<*mut ffi::PyObject> {
        self.ints.get(py, v)
    }

    /// Releases the shared ints (before the interpreter ends).
    pub fn clear_caches(&self, py: Attached<'_>) {
        self.ints.clear(py);
    }

    #[inline]
    pub fn tensor_type(&self) -> *mut ffi::PyTypeObject {
        self.tensor.as_ptr() as *mut ffi::PyTypeObject
    }

    #[inline]
    pub fn atom_type(&self) -> *mut ffi::PyTypeObject {
        self.atom.as_ptr() as *mut ffi::PyTypeObject
    }

    #[inline]
    pub fn pid_type(&self) -> *mut ffi::PyTypeObject {
        self.pid.as_ptr() as *mut ffi::PyTypeObject
    }

    #[inline]
    pub fn ref_type(&self) -> *mut ffi::PyTypeObject {
        self.reference.as_ptr() as *mut ffi::PyTypeObject
    }
}
