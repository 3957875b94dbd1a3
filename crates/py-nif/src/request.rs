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

use py_convert::{ArrayMode, PyErrInfo, PyObj};
use py_core::{job, Worker};
use rustler::sys::ErlNifPid;
use rustler::{Encoder, Env, ResourceArc, Term};

use crate::atoms::{heavy, infinity};
use crate::callback;
use crate::context::{context_arg, ContextRes};
use crate::enif::{self, name_bytes, EnvSink, EnvSource, MsgEnv, NifEnv, RawTerm};
use crate::error::bad_arg;
use crate::error::NifError;
use crate::lend::Loan;
use crate::objects::{self, EnvRes, PyRefRes};
use crate::reply::{self, outcome_term, send_reply, Outcome, Wrap};
use crate::route::{self, RouteState};
use crate::semaphore;
use crate::tasks;

// Request flags: the Erlang side gets them as macros in the generated
// `src/py_nif_flags.hrl` (`make stub`), so they are written only here.
/// The request holds a slot of the call limiter, given back when it ends.
pub const FLAG_COUNTED: u32 = 2;
/// Nobody waits for the reply: none is sent.
pub const FLAG_NOREPLY: u32 = 4;
/// Reply as `{py_response, Ref, Result}` (spawn_call/await).
pub const FLAG_RESPONSE: u32 = 8;
/// Run as an event-loop task; reply as `{async_result, Ref, Result}`.
pub const FLAG_TASK: u32 = 16;
/// The caller does not serve `erlang.call` callbacks while it waits: they
/// go to the `py_callback` server.
pub const FLAG_NO_CALLBACKS: u32 = 32;
/// Arrays in the result (numpy arrays, buffers) become
/// `{tensor, Type, Shape, Binary}` terms instead of lists.
pub const FLAG_TENSORS: u32 = 64;

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

/// What a request does: a job any term source can describe
/// (`py_core::job`, terms in the request's env), or one only the NIF has.
enum Job {
    Core(job::Job<RawTerm>),
    /// A call whose arguments a caller on a dirty scheduler lends (see
    /// [`crate::lend`]).
    LentCall {
        module: Vec<u8>,
        func: Vec<u8>,
        loan: Arc<Loan>,
    },
    Method {
        target: ResourceArc<PyRefRes>,
        name: Vec<u8>,
        args: RawTerm,
        kwargs: Option<RawTerm>,
    },
    GetAttr {
        target: ResourceArc<PyRefRes>,
        name: Vec<u8>,
    },
    ToTerm {
        target: ResourceArc<PyRefRes>,
    },
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
        let arrays = if flags & FLAG_TENSORS != 0 { ArrayMode::Tensor } else { ArrayMode::Lists };
        let limits = w.limits().with_arrays(arrays);
        let outcome =
            catch_unwind(AssertUnwindSafe(|| execute(w, &src, namespace.as_ref(), &job, task.as_ref(), &mut garbage)))
                .unwrap_or(Outcome::Error("internal_error"));
        if let (Some(caller), false) = (caller, matches!(outcome, Outcome::Started)) {
            let make_handle = |e: NifEnv, o: &PyObj| Ok(objects::make_handle(e, w, &ctx, o));
            let build = |renv| {
                let mut sink = EnvSink { env: renv, large_maps: false, handles: Some(&make_handle) };
                // Converting the result can run Python code (numpy's
                // tolist, say): it stays interruptible until it is done.
                let result = catch_unwind(AssertUnwindSafe(|| outcome_term(renv, w, &mut sink, &outcome, limits)))
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
        if let Job::LentCall { loan, .. } = &self.job {
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
            Job::Core(job::Job::Call { module, func, args, kwargs }) if task.is_some() => {
                let callable = w.resolve(module, func, globals.as_ref()).map_err(unresolved_task)?;
                let kw = job::convert_args(w, src, *args, *kwargs, garbage)?;
                start_task(w, task, callable, garbage, kw)
            }
            Job::Core(j) => Ok(job::run(w, src, globals.as_ref(), j, garbage)?.into()),
            Job::LentCall { module, func, loan } => {
                let resolved = w.resolve(module, func, globals.as_ref());
                let callable = if task.is_some() { resolved.map_err(unresolved_task)? } else { resolved? };
                let argv = &mut *garbage;
                let kw = loan
                    .with(|env, args, kwargs| {
                        let lent = EnvSource { env, handles: src.handles };
                        job::convert_args(w, &lent, args, kwargs, argv)
                    })
                    .unwrap_or(Err(job::Failed::Named("internal_error")))?;
                if task.is_some() {
                    return start_task(w, task, callable, garbage, kw);
                }
                Ok(job::call_prepared(w, globals.as_ref(), &callable, garbage, kw)?.into())
            }
            Job::Method { target, name, args, kwargs } => {
                let obj = target.obj.get(w.py()).ok_or(Outcome::Error("ref_wrong_interpreter"))?;
                let method = w.getattr(&obj, name)?;
                let argv = garbage;
                let kw = job::convert_args(w, src, *args, *kwargs, argv)?;
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

/// A task whose function cannot be found (its module cannot be imported,
/// or has no such attribute) ends as the C library's `submit_task` says:
/// `{error, function_not_found}`. An interrupt stays an interrupt.
fn unresolved_task(e: PyErrInfo) -> Outcome {
    if e.is("KeyboardInterrupt") {
        Outcome::PyError(e)
    } else {
        Outcome::Error("function_not_found")
    }
}

/// Starts a prepared call as a task on this thread's event loop.
fn start_task(
    w: &Worker,
    task: Option<&TaskStart<'_>>,
    callable: PyObj,
    argv: &mut Vec<PyObj>,
    kw: Option<PyObj>,
) -> Result<Outcome, Outcome> {
    let Some(t) = task else { return Err(Outcome::Error("internal_error")) };
    let started = tasks::start(w, t.ctx, t.caller, t.tag, t.gate.clone(), callable, argv, kw.as_ref());
    argv.extend(kw);
    started?;
    Ok(Outcome::Started)
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
            return Err(NifError::ContextStopped.encode(env));
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
                return Err(NifError::EnvWrongInterpreter.encode(env));
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
                None => return NifError::ContextStopped.encode(env),
            }
        };
        let counted = self.flags & FLAG_COUNTED != 0;
        if counted {
            if let Err((current, max)) = semaphore::try_acquire_or_wait(caller) {
                return NifError::Overloaded { running: current, max }.encode(env);
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
                NifError::ContextStopped.encode(env)
            }
        }
    }
}

/// Reads a job from the NIF's arguments (`py_core::job`), or the
/// `{error, {bad_argument, What}}` term.
/// Where a call goes: the arguments `context_call/9` and
/// `context_call_heavy/9` share after the call itself.
struct CallTarget<'a> {
    ctx: Term<'a>,
    tag: Term<'a>,
    namespace: Term<'a>,
    flags: u32,
    deadline: Term<'a>,
}

/// Reads a call (`[Module, Function, Args, Kwargs]`) and where it goes, as
/// both call NIFs do.
fn read_call<'a>(
    env: Env<'a>,
    [module_name, function_name, call_args, call_kwargs]: [Term<'a>; 4],
    target: CallTarget<'a>,
) -> Result<(job::Job<RawTerm>, Submit<'a>), Term<'a>> {
    let call = read_job(env, |src| {
        job::call(src, module_name.as_c_arg(), function_name.as_c_arg(), call_args.as_c_arg(), call_kwargs.as_c_arg())
    })?;
    let CallTarget { ctx, tag, namespace, flags, deadline } = target;
    Ok((call, Submit::new(env, ctx, tag, namespace, flags, deadline)?))
}

fn read_job<'a>(
    env: Env<'a>,
    read: impl FnOnce(&EnvSource) -> Result<job::Job<RawTerm>, job::BadArgument>,
) -> Result<job::Job<RawTerm>, Term<'a>> {
    read(&EnvSource::plain(NifEnv::of(env))).map_err(|e| bad_arg(env, e.name()))
}

