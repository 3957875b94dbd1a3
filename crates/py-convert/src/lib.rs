//! Exact conversion between Erlang terms and Python objects.
//!
//! ```
//! use py_convert::{etf_to_py, py_to_etf, standalone::with_python, Limits};
//!
//! // The bytes of term_to_binary({ok, [1, <<"text">>]}).
//! let etf = [131, 104, 2, 119, 2, b'o', b'k', 108, 0, 0, 0, 2, 97, 1,
//!            109, 0, 0, 0, 4, b't', b'e', b'x', b't', 106];
//! let back = with_python(|py, types| {
//!     // ('ok', [1, 'text']) in Python: atoms other than true, false and
//!     // none/nil/undefined become str.
//!     let obj = etf_to_py(py, types, &etf, Limits::default()).unwrap();
//!     py_to_etf(py, types, &obj, Limits::default()).unwrap()
//! });
//! // {<<"ok">>, [1, <<"text">>]}: a str comes back as a binary.
//! assert_eq!(back, [131, 104, 2, 109, 0, 0, 0, 2, b'o', b'k', 108, 0, 0, 0, 2, 97, 1,
//!                   109, 0, 0, 0, 4, b't', b'e', b'x', b't', 106]);
//! ```
//!
//! The conversion is generic over a term model ([`TermSource`] to read
//! Erlang terms, [`TermSink`] to build them), so the same code runs inside
//! the BEAM (`py-nif` implements the traits on `erl_nif`) and in plain Rust
//! tests, benches and fuzzers ([`model`] with the [`etf`] codec). Terms kept
//! as external-format bytes convert without any tree in between
//! ([`etf_to_py`], [`py_to_etf`]: [`EtfSource`] and [`EtfSink`]).
//! [`standalone::with_python`] gives a program that uses this crate on its
//! own an attached thread and the `erlang` types; inside the library,
//! `py-core`'s context threads provide both.
//!
//! [`capi`] is the safe layer over CPython's C API that the crates above
//! use instead of calling pyo3-ffi themselves.
//!
//! | Erlang | Python |
//! |---|---|
//! | `true`, `false` | `True`, `False` |
//! | `none`, `nil`, `undefined` | `None` (`None` comes back as `none`) |
//! | other atoms | `str` (an `erlang.Atom` comes back as an atom) |
//! | integers of any size | `int` (exact both ways) |
//! | floats | `float`; `nan`, `inf`, `-inf` come back as `nan`, `infinity`, `neg_infinity` |
//! | binary, valid UTF-8 | `str` (comes back as a binary) |
//! | binary, not UTF-8; `{bytes, B}` | `bytes` (comes back as a binary) |
//! | lists (charlists too) | `list` |
//! | tuples | `tuple` |
//! | maps of any size | `dict` |
//! | pids, references | `erlang.Pid`, `erlang.Ref` (exact round trip) |
//! | — | `set`, `frozenset` become lists; numpy values their `tolist()` |
//! | `{tensor, Type, Shape, Binary}` (see [`tensor`]) | numpy array (read-only; a `memoryview` without numpy) |
//! | — | with [`ArrayMode::Tensor`]: numpy arrays, `array.array`, `memoryview`, `__array__`/`__dlpack__` objects of a numeric type become `{tensor, Type, Shape, Binary}` |
//! | funs, ports, improper lists, bitstrings | error [`ConvertError::UnsupportedTerm`] |
//! | — | other objects: [`ConvertError::Opaque`] (the NIF makes an object handle) |
//!
//! A tensor term: `Type` is Nx's `{f, 16 | 32 | 64}`, `{bf, 16}`,
//! `{s, 8 | 16 | 32 | 64}` or `{u, 8 | 16 | 32 | 64}`, `Shape` a tuple of
//! non-negative integers, `Binary` the elements in row-major order,
//! native-endian (little-endian here). Python -> Erlang gives tensors only
//! when asked ([`Limits::with_arrays`], or [`tensor::py_to_tensor_term`]
//! for one value); by default arrays stay lists.
//!
//! Nesting deeper than [`Limits::max_depth`] (default 200) is refused with
//! [`ConvertError::NestingTooDeep`] in both directions, before any stack risk.
//!
//! A round trip through the model term source and sink:
//!
//! ```
//! use py_convert::model::{ModelSink, ModelSource, Term};
//! use py_convert::standalone::with_python;
//! use py_convert::{py_to_term, term_to_py, Limits};
//!
//! let term = Term::Tuple(vec![Term::atom("true"), Term::bin(b"text"), Term::Int(1 << 40)]);
//! let back = with_python(|py, types| {
//!     let obj = term_to_py(py, types, &ModelSource, &term as *const Term, Limits::default()).unwrap();
//!     let mut sink = ModelSink::new();
//!     let t = py_to_term(py, types, &mut sink, &obj, Limits::default()).unwrap();
//!     sink.take(t)
//! });
//! assert_eq!(back, term);
//! ```

