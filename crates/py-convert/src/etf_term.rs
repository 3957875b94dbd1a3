//! Conversion straight between the external term format and Python, with no
//! term tree in between: channels and the shared dict keep terms as the
//! bytes of `term_to_binary/1` and turn them into Python objects (and back)
//! on Python threads, away from any BEAM scheduler.
//!
//! [`EtfSource`] reads a validated byte string in place; [`EtfSink`] writes
//! the bytes as conversion builds the term. Both agree exactly with the
//! model path ([`crate::etf`] plus [`crate::model`]): same Python values,
//! same terms, same errors.
//!
//! ```
//! use py_convert::testing::with_python;
//! use py_convert::{etf_to_py, py_to_etf, Limits};
//!
//! // term_to_binary({ok, [1, 2]})
//! let bytes = [131, 104, 2, 100, 0, 2, b'o', b'k', 107, 0, 2, 1, 2];
//! let back = with_python(|py, types| {
//!     let obj = etf_to_py(py, types, &bytes, Limits::default()).unwrap();
//!     py_to_etf(py, types, &obj, Limits::default()).unwrap()
//! });
//! // ok came back as text and [1, 2] in the list form Erlang writes.
//! assert_eq!(back, [131, 104, 2, 109, 0, 0, 0, 2, b'o', b'k', 108, 0, 0, 0, 2, 97, 1, 97, 2, 106]);
//! ```

use crate::error::ConvertError;
use crate::etf::{
    old_float, DecodeError, Reader, ATOM, ATOM_UTF8, BINARY, BIT_BINARY, EXPORT, FLOAT, INTEGER, LARGE_BIG,
    LARGE_TUPLE, LIST, MAP, MAX_DECODE_DEPTH, NEWER_REFERENCE, NEW_FLOAT, NEW_FUN, NEW_PID, NEW_PORT, NEW_REFERENCE,
    NIL, PID, PORT, REFERENCE, SMALL_ATOM, SMALL_ATOM_UTF8, SMALL_BIG, SMALL_INTEGER, SMALL_TUPLE, STRING, V4_PORT,
    VERSION,
};
use crate::pyobj::{Attached, PyObj};
use crate::pytypes::ErlTypes;
use crate::term::{BigInt, KnownAtom, TermKind, TermSource};
use crate::{py_to_term, term_to_py, Limits};

mod sink;
pub use sink::{EtfSink, SinkTerm};

/// Converts a whole external-format binary (starting with 131) to a new
/// Python object, exactly as decoding it with [`crate::etf::decode`] and
/// converting the model term would.
///
/// Malformed input is [`ConvertError::BadTerm`]. Input nested deeper than
/// the decoder follows ([`MAX_DECODE_DEPTH`]) is
/// [`ConvertError::NestingTooDeep`] with the configured limit, or with
/// `MAX_DECODE_DEPTH` when the limit is higher: the depth this path can
/// take is capped there.
pub fn etf_to_py(py: Attached<'_>, types: &ErlTypes, bytes: &[u8], limits: Limits) -> Result<PyObj, ConvertError> {
    let (src, root) = EtfSource::new(bytes).map_err(|e| decode_error(e, limits))?;
    term_to_py(py, types, &src, root, limits)
}

/// Converts a Python object to the external term format (with the leading
/// 131), the bytes `binary_to_term/1` reads back as the term
/// [`crate::py_to_term`] would build.
pub fn py_to_etf(py: Attached<'_>, types: &ErlTypes, obj: &PyObj, limits: Limits) -> Result<Vec<u8>, ConvertError> {
    let mut sink = EtfSink::new();
    let root = py_to_term(py, types, &mut sink, obj, limits)?;
    Ok(sink.finish(root))
}

