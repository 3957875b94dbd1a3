//! What a task sees on its context thread: the interpreter's `erlang`
//! types, the context's namespace, and calls, `eval` and `exec` with the
//! caches that keep the hot path short (interned names, compiled code).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, CString};
use std::ptr::{self, NonNull};
use std::sync::Arc;

use py_convert::{Attached, ErlTypes, Limits, PyErrInfo, PyObj};
use pyo3_ffi as ffi;

use crate::erlang_module;
use crate::release::{Held, Owner};
use crate::run_state::RunState;

/// Bounds on the per-context caches (cleared wholesale when full: entries
/// are cheap to rebuild, and typical programs use a handful).
const MAX_CACHED_NAMES: usize = 4096;
const MAX_CACHED_CODE: usize = 512;

/// Builtins that read the caller's Python frame; called straight from C
/// they fail with "frame does not exist", so they run through a one-line
/// Python function whose globals are the namespace in use.
const FRAME_BUILTINS: [&[u8]; 6] = [b"exec", b"eval", b"globals", b"locals", b"vars", b"dir"];
const TRAMPOLINE: &[u8] = b"lambda __f, *a, **k: __f(*a, **k)";

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum CodeMode {
    Eval,
    Exec,
}

/// Compiled code by mode and source text.
type CodeCache = HashMap<(CodeMode, Box<[u8]>), PyObj>;

/// Per-context Python state. Only reachable from tasks, which run while the
/// thread is attached, so every method may use the interpreter.
///
/// Every method takes `&self`: a task's Python code may call back into
/// Erlang, and the context then runs nested tasks on the same thread while
/// the outer one waits, so several tasks hold the worker at once. The
/// caches use short `RefCell` borrows that never span a Python call.
pub struct Worker {
    types: ErlTypes,
    erlang_module: PyObj,
    builtins: PyObj,
    globals: PyObj,
    limits: Limits,
    names: RefCell<HashMap<Box<[u8]>, PyObj>>,
    code: RefCell<CodeCache>,
    /// Report tracebacks with errors (set per task by the caller).
    want_traceback: Cell<bool>,
    run: Arc<RunState>,
    owner: Owner,
    /// What new process-local namespaces start from (the preload's
    /// globals), if anything.
    template: RefCell<Option<PyObj>>,
}

impl Worker {
    pub(crate) fn new(py: Attached<'_>, limits: Limits, run: Arc<RunState>, owner: Owner) -> Result<Worker, String> {
        let (module, types) =
            erlang_module::interpreter_types(py).map_err(|e| format!("{}: {}", e.class, e.message))?;
        // SAFETY: attached (token); owned references throughout.
        let builtins = unsafe { PyObj::from_owned(ffi::PyImport_ImportModule(c"builtins".as_ptr())) }
            .ok_or_else(|| crate::interp::error_text(py))?;
        let mut w = Worker {
            types,
            erlang_module: module,
            globals: builtins.clone(),
            builtins,
            limits,
            names: RefCell::new(HashMap::new()),
            code: RefCell::new(HashMap::new()),
            want_traceback: Cell::new(false),
            run,
            owner,
            template: RefCell::new(None),
        };
        w.globals = w.new_namespace().map_err(|e| format!("{}: {}", e.class, e.message))?;
        Ok(w)
    }

