//! The NIF library `py_nif`: a thin adapter that composes `py-convert`,
//! `py-core`, `py-eventloop` and `py-channel` into Erlang functions. It
//! runs only inside the BEAM, loaded by the `erlang_python` application;
//! its entry points are the Erlang modules built on it:
//!
//! ```erlang
//! {ok, _} = application:ensure_all_started(erlang_python),
//! {ok, 1.4142135623730951} = py:call(math, sqrt, [2.0]),
//! {ok, Ctx} = py_context:new(#{mode => owngil}),
//! {ok, 45} = py:eval(Ctx, <<"sum(range(10))">>).
//! ```
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
//! * [`callback`] — `erlang.call` / `erlang.async_call`: Python calling
//!   registered Erlang functions, with no replay and any nesting.
//! * [`tasks`] — calls run as event-loop tasks, `{async_result, Ref, R}`.
//! * [`vm_bridge`] — the rest of the `erlang` module's VM side: send,
//!   whereis, atoms, logging and tracing sinks.
//!
//! The Erlang stub `py_nif.erl` is generated from this library's NIF table
//! (`make stub`), never written by hand.

pub mod atoms;
pub mod callback;
pub mod channel;
pub mod compat;
pub mod context;
pub mod enif;
pub mod error;
pub mod lend;
pub mod objects;
pub mod reply;
pub mod request;
pub mod route;
pub mod runtime;
pub mod semaphore;
pub mod tasks;
pub mod vm_bridge;

fn load(env: rustler::Env, _info: rustler::Term) -> bool {
    enif::init_atoms(enif::NifEnv::of(env));
    enif::init_fast_terms(enif::NifEnv::of(env));
    py_convert::guard::set_atom_gate(enif::admit_python_atom);
    py_core::erlang_module::set_bridge(Box::new(vm_bridge::VmBridge));
    py_eventloop::register();
    py_channel::register();
    py_eventloop::set_task_sink(Box::new(tasks::TaskReplies));
    true
}

rustler::init!("py_nif", load = load);
