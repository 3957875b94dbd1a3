//! Requests to a context: the task a context thread runs for one call,
//! eval, exec, namespace creation or object-handle operation, and the NIFs
//! that submit them.
//!
//! A submitting NIF runs on a normal scheduler and only copies its arguments
//! into a private environment and queues the task (well under a
//! microsecond); the context thread converts, runs Python and sends
//! `{Tag, Result}` to the caller (see [`crate::reply`]). The NIF returns the
//! task's sequence number, which `context_interrupt/2` takes to interrupt
//! exactly that request.
//!
//! Python errors always carry their formatted traceback
//! (`{error, {Class, Message, Traceback}}`); the Erlang side logs it at debug
//! level and drops it unless the caller asked for it.
//!
//! Every request with a caller has a route ([`crate::route`]): the caller
//! is monitored while the request is unfinished (a dead caller's request is
//! abandoned and interrupted), the reply is sent only while the caller
//! waits, and a request whose caller gave up, or whose deadline passed,
//! before it started never runs.
//!
//! `Flags` (an integer) select per-request behaviour: 2 count against the
//! call limiter (`py_semaphore`), 4 no reply (`py:cast`), 8 reply as
//! `{py_response, Tag, Result}` (`py:spawn_call`), 16 run a call as a task
//! on the event loop of the context (`py_event_loop`), replying
//! `{async_result, Tag, Result}` when it ends (see [`crate::tasks`]), 32
//! the caller does not serve the request's callbacks (a long-running
//! request such as an event loop: its callbacks go to `py_callback`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use py_convert::{term_to_py, PyObj, TermSource};
use py_core::erlang_module::{self, Marker};
use py_core::Worker;
use rustler::sys::ErlNifPid;
use rustler::{Encoder, Env, ResourceArc, Term};

use crate::callback;
use crate::context::{context_arg, ContextRes};
use crate::enif::{self, name_bytes, EnvSink, EnvSource, MsgEnv, NifEnv, RawTerm};
use crate::lend::Loan;
use crate::objects::{self, EnvRes, PyRefRes};
use crate::reply::{self, outcome_term, send_reply, Outcome, Wrap};
use crate::route::{self, RouteState};
use crate::semaphore;
use crate::tasks;

rustler::atoms! {
    ok,
    error,
    context_stopped,
    bad_argument,
    heavy,
    overloaded,
    env_wrong_interpreter,
    py_response,
    infinity,
}

const FLAG_COUNTED: u32 = 2;
const FLAG_NOREPLY: u32 = 4;
const FLAG_RESPONSE: u32 = 8;
const FLAG_TASK: u32 = 16;
const FLAG_NO_CALLBACKS: u32 = 32;

/// The shape of the reply for these flags.
fn wrap(flags: u32) -> Wrap {
    if flags & FLAG_TASK != 0 {
        tasks::WRAP
    } else {
        Wrap::for_flags(flags & FLAG_RESPONSE != 0)
    }
}

/// Arguments with more terms than this are lent rather than copied (the
/// copy of 4 096 list cells takes ~15 µs, a dirty scheduler hop ~2 µs).
const LEND_THRESHOLD: usize = 4096;
/// How long a lender waits for the context to start its request before it
/// copies the arguments and returns instead.
const LEND_PATIENCE: Duration = Duration::from_millis(2);

/// Where a call's arguments are: copied into the request's environment, or
/// lent by a caller waiting on a dirty scheduler (see [`crate::lend`]).
enum CallArgs {
    Copied { args: RawTerm, kwargs: Option<RawTerm> },
    Lent(Arc<Loan>),
}

enum Job {
    Call { module: Vec<u8>, func: Vec<u8>, args: CallArgs },
    Eval { code: Vec<u8>, locals: Option<RawTerm> },
    Exec { code: Vec<u8> },
    NewEnv,
    Method { target: ResourceArc<PyRefRes>, name: Vec<u8>, args: RawTerm, kwargs: Option<RawTerm> },
    GetAttr { target: ResourceArc<PyRefRes>, name: Vec<u8> },
    ToTerm { target: ResourceArc<PyRefRes> },
}

