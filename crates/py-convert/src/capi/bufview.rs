//! Heap types whose instances export bytes owned by Rust through the
//! buffer protocol, without copying (`memoryview(obj)`). The owner is told
//! of each export and its release, so it can keep the memory in place
//! while any view lives.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::Arc;

use pyo3_ffi as ffi;

use super::call::getattr;
use super::error::{raise, PyExc};
use super::object::{is_type, TypePtr};
use crate::pyobj::{Attached, PyObj};

/// What a view exports.
pub trait ByteSource: Send + Sync + 'static {
    /// The type's qualified name (`module.Name`).
    const TYPE_NAME: &'static CStr;
    /// The BufferError message for an instance without a source (never
    /// made by [`new_view`]).
    const NO_SOURCE: &'static CStr;
    /// The bytes to export; they must stay where they are until the
    /// matching [`ByteSource::unexport`].
    fn export(&self) -> (*const u8, usize);
    /// An export ended.
    fn unexport(&self);
}

#[repr(C)]
struct View<T> {
    ob_base: ffi::PyObject,
    /// From `Arc::into_raw`; released in `dealloc`.
    source: *const T,
}

unsafe extern "C" fn get_buffer<T: ByteSource>(
    obj: *mut ffi::PyObject,
    view: *mut ffi::Py_buffer,
    flags: c_int,
) -> c_int {
    // SAFETY: CPython calls this with the GIL held on an instance of the
    // type `add_view_type::<T>` made, whose source pointer is set by
    // `new_view` (the type cannot be instantiated from Python, and a null
    // pointer is refused anyway) and live until dealloc; the exported
    // memory stays put until the matching release (the source's contract).
    unsafe {
        let p = (*(obj as *mut View<T>)).source;
        if p.is_null() {
            ffi::PyErr_SetString(ffi::PyExc_BufferError, T::NO_SOURCE.as_ptr());
            return -1;
        }
        let source = &*p;
        let (data, len) = source.export();
        let rc = ffi::PyBuffer_FillInfo(view, obj, data as *mut c_void, len as ffi::Py_ssize_t, 1, flags);
        if rc != 0 {
            source.unexport();
        }
        rc
    }
}

unsafe extern "C" fn release_buffer<T: ByteSource>(obj: *mut ffi::PyObject, _view: *mut ffi::Py_buffer) {
    // SAFETY: as in `get_buffer`; called once per successful export, which
    // only happens with a non-null source.
    unsafe {
        let p = (*(obj as *mut View<T>)).source;
        if !p.is_null() {
            (*p).unexport();
        }
    }
}

unsafe extern "C" fn dealloc<T: ByteSource>(obj: *mut ffi::PyObject) {
    // SAFETY: CPython deallocates each object once, with the GIL held; the
    // type is a heap type, so the instance holds a reference to it.
    unsafe {
        let view = obj as *mut View<T>;
        if !(*view).source.is_null() {
            drop(Arc::from_raw((*view).source));
        }
        let tp = ffi::Py_TYPE(obj);
        if let Some(free) = (*tp).tp_free {
            free(obj as *mut c_void);
        }
        ffi::Py_DECREF(tp as *mut ffi::PyObject);
    }
}

/// Creates the view type for `T` in this interpreter and binds it as
/// `module.attr`.
pub fn add_view_type<T: ByteSource>(_py: Attached<'_>, module: &PyObj, attr: &CStr) -> Option<()> {
    let mut slots = [
        ffi::PyType_Slot { slot: ffi::Py_tp_dealloc, pfunc: dealloc::<T> as *mut c_void },
        ffi::PyType_Slot { slot: ffi::Py_bf_getbuffer, pfunc: get_buffer::<T> as *mut c_void },
        ffi::PyType_Slot { slot: ffi::Py_bf_releasebuffer, pfunc: release_buffer::<T> as *mut c_void },
        ffi::PyType_Slot { slot: 0, pfunc: ptr::null_mut() },
    ];
    let mut spec = ffi::PyType_Spec {
        name: T::TYPE_NAME.as_ptr(),
        basicsize: std::mem::size_of::<View<T>>() as c_int,
        itemsize: 0,
        // Made only by `new_view`: Python code must not create one with a
        // null source.
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: attached (token); PyType_FromSpec copies what it needs from
    // the spec and slots; AddObjectRef does not steal the type reference.
    unsafe {
        let tp = PyObj::from_owned(ffi::PyType_FromSpec(&mut spec))?;
        (ffi::PyModule_AddObjectRef(module.as_ptr(), attr.as_ptr(), tp.as_ptr()) == 0).then_some(())
    }
}

/// A new view of `source`, an instance of the type bound as `module.attr`
/// (`None` with an error set on failure, a TypeError if that attribute is
/// no longer the type [`add_view_type`] made).
pub fn new_view<T: ByteSource>(py: Attached<'_>, module: &PyObj, attr: &CStr, source: Arc<T>) -> Option<PyObj> {
    let tp = getattr(py, module, attr)?;
    // The attribute could have been rebound: only our type has the layout
    // written below.
    let ours = is_type(&tp) && {
        let t = tp.as_ptr() as TypePtr;
        // SAFETY: a live type object (checked); its name is a C string.
        unsafe {
            (*t).tp_basicsize == std::mem::size_of::<View<T>>() as ffi::Py_ssize_t
                && CStr::from_ptr((*t).tp_name) == T::TYPE_NAME
        }
    };
    if !ours {
        raise(py, PyExc::TypeError, &format!("{} was replaced", T::TYPE_NAME.to_string_lossy()));
        return None;
    }
    // SAFETY: attached (token); the type is ours (checked), so instances
    // have the `View<T>` layout; the allocator zeroes the instance before
    // we set the field.
    unsafe {
        let obj = PyObj::from_owned(ffi::PyType_GenericAlloc(tp.as_ptr() as TypePtr, 0))?;
        (*(obj.as_ptr() as *mut View<T>)).source = Arc::into_raw(source);
        Some(obj)
    }
}
