//! What a request asks of a context, read from Erlang terms through any
//! [`TermSource`], and running it on the context thread.
//!
//! The NIF reads the arguments of `py:call`, `py:eval` and `py:exec` with
//! these functions and runs the same jobs, so the fuzz target
//! `nif_surface` drives exactly this code with arbitrary terms and no BEAM.

use py_convert::{term_to_py, ConvertError, KnownAtom, PyErrInfo, PyObj, TermKind, TermSource};

use crate::erlang_module::Marker;
use crate::worker::Worker;
use py_convert::capi;

/// A request's work, with its terms (of the source it was read from).
pub enum Job<T> {
    /// `module.func(*args, **kwargs)`.
    Call { module: Vec<u8>, func: Vec<u8>, args: T, kwargs: Option<T> },
    /// An expression, with locals laid over the namespace.
    Eval { code: Vec<u8>, locals: Option<T> },
    /// Statements.
    Exec { code: Vec<u8> },
    /// A fresh namespace.
    NewEnv,
}

/// Which argument of a request was malformed: `{error, {bad_argument,
/// What}}` with What the [`BadArgument::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadArgument {
    Module,
    Function,
    Args,
    Kwargs,
    Code,
    Locals,
}

impl BadArgument {
    pub const fn name(self) -> &'static str {
        match self {
            BadArgument::Module => "module",
            BadArgument::Function => "function",
            BadArgument::Args => "args",
            BadArgument::Kwargs => "kwargs",
            BadArgument::Code => "code",
            BadArgument::Locals => "locals",
        }
    }
}

/// A name or source text: an atom, a binary, or a string (a proper list of
/// code points).
pub fn name_bytes<S: TermSource>(src: &S, t: S::Term) -> Option<Vec<u8>> {
    match src.kind(t) {
        TermKind::Binary => src.binary(t).map(|b| b.to_vec()),
        TermKind::Atom => src.with_atom_name(t, |s| s.as_bytes().to_vec()).ok(),
        TermKind::List => {
            src.list_len(t)?;
            let mut text = String::new();
            for c in src.list_elems(t) {
                let code = src.int64(c)?;
                text.push(char::from_u32(u32::try_from(code).ok()?)?);
            }
            Some(text.into_bytes())
        }
        _ => None,
    }
}

/// An optional map argument: `#{}` or `[]` mean none; anything else must
/// be a map (`None` when it is not).
pub fn optional_map<S: TermSource>(src: &S, t: S::Term) -> Option<Option<S::Term>> {
    match src.kind(t) {
        TermKind::Map => Some((src.map_size(t) > 0).then_some(t)),
        TermKind::List if src.list_len(t) == Some(0) => Some(None),
        _ => None,
    }
}

/// A call's job: names checked, `args` a proper list, `kwargs` a map.
pub fn call<S: TermSource>(
    src: &S,
    module: S::Term,
    function: S::Term,
    args: S::Term,
    kwargs: S::Term,
) -> Result<Job<S::Term>, BadArgument> {
    let module = name_bytes(src, module).ok_or(BadArgument::Module)?;
    let func = name_bytes(src, function).ok_or(BadArgument::Function)?;
    // A proper list only: an improper one would lose its tail.
    if src.kind(args) != TermKind::List || src.list_len(args).is_none() {
        return Err(BadArgument::Args);
    }
    let kwargs = optional_map(src, kwargs).ok_or(BadArgument::Kwargs)?;
    Ok(Job::Call { module, func, args, kwargs })
}

/// An eval's job.
pub fn eval<S: TermSource>(src: &S, code: S::Term, locals: S::Term) -> Result<Job<S::Term>, BadArgument> {
    let code = name_bytes(src, code).ok_or(BadArgument::Code)?;
    let locals = optional_map(src, locals).ok_or(BadArgument::Locals)?;
    Ok(Job::Eval { code, locals })
}

/// An exec's job.
pub fn exec<S: TermSource>(src: &S, code: S::Term) -> Result<Job<S::Term>, BadArgument> {
    Ok(Job::Exec { code: name_bytes(src, code).ok_or(BadArgument::Code)? })
}

/// What a job produced.
pub enum Done {
    Value(PyObj),
    Namespace(PyObj),
    /// Statements ran.
    Ran,
    /// `erlang.schedule(...)` was returned: the caller runs `callback`.
    Schedule {
        callback: PyObj,
        args: PyObj,
    },
}