/// One request on its way to a context thread.
struct Request {
    env: MsgEnv,
    /// The process to reply to (`None` for casts).
    caller: Option<ErlNifPid>,
    tag: RawTerm,
    flags: u32,
    /// The namespace to run in (the caller's process-bound one), if any.
    namespace: Option<ResourceArc<EnvRes>>,
    /// The context the request runs on (handles it makes point back to it).
    ctx: ResourceArc<ContextRes>,
    job: Job,
    seq: u64,
    /// The route to the caller (every request with one; casts have none).
    route: Option<Arc<RouteState>>,
    /// When the caller stops waiting (Erlang monotonic milliseconds): a
    /// request that has not started by then never runs.
    deadline: Option<i64>,
}

// SAFETY: the raw terms all live in `env` (or are lent under the `Loan`
// protocol), which moves with the request and is only used by one thread at
// a time; resources are Send + Sync.
unsafe impl Send for Request {}

impl py_core::Task for Request {
    fn run(self: Box<Self>, w: &Worker) {
        let caller_waits = self.route.as_ref().is_none_or(|r| r.start());
        if !caller_waits || self.deadline.is_some_and(|d| enif::monotonic_ms() >= d) {
            // The caller gave up (timeout, death) before this started: it
            // does not run at all, and the caller hears at its deadline.
            (*self).abort();
            return;
        }
        let Request { env, caller, tag, flags, namespace, ctx, job, seq, route, deadline: _ } = *self;
        w.set_want_traceback(true);
        let route_guard = callback::enter_request(route.as_ref(), &ctx, w);
        let src = EnvSource { env: env.env(), handles: Some(objects::resolve_handle) };
        // Arguments and the result are released after the reply is sent:
        // freeing a large structure takes about as long as building it, and
        // the caller need not wait for that. (Deferring it further, until
        // the thread is idle, was measured slower: the next conversion then
        // gets fresh pages instead of the ones just freed.)
        let mut garbage = Vec::new();
        let gate = route.as_ref().map(|r| r.gate.clone());
        let task = (flags & FLAG_TASK != 0).then_some(TaskStart { ctx: &ctx, caller, tag, gate });
        let outcome =
            catch_unwind(AssertUnwindSafe(|| execute(w, &src, namespace.as_ref(), &job, task.as_ref(), &mut garbage)))
                .unwrap_or(Outcome::Error("internal_error"));
        if let (Some(caller), false) = (caller, matches!(outcome, Outcome::Started)) {
            let make_handle = |e: NifEnv, o: &PyObj| Ok(objects::make_handle(e, w, &ctx, o));
            let build = |renv| {
                let mut sink = EnvSink { env: renv, large_maps: false, handles: Some(&make_handle) };
                // Converting the result can run Python code (numpy's
                // tolist, say): it stays interruptible until it is done.
                let result = catch_unwind(AssertUnwindSafe(|| outcome_term(renv, w, &mut sink, &outcome)))
                    .unwrap_or_else(|_| reply::error(renv, reply::atom(renv, "internal_error")));
                if w.settle_request() && outcome.succeeded() {
                    // Interrupted while C code ran (no bytecode saw it).
                    reply::error(renv, reply::atom(renv, "interrupted"))
                } else {
                    result
                }
            };
            // A caller that gave up gets no late reply.
            reply::send_reply_gated(&caller, tag, wrap(flags), build, route.as_ref().map(|r| &*r.gate));
        }
        // From here on an interrupt cannot hit this request (nor, later,
        // another one).
        w.settle_request();
        // Replied: code that runs from here (`__del__` of the garbage) must
        // not send callbacks to a caller that has moved on.
        drop(route_guard);
        match &route {
            Some(_) => ctx.routes.end(None, &ctx, seq),
            None if flags & FLAG_COUNTED != 0 => semaphore::release(),
            None => {}
        }
        drop(outcome);
        drop(garbage);
        w.set_want_traceback(false);
        w.clear_error();
        drop(env);
    }

