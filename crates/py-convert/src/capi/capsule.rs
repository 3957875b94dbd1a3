//! Rust values owned by Python capsules: the capsule frees its box when
//! Python drops it.

use std::ffi::{c_void, CStr};
use std::ptr::NonNull;

use pyo3_ffi as ffi;

use crate::pyobj::{Attached, PyObj};

unsafe extern "C" fn drop_boxed<T>(capsule: *mut ffi::PyObject) {
    // SAFETY: CPython calls the destructor once, with the GIL held, for a
    // capsule made by `new_capsule::<T>`: its pointer is a leaked Box<T>
    // under the capsule's own name.
    unsafe {
        let name = ffi::PyCapsule_GetName(capsule);
        let p = ffi::PyCapsule_GetPointer(capsule, name);
        if !p.is_null() {
            drop(Box::from_raw(p as *mut T));
        } else {
            ffi::PyErr_Clear();
        }
    }
}

/// A capsule named `name` owning `value` (a Python error is set if that
/// fails; the value is dropped then).
pub fn new_capsule<T: 'static>(_py: Attached<'_>, value: Box<T>, name: &'static CStr) -> Option<PyObj> {
    let raw = Box::into_raw(value);
    // SAFETY: attached (token); the capsule owns the box from here on and
    // frees it in `drop_boxed`; on failure we free it ourselves.
    unsafe {
        let c = PyObj::from_owned(ffi::PyCapsule_New(raw as *mut c_void, name.as_ptr(), Some(drop_boxed::<T>)));
        if c.is_none() {
            drop(Box::from_raw(raw));
        }
        c
    }
}

/// The value in `obj` if it is a capsule with one of `names`, borrowed for
/// as long as `obj` lives.
///
/// # Safety
/// Every capsule under one of `names` holds a `T` made by [`new_capsule`].
pub unsafe fn capsule_value<'a, T>(obj: &'a PyObj, names: &[&CStr]) -> Option<&'a T> {
    // SAFETY: attached (a `PyObj` lives on attached threads); the name is
    // compared by content; by the caller's contract the pointer of a
    // capsule under one of `names` is a Box<T> that lives as long as the
    // capsule.
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
        let ours = names.iter().find(|n| **n == name)?;
        let p = ffi::PyCapsule_GetPointer(obj.as_ptr(), ours.as_ptr()) as *mut T;
        NonNull::new(p).map(|p| &*p.as_ptr())
    }
}
