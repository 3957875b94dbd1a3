//! The NIF library `py_nif`: a thin adapter that composes `py-convert` and
//! `py-core` (and later the event loop and channels) into Erlang functions.
//!
//! * [`enif`] — raw `erl_nif` calls: message environments and the term
//!   model used by conversion.
//! * [`reply`] — result and error terms, replies from context threads.
//! * [`context`] — context resources and the call/eval/exec NIFs.
//! * [`lend`] — large arguments lent by a caller on a dirty scheduler.
//! * [`runtime`] — starting Python, version and capability queries.
//!
//! The Erlang stub `py_nif.erl` is generated from this library's NIF table
//! (`make stub`), never written by hand.

pub mod context;
pub mod enif;
pub mod lend;
pub mod reply;
pub mod runtime;

fn load(env: rustler::Env, _info: rustler::Term) -> bool {
    enif::init_atoms(enif::NifEnv::of(env));
    enif::init_fast_terms(enif::NifEnv::of(env));
    true
}

rustler::init!("py_nif", load = load);