    fn cancel(self: Box<Self>) {
        let (caller, tag, flags) = (self.caller, self.tag, self.flags);
        let env = (*self).abort();
        if let Some(caller) = &caller {
            send_reply(caller, tag, wrap(flags), |renv| reply::error(renv, reply::atom(renv, "context_stopped")));
        }
        drop(env);
    }
}

impl Request {
    /// Gives back what a request that will not run holds: its lent
    /// arguments, its limiter slot, its route. Returns its env (where the
    /// tag lives).
    fn abort(self) -> MsgEnv {
        if let Job::Call { args: CallArgs::Lent(loan), .. } = &self.job {
            loan.cancel();
        }
        match &self.route {
            Some(_) => self.ctx.routes.end(None, &self.ctx, self.seq),
            None if self.flags & FLAG_COUNTED != 0 => semaphore::release(),
            None => {}
        }
        self.env
    }
}

/// Where a call flagged as a task reports (see [`crate::tasks`]).
struct TaskStart<'a> {
    ctx: &'a ResourceArc<ContextRes>,
    /// `None` for fire-and-forget tasks (`spawn_task`).
    caller: Option<ErlNifPid>,
    tag: RawTerm,
    /// Closed when the caller stops waiting for the outcome.
    gate: Option<Arc<route::Gate>>,
}

fn execute(
    w: &Worker,
    src: &EnvSource,
    namespace: Option<&ResourceArc<EnvRes>>,
    job: &Job,
    task: Option<&TaskStart<'_>>,
    garbage: &mut Vec<PyObj>,
) -> Outcome {
    let globals = match namespace {
        Some(ns) => match ns.globals.get(w.py()) {
            Some(g) => Some(g),
            None => return Outcome::Error("env_wrong_interpreter"),
        },
        None => None,
    };
    let run = || -> Result<Outcome, Outcome> {
        match job {
            Job::Call { module, func, args } => {
                let callable = w.resolve(module, func, globals.as_ref())?;
                let argv = garbage;
                let kw = match args {
                    CallArgs::Copied { args, kwargs } => convert_args(w, src, *args, *kwargs, argv)?,
                    CallArgs::Lent(loan) => loan
                        .with(|env, args, kwargs| {
                            let lent = EnvSource { env, handles: src.handles };
                            convert_args(w, &lent, args, kwargs, argv)
                        })
                        .unwrap_or(Err(Outcome::Error("internal_error")))?,
                };
                if let Some(t) = task {
                    let started = tasks::start(w, t.ctx, t.caller, t.tag, t.gate.clone(), callable, argv, kw.as_ref());
                    argv.extend(kw);
                    started?;
                    return Ok(Outcome::Started);
                }
                let result = w.call(&callable, argv, kw.as_ref());
                argv.extend(kw);
                follow_markers(w, globals.as_ref(), result?)
            }
            Job::Eval { code, locals } => {
                let locals = match locals {
                    Some(l) => Some(term_to_py(w.py(), w.types(), src, *l, w.limits())?),
                    None => None,
                };
                let result = w.eval(code, globals.as_ref(), locals.as_ref());
                garbage.extend(locals);
                Ok(Outcome::Value(result?))
            }
            Job::Exec { code } => {
                w.exec(code, globals.as_ref())?;
                Ok(Outcome::Done)
            }
            Job::NewEnv => Ok(Outcome::Namespace(w.new_namespace()?)),
            Job::Method { target, name, args, kwargs } => {
                let obj = target.obj.get(w.py()).ok_or(Outcome::Error("ref_wrong_interpreter"))?;
                let method = w.getattr(&obj, name)?;
                let argv = garbage;
                let kw = convert_args(w, src, *args, *kwargs, argv)?;
                let result = w.call(&method, argv, kw.as_ref());
                argv.extend(kw);
                Ok(Outcome::Value(result?))
            }
            Job::GetAttr { target, name } => {
                let obj = target.obj.get(w.py()).ok_or(Outcome::Error("ref_wrong_interpreter"))?;
                Ok(Outcome::Value(w.getattr(&obj, name)?))
            }
            Job::ToTerm { target } => {
                let obj = target.obj.get(w.py()).ok_or(Outcome::Error("ref_wrong_interpreter"))?;
                Ok(Outcome::Value(obj))
            }
        }
    };
    run().unwrap_or_else(|e| e)
}

