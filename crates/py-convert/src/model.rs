//! A plain Rust model of Erlang terms, with [`TermSource`] and [`TermSink`]
//! implementations, so conversion is tested, benchmarked and fuzzed without
//! a BEAM. [`crate::etf`] reads and writes it in the external term format.

use crate::error::ConvertError;
use crate::term::{BigInt, KnownAtom, TermKind, TermSink, TermSource};

#[derive(Clone, Debug)]
pub enum Term {
    Atom(String),
    /// Integers that fit in an `i64`.
    Int(i64),
    /// Integers outside the `i64` range (normalised).
    BigInt(BigInt),
    Float(f64),
    Binary(Vec<u8>),
    /// A bitstring: bytes and the number of bits used in the last byte.
    BitBinary(Vec<u8>, u8),
    /// Elements and, for an improper list, the tail.
    List(Vec<Term>, Option<Box<Term>>),
    Tuple(Vec<Term>),
    Map(Vec<(Term, Term)>),
    /// Pids, references, ports and funs keep their external form (with 131).
    Pid(Vec<u8>),
    Ref(Vec<u8>),
    Port(Vec<u8>),
    Fun(Vec<u8>),
}

impl Term {
    pub fn atom(name: &str) -> Term {
        Term::Atom(name.to_string())
    }

    pub fn list(elems: Vec<Term>) -> Term {
        Term::List(elems, None)
    }

    pub fn bin(b: &[u8]) -> Term {
        Term::Binary(b.to_vec())
    }

    /// An integer term from a big integer, normalised to `Int` when it fits.
    pub fn from_big(b: BigInt) -> Term {
        let b = b.normalized();
        match b.to_i64() {
            Some(i) => Term::Int(i),
            None => Term::BigInt(b),
        }
    }
}

/// Exact equality, as `=:=` would see it: floats by bits, maps as sets of
/// pairs regardless of order.
impl PartialEq for Term {
    fn eq(&self, other: &Term) -> bool {
        use Term::*;
        match (self, other) {
            (Atom(a), Atom(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (BigInt(a), BigInt(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits() || (a == b && *a != 0.0),
            (Binary(a), Binary(b)) => a == b,
            (BitBinary(a, x), BitBinary(b, y)) => a == b && x == y,
            (List(a, ta), List(b, tb)) => a == b && ta == tb,
            (Tuple(a), Tuple(b)) => a == b,
            (Map(a), Map(b)) => a.len() == b.len() && a.iter().all(|p| b.contains(p)),
            (Pid(a), Pid(b)) | (Ref(a), Ref(b)) | (Port(a), Port(b)) | (Fun(a), Fun(b)) => a == b,
            _ => false,
        }
    }
}

/// Reads model terms.
#[derive(Clone, Copy, Default)]
pub struct ModelSource;

impl TermSource for ModelSource {
    type Term = *const Term;
    type Elems<'s> = std::iter::Map<std::slice::Iter<'s, Term>, fn(&Term) -> *const Term>;
    type Pairs<'s> =
        std::iter::Map<std::slice::Iter<'s, (Term, Term)>, fn(&(Term, Term)) -> (*const Term, *const Term)>;

    fn kind(&self, t: *const Term) -> TermKind {
        match get(t) {
            Term::Atom(_) => TermKind::Atom,
            Term::Int(_) | Term::BigInt(_) => TermKind::Integer,
            Term::Float(_) => TermKind::Float,
            Term::Binary(_) | Term::BitBinary(..) => TermKind::Binary,
            Term::List(..) => TermKind::List,
            Term::Tuple(_) => TermKind::Tuple,
            Term::Map(_) => TermKind::Map,
            Term::Pid(_) => TermKind::Pid,
            Term::Ref(_) => TermKind::Reference,
            Term::Port(_) => TermKind::Port,
            Term::Fun(_) => TermKind::Fun,
        }
    }

    fn known_atom(&self, t: *const Term) -> Option<KnownAtom> {
        match get(t) {
            Term::Atom(a) => KnownAtom::from_name(a),
            _ => None,
        }
    }

    fn with_atom_name<R>(&self, t: *const Term, f: impl FnOnce(&str) -> R) -> Result<R, ConvertError> {
        match get(t) {
            Term::Atom(a) => Ok(f(a)),
            _ => Err(ConvertError::BadTerm("not an atom")),
        }
    }

    fn int64(&self, t: *const Term) -> Option<i64> {
        match get(t) {
            Term::Int(i) => Some(*i),
            _ => None,
        }
    }

    fn uint64(&self, t: *const Term) -> Option<u64> {
        match get(t) {
            Term::BigInt(b) => b.to_u64(),
            _ => None,
        }
    }

    fn big_int(&self, t: *const Term) -> Result<BigInt, ConvertError> {
        match get(t) {
            Term::BigInt(b) => Ok(b.clone()),
            Term::Int(i) => {
                Ok(BigInt { negative: *i < 0, magnitude: i.unsigned_abs().to_le_bytes().to_vec() }.normalized())
            }
            _ => Err(ConvertError::BadTerm("not an integer")),
        }
    }

    fn float(&self, t: *const Term) -> Option<f64> {
        match get(t) {
            Term::Float(f) => Some(*f),
            _ => None,
        }
    }

    fn binary(&self, t: *const Term) -> Option<&[u8]> {
        match get(t) {
            Term::Binary(b) => Some(b),
            _ => None,
        }
    }

    fn list_len(&self, t: *const Term) -> Option<usize> {
        match get(t) {
            Term::List(v, None) => Some(v.len()),
            _ => None,
        }
    }

    fn list_elems(&self, t: *const Term) -> Self::Elems<'_> {
        match get(t) {
            Term::List(v, _) => v.iter().map(as_ptr as fn(&Term) -> *const Term),
            _ => [].iter().map(as_ptr as fn(&Term) -> *const Term),
        }
    }

    fn tuple_elems(&self, t: *const Term) -> Self::Elems<'_> {
        match get(t) {
            Term::Tuple(v) => v.iter().map(as_ptr as fn(&Term) -> *const Term),
            _ => [].iter().map(as_ptr as fn(&Term) -> *const Term),
        }
    }

    fn tuple_len(&self, t: *const Term) -> usize {
        match get(t) {
            Term::Tuple(v) => v.len(),
            _ => 0,
        }
    }

    fn map_size(&self, t: *const Term) -> usize {
        match get(t) {
            Term::Map(v) => v.len(),
            _ => 0,
        }
    }

    fn map_pairs(&self, t: *const Term) -> Self::Pairs<'_> {
        let f = pair_ptrs as fn(&(Term, Term)) -> (*const Term, *const Term);
        match get(t) {
            Term::Map(v) => v.iter().map(f),
            _ => [].iter().map(f),
        }
    }

    fn external_form(&self, t: *const Term) -> Result<Vec<u8>, ConvertError> {
        match get(t) {
            Term::Pid(b) | Term::Ref(b) => Ok(b.clone()),
            _ => Err(ConvertError::BadTerm("not a pid or reference")),
        }
    }
}

fn as_ptr(t: &Term) -> *const Term {
    t
}

fn pair_ptrs(p: &(Term, Term)) -> (*const Term, *const Term) {
    (&p.0, &p.1)
}

fn get<'a>(t: *const Term) -> &'a Term {
    // SAFETY: `ModelSource` terms are pointers handed out by `ModelSource`
    // itself or by `model_ptr`, into a tree the caller keeps alive for the
    // whole conversion (see `crate::term_to_py` on model terms).
    unsafe { &*t }
}

/// Builds model terms. Terms are indices into an arena; each is consumed
/// once by the container that takes it (or by [`ModelSink::take`]).
#[derive(Default)]
pub struct ModelSink {
    arena: Vec<Term>,
}

impl ModelSink {
    pub fn new() -> ModelSink {
        ModelSink::default()
    }

