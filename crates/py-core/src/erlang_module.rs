//! The built-in `erlang` module, registered before Python starts so every
//! interpreter (the main one and each own-GIL sub-interpreter) imports its
//! own copy with its own state.
//!
//! It is written on the raw C API with multi-phase initialisation: pyo3's
//! `#[pymodule]` is refused in sub-interpreters and its caches are shared
//! across interpreters. Each copy holds the interpreter's `erlang.Pid`,
//! `erlang.Ref` and `erlang.Atom` types in its module state.
//!
//! The functions that reach the VM (`call`, `send`, `whereis`, `atom`, the
//! logging and tracing sinks) are thin shims over a [`Bridge`] that the NIF
//! layer installs; the rest of the module is Python
//! (`python/erlang_module.py`), executed into each copy.

use std::ffi::{c_void, CStr};
use std::ptr;
use std::sync::{Mutex, OnceLock};

use py_convert::capi::{
    self, boolean, exec_module_source, fast, int, into_raw_or_null, none_raw, null, raise, wrong_args, MethodDef,
    PyExc, RawObj, METHODS_END,
};
use py_convert::{Attached, ErlTypes, PyErrInfo, PyObj};

/// What the `erlang` module needs from the VM. Each method runs on a thread
/// attached to the calling interpreter and returns `None` with a Python
/// exception set on failure (C-API style). `module` is the calling
/// interpreter's `erlang` module (for its exception classes and types).
pub trait Bridge: Send + Sync + 'static {
    /// `erlang.call(name, *args)`.
    fn call(&self, py: Attached<'_>, module: &PyObj, name: &PyObj, args: &[PyObj]) -> Option<PyObj>;
    /// `erlang.send(pid, term)`.
    fn send(&self, py: Attached<'_>, module: &PyObj, pid: &PyObj, term: &PyObj) -> Option<()>;
    /// `erlang.whereis(name)`: a Pid or None.
    fn whereis(&self, py: Attached<'_>, module: &PyObj, name: &PyObj) -> Option<PyObj>;
    /// `erlang.atom(name)`: an Atom, within the process-wide atom budget.
    fn atom(&self, py: Attached<'_>, module: &PyObj, name: &PyObj) -> Option<PyObj>;
    /// Whether `name` is a registered callback.
    fn is_registered(&self, name: &str) -> bool;
    /// A log record for the Erlang logger.
    fn log(
        &self,
        py: Attached<'_>,
        module: &PyObj,
        level: i64,
        logger: &PyObj,
        message: &PyObj,
        meta: &PyObj,
    ) -> Option<()>;
    /// The lowest Python level the Erlang side wants.
    fn log_level(&self) -> i64;
    /// A tracing event (`start`, `event`, `end`) with its fields.
    fn trace(&self, py: Attached<'_>, module: &PyObj, fields: &[PyObj]) -> Option<()>;
    /// Whether tracing is enabled.
    fn tracing(&self) -> bool;
    /// Starts an asynchronous callback: returns `(fd, token)`; the fd turns
    /// readable when the result is there.
    fn async_call_start(&self, py: Attached<'_>, module: &PyObj, name: &PyObj, args: &[PyObj]) -> Option<PyObj>;
    /// The result of a finished asynchronous callback (or its exception).
    fn async_call_finish(&self, py: Attached<'_>, module: &PyObj, token: &PyObj) -> Option<PyObj>;
    /// Forgets an asynchronous callback whose awaiter went away.
    fn async_call_cancel(&self, py: Attached<'_>, token: &PyObj);
}

static BRIDGE: OnceLock<Box<dyn Bridge>> = OnceLock::new();

/// Installs the VM bridge (once, when the NIF library loads).
pub fn set_bridge(bridge: Box<dyn Bridge>) {
    let _ = BRIDGE.set(bridge);
}

/// Stores a namespace template in the worker of the context running on
/// this thread (`None`: no context runs here). The context module owns that
/// state and installs the sink as its first context starts.
pub(crate) type TemplateSink = fn(Option<PyObj>) -> Option<Result<(), PyErrInfo>>;

static TEMPLATE_SINK: OnceLock<TemplateSink> = OnceLock::new();

pub(crate) fn set_template_sink(sink: TemplateSink) {
    let _ = TEMPLATE_SINK.set(sink);
}

/// Built-in modules that extend `erlang` (see [`extend`]).
static EXTENSIONS: Mutex<Vec<&'static CStr>> = Mutex::new(Vec::new());

/// Makes the built-in module `module` part of `erlang`: the names it lists
/// in `_ERLANG_NAMES` become attributes of `erlang`, and each entry
/// `sub: attribute` of its `_ERLANG_SUBMODULES` the submodule
/// `erlang.sub` (the module itself, or its `attribute`). The crates above
/// this one (the event loop, channels) call it as they register, so this
/// crate knows none of their names. Call before Python starts.
pub fn extend(module: &'static CStr) {
    let mut list = EXTENSIONS.lock().unwrap_or_else(|p| p.into_inner());
    if !list.contains(&module) {
        list.push(module);
    }
}

/// The Python half of the module.
const PYTHON_PART: &str = include_str!("python/erlang_module.py");

/// Per-interpreter module state (zeroed by CPython, so `None` at first).
struct ModuleState {
    types: Option<ErlTypes>,
    /// `ScheduleMarker` and `InlineScheduleMarker`, compared by identity
    /// against every result of a call from Erlang.
    markers: Option<(PyObj, PyObj)>,
}

py_convert::exec_slot!(exec_module, |py, m| {
    // The module's state is `m_size` zeroed bytes, which is a valid
    // `ModuleState` (`None`).
    let state = capi::module_state::<ModuleState>(&m);
    if state.is_null() {
        return -1;
    }
    let result = ErlTypes::create(py, &m).and_then(|types| {
        // SAFETY: the state is this module's, zeroed (see above); writing
        // a whole value does not drop the zeroed one.
        unsafe { ptr::write(state, ModuleState { types: Some(types), markers: None }) };
        add_python_part(py, &m)?;
        let class = |name: &CStr| capi::getattr(py, &m, name).ok_or_else(|| PyErrInfo::fetch(py));
        let markers = (class(c"ScheduleMarker")?, class(c"InlineScheduleMarker")?);
        // SAFETY: initialised just above; the GIL serialises access.
        unsafe { (*state).markers = Some(markers) };
        Ok(())
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            raise(py, PyExc::ImportError, &format!("erlang module: {}: {}", e.class, e.message));
            -1
        }
    }
});

/// Runs the module's Python half in its namespace.
fn add_python_part(py: Attached<'_>, module: &PyObj) -> Result<(), PyErrInfo> {
    exec_module_source(py, module, PYTHON_PART, c"<erlang module>")
}

unsafe extern "C" fn free_module(module: *mut c_void) {
    // SAFETY: called once by CPython with the GIL held when the module is
    // freed; the state was initialised by `exec_module` (or is still zeroed,
    // which drops as `None`).
    unsafe {
        let state = capi::module_state_raw::<ModuleState>(module);
        if !state.is_null() {
            if let Some(types) = &(*state).types {
                types.clear_caches(Attached::assume());
            }
            ptr::drop_in_place(state);
        }
    }
}

static mut METHODS: [MethodDef; 16] = [
    fast(c"call", erlang_call, c"call(name, *args): run the Erlang function registered as `name`."),
    fast(c"send", erlang_send, c"send(pid, term): send `term` to an Erlang process."),
    fast(c"whereis", erlang_whereis, c"whereis(name): the Pid registered as `name`, or None."),
    fast(c"atom", erlang_atom, c"atom(name): an Erlang atom (a process-wide budget applies)."),
    fast(c"consume_time_slice", erlang_consume_time_slice, c"consume_time_slice(percent): always False here."),
    fast(c"_is_registered", erlang_is_registered, c""),
    fast(c"_log", erlang_log, c""),
    fast(c"_log_level", erlang_log_level, c""),
    fast(c"_trace", erlang_trace, c""),
    fast(c"_tracing", erlang_tracing, c""),
    fast(c"_async_call_start", erlang_async_call_start, c""),
    fast(c"_async_call_finish", erlang_async_call_finish, c""),
    fast(c"_async_call_cancel", erlang_async_call_cancel, c""),
    fast(c"_set_namespace_template", erlang_set_namespace_template, c""),
    fast(c"_extension_modules", erlang_extension_modules, c""),
    METHODS_END,
];

fn bridge() -> Option<&'static dyn Bridge> {
    BRIDGE.get().map(|b| b.as_ref())
}

fn no_vm() -> RawObj {
    capi::runtime_error(c"the erlang module only works inside an Erlang VM")
}

py_convert::fastcall_entry!(erlang_call, |py, module, args| {
    let Some(b) = bridge() else { return no_vm() };
    let Some((name, rest)) = args.split_first() else {
        return wrong_args(c"call() needs the name of a registered function");
    };
    b.call(py, &module, name, rest).map_or(null(), PyObj::into_raw)
});

py_convert::fastcall_entry!(erlang_send, |py, module, args| {
    let Some(b) = bridge() else { return no_vm() };
    let [pid, term] = args.as_slice() else { return wrong_args(c"send(pid, term) takes 2 arguments") };
    match b.send(py, &module, pid, term) {
        Some(()) => none_raw(),
        None => ptr::null_mut(),
    }
});

py_convert::fastcall_entry!(erlang_whereis, |py, module, args| {
    let Some(b) = bridge() else { return no_vm() };
    let [name] = args.as_slice() else { return wrong_args(c"whereis(name) takes 1 argument") };
    b.whereis(py, &module, name).map_or(null(), PyObj::into_raw)
});

py_convert::fastcall_entry!(erlang_atom, |py, module, args| {
    let Some(b) = bridge() else { return no_vm() };
    let [name] = args.as_slice() else { return wrong_args(c"atom(name) takes 1 argument") };
    b.atom(py, &module, name).map_or(null(), PyObj::into_raw)
});

// `_set_namespace_template(globals)`: process-local namespaces of this
// context start as copies of `globals` (the context's preload); None
// clears it. False off a context thread.
py_convert::fastcall_entry!(erlang_set_namespace_template, |py, _module, args| {
    let [globals] = args.as_slice() else { return wrong_args(c"_set_namespace_template(globals)") };
    let template = if capi::is_none(globals) {
        None
    } else if capi::is_dict(globals) {
        Some(globals.clone())
    } else {
        return wrong_args(c"_set_namespace_template needs a dict or None");
    };
    match TEMPLATE_SINK.get().and_then(|sink| sink(template)) {
        Some(Ok(())) => boolean(true),
        Some(Err(e)) => {
            raise(py, PyExc::RuntimeError, &format!("{}: {}", e.class, e.message));
            ptr::null_mut()
        }
        None => boolean(false),
    }
});

py_convert::fastcall_entry!(erlang_consume_time_slice, |_py, _module, _args| {
    // Python never runs inside a NIF call on a scheduler here: there is no
    // time slice to consume.
    boolean(false)
});

py_convert::fastcall_entry!(erlang_is_registered, |py, _module, args| {
    let Some(b) = bridge() else { return boolean(false) };
    let [name] = args.as_slice() else { return wrong_args(c"_is_registered(name)") };
    // A str argument (anything else is not registered).
    let text = capi::str_text(py, name);
    boolean(text.is_some_and(|t| b.is_registered(&t)))
});

py_convert::fastcall_entry!(erlang_log, |py, module, args| {
    let Some(b) = bridge() else { return none_raw() };
    let [level, logger, message, meta] = args.as_slice() else {
        return wrong_args(c"_log(level, name, message, meta)");
    };
    let Some(level) = capi::int_arg(py, level) else { return null() };
    match b.log(py, &module, level, logger, message, meta) {
        Some(()) => none_raw(),
        None => ptr::null_mut(),
    }
});

py_convert::fastcall_entry!(erlang_log_level, |_py, _module, _args| {
    let level = bridge().map_or(i64::MAX, |b| b.log_level());
    int(level)
});

py_convert::fastcall_entry!(erlang_trace, |py, module, args| {
    let Some(b) = bridge() else { return none_raw() };
    match b.trace(py, &module, &args) {
        Some(()) => none_raw(),
        None => ptr::null_mut(),
    }
});

py_convert::fastcall_entry!(erlang_extension_modules, |py, _module, _args| {
    let names = EXTENSIONS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let items: Option<Vec<PyObj>> = names.iter().map(|n| capi::new_str(py, &n.to_string_lossy())).collect();
    into_raw_or_null(items.and_then(|items| capi::tuple_of(py, &items)))
});

py_convert::fastcall_entry!(erlang_tracing, |_py, _module, _args| { boolean(bridge().is_some_and(|b| b.tracing())) });

py_convert::fastcall_entry!(erlang_async_call_start, |py, module, args| {
    let Some(b) = bridge() else { return no_vm() };
    let [name, call_args] = args.as_slice() else { return wrong_args(c"_async_call_start(name, args)") };
    let Some(items) = capi::tuple_items(py, call_args) else {
        return wrong_args(c"_async_call_start: args must be a tuple");
    };
    b.async_call_start(py, &module, name, &items).map_or(null(), PyObj::into_raw)
});

py_convert::fastcall_entry!(erlang_async_call_finish, |py, module, args| {
    let Some(b) = bridge() else { return no_vm() };
    let [token] = args.as_slice() else { return wrong_args(c"_async_call_finish(token)") };
    b.async_call_finish(py, &module, token).map_or(null(), PyObj::into_raw)
});

py_convert::fastcall_entry!(erlang_async_call_cancel, |py, _module, args| {
    if let (Some(b), [token]) = (bridge(), args.as_slice()) {
        b.async_call_cancel(py, token);
    }
    none_raw()
});

py_convert::builtin_module!(
    pub(crate) init_erlang_module,
    c"erlang",
    c"Talk to the Erlang VM that embeds this interpreter.",
    METHODS,
    exec_module,
    state: ModuleState,
    free: free_module
);

/// Imports this interpreter's `erlang` module and returns its types.
pub fn interpreter_types(py: Attached<'_>) -> Result<(PyObj, ErlTypes), PyErrInfo> {
    let m = capi::import(py, c"erlang").ok_or_else(|| PyErrInfo::fetch(py))?;
    let state = capi::module_state::<ModuleState>(&m);
    if state.is_null() {
        return Err(PyErrInfo::fetch(py));
    }
    // SAFETY: the module's state was initialised by its exec slot before
    // the import returned; the GIL (token) serialises access.
    unsafe {
        let types = (*state).types.as_ref().ok_or_else(|| PyErrInfo {
            class: "ImportError".into(),
            message: "erlang module state is not initialised".into(),
            traceback: None,
        })?;
        Ok((m, types.clone_refs()))
    }
}

/// The exception class `name` of the calling interpreter's `erlang` module
/// (a new reference), for raising from the bridge.
pub fn exception_class(py: Attached<'_>, module: &PyObj, name: &CStr) -> Option<PyObj> {
    capi::getattr(py, module, name)
}

/// Raises `erlang.<class_name>(message, *extra)` (falling back to
/// RuntimeError if the class is missing). Returns the null "error" value.
pub fn raise_erlang(py: Attached<'_>, module: &PyObj, class_name: &CStr, message: &str, extra: Option<&PyObj>) {
    let Some(class) = exception_class(py, module, class_name) else {
        capi::clear_error(py);
        raise(py, PyExc::RuntimeError, message);
        return;
    };
    let Some(text) = capi::new_str(py, message) else { return };
    let exc = match extra {
        Some(e) => capi::vectorcall(py, &class, &[text, e.clone()], None),
        None => capi::call1(py, &class, &text),
    };
    if let Some(exc) = exc {
        capi::raise_instance(py, &class, &exc);
    }
}

/// The interpreter's Erlang types from its `erlang` module object.
pub fn module_types(module: &PyObj) -> Option<&ErlTypes> {
    let state = capi::module_state::<ModuleState>(module);
    if state.is_null() {
        return None;
    }
    // SAFETY: `module` is an `erlang` module (callers pass the `self` of
    // its functions), whose state was initialised by `exec_module` and
    // lives as long as the module.
    unsafe { (*state).types.as_ref() }
}

/// What a function called from Erlang asked for by returning a marker.
pub enum Marker {
    /// `erlang.schedule(...)`: Erlang runs the registered `callback` with
    /// `args` (a list) and its result becomes the call's result.
    Erlang { callback: PyObj, args: PyObj },
    /// `erlang.schedule_inline(...)`: continue with `module.func(*args,
    /// **kwargs)` on the same thread.
    Inline { module: PyObj, func: PyObj, args: PyObj, kwargs: PyObj },
}

/// The marker `obj` is, if it is one (`module` is the interpreter's
/// `erlang` module). A marker with attributes missing is not a marker.
pub fn marker(py: Attached<'_>, module: &PyObj, obj: &PyObj) -> Option<Marker> {
    let state = capi::module_state::<ModuleState>(module);
    // SAFETY: `module` is an initialised `erlang` module (the worker's), so
    // its state is a live `ModuleState`.
    let (schedule, inline) = unsafe { (*state).markers.as_ref()? };
    let attr = |name: &CStr| capi::getattr_opt(py, obj, name);
    if capi::has_type(obj, schedule) {
        Some(Marker::Erlang { callback: attr(c"callback")?, args: attr(c"args")? })
    } else if capi::has_type(obj, inline) {
        Some(Marker::Inline {
            module: attr(c"module")?,
            func: attr(c"func")?,
            args: attr(c"args")?,
            kwargs: attr(c"kwargs")?,
        })
    } else {
        None
    }
}

/// Whether `obj` is an `erlang.Pid` of this interpreter.
pub fn is_pid(types: &ErlTypes, obj: &PyObj) -> bool {
    capi::type_of(obj) == types.pid_type()
}