/// How many `erlang.schedule_inline` continuations one call may chain.
const MAX_INLINE_CONTINUATIONS: usize = 10_000;

/// The outcome of a call whose result may be a scheduling marker:
/// `schedule_inline` continues here, `schedule` hands over to Erlang.
fn follow_markers(w: &Worker, globals: Option<&PyObj>, mut result: PyObj) -> Result<Outcome, Outcome> {
    for _ in 0..MAX_INLINE_CONTINUATIONS {
        match w.marker(&result) {
            None => return Ok(Outcome::Value(result)),
            Some(Marker::Erlang { callback, args }) => return Ok(Outcome::Schedule { callback, args }),
            Some(Marker::Inline { module, func, args, kwargs }) => {
                let py = w.py();
                let (Some(m), Some(f)) = (erlang_module::name_text(py, &module), erlang_module::name_text(py, &func))
                else {
                    return Err(Outcome::Error("bad_schedule_inline"));
                };
                let callable = w.resolve(m.as_bytes(), f.as_bytes(), globals)?;
                let argv = erlang_module::sequence_items(py, &args).ok_or(Outcome::Error("bad_schedule_inline"))?;
                let kw = (!erlang_module::is_empty_dict(&kwargs)).then_some(&kwargs);
                result = w.call(&callable, &argv, kw)?;
            }
        }
    }
    Err(Outcome::Error("schedule_inline_too_deep"))
}

/// Converts positional arguments into `argv` and returns the kwargs dict.
fn convert_args(
    w: &Worker,
    src: &EnvSource,
    args: RawTerm,
    kwargs: Option<RawTerm>,
    argv: &mut Vec<PyObj>,
) -> Result<Option<PyObj>, Outcome> {
    argv.reserve(src.list_len(args).unwrap_or(0));
    for a in src.list_elems(args) {
        argv.push(term_to_py(w.py(), w.types(), src, a, w.limits())?);
    }
    match kwargs {
        Some(k) => Ok(Some(term_to_py(w.py(), w.types(), src, k, w.limits())?)),
        None => Ok(None),
    }
}

pub fn bad_arg<'a>(env: Env<'a>, what: &str) -> Term<'a> {
    let what = rustler::Atom::from_str(env, what).map(|a| a.encode(env)).unwrap_or_else(|_| what.encode(env));
    (error(), (bad_argument(), what)).encode(env)
}

/// `#{}` or `[]` mean "none"; anything else must be a map.
fn optional_map(t: Term<'_>) -> Result<Option<RawTerm>, ()> {
    if t.is_map() {
        Ok((t.map_size().unwrap_or(0) > 0).then_some(t.as_c_arg()))
    } else if t.is_empty_list() {
        Ok(None)
    } else {
        Err(())
    }
}

/// The namespace argument: a namespace resource or `undefined`.
fn namespace_arg(env: Env<'_>, t: Term<'_>) -> Result<Option<ResourceArc<EnvRes>>, ()> {
    if t.is_atom() {
        return Ok(None);
    }
    objects::env_of(NifEnv::of(env), t.as_c_arg()).map(Some).ok_or(())
}

/// What every submitting NIF needs besides its job.
struct Submit<'a> {
    env: Env<'a>,
    ctx: ResourceArc<ContextRes>,
    tag: Term<'a>,
    flags: u32,
    namespace: Option<ResourceArc<EnvRes>>,
    deadline: Option<i64>,
}

