//! Raising and clearing Python exceptions.

use std::ffi::CString;

use pyo3_ffi as ffi;

use crate::pyobj::{Attached, PyObj};

/// A Python exception is set on the calling thread (the error of the
/// wrappers that leave it there for the caller to return or fetch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raised;

/// Built-in exceptions the modules raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PyExc {
    TypeError,
    ValueError,
    RuntimeError,
    KeyboardInterrupt,
    OSError,
    TimeoutError,
    KeyError,
    StopIteration,
    BufferError,
    ImportError,
    SystemError,
}

impl PyExc {
    /// The exception's type object (borrowed: built-in types live as long
    /// as the interpreter).
    fn type_ptr(self) -> *mut ffi::PyObject {
        // SAFETY: reading the addresses of CPython's built-in exception
        // types (statics of libpython).
        unsafe {
            match self {
                PyExc::TypeError => ffi::PyExc_TypeError,
                PyExc::ValueError => ffi::PyExc_ValueError,
                PyExc::RuntimeError => ffi::PyExc_RuntimeError,
                PyExc::KeyboardInterrupt => ffi::PyExc_KeyboardInterrupt,
                PyExc::OSError => ffi::PyExc_OSError,
                PyExc::TimeoutError => ffi::PyExc_TimeoutError,
                PyExc::KeyError => ffi::PyExc_KeyError,
                PyExc::StopIteration => ffi::PyExc_StopIteration,
                PyExc::BufferError => ffi::PyExc_BufferError,
                PyExc::ImportError => ffi::PyExc_ImportError,
                PyExc::SystemError => ffi::PyExc_SystemError,
            }
        }
    }
}

/// `message` as a C string (NULs become spaces).
fn c_text(message: &str) -> CString {
    CString::new(message.replace('\0', " ")).unwrap_or_default()
}

/// Sets a built-in exception with `message` (C-API style: the caller then
/// returns its null/None error value).
pub fn raise(_py: Attached<'_>, kind: PyExc, message: &str) {
    let text = c_text(message);
    // SAFETY: attached (token); the exception type is a built-in object and
    // the text is copied.
    unsafe { ffi::PyErr_SetString(kind.type_ptr(), text.as_ptr()) }
}

/// Sets a built-in exception without a value (`raise StopIteration`).
pub fn raise_empty(_py: Attached<'_>, kind: PyExc) {
    // SAFETY: attached (token); a built-in exception type.
    unsafe { ffi::PyErr_SetNone(kind.type_ptr()) }
}

/// Sets a built-in exception whose value is `value` (`KeyError(key)`).
pub fn raise_value(_py: Attached<'_>, kind: PyExc, value: &PyObj) {
    // SAFETY: attached (token); both objects are alive; SetObject takes its
    // own references.
    unsafe { ffi::PyErr_SetObject(kind.type_ptr(), value.as_ptr()) }
}

/// Sets the exception class `class` (any exception type) with `message`.
pub fn raise_class(_py: Attached<'_>, class: &PyObj, message: &str) {
    let text = c_text(message);
    // SAFETY: attached (token); the class is alive and the text copied.
    unsafe { ffi::PyErr_SetString(class.as_ptr(), text.as_ptr()) }
}

/// Sets the exception `exc` (an instance) of class `class`.
pub fn raise_instance(_py: Attached<'_>, class: &PyObj, exc: &PyObj) {
    // SAFETY: attached (token); both alive; SetObject takes its own
    // references.
    unsafe { ffi::PyErr_SetObject(class.as_ptr(), exc.as_ptr()) }
}

/// Clears a pending exception (after a failed optional conversion).
#[inline]
pub fn clear_error(_py: Attached<'_>) {
    // SAFETY: attached (token).
    unsafe { ffi::PyErr_Clear() }
}

/// Whether an exception is set.
#[inline]
pub fn error_occurred(_py: Attached<'_>) -> bool {
    // SAFETY: attached (token); only the pointer is compared.
    unsafe { !ffi::PyErr_Occurred().is_null() }
}

/// `Err(Raised)` if an exception is set.
#[inline]
pub fn check_error(py: Attached<'_>) -> Result<(), Raised> {
    if error_occurred(py) {
        Err(Raised)
    } else {
        Ok(())
    }
}