    /// The attachment token. Valid because a `Worker` is only lent to tasks
    /// running on an attached context thread.
    #[inline]
    pub fn py(&self) -> Attached<'_> {
        // SAFETY: see above.
        unsafe { Attached::assume() }
    }

    /// Drops what `threading` keeps about this thread while `threading` is
    /// still intact. Python 3.13 otherwise runs the dummy-thread cleanup
    /// while a sub-interpreter is being torn down, after the module's
    /// globals are gone, and prints an ignored TypeError.
    pub(crate) fn forget_thread(&self) {
        const FORGET: &[u8] = b"import sys as _s\n\
_t = _s.modules.get('threading')\n\
_i = getattr(_t, '_thread_local_info', None)\n\
if _i is not None and hasattr(_i, '_track_dummy_thread_ref'):\n    del _i._track_dummy_thread_ref\n";
        if let Ok(ns) = self.new_namespace() {
            let _ = self.exec(FORGET, Some(&ns));
        }
        self.clear_error();
    }

    /// This interpreter's `erlang` module.
    pub fn erlang_module(&self) -> &PyObj {
        &self.erlang_module
    }

    /// The scheduling marker a call's result is, if it is one.
    pub fn marker(&self, obj: &PyObj) -> Option<erlang_module::Marker> {
        erlang_module::marker(self.py(), &self.erlang_module, obj)
    }

    #[inline]
    pub fn types(&self) -> &ErlTypes {
        &self.types
    }

    #[inline]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The context's own namespace (used when a call names no environment).
    pub fn globals(&self) -> &PyObj {
        &self.globals
    }

    /// Whether errors should carry a formatted traceback.
    pub fn set_want_traceback(&self, yes: bool) {
        self.want_traceback.set(yes);
    }

    /// The current Python error, taken and cleared.
    pub fn take_error(&self) -> PyErrInfo {
        PyErrInfo::fetch_with(self.py(), self.want_traceback.get())
    }

    /// Clears any pending Python error (a task must leave none behind).
    pub fn clear_error(&self) {
        // SAFETY: attached (see `py`).
        unsafe { ffi::PyErr_Clear() }
    }

    /// Who releases objects of this context's interpreter.
    pub fn owner(&self) -> Owner {
        self.owner.clone()
    }

    /// Keeps `obj` beyond this task, safely droppable on any thread.
    pub fn hold(&self, obj: PyObj) -> Held {
        Held::new(obj, self.owner.clone())
    }

    /// This context's interpreter id.
    pub fn interp_id(&self) -> i64 {
        self.owner.interp_id()
    }

    /// Ends the interruptible part of the current task: an interrupt aimed
    /// at it is ignored from now on (call once its result is converted,
    /// before replying). Returns true if an interrupt reached the task but
    /// its Python code never saw it: it came while C code ran (a call
    /// straight to a C function, a conversion) and no bytecode ran after.
    /// The task then reports itself interrupted, as the caller asked,
    /// rather than losing the interrupt.
    pub fn settle_request(&self) -> bool {
        let mut unseen = false;
        if self.run.interrupt_delivered() {
            // A pending asynchronous exception fires at the first bytecode.
            if let Err(e) = self.eval(b"None", None, None) {
                unseen = e.class == "KeyboardInterrupt";
            }
            self.clear_error();
        }
        self.run.settle();
        unseen
    }

    #[inline]
    fn owned(&self, p: *mut ffi::PyObject) -> Result<PyObj, PyErrInfo> {
        // SAFETY: `p` is a new reference or null from a call on this
        // attached thread.
        unsafe { PyObj::from_owned(p) }.ok_or_else(|| self.take_error())
    }

    /// A fresh namespace like `__main__`'s: `__name__`, `__builtins__`, and
    /// `erlang` already bound.
    pub fn new_namespace(&self) -> Result<PyObj, PyErrInfo> {
        if let Some(template) = self.template.borrow().as_ref() {
            // SAFETY: attached; the copy is a new reference.
            return self.owned(unsafe { ffi::PyDict_Copy(template.as_ptr()) });
        }
        // SAFETY: attached; owned references.
        unsafe {
            let d = self.owned(ffi::PyDict_New())?;
            let name = self.owned(ffi::PyUnicode_FromString(c"__main__".as_ptr()))?;
            if ffi::PyDict_SetItemString(d.as_ptr(), c"__name__".as_ptr(), name.as_ptr()) < 0
                || ffi::PyDict_SetItemString(d.as_ptr(), c"__builtins__".as_ptr(), self.builtins.as_ptr()) < 0
                // `erlang` is there without an import, as in the C library's
                // injected namespaces.
                || ffi::PyDict_SetItemString(d.as_ptr(), c"erlang".as_ptr(), self.erlang_module.as_ptr()) < 0
            {
                return Err(self.take_error());
            }
            Ok(d)
        }
    }

    /// Makes new process-local namespaces start as copies of `template`
    /// (the context's preloaded globals); `None` goes back to empty ones.
    /// The context's own namespace gets the template's names too.
    pub fn set_namespace_template(&self, template: Option<PyObj>) -> Result<(), PyErrInfo> {
        if let Some(t) = &template {
            // SAFETY: attached; both are dicts (the caller checked the
            // template).
            if unsafe { ffi::PyDict_Update(self.globals.as_ptr(), t.as_ptr()) } < 0 {
                return Err(self.take_error());
            }
        }
        *self.template.borrow_mut() = template;
        Ok(())
    }

    /// An interned `str` for a name, cached.
    pub fn name(&self, bytes: &[u8]) -> Result<PyObj, PyErrInfo> {
        if let Some(n) = self.names.borrow().get(bytes) {
            return Ok(n.clone());
        }
        // SAFETY: attached; the bytes outlive the call.
        let s = self.owned(unsafe {
            ffi::PyUnicode_DecodeUTF8(bytes.as_ptr() as *const c_char, bytes.len() as ffi::Py_ssize_t, ptr::null())
        })?;
        let mut raw = s.into_raw();
        // SAFETY: `raw` is an owned str; InternInPlace swaps in the interned
        // object, keeping ownership of one reference.
        let s = unsafe {
            ffi::PyUnicode_InternInPlace(&mut raw);
            PyObj::from_owned(raw).expect("interned str")
        };
        let mut names = self.names.borrow_mut();
        if names.len() >= MAX_CACHED_NAMES {
            names.clear();
        }
        names.insert(bytes.into(), s.clone());
        Ok(s)
    }

    /// `sys.modules[name]`, importing it if needed.
    pub fn import(&self, module: &[u8]) -> Result<PyObj, PyErrInfo> {
        let name = self.name(module)?;
        // SAFETY: attached; GetModule returns a new reference or NULL (with
        // or without an error set).
        unsafe {
            if let Some(m) = PyObj::from_owned(ffi::PyImport_GetModule(name.as_ptr())) {
                return Ok(m);
            }
            if !ffi::PyErr_Occurred().is_null() {
                return Err(self.take_error());
            }
            self.owned(ffi::PyImport_Import(name.as_ptr()))
        }
    }

    /// `getattr(obj, name)` for one name.
    pub fn getattr(&self, obj: &PyObj, name: &[u8]) -> Result<PyObj, PyErrInfo> {
        let n = self.name(name)?;
        // SAFETY: attached; both objects alive.
        self.owned(unsafe { ffi::PyObject_GetAttr(obj.as_ptr(), n.as_ptr()) })
    }

    /// The callable `module.func` (dots in `func` walk attributes). For the
    /// module `__main__`, the function is looked up in `env` (the caller's
    /// namespace, or the context's own).
    pub fn resolve(&self, module: &[u8], func: &[u8], env: Option<&PyObj>) -> Result<PyObj, PyErrInfo> {
        let mut parts = func.split(|&b| b == b'.');
        let first = parts.next().unwrap_or(b"");
        let mut obj = if module == b"__main__" {
            let ns = env.unwrap_or(&self.globals).clone();
            let key = self.name(first)?;
            // SAFETY: attached; GetItemWithError returns a borrowed
            // reference or NULL.
            let found = unsafe { ffi::PyDict_GetItemWithError(ns.as_ptr(), key.as_ptr()) };
            match NonNull::new(found) {
                // SAFETY: a live borrowed reference from the dict.
                Some(p) => unsafe { PyObj::from_borrowed(p) },
                None => {
                    // SAFETY: attached.
                    if unsafe { !ffi::PyErr_Occurred().is_null() } {
                        return Err(self.take_error());
                    }
                    let text = String::from_utf8_lossy(first);
                    return Err(PyErrInfo {
                        class: "NameError".into(),
                        message: format!("name '{text}' is not defined"),
                        traceback: None,
                    });
                }
            }
        } else {
            let m = self.import(module)?;
            self.getattr(&m, first)?
        };
        let mut walked = false;
        for part in parts {
            obj = self.getattr(&obj, part)?;
            walked = true;
        }
        if !walked && module == b"builtins" && FRAME_BUILTINS.contains(&first) {
            return self.with_frame(obj, env);
        }
        Ok(obj)
    }

    /// `functools.partial(trampoline, f)`: `f` called from a Python frame
    /// whose globals are `env` (or the context's namespace).
    fn with_frame(&self, f: PyObj, env: Option<&PyObj>) -> Result<PyObj, PyErrInfo> {
        let globals = env.unwrap_or(&self.globals).clone();
        let trampoline = self.eval(TRAMPOLINE, Some(&globals), None)?;
        let partial = self.resolve(b"functools", b"partial", None)?;
        self.call(&partial, &[trampoline, f], None)
    }

    /// `callable(*args, **kwargs)`; `args` are moved into the call.
    pub fn call(&self, callable: &PyObj, args: &[PyObj], kwargs: Option<&PyObj>) -> Result<PyObj, PyErrInfo> {
        // `PyObj` is a transparent pointer, so the slice is an array of
        // object pointers as vectorcall expects.
        let argv = args.as_ptr() as *const *mut ffi::PyObject;
        // SAFETY: attached; the argument array and kwargs dict are alive for
        // the call; vectorcall borrows them.
        self.owned(unsafe {
            match kwargs {
                None => ffi::PyObject_Vectorcall(callable.as_ptr(), argv, args.len(), ptr::null_mut()),
                Some(kw) => ffi::PyObject_VectorcallDict(callable.as_ptr(), argv, args.len(), kw.as_ptr()),
            }
        })
    }

    fn compile(&self, source: &[u8], mode: CodeMode) -> Result<PyObj, PyErrInfo> {
        if let Some(c) = self.code.borrow().get(&(mode, source.into())) {
            return Ok(c.clone());
        }
        let Ok(text) = CString::new(source) else {
            return Err(PyErrInfo {
                class: "ValueError".into(),
                message: "source code string cannot contain null bytes".into(),
                traceback: None,
            });
        };
        let start: c_int = match mode {
            CodeMode::Eval => ffi::Py_eval_input,
            CodeMode::Exec => ffi::Py_file_input,
        };
        // SAFETY: attached; NUL-terminated source and file name.
        let code = self.owned(unsafe {
            ffi::Py_CompileStringExFlags(text.as_ptr(), c"<string>".as_ptr(), start, ptr::null_mut(), -1)
        })?;
        let mut cache = self.code.borrow_mut();
        if cache.len() >= MAX_CACHED_CODE {
            cache.clear();
        }
        cache.insert((mode, source.into()), code.clone());
        Ok(code)
    }

    /// Evaluates an expression in `globals` (the context's namespace if
    /// `None`) with `locals` as its local mapping.
    pub fn eval(&self, source: &[u8], globals: Option<&PyObj>, locals: Option<&PyObj>) -> Result<PyObj, PyErrInfo> {
        let code = self.compile(source, CodeMode::Eval)?;
        let globals = globals.unwrap_or(&self.globals);
        // As Python's `eval(code, globals, locals)` (and the C library): the
        // namespace is `globals()`, so what the expression writes there
        // persists; the locals are a separate mapping that is not kept.
        let locals = locals.unwrap_or(globals);
        // SAFETY: attached; all objects alive for the call.
        self.owned(unsafe { ffi::PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), locals.as_ptr()) })
    }

    /// Executes statements in `globals` (the context's namespace if `None`).
    pub fn exec(&self, source: &[u8], globals: Option<&PyObj>) -> Result<(), PyErrInfo> {
        let code = self.compile(source, CodeMode::Exec)?;
        let globals = globals.unwrap_or(&self.globals).clone();
        // SAFETY: attached; all objects alive for the call.
        self.owned(unsafe { ffi::PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), globals.as_ptr()) })?;
        Ok(())
    }

    /// A `dict` from converted keyword arguments.
    pub fn new_dict(&self) -> Result<PyObj, PyErrInfo> {
        // SAFETY: attached.
        self.owned(unsafe { ffi::PyDict_New() })
    }

    /// `d[key] = value`.
    pub fn dict_set(&self, d: &PyObj, key: &PyObj, value: &PyObj) -> Result<(), PyErrInfo> {
        // SAFETY: attached; all alive; SetItem does not steal.
        if unsafe { ffi::PyDict_SetItem(d.as_ptr(), key.as_ptr(), value.as_ptr()) } < 0 {
            return Err(self.take_error());
        }
        Ok(())
    }
}
