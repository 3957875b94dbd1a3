//! Arguments lent by a waiting caller instead of copied.
//!
//! Copying a large argument (100 000 list cells) into a request environment
//! costs about as much as converting it. For large arguments the caller
//! instead runs a NIF on a dirty scheduler that offers its own terms to the
//! context thread and blocks until the context thread has converted them:
//! the terms cannot move or die while that NIF runs. If the context does
//! not pick the request up promptly, the caller stops waiting, leaves a
//! copy behind and returns, so a busy context never pins a dirty scheduler.
//!
//! State machine (under one mutex):
//! `Offered` -> `InUse` -> `Returned` when the context thread converts;
//! `Offered` -> `Copied` -> `Returned` when the lender gives up waiting;
//! `Offered` -> `Returned` when the context stops before running it.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::enif::{MsgEnv, NifEnv, RawTerm};

enum State {
    Offered { env: NifEnv, args: RawTerm, kwargs: Option<RawTerm> },
    InUse,
    Copied { env: MsgEnv, args: RawTerm, kwargs: Option<RawTerm> },
    Returned,
}

pub struct Loan {
    state: Mutex<State>,
    changed: Condvar,
}

// SAFETY: the lender's environment pointer is only dereferenced by the
// context thread between `Offered` and `Returned`, while the lender is
// blocked in `wait` (so its NIF call, and its terms, are alive); the copied
// environment moves with the state under the mutex.
unsafe impl Send for Loan {}
// SAFETY: as above; all access goes through the mutex.
unsafe impl Sync for Loan {}

/// Marks the loan returned when dropped, also if conversion panics.
struct GiveBack<'a>(&'a Loan);

impl Drop for GiveBack<'_> {
    fn drop(&mut self) {
        *self.0.lock() = State::Returned;
        self.0.changed.notify_all();
    }
}

impl Loan {
    /// Offers `args` and `kwargs`, terms of the calling NIF's `env`.
    pub fn offer(env: NifEnv, args: RawTerm, kwargs: Option<RawTerm>) -> Loan {
        Loan { state: Mutex::new(State::Offered { env, args, kwargs }), changed: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Context thread: runs `f` on the arguments, wherever they are now.
    /// `None` if they are gone (cannot happen in the protocol, reported as
    /// an internal error rather than trusted).
    pub fn with<R>(&self, f: impl FnOnce(NifEnv, RawTerm, Option<RawTerm>) -> R) -> Option<R> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::InUse) {
            State::Offered { env, args, kwargs } => {
                drop(state);
                let _give_back = GiveBack(self);
                Some(f(env, args, kwargs))
            }
            State::Copied { env, args, kwargs } => {
                drop(state);
                let _give_back = GiveBack(self);
                let r = f(env.env(), args, kwargs);
                drop(env);
                Some(r)
            }
            other => {
                *state = other;
                None
            }
        }
    }

    /// The request will never run (context stopping): release the lender.
    pub fn cancel(&self) {
        let mut state = self.lock();
        if matches!(*state, State::Offered { .. }) {
            *state = State::Returned;
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Lender: returns once the context thread no longer needs the lender's
    /// terms. After `patience` without the request starting, it copies the
    /// arguments into an environment of their own and returns.
    pub fn wait(&self, patience: Duration) {
        let deadline = Instant::now() + patience;
        let mut state = self.lock();
        loop {
            match &*state {
                State::Returned | State::Copied { .. } => return,
                State::InUse => {
                    state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                State::Offered { env, args, kwargs } => {
                    let now = Instant::now();
                    if now >= deadline {
                        let copy = MsgEnv::new();
                        let _ = env;
                        let args = copy.copy_from(*args);
                        let kwargs = kwargs.map(|k| copy.copy_from(k));
                        *state = State::Copied { env: copy, args, kwargs };
                        return;
                    }
                    state = self.changed.wait_timeout(state, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
                }
            }
        }
    }
}
