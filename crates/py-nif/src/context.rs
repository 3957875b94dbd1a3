//! Context resources and their lifecycle NIFs: create, find by pid,
//! destroy, interrupt, describe. Requests to a context are in
//! [`crate::request`].
//!
//! Every context is registered under the pid of the `py_context` process
//! that created it until it is destroyed, so Erlang code passes the pid and
//! no process keeps a copy of the resource: a stopped context leaves no
//! reference behind in its callers.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use py_core::{Context, ContextOptions, Mode};
use rustler::{Encoder, Env, LocalPid, Monitor, ResourceArc, Term};

use crate::atoms;
use crate::atoms::{all, busy, interp_id, mode, owngil, stopping, thread_id, worker};
use crate::error::NifError;

pub struct ContextRes {
    pub ctx: Context,
    /// The `py_context` process that created it (where operations on the
    /// object handles this context makes are routed).
    pub owner: Option<LocalPid>,
    /// Unfinished requests with a caller (see [`crate::route`]).
    pub routes: crate::route::Routes,
}

#[rustler::resource_impl]
impl rustler::Resource for ContextRes {
    const IMPLEMENTS_DOWN: bool = true;

    /// A caller of one of this context's requests died.
    fn down<'a>(&'a self, _env: Env<'a>, pid: LocalPid, _monitor: Monitor) {
        self.caller_died(&pid);
    }
}

impl ContextRes {
    /// A caller of requests on this context died: each is abandoned and
    /// interrupted (nobody would read its result).
    pub fn caller_died(&self, pid: &LocalPid) {
        for seq in self.routes.of_caller(pid) {
            self.routes.abandon(seq);
            self.ctx.interrupt(Some(seq));
        }
    }
}

/// `watch_callers(MinAgeMs) -> ok`: monitors the callers of every request
/// older than `MinAgeMs` (on every live context) that are not monitored
/// yet; the requests of callers already dead are abandoned and
/// interrupted. `py_context_registry` runs it periodically.
#[rustler::nif]
fn watch_callers(env: Env<'_>, min_age_ms: u64) -> rustler::Atom {
    let before = Instant::now() - Duration::from_millis(min_age_ms);
    for ctx in live_contexts() {
        for pid in ctx.routes.monitor_older(env, &ctx, before) {
            ctx.caller_died(&pid);
        }
    }
    atoms::ok()
}

/// `context_abandon(Ctx, Seq) -> ok | not_running`: the caller of request
/// `Seq` gives up (timeout): interrupts it if it runs, drops it if it has
/// not started, and sends its later callbacks to `py_callback`.
#[rustler::nif]
fn context_abandon(ctx: Term<'_>, seq: u64) -> rustler::Atom {
    let Some(ctx) = context_arg(ctx) else {
        return atoms::not_running();
    };
    ctx.routes.abandon(seq);
    if ctx.ctx.interrupt(Some(seq)) {
        atoms::ok()
    } else {
        atoms::not_running()
    }
}

/// Live contexts by the pid of their `py_context` process.
fn registry() -> &'static RwLock<HashMap<LocalPid, ResourceArc<ContextRes>>> {
    static REGISTRY: std::sync::OnceLock<RwLock<HashMap<LocalPid, ResourceArc<ContextRes>>>> =
        std::sync::OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Every live (registered) context.
pub fn live_contexts() -> Vec<ResourceArc<ContextRes>> {
    registry().read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
}

/// The context a term names: a context pid (registered, not destroyed) or
/// the context resource itself.
pub fn context_arg(t: Term<'_>) -> Option<ResourceArc<ContextRes>> {
    if let Ok(pid) = t.decode::<LocalPid>() {
        return registry().read().unwrap_or_else(|p| p.into_inner()).get(&pid).cloned();
    }
    t.decode::<ResourceArc<ContextRes>>().ok()
}