/// Input that is deeper than the decoder follows is also deeper than any
/// nesting limit up to that depth, so it reports as the limit it broke: the
/// caller sees the same `{nesting_too_deep, N}` as for a term slightly less
/// deep. Everything else is a malformed external form.
fn decode_error(e: DecodeError, limits: Limits) -> ConvertError {
    match e {
        DecodeError::TooDeep => ConvertError::NestingTooDeep(limits.max_depth().min(MAX_DECODE_DEPTH)),
        DecodeError::Truncated => ConvertError::BadTerm("external term format: truncated"),
        DecodeError::BadVersion => ConvertError::BadTerm("external term format: no version byte 131"),
        DecodeError::UnknownTag(_) => ConvertError::BadTerm("external term format: unsupported or malformed tag"),
        DecodeError::BadAtom => ConvertError::BadTerm("external term format: malformed atom"),
        DecodeError::TrailingBytes => ConvertError::BadTerm("external term format: bytes after the term"),
    }
}

// ---- Reading ----

/// Marks the root handle: the root has no span (its end is the end of the
/// input), so validating a term with one container allocates nothing.
const ROOT: usize = usize::MAX;

/// What validation remembers about a non-root container, so that stepping
/// over it is O(1) and a list knows whether it is proper without finding its
/// tail: without this every ancestor would walk each byte again.
#[derive(Clone, Copy, Debug)]
struct Span {
    end: usize,
    /// Index (in pre-order) of the first container after this one's subtree.
    next: usize,
    /// For LIST_EXT: the tail decodes to `[]`.
    proper: bool,
}

/// A handle to a term inside an [`EtfSource`].
#[derive(Clone, Copy, Debug)]
pub struct SourceTerm(Loc);

#[derive(Clone, Copy, Debug)]
enum Loc {
    /// The term whose tag is at `pos`. `slot` is the pre-order index of the
    /// first container at or after `pos`: its own span when it is one.
    At { pos: usize, slot: usize },
    /// An element of a STRING_EXT, which has no tag of its own.
    Char(u8),
}

/// A [`TermSource`] over the external term format, read in place.
pub struct EtfSource<'a> {
    bytes: &'a [u8],
    spans: Vec<Span>,
    root_proper: bool,
}

impl<'a> EtfSource<'a> {
    /// Validates a whole external-format binary (with the leading 131) and
    /// returns the source and its root term. Accepts and rejects exactly
    /// what [`crate::etf::decode`] does, with the same error.
    ///
    /// ```
    /// use py_convert::{EtfSource, TermKind, TermSource};
    /// let (src, root) = EtfSource::new(&[131, 107, 0, 2, b'a', b'b']).unwrap();
    /// assert_eq!(src.kind(root), TermKind::List);
    /// assert_eq!(src.list_len(root), Some(2));
    /// assert!(EtfSource::new(&[131, 107, 0, 2, b'a']).is_err());
    /// ```
    pub fn new(bytes: &'a [u8]) -> Result<(EtfSource<'a>, SourceTerm), DecodeError> {
        let mut v = Validator { r: Reader { buf: bytes, pos: 0 }, spans: Vec::new(), root_proper: false };
        if v.r.u8()? != VERSION {
            return Err(DecodeError::BadVersion);
        }
        v.term(0)?;
        if v.r.pos != bytes.len() {
            return Err(DecodeError::TrailingBytes);
        }
        let src = EtfSource { bytes, spans: v.spans, root_proper: v.root_proper };
        Ok((src, SourceTerm(Loc::At { pos: 1, slot: ROOT })))
    }

    #[inline]
    fn tag(&self, pos: usize) -> u8 {
        byte(self.bytes, pos)
    }

    /// The sign and magnitude (without high zero bytes) of a big integer.
    #[inline]
    fn big_at(&self, pos: usize, tag: u8) -> (bool, &[u8]) {
        let (n, sign_at) = match tag {
            SMALL_BIG => (byte(self.bytes, pos + 1) as usize, pos + 2),
            _ => (be_u32(self.bytes, pos + 1) as usize, pos + 5),
        };
        let magnitude = self.bytes.get(sign_at + 1..).and_then(|s| s.get(..n)).unwrap_or(&[]);
        (byte(self.bytes, sign_at) != 0, trim_high_zeros(magnitude))
    }

