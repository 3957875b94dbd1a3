//! Making libpython's symbols visible to C extension modules.
//!
//! The BEAM loads NIF libraries with RTLD_LOCAL, so libpython (a dependency
//! of our NIF) is mapped with local symbols and every C extension (`math`,
//! `_json`, numpy) fails with "undefined symbol: PyFloat_Type". Re-opening
//! the already-mapped library with RTLD_GLOBAL | RTLD_NOLOAD promotes its
//! symbols to the global scope without loading a second copy.

use std::ffi::{c_char, c_int, c_void, CStr};

const RTLD_NOW: c_int = 0x2;
const RTLD_NOLOAD: c_int = 0x4;
const RTLD_GLOBAL: c_int = 0x100;

#[repr(C)]
struct DlInfo {
    dli_fname: *const c_char,
    dli_fbase: *mut c_void,
    dli_sname: *const c_char,
    dli_saddr: *mut c_void,
}

extern "C" {
    fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
}

/// Re-opens the shared object that defines `Py_IsInitialized` with global
/// symbols. Returns its path.
pub fn promote_libpython() -> Result<String, String> {
    let mut info = DlInfo {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    let addr = pyo3_ffi::Py_IsInitialized as *const c_void;
    // SAFETY: dladdr only reads the address and fills `info`; the strings it
    // returns point into the loader's tables and stay valid while mapped.
    let path = unsafe {
        if dladdr(addr, &mut info) == 0 || info.dli_fname.is_null() {
            return Err("dladdr found no object for libpython".into());
        }
        CStr::from_ptr(info.dli_fname).to_owned()
    };
    // SAFETY: RTLD_NOLOAD only bumps the reference count of an object that is
    // already mapped, changing its symbol scope; the handle is kept for the
    // life of the process on purpose (libpython is never unloaded).
    let handle = unsafe { dlopen(path.as_ptr(), RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD) };
    let path = path.to_string_lossy().into_owned();
    if handle.is_null() {
        return Err(format!("dlopen({path}, RTLD_GLOBAL) failed"));
    }
    Ok(path)
}