/// Why a job failed.
#[derive(Debug)]
pub enum Failed {
    Python(PyErrInfo),
    Convert(ConvertError),
    /// A failure with a fixed name (an atom for Erlang).
    Named(&'static str),
}

impl From<PyErrInfo> for Failed {
    fn from(e: PyErrInfo) -> Failed {
        Failed::Python(e)
    }
}

impl From<ConvertError> for Failed {
    fn from(e: ConvertError) -> Failed {
        match e {
            ConvertError::Python(p) => Failed::Python(p),
            other => Failed::Convert(other),
        }
    }
}

/// Runs a job in `globals` (the context's own namespace when `None`).
/// Objects the job made that should be freed after the reply is sent are
/// left in `garbage`.
pub fn run<S: TermSource>(
    w: &Worker,
    src: &S,
    globals: Option<&PyObj>,
    job: &Job<S::Term>,
    garbage: &mut Vec<PyObj>,
) -> Result<Done, Failed> {
    match job {
        Job::Call { module, func, args, kwargs } => {
            let callable = w.resolve(module, func, globals)?;
            let kw = convert_args(w, src, *args, *kwargs, garbage)?;
            call_prepared(w, globals, &callable, garbage, kw)
        }
        Job::Eval { code, locals } => {
            let locals = match locals {
                Some(l) => Some(term_to_py(w.py(), w.types(), src, *l, w.limits())?),
                None => None,
            };
            let result = w.eval(code, globals, locals.as_ref());
            garbage.extend(locals);
            // An expression may return a scheduling marker, as a call can.
            follow_markers(w, globals, result?)
        }
        Job::Exec { code } => {
            w.exec(code, globals)?;
            Ok(Done::Ran)
        }
        Job::NewEnv => Ok(Done::Namespace(w.new_namespace()?)),
    }
}

/// Calls `callable(*argv, **kw)` (arguments already converted) and follows
/// the scheduling markers its result may be. `argv` and `kw` are left in
/// `argv` for freeing later.
pub fn call_prepared(
    w: &Worker,
    globals: Option<&PyObj>,
    callable: &PyObj,
    argv: &mut Vec<PyObj>,
    kw: Option<PyObj>,
) -> Result<Done, Failed> {
    let result = w.call(callable, argv, kw.as_ref());
    argv.extend(kw);
    follow_markers(w, globals, result?)
}

/// Converts positional arguments into `argv` and returns the kwargs dict.
pub fn convert_args<S: TermSource>(
    w: &Worker,
    src: &S,
    args: S::Term,
    kwargs: Option<S::Term>,
    argv: &mut Vec<PyObj>,
) -> Result<Option<PyObj>, Failed> {
    argv.reserve(src.list_len(args).unwrap_or(0));
    for a in src.list_elems(args) {
        argv.push(term_to_py(w.py(), w.types(), src, a, w.limits())?);
    }
    match kwargs {
        Some(k) => Ok(Some(term_to_py(w.py(), w.types(), src, k, w.limits())?)),
        None => Ok(None),
    }
}

/// How many `erlang.schedule_inline` continuations one call may chain.
const MAX_INLINE_CONTINUATIONS: usize = 10_000;

/// The outcome of a call whose result may be a scheduling marker:
/// `schedule_inline` continues here, `schedule` hands over to Erlang.
pub fn follow_markers(w: &Worker, globals: Option<&PyObj>, mut result: PyObj) -> Result<Done, Failed> {
    for _ in 0..MAX_INLINE_CONTINUATIONS {
        match w.marker(&result) {
            None => return Ok(Done::Value(result)),
            Some(Marker::Erlang { callback, args }) => return Ok(Done::Schedule { callback, args }),
            Some(Marker::Inline { module, func, args, kwargs }) => {
                let py = w.py();
                let (Some(m), Some(f)) = (capi::name_text(py, &module), capi::name_text(py, &func)) else {
                    return Err(Failed::Named("bad_schedule_inline"));
                };
                let callable = w.resolve(m.as_bytes(), f.as_bytes(), globals)?;
                let argv = capi::sequence_items(py, &args).ok_or(Failed::Named("bad_schedule_inline"))?;
                let kw = (!capi::is_empty_dict(&kwargs)).then_some(&kwargs);
                result = w.call(&callable, &argv, kw)?;
            }
        }
    }
    Err(Failed::Named("schedule_inline_too_deep"))
}

/// Whether `t` is the atom `undefined` (no namespace, no value).
pub fn is_undefined<S: TermSource>(src: &S, t: S::Term) -> bool {
    src.known_atom(t) == Some(KnownAtom::Undefined)
}
