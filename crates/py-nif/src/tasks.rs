//! Tasks submitted from Erlang to an event loop (`py_event_loop:create_task`,
//! `py:async_call`): a call request flagged as a task runs
//! `_erlang_loop._start_task` on the context whose thread runs the loop, and
//! the outcome — at once for a plain function, when the task ends for a
//! coroutine — is sent to the caller as `{async_result, Ref, Result}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use py_convert::{Attached, PyErrInfo, PyObj};
use py_core::Worker;
use py_eventloop::{TaskOutcome, TaskSink};
use rustler::sys::ErlNifPid;
use rustler::ResourceArc;

use crate::context::ContextRes;
use crate::enif::{EnvSink, MsgEnv, NifEnv, RawTerm};
use crate::objects;
use crate::reply::{self, outcome_term, send_reply_gated, Outcome, Wrap};
use crate::route::Gate;
use py_convert::capi;

/// How a task's result message is wrapped.
pub const WRAP: Wrap = Wrap::Named("async_result");

/// Who is told when a task ends.
struct Pending {
    caller: ErlNifPid,
    /// Holds `tag`.
    _env: MsgEnv,
    tag: RawTerm,
    ctx: ResourceArc<ContextRes>,
    /// Closed when the caller stops waiting (no late outcome then).
    gate: Option<Arc<Gate>>,
}

// SAFETY: the tag lives in `env`, which moves with it.
unsafe impl Send for Pending {}

fn pending() -> &'static Mutex<HashMap<u64, Pending>> {
    static PENDING: OnceLock<Mutex<HashMap<u64, Pending>>> = OnceLock::new();
    PENDING.get_or_init(Default::default)
}

/// Starts `callable(*args, **kwargs)` as a task on the loop running on this
/// context thread; the outcome goes to `caller` (if any) tagged `tag` (a
/// term of another env, copied here).
#[allow(clippy::too_many_arguments)]
pub fn start(
    w: &Worker,
    ctx: &ResourceArc<ContextRes>,
    caller: Option<ErlNifPid>,
    tag: RawTerm,
    gate: Option<Arc<Gate>>,
    callable: PyObj,
    args: &[PyObj],
    kwargs: Option<&PyObj>,
) -> Result<(), Outcome> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let token = NEXT.fetch_add(1, Ordering::Relaxed);
    if let Some(caller) = caller {
        let env = MsgEnv::new();
        let tag = env.copy_from(tag);
        pending()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token, Pending { caller, _env: env, tag, ctx: ctx.clone(), gate });
    }
    let py = w.py();
    let started = (|| -> Result<(), Outcome> {
        let start = w.resolve(b"_erlang_loop", b"_start_task", None)?;
        let internal = || Outcome::Error("internal_error");
        let argv = capi::tuple_of(py, args).ok_or_else(internal)?;
        let kw = match kwargs {
            Some(k) => k.clone(),
            None => capi::none(py).ok_or_else(internal)?,
        };
        let token_obj = capi::new_int(py, token as i64).ok_or_else(internal)?;
        w.call(&start, &[callable, argv, kw, token_obj], None)?;
        Ok(())
    })();
    if started.is_err() {
        pending().lock().unwrap_or_else(|p| p.into_inner()).remove(&token);
    }
    started
}

/// Sends task outcomes to their callers.
pub struct TaskReplies;

impl TaskSink for TaskReplies {
    fn done(&self, py: Attached<'_>, token: u64, outcome: TaskOutcome<'_>) {
        let Some(p) = pending().lock().unwrap_or_else(|p| p.into_inner()).remove(&token) else {
            return;
        };
        let outcome = match outcome {
            TaskOutcome::Value(v) => Outcome::Value(v.clone()),
            TaskOutcome::Raised(e) => Outcome::PyError(PyErrInfo::from_exception(py, e, false)),
            TaskOutcome::Cancelled => Outcome::Error("cancelled"),
        };
        let sent = py_core::with_worker(|w| {
            let make_handle = |e: NifEnv, o: &PyObj| Ok(objects::make_handle(e, w, &p.ctx, o));
            let build = |renv| {
                let mut sink = EnvSink { env: renv, large_maps: false, handles: Some(&make_handle) };
                outcome_term(renv, w, &mut sink, &outcome, w.limits())
            };
            send_reply_gated(&p.caller, p.tag, WRAP, build, p.gate.as_deref());
        });
        if sent.is_none() {
            // Not on a context thread (a loop started by hand elsewhere).
            let build = |renv| reply::error(renv, reply::atom(renv, "not_on_a_context"));
            send_reply_gated(&p.caller, p.tag, WRAP, build, p.gate.as_deref());
        }
        drop(outcome);
        drop(p);
    }
}
