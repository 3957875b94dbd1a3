//! The term model: how conversion reads and builds Erlang terms without
//! knowing whether they live in a BEAM (`py-nif`) or in a plain Rust tree
//! ([`crate::model`], used by tests, benches and the fuzzer).
//!
//! Both traits are used by monomorphised code, so every method is expected to
//! inline down to one or two `enif_*` calls in the NIF implementation.

use crate::error::ConvertError;
use crate::pyobj::{Attached, PyObj};

/// The shape of a term, as far as conversion cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermKind {
    Atom,
    Integer,
    Float,
    /// A binary or a bitstring (see [`TermSource::binary`]).
    Binary,
    /// A list, including `[]` and improper lists.
    List,
    Tuple,
    Map,
    Pid,
    Reference,
    Fun,
    Port,
}

/// Atoms conversion treats specially, in both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownAtom {
    True,
    False,
    /// `none`, the atom Python's `None` becomes.
    None,
    Nil,
    Undefined,
    /// `bytes`, the tag of `{bytes, Binary}`.
    Bytes,
    Nan,
    Infinity,
    NegInfinity,
}

impl KnownAtom {
    pub const fn name(self) -> &'static str {
        match self {
            KnownAtom::True => "true",
            KnownAtom::False => "false",
            KnownAtom::None => "none",
            KnownAtom::Nil => "nil",
            KnownAtom::Undefined => "undefined",
            KnownAtom::Bytes => "bytes",
            KnownAtom::Nan => "nan",
            KnownAtom::Infinity => "infinity",
            KnownAtom::NegInfinity => "neg_infinity",
        }
    }

    pub fn from_name(name: &str) -> Option<KnownAtom> {
        Some(match name {
            "true" => KnownAtom::True,
            "false" => KnownAtom::False,
            "none" => KnownAtom::None,
            "nil" => KnownAtom::Nil,
            "undefined" => KnownAtom::Undefined,
            "bytes" => KnownAtom::Bytes,
            "nan" => KnownAtom::Nan,
            "infinity" => KnownAtom::Infinity,
            "neg_infinity" => KnownAtom::NegInfinity,
            _ => return None,
        })
    }
}

/// An integer outside the 64-bit ranges: sign and magnitude, little-endian,
/// without trailing zero bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BigInt {
    pub negative: bool,
    pub magnitude: Vec<u8>,
}

impl BigInt {
    /// Drops high zero bytes so equal values compare equal.
    pub fn normalized(mut self) -> BigInt {
        while self.magnitude.last() == Some(&0) {
            self.magnitude.pop();
        }
        if self.magnitude.is_empty() {
            self.negative = false;
        }
        self
    }

    /// The value as an `i64`, if it fits.
    ///
    /// ```
    /// use py_convert::BigInt;
    /// let min = BigInt { negative: true, magnitude: vec![0, 0, 0, 0, 0, 0, 0, 0x80] };
    /// assert_eq!(min.to_i64(), Some(i64::MIN));
    /// let beyond = BigInt { negative: false, magnitude: vec![0, 0, 0, 0, 0, 0, 0, 0x80] };
    /// assert_eq!(beyond.to_i64(), None);
    /// assert_eq!(beyond.to_u64(), Some(1 << 63));
    /// ```
    pub fn to_i64(&self) -> Option<i64> {
        if self.magnitude.len() > 8 {
            return None;
        }
        let mut buf = [0u8; 8];
        buf[..self.magnitude.len()].copy_from_slice(&self.magnitude);
        let m = u64::from_le_bytes(buf);
        if self.negative {
            if m <= i64::MAX as u64 + 1 {
                Some((m as i64).wrapping_neg())
            } else {
                None
            }
        } else {
            i64::try_from(m).ok()
        }
    }

    /// The value as a `u64`, if it is non-negative and fits.
    pub fn to_u64(&self) -> Option<u64> {
        if self.negative || self.magnitude.len() > 8 {
            return None;
        }
        let mut buf = [0u8; 8];
        buf[..self.magnitude.len()].copy_from_slice(&self.magnitude);
        Some(u64::from_le_bytes(buf))
    }
}

/// Read access to Erlang terms: the source side of Erlang -> Python.
pub trait TermSource {
    type Term: Copy;
    type Elems<'s>: Iterator<Item = Self::Term>
    where
        Self: 's;
    type Pairs<'s>: Iterator<Item = (Self::Term, Self::Term)>
    where
        Self: 's;

