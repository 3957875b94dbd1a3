//! Why a conversion failed. The NIF layer turns each variant into the error
//! term named in its documentation.

use std::fmt;

use crate::pyobj::PyErrInfo;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConvertError {
    /// More containers nested than the limit: `{nesting_too_deep, Limit}`.
    NestingTooDeep(usize),
    /// A Python `str` that UTF-8 cannot encode (lone surrogates):
    /// `{unicode_encode_error, Message}`.
    UnicodeEncode(String),
    /// An Erlang term with no Python form: `{unsupported_term, What}` where
    /// What is `fun`, `port`, `improper_list` or `bitstring`.
    UnsupportedTerm(&'static str),
    /// A Python value with no natural Erlang form; the NIF layer turns it
    /// into an object handle where it can, otherwise
    /// `{unsupported_type, TypeName}`.
    Opaque { type_name: String },
    /// A term that cannot be built (an atom too long, a malformed external
    /// form): `{bad_term, What}`.
    BadTerm(&'static str),
    /// Python raised while converting (MemoryError, an unhashable map key...).
    Python(PyErrInfo),
    /// The sink cannot build this term where it runs (for example a map
    /// larger than 32 keys outside a BEAM scheduler thread); the caller
    /// should convert again with a sink that can.
    SinkLimit(&'static str),
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::NestingTooDeep(n) => write!(f, "nesting deeper than {n}"),
            ConvertError::UnicodeEncode(m) => write!(f, "string cannot be encoded as UTF-8: {m}"),
            ConvertError::UnsupportedTerm(w) => write!(f, "no Python form for an Erlang {w}"),
            ConvertError::Opaque { type_name } => write!(f, "no Erlang form for Python {type_name}"),
            ConvertError::BadTerm(w) => write!(f, "cannot build term: {w}"),
            ConvertError::Python(e) => write!(f, "{}: {}", e.class, e.message),
            ConvertError::SinkLimit(w) => write!(f, "the sink cannot build {w} here"),
        }
    }
}

impl std::error::Error for ConvertError {}