impl<'a> Submit<'a> {
    fn new(
        env: Env<'a>,
        ctx: Term<'a>,
        tag: Term<'a>,
        namespace: Term<'a>,
        flags: u32,
        deadline: Term<'a>,
    ) -> Result<Submit<'a>, Term<'a>> {
        let deadline = if deadline == infinity().encode(env) {
            None
        } else {
            Some(deadline.decode::<i64>().map_err(|_| bad_arg(env, "deadline"))?)
        };
        let Some(ctx) = context_arg(ctx) else {
            return Err((error(), context_stopped()).encode(env));
        };
        Submit::with_context(env, ctx, tag, namespace, flags, deadline)
    }

    fn with_context(
        env: Env<'a>,
        ctx: ResourceArc<ContextRes>,
        tag: Term<'a>,
        namespace: Term<'a>,
        flags: u32,
        deadline: Option<i64>,
    ) -> Result<Submit<'a>, Term<'a>> {
        let namespace = namespace_arg(env, namespace).map_err(|_| bad_arg(env, "env"))?;
        if let Some(ns) = &namespace {
            if ns.globals.interp_id() != ctx.ctx.interp_id() {
                return Err((error(), env_wrong_interpreter()).encode(env));
            }
        }
        Ok(Submit { env, ctx, tag, flags, namespace, deadline })
    }

    /// Queues the job; the request env holds whatever terms the job uses.
    fn send(self, msg_env: MsgEnv, job: Job) -> Term<'a> {
        let env = self.env;
        let caller = if self.flags & FLAG_NOREPLY != 0 {
            None
        } else {
            match enif::self_pid(NifEnv::of(env)) {
                Some(p) => Some(p),
                None => return (error(), context_stopped()).encode(env),
            }
        };
        let counted = self.flags & FLAG_COUNTED != 0;
        if counted {
            if let Err((current, max)) = semaphore::try_acquire_or_wait(caller) {
                return (error(), (overloaded(), current, max)).encode(env);
            }
        }
        let gate = route::gate_of(self.tag);
        let tag = msg_env.copy_from(self.tag.as_c_arg());
        let ctx = &self.ctx;
        let seq = ctx.ctx.reserve_seq();
        // A caller that waits for the reply serves the request's callbacks;
        // `spawn_call` callers may not be waiting, so theirs go elsewhere.
        let serves_callbacks = self.flags & (FLAG_RESPONSE | FLAG_TASK | FLAG_NO_CALLBACKS) == 0;
        let route =
            caller.map(|caller| ctx.routes.open(seq, route::NewRoute { caller, gate, serves_callbacks, counted }));
        let request = Request {
            env: msg_env,
            caller,
            tag,
            flags: self.flags,
            namespace: self.namespace,
            ctx: ctx.clone(),
            job,
            seq,
            route,
            deadline: self.deadline,
        };
        match ctx.ctx.submit_as(seq, Box::new(request)) {
            Ok(()) => seq.encode(env),
            // Handed back without running (the context is stopping).
            Err(task) => {
                drop(task);
                ctx.routes.end(Some(env), ctx, seq);
                if counted && caller.is_none() {
                    semaphore::release();
                }
                (error(), context_stopped()).encode(env)
            }
        }
    }
}

/// Module, function and argument checks shared by the call NIFs.
struct CallParts {
    module: Vec<u8>,
    func: Vec<u8>,
    kwargs: Option<RawTerm>,
}

fn call_parts<'a>(
    env: Env<'a>,
    module: Term<'a>,
    function: Term<'a>,
    args: Term<'a>,
    kwargs: Term<'a>,
) -> Result<CallParts, Term<'a>> {
    let module = name_bytes(NifEnv::of(env), module.as_c_arg()).ok_or_else(|| bad_arg(env, "module"))?;
    let func = name_bytes(NifEnv::of(env), function.as_c_arg()).ok_or_else(|| bad_arg(env, "function"))?;
    // A proper list only: an improper one would lose its tail.
    if args.list_length().is_err() {
        return Err(bad_arg(env, "args"));
    }
    let kwargs = optional_map(kwargs).map_err(|_| bad_arg(env, "kwargs"))?;
    Ok(CallParts { module, func, kwargs })
}

