//! How channels, buffers and shared dicts (Erlang resources) appear in
//! Python: capsules holding a [`Handle`], the shared core plus whatever
//! keeps the Erlang resource alive (the NIF layer's resource reference), so
//! a capsule converts back to the very same resource.
//!
//! Buffers are handed to Python code as `erlang.PyBuffer` objects (file
//! like); the others as capsules that `erlang.Channel(c)`,
//! `erlang.ByteChannel(c)` and `erlang.SharedDict(c)` wrap.

use std::any::Any;
use std::ffi::{c_void, CStr};
use std::ptr::{self, NonNull};
use std::sync::Arc;

use py_convert::{Attached, PyObj};
use pyo3_ffi as ffi;

use crate::{Buffer, Queue, SharedDict};

/// The shared state behind a handle.
pub enum Core {
    /// Terms (encoded) from Erlang to Python.
    Channel(Arc<Queue>),
    /// Bytes both ways: `inbound` from Erlang, `outbound` to Erlang.
    ByteChannel {
        inbound: Arc<Queue>,
        outbound: Arc<Queue>,
    },
    Buffer(Arc<Buffer>),
    Dict(Arc<SharedDict>),
}

/// What a capsule holds.
pub struct Handle {
    pub core: Core,
    /// Keeps the Erlang side alive and lets the NIF layer find its resource
    /// again (it downcasts this).
    pub owner: Box<dyn Any + Send + Sync>,
}

const CHANNEL: &CStr = c"erlang.channel_ref";
const BYTE_CHANNEL: &CStr = c"erlang.byte_channel_ref";
const BUFFER: &CStr = c"erlang.buffer_ref";
const DICT: &CStr = c"py_shared_dict";
const NAMES: [&CStr; 4] = [CHANNEL, BYTE_CHANNEL, BUFFER, DICT];

fn name_of(core: &Core) -> &'static CStr {
    match core {
        Core::Channel(_) => CHANNEL,
        Core::ByteChannel { .. } => BYTE_CHANNEL,
        Core::Buffer(_) => BUFFER,
        Core::Dict(_) => DICT,
    }
}

unsafe extern "C" fn drop_handle(capsule: *mut ffi::PyObject) {
    // SAFETY: CPython calls the destructor once, with the GIL held, for a
    // capsule made by `capsule`: its pointer is a leaked Box<Handle> under
    // one of our names.
    unsafe {
        let name = ffi::PyCapsule_GetName(capsule);
        let p = ffi::PyCapsule_GetPointer(capsule, name);
        if !p.is_null() {
            drop(Box::from_raw(p as *mut Handle));
        } else {
            ffi::PyErr_Clear();
        }
    }
}

/// A capsule for `handle` (a Python error is set if that fails).
pub fn capsule(_py: Attached<'_>, handle: Handle) -> Option<PyObj> {
    let name = name_of(&handle.core);
    let raw = Box::into_raw(Box::new(handle));
    // SAFETY: attached (token); the capsule owns the box from here on and
    // frees it in `drop_handle`; on failure we free it ourselves.
    unsafe {
        let c = PyObj::from_owned(ffi::PyCapsule_New(raw as *mut c_void, name.as_ptr(), Some(drop_handle)));
        if c.is_none() {
            drop(Box::from_raw(raw));
        }
        c
    }
}

/// The handle in `obj`, if it is one of our capsules. Borrowed for as long
/// as `obj` lives.
pub fn handle_of(obj: &PyObj) -> Option<&Handle> {
    // SAFETY: attached (callers hold a live object, so the GIL); the name
    // pointer is compared by content; the pointer of a capsule of ours is a
    // Box<Handle> that lives as long as the capsule.
    unsafe {
        if ffi::PyCapsule_CheckExact(obj.as_ptr()) == 0 {
            return None;
        }
        let name = ffi::PyCapsule_GetName(obj.as_ptr());
        if name.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let name = CStr::from_ptr(name);
        let ours = NAMES.iter().find(|n| **n == name)?;
        let p = ffi::PyCapsule_GetPointer(obj.as_ptr(), ours.as_ptr()) as *const Handle;
        NonNull::new(p as *mut Handle).map(|p| &*p.as_ptr())
    }
}

/// Our capsule for `obj`: the capsule itself, or the one inside one of the
/// wrapper objects (`Channel`, `PyBuffer`, `SharedDict`: their `_cap`).
pub fn capsule_of(_py: Attached<'_>, obj: &PyObj) -> Option<PyObj> {
    if handle_of(obj).is_some() {
        return Some(obj.clone());
    }
    // SAFETY: attached (token); a failed attribute lookup's error is cleared.
    unsafe {
        let cap = PyObj::from_owned(ffi::PyObject_GetAttrString(obj.as_ptr(), c"_cap".as_ptr()));
        if cap.is_none() {
            ffi::PyErr_Clear();
        }
        cap.filter(|c| handle_of(c).is_some())
    }
}

/// The Python object an Erlang resource becomes: a `PyBuffer` for buffers,
/// a capsule for the others. `None` with a Python error set on failure.
pub fn to_python(py: Attached<'_>, handle: Handle) -> Option<PyObj> {
    let is_buffer = matches!(handle.core, Core::Buffer(_));
    let cap = capsule(py, handle)?;
    if !is_buffer {
        return Some(cap);
    }
    // SAFETY: attached (token); every call returns a new reference or null
    // with an error set.
    unsafe {
        let module = PyObj::from_owned(ffi::PyImport_ImportModule(c"_erlang_channel".as_ptr()))?;
        let class = PyObj::from_owned(ffi::PyObject_GetAttrString(module.as_ptr(), c"PyBuffer".as_ptr()))?;
        PyObj::from_owned(ffi::PyObject_CallOneArg(class.as_ptr(), cap.as_ptr()))
    }
}

/// A null pointer, for C functions returning "error set".
pub(crate) fn null() -> *mut ffi::PyObject {
    ptr::null_mut()
}
