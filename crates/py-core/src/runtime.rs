//! Starting the embedded CPython runtime, once per OS process.
//!
//! Python is initialised on a dedicated thread that owns the main thread
//! state and then parks for the life of the VM, so no BEAM scheduler thread
//! is ever tied to Python. Start-up promotes libpython's symbols (so
//! extension modules resolve against them), registers the `erlang` module, leaves signal handling to
//! the VM and points `sys.executable` at a real interpreter.

use std::ffi::{CStr, CString};
use std::path::PathBuf;
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread;

use py_convert::Attached;
use pyo3_ffi as ffi;

use crate::erlang_module;

extern "C" {
    // Not in pyo3-ffi.
    fn PySys_AddAuditHook(hook: crate::sandbox::AuditHook, user_data: *mut std::ffi::c_void) -> std::ffi::c_int;
}
/// Which memory allocator Python uses for its objects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Allocator {
    /// mimalloc where the Python has it (3.13+) and `PYTHONMALLOC` is not
    /// set, else Python's default. Measured here: creating and freeing a
    /// list of 100k ints takes 1.5 ms with mimalloc against 2.1 ms with
    /// pymalloc, which also unmaps and re-faults its arenas on every large
    /// conversion.
    #[default]
    Auto,
    /// Python's own choice (pymalloc, or `PYTHONMALLOC`).
    Default,
    Mimalloc,
    Pymalloc,
    Malloc,
}

/// What start-up may be told.
#[derive(Clone, Debug, Default)]
pub struct RuntimeConfig {
    /// `sys.executable`; defaults to the Python this library was built
    /// against (overridable with `ERLANG_PYTHON_EXECUTABLE`).
    pub executable: Option<PathBuf>,
    pub allocator: Allocator,
    /// Leave glibc's malloc thresholds as the host process set them
    /// (the library otherwise restores glibc's heap path for blocks up to
    /// 4 MiB, which the BEAM's settings turn into mmap calls).
    pub keep_malloc_thresholds: bool,
    /// Refuse process creation from Python (see [`crate::sandbox`]); the
    /// NIF turns it on, since forking the VM is never safe.
    pub forbid_process_creation: bool,
    /// Turn on `faulthandler` (writing to stderr) at start-up, so a fatal
    /// signal in native code prints the Python traceback of every thread
    /// before the process dies, instead of a silent exit.
    pub faulthandler: bool,
}

/// Blocks below this size come from malloc's heaps, above it from mmap.
const MMAP_THRESHOLD: i32 = 4 << 20;
/// Free memory kept at the top of a heap before it is returned.
const TRIM_THRESHOLD: i32 = 8 << 20;

/// glibc raises its mmap threshold as a program frees large blocks, so a
/// plain Python process soon serves its 256 KiB socket reads (asyncio's
/// `recv` size) from the heap. The BEAM pins the thresholds at start-up
/// (trim 128 KiB, top pad 0), which turns every such read into mmap,
/// mremap and munmap plus page faults: with pymalloc (whose large blocks
/// go to malloc) a loopback echo ran at half the speed of a plain Python
/// process. These values restore the heap path for blocks up to 4 MiB.
/// Memory returns to the system above 8 MiB of free space at a heap's top.
fn tune_glibc_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two integers and changes allocator parameters
    // under glibc's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// `PyMemAllocatorName` values (stable across 3.11-3.13).
const PYMEM_ALLOCATOR_MALLOC: i32 = 3;
const PYMEM_ALLOCATOR_PYMALLOC: i32 = 5;
const PYMEM_ALLOCATOR_MIMALLOC: i32 = 7;

fn allocator_code(a: Allocator) -> Result<Option<i32>, String> {
    let mimalloc_available = cfg!(Py_3_13);
    Ok(match a {
        Allocator::Auto if std::env::var_os("PYTHONMALLOC").is_none() && mimalloc_available => {
            Some(PYMEM_ALLOCATOR_MIMALLOC)
        }
        Allocator::Auto | Allocator::Default => None,
        Allocator::Mimalloc if mimalloc_available => Some(PYMEM_ALLOCATOR_MIMALLOC),
        Allocator::Mimalloc => return Err("the mimalloc allocator needs Python 3.13 or newer".into()),
        Allocator::Pymalloc => Some(PYMEM_ALLOCATOR_PYMALLOC),
        Allocator::Malloc => Some(PYMEM_ALLOCATOR_MALLOC),
    })
}

/// Facts about the running interpreter.
#[derive(Clone, Debug)]
pub struct RuntimeInfo {
    /// `sys.version`.
    pub version: String,
    /// `(major, minor)`.
    pub version_info: (u32, u32),
    pub executable: String,
    pub libpython: String,
}

struct Runtime {
    info: RuntimeInfo,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static STARTING: Mutex<()> = Mutex::new(());

/// Starts Python if it is not running yet. Later calls return the same
/// result: CPython cannot be restarted inside one process.
pub fn start(config: &RuntimeConfig) -> Result<RuntimeInfo, String> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.info.clone());
    }
    let _guard = STARTING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.info.clone());
    }
    let (tx, rx) = mpsc::channel();
    let config = config.clone();
    thread::Builder::new()
        .name("py-main".into())
        .spawn(move || main_thread(config, tx))
        .map_err(|e| format!("cannot start the Python main thread: {e}"))?;
    let info = rx.recv().map_err(|_| "the Python main thread died during start-up".to_string())??;
    let _ = RUNTIME.set(Runtime { info: info.clone() });
    Ok(info)
}

