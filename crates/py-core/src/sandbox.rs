//! The in-process sandbox: no fork or exec of the VM's process from Python.
//!
//! An audit hook written in Rust, added before the interpreter starts, so
//! it applies to every interpreter and nothing Python can reach turns it
//! off or changes what it refuses (a hook in Python lived in the `erlang`
//! module's namespace, where `erlang._FORBIDDEN = frozenset()` disabled
//! it). What it cannot stop is code that forks without an audit event:
//! ctypes, `_posixsubprocess.fork_exec`, C extensions (see
//! docs/security.md; isolated contexts are the answer to those).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};

use py_convert::capi;
use pyo3_ffi as ffi;

/// Audit events that start a process or replace this one.
const FORBIDDEN: [&str; 7] =
    ["os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "subprocess.Popen"];

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// An audit hook (`PySys_AddAuditHook`'s signature).
pub(crate) type AuditHook = unsafe extern "C" fn(*const c_char, *mut ffi::PyObject, *mut c_void) -> c_int;

/// Whether `event` is refused.
pub fn is_forbidden(event: &str) -> bool {
    FORBIDDEN.contains(&event)
}

/// The hook to add, the first time only: runtime adds it before Python
/// starts (it then covers every interpreter); once per process.
pub(crate) fn to_install() -> Option<AuditHook> {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return None;
    }
    Some(refuse_process_creation)
}

/// Whether the sandbox is on in this process.
pub fn is_installed() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

unsafe extern "C" fn refuse_process_creation(
    event: *const c_char,
    _args: *mut ffi::PyObject,
    _user_data: *mut c_void,
) -> c_int {
    // SAFETY: CPython passes a NUL-terminated event name.
    let name = unsafe { CStr::from_ptr(event) };
    let Ok(name) = name.to_str() else { return 0 };
    if !is_forbidden(name) {
        return 0;
    }
    let text = format!(
        "{name} is blocked in Erlang VM context: forking or replacing the VM's process is unsafe; \
         run programs with Erlang ports (open_port/2) and talk to them from Erlang"
    );
    // SAFETY: audit hooks run with the GIL held.
    let py = unsafe { py_convert::Attached::assume() };
    capi::raise(py, capi::PyExc::RuntimeError, &text);
    -1
}