    /// The name bytes of an atom and whether they are Latin-1.
    #[inline]
    fn atom_at(&self, pos: usize) -> Option<(&[u8], bool)> {
        let (start, latin1) = match self.tag(pos) {
            ATOM => (pos + 3, true),
            SMALL_ATOM => (pos + 2, true),
            ATOM_UTF8 => (pos + 3, false),
            SMALL_ATOM_UTF8 => (pos + 2, false),
            _ => return None,
        };
        Some((self.bytes.get(start..atom_end(self.bytes, pos)).unwrap_or(&[]), latin1))
    }

    /// The elements of a list or tuple whose first element is at `first`.
    #[inline]
    fn elems(&self, first: usize, slot: usize, len: usize, chars: bool) -> EtfElems<'_> {
        let slot = if slot == ROOT { 0 } else { slot + 1 };
        EtfElems { walk: Walk { bytes: self.bytes, spans: &self.spans, pos: first, slot }, left: len, chars }
    }
}

impl TermSource for EtfSource<'_> {
    type Term = SourceTerm;
    type Elems<'s>
        = EtfElems<'s>
    where
        Self: 's;
    type Pairs<'s>
        = EtfPairs<'s>
    where
        Self: 's;

    #[inline]
    fn kind(&self, t: SourceTerm) -> TermKind {
        let pos = match t.0 {
            Loc::Char(_) => return TermKind::Integer,
            Loc::At { pos, .. } => pos,
        };
        match self.tag(pos) {
            SMALL_INTEGER | INTEGER | SMALL_BIG | LARGE_BIG => TermKind::Integer,
            NEW_FLOAT | FLOAT => TermKind::Float,
            ATOM | SMALL_ATOM | ATOM_UTF8 | SMALL_ATOM_UTF8 => TermKind::Atom,
            BINARY | BIT_BINARY => TermKind::Binary,
            NIL | STRING | LIST => TermKind::List,
            SMALL_TUPLE | LARGE_TUPLE => TermKind::Tuple,
            MAP => TermKind::Map,
            NEW_PID | PID => TermKind::Pid,
            NEWER_REFERENCE | NEW_REFERENCE | REFERENCE => TermKind::Reference,
            NEW_PORT | PORT | V4_PORT => TermKind::Port,
            // NEW_FUN and EXPORT; validation admits no other tag.
            _ => TermKind::Fun,
        }
    }

    #[inline]
    fn known_atom(&self, t: SourceTerm) -> Option<KnownAtom> {
        let Loc::At { pos, .. } = t.0 else { return None };
        // The special names are ASCII, which reads the same in both encodings.
        let (name, _) = self.atom_at(pos)?;
        KnownAtom::from_name(std::str::from_utf8(name).ok()?)
    }

    fn with_atom_name<R>(&self, t: SourceTerm, f: impl FnOnce(&str) -> R) -> Result<R, ConvertError> {
        let not_atom = ConvertError::BadTerm("not an atom");
        let Loc::At { pos, .. } = t.0 else { return Err(not_atom) };
        let (name, latin1) = self.atom_at(pos).ok_or(not_atom)?;
        if latin1 && !name.is_ascii() {
            let text: String = name.iter().map(|&b| b as char).collect();
            return Ok(f(&text));
        }
        std::str::from_utf8(name).map(f).map_err(|_| ConvertError::BadTerm("atom"))
    }

    #[inline]
    fn int64(&self, t: SourceTerm) -> Option<i64> {
        if let Some(i) = self.small_int(t) {
            return Some(i);
        }
        let Loc::At { pos, .. } = t.0 else { return None };
        match self.tag(pos) {
            tag @ (SMALL_BIG | LARGE_BIG) => {
                let (negative, magnitude) = self.big_at(pos, tag);
                to_i64(negative, magnitude)
            }
            _ => None,
        }
    }

    #[inline]
    fn small_int(&self, t: SourceTerm) -> Option<i64> {
        match t.0 {
            Loc::Char(c) => Some(c as i64),
            Loc::At { pos, .. } => match self.tag(pos) {
                SMALL_INTEGER => Some(byte(self.bytes, pos + 1) as i64),
                INTEGER => Some(be_u32(self.bytes, pos + 1) as i32 as i64),
                _ => None,
            },
        }
    }

    /// Like the model, only integers beyond the `i64` range answer here.
    fn uint64(&self, t: SourceTerm) -> Option<u64> {
        let Loc::At { pos, .. } = t.0 else { return None };
        match self.tag(pos) {
            tag @ (SMALL_BIG | LARGE_BIG) => {
                let (negative, magnitude) = self.big_at(pos, tag);
                if negative || magnitude.len() > 8 || to_i64(negative, magnitude).is_some() {
                    return None;
                }
                let mut le = [0u8; 8];
                le[..magnitude.len()].copy_from_slice(magnitude);
                Some(u64::from_le_bytes(le))
            }
            _ => None,
        }
    }

    fn big_int(&self, t: SourceTerm) -> Result<BigInt, ConvertError> {
        if let Some(i) = self.small_int(t) {
            return Ok(BigInt { negative: i < 0, magnitude: i.unsigned_abs().to_le_bytes().to_vec() }.normalized());
        }
        match t.0 {
            Loc::At { pos, .. } if matches!(self.tag(pos), SMALL_BIG | LARGE_BIG) => {
                let (negative, magnitude) = self.big_at(pos, self.tag(pos));
                Ok(BigInt { negative: negative && !magnitude.is_empty(), magnitude: magnitude.to_vec() })
            }
            _ => Err(ConvertError::BadTerm("not an integer")),
        }
    }

    #[inline]
    fn float(&self, t: SourceTerm) -> Option<f64> {
        let Loc::At { pos, .. } = t.0 else { return None };
        match self.tag(pos) {
            NEW_FLOAT => Some(f64::from_bits(be_u64(self.bytes, pos + 1))),
            FLOAT => old_float(self.bytes.get(pos + 1..)?.get(..31)?),
            _ => None,
        }
    }

    #[inline]
    fn binary(&self, t: SourceTerm) -> Option<&[u8]> {
        let Loc::At { pos, .. } = t.0 else { return None };
        if self.tag(pos) != BINARY {
            return None;
        }
        let n = be_u32(self.bytes, pos + 1) as usize;
        self.bytes.get(pos + 5..)?.get(..n)
    }

    #[inline]
    fn list_len(&self, t: SourceTerm) -> Option<usize> {
        let Loc::At { pos, slot } = t.0 else { return None };
        match self.tag(pos) {
            NIL => Some(0),
            STRING => Some(be_u16(self.bytes, pos + 1)),
            LIST => {
                let proper = match self.spans.get(slot) {
                    Some(span) => span.proper,
                    None => slot == ROOT && self.root_proper,
                };
                proper.then(|| be_u32(self.bytes, pos + 1) as usize)
            }
            _ => None,
        }
    }

    #[inline]
    fn list_elems(&self, t: SourceTerm) -> EtfElems<'_> {
        let (pos, slot) = match t.0 {
            Loc::At { pos, slot } => (pos, slot),
            Loc::Char(_) => (self.bytes.len(), ROOT),
        };
        match self.tag(pos) {
            STRING => self.elems(pos + 3, slot, be_u16(self.bytes, pos + 1), true),
            LIST => self.elems(pos + 5, slot, be_u32(self.bytes, pos + 1) as usize, false),
            _ => self.elems(pos, slot, 0, false),
        }
    }

    #[inline]
    fn tuple_elems(&self, t: SourceTerm) -> EtfElems<'_> {
        let (pos, slot) = match t.0 {
            Loc::At { pos, slot } => (pos, slot),
            Loc::Char(_) => (self.bytes.len(), ROOT),
        };
        match self.tag(pos) {
            SMALL_TUPLE => self.elems(pos + 2, slot, byte(self.bytes, pos + 1) as usize, false),
            LARGE_TUPLE => self.elems(pos + 5, slot, be_u32(self.bytes, pos + 1) as usize, false),
            _ => self.elems(pos, slot, 0, false),
        }
    }

    #[inline]
    fn tuple_len(&self, t: SourceTerm) -> usize {
        let Loc::At { pos, .. } = t.0 else { return 0 };
        match self.tag(pos) {
            SMALL_TUPLE => byte(self.bytes, pos + 1) as usize,
            LARGE_TUPLE => be_u32(self.bytes, pos + 1) as usize,
            _ => 0,
        }
    }

    #[inline]
    fn map_size(&self, t: SourceTerm) -> usize {
        match t.0 {
            Loc::At { pos, .. } if self.tag(pos) == MAP => be_u32(self.bytes, pos + 1) as usize,
            _ => 0,
        }
    }

    #[inline]
    fn map_pairs(&self, t: SourceTerm) -> EtfPairs<'_> {
        let size = self.map_size(t);
        let (pos, slot) = match t.0 {
            Loc::At { pos, slot } => (pos, slot),
            Loc::Char(_) => (self.bytes.len(), ROOT),
        };
        EtfPairs { elems: self.elems(pos + 5, slot, size, false) }
    }

    fn external_form(&self, t: SourceTerm) -> Result<Vec<u8>, ConvertError> {
        let not_external = ConvertError::BadTerm("not a pid or reference");
        let Loc::At { pos, .. } = t.0 else { return Err(not_external) };
        match self.kind(t) {
            TermKind::Pid | TermKind::Reference => {
                let body = self.bytes.get(pos..leaf_end(self.bytes, pos)).ok_or(not_external)?;
                let mut out = Vec::with_capacity(1 + body.len());
                out.push(VERSION);
                out.extend_from_slice(body);
                Ok(out)
            }
            _ => Err(not_external),
        }
    }
}

