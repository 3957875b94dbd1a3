//! The errors the NIFs return, in one enum: each variant is one shape of
//! `{error, Reason}` term, so the Erlang side sees the same reason for the
//! same failure whichever NIF reports it.

use rustler::{Encoder, Env, Term};

use crate::atoms;

/// A NIF's `{error, Reason}`.
pub enum NifError<'a> {
    /// `{bad_argument, What}`: the argument `what` was not what the NIF
    /// takes (`What` an atom: the names are the NIFs' own, a fixed set).
    BadArgument(&'a str),
    /// `context_stopped`: the context ended before the request reached it.
    ContextStopped,
    /// `env_wrong_interpreter`: a namespace of another interpreter.
    EnvWrongInterpreter,
    /// `{overloaded, Running, Max}`: the call limiter is full.
    Overloaded { running: usize, max: usize },
    /// `{invalid_mode, Mode}`.
    InvalidMode(Term<'a>),
    /// `{not_stopped, Why}`: the context's code still runs.
    NotStopped(&'static str),
    /// `{Setting, Value}`: a setting of `init/1` with a bad value.
    BadSetting(rustler::Atom, Term<'a>),
    /// `closed`, `empty`, `invalid_data`, `invalid_buffer`, `write_failed`,
    /// `python_not_running`, `ebadf`, ...: a reason that is one atom.
    Atom(rustler::Atom),
    /// A reason that is one atom named by the NIF (a fixed set of names;
    /// text past the atom length limit becomes a binary).
    Named(&'a str),
    /// A reason given as text (start-up failures).
    Text(&'a str),
}

impl Encoder for NifError<'_> {
    fn encode<'b>(&self, env: Env<'b>) -> Term<'b> {
        let atom_or_text =
            |name: &str| rustler::Atom::from_str(env, name).map(|a| a.encode(env)).unwrap_or_else(|_| name.encode(env));
        let reason = match self {
            NifError::BadArgument(what) => (atoms::bad_argument(), atom_or_text(what)).encode(env),
            NifError::ContextStopped => atoms::context_stopped().encode(env),
            NifError::EnvWrongInterpreter => atoms::env_wrong_interpreter().encode(env),
            NifError::Overloaded { running, max } => (atoms::overloaded(), *running, *max).encode(env),
            NifError::InvalidMode(mode) => (atoms::invalid_mode(), *mode).encode(env),
            NifError::NotStopped(why) => (atoms::not_stopped(), *why).encode(env),
            NifError::BadSetting(key, value) => (*key, *value).encode(env),
            NifError::Atom(a) => a.encode(env),
            NifError::Named(name) => atom_or_text(name),
            NifError::Text(text) => text.encode(env),
        };
        (atoms::error(), reason).encode(env)
    }
}

/// `{error, {bad_argument, What}}` (see [`NifError::BadArgument`]).
pub fn bad_arg<'a>(env: Env<'a>, what: &str) -> Term<'a> {
    NifError::BadArgument(what).encode(env)
}