/// `context_call(Ctx, Tag, Module, Function, Args, Kwargs, Env, Flags, Deadline) -> Seq | heavy | {error, R}`
/// (`heavy`: call `context_call_heavy/9` with the same arguments instead).
/// `Ctx` is a context pid or resource; `Deadline` an Erlang monotonic time
/// in milliseconds or `infinity`.
#[rustler::nif]
#[allow(clippy::too_many_arguments)]
fn context_call<'a>(
    env: Env<'a>,
    ctx: Term<'a>,
    tag: Term<'a>,
    module_name: Term<'a>,
    function_name: Term<'a>,
    call_args: Term<'a>,
    call_kwargs: Term<'a>,
    namespace: Term<'a>,
    flags: u32,
    deadline: Term<'a>,
) -> Term<'a> {
    let parts = match call_parts(env, module_name, function_name, call_args, call_kwargs) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let submit = match Submit::new(env, ctx, tag, namespace, flags, deadline) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let kw_term = parts.kwargs.unwrap_or_default();
    if flags & FLAG_NOREPLY == 0
        && submit.ctx.ctx.is_idle()
        && enif::heavier_than(NifEnv::of(env), &[call_args.as_c_arg(), kw_term], LEND_THRESHOLD)
    {
        // Large arguments: let the caller lend them (context_call_heavy/9)
        // rather than copy them here.
        return heavy().encode(env);
    }
    let msg_env = MsgEnv::new();
    let args = msg_env.copy_from(call_args.as_c_arg());
    let kwargs = parts.kwargs.map(|k| msg_env.copy_from(k));
    submit.send(msg_env, Job::Call { module: parts.module, func: parts.func, args: CallArgs::Copied { args, kwargs } })
}

/// `context_call_heavy(Ctx, Tag, Module, Function, Args, Kwargs, Env, Flags, Deadline) -> Seq | {error, R}`:
/// the same call as `context_call/9`, for the large arguments it answered
/// `heavy` for. Runs on a dirty CPU scheduler and returns once the context
/// thread has converted the arguments (or after copying them, if the context
/// did not start within a couple of milliseconds).
#[rustler::nif(schedule = "DirtyCpu")]
#[allow(clippy::too_many_arguments)]
fn context_call_heavy<'a>(
    env: Env<'a>,
    ctx: Term<'a>,
    tag: Term<'a>,
    module_name: Term<'a>,
    function_name: Term<'a>,
    call_args: Term<'a>,
    call_kwargs: Term<'a>,
    namespace: Term<'a>,
    flags: u32,
    deadline: Term<'a>,
) -> Term<'a> {
    let parts = match call_parts(env, module_name, function_name, call_args, call_kwargs) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let submit = match Submit::new(env, ctx, tag, namespace, flags, deadline) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let loan = Arc::new(Loan::offer(NifEnv::of(env), call_args.as_c_arg(), parts.kwargs));
    let job = Job::Call { module: parts.module, func: parts.func, args: CallArgs::Lent(loan.clone()) };
    let submitted = submit.send(MsgEnv::new(), job);
    // The loan must be settled before this NIF returns and its terms die.
    // A refused submission dropped the request unused.
    if !submitted.is_number() {
        loan.cancel();
    }
    loan.wait(LEND_PATIENCE);
    submitted
}

/// `context_eval(Ctx, Tag, Code, Locals, Env, Flags, Deadline) -> Seq | {error, R}`
#[rustler::nif]
#[allow(clippy::too_many_arguments)]
fn context_eval<'a>(
    env: Env<'a>,
    ctx: Term<'a>,
    tag: Term<'a>,
    source: Term<'a>,
    eval_locals: Term<'a>,
    namespace: Term<'a>,
    flags: u32,
    deadline: Term<'a>,
) -> Term<'a> {
    let Some(code) = name_bytes(NifEnv::of(env), source.as_c_arg()) else {
        return bad_arg(env, "code");
    };
    let Ok(locals) = optional_map(eval_locals) else {
        return bad_arg(env, "locals");
    };
    let submit = match Submit::new(env, ctx, tag, namespace, flags, deadline) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let msg_env = MsgEnv::new();
    let locals = locals.map(|t| msg_env.copy_from(t));
    submit.send(msg_env, Job::Eval { code, locals })
}