    fn kind(&self, t: Self::Term) -> TermKind;
    /// Which special atom `t` is; `None` for any other atom or non-atom.
    fn known_atom(&self, t: Self::Term) -> Option<KnownAtom>;
    /// Calls `f` with the atom's name. `t` must be an atom.
    fn with_atom_name<R>(&self, t: Self::Term, f: impl FnOnce(&str) -> R) -> Result<R, ConvertError>;
    fn int64(&self, t: Self::Term) -> Option<i64>;
    /// A cheap check for the commonest element, a small integer; sources
    /// that can answer without a call override it (conversion then skips
    /// the general path for such elements).
    #[inline]
    fn small_int(&self, _t: Self::Term) -> Option<i64> {
        None
    }
    fn uint64(&self, t: Self::Term) -> Option<u64>;
    /// Any integer, exactly. Only called when `int64` and `uint64` failed.
    fn big_int(&self, t: Self::Term) -> Result<BigInt, ConvertError>;
    fn float(&self, t: Self::Term) -> Option<f64>;
    /// The bytes of a binary; `None` for a bitstring that is not whole bytes.
    fn binary(&self, t: Self::Term) -> Option<&[u8]>;
    /// Length of a proper list; `None` for an improper list.
    fn list_len(&self, t: Self::Term) -> Option<usize>;
    /// Elements of a proper list (checked with `list_len` first).
    fn list_elems(&self, t: Self::Term) -> Self::Elems<'_>;
    fn tuple_elems(&self, t: Self::Term) -> Self::Elems<'_>;
    fn tuple_len(&self, t: Self::Term) -> usize;
    fn map_size(&self, t: Self::Term) -> usize;
    fn map_pairs(&self, t: Self::Term) -> Self::Pairs<'_>;
    /// The external term format (with the leading 131) of a pid or reference.
    fn external_form(&self, t: Self::Term) -> Result<Vec<u8>, ConvertError>;
    /// A hook for terms that stand for Python-side things (object handles,
    /// channels, buffers). Called for references before they become
    /// `erlang.Ref`; `None` means "not one of mine".
    fn special_reference(&self, _py: Attached<'_>, _t: Self::Term) -> Option<Result<PyObj, ConvertError>> {
        None
    }
    /// A hook for zero-copy tensors: a Python object that exports the bytes
    /// of binary `t` through the buffer protocol without copying them, and
    /// keeps them alive and unchanged for as long as it lives (a view over
    /// a reference-counted binary, say). `None` (the default) means the
    /// caller copies the bytes. Only called for the data of a tensor term
    /// ([`crate::tensor`]), after its size was checked.
    fn lend_binary(&self, _py: Attached<'_>, _t: Self::Term) -> Option<Result<PyObj, ConvertError>> {
        None
    }
}

/// Write access: the sink side of Python -> Erlang. Terms are built directly
/// (no intermediate tree): children first, then their container.
pub trait TermSink {
    type Term: Copy;

    fn known_atom(&mut self, a: KnownAtom) -> Self::Term;
    /// An atom from an `erlang.Atom` object.
    fn atom(&mut self, name: &str) -> Result<Self::Term, ConvertError>;
    fn int64(&mut self, v: i64) -> Self::Term;
    fn uint64(&mut self, v: u64) -> Self::Term;
    fn big_int(&mut self, v: &BigInt) -> Result<Self::Term, ConvertError>;
    fn float(&mut self, v: f64) -> Self::Term;
    fn binary(&mut self, bytes: &[u8]) -> Result<Self::Term, ConvertError>;
    /// A binary of `len` bytes written in place by `fill` (which sees them
    /// zeroed); for data that must be gathered (a strided array) rather
    /// than copied from one slice. The default gathers into a `Vec` and
    /// copies it with [`binary`](Self::binary); sinks that can allocate the
    /// binary first override it to save that copy.
    fn binary_filled<F>(&mut self, len: usize, fill: F) -> Result<Self::Term, ConvertError>
    where
        F: FnOnce(&mut [u8]) -> Result<(), ConvertError>,
    {
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(len).map_err(|_| ConvertError::BadTerm("binary too large to allocate"))?;
        bytes.resize(len, 0);
        fill(&mut bytes)?;
        self.binary(&bytes)
    }
    fn list(&mut self, elems: &[Self::Term]) -> Self::Term;
    fn tuple(&mut self, elems: &[Self::Term]) -> Self::Term;
    /// A map; when two keys are equal the later one wins.
    fn map(&mut self, keys: &[Self::Term], values: &[Self::Term]) -> Result<Self::Term, ConvertError>;
    /// A pid or reference from its external term format (with the leading 131).
    fn external_term(&mut self, etf: &[u8]) -> Result<Self::Term, ConvertError>;
    /// A Python value with no natural Erlang form. The NIF layer wraps it in
    /// an object handle; the default reports it as an error.
    fn opaque(&mut self, _py: Attached<'_>, obj: &PyObj) -> Result<Self::Term, ConvertError> {
        Err(ConvertError::Opaque { type_name: obj.type_name() })
    }
}
