//! Error terms every NIF module shares.

use rustler::{Encoder, Env, Term};

use crate::atoms::{bad_argument, error};

/// `{error, {bad_argument, What}}`: the argument `what` was not what the
/// NIF takes (an existing atom when `what` is one, else a binary).
pub fn bad_arg<'a>(env: Env<'a>, what: &str) -> Term<'a> {
    let what = rustler::Atom::from_str(env, what).map(|a| a.encode(env)).unwrap_or_else(|_| what.encode(env));
    (error(), (bad_argument(), what)).encode(env)
}
