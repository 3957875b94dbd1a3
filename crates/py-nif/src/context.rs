//! Context resources and their lifecycle NIFs: create, destroy, interrupt,
//! describe. Requests to a context are in [`crate::request`].

use py_core::{Context, ContextOptions, Mode};
use rustler::{Encoder, Env, LocalPid, ResourceArc, Term};

rustler::atoms! {
    ok,
    error,
    worker,
    owngil,
    all,
    not_running,
    invalid_mode,
    bad_argument,
    interp_id,
    thread_id,
    mode,
    busy,
}

pub struct ContextRes {
    pub ctx: Context,
    /// The `py_context` process that created it (where operations on the
    /// object handles this context makes are routed).
    pub owner: Option<LocalPid>,
    /// Routes of unfinished requests to their waiting callers (see
    /// `callback::abandon`).
    pub routes: crate::callback::Routes,
}

#[rustler::resource_impl]
impl rustler::Resource for ContextRes {}

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
            let owner = env.pid();
            (ok(), ResourceArc::new(ContextRes { ctx, owner: Some(owner), routes: Default::default() }), id).encode(env)
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
        return (error(), (bad_argument(), rustler::Atom::from_str(env, "seq").unwrap_or(error()))).encode(env);
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
