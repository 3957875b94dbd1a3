//! `py_nif_loader`: the one NIF that needs no Python. It opens the
//! libpython `py_python` chose at run time, with its symbols global, before
//! the real NIF (`py_nif`, in `priv/py_nif_impl.so`) loads: that library
//! is built without a baked-in path to libpython, and its dependency on it
//! is then met by the library already loaded. So a release built on one
//! machine runs on another where the same Python version lives elsewhere.
//! The library is never closed.

use std::ffi::{CStr, CString};

use rustler::{Binary, Encoder, Env, Term};

rustler::atoms! { ok, error }

/// `load_libpython(Path) -> ok | {error, Text}`
#[rustler::nif(schedule = "DirtyIo")]
fn load_libpython<'a>(env: Env<'a>, path: Binary<'a>) -> Term<'a> {
    let Ok(path) = CString::new(path.as_slice()) else {
        return (error(), "the path holds a NUL byte").encode(env);
    };
    // SAFETY: `path` is a valid C string; dlopen has no other precondition.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns null or a NUL-terminated string owned by libc.
        let why = unsafe {
            let e = libc::dlerror();
            if e.is_null() {
                "unknown error".to_string()
            } else {
                CStr::from_ptr(e).to_string_lossy().into_owned()
            }
        };
        return (error(), why).encode(env);
    }
    ok().encode(env)
}

rustler::init!("py_nif_loader");