/// `context_exec(Ctx, Tag, Code, Env, Flags, Deadline) -> Seq | {error, R}`
#[rustler::nif]
fn context_exec<'a>(
    env: Env<'a>,
    ctx: Term<'a>,
    tag: Term<'a>,
    source: Term<'a>,
    namespace: Term<'a>,
    flags: u32,
    deadline: Term<'a>,
) -> Term<'a> {
    let Some(code) = name_bytes(NifEnv::of(env), source.as_c_arg()) else {
        return bad_arg(env, "code");
    };
    match Submit::new(env, ctx, tag, namespace, flags, deadline) {
        Ok(s) => s.send(MsgEnv::new(), Job::Exec { code }),
        Err(e) => e,
    }
}

/// `context_new_env(Ctx, Tag) -> Seq | {error, R}`; replies `{ok, EnvRef}`
/// with a fresh namespace of the context's interpreter.
#[rustler::nif]
fn context_new_env<'a>(env: Env<'a>, ctx: Term<'a>, tag: Term<'a>) -> Term<'a> {
    let undefined = rustler::types::atom::undefined().encode(env);
    match Submit::new(env, ctx, tag, undefined, 0, infinity().encode(env)) {
        Ok(s) => s.send(MsgEnv::new(), Job::NewEnv),
        Err(e) => e,
    }
}

/// `ref_call_method(Ref, Tag, Method, Args, Kwargs, Flags) -> Seq | {error, R}`
/// on the handle's context.
#[rustler::nif]
fn ref_call_method<'a>(
    env: Env<'a>,
    target: ResourceArc<PyRefRes>,
    tag: Term<'a>,
    method: Term<'a>,
    call_args: Term<'a>,
    call_kwargs: Term<'a>,
    flags: u32,
) -> Term<'a> {
    let Some(name) = name_bytes(NifEnv::of(env), method.as_c_arg()) else {
        return bad_arg(env, "method");
    };
    if call_args.list_length().is_err() {
        return bad_arg(env, "args");
    }
    let Ok(kwargs) = optional_map(call_kwargs) else {
        return bad_arg(env, "kwargs");
    };
    let undefined = rustler::types::atom::undefined().encode(env);
    let submit = match Submit::with_context(env, target.ctx.clone(), tag, undefined, flags, None) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let msg_env = MsgEnv::new();
    let args = msg_env.copy_from(call_args.as_c_arg());
    let kwargs = kwargs.map(|k| msg_env.copy_from(k));
    submit.send(msg_env, Job::Method { target, name, args, kwargs })
}

/// `ref_getattr(Ref, Tag, Name, Flags) -> Seq | {error, R}`
#[rustler::nif]
fn ref_getattr<'a>(env: Env<'a>, target: ResourceArc<PyRefRes>, tag: Term<'a>, attr: Term<'a>, flags: u32) -> Term<'a> {
    let Some(name) = name_bytes(NifEnv::of(env), attr.as_c_arg()) else {
        return bad_arg(env, "name");
    };
    let undefined = rustler::types::atom::undefined().encode(env);
    match Submit::with_context(env, target.ctx.clone(), tag, undefined, flags, None) {
        Ok(s) => s.send(MsgEnv::new(), Job::GetAttr { target, name }),
        Err(e) => e,
    }
}

/// `ref_to_term(Ref, Tag, Flags) -> Seq | {error, R}`: the handle's value
/// converted (parts with no Erlang form stay handles).
#[rustler::nif]
fn ref_to_term<'a>(env: Env<'a>, target: ResourceArc<PyRefRes>, tag: Term<'a>, flags: u32) -> Term<'a> {
    let undefined = rustler::types::atom::undefined().encode(env);
    match Submit::with_context(env, target.ctx.clone(), tag, undefined, flags, None) {
        Ok(s) => s.send(MsgEnv::new(), Job::ToTerm { target }),
        Err(e) => e,
    }
}
