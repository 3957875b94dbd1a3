//! Python calling Erlang: `erlang.call(name, *args)` and
//! `await erlang.async_call(name, *args)`.
//!
//! A call sends `{py_callback, Ticket, Name, Args}` to an Erlang process
//! and waits for `py_nif:callback_reply(Ticket, Result)`:
//!
//! * From a request whose caller waits for its reply (`py:call`,
//!   `py:eval`, ... — everything but casts and `spawn_call`), the message
//!   goes to that caller, which runs the function while it waits (see
//!   `py_context:await/5`). The function runs in the caller's process, with
//!   its context binding and process-bound namespace, and a `py:call` it
//!   makes reaches the same context: the context thread, waiting in
//!   [`py_core::block_until`], runs it on top of the waiting request. Nothing
//!   is executed twice and nesting has no depth limit but the stack.
//! * From anywhere else (casts, Python threads, asyncio), the message goes
//!   to the `py_callback` process, which runs each call in a new process.
//!
//! The `Ticket` is a resource only the Erlang side holds: if the process
//! that should answer dies first, the ticket is collected and the waiting
//! Python code gets `erlang.ErlangError` instead of waiting forever. A
//! caller that gives up on its request (timeout) closes its route first
//! ([`crate::route::Routes::abandon`]), so later callbacks of that request go to
//! `py_callback`.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use py_convert::capi::PyExc;
use py_convert::model::{ModelSink, Term as ModelTerm};
use py_convert::{etf, py_to_term, term_to_py, Attached, ConvertError, ErlTypes, PyObj, TermSource};
use py_core::erlang_module::raise_erlang;
use py_core::{WaitError, Worker};
use rustler::{Encoder, Env, ResourceArc, Term};

use crate::atoms::{heavy, ok};
use crate::context::ContextRes;
use crate::enif::{self, EnvSink, EnvSource, MsgEnv, NifEnv, RawTerm};
use crate::objects;
use crate::reply::{atom, binary, tuple};
use crate::route::RouteState;
use py_convert::capi;

/// Results with more terms than this are copied on a dirty scheduler.
const HEAVY_RESULT: usize = 4096;

/// What the answering process sent back, or that it never will.
enum Answer {
    /// `{ok, Value}` or `{error, Class, Reason, Text}`, in its own env.
    Reply(MsgEnv, RawTerm),
    /// The ticket was collected without a reply: the process died.
    Lost,
}

/// How the waiting side learns that an answer is there.
enum Notify {
    /// A thread waiting in `block_until`.
    Waker(py_core::Waker),
    /// An asyncio loop watching the other end of this socket.
    Socket(UnixStream),
}

/// Where one call's answer lands.
struct Slot {
    done: AtomicBool,
    answer: Mutex<Option<Answer>>,
    notify: Notify,
}

impl Slot {
    fn new(notify: Notify) -> Slot {
        Slot { done: AtomicBool::new(false), answer: Mutex::new(None), notify }
    }

    /// Stores the first answer and wakes the waiter; later ones are dropped.
    fn fill(&self, answer: Answer) {
        {
            let mut a = self.answer.lock().unwrap_or_else(|p| p.into_inner());
            if a.is_some() {
                return;
            }
            *a = Some(answer);
            self.done.store(true, Ordering::Release);
        }
        match &self.notify {
            Notify::Waker(w) => w.wake(),
            Notify::Socket(s) => {
                let _ = (&*s).write(&[1]);
            }
        }
    }