/// The same job with its terms copied into `msg_env`.
fn copied(msg_env: &MsgEnv, j: job::Job<RawTerm>) -> job::Job<RawTerm> {
    match j {
        job::Job::Call { module, func, args, kwargs } => {
            job::Job::Call { module, func, args: msg_env.copy_from(args), kwargs: kwargs.map(|k| msg_env.copy_from(k)) }
        }
        job::Job::Eval { code, locals } => job::Job::Eval { code, locals: locals.map(|l| msg_env.copy_from(l)) },
        other => other,
    }
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
    let target = CallTarget { ctx, tag, namespace, flags, deadline };
    let (call, submit) = match read_call(env, [module_name, function_name, call_args, call_kwargs], target) {
        Ok(parts) => parts,
        Err(e) => return e,
    };
    if let job::Job::Call { args, kwargs, .. } = &call {
        if flags & FLAG_NOREPLY == 0
            && submit.ctx.ctx.is_idle()
            && enif::heavier_than(NifEnv::of(env), &[*args, kwargs.unwrap_or_default()], LEND_THRESHOLD)
        {
            // Large arguments: let the caller lend them (context_call_heavy/9)
            // rather than copy them here.
            return heavy().encode(env);
        }
    }
    let msg_env = MsgEnv::new();
    let call = copied(&msg_env, call);
    submit.send(msg_env, Job::Core(call))
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
    let target = CallTarget { ctx, tag, namespace, flags, deadline };
    let (module, func, args, kwargs, submit) =
        match read_call(env, [module_name, function_name, call_args, call_kwargs], target) {
            Ok((job::Job::Call { module, func, args, kwargs }, submit)) => (module, func, args, kwargs, submit),
            Ok(_) => return bad_arg(env, "args"),
            Err(e) => return e,
        };
    let loan = Arc::new(Loan::offer(NifEnv::of(env), args, kwargs));
    let job = Job::LentCall { module, func, loan: loan.clone() };
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
    let eval = match read_job(env, |src| job::eval(src, source.as_c_arg(), eval_locals.as_c_arg())) {
        Ok(e) => e,
        Err(e) => return e,
    };
    let submit = match Submit::new(env, ctx, tag, namespace, flags, deadline) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let msg_env = MsgEnv::new();
    let eval = copied(&msg_env, eval);
    submit.send(msg_env, Job::Core(eval))
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
    let exec = match read_job(env, |src| job::exec(src, source.as_c_arg())) {
        Ok(e) => e,
        Err(e) => return e,
    };
    match Submit::new(env, ctx, tag, namespace, flags, deadline) {
        Ok(s) => s.send(MsgEnv::new(), Job::Core(exec)),
        Err(e) => e,
    }
}

/// `context_new_env(Ctx, Tag) -> Seq | {error, R}`; replies `{ok, EnvRef}`
/// with a fresh namespace of the context's interpreter.
#[rustler::nif]
fn context_new_env<'a>(env: Env<'a>, ctx: Term<'a>, tag: Term<'a>) -> Term<'a> {
    let undefined = rustler::types::atom::undefined().encode(env);
    match Submit::new(env, ctx, tag, undefined, 0, infinity().encode(env)) {
        Ok(s) => s.send(MsgEnv::new(), Job::Core(job::Job::NewEnv)),
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
    let Some(kwargs) = job::optional_map(&EnvSource::plain(NifEnv::of(env)), call_kwargs.as_c_arg()) else {
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
