//! The NIF library `py_nif`: a thin adapter that composes `py-convert` and
//! `py-core` (and later the event loop and channels) into Erlang functions.
//!
//! * [`enif`] — raw `erl_nif` calls: message environments and the term
//!   model used by conversion.
//! * [`reply`] — result and error terms, replies from context threads.
//! * [`context`] — context resources: create, destroy, interrupt, describe.
//! * [`request`] — calls, evals, execs and handle operations on a context.
//! * [`lend`] — large arguments lent by a caller on a dirty scheduler.
//! * [`objects`] — process-bound namespaces and object handles.
//! * [`semaphore`] — the call limiter behind `py_semaphore`.
//! * [`runtime`] — starting Python, version and capability queries.
//!
//! The Erlang stub `py_nif.erl` is generated from this library's NIF table
//! (`make stub`), never written by hand.

pub mod context;
pub mod enif;
pub mod lend;
pub mod objects;
pub mod reply;
pub mod request;
pub mod runtime;
pub mod semaphore;

fn load(env: rustler::Env, _info: rustler::Term) -> bool {
    enif::init_atoms(enif::NifEnv::of(env));
    enif::init_fast_terms(enif::NifEnv::of(env));
    true
}

rustler::init!("py_nif", load = load);