pub mod capi;
pub mod error;
pub mod etf;
pub mod etf_term;
mod from_python;
pub mod guard;
pub mod intcache;
pub mod model;
pub mod pyobj;
pub mod pytypes;
pub mod standalone;
pub mod tensor;
pub mod term;
#[doc(hidden)]
pub mod testing;
mod to_python;

pub use error::ConvertError;
pub use etf_term::{etf_to_py, py_to_etf, EtfSink, EtfSource};
pub use from_python::py_to_term;
pub use pyobj::{Attached, PyErrInfo, PyObj};
pub use pytypes::ErlTypes;
pub use tensor::{ArrayMode, TensorType};
pub use term::{BigInt, KnownAtom, TermKind, TermSink, TermSource};
pub use to_python::term_to_py;

/// The nesting limit used when none is configured.
pub const DEFAULT_MAX_DEPTH: usize = 200;
/// The highest nesting limit that may be configured: deeper recursion could
/// exhaust the stack of the threads conversion runs on.
pub const MAX_CONFIGURABLE_DEPTH: usize = 10_000;

/// Conversion limits and options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    max_depth: usize,
    arrays: ArrayMode,
}

impl Limits {
    /// A nesting limit, clamped to `1..=MAX_CONFIGURABLE_DEPTH`.
    ///
    /// ```
    /// use py_convert::{Limits, MAX_CONFIGURABLE_DEPTH};
    /// assert_eq!(Limits::with_max_depth(50).max_depth(), 50);
    /// assert_eq!(Limits::with_max_depth(0).max_depth(), 1);
    /// assert_eq!(Limits::with_max_depth(1 << 40).max_depth(), MAX_CONFIGURABLE_DEPTH);
    /// ```
    pub const fn with_max_depth(depth: usize) -> Limits {
        let d = if depth == 0 {
            1
        } else if depth > MAX_CONFIGURABLE_DEPTH {
            MAX_CONFIGURABLE_DEPTH
        } else {
            depth
        };
        Limits { max_depth: d, arrays: ArrayMode::Lists }
    }

    /// The same limits with arrays met by [`py_to_term`] converted as
    /// `mode` says (default [`ArrayMode::Lists`]).
    ///
    /// ```
    /// use py_convert::{ArrayMode, Limits};
    /// assert_eq!(Limits::default().arrays(), ArrayMode::Lists);
    /// assert_eq!(Limits::default().with_arrays(ArrayMode::Tensor).arrays(), ArrayMode::Tensor);
    /// ```
    pub const fn with_arrays(self, mode: ArrayMode) -> Limits {
        Limits { arrays: mode, ..self }
    }

    /// How [`py_to_term`] converts arrays.
    pub const fn arrays(&self) -> ArrayMode {
        self.arrays
    }

    /// How many containers may nest inside one another.
    pub const fn max_depth(&self) -> usize {
        self.max_depth
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_depth: DEFAULT_MAX_DEPTH, arrays: ArrayMode::Lists }
    }
}
