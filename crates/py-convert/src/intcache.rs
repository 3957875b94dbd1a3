//! Shared `int` objects for the values conversion meets most: 0 to 262 143.
//!
//! CPython caches -5..=256; every other int it makes is a fresh allocation,
//! and a list of 100 000 ids or token numbers costs 100 000 allocations and
//! frees per call (about 1.5 ms here, most of a large conversion). Keeping
//! one object per value in this range makes such a conversion a table load
//! and an incref per element. Ints are immutable, so sharing is invisible
//! except to `is`, which nobody may rely on for ints. The range covers
//! tokenizer vocabularies (up to 2^18 entries) and typical indices; the
//! table (2 MiB of pointers) is touched only where used, and at most
//! 262 144 small objects (about 8 MiB) are ever kept.

use std::cell::UnsafeCell;

use pyo3_ffi as ffi;

use crate::pyobj::Attached;

/// Values `0..INT_CACHE_SIZE` are shared.
pub const INT_CACHE_SIZE: usize = 1 << 18;

/// One interpreter's shared ints. Only used with that interpreter's GIL
/// held, which is what makes the unsynchronised cells sound.
pub struct IntCache {
    slots: UnsafeCell<Vec<usize>>,
}

// SAFETY: every access happens under the owning interpreter's GIL (methods
// take an `Attached` token, and the owner only shares the cache among
// threads of that interpreter).
unsafe impl Send for IntCache {}
// SAFETY: as above.
unsafe impl Sync for IntCache {}

impl Default for IntCache {
    fn default() -> Self {
        IntCache { slots: UnsafeCell::new(Vec::new()) }
    }
}

impl IntCache {
    /// A new reference to the shared object for `v`, if `v` is in range.
    #[inline]
    pub fn get(&self, _py: Attached<'_>, v: i64) -> Option<*mut ffi::PyObject> {
        if !(0..INT_CACHE_SIZE as i64).contains(&v) {
            return None;
        }
        // SAFETY: the GIL is held (token), so no other thread touches the
        // slots; a non-zero slot holds a live int we own a reference to.
        unsafe {
            let slots = &mut *self.slots.get();
            if slots.is_empty() {
                // Zeroed allocation: pages are only committed when written.
                *slots = vec![0usize; INT_CACHE_SIZE];
            }
            let slot = slots.get_unchecked_mut(v as usize);
            if *slot == 0 {
                let obj = ffi::PyLong_FromLongLong(v);
                if obj.is_null() {
                    ffi::PyErr_Clear();
                    return None;
                }
                *slot = obj as usize;
            }
            let obj = *slot as *mut ffi::PyObject;
            ffi::Py_INCREF(obj);
            Some(obj)
        }
    }

    /// Releases every shared object.
    pub fn clear(&self, _py: Attached<'_>) {
        // SAFETY: the GIL is held (token); each non-zero slot owns one
        // reference, given back once.
        unsafe {
            let slots = &mut *self.slots.get();
            for slot in slots.iter_mut() {
                if *slot != 0 {
                    ffi::Py_DECREF(*slot as *mut ffi::PyObject);
                    *slot = 0;
                }
            }
            *slots = Vec::new();
        }
    }
}
