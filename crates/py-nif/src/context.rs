//! Context NIFs: create contexts and hand them calls, evals and execs.
//!
//! A request NIF runs on a normal scheduler and only copies its arguments
//! into a private environment and queues a task (well under a microsecond);
//! the context thread converts, runs Python and sends `{Tag, Result}` to the
//! caller (see [`crate::reply`]). The NIF returns the task's sequence number,
//! which `context_interrupt/2` takes to interrupt exactly that request.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use py_convert::{term_to_py, PyObj, TermSource};
use py_core::{Context, ContextOptions, Mode, Task, Worker};
use rustler::sys::ErlNifPid;
use rustler::{Encoder, Env, ResourceArc, Term};

use crate::enif::{self, name_bytes, EnvSource, MsgEnv, NifEnv, RawTerm};
use crate::lend::Loan;
use crate::reply::{self, outcome_term, send_reply, Outcome};

rustler::atoms! {
    ok,
    error,
    worker,
    owngil,
    all,
    not_running,
    context_stopped,
    invalid_mode,
    bad_argument,
    traceback,
    interp_id,
    thread_id,
    mode,
    busy,
    heavy,
}

pub struct ContextRes {
    pub ctx: Context,
}

#[rustler::resource_impl]
impl rustler::Resource for ContextRes {}

/// Where a call's arguments are: copied into the request's environment, or
/// lent by a caller waiting on a dirty scheduler (see [`crate::lend`]).
enum CallArgs {
    Copied { args: RawTerm, kwargs: Option<RawTerm> },
    Lent(Arc<Loan>),
}

enum RequestKind {
    Call { module: Vec<u8>, func: Vec<u8>, args: CallArgs },
    Eval { code: Vec<u8>, locals: Option<RawTerm> },
    Exec { code: Vec<u8> },
}

/// One call, eval or exec on its way to a context thread.
struct Request {
    env: MsgEnv,
    caller: ErlNifPid,
    tag: RawTerm,
    want_traceback: bool,
    kind: RequestKind,
}

// SAFETY: the raw terms all live in `env`, which moves with the request and
// is only used by one thread at a time.
unsafe impl Send for Request {}

impl Task for Request {
    fn run(self: Box<Self>, w: &mut Worker) {
        let Request { env, caller, tag, want_traceback, kind } = *self;
        w.set_want_traceback(want_traceback);
        let src = EnvSource { env: env.env() };
        // Arguments and the result are released after the reply is sent:
        // freeing a large structure takes about as long as building it, and
        // the caller need not wait for that. (Deferring it further, until
        // the thread is idle, was measured slower: the next conversion then
        // gets fresh pages instead of the ones just freed.)
        let mut garbage = Vec::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| execute(w, &src, &kind, &mut garbage)))
            .unwrap_or(Outcome::Error("internal_error"));
        // Converting the result is not interruptible: from here on an
        // interrupt cannot hit this request (nor, later, another one).
        w.settle_request();
        send_reply(&caller, tag, |renv| {
            catch_unwind(AssertUnwindSafe(|| outcome_term(renv, w, &outcome)))
                .unwrap_or_else(|_| reply::error(renv, reply::atom(renv, "internal_error")))
        });
        drop(outcome);
        drop(garbage);
        w.set_want_traceback(false);
        w.clear_error();
        drop(env);
    }

    fn cancel(self: Box<Self>) {
        if let RequestKind::Call { args: CallArgs::Lent(loan), .. } = &self.kind {
            loan.cancel();
        }
        send_reply(&self.caller, self.tag, |renv| reply::error(renv, reply::atom(renv, "context_stopped")));
    }
}