    fn take(&self) -> Option<Answer> {
        self.answer.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

// SAFETY: the raw term of an answer lives in the answer's own env, which
// moves with it.
unsafe impl Send for Answer {}

/// The Erlang side's handle on a pending call.
pub struct Ticket {
    slot: Arc<Slot>,
}

#[rustler::resource_impl]
impl rustler::Resource for Ticket {}

impl Drop for Ticket {
    fn drop(&mut self) {
        // Collected: whoever held it can no longer reply.
        self.slot.fill(Answer::Lost);
    }
}

// ---------------------------------------------------------------------------
// The route of the request running on this thread

/// What a callback needs to know about the request it is made from.
#[derive(Clone, Copy)]
struct Route {
    /// The request's route to its waiting caller (`None` for casts and
    /// `spawn_call`).
    caller: Option<*const RouteState>,
    ctx: *const ResourceArc<ContextRes>,
    worker: *const Worker,
}

thread_local! {
    static ROUTE: Cell<Option<Route>> = const { Cell::new(None) };
}

/// Restores the enclosing request's route when a request ends.
pub struct RouteGuard(Option<Route>);

impl Drop for RouteGuard {
    fn drop(&mut self) {
        ROUTE.with(|r| r.set(self.0));
    }
}

/// Marks the start of a request on a context thread (until the guard is
/// dropped); its callbacks go to the caller while `caller` is open.
pub fn enter_request(caller: Option<&Arc<RouteState>>, ctx: &ResourceArc<ContextRes>, worker: &Worker) -> RouteGuard {
    let route = Route { caller: caller.map(Arc::as_ptr), ctx, worker };
    RouteGuard(ROUTE.with(|r| r.replace(Some(route))))
}

/// Sends `msg` to the request's caller if its route is open; false if the
/// message must go elsewhere (it is then still valid).
fn send_to_caller(route: &Route, env: &mut MsgEnv, msg: RawTerm) -> bool {
    let Some(state) = route.caller else {
        return false;
    };
    // SAFETY: a route is only set while its request runs, which holds the
    // route state.
    let state = unsafe { &*state };
    state.serves_callbacks() && state.send_if_open(|| env.send_and_clear(&state.caller, msg))
}

// ---------------------------------------------------------------------------
// Registered names (for `erlang.<name>` and `from erlang import <name>`)

fn registered() -> &'static RwLock<HashSet<String>> {
    static NAMES: OnceLock<RwLock<HashSet<String>>> = OnceLock::new();
    NAMES.get_or_init(Default::default)
}

pub fn is_registered(name: &str) -> bool {
    registered().read().unwrap_or_else(|p| p.into_inner()).contains(name)
}

/// `callback_name_set(Name, Registered) -> ok`: keeps the Python-visible
/// name registry in step with `py_callback`'s table.
#[rustler::nif]
fn callback_name_set(name: Term<'_>, present: bool) -> rustler::Atom {
    if let Some(bytes) = enif::name_bytes(NifEnv::of(name.get_env()), name.as_c_arg()) {
        let name = String::from_utf8_lossy(&bytes).into_owned();
        let mut names = registered().write().unwrap_or_else(|p| p.into_inner());
        if present {
            names.insert(name);
        } else {
            names.remove(&name);
        }
    }
    ok()
}

/// `callback_names_reset() -> ok`: forgets every name (when `py_callback`
/// starts, before it registers its table's).
#[rustler::nif]
fn callback_names_reset() -> rustler::Atom {
    registered().write().unwrap_or_else(|p| p.into_inner()).clear();
    ok()
}

// ---------------------------------------------------------------------------
// Replies from Erlang

/// `callback_reply(Ticket, Result) -> ok | heavy`: answers a pending call
/// (`Result` is `{ok, Value}` or `{error, Class, Reason, Text}`). `heavy`:
/// the result is large; use `callback_reply_heavy/2`.
#[rustler::nif]
fn callback_reply<'a>(env: Env<'a>, ticket: ResourceArc<Ticket>, result: Term<'a>) -> Term<'a> {
    if enif::heavier_than(NifEnv::of(env), &[result.as_c_arg()], HEAVY_RESULT) {
        return heavy().encode(env);
    }
    answer(&ticket, result);
    ok().encode(env)
}

/// `callback_reply_heavy(Ticket, Result) -> ok`, on a dirty scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn callback_reply_heavy(ticket: ResourceArc<Ticket>, result: Term<'_>) -> rustler::Atom {
    answer(&ticket, result);
    ok()
}

