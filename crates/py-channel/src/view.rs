//! `_BufferView`: the object behind `memoryview(pybuffer)`. It exports the
//! bytes written so far without copying and pins the buffer's memory while
//! any view of it lives (a write that would move it then fails in Erlang
//! with `write_failed`).

use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::Arc;

use py_convert::{Attached, PyObj};
use pyo3_ffi as ffi;

use crate::handle::null;
use crate::Buffer;

const TYPE_NAME: &std::ffi::CStr = c"_erlang_channel._BufferViewType";

#[repr(C)]
struct BufferView {
    ob_base: ffi::PyObject,
    /// From `Arc::into_raw`; released in `dealloc`.
    buffer: *const Buffer,
}

unsafe extern "C" fn get_buffer(obj: *mut ffi::PyObject, view: *mut ffi::Py_buffer, flags: c_int) -> c_int {
    // SAFETY: CPython calls this with the GIL held on a `_BufferView`, whose
    // buffer pointer is set by `new_view` (the type cannot be instantiated
    // from Python, and a null pointer is refused anyway) and live until
    // dealloc; the exported memory stays put until the matching release
    // (the buffer refuses to move it).
    unsafe {
        let p = (*(obj as *mut BufferView)).buffer;
        if p.is_null() {
            ffi::PyErr_SetString(ffi::PyExc_BufferError, c"not a PyBuffer view".as_ptr());
            return -1;
        }
        let b = &*p;
        let (data, len) = b.export();
        let rc = ffi::PyBuffer_FillInfo(view, obj, data as *mut c_void, len as ffi::Py_ssize_t, 1, flags);
        if rc != 0 {
            b.unexport();
        }
        rc
    }
}

unsafe extern "C" fn release_buffer(obj: *mut ffi::PyObject, _view: *mut ffi::Py_buffer) {
    // SAFETY: as in `get_buffer`; called once per successful export, which
    // only happens with a non-null buffer.
    unsafe {
        let p = (*(obj as *mut BufferView)).buffer;
        if !p.is_null() {
            (*p).unexport();
        }
    }
}

unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: CPython deallocates each object once, with the GIL held; the
    // type is a heap type, so the instance holds a reference to it.
    unsafe {
        let view = obj as *mut BufferView;
        if !(*view).buffer.is_null() {
            drop(Arc::from_raw((*view).buffer));
        }
        let tp = ffi::Py_TYPE(obj);
        if let Some(free) = (*tp).tp_free {
            free(obj as *mut c_void);
        }
        ffi::Py_DECREF(tp as *mut ffi::PyObject);
    }
}

/// Creates the `_BufferViewType` heap type for this interpreter's module.
pub fn add_type(_py: Attached<'_>, module: &PyObj) -> Option<()> {
    let mut slots = [
        ffi::PyType_Slot { slot: ffi::Py_tp_dealloc, pfunc: dealloc as *mut c_void },
        ffi::PyType_Slot { slot: ffi::Py_bf_getbuffer, pfunc: get_buffer as *mut c_void },
        ffi::PyType_Slot { slot: ffi::Py_bf_releasebuffer, pfunc: release_buffer as *mut c_void },
        ffi::PyType_Slot { slot: 0, pfunc: ptr::null_mut() },
    ];
    let mut spec = ffi::PyType_Spec {
        name: TYPE_NAME.as_ptr(),
        basicsize: std::mem::size_of::<BufferView>() as c_int,
        itemsize: 0,
        // Made only by `new_view`: Python code must not create one with a
        // null buffer.
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: attached (token); PyType_FromSpec copies what it needs from
    // the spec and slots; AddObjectRef does not steal the type reference.
    unsafe {
        let tp = PyObj::from_owned(ffi::PyType_FromSpec(&mut spec))?;
        (ffi::PyModule_AddObjectRef(module.as_ptr(), c"_BufferViewType".as_ptr(), tp.as_ptr()) == 0).then_some(())
    }
}

/// A new view of `buffer` (`_BufferView(capsule)`).
pub fn new_view(_py: Attached<'_>, module: &PyObj, buffer: Arc<Buffer>) -> *mut ffi::PyObject {
    // SAFETY: attached (token); the type comes from this module; the
    // instance's memory is zeroed by the allocator before we set the field.
    unsafe {
        let Some(tp) = PyObj::from_owned(ffi::PyObject_GetAttrString(module.as_ptr(), c"_BufferViewType".as_ptr()))
        else {
            return null();
        };
        // The attribute could have been rebound: only our type has the
        // layout written below.
        let ours = ffi::PyType_Check(tp.as_ptr()) != 0
            && (*(tp.as_ptr() as *mut ffi::PyTypeObject)).tp_basicsize
                == std::mem::size_of::<BufferView>() as ffi::Py_ssize_t
            && std::ffi::CStr::from_ptr((*(tp.as_ptr() as *mut ffi::PyTypeObject)).tp_name) == TYPE_NAME;
        if !ours {
            ffi::PyErr_SetString(ffi::PyExc_TypeError, c"_erlang_channel._BufferViewType was replaced".as_ptr());
            return null();
        }
        let obj = ffi::PyType_GenericAlloc(tp.as_ptr() as *mut ffi::PyTypeObject, 0);
        if obj.is_null() {
            return null();
        }
        (*(obj as *mut BufferView)).buffer = Arc::into_raw(buffer);
        obj
    }
}