/// `context_create(Mode) -> {ok, Ctx, InterpId} | {error, R}`. Runs on a
/// dirty I/O scheduler: it waits for the thread (and sub-interpreter). The
/// context is registered under the calling process's pid.
#[rustler::nif(schedule = "DirtyIo")]
fn context_create<'a>(env: Env<'a>, requested: Term<'a>) -> Term<'a> {
    let mode = if requested == worker().encode(env) {
        Mode::Worker
    } else if requested == owngil().encode(env) {
        Mode::OwnGil
    } else {
        return NifError::InvalidMode(requested).encode(env);
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
            let res = ResourceArc::new(ContextRes { ctx, owner: Some(owner), routes: Default::default() });
            registry().write().unwrap_or_else(|p| p.into_inner()).insert(owner, res.clone());
            (atoms::ok(), res, id).encode(env)
        }
        Err(e) => (atoms::error(), reason_term(env, &e)).encode(env),
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

/// `context_ref(Ctx) -> {ok, Ref} | error`: the resource of a live context.
#[rustler::nif]
fn context_ref<'a>(env: Env<'a>, ctx: Term<'a>) -> Term<'a> {
    match context_arg(ctx) {
        Some(res) => (atoms::ok(), res).encode(env),
        None => atoms::error().encode(env),
    }
}

/// `context_destroy(Ctx, GraceMs) -> ok | {error, {not_stopped, Detail}}`:
/// stops the thread (queued requests are answered `{error,
/// context_stopped}`), waiting up to `GraceMs` for its code to end. Code
/// that ignores the interrupt is stopped at every line after a moment
/// (Python 3.12+). If the thread still runs the context's code at the end
/// (blocked in C, say), the context stays registered and stopping; the
/// caller may call again. On a dirty I/O scheduler: it may wait.
#[rustler::nif(schedule = "DirtyIo")]
fn context_destroy<'a>(env: Env<'a>, ctx: Term<'a>, grace_ms: u64) -> Term<'a> {
    let Some(res) = context_arg(ctx) else {
        return atoms::ok().encode(env);
    };
    if res.ctx.stop_and_wait(Duration::from_millis(grace_ms)) {
        if let Some(owner) = &res.owner {
            let mut reg = registry().write().unwrap_or_else(|p| p.into_inner());
            if reg.get(owner).is_some_and(|r| std::ptr::eq(&**r, &*res)) {
                reg.remove(owner);
            }
        }
        return atoms::ok().encode(env);
    }
    let detail = if res.ctx.is_doomed() { "ignores interrupts or is blocked in C" } else { "still running" };
    NifError::NotStopped(detail).encode(env)
}

/// `context_forget(Pid) -> ok`: the context's process is gone: the context
/// is stopped (without waiting) and no longer found by that pid.
#[rustler::nif]
fn context_forget(pid: LocalPid) -> rustler::Atom {
    let res = registry().write().unwrap_or_else(|p| p.into_inner()).remove(&pid);
    if let Some(res) = res {
        res.ctx.stop();
    }
    atoms::ok()
}

/// `context_interrupt(Ctx, Seq | all) -> ok | not_running`
#[rustler::nif]
fn context_interrupt<'a>(env: Env<'a>, ctx: Term<'a>, which: Term<'a>) -> Term<'a> {
    let seq = if which == all().encode(env) { None } else { which.decode::<u64>().ok() };
    if which != all().encode(env) && seq.is_none() {
        return crate::error::bad_arg(env, "seq");
    }
    match context_arg(ctx) {
        Some(res) if res.ctx.interrupt(seq) => atoms::ok().encode(env),
        _ => atoms::not_running().encode(env),
    }
}

/// `context_info(Ctx) -> #{interp_id, thread_id, mode, busy, stopping}`
#[rustler::nif]
fn context_info<'a>(env: Env<'a>, ctx: Term<'a>) -> rustler::NifResult<Term<'a>> {
    let res = context_arg(ctx).ok_or(rustler::Error::BadArg)?;
    let c = &res.ctx;
    let m = if c.mode() == Mode::Worker { worker() } else { owngil() };
    Term::map_from_pairs(
        env,
        &[
            (interp_id().encode(env), c.interp_id().encode(env)),
            (thread_id().encode(env), c.native_thread_id().encode(env)),
            (mode().encode(env), m.encode(env)),
            (busy().encode(env), c.is_busy().encode(env)),
            (stopping().encode(env), c.is_stopped().encode(env)),
        ],
    )
}

/// `owngil_pool(Max) -> ok`: how many own-GIL interpreters may wait for
/// reuse after their context ends (0 turns reuse off).
#[rustler::nif]
fn owngil_pool(max: usize) -> rustler::Atom {
    py_core::pool::set_max_idle(max);
    atoms::ok()
}

/// `owngil_pool_info() -> {Idle, Max}`
#[rustler::nif]
fn owngil_pool_info() -> (usize, usize) {
    (py_core::pool::idle_count(), py_core::pool::max_idle())
}