fn execute(w: &mut Worker, src: &EnvSource, kind: &RequestKind, garbage: &mut Vec<PyObj>) -> Outcome {
    let run = || -> Result<Outcome, Outcome> {
        match kind {
            RequestKind::Call { module, func, args } => {
                let callable = w.resolve(module, func, None)?;
                let argv = garbage;
                let kw = match args {
                    CallArgs::Copied { args, kwargs } => convert_args(w, src, *args, *kwargs, argv)?,
                    CallArgs::Lent(loan) => loan
                        .with(|lent, args, kwargs| convert_args(w, lent, args, kwargs, argv))
                        .unwrap_or(Err(Outcome::Error("internal_error")))?,
                };
                let result = w.call(&callable, argv, kw.as_ref());
                if let Some(kw) = kw {
                    argv.push(kw);
                }
                Ok(Outcome::Value(result?))
            }
            RequestKind::Eval { code, locals } => {
                let locals = match locals {
                    Some(l) => Some(term_to_py(w.py(), w.types(), src, *l, w.limits())?),
                    None => None,
                };
                let result = w.eval(code, None, locals.as_ref());
                garbage.extend(locals);
                Ok(Outcome::Value(result?))
            }
            RequestKind::Exec { code } => {
                w.exec(code, None)?;
                Ok(Outcome::Done)
            }
        }
    };
    run().unwrap_or_else(|e| e)
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

fn bad_arg<'a>(env: Env<'a>, what: &str) -> Term<'a> {
    let what = rustler::Atom::from_str(env, what).map(|a| a.encode(env)).unwrap_or_else(|_| what.encode(env));
    (error(), (bad_argument(), what)).encode(env)
}

/// `#{}` or `[]` mean "none"; anything else must be a map.
fn optional_map(env: Env<'_>, t: Term<'_>) -> Result<Option<RawTerm>, ()> {
    if t.is_map() {
        Ok((t.map_size().unwrap_or(0) > 0).then_some(t.as_c_arg()))
    } else if t.is_empty_list() {
        Ok(None)
    } else {
        let _ = env;
        Err(())
    }
}

fn wants_traceback(opts: Term<'_>) -> bool {
    if !opts.is_map() || opts.map_size().unwrap_or(0) == 0 {
        return false;
    }
    opts.map_get(traceback()).ok().and_then(|v| v.decode::<bool>().ok()).unwrap_or(false)
}

fn submit<'a>(env: Env<'a>, ctx: &ContextRes, request: Request) -> Term<'a> {
    match ctx.ctx.submit(Box::new(request)) {
        Ok(seq) => seq.encode(env),
        Err(_) => (error(), context_stopped()).encode(env),
    }
}

fn new_request(env: Env<'_>, msg_env: MsgEnv, tag: Term<'_>, opts: Term<'_>, kind: RequestKind) -> Option<Request> {
    let caller = enif::self_pid(NifEnv::of(env))?;
    let tag = msg_env.copy_from(tag.as_c_arg());
    Some(Request { env: msg_env, caller, tag, want_traceback: wants_traceback(opts), kind })
}

/// `context_call(Ctx, Tag, Module, Function, Args, Kwargs, Opts) -> Seq | heavy | {error, R}`
/// (`heavy`: call `context_call_heavy/7` with the same arguments instead)
#[rustler::nif]
#[allow(clippy::too_many_arguments)]
fn context_call<'a>(
    env: Env<'a>,
    ctx: ResourceArc<ContextRes>,
    tag: Term<'a>,
    module_name: Term<'a>,
    function_name: Term<'a>,
    call_args: Term<'a>,
    call_kwargs: Term<'a>,
    opts: Term<'a>,
) -> Term<'a> {
    let Some(module_bytes) = name_bytes(NifEnv::of(env), module_name.as_c_arg()) else {
        return bad_arg(env, "module");
    };
    let Some(func_bytes) = name_bytes(NifEnv::of(env), function_name.as_c_arg()) else {
        return bad_arg(env, "function");
    };
    if !call_args.is_list() {
        return bad_arg(env, "args");
    }
    let Ok(kw) = optional_map(env, call_kwargs) else {
        return bad_arg(env, "kwargs");
    };
    let kw_term = kw.unwrap_or_default();
    if ctx.ctx.is_idle()
        && enif::heavier_than(NifEnv::of(env), &[call_args.as_c_arg(), kw_term], LEND_THRESHOLD)
    {
        // Large arguments: let the caller lend them (context_call_heavy/7)
        // rather than copy them here.
        return heavy().encode(env);
    }
    let msg_env = MsgEnv::new();
    let args_copy = msg_env.copy_from(call_args.as_c_arg());
    let kw_copy = kw.map(|k| msg_env.copy_from(k));
    let kind = RequestKind::Call {
        module: module_bytes,
        func: func_bytes,
        args: CallArgs::Copied { args: args_copy, kwargs: kw_copy },
    };
    match new_request(env, msg_env, tag, opts, kind) {
        Some(r) => submit(env, &ctx, r),
        None => (error(), context_stopped()).encode(env),
    }
}

