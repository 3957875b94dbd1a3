//! The call limiter behind `py_semaphore` and `{error, {overloaded, Cur, Max}}`.
//!
//! A slot is taken by the NIF that submits a pool-routed call and given back
//! by the context thread when the call has run (or was cancelled), so it is
//! tied to the request itself: a caller that is killed or times out cannot
//! leak a slot.
//!
//! A caller that finds no free slot is queued as a waiter; each release
//! sends `py_semaphore_free` to the first waiter still alive, which then
//! tries again (callers also retry on a short timer, so a wake-up lost to a
//! waiter that gave up meanwhile delays nobody for long). A waiter that
//! stops waiting calls `semaphore_forget/0` and then drops any wake-up in
//! its mailbox: wake-ups are sent under the queue lock, so none can arrive
//! after that.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rustler::sys::ErlNifPid;
use rustler::{Encoder, Env, LocalPid, Term};

use crate::atoms::{infinity, ok, overloaded};
use crate::enif::MsgEnv;

static MAX: AtomicUsize = AtomicUsize::new(usize::MAX);
static CURRENT: AtomicUsize = AtomicUsize::new(0);

/// Takes a slot, or returns `(current, max)` when none is free.
pub fn try_acquire() -> Result<(), (usize, usize)> {
    let max = MAX.load(Ordering::Relaxed);
    let prev = CURRENT.fetch_add(1, Ordering::AcqRel);
    if prev >= max {
        CURRENT.fetch_sub(1, Ordering::AcqRel);
        return Err((prev, max));
    }
    Ok(())
}

/// Callers waiting for a slot, each once, in arrival order. A waiter that
/// stops waiting leaves `members` at once and its queue entry is skipped
/// when reached (so leaving costs no scan of the queue).
struct Waiters {
    queue: VecDeque<LocalPid>,
    members: HashSet<LocalPid>,
}

impl Waiters {
    fn add(&mut self, pid: LocalPid) {
        if self.members.insert(pid) {
            self.queue.push_back(pid);
        }
        // Entries of waiters that left pile up while nothing is released.
        if self.queue.len() > 2 * self.members.len() + 64 {
            let members = &self.members;
            self.queue.retain(|p| members.contains(p));
        }
        WAITING.store(self.members.len(), Ordering::Release);
    }

    fn remove(&mut self, pid: &LocalPid) {
        self.members.remove(pid);
        if self.members.is_empty() {
            self.queue.clear();
        }
        WAITING.store(self.members.len(), Ordering::Release);
    }

    /// The first waiter still waiting, taken out.
    fn pop(&mut self) -> Option<LocalPid> {
        while let Some(pid) = self.queue.pop_front() {
            if self.members.remove(&pid) {
                WAITING.store(self.members.len(), Ordering::Release);
                return Some(pid);
            }
        }
        None
    }
}

static WAITERS: Mutex<Option<Waiters>> = Mutex::new(None);
static WAITING: AtomicUsize = AtomicUsize::new(0);

fn with_waiters<R>(f: impl FnOnce(&mut Waiters) -> R) -> R {
    let mut w = WAITERS.lock().unwrap_or_else(|p| p.into_inner());
    f(w.get_or_insert_with(|| Waiters { queue: VecDeque::new(), members: HashSet::new() }))
}

/// Like `try_acquire`, queueing `caller` to be told when a slot frees.
pub fn try_acquire_or_wait(caller: Option<ErlNifPid>) -> Result<(), (usize, usize)> {
    try_acquire()
        .inspect(|_| {
            // A waiter that got its slot leaves the queue.
            if let (Some(pid), true) = (caller, WAITING.load(Ordering::Acquire) > 0) {
                forget(&pid);
            }
        })
        .inspect_err(|_| {
            if let Some(pid) = caller {
                with_waiters(|w| w.add(LocalPid::from_c_arg(pid)));
            }
        })
}

pub fn release() {
    // Saturating: a manual release without acquire must not wrap around.
    let _ = CURRENT.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(1));
    // Context threads wake a waiter; a release from inside a NIF (a refused
    // submission, a manual release) leaves waiters to their retry timer:
    // sending from a scheduler would need the caller's own environment.
    if WAITING.load(Ordering::Acquire) > 0 && !rustler::thread::is_scheduler_thread() {
        wake_one();
    }
}

/// Tells the first live waiter that a slot is free. Sent under the
/// waiters' lock, so a waiter that has left (`semaphore_forget/0`) gets
/// nothing after that.
fn wake_one() {
    let mut env = MsgEnv::new();
    with_waiters(|w| {
        while let Some(pid) = w.pop() {
            let Some(msg) = crate::enif::make_atom(env.env(), "py_semaphore_free") else { return };
            // A failed send means the waiter is gone: try the next one.
            if env.send_and_clear(pid.as_c_arg(), msg) {
                return;
            }
            env.clear();
        }
    })
}

/// `semaphore_set_max(N | infinity) -> ok`
#[rustler::nif]
fn semaphore_set_max<'a>(env: Env<'a>, max: Term<'a>) -> Term<'a> {
    let value = if max == infinity().encode(env) { Some(usize::MAX) } else { max.decode::<usize>().ok() };
    match value {
        Some(v) => {
            MAX.store(v, Ordering::Relaxed);
            ok().encode(env)
        }
        None => (rustler::types::atom::error(), rustler::types::atom::badarg()).encode(env),
    }
}

/// `semaphore_info() -> {Current, Max | infinity}`
#[rustler::nif]
fn semaphore_info(env: Env<'_>) -> Term<'_> {
    let current = CURRENT.load(Ordering::Relaxed);
    match MAX.load(Ordering::Relaxed) {
        usize::MAX => (current, infinity()).encode(env),
        m => (current, m).encode(env),
    }
}

/// `semaphore_acquire() -> ok | {overloaded, Current, Max}` (manual use;
/// the caller must `semaphore_release/0`).
#[rustler::nif]
fn semaphore_acquire(env: Env<'_>) -> Term<'_> {
    match try_acquire() {
        Ok(()) => ok().encode(env),
        Err((c, m)) => (overloaded(), c, m).encode(env),
    }
}

/// `semaphore_forget() -> ok`: the calling process no longer waits for a
/// slot; after this returns no `py_semaphore_free` will be sent to it.
#[rustler::nif]
fn semaphore_forget(env: Env<'_>) -> rustler::Atom {
    if let Some(me) = crate::enif::self_pid(crate::enif::NifEnv::of(env)) {
        forget(&me);
    }
    ok()
}

fn forget(pid: &ErlNifPid) {
    with_waiters(|w| w.remove(&LocalPid::from_c_arg(*pid)));
}

/// `semaphore_release() -> ok`
#[rustler::nif]
fn semaphore_release() -> rustler::Atom {
    release();
    ok()
}
