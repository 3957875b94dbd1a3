//! Building result and error terms, and sending replies from context
//! threads. The reply shape is `{Tag, Result}` where Tag is the caller's
//! reference and Result one of:
//!
//! * `{ok, Value}` (or `ok` for exec),
//! * `{error, interrupted}` for KeyboardInterrupt,
//! * `{error, {stop_iteration, none}}`,
//! * `{error, {Class, Message}}` for other exceptions (Class an atom,
//!   Message a charlist), `{error, {Class, Message, Traceback}}` when the
//!   caller asked for tracebacks,
//! * `{error, Reason}` for conversion failures (see [`convert_error`]),
//! * `{py_schedule, Callback, Args}`: the call returned
//!   `erlang.schedule(...)`; the caller runs the callback,
//! * `{py_etf, Binary}`: any of the above in the external term format, for
//!   values holding maps of more than 32 keys, which OTP 25 cannot build
//!   outside a scheduler thread (erlang/otp #8208); the caller decodes it
//!   with `binary_to_term/1` on its own scheduler.

use std::cell::RefCell;

use py_convert::model::{ModelSink, Term};
use py_convert::{etf, py_to_term, ConvertError, Limits, PyErrInfo, PyObj};
use py_core::Worker;
use rustler::sys::{self as nif, ErlNifPid};
use rustler::{Encoder, ResourceArc};

use crate::enif::{atoms, make_atom, EnvSink, MsgEnv, NifEnv, RawTerm};
use crate::objects::EnvRes;
use crate::route::Gate;

/// What a task produced, before it becomes a term.
pub enum Outcome {
    Value(PyObj),
    /// A new namespace: replied as `{ok, EnvRef}`.
    Namespace(PyObj),
    Done,
    PyError(PyErrInfo),
    Convert(ConvertError),
    Error(&'static str),
    /// `erlang.schedule(...)` was returned: replied as
    /// `{py_schedule, Callback, Args}` and run by the caller.
    Schedule {
        callback: PyObj,
        args: PyObj,
    },
    /// A task was started on the event loop: its outcome is sent later.
    Started,
}

impl Outcome {
    /// Whether the task produced what it was asked for (not an error).
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Value(_) | Outcome::Namespace(_) | Outcome::Done | Outcome::Schedule { .. })
    }
}

impl From<py_core::job::Done> for Outcome {
    fn from(d: py_core::job::Done) -> Outcome {
        use py_core::job::Done;
        match d {
            Done::Value(v) => Outcome::Value(v),
            Done::Namespace(n) => Outcome::Namespace(n),
            Done::Ran => Outcome::Done,
            Done::Schedule { callback, args } => Outcome::Schedule { callback, args },
        }
    }
}

impl From<py_core::job::Failed> for Outcome {
    fn from(f: py_core::job::Failed) -> Outcome {
        use py_core::job::Failed;
        match f {
            Failed::Python(e) => Outcome::PyError(e),
            Failed::Convert(e) => Outcome::Convert(e),
            Failed::Named(n) => Outcome::Error(n),
        }
    }
}

impl From<PyErrInfo> for Outcome {
    fn from(e: PyErrInfo) -> Outcome {
        Outcome::PyError(e)
    }
}

impl From<ConvertError> for Outcome {
    fn from(e: ConvertError) -> Outcome {
        match e {
            ConvertError::Python(p) => Outcome::PyError(p),
            other => Outcome::Convert(other),
        }
    }
}

thread_local! {
    /// One reply environment per context thread, cleared after each send.
    static REPLY_ENV: RefCell<MsgEnv> = RefCell::new(MsgEnv::new());
}

