//! Reading objects that export memory through the buffer protocol (numpy
//! arrays, `array.array`, `memoryview`, `bytes`...): the element format,
//! the shape, and the bytes in row-major order, read in place when the
//! export is C-contiguous or copied once otherwise.

use std::ffi::{c_char, CStr};

use pyo3_ffi as ffi;

use super::error::Raised;
use crate::pyobj::{Attached, PyObj};

/// Whether `obj` exports a buffer (`memoryview(obj)` would work).
#[inline]
pub fn has_buffer(obj: &PyObj) -> bool {
    // SAFETY: reads the type slots of a live object.
    unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) != 0 }
}

/// `memoryview(obj)` (`None` with an error set on failure).
#[inline]
pub fn memoryview(_py: Attached<'_>, obj: &PyObj) -> Option<PyObj> {
    // SAFETY: attached (token); `obj` alive; a new reference or null.
    unsafe { PyObj::from_owned(ffi::PyMemoryView_FromObject(obj.as_ptr())) }
}

/// The full name CPython gives `type(obj)` (`tp_name`): `module.Name` for
/// static and C-defined types (`numpy.float32`), the bare name for classes
/// defined in Python.
pub fn type_full_name(obj: &PyObj) -> String {
    // SAFETY: the object is alive (a `PyObj` owns a reference) and its type
    // outlives it; tp_name is a NUL-terminated C string.
    unsafe { CStr::from_ptr((*ffi::Py_TYPE(obj.as_ptr())).tp_name).to_string_lossy().into_owned() }
}

/// One export of an object's buffer, released on drop. It holds the
/// exporter's promise that the memory stays where it is (and, for
/// resizable exporters such as `bytearray`, the same size) until then.
pub struct BufferView<'py> {
    /// Boxed: exporters may point `shape` at fields of the view itself
    /// (`PyBuffer_FillInfo` points it at `len`), so it must not move.
    view: Box<ffi::Py_buffer>,
    py: Attached<'py>,
}

impl<'py> BufferView<'py> {
    /// Exports `obj`'s buffer, read-only, with its format, shape, strides
    /// and sub-offsets (`PyBUF_FULL_RO`: every exporter can answer it).
    /// `None` with an error set (BufferError, TypeError) on failure.
    pub fn get(py: Attached<'py>, obj: &PyObj) -> Option<BufferView<'py>> {
        // SAFETY: a zeroed Py_buffer is the documented starting state.
        let mut view: Box<ffi::Py_buffer> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: attached (token); `obj` alive; on success the view is
        // filled and owes one PyBuffer_Release (done in drop).
        if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, ffi::PyBUF_FULL_RO) } != 0 {
            return None;
        }
        Some(BufferView { view, py })
    }

    /// The element format in `struct` module syntax (`"B"` when the
    /// exporter gives none, as the protocol says).
    pub fn format(&self) -> &[u8] {
        if self.view.format.is_null() {
            return b"B";
        }
        // SAFETY: a non-null format is a NUL-terminated string owned by the
        // exporter for the life of the export.
        unsafe { CStr::from_ptr(self.view.format).to_bytes() }
    }

    /// The size of one element in bytes.
    #[inline]
    pub fn itemsize(&self) -> usize {
        self.view.itemsize.max(0) as usize
    }

    /// The size of the data in bytes (`product(shape) * itemsize`).
    #[inline]
    pub fn byte_len(&self) -> usize {
        self.view.len.max(0) as usize
    }

    /// The dimensions (empty for a 0-d export).
    pub fn shape(&self) -> Vec<usize> {
        let ndim = self.view.ndim.max(0) as usize;
        if self.view.shape.is_null() {
            // Only for a request without PyBUF_ND, which `get` never makes;
            // a flat buffer of bytes is the protocol's meaning.
            return if ndim == 0 { Vec::new() } else { vec![self.byte_len() / self.itemsize().max(1)] };
        }
        // SAFETY: with PyBUF_ND requested, `shape` points at `ndim` entries
        // that live as long as the export.
        let dims = unsafe { std::slice::from_raw_parts(self.view.shape, ndim) };
        dims.iter().map(|&d| d.max(0) as usize).collect()
    }

    /// The bytes in row-major order, read in place, if the export is
    /// C-contiguous (no strides that skip, no sub-offsets).
    pub fn c_contiguous(&self) -> Option<&[u8]> {
        // SAFETY: the view is a live export; IsContiguous only reads it.
        let contiguous = unsafe { ffi::PyBuffer_IsContiguous(&*self.view, b'C' as c_char) } != 0;
        if !contiguous {
            return None;
        }
        if self.byte_len() == 0 {
            return Some(&[]);
        }
        // SAFETY: a C-contiguous export of `len` bytes starting at `buf`,
        // valid until release, which cannot happen while `self` is borrowed.
        Some(unsafe { std::slice::from_raw_parts(self.view.buf as *const u8, self.byte_len()) })
    }

    /// Copies the elements into `out` in row-major order, whatever the
    /// strides (`Err` with an error set on failure, a ValueError if `out`
    /// is not exactly [`byte_len`](Self::byte_len) bytes).
    pub fn copy_c_order(&self, out: &mut [u8]) -> Result<(), Raised> {
        if out.len() != self.byte_len() {
            super::error::raise(self.py, super::error::PyExc::ValueError, "buffer copy of the wrong size");
            return Err(Raised);
        }
        if out.is_empty() {
            return Ok(());
        }
        // SAFETY: attached (the view's token); the view is a live export and
        // `out` has exactly `len` writable bytes, which is what ToContiguous
        // writes; it only reads the view (the pointer is mut for C's sake).
        let rc = unsafe {
            ffi::PyBuffer_ToContiguous(
                out.as_mut_ptr().cast(),
                &*self.view as *const ffi::Py_buffer as *mut ffi::Py_buffer,
                out.len() as ffi::Py_ssize_t,
                b'C' as c_char,
            )
        };
        if rc != 0 {
            return Err(Raised);
        }
        Ok(())
    }
}

impl Drop for BufferView<'_> {
    fn drop(&mut self) {
        // SAFETY: the view came from a successful PyObject_GetBuffer on a
        // thread attached for 'py (the type cannot leave that thread: it
        // holds an `Attached`) and is released exactly once.
        unsafe { ffi::PyBuffer_Release(&mut *self.view) }
    }
}
