//! The VM side of the `erlang` Python module (see
//! `py_core::erlang_module::Bridge`): callbacks ([`crate::callback`]),
//! messages, registered names, atoms, and the logging and tracing sinks.
//!
//! Everything here runs on threads the VM does not manage (context threads
//! and Python's own threads), where `enif_send` takes no caller env.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use py_convert::capi::PyExc;
use py_convert::model::ModelSink;
use py_convert::{etf, py_to_term, Attached, ConvertError, ErlTypes, PyObj};
use py_core::erlang_module::{self as erlang_module, module_types, raise_erlang, Bridge};
use rustler::sys::ErlNifPid;
use rustler::{Env, Term};

use crate::callback::{self, raise_convert, Args, Callee};
use crate::enif::{self, EnvSink, MsgEnv, NifEnv, RawTerm};
use crate::reply::{atom, binary, int, tuple};
use py_convert::capi;

/// Python log levels below this are dropped before any term is built
/// (`i64::MAX` while no `py_logger` listens).
static LOG_LEVEL: AtomicI64 = AtomicI64::new(i64::MAX);
/// Whether `py_tracer` collects spans.
static TRACING: AtomicBool = AtomicBool::new(false);

pub struct VmBridge;

thread_local! {
    /// A message env per thread, cleared by each send.
    static SEND_ENV: RefCell<MsgEnv> = RefCell::new(MsgEnv::new());
    /// The last pid decoded on this thread: a loop sending to one process
    /// decodes its pid once.
    static LAST_PID: RefCell<Option<(Vec<u8>, ErlNifPid)>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's send env (a fresh one if it is in use).
fn with_send_env<R>(f: impl FnOnce(&mut MsgEnv) -> R) -> R {
    SEND_ENV.with(|cell| match cell.try_borrow_mut() {
        Ok(mut env) => f(&mut env),
        Err(_) => f(&mut MsgEnv::new()),
    })
}

/// How a pid's external form is reached from here.
enum Target {
    Local(ErlNifPid),
    /// A pid on another node: forwarded by `py_callback`.
    Remote,
    Invalid,
}

fn decode_pid(etf_bytes: &[u8]) -> Target {
    let cached = LAST_PID.with(|c| c.borrow().as_ref().filter(|(b, _)| b == etf_bytes).map(|(_, p)| *p));
    if let Some(p) = cached {
        return Target::Local(p);
    }
    let scratch = MsgEnv::new();
    let Some(t) = enif::binary_to_term(scratch.env(), etf_bytes, true) else {
        return Target::Invalid;
    };
    match enif::local_pid(scratch.env(), t) {
        Some(p) => {
            LAST_PID.with(|c| *c.borrow_mut() = Some((etf_bytes.to_vec(), p)));
            Target::Local(p)
        }
        None => Target::Remote,
    }
}

/// Converts `obj` into `env`; `None` for values this thread cannot build
/// (large maps), which then travel in the external format.
fn build(py: Attached<'_>, types: &ErlTypes, env: NifEnv, obj: &PyObj) -> Result<Option<RawTerm>, ConvertError> {
    let mut sink = EnvSink::plain(env);
    match py_to_term(py, types, &mut sink, obj, crate::runtime::configured_limits()) {
        Ok(t) => Ok(Some(t)),
        Err(ConvertError::SinkLimit(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn encode_external(py: Attached<'_>, types: &ErlTypes, obj: &PyObj) -> Result<Vec<u8>, ConvertError> {
    let mut model = ModelSink::new();
    let t = py_to_term(py, types, &mut model, obj, crate::runtime::configured_limits())?;
    Ok(etf::encode(&model.take(t)))
}

/// Sends a message built by `make` to the process registered as `name`, if
/// there is one. Conversion errors are raised.
fn send_to_registered(
    name: &str,
    py: Attached<'_>,
    make: impl FnOnce(NifEnv) -> Result<RawTerm, ConvertError>,
) -> Option<()> {
    let Some(pid) = enif::whereis(name) else {
        return Some(());
    };
    with_send_env(|env| match make(env.env()) {
        Ok(msg) => {
            if !env.send_and_clear(&pid, msg) {
                env.clear();
            }
            Some(())
        }
        Err(e) => {
            env.clear();
            raise_convert(py, &e)
        }
    })
}

fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

fn level_name(level: i64) -> &'static str {
    match level {
        i64::MIN..=10 => "debug",
        11..=20 => "info",
        21..=30 => "warning",
        31..=40 => "error",
        _ => "critical",
    }
}

impl Bridge for VmBridge {
    fn call(&self, py: Attached<'_>, module: &PyObj, name: &PyObj, args: &[PyObj]) -> Option<PyObj> {
        let Some(name) = capi::name_text(py, name) else {
            capi::raise(py, PyExc::TypeError, "the callback name must be a str");
            return None;
        };
        callback::call(py, module, Callee::Registered(&name), Args::Python(args))
    }

    fn send(&self, py: Attached<'_>, module: &PyObj, pid: &PyObj, term: &PyObj) -> Option<()> {
        let types = module_types(module)?;
        if !erlang_module::is_pid(types, pid) {
            capi::raise(py, PyExc::TypeError, "send() needs an erlang.Pid");
            return None;
        }
        // SAFETY: attached; `pid` is an erlang.Pid (checked), alive for the call.
        let pid_etf = unsafe { types.external_form_of(pid.as_ptr()) }.unwrap_or_default();
        let target = decode_pid(pid_etf);
        if let Target::Local(to) = target {
            let built = with_send_env(|env| match build(py, types, env.env(), term) {
                Ok(Some(msg)) => {
                    let sent = env.send_and_clear(&to, msg);
                    if !sent {
                        env.clear();
                    }
                    Ok(Some(sent))
                }
                Ok(None) => {
                    env.clear();
                    Ok(None)
                }
                Err(e) => {
                    env.clear();
                    Err(e)
                }
            });
            match built {
                Ok(Some(true)) => return Some(()),
                Ok(Some(false)) => {
                    raise_erlang(py, module, c"ProcessError", "the process is not alive", None);
                    return None;
                }
                Ok(None) => {}
                Err(e) => return raise_convert(py, &e),
            }
        }
        if let Target::Invalid = target {
            capi::raise(py, PyExc::TypeError, "malformed erlang.Pid");
            return None;
        }
        // Large maps, or a pid on another node: `py_callback` sends it, in
        // order with this thread's other sends (the call waits for it).
        let bytes = match encode_external(py, types, term) {
            Ok(b) => b,
            Err(e) => return raise_convert(py, &e),
        };
        let build_args = |env: NifEnv| {
            let pid = enif::binary_to_term(env, pid_etf, false).unwrap_or(enif::atoms().undefined);
            callback::list(env, &[pid, binary(env, &bytes)])
        };
        let sent = callback::call(py, module, Callee::Internal("py_send"), Args::Built(&build_args))?;
        if capi::is_true(&sent) {
            Some(())
        } else {
            raise_erlang(py, module, c"ProcessError", "the process is not alive", None);
            None
        }
    }

    fn whereis(&self, py: Attached<'_>, module: &PyObj, name: &PyObj) -> Option<PyObj> {
        let types = module_types(module)?;
        let Some(name) = capi::name_text(py, name) else {
            capi::raise(py, PyExc::TypeError, "whereis() needs a str, bytes or erlang.Atom");
            return None;
        };
        let Some(pid) = python_may_see(&name).then(|| enif::whereis(&name)).flatten() else {
            return capi::none(py);
        };
        let scratch = MsgEnv::new();
        let t = enif::pid_term(scratch.env(), &pid);
        let Some(bytes) = enif::term_to_binary(scratch.env(), t) else {
            return capi::none(py);
        };
        types.new_pid(py, &bytes).ok()
    }

    fn atom(&self, py: Attached<'_>, module: &PyObj, name: &PyObj) -> Option<PyObj> {
        let types = module_types(module)?;
        let Some(text) = capi::name_text(py, name) else {
            capi::raise(py, PyExc::TypeError, "atom() needs a str");
            return None;
        };
        let scratch = MsgEnv::new();
        match enif::make_budgeted_atom(scratch.env(), &text) {
            Ok(_) => types.interned_atom(py, &text).ok(),
            Err(ConvertError::BadTerm(why)) if why == enif::ATOM_BUDGET_EXHAUSTED => {
                let msg = format!("{why}: the limit is {}", enif::atom_budget());
                capi::raise(py, PyExc::RuntimeError, &msg);
                None
            }
            Err(e) => {
                capi::raise(py, PyExc::ValueError, &e.to_string());
                None
            }
        }
    }

    fn is_registered(&self, name: &str) -> bool {
        callback::is_registered(name)
    }

    fn log(
        &self,
        py: Attached<'_>,
        module: &PyObj,
        level: i64,
        logger: &PyObj,
        message: &PyObj,
        meta: &PyObj,
    ) -> Option<()> {
        if level < LOG_LEVEL.load(Ordering::Relaxed) {
            return Some(());
        }
        let types = module_types(module)?;
        send_to_registered("py_logger", py, |env| {
            let part = |o: &PyObj| build(py, types, env, o)?.ok_or(ConvertError::BadTerm("log metadata too large"));
            let fields = [
                atom(env, "py_log"),
                atom(env, level_name(level)),
                part(logger)?,
                part(message)?,
                part(meta)?,
                int(env, now_micros()),
            ];
            Ok(tuple(env, &fields))
        })
    }

    fn log_level(&self) -> i64 {
        LOG_LEVEL.load(Ordering::Relaxed)
    }

    fn trace(&self, py: Attached<'_>, module: &PyObj, fields: &[PyObj]) -> Option<()> {
        if !TRACING.load(Ordering::Relaxed) {
            return Some(());
        }
        let types = module_types(module)?;
        let Some((kind, rest)) = fields.split_first() else {
            return Some(());
        };
        let tag = match capi::name_text(py, kind).as_deref() {
            Some("start") => "span_start",
            Some("event") => "span_event",
            Some("end") => "span_end",
            _ => {
                capi::raise(py, PyExc::ValueError, "unknown trace event");
                return None;
            }
        };
        send_to_registered("py_tracer", py, |env| {
            let mut items = vec![atom(env, tag)];
            for f in rest {
                items.push(build(py, types, env, f)?.ok_or(ConvertError::BadTerm("span attributes too large"))?);
            }
            Ok(tuple(env, &items))
        })
    }

    fn tracing(&self) -> bool {
        TRACING.load(Ordering::Relaxed)
    }

    fn async_call_start(&self, py: Attached<'_>, module: &PyObj, name: &PyObj, args: &[PyObj]) -> Option<PyObj> {
        let Some(name) = capi::name_text(py, name) else {
            capi::raise(py, PyExc::TypeError, "the callback name must be a str");
            return None;
        };
        callback::async_start(py, module, &name, args)
    }

    fn async_call_finish(&self, py: Attached<'_>, module: &PyObj, token: &PyObj) -> Option<PyObj> {
        let token = capi::int_arg(py, token)?;
        callback::async_finish(py, module, token as u64)
    }

    fn async_call_cancel(&self, py: Attached<'_>, token: &PyObj) {
        match capi::int_arg(py, token) {
            Some(t) => callback::async_cancel(t as u64),
            None => capi::clear_error(py),
        }
    }
}

/// The library's own registered processes: Python never sees them (their
/// protocols, a supervisor's above all, are not for Python to speak).
const INTERNAL_NAMES: [&str; 12] = [
    "erlang_python_sup",
    "py_state",
    "py_import",
    "py_callback",
    "py_logger",
    "py_tracer",
    "py_context_registry",
    "py_context_sup",
    "py_context_router",
    "py_event_loop",
    "py_event_loop_pool",
    "py_reactor_context_default",
];

/// The registered names `erlang.whereis` may resolve besides: `None` for
/// every name (the default), or the `python_visible_names` allow-list.
static VISIBLE: RwLock<Option<HashSet<String>>> = RwLock::new(None);

/// Whether Python code may look up the process registered as `name`.
pub fn python_may_see(name: &str) -> bool {
    !INTERNAL_NAMES.contains(&name)
        && VISIBLE.read().unwrap_or_else(|p| p.into_inner()).as_ref().is_none_or(|allowed| allowed.contains(name))
}

/// `visible_names_set(all | [Name]) -> ok`: which registered names Python's
/// `erlang.whereis` resolves (the library's own processes never).
#[rustler::nif]
fn visible_names_set<'a>(env: Env<'a>, names: Term<'a>) -> rustler::NifResult<rustler::Atom> {
    let allowed = if names.is_atom() {
        None
    } else {
        let list: Vec<Term<'a>> = names.decode()?;
        let mut set = HashSet::new();
        for n in list {
            let bytes = enif::name_bytes(NifEnv::of(env), n.as_c_arg()).ok_or(rustler::Error::BadArg)?;
            set.insert(String::from_utf8_lossy(&bytes).into_owned());
        }
        Some(set)
    };
    *VISIBLE.write().unwrap_or_else(|p| p.into_inner()) = allowed;
    Ok(rustler::types::atom::ok())
}

/// `python_whereis(Name) -> pid() | none`: `erlang.whereis` for the
/// `_whereis` callback, with the same visibility rules (never creates an
/// atom).
#[rustler::nif]
fn python_whereis<'a>(env: Env<'a>, name: Term<'a>) -> Term<'a> {
    let none = crate::reply::atom(NifEnv::of(env), "none");
    let found = enif::name_bytes(NifEnv::of(env), name.as_c_arg())
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|n| python_may_see(n))
        .and_then(|n| enif::whereis_from(NifEnv::of(env), &n));
    let t = match found {
        Some(pid) => enif::pid_term(NifEnv::of(env), &pid),
        None => none,
    };
    enif::term(env, t)
}

/// `logging_set_level(Level) -> ok`: the lowest Python level `py_logger`
/// wants (a large number turns forwarding off).
#[rustler::nif]
fn logging_set_level(level: i64) -> rustler::Atom {
    LOG_LEVEL.store(level, Ordering::Relaxed);
    rustler::types::atom::ok()
}

/// `tracing_set(Enabled) -> ok`: whether spans are reported to `py_tracer`.
#[rustler::nif]
fn tracing_set(enabled: bool) -> rustler::Atom {
    TRACING.store(enabled, Ordering::Relaxed);
    rustler::types::atom::ok()
}
