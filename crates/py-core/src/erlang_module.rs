//! The built-in `erlang` module, registered before Python starts so every
//! interpreter (the main one and each own-GIL sub-interpreter) imports its
//! own copy with its own state.
//!
//! It is written on the raw C API with multi-phase initialisation: pyo3's
//! `#[pymodule]` is refused in sub-interpreters and its caches are shared
//! across interpreters. Each copy holds the interpreter's `erlang.Pid`,
//! `erlang.Ref` and `erlang.Atom` types in its module state.

use std::ffi::{c_int, c_void};
use std::ptr;

use py_convert::{Attached, ErlTypes, PyErrInfo, PyObj};
use pyo3_ffi as ffi;

/// Per-interpreter module state (zeroed by CPython, so `None` at first).
struct ModuleState {
    types: Option<ErlTypes>,
}

unsafe extern "C" fn exec_module(module: *mut ffi::PyObject) -> c_int {
    // SAFETY: CPython calls the exec slot with the GIL held and a module
    // whose state is `m_size` zeroed bytes, which is a valid `ModuleState`
    // (`None`).
    unsafe {
        let py = Attached::assume();
        let Some(m) = ptr::NonNull::new(module).map(|p| PyObj::from_borrowed(p)) else { return -1 };
        let state = ffi::PyModule_GetState(m.as_ptr()) as *mut ModuleState;
        match ErlTypes::create(py, &m) {
            Ok(types) => {
                ptr::write(state, ModuleState { types: Some(types) });
                0
            }
            Err(e) => {
                let msg = std::ffi::CString::new(format!("erlang module: {}: {}", e.class, e.message))
                    .unwrap_or_default();
                ffi::PyErr_SetString(ffi::PyExc_ImportError, msg.as_ptr());
                -1
            }
        }
    }
}

unsafe extern "C" fn free_module(module: *mut c_void) {
    // SAFETY: called once by CPython with the GIL held when the module is
    // freed; the state was initialised by `exec_module` (or is still zeroed,
    // which drops as `None`).
    unsafe {
        let state = ffi::PyModule_GetState(module as *mut ffi::PyObject) as *mut ModuleState;
        if !state.is_null() {
            if let Some(types) = &(*state).types {
                types.clear_caches(Attached::assume());
            }
            ptr::drop_in_place(state);
        }
    }
}

#[cfg(Py_3_12)]
static mut SLOTS: [ffi::PyModuleDef_Slot; 3] = [
    ffi::PyModuleDef_Slot { slot: ffi::Py_mod_exec, value: exec_module as *mut c_void },
    ffi::PyModuleDef_Slot { slot: ffi::Py_mod_multiple_interpreters, value: ffi::Py_MOD_PER_INTERPRETER_GIL_SUPPORTED },
    ffi::PyModuleDef_Slot { slot: 0, value: ptr::null_mut() },
];

#[cfg(not(Py_3_12))]
static mut SLOTS: [ffi::PyModuleDef_Slot; 2] = [
    ffi::PyModuleDef_Slot { slot: ffi::Py_mod_exec, value: exec_module as *mut c_void },
    ffi::PyModuleDef_Slot { slot: 0, value: ptr::null_mut() },
];

static mut MODULE_DEF: ffi::PyModuleDef = ffi::PyModuleDef {
    m_base: ffi::PyModuleDef_HEAD_INIT,
    m_name: c"erlang".as_ptr(),
    m_doc: c"Talk to the Erlang VM that embeds this interpreter.".as_ptr(),
    m_size: std::mem::size_of::<ModuleState>() as ffi::Py_ssize_t,
    m_methods: ptr::null_mut(),
    m_slots: ptr::addr_of_mut!(SLOTS) as *mut ffi::PyModuleDef_Slot,
    m_traverse: None,
    m_clear: None,
    m_free: Some(free_module),
};

/// The `PyInit_erlang` entry point given to `PyImport_AppendInittab`.
pub(crate) unsafe extern "C" fn init_erlang_module() -> *mut ffi::PyObject {
    // SAFETY: CPython calls init functions with the GIL held; PyModuleDef_Init
    // only initialises the definition's header (idempotently).
    unsafe { ffi::PyModuleDef_Init(ptr::addr_of_mut!(MODULE_DEF)) }
}

/// Imports this interpreter's `erlang` module and returns its types.
pub fn interpreter_types(py: Attached<'_>) -> Result<(PyObj, ErlTypes), PyErrInfo> {
    // SAFETY: attached thread (token); the module's state was initialised by
    // its exec slot before the import returned.
    unsafe {
        let m = PyObj::from_owned(ffi::PyImport_ImportModule(c"erlang".as_ptr())).ok_or_else(|| PyErrInfo::fetch(py))?;
        let state = ffi::PyModule_GetState(m.as_ptr()) as *mut ModuleState;
        if state.is_null() {
            return Err(PyErrInfo::fetch(py));
        }
        let types = (*state).types.as_ref().ok_or_else(|| PyErrInfo {
            class: "ImportError".into(),
            message: "erlang module state is not initialised".into(),
            traceback: None,
        })?;
        Ok((m, types.clone_refs()))
    }
}
