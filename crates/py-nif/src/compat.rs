//! The C library's `py_nif` functions that its documentation shows users
//! calling directly (`py_nif:context_exec(CtxRef, Code, EnvRef)` and the
//! like), with its arities and results. They are not NIFs here: waiting for
//! the reply, serving `erlang.call` callbacks and following scheduling
//! markers belong to the Erlang call engine. The stub generator
//! (`bin/nif-stub.rs`) emits each entry of [`ERLANG_DELEGATES`] as an
//! Erlang function of `py_nif` that hands its arguments to
//! `py_nif_compat:call(Name, Args)`.

/// `(name, arity)` of every `py_nif` function carried out in Erlang by
/// `py_nif_compat`. The generator reads this table's text.
pub const ERLANG_DELEGATES: &[(&str, usize)] = &[
    ("context_call", 6),
    ("context_eval", 4),
    ("context_exec", 3),
    ("event_loop_eval", 2),
    ("event_loop_exec", 2),
    ("event_loop_new", 0),
];