/// A cursor over consecutive terms.
#[derive(Clone, Copy)]
struct Walk<'s> {
    bytes: &'s [u8],
    spans: &'s [Span],
    pos: usize,
    slot: usize,
}

impl Walk<'_> {
    #[inline]
    fn step(&mut self) -> SourceTerm {
        let t = SourceTerm(Loc::At { pos: self.pos, slot: self.slot });
        match byte(self.bytes, self.pos) {
            LIST | SMALL_TUPLE | LARGE_TUPLE | MAP => match self.spans.get(self.slot) {
                Some(span) => (self.pos, self.slot) = (span.end, span.next),
                None => self.pos = self.bytes.len(),
            },
            _ => self.pos = leaf_end(self.bytes, self.pos),
        }
        t
    }
}

/// Elements of a list or tuple in an [`EtfSource`].
pub struct EtfElems<'s> {
    walk: Walk<'s>,
    left: usize,
    /// STRING_EXT: each byte is an element.
    chars: bool,
}

impl Iterator for EtfElems<'_> {
    type Item = SourceTerm;

    #[inline]
    fn next(&mut self) -> Option<SourceTerm> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if self.chars {
            let c = *self.walk.bytes.get(self.walk.pos)?;
            self.walk.pos += 1;
            return Some(SourceTerm(Loc::Char(c)));
        }
        Some(self.walk.step())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// Key-value pairs of a map in an [`EtfSource`].