/// Arguments with more terms than this are lent rather than copied (the
/// copy of 4 096 list cells takes ~15 µs, a dirty scheduler hop ~2 µs).
const LEND_THRESHOLD: usize = 4096;
/// How long a lender waits for the context to start its request before it
/// copies the arguments and returns instead.
const LEND_PATIENCE: Duration = Duration::from_millis(2);

/// `context_call_heavy(Ctx, Tag, Module, Function, Args, Kwargs, Opts) -> Seq | {error, R}`:
/// the same call as `context_call/7`, for the large arguments it answered
/// `heavy` for. Runs on a dirty CPU scheduler and returns once the context
/// thread has converted the arguments (or after copying them, if the context
/// did not start within a couple of milliseconds).
#[rustler::nif(schedule = "DirtyCpu")]
#[allow(clippy::too_many_arguments)]
fn context_call_heavy<'a>(
    env: Env<'a>,
    ctx: ResourceArc<ContextRes>,
    tag: Term<'a>,
    module_name: Term<'a>,
    function_name: Term<'a>,
    call_args: Term<'a>,
    call_kwargs: Term<'a>,
    opts: Term<'a>,
) -> Term<'a> {
    let Some(module_bytes) = name_bytes(NifEnv::of(env), module_name.as_c_arg()) else {
        return bad_arg(env, "module");
    };
    let Some(func_bytes) = name_bytes(NifEnv::of(env), function_name.as_c_arg()) else {
        return bad_arg(env, "function");
    };
    if !call_args.is_list() {
        return bad_arg(env, "args");
    }
    let Ok(kw) = optional_map(env, call_kwargs) else {
        return bad_arg(env, "kwargs");
    };
    let loan = Arc::new(Loan::offer(NifEnv::of(env), call_args.as_c_arg(), kw));
    let kind = RequestKind::Call { module: module_bytes, func: func_bytes, args: CallArgs::Lent(loan.clone()) };
    let Some(request) = new_request(env, MsgEnv::new(), tag, opts, kind) else {
        return (error(), context_stopped()).encode(env);
    };
    let submitted = submit(env, &ctx, request);
    // The loan must be settled before this NIF returns and its terms die.
    loan.wait(LEND_PATIENCE);
    submitted
}

/// `context_eval(Ctx, Tag, Code, Locals, Opts) -> Seq | {error, R}`
#[rustler::nif]
fn context_eval<'a>(
    env: Env<'a>,
    ctx: ResourceArc<ContextRes>,
    tag: Term<'a>,
    source: Term<'a>,
    eval_locals: Term<'a>,
    opts: Term<'a>,
) -> Term<'a> {
    let Some(code_bytes) = name_bytes(NifEnv::of(env), source.as_c_arg()) else {
        return bad_arg(env, "code");
    };
    let Ok(l) = optional_map(env, eval_locals) else {
        return bad_arg(env, "locals");
    };
    let msg_env = MsgEnv::new();
    let locals_copy = l.map(|t| msg_env.copy_from(t));
    let kind = RequestKind::Eval { code: code_bytes, locals: locals_copy };
    match new_request(env, msg_env, tag, opts, kind) {
        Some(r) => submit(env, &ctx, r),
        None => (error(), context_stopped()).encode(env),
    }
}