/// The shape of a reply message.
#[derive(Clone, Copy)]
pub enum Wrap {
    /// `{Tag, Result}`.
    Plain,
    /// `{Name, Tag, Result}`: `py_response` for `spawn_call`,
    /// `async_result` for event-loop tasks.
    Named(&'static str),
}

impl Wrap {
    pub fn for_flags(response: bool) -> Wrap {
        if response {
            Wrap::Named("py_response")
        } else {
            Wrap::Plain
        }
    }
}

/// Builds the reply (see [`Wrap`]) in a reply env and sends it to `to`.
/// `tag` lives in the request's env and is copied over.
pub fn send_reply(to: &ErlNifPid, tag: RawTerm, wrap: Wrap, build: impl FnOnce(NifEnv) -> RawTerm) {
    send_reply_gated(to, tag, wrap, build, None)
}

/// [`send_reply`], sent only if `gate` (the caller still waits) is open
/// (the reply is built first: conversion never holds the gate's lock).
pub fn send_reply_gated(
    to: &ErlNifPid,
    tag: RawTerm,
    wrap: Wrap,
    build: impl FnOnce(NifEnv) -> RawTerm,
    gate: Option<&Gate>,
) {
    let send = |env: &mut MsgEnv| {
        let result = build(env.env());
        let tag = env.copy_from(tag);
        let msg = match wrap {
            Wrap::Named(name) => tuple(env.env(), &[atom(env.env(), name), tag, result]),
            Wrap::Plain => tuple(env.env(), &[tag, result]),
        };
        let sent = match gate {
            Some(g) => g.send_if_open(|| env.send_and_clear(to, msg)),
            None => env.send_and_clear(to, msg),
        };
        if !sent {
            // The caller is gone or stopped waiting.
            env.clear();
        }
    };
    REPLY_ENV.with(|cell| match cell.try_borrow_mut() {
        Ok(mut env) => send(&mut env),
        // Re-entered (a reply built while another is being built): use a
        // fresh env rather than fail.
        Err(_) => send(&mut MsgEnv::new()),
    });
}

/// The Result term for an outcome (conversion of values happens here, into
/// `sink`, which builds in `env`). Runs on a context thread.
pub fn outcome_term(
    env: NifEnv,
    worker: &Worker,
    sink: &mut EnvSink<'_>,
    outcome: &Outcome,
    limits: Limits,
) -> RawTerm {
    match outcome {
        Outcome::Value(obj) => match py_to_term(worker.py(), worker.types(), sink, obj, limits) {
            Ok(v) => tuple(env, &[atoms().ok, v]),
            Err(ConvertError::SinkLimit(_)) => external_value(env, worker, sink, obj, limits),
            Err(e) => outcome_term(env, worker, sink, &Outcome::from(e), limits),
        },
        Outcome::Namespace(globals) => {
            let res = ResourceArc::new(EnvRes { globals: worker.hold(globals.clone()) });
            let t = crate::enif::with_env(env, |e| res.encode(e).as_c_arg());
            tuple(env, &[atoms().ok, t])
        }
        Outcome::Done => atoms().ok,
        Outcome::PyError(e) => error(env, python_error(env, e)),
        Outcome::Convert(e) => error(env, convert_error(env, e)),
        Outcome::Error(what) => error(env, atom(env, what)),
        Outcome::Started => atoms().ok,
        Outcome::Schedule { callback, args } => {
            let mut part = |o: &PyObj| py_to_term(worker.py(), worker.types(), sink, o, limits);
            match (part(callback), part(args)) {
                (Ok(c), Ok(a)) => tuple(env, &[atom(env, "py_schedule"), c, a]),
                (Err(e), _) | (_, Err(e)) => outcome_term(env, worker, sink, &Outcome::from(e), limits),
            }
        }
    }
}

/// `{py_etf, Bin}` where Bin encodes `{ok, Value}`: the route for values
/// the reply environment cannot hold (large maps). Object handles cannot
/// travel this way: a value with both a large map and a Python object that
/// has no Erlang form is reported as `{unsupported_type, Name}`.
fn external_value(env: NifEnv, worker: &Worker, sink: &mut EnvSink<'_>, obj: &PyObj, limits: Limits) -> RawTerm {
    let mut model = ModelSink::new();
    match py_to_term(worker.py(), worker.types(), &mut model, obj, limits) {
        Ok(t) => {
            let value = model.take(t);
            let bytes = etf::encode(&Term::Tuple(vec![Term::atom("ok"), value]));
            tuple(env, &[atom(env, "py_etf"), binary(env, &bytes)])
        }
        Err(e) => outcome_term(env, worker, sink, &Outcome::from(e), limits),
    }
}

pub fn tuple(env: NifEnv, elems: &[RawTerm]) -> RawTerm {
    // SAFETY: valid env; terms of that env.
    unsafe { nif::enif_make_tuple_from_array(env.raw(), elems.as_ptr(), elems.len() as u32) }
}

pub fn error(env: NifEnv, reason: RawTerm) -> RawTerm {
    tuple(env, &[atoms().error, reason])
}

pub fn atom(env: NifEnv, name: &str) -> RawTerm {
    make_atom(env, name).unwrap_or(atoms().undefined)
}

pub fn binary(env: NifEnv, bytes: &[u8]) -> RawTerm {
    let mut sink = EnvSink::plain(env);
    py_convert::TermSink::binary(&mut sink, bytes).unwrap_or(atoms().undefined)
}

pub fn int(env: NifEnv, v: i64) -> RawTerm {
    // SAFETY: valid env.
    unsafe { nif::enif_make_int64(env.raw(), v) }
}

/// A charlist of the text's code points (the C library's message shape).
pub fn charlist(env: NifEnv, text: &str) -> RawTerm {
    let codes: Vec<RawTerm> = text.chars().map(|c| int(env, c as i64)).collect();
    // SAFETY: valid env; terms of that env.
    unsafe { nif::enif_make_list_from_array(env.raw(), codes.as_ptr(), codes.len() as u32) }
}

/// The reason term of a Python exception.
pub fn python_error(env: NifEnv, e: &PyErrInfo) -> RawTerm {
    match e.class.as_str() {
        "KeyboardInterrupt" => atom(env, "interrupted"),
        "StopIteration" => tuple(env, &[atom(env, "stop_iteration"), atoms().none]),
        class => {
            let class = class_term(env, class);
            let message = charlist(env, &e.message);
            match &e.traceback {
                Some(tb) => tuple(env, &[class, message, binary(env, tb.as_bytes())]),
                None => tuple(env, &[class, message]),
            }
        }
    }
}

/// An exception class name: its atom if the atom exists or the atom budget
/// allows a new one (Python code can make classes with any name, and the
/// VM's atom table is never collected), else the name as a binary.
pub fn class_term(env: NifEnv, class: &str) -> RawTerm {
    match crate::enif::make_budgeted_atom(env, class) {
        Ok(a) => a,
        Err(_) => binary(env, class.as_bytes()),
    }
}

/// The reason term of a conversion failure.
pub fn convert_error(env: NifEnv, e: &ConvertError) -> RawTerm {
    match e {
        ConvertError::NestingTooDeep(n) => tuple(env, &[atom(env, "nesting_too_deep"), int(env, *n as i64)]),
        ConvertError::UnicodeEncode(m) => tuple(env, &[atom(env, "unicode_encode_error"), binary(env, m.as_bytes())]),
        ConvertError::UnsupportedTerm(what) => tuple(env, &[atom(env, "unsupported_term"), atom(env, what)]),
        ConvertError::Opaque { type_name } => {
            tuple(env, &[atom(env, "unsupported_type"), binary(env, type_name.as_bytes())])
        }
        ConvertError::BadTerm(what) => tuple(env, &[atom(env, "bad_term"), binary(env, what.as_bytes())]),
        ConvertError::Python(p) => python_error(env, p),
        ConvertError::SinkLimit(what) => tuple(env, &[atom(env, "bad_term"), binary(env, what.as_bytes())]),
    }
}
