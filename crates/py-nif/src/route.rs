//! What ties a request to the process that waits for it.
//!
//! * A [`Gate`] decides whether the reply (and, for calls whose caller
//!   serves callbacks, any callback message) may still be sent: a caller
//!   that stops waiting (timeout, `py:await` giving up) closes it first,
//!   and sends happen under the same lock, so nothing arrives after that.
//!   `py:spawn_call` references and task tags are gate resources
//!   ([`GateRes`]) so `py:await` can close the gate of a reply it will no
//!   longer read.
//! * A [`RouteState`] is one request's link to its caller: the gate, the
//!   call-limiter slot it holds until it runs, and a monitor of the caller.
//!   When the caller dies, its requests on that context are abandoned and
//!   interrupted (`caller_died` in `context.rs`): nobody would read their result. The
//!   monitor is set only once a request is older than a moment
//!   (`watch_callers` in `context.rs`, run periodically): monitoring every caller costs
//!   about half a microsecond per call, and short requests end before a
//!   dead caller could matter.
//! * [`Routes`] are a context's unfinished requests with a caller, by
//!   sequence number.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustler::sys::ErlNifPid;
use rustler::{Env, LocalPid, Monitor, Resource, ResourceArc, Term};

use crate::semaphore;

/// Whether a reply may still reach the process waiting for it.
pub struct Gate {
    open: Mutex<bool>,
}

impl Gate {
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate { open: Mutex::new(true) })
    }

    pub fn is_open(&self) -> bool {
        *self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `send` if the gate is open, ordered against [`Gate::close`]:
    /// once that has returned, nothing more is sent.
    pub fn send_if_open(&self, send: impl FnOnce() -> bool) -> bool {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        *open && send()
    }

    pub fn close(&self) {
        *self.open.lock().unwrap_or_else(|p| p.into_inner()) = false;
    }
}

/// A gate as an Erlang term (a reference to `is_reference/1`), used as the
/// tag of replies that may be given up on: `py:spawn_call`, tasks.
pub struct GateRes(pub Arc<Gate>);

#[rustler::resource_impl]
impl rustler::Resource for GateRes {}

/// The gate behind a tag, if the tag is a gate resource.
pub fn gate_of(t: Term<'_>) -> Option<Arc<Gate>> {
    t.decode::<ResourceArc<GateRes>>().ok().map(|g| g.0.clone())
}

/// `reply_gate() -> Gate`: a new open gate, to pass as a request's tag.
#[rustler::nif]
fn reply_gate() -> ResourceArc<GateRes> {
    ResourceArc::new(GateRes(Gate::new()))
}

/// `reply_gate_close(Gate) -> ok`: no reply tagged with it is sent from now
/// on (one already sent is in the caller's mailbox).
#[rustler::nif]
fn reply_gate_close(gate: ResourceArc<GateRes>) -> rustler::Atom {
    gate.0.close();
    rustler::types::atom::ok()
}

/// One request's link to its waiting caller.
pub struct RouteState {
    pub caller: ErlNifPid,
    pub gate: Arc<Gate>,
    /// The caller serves the request's callbacks while it waits (not for
    /// `spawn_call` and tasks, whose callers may be doing something else).
    serves_callbacks: bool,
    /// The request holds a call-limiter slot, given back once (when it has
    /// run, or at once if its caller gives up before it starts).
    slot: AtomicBool,
    started: AtomicBool,
    opened: Instant,
    monitor: Mutex<Option<Monitor>>,
}

impl RouteState {
    pub fn is_open(&self) -> bool {
        self.gate.is_open()
    }

    pub fn serves_callbacks(&self) -> bool {
        self.serves_callbacks
    }

    /// Runs `send` if the caller still waits (see [`Gate::send_if_open`]).
    pub fn send_if_open(&self, send: impl FnOnce() -> bool) -> bool {
        self.gate.send_if_open(send)
    }

    /// Gives the limiter slot back, if the request holds one.
    pub fn release_slot(&self) {
        if self.slot.swap(false, Ordering::AcqRel) {
            semaphore::release();
        }
    }

    /// The request starts running; returns false if its caller already
    /// gave up (it must not run).
    pub fn start(&self) -> bool {
        self.started.store(true, Ordering::Release);
        self.is_open()
    }
}

/// What a new route is made of.
pub struct NewRoute {
    pub caller: ErlNifPid,
    /// The request's tag is a gate resource (else a fresh gate is made).
    pub gate: Option<Arc<Gate>>,
    pub serves_callbacks: bool,
    /// The request took a call-limiter slot.
    pub counted: bool,
}

/// The routes of one context's unfinished requests that have a caller.
#[derive(Default)]
pub struct Routes(Mutex<HashMap<u64, Arc<RouteState>>>);

impl Routes {
    /// Registers a request about to be queued as `seq`.
    pub fn open(&self, seq: u64, new: NewRoute) -> Arc<RouteState> {
        let NewRoute { caller, gate, serves_callbacks, counted } = new;
        let state = Arc::new(RouteState {
            caller,
            gate: gate.unwrap_or_else(Gate::new),
            serves_callbacks,
            slot: AtomicBool::new(counted),
            started: AtomicBool::new(false),
            opened: Instant::now(),
            monitor: Mutex::new(None),
        });
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(seq, state.clone());
        state
    }

    /// Forgets a request that ended (or never ran): its slot is given back
    /// and its caller no longer monitored. `env` is the calling NIF's, or
    /// `None` on a thread the VM does not manage.
    pub fn end<R: Resource>(&self, env: Option<Env<'_>>, ctx: &ResourceArc<R>, seq: u64) {
        let state = self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&seq);
        if let Some(state) = state {
            state.release_slot();
            if let Some(m) = state.monitor.lock().unwrap_or_else(|p| p.into_inner()).take() {
                ctx.demonitor(env, &m);
            }
        }
    }

    fn get(&self, seq: u64) -> Option<Arc<RouteState>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&seq).cloned()
    }

    /// Monitors (from `env`) the callers of requests opened before
    /// `before` that are not monitored yet; returns the callers found dead.
    /// (The monitors are set on `ctx`, the context's resource: its down
    /// callback hears of the deaths.)
    pub fn monitor_older<R: Resource>(&self, env: Env<'_>, ctx: &ResourceArc<R>, before: Instant) -> Vec<LocalPid> {
        let routes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut dead = Vec::new();
        for r in routes.values().filter(|r| r.opened < before) {
            let mut monitor = r.monitor.lock().unwrap_or_else(|p| p.into_inner());
            if monitor.is_none() {
                let pid = LocalPid::from_c_arg(r.caller);
                match ctx.monitor(Some(env), &pid) {
                    Some(m) => *monitor = Some(m),
                    None => dead.push(pid),
                }
            }
        }
        dead
    }

    /// The caller of request `seq` stops waiting: its reply and later
    /// callbacks are not sent to it, its limiter slot is free at once if it
    /// has not started, and if it has not started it will not run.
    pub fn abandon(&self, seq: u64) {
        if let Some(state) = self.get(seq) {
            state.gate.close();
            if !state.started.load(Ordering::Acquire) {
                state.release_slot();
            }
        }
    }

    /// The requests whose caller is `pid`.
    pub fn of_caller(&self, pid: &LocalPid) -> Vec<u64> {
        let routes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        routes.iter().filter(|(_, r)| LocalPid::from_c_arg(r.caller) == *pid).map(|(seq, _)| *seq).collect()
    }
}