/// The init function of a built-in module (`PyInit_<name>`).
pub type ModuleInit = unsafe extern "C" fn() -> *mut ffi::PyObject;

fn extra_modules() -> &'static Mutex<Vec<(&'static CStr, ModuleInit)>> {
    static EXTRA: OnceLock<Mutex<Vec<(&'static CStr, ModuleInit)>>> = OnceLock::new();
    EXTRA.get_or_init(Default::default)
}

/// Modules every interpreter imports as it starts, before any request runs:
/// an import cut short by an interrupt (a timeout landing inside `import
/// asyncio`, say) can leave a package half imported for the interpreter's
/// life, so modules the library itself needs are never first imported
/// inside a request.
fn preloaded_modules() -> &'static Mutex<Vec<&'static CStr>> {
    static PRELOADED: OnceLock<Mutex<Vec<&'static CStr>>> = OnceLock::new();
    PRELOADED.get_or_init(Default::default)
}

/// Registers a module every interpreter imports as it starts; for built-in modules registered with
/// [`add_builtin_module`] that the library's own code imports lazily.
pub fn preload_module(name: &'static CStr) {
    let mut list = preloaded_modules().lock().unwrap_or_else(|p| p.into_inner());
    if !list.contains(&name) {
        list.push(name);
    }
}

/// Imports the preloaded modules into the current interpreter; a failure
/// is left for the first request that imports the module to report.
pub(crate) fn import_preloaded(_py: Attached<'_>) {
    let names = preloaded_modules().lock().unwrap_or_else(|p| p.into_inner()).clone();
    for name in names {
        // SAFETY: attached (token); the module reference is dropped at once.
        unsafe {
            let m = ffi::PyImport_ImportModule(name.as_ptr());
            if m.is_null() {
                ffi::PyErr_Clear();
            } else {
                ffi::Py_DECREF(m);
            }
        }
    }
}

/// Registers a built-in module that every interpreter can import (like
/// `erlang`). Only effective before [`start`]; returns false after it.
pub fn add_builtin_module(name: &'static CStr, init: ModuleInit) -> bool {
    if is_running() {
        return false;
    }
    let mut extra = extra_modules().lock().unwrap_or_else(|p| p.into_inner());
    if !extra.iter().any(|(n, _)| *n == name) {
        extra.push((name, init));
    }
    true
}

/// Whether [`start`] has succeeded in this process.
pub fn is_running() -> bool {
    RUNTIME.get().is_some()
}

/// The running interpreter's facts, if started.
pub fn info() -> Option<RuntimeInfo> {
    RUNTIME.get().map(|r| r.info.clone())
}

fn default_executable() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ERLANG_PYTHON_EXECUTABLE") {
        return Some(PathBuf::from(p));
    }
    option_env!("PY_CORE_BUILD_EXECUTABLE").map(PathBuf::from)
}

fn main_thread(config: RuntimeConfig, tx: mpsc::Sender<Result<RuntimeInfo, String>>) {
    match initialize(&config) {
        Ok((info, tstate)) => {
            crate::release::prepare_janitor();
            let _ = tx.send(Ok(info));
            // The main thread state stays with this thread, which from now
            // on only releases main-interpreter objects dropped elsewhere.
            crate::release::run_janitor(tstate.0)
        }
        Err(e) => {
            let _ = tx.send(Err(e));
        }
    }
}

/// The main thread state, saved after start-up.
struct MainThreadState(*mut ffi::PyThreadState);