pub struct EtfPairs<'s> {
    elems: EtfElems<'s>,
}

impl Iterator for EtfPairs<'_> {
    type Item = (SourceTerm, SourceTerm);

    #[inline]
    fn next(&mut self) -> Option<(SourceTerm, SourceTerm)> {
        if self.elems.left == 0 {
            return None;
        }
        self.elems.left -= 1;
        let k = self.elems.walk.step();
        Some((k, self.elems.walk.step()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.elems.left))
    }
}

/// Checks a whole term the way `etf::decode` does (same checks, same order,
/// same errors) without building anything but the spans.
struct Validator<'a> {
    r: Reader<'a>,
    spans: Vec<Span>,
    root_proper: bool,
}

impl Validator<'_> {
    /// Returns whether the term decodes to `[]`, which a list tail may be in
    /// three spellings (NIL, an empty STRING_EXT, a LIST_EXT of nothing
    /// ending in one of these).
    ///
    /// Only containers recurse; leaves are checked in [`Validator::leaf`] so
    /// that the recursive frame stays small even in debug builds.
    fn term(&mut self, depth: usize) -> Result<bool, DecodeError> {
        if depth > MAX_DECODE_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let tag = self.r.u8()?;
        let (n, terms_each) = match tag {
            SMALL_TUPLE => (self.r.u8()? as u32, 1),
            LARGE_TUPLE | LIST => (self.r.u32()?, 1),
            MAP => (self.r.u32()?, 2),
            _ => return self.leaf(tag),
        };
        let n = self.r.count(n, terms_each)?;
        let slot = self.open(depth);
        for _ in 0..n * terms_each {
            self.term(depth + 1)?;
        }
        let nil_tail = tag == LIST && self.term(depth + 1)?;
        self.close(slot, nil_tail);
        Ok(n == 0 && nil_tail)
    }

    fn leaf(&mut self, tag: u8) -> Result<bool, DecodeError> {
        let r = &mut self.r;
        match tag {
            SMALL_INTEGER => {
                r.take(1)?;
            }
            INTEGER => {
                r.take(4)?;
            }
            SMALL_BIG | LARGE_BIG => {
                let n = if tag == SMALL_BIG { r.u8()? as u32 } else { r.u32()? };
                let n = r.count(n, 1)?;
                r.u8()?;
                r.take(n)?;
            }
            NEW_FLOAT => {
                r.take(8)?;
            }
            FLOAT => {
                old_float(r.take(31)?).ok_or(DecodeError::UnknownTag(tag))?;
            }
            ATOM | SMALL_ATOM | ATOM_UTF8 | SMALL_ATOM_UTF8 => check_atom(r, tag)?,
            NIL => return Ok(true),
            STRING => {
                let n = r.u16()? as usize;
                r.take(n)?;
                return Ok(n == 0);
            }
            BINARY => {
                let n = r.u32()? as usize;
                r.take(n)?;
            }
            BIT_BINARY => {
                let n = r.u32()? as usize;
                let bits = r.u8()?;
                if bits == 0 || bits > 8 || n == 0 {
                    return Err(DecodeError::UnknownTag(tag));
                }
                r.take(n)?;
            }
            NEW_PID | PID => {
                check_node(r)?;
                r.take(8)?;
                r.take(if tag == NEW_PID { 4 } else { 1 })?;
            }
            NEWER_REFERENCE | NEW_REFERENCE => {
                let n = r.u16()? as usize;
                if n > 5 {
                    return Err(DecodeError::UnknownTag(tag));
                }
                check_node(r)?;
                r.take(if tag == NEWER_REFERENCE { 4 } else { 1 })?;
                r.take(4 * n)?;
            }
            REFERENCE => {
                check_node(r)?;
                r.take(5)?;
            }
            NEW_PORT | PORT | V4_PORT => {
                check_node(r)?;
                r.take(match tag {
                    NEW_PORT => 8,
                    PORT => 5,
                    _ => 12,
                })?;
            }
            NEW_FUN => {
                let size = r.u32()? as usize;
                if size < 4 {
                    return Err(DecodeError::Truncated);
                }
                r.take(size - 4)?;
            }
            EXPORT => {
                check_node(r)?;
                check_node(r)?;
                let t = r.u8()?;
                if t != SMALL_INTEGER {
                    return Err(DecodeError::UnknownTag(t));
                }
                r.u8()?;
            }
            other => return Err(DecodeError::UnknownTag(other)),
        }
        Ok(false)
    }

    /// Reserves the span of a container entered at `depth` (none for the root).
    fn open(&mut self, depth: usize) -> usize {
        if depth == 0 {
            return ROOT;
        }
        self.spans.push(Span { end: 0, next: 0, proper: false });
        self.spans.len() - 1
    }

    fn close(&mut self, slot: usize, proper: bool) {
        let span = Span { end: self.r.pos, next: self.spans.len(), proper };
        match self.spans.get_mut(slot) {
            Some(s) => *s = span,
            None => self.root_proper = proper,
        }
    }
}