/// `context_exec(Ctx, Tag, Code, Opts) -> Seq | {error, R}`
#[rustler::nif]
fn context_exec<'a>(env: Env<'a>, ctx: ResourceArc<ContextRes>, tag: Term<'a>, source: Term<'a>, opts: Term<'a>) -> Term<'a> {
    let Some(code_bytes) = name_bytes(NifEnv::of(env), source.as_c_arg()) else {
        return bad_arg(env, "code");
    };
    let kind = RequestKind::Exec { code: code_bytes };
    match new_request(env, MsgEnv::new(), tag, opts, kind) {
        Some(r) => submit(env, &ctx, r),
        None => (error(), context_stopped()).encode(env),
    }
}

/// `context_create(Mode) -> {ok, Ctx, InterpId} | {error, R}`. Runs on a
/// dirty I/O scheduler: it waits for the thread (and sub-interpreter).
#[rustler::nif(schedule = "DirtyIo")]
fn context_create<'a>(env: Env<'a>, requested: Term<'a>) -> Term<'a> {
    let mode = if requested == worker().encode(env) {
        Mode::Worker
    } else if requested == owngil().encode(env) {
        Mode::OwnGil
    } else {
        return (error(), (invalid_mode(), requested)).encode(env);
    };
    let opts = ContextOptions {
        mode,
        limits: crate::runtime::configured_limits(),
        name: format!("py-{}", mode.name()),
        ..Default::default()
    };
    match Context::start(opts) {
        Ok(ctx) => {
            let id = ctx.interp_id();
            (ok(), ResourceArc::new(ContextRes { ctx }), id).encode(env)
        }
        Err(e) => (error(), reason_term(env, &e)).encode(env),
    }
}

/// Known failure texts become atoms; anything else a binary.
fn reason_term<'a>(env: Env<'a>, text: &str) -> Term<'a> {
    match text {
        "python_not_running" | "owngil_requires_python312" => {
            rustler::Atom::from_str(env, text).map(|a| a.encode(env)).unwrap_or_else(|_| text.encode(env))
        }
        _ => text.encode(env),
    }
}

/// `context_destroy(Ctx) -> ok`: stops the thread; queued requests are
/// answered `{error, context_stopped}`. Does not wait.
#[rustler::nif]
fn context_destroy(ctx: ResourceArc<ContextRes>) -> rustler::Atom {
    ctx.ctx.stop();
    ok()
}

/// `context_interrupt(Ctx, Seq | all) -> ok | not_running`
#[rustler::nif]
fn context_interrupt<'a>(env: Env<'a>, ctx: ResourceArc<ContextRes>, which: Term<'a>) -> Term<'a> {
    let seq = if which == all().encode(env) { None } else { which.decode::<u64>().ok() };
    if which != all().encode(env) && seq.is_none() {
        return bad_arg(env, "seq");
    }
    if ctx.ctx.interrupt(seq) {
        ok().encode(env)
    } else {
        not_running().encode(env)
    }
}

/// `context_info(Ctx) -> #{interp_id, thread_id, mode, busy}`
#[rustler::nif]
fn context_info<'a>(env: Env<'a>, ctx: ResourceArc<ContextRes>) -> rustler::NifResult<Term<'a>> {
    let c = &ctx.ctx;
    let m = if c.mode() == Mode::Worker { worker() } else { owngil() };
    Term::map_from_pairs(
        env,
        &[
            (interp_id().encode(env), c.interp_id().encode(env)),
            (thread_id().encode(env), c.native_thread_id().encode(env)),
            (mode().encode(env), m.encode(env)),
            (busy().encode(env), c.is_busy().encode(env)),
        ],
    )
}
