//! What a task sees on its context thread: the interpreter's `erlang`
//! types, the context's namespace, and calls, `eval` and `exec` with the
//! caches that keep the hot path short (interned names, compiled code).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::Arc;

use py_convert::capi::{self, CodeMode};
use py_convert::{Attached, ErlTypes, Limits, PyErrInfo, PyObj};

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
        let builtins = capi::import(py, c"builtins").ok_or_else(|| crate::interp::error_text(py))?;
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
        capi::clear_error(self.py())
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

    /// The result of a layer call, or the error it left set.
    #[inline]
    fn owned(&self, p: Option<PyObj>) -> Result<PyObj, PyErrInfo> {
        p.ok_or_else(|| self.take_error())
    }

    /// `Ok`, or the error a layer call left set.
    #[inline]
    fn done(&self, r: Result<(), capi::Raised>) -> Result<(), PyErrInfo> {
        r.map_err(|_| self.take_error())
    }

    /// A fresh namespace like `__main__`'s: `__name__`, `__builtins__`, and
    /// `erlang` already bound.
    pub fn new_namespace(&self) -> Result<PyObj, PyErrInfo> {
        if let Some(template) = self.template.borrow().as_ref() {
            return self.owned(capi::dict_copy(self.py(), template));
        }
        let py = self.py();
        let d = self.owned(capi::new_dict(py))?;
        let name = self.owned(capi::new_str(py, "__main__"))?;
        self.done(capi::dict_set_str(py, &d, c"__name__", &name))?;
        self.done(capi::dict_set_str(py, &d, c"__builtins__", &self.builtins))?;
        // `erlang` is there without an import, as in the C library's
        // injected namespaces.
        self.done(capi::dict_set_str(py, &d, c"erlang", &self.erlang_module))?;
        Ok(d)
    }

    /// Makes new process-local namespaces start as copies of `template`
    /// (the context's preloaded globals); `None` goes back to empty ones.
    /// The context's own namespace gets the template's names too.
    pub fn set_namespace_template(&self, template: Option<PyObj>) -> Result<(), PyErrInfo> {
        if let Some(t) = &template {
            // Both are dicts (the caller checked the template).
            self.done(capi::dict_update(self.py(), &self.globals, t))?;
        }
        *self.template.borrow_mut() = template;
        Ok(())
    }

    /// An interned `str` for a name, cached.
    pub fn name(&self, bytes: &[u8]) -> Result<PyObj, PyErrInfo> {
        if let Some(n) = self.names.borrow().get(bytes) {
            return Ok(n.clone());
        }
        let s = capi::intern(self.py(), self.owned(capi::decode_utf8(self.py(), bytes))?);
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
        match capi::imported_module(self.py(), &name) {
            Ok(Some(m)) => Ok(m),
            Ok(None) => self.owned(capi::import_obj(self.py(), &name)),
            Err(capi::Raised) => Err(self.take_error()),
        }
    }

    /// `getattr(obj, name)` for one name.
    pub fn getattr(&self, obj: &PyObj, name: &[u8]) -> Result<PyObj, PyErrInfo> {
        let n = self.name(name)?;
        self.owned(capi::getattr_obj(self.py(), obj, &n))
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
            match capi::dict_get(self.py(), &ns, &key) {
                Ok(Some(found)) => found,
                Err(capi::Raised) => return Err(self.take_error()),
                Ok(None) => {
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
        self.owned(capi::vectorcall(self.py(), callable, args, kwargs))
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
        let code = self.owned(capi::compile(self.py(), &text, c"<string>", mode))?;
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
        self.owned(capi::eval_code(self.py(), &code, globals, locals))
    }

    /// Executes statements in `globals` (the context's namespace if `None`).
    pub fn exec(&self, source: &[u8], globals: Option<&PyObj>) -> Result<(), PyErrInfo> {
        let code = self.compile(source, CodeMode::Exec)?;
        let globals = globals.unwrap_or(&self.globals).clone();
        self.owned(capi::eval_code(self.py(), &code, &globals, &globals))?;
        Ok(())
    }

    /// A `dict` from converted keyword arguments.
    pub fn new_dict(&self) -> Result<PyObj, PyErrInfo> {
        self.owned(capi::new_dict(self.py()))
    }

    /// `d[key] = value`.
    pub fn dict_set(&self, d: &PyObj, key: &PyObj, value: &PyObj) -> Result<(), PyErrInfo> {
        self.done(capi::dict_set(self.py(), d, key, value))
    }
}