fn answer(ticket: &Ticket, result: Term<'_>) {
    if ticket.slot.is_done() {
        return;
    }
    let env = MsgEnv::new();
    let t = env.copy_from(result.as_c_arg());
    ticket.slot.fill(Answer::Reply(env, t));
}

// ---------------------------------------------------------------------------
// Making calls

/// Who serves a callback: a function registered from Erlang (by its name,
/// a binary in the message), or one of the library's own operations (an
/// atom in the message, which no `erlang.call` can produce, so Python
/// cannot reach them by name).
#[derive(Clone, Copy)]
pub enum Callee<'a> {
    Registered(&'a str),
    Internal(&'static str),
}

impl Callee<'_> {
    fn text(&self) -> &str {
        match self {
            Callee::Registered(n) | Callee::Internal(n) => n,
        }
    }
}

/// What a callback's arguments are built from.
pub enum Args<'a> {
    /// Python values, converted here.
    Python(&'a [PyObj]),
    /// A term already built by the caller.
    Built(&'a dyn Fn(NifEnv) -> RawTerm),
}

/// Builds `{py_callback, Ticket, Name, Args}` into `env`; values with no
/// Erlang form become object handles when the call comes from a request.
fn callback_message(
    py: Attached<'_>,
    types: &ErlTypes,
    env: &MsgEnv,
    ticket: &ResourceArc<Ticket>,
    callee: Callee<'_>,
    args: &Args<'_>,
    route: Option<&Route>,
) -> Result<RawTerm, ConvertError> {
    let e = env.env();
    let args = match args {
        Args::Built(build) => build(e),
        Args::Python(values) => python_args(py, types, e, values, route)?,
    };
    let ticket = enif::with_env(e, |env| ticket.encode(env).as_c_arg());
    let name = match callee {
        Callee::Registered(n) => binary(e, n.as_bytes()),
        Callee::Internal(op) => atom(e, op),
    };
    Ok(tuple(e, &[atom(e, "py_callback"), ticket, name, args]))
}

fn python_args(
    py: Attached<'_>,
    types: &ErlTypes,
    env: NifEnv,
    values: &[PyObj],
    route: Option<&Route>,
) -> Result<RawTerm, ConvertError> {
    let limits = crate::runtime::configured_limits();
    let make_handle = |e: NifEnv, o: &PyObj| {
        let r = route.ok_or(ConvertError::Opaque { type_name: o.type_name() })?;
        // SAFETY: a route is only set while its request runs, which keeps
        // the context and the worker alive; this is the worker's thread.
        let (w, ctx) = unsafe { (&*r.worker, &*r.ctx) };
        Ok(objects::make_handle(e, w, ctx, o))
    };
    let mut sink = EnvSink { env, large_maps: false, handles: route.map(|_| &make_handle as enif::MakeHandle<'_>) };
    let mut items = Vec::with_capacity(values.len());
    for v in values {
        match py_to_term(py, types, &mut sink, v, limits) {
            Ok(t) => items.push(t),
            Err(ConvertError::SinkLimit(_)) => return external_args(py, types, env, values),
            Err(e) => return Err(e),
        }
    }
    Ok(list(env, &items))
}

/// `{py_etf, Bin}`: the arguments in the external format, for values this
/// thread cannot build (large maps); the Erlang side decodes them.
fn external_args(py: Attached<'_>, types: &ErlTypes, env: NifEnv, values: &[PyObj]) -> Result<RawTerm, ConvertError> {
    let limits = crate::runtime::configured_limits();
    let mut model = ModelSink::new();
    let mut items = Vec::with_capacity(values.len());
    for v in values {
        let t = py_to_term(py, types, &mut model, v, limits)?;
        items.push(model.take(t));
    }
    let bytes = etf::encode(&ModelTerm::List(items, None));
    Ok(tuple(env, &[atom(env, "py_etf"), binary(env, &bytes)]))
}

/// Raises the Python exception for a value that cannot go to Erlang.
pub fn raise_convert<T>(py: Attached<'_>, e: &ConvertError) -> Option<T> {
    let kind = match e {
        ConvertError::Opaque { .. } | ConvertError::UnsupportedTerm(_) => PyExc::TypeError,
        ConvertError::NestingTooDeep(_) | ConvertError::UnicodeEncode(_) => PyExc::ValueError,
        _ => PyExc::RuntimeError,
    };
    let text = match e {
        ConvertError::Opaque { type_name } => format!("cannot send a {type_name} to Erlang"),
        ConvertError::NestingTooDeep(n) => format!("value nested deeper than {n} levels"),
        other => other.to_string(),
    };
    capi::raise(py, kind, &text);
    None
}

pub fn list(env: NifEnv, items: &[RawTerm]) -> RawTerm {
    // SAFETY: valid env; terms of that env.
    unsafe { rustler::sys::enif_make_list_from_array(env.raw(), items.as_ptr(), items.len() as u32) }
}

/// Sends a callback message to whoever serves it: the request's caller, or
/// the `py_callback` process. Raises (returns false) if neither is there.
fn dispatch(
    py: Attached<'_>,
    module: &PyObj,
    env: &mut MsgEnv,
    msg: RawTerm,
    route: Option<&Route>,
    may_use_caller: bool,
) -> bool {
    if may_use_caller {
        if let Some(r) = route {
            if send_to_caller(r, env, msg) {
                return true;
            }
        }
    }
    if let Some(dispatcher) = enif::whereis("py_callback") {
        if env.send_and_clear(&dispatcher, msg) {
            return true;
        }
    }
    raise_erlang(py, module, c"ErlangError", "erlang_python is not running (no py_callback process)", None);
    false
}

/// `erlang.call(name, *args)`: runs the registered Erlang function and
/// returns its result (C-API style: `None` with an exception set).
pub fn call(py: Attached<'_>, module: &PyObj, callee: Callee<'_>, args: Args<'_>) -> Option<PyObj> {
    let types = py_core::erlang_module::module_types(module)?;
    let route = ROUTE.with(|r| r.get());
    let slot = Arc::new(Slot::new(Notify::Waker(py_core::current_waker())));
    let ticket = ResourceArc::new(Ticket { slot: slot.clone() });
    let mut env = MsgEnv::new();
    let msg = match callback_message(py, types, &env, &ticket, callee, &args, route.as_ref()) {
        Ok(m) => m,
        Err(e) => return raise_convert(py, &e),
    };
    drop(ticket);
    if !dispatch(py, module, &mut env, msg, route.as_ref(), true) {
        return None;
    }
    match py_core::block_until(py, &|| slot.is_done()) {
        Ok(()) => {}
        Err(WaitError::Interrupted) => {
            capi::raise(py, PyExc::KeyboardInterrupt, "");
            return None;
        }
        Err(WaitError::Stopped) => {
            raise_erlang(py, module, c"ErlangError", "the context is stopping", None);
            return None;
        }
    }
    finish(py, module, types, callee.text(), slot.take())
}

/// Turns an answer into the call's Python result or exception.
fn finish(py: Attached<'_>, module: &PyObj, types: &ErlTypes, name: &str, answer: Option<Answer>) -> Option<PyObj> {
    let (env, t) = match answer {
        Some(Answer::Reply(env, t)) => (env, t),
        Some(Answer::Lost) | None => {
            let text = format!("the Erlang process running callback '{name}' exited without replying");
            raise_erlang(py, module, c"ErlangError", &text, None);
            return None;
        }
    };
    let src = EnvSource { env: env.env(), handles: Some(objects::resolve_handle) };
    let limits = crate::runtime::configured_limits();
    let elems: Vec<RawTerm> = src_tuple(&src, t);
    match elems.as_slice() {
        [tag, value] if *tag == enif::atoms().ok => match term_to_py(py, types, &src, *value, limits) {
            Ok(v) => Some(v),
            Err(e) => raise_convert(py, &e),
        },
        [_, _class, reason, text] => {
            let text = src.binary(*text).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            let reason = term_to_py(py, types, &src, *reason, limits).ok();
            if reason.is_none() {
                capi::clear_error(py);
            }
            raise_erlang(py, module, c"ErlangError", &text, reason.as_ref());
            None
        }
        _ => {
            raise_erlang(py, module, c"ErlangError", "malformed callback reply", None);
            None
        }
    }
}

fn src_tuple(src: &EnvSource, t: RawTerm) -> Vec<RawTerm> {
    if src.kind(t) == py_convert::TermKind::Tuple {
        src.tuple_elems(t).collect()
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------
// asyncio

struct Pending {
    slot: Arc<Slot>,
    name: String,
    /// The end the event loop watches; closed with the entry.
    _reader: UnixStream,
}

fn pending() -> &'static Mutex<HashMap<u64, Pending>> {
    static PENDING: OnceLock<Mutex<HashMap<u64, Pending>>> = OnceLock::new();
    PENDING.get_or_init(Default::default)
}

/// `erlang._async_call_start(name, args)`: sends the call and returns
/// `(fd, token)`; `fd` turns readable when the answer is there. Always
/// served by `py_callback`, so concurrent calls run concurrently.
pub fn async_start(py: Attached<'_>, module: &PyObj, name: &str, args: &[PyObj]) -> Option<PyObj> {
    let types = py_core::erlang_module::module_types(module)?;
    let (reader, writer) = match UnixStream::pair() {
        Ok(p) => p,
        Err(e) => {
            raise_erlang(py, module, c"ErlangError", &format!("cannot create a notification socket: {e}"), None);
            return None;
        }
    };
    let _ = reader.set_nonblocking(true);
    let fd = reader.as_raw_fd();
    let slot = Arc::new(Slot::new(Notify::Socket(writer)));
    let ticket = ResourceArc::new(Ticket { slot: slot.clone() });
    let route = ROUTE.with(|r| r.get());
    let mut env = MsgEnv::new();
    let msg =
        match callback_message(py, types, &env, &ticket, Callee::Registered(name), &Args::Python(args), route.as_ref())
        {
            Ok(m) => m,
            Err(e) => return raise_convert(py, &e),
        };
    drop(ticket);
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let token = NEXT.fetch_add(1, Ordering::Relaxed);
    pending()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(token, Pending { slot, name: name.to_owned(), _reader: reader });
    if !dispatch(py, module, &mut env, msg, route.as_ref(), false) {
        pending().lock().unwrap_or_else(|p| p.into_inner()).remove(&token);
        return None;
    }
    capi::int_pair(py, fd as i64, token as i64)
}

/// `erlang._async_call_finish(token)`: the answer of a call whose fd turned
/// readable.
pub fn async_finish(py: Attached<'_>, module: &PyObj, token: u64) -> Option<PyObj> {
    let types = py_core::erlang_module::module_types(module)?;
    let entry = pending().lock().unwrap_or_else(|p| p.into_inner()).remove(&token);
    let Some(entry) = entry else {
        raise_erlang(py, module, c"ErlangError", "unknown or finished async_call", None);
        return None;
    };
    finish(py, module, types, &entry.name, entry.slot.take())
}

/// `erlang._async_call_cancel(token)`: the awaiter went away; a late answer
/// is dropped.
pub fn async_cancel(token: u64) {
    pending().lock().unwrap_or_else(|p| p.into_inner()).remove(&token);
}
