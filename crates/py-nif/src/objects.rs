//! Python objects that live on in Erlang terms: process-bound namespaces
//! (`py:get_local_env/1`, `py_context:create_local_env/1`) and object
//! handles for values with no natural Erlang form (`py:is_ref/1` and
//! friends). Both keep their object as a [`Held`], so the garbage collector
//! may drop them on any scheduler: the object is released on a thread of
//! its own interpreter.

use py_convert::{Attached, ConvertError, PyObj};
use py_core::{Held, Worker};
use rustler::{Encoder, Env, ResourceArc, Term};

use crate::context::ContextRes;
use crate::enif::{self, NifEnv, RawTerm};

/// A namespace (globals dict) of one interpreter, owned by an Erlang process
/// through its process dictionary or by whoever holds the reference.
pub struct EnvRes {
    pub globals: Held,
}

#[rustler::resource_impl]
impl rustler::Resource for EnvRes {}

/// An object handle: a Python value that stays in Python, usable in later
/// calls to the same interpreter and operated on by its context.
pub struct PyRefRes {
    pub obj: Held,
    /// The context that made it: operations on the handle run there.
    pub ctx: ResourceArc<ContextRes>,
}

#[rustler::resource_impl]
impl rustler::Resource for PyRefRes {}

/// The handle resource behind a term, if it is one.
pub fn handle_of(env: NifEnv, t: RawTerm) -> Option<ResourceArc<PyRefRes>> {
    enif::with_env(env, |e| enif::term(e, t).decode::<ResourceArc<PyRefRes>>().ok())
}

/// The namespace resource behind a term, if it is one.
pub fn env_of(env: NifEnv, t: RawTerm) -> Option<ResourceArc<EnvRes>> {
    enif::with_env(env, |e| enif::term(e, t).decode::<ResourceArc<EnvRes>>().ok())
}

/// Erlang -> Python for handles: the object, if the handle belongs to the
/// interpreter of the calling thread; channels, buffers and shared dicts
/// become their Python objects.
pub fn resolve_handle(env: NifEnv, py: Attached<'_>, t: RawTerm) -> Option<Result<PyObj, ConvertError>> {
    let Some(h) = handle_of(env, t) else { return crate::channel::resolve(env, py, t) };
    Some(h.obj.get(py).ok_or(ConvertError::BadTerm("object handle from another interpreter")))
}

/// Python -> Erlang for values with no Erlang form: a new handle term (or
/// the channel, buffer or shared dict a capsule stands for).
pub fn make_handle(env: NifEnv, w: &Worker, ctx: &ResourceArc<ContextRes>, obj: &PyObj) -> RawTerm {
    if let Some(t) = crate::channel::term_of(env, w.py(), obj) {
        return t;
    }
    let res = ResourceArc::new(PyRefRes { obj: w.hold(obj.clone()), ctx: ctx.clone() });
    enif::with_env(env, |e| res.encode(e).as_c_arg())
}

/// `is_ref(Term) -> boolean()`: whether the term is an object handle.
#[rustler::nif]
fn is_ref(term: Term<'_>) -> bool {
    term.decode::<ResourceArc<PyRefRes>>().is_ok()
}

/// `ref_context(Ref) -> pid() | undefined`: the context process that owns
/// a handle's object (where operations on it run).
#[rustler::nif]
fn ref_context<'a>(env: Env<'a>, handle: ResourceArc<PyRefRes>) -> Term<'a> {
    match &handle.ctx.owner {
        Some(pid) => pid.encode(env),
        None => rustler::types::atom::undefined().encode(env),
    }
}

/// `env_interp_id(EnvRef) -> integer()`: the interpreter a namespace
/// belongs to.
#[rustler::nif]
fn env_interp_id(namespace: ResourceArc<EnvRes>) -> i64 {
    namespace.globals.interp_id()
}

/// `flush_releases() -> ok`: returns once every main-interpreter object
/// whose holder was dropped before the call has been released (own-GIL
/// contexts release theirs before their next request). For tests and
/// orderly shutdown.
#[rustler::nif(schedule = "DirtyIo")]
fn flush_releases() -> rustler::Atom {
    py_core::release::flush_main();
    rustler::types::atom::ok()
}