    fn push(&mut self, t: Term) -> usize {
        self.arena.push(t);
        self.arena.len() - 1
    }

    fn take_at(&mut self, i: usize) -> Term {
        std::mem::replace(&mut self.arena[i], Term::Int(0))
    }

    /// Takes the finished term out of the arena and resets it.
    pub fn take(&mut self, t: usize) -> Term {
        let out = self.take_at(t);
        self.arena.clear();
        out
    }
}

impl TermSink for ModelSink {
    type Term = usize;

    fn known_atom(&mut self, a: KnownAtom) -> usize {
        self.push(Term::Atom(a.name().to_string()))
    }

    fn atom(&mut self, name: &str) -> Result<usize, ConvertError> {
        crate::guard::admit_atom(name)?;
        Ok(self.push(Term::Atom(name.to_string())))
    }

    fn int64(&mut self, v: i64) -> usize {
        self.push(Term::Int(v))
    }

    fn uint64(&mut self, v: u64) -> usize {
        self.push(Term::from_big(BigInt { negative: false, magnitude: v.to_le_bytes().to_vec() }))
    }

    fn big_int(&mut self, v: &BigInt) -> Result<usize, ConvertError> {
        Ok(self.push(Term::from_big(v.clone())))
    }

    fn float(&mut self, v: f64) -> usize {
        self.push(Term::Float(v))
    }

    fn binary(&mut self, bytes: &[u8]) -> Result<usize, ConvertError> {
        Ok(self.push(Term::Binary(bytes.to_vec())))
    }

    fn binary_filled<F>(&mut self, len: usize, fill: F) -> Result<usize, ConvertError>
    where
        F: FnOnce(&mut [u8]) -> Result<(), ConvertError>,
    {
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(len).map_err(|_| ConvertError::BadTerm("binary too large to allocate"))?;
        bytes.resize(len, 0);
        fill(&mut bytes)?;
        Ok(self.push(Term::Binary(bytes)))
    }

    fn list(&mut self, elems: &[usize]) -> usize {
        let v = elems.iter().map(|&i| self.take_at(i)).collect();
        self.push(Term::List(v, None))
    }

    fn tuple(&mut self, elems: &[usize]) -> usize {
        let v = elems.iter().map(|&i| self.take_at(i)).collect();
        self.push(Term::Tuple(v))
    }

    fn map(&mut self, keys: &[usize], values: &[usize]) -> Result<usize, ConvertError> {
        // Keys equal as Erlang terms have equal external forms; the later wins.
        let mut index: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::with_capacity(keys.len());
        let mut pairs: Vec<(Term, Term)> = Vec::with_capacity(keys.len());
        for (&k, &v) in keys.iter().zip(values) {
            let (k, v) = (self.take_at(k), self.take_at(v));
            match index.entry(crate::etf::encode(&k)) {
                std::collections::hash_map::Entry::Occupied(e) => pairs[*e.get()].1 = v,
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(pairs.len());
                    pairs.push((k, v));
                }
            }
        }
        Ok(self.push(Term::Map(pairs)))
    }

    fn external_term(&mut self, etf: &[u8]) -> Result<usize, ConvertError> {
        match crate::etf::decode(etf) {
            Ok(t @ (Term::Pid(_) | Term::Ref(_))) => Ok(self.push(t)),
            _ => Err(ConvertError::BadTerm("malformed pid or reference")),
        }
    }
}