fn initialize(config: &RuntimeConfig) -> Result<(RuntimeInfo, MainThreadState), String> {
    let libpython = crate::dl::promote_libpython()?;
    let executable = config.executable.clone().or_else(default_executable);
    // SAFETY: this runs once per process (guarded by `STARTING` and
    // `RUNTIME`), before any other Python API use, on the thread that will
    // own the main thread state. The config is initialised, used and cleared
    // on this stack.
    unsafe {
        if ffi::Py_IsInitialized() != 0 {
            return Err("Python is already initialised in this process by someone else".into());
        }
        if config.forbid_process_creation {
            // Adding an audit hook before initialisation is allowed (it then
            // covers every interpreter); the hook lives for the process.
            if let Some(hook) = crate::sandbox::to_install() {
                PySys_AddAuditHook(hook, std::ptr::null_mut());
            }
        }
        if ffi::PyImport_AppendInittab(c"erlang".as_ptr(), Some(erlang_module::init_erlang_module)) != 0 {
            return Err("cannot register the erlang module".into());
        }
        for (name, init) in extra_modules().lock().unwrap_or_else(|p| p.into_inner()).iter() {
            if ffi::PyImport_AppendInittab(name.as_ptr(), Some(*init)) != 0 {
                return Err(format!("cannot register the {} module", name.to_string_lossy()));
            }
        }
        if !config.keep_malloc_thresholds {
            tune_glibc_malloc();
        }
        if let Some(code) = allocator_code(config.allocator)? {
            let mut pre: ffi::PyPreConfig = std::mem::zeroed();
            ffi::PyPreConfig_InitPythonConfig(&mut pre);
            pre.allocator = code;
            let status = ffi::Py_PreInitialize(&pre);
            if ffi::PyStatus_Exception(status) != 0 {
                return Err(status_message(&status, "Python pre-initialisation failed"));
            }
        }
        let mut cfg: ffi::PyConfig = std::mem::zeroed();
        ffi::PyConfig_InitPythonConfig(&mut cfg);
        cfg.install_signal_handlers = 0;
        cfg.parse_argv = 0;
        cfg.faulthandler = i32::from(config.faulthandler);
        if let Some(exe) = &executable {
            let exe_c = CString::new(exe.to_string_lossy().as_bytes()).map_err(|_| "executable path has a NUL")?;
            let cfg_ptr: *mut ffi::PyConfig = &mut cfg;
            for field in [&raw mut (*cfg_ptr).executable, &raw mut (*cfg_ptr).program_name] {
                let status = ffi::PyConfig_SetBytesString(cfg_ptr, field, exe_c.as_ptr());
                if ffi::PyStatus_Exception(status) != 0 {
                    ffi::PyConfig_Clear(&mut cfg);
                    return Err(status_message(&status, "setting sys.executable"));
                }
            }
        }
        let status = ffi::Py_InitializeFromConfig(&cfg);
        ffi::PyConfig_Clear(&mut cfg);
        if ffi::PyStatus_Exception(status) != 0 {
            return Err(status_message(&status, "Python initialisation failed"));
        }
        let py = Attached::assume();
        if let Err(e) = give_back_sigint() {
            ffi::PyEval_SaveThread();
            return Err(e);
        }
        let info = read_info(py, libpython);
        // Import now so a broken module fails start-up, not the first call
        // (the objects it returns are dropped here, with the GIL held).
        let imported = erlang_module::interpreter_types(py).map(|_| ());
        import_preloaded(py);
        let tstate = MainThreadState(ffi::PyEval_SaveThread());
        let info = info?;
        imported.map_err(|e| format!("importing the erlang module: {}: {}", e.class, e.message))?;
        Ok((info, tstate))
    }
}

/// The `signal` module takes SIGINT for itself on import when its
/// disposition is the default, even with `install_signal_handlers = 0`
/// (then Ctrl-C in a VM started with `+Bd` would be swallowed). Import it
/// now, on the main thread of the main interpreter, and put the default back.
///
/// # Safety
/// Python is initialised and this thread holds the GIL as its main thread.
unsafe fn give_back_sigint() -> Result<(), String> {
    let code = c"import signal as _s\nif _s.getsignal(_s.SIGINT) is _s.default_int_handler:\n    _s.signal(_s.SIGINT, _s.SIG_DFL)\ndel _s\n";
    // SAFETY: caller contract; PyRun_SimpleString runs in __main__.
    if unsafe { ffi::PyRun_SimpleString(code.as_ptr()) } != 0 {
        return Err("cannot restore the SIGINT disposition".into());
    }
    Ok(())
}

/// # Safety
/// The status comes from a PyConfig/PyInit function.
unsafe fn status_message(status: &ffi::PyStatus, context: &str) -> String {
    let msg = if status.err_msg.is_null() {
        "unknown error".to_string()
    } else {
        // SAFETY: a non-null err_msg is a static C string.
        unsafe { CStr::from_ptr(status.err_msg) }.to_string_lossy().into_owned()
    };
    format!("{context}: {msg}")
}

fn read_info(_py: Attached<'_>, libpython: String) -> Result<RuntimeInfo, String> {
    let fetch = |name: &CStr| -> Result<py_convert::PyObj, String> {
        // SAFETY: attached thread (token); PySys_GetObject returns a borrowed
        // reference which `from_borrowed` turns into an owned one.
        unsafe {
            let o = ffi::PySys_GetObject(name.as_ptr());
            std::ptr::NonNull::new(o)
                .map(|p| py_convert::PyObj::from_borrowed(p))
                .ok_or_else(|| format!("sys.{} is missing", name.to_string_lossy()))
        }
    };
    let as_text = |o: &py_convert::PyObj| -> String {
        // SAFETY: attached thread; the objects are str (checked by the API
        // returning None otherwise, which we map to empty text).
        unsafe {
            if ffi::PyUnicode_Check(o.as_ptr()) != 0 {
                py_convert::pyobj::str_to_string(o).unwrap_or_default()
            } else {
                String::new()
            }
        }
    };
    let version = as_text(&fetch(c"version")?);
    let executable = as_text(&fetch(c"executable")?);
    // SAFETY: version macros are compile-time constants of the linked ABI;
    // Py_GetVersion returns a static string.
    let v = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }.to_string_lossy().into_owned();
    let mut parts = v.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
    let major = parts.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let minor = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok(RuntimeInfo { version, version_info: (major, minor), executable, libpython })
}