/// The checks `etf::decode` makes on an atom, without making its text.
fn check_atom(r: &mut Reader<'_>, tag: u8) -> Result<(), DecodeError> {
    let (len, latin1) = match tag {
        ATOM => (r.u16()? as usize, true),
        SMALL_ATOM => (r.u8()? as usize, true),
        ATOM_UTF8 => (r.u16()? as usize, false),
        SMALL_ATOM_UTF8 => (r.u8()? as usize, false),
        t => return Err(DecodeError::UnknownTag(t)),
    };
    let name = r.take(len)?;
    let chars = if latin1 { len } else { std::str::from_utf8(name).map_err(|_| DecodeError::BadAtom)?.chars().count() };
    if chars > 255 {
        return Err(DecodeError::BadAtom);
    }
    Ok(())
}

/// The node-name atom inside a pid, port, reference or export.
fn check_node(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let tag = r.u8()?;
    check_atom(r, tag)
}

// The readers below answer 0 (or the end of input) out of bounds: after
// validation that never happens, and if it did the result is a wrong value,
// never a panic or an out-of-bounds read.

#[inline(always)]
fn byte(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

#[inline(always)]
fn be_u16(b: &[u8], i: usize) -> usize {
    b.get(i..).and_then(|s| s.first_chunk::<2>()).map_or(0, |c| u16::from_be_bytes(*c) as usize)
}

#[inline(always)]
fn be_u32(b: &[u8], i: usize) -> u32 {
    b.get(i..).and_then(|s| s.first_chunk::<4>()).map_or(0, |c| u32::from_be_bytes(*c))
}

#[inline(always)]
fn be_u64(b: &[u8], i: usize) -> u64 {
    b.get(i..).and_then(|s| s.first_chunk::<8>()).map_or(0, |c| u64::from_be_bytes(*c))
}

/// Where the atom whose tag is at `pos` ends.
#[inline]
fn atom_end(b: &[u8], pos: usize) -> usize {
    match byte(b, pos) {
        ATOM | ATOM_UTF8 => pos + 3 + be_u16(b, pos + 1),
        SMALL_ATOM | SMALL_ATOM_UTF8 => pos + 2 + byte(b, pos + 1) as usize,
        _ => b.len(),
    }
}

/// Where the term whose tag is at `pos` ends, for every term that is not a
/// list, tuple or map: their sizes follow from their headers.
#[inline]
fn leaf_end(b: &[u8], pos: usize) -> usize {
    let p = pos + 1;
    match byte(b, pos) {
        SMALL_INTEGER => p + 1,
        INTEGER => p + 4,
        SMALL_BIG => p + 2 + byte(b, p) as usize,
        LARGE_BIG => p + 5 + be_u32(b, p) as usize,
        NEW_FLOAT => p + 8,
        FLOAT => p + 31,
        ATOM | SMALL_ATOM | ATOM_UTF8 | SMALL_ATOM_UTF8 => atom_end(b, pos),
        NIL => p,
        STRING => p + 2 + be_u16(b, p),
        BINARY => p + 4 + be_u32(b, p) as usize,
        BIT_BINARY => p + 5 + be_u32(b, p) as usize,
        NEW_PID => atom_end(b, p) + 12,
        PID => atom_end(b, p) + 9,
        NEWER_REFERENCE => atom_end(b, p + 2) + 4 + 4 * be_u16(b, p),
        NEW_REFERENCE => atom_end(b, p + 2) + 1 + 4 * be_u16(b, p),
        REFERENCE => atom_end(b, p) + 5,
        NEW_PORT => atom_end(b, p) + 8,
        PORT => atom_end(b, p) + 5,
        V4_PORT => atom_end(b, p) + 12,
        // The size counts itself but not the tag.
        NEW_FUN => p + be_u32(b, p) as usize,
        EXPORT => atom_end(b, atom_end(b, p)) + 2,
        _ => b.len(),
    }
}

fn trim_high_zeros(magnitude: &[u8]) -> &[u8] {
    let len = magnitude.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &magnitude[..len]
}

/// The value of a sign and trimmed little-endian magnitude, if it fits.
#[inline]
fn to_i64(negative: bool, magnitude: &[u8]) -> Option<i64> {
    if magnitude.len() > 8 {
        return None;
    }
    let mut le = [0u8; 8];
    le[..magnitude.len()].copy_from_slice(magnitude);
    let m = u64::from_le_bytes(le);
    if negative {
        (m <= i64::MAX as u64 + 1).then(|| (m as i64).wrapping_neg())
    } else {
        i64::try_from(m).ok()
    }
}
