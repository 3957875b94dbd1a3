//! The Erlang external term format: a decoder and encoder for the model
//! terms of [`crate::model`] (tests, fuzzing), and the few helpers the NIF
//! layer needs where `erl_nif` has no direct API (integers beyond 64 bits).
//!
//! The decoder accepts any byte string without panicking; nesting is bounded
//! so a hostile input cannot overflow the stack.

use crate::model::Term;
use crate::term::BigInt;

pub const VERSION: u8 = 131;
pub(crate) const NEW_FLOAT: u8 = 70;
pub(crate) const BIT_BINARY: u8 = 77;
pub(crate) const NEW_PID: u8 = 88;
pub(crate) const NEW_PORT: u8 = 89;
pub(crate) const NEWER_REFERENCE: u8 = 90;
pub(crate) const SMALL_INTEGER: u8 = 97;
pub(crate) const INTEGER: u8 = 98;
pub(crate) const FLOAT: u8 = 99;
pub(crate) const ATOM: u8 = 100;
pub(crate) const REFERENCE: u8 = 101;
pub(crate) const PORT: u8 = 102;
pub(crate) const PID: u8 = 103;
pub(crate) const SMALL_TUPLE: u8 = 104;
pub(crate) const LARGE_TUPLE: u8 = 105;
pub(crate) const NIL: u8 = 106;
pub(crate) const STRING: u8 = 107;
pub(crate) const LIST: u8 = 108;
pub(crate) const BINARY: u8 = 109;
pub(crate) const SMALL_BIG: u8 = 110;
pub(crate) const LARGE_BIG: u8 = 111;
pub(crate) const NEW_FUN: u8 = 112;
pub(crate) const EXPORT: u8 = 113;
pub(crate) const NEW_REFERENCE: u8 = 114;
pub(crate) const SMALL_ATOM: u8 = 115;
pub(crate) const MAP: u8 = 116;
pub(crate) const ATOM_UTF8: u8 = 118;
pub(crate) const SMALL_ATOM_UTF8: u8 = 119;
pub(crate) const V4_PORT: u8 = 120;

/// How deep the decoder follows nested terms before giving up.
pub const MAX_DECODE_DEPTH: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    BadVersion,
    UnknownTag(u8),
    BadAtom,
    TooDeep,
    TrailingBytes,
}

pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A length prefix that cannot exceed what is left (each element needs
    /// at least `min_each` bytes), so a lying length cannot make us allocate.
    pub(crate) fn count(&mut self, n: u32, min_each: usize) -> Result<usize, DecodeError> {
        let n = n as usize;
        let left = self.buf.len() - self.pos;
        if n.saturating_mul(min_each) > left {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }
}

/// Decodes a whole external-format binary (starting with 131).
///
/// ```
/// use py_convert::{etf, model::Term};
/// // term_to_binary({ok, [1, 2]})
/// let bytes = [131, 104, 2, 100, 0, 2, b'o', b'k', 107, 0, 2, 1, 2];
/// let t = etf::decode(&bytes).unwrap();
/// assert_eq!(t, Term::Tuple(vec![Term::atom("ok"), Term::list(vec![Term::Int(1), Term::Int(2)])]));
/// assert_eq!(etf::decode(&etf::encode(&t)).unwrap(), t);
/// assert!(etf::decode(&[131, 108, 0, 0, 0, 9]).is_err());
/// ```
pub fn decode(bytes: &[u8]) -> Result<Term, DecodeError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    if r.u8()? != VERSION {
        return Err(DecodeError::BadVersion);
    }
    let t = decode_term(&mut r, 0)?;
    if r.pos != bytes.len() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(t)
}

fn decode_atom_text(r: &mut Reader<'_>, tag: u8) -> Result<String, DecodeError> {
    let (len, latin1) = match tag {
        ATOM => (r.u16()? as usize, true),
        SMALL_ATOM => (r.u8()? as usize, true),
        ATOM_UTF8 => (r.u16()? as usize, false),
        SMALL_ATOM_UTF8 => (r.u8()? as usize, false),
        t => return Err(DecodeError::UnknownTag(t)),
    };
    let bytes = r.take(len)?;
    let text = if latin1 {
        bytes.iter().map(|&b| b as char).collect::<String>()
    } else {
        std::str::from_utf8(bytes).map_err(|_| DecodeError::BadAtom)?.to_string()
    };
    if text.chars().count() > 255 {
        return Err(DecodeError::BadAtom);
    }
    Ok(text)
}

/// The value of a FLOAT_EXT (pre-R11 text float: 31 bytes, NUL padded).
pub(crate) fn old_float(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    s.trim_end_matches('\0').trim().parse().ok()
}

/// Skips a node-name atom inside a pid, port or reference and returns the
/// raw bytes consumed (so they can be kept verbatim).
fn skip_atom(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let tag = r.u8()?;
    decode_atom_text(r, tag).map(|_| ())
}

fn decode_term(r: &mut Reader<'_>, depth: usize) -> Result<Term, DecodeError> {
    if depth > MAX_DECODE_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let start = r.pos;
    let tag = r.u8()?;
    Ok(match tag {
        SMALL_INTEGER => Term::Int(r.u8()? as i64),
        INTEGER => Term::Int(r.u32()? as i32 as i64),
        SMALL_BIG | LARGE_BIG => {
            let n = if tag == SMALL_BIG { r.u8()? as u32 } else { r.u32()? };
            let n = r.count(n, 1)?;
            let negative = r.u8()? != 0;
            let magnitude = r.take(n)?.to_vec();
            Term::from_big(BigInt { negative, magnitude })
        }
        NEW_FLOAT => {
            let b = r.take(8)?;
            Term::Float(f64::from_be_bytes(b.try_into().expect("8 bytes")))
        }
        FLOAT => Term::Float(old_float(r.take(31)?).ok_or(DecodeError::UnknownTag(tag))?),
        ATOM | SMALL_ATOM | ATOM_UTF8 | SMALL_ATOM_UTF8 => Term::Atom(decode_atom_text(r, tag)?),
        SMALL_TUPLE | LARGE_TUPLE => {
            let n = if tag == SMALL_TUPLE { r.u8()? as u32 } else { r.u32()? };
            let n = r.count(n, 1)?;
            let mut elems = Vec::with_capacity(n);
            for _ in 0..n {
                elems.push(decode_term(r, depth + 1)?);
            }
            Term::Tuple(elems)
        }
        NIL => Term::List(Vec::new(), None),
        STRING => {
            let n = r.u16()? as usize;
            Term::List(r.take(n)?.iter().map(|&b| Term::Int(b as i64)).collect(), None)
        }
        LIST => {
            let n = r.u32()?;
            let n = r.count(n, 1)?;
            let mut elems = Vec::with_capacity(n);
            for _ in 0..n {
                elems.push(decode_term(r, depth + 1)?);
            }
            let tail = decode_term(r, depth + 1)?;
            match tail {
                Term::List(ref v, None) if v.is_empty() => Term::List(elems, None),
                other => Term::List(elems, Some(Box::new(other))),
            }
        }
        BINARY => {
            let n = r.u32()? as usize;
            Term::Binary(r.take(n)?.to_vec())
        }
        BIT_BINARY => {
            let n = r.u32()? as usize;
            let bits = r.u8()?;
            if bits == 0 || bits > 8 || n == 0 {
                return Err(DecodeError::UnknownTag(tag));
            }
            Term::BitBinary(r.take(n)?.to_vec(), bits)
        }
        MAP => {
            let n = r.u32()?;
            let n = r.count(n, 2)?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                let k = decode_term(r, depth + 1)?;
                let v = decode_term(r, depth + 1)?;
                pairs.push((k, v));
            }
            Term::Map(pairs)
        }
        NEW_PID | PID => {
            skip_atom(r)?;
            r.take(8)?;
            r.take(if tag == NEW_PID { 4 } else { 1 })?;
            Term::Pid(external_slice(r, start))
        }
        NEWER_REFERENCE | NEW_REFERENCE => {
            let n = r.u16()? as usize;
            if n > 5 {
                return Err(DecodeError::UnknownTag(tag));
            }
            skip_atom(r)?;
            r.take(if tag == NEWER_REFERENCE { 4 } else { 1 })?;
            r.take(4 * n)?;
            Term::Ref(external_slice(r, start))
        }
        REFERENCE => {
            skip_atom(r)?;
            r.take(5)?;
            Term::Ref(external_slice(r, start))
        }
        NEW_PORT | PORT | V4_PORT => {
            skip_atom(r)?;
            r.take(match tag {
                NEW_PORT => 8,
                PORT => 5,
                _ => 12,
            })?;
            Term::Port(external_slice(r, start))
        }
        NEW_FUN => {
            // The size counts itself but not the tag.
            let size = r.u32()? as usize;
            if size < 4 {
                return Err(DecodeError::Truncated);
            }
            r.take(size - 4)?;
            Term::Fun(external_slice(r, start))
        }
        EXPORT => {
            for _ in 0..2 {
                skip_atom(r)?;
            }
            let t = r.u8()?;
            if t != SMALL_INTEGER {
                return Err(DecodeError::UnknownTag(t));
            }
            r.u8()?;
            Term::Fun(external_slice(r, start))
        }
        other => return Err(DecodeError::UnknownTag(other)),
    })
}

/// The consumed element as a standalone external-format binary.
fn external_slice(r: &Reader<'_>, start: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + r.pos - start);
    v.push(VERSION);
    v.extend_from_slice(&r.buf[start..r.pos]);
    v
}

/// Encodes a model term (with the leading 131).
pub fn encode(t: &Term) -> Vec<u8> {
    let mut out = vec![VERSION];
    encode_into(t, &mut out);
    out
}

fn encode_atom(name: &str, out: &mut Vec<u8>) {
    if name.len() < 256 {
        out.push(SMALL_ATOM_UTF8);
        out.push(name.len() as u8);
    } else {
        out.push(ATOM_UTF8);
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(name.as_bytes());
}

fn encode_into(t: &Term, out: &mut Vec<u8>) {
    match t {
        Term::Atom(a) => encode_atom(a, out),
        Term::Int(i) => {
            if (0..=255).contains(i) {
                out.push(SMALL_INTEGER);
                out.push(*i as u8);
            } else if let Ok(v) = i32::try_from(*i) {
                out.push(INTEGER);
                out.extend_from_slice(&v.to_be_bytes());
            } else {
                let big = BigInt { negative: *i < 0, magnitude: i.unsigned_abs().to_le_bytes().to_vec() };
                encode_big(&big.normalized(), out);
            }
        }
        Term::BigInt(b) => encode_big(b, out),
        Term::Float(f) => {
            out.push(NEW_FLOAT);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Term::Binary(b) => {
            out.push(BINARY);
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
        Term::BitBinary(b, bits) => {
            out.push(BIT_BINARY);
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.push(*bits);
            out.extend_from_slice(b);
        }
        Term::List(elems, tail) => {
            if elems.is_empty() && tail.is_none() {
                out.push(NIL);
                return;
            }
            out.push(LIST);
            out.extend_from_slice(&(elems.len() as u32).to_be_bytes());
            for e in elems {
                encode_into(e, out);
            }
            match tail {
                Some(t) => encode_into(t, out),
                None => out.push(NIL),
            }
        }
        Term::Tuple(elems) => {
            if elems.len() < 256 {
                out.push(SMALL_TUPLE);
                out.push(elems.len() as u8);
            } else {
                out.push(LARGE_TUPLE);
                out.extend_from_slice(&(elems.len() as u32).to_be_bytes());
            }
            for e in elems {
                encode_into(e, out);
            }
        }
        Term::Map(pairs) => {
            out.push(MAP);
            out.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
            for (k, v) in pairs {
                encode_into(k, out);
                encode_into(v, out);
            }
        }
        Term::Pid(etf) | Term::Ref(etf) | Term::Port(etf) | Term::Fun(etf) => {
            out.extend_from_slice(&etf[1..]);
        }
    }
}

/// Appends a SMALL_BIG / LARGE_BIG element for `b`.
pub fn encode_big(b: &BigInt, out: &mut Vec<u8>) {
    let n = b.magnitude.len();
    if n < 256 {
        out.push(SMALL_BIG);
        out.push(n as u8);
    } else {
        out.push(LARGE_BIG);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.push(b.negative as u8);
    out.extend_from_slice(&b.magnitude);
}

/// A whole external-format binary holding one big integer, for
/// `enif_binary_to_term`.
pub fn big_to_external(b: &BigInt) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + b.magnitude.len());
    out.push(VERSION);
    encode_big(b, &mut out);
    out
}

/// Reads the integer out of an external-format binary holding exactly one
/// integer (what `enif_term_to_binary` gives for a bignum).
pub fn big_from_external(bytes: &[u8]) -> Option<BigInt> {
    match decode(bytes).ok()? {
        Term::Int(i) => {
            Some(BigInt { negative: i < 0, magnitude: i.unsigned_abs().to_le_bytes().to_vec() }.normalized())
        }
        Term::BigInt(b) => Some(b),
        _ => None,
    }
}

/// Reads the atom name out of an external-format binary holding one atom.
pub fn atom_from_external(bytes: &[u8]) -> Option<String> {
    match decode(bytes).ok()? {
        Term::Atom(a) => Some(a),
        _ => None,
    }
}

/// A short human-readable form of a pid, reference or port for `repr()`:
/// `<node.id.serial>` for pids, `#Ref<node.a.b.c>` for references.
pub fn describe_external(bytes: &[u8]) -> String {
    let mut r = Reader { buf: bytes, pos: 0 };
    let parse = |r: &mut Reader<'_>| -> Result<String, DecodeError> {
        if r.u8()? != VERSION {
            return Err(DecodeError::BadVersion);
        }
        let tag = r.u8()?;
        let node_tag = r.u8()?;
        let node = decode_atom_text(r, node_tag)?;
        match tag {
            NEW_PID | PID => {
                let id = r.u32()?;
                let serial = r.u32()?;
                Ok(format!("<{node}.{id}.{serial}>"))
            }
            NEWER_REFERENCE | NEW_REFERENCE => {
                // The id-word count was before the node; re-read it.
                Ok(format!("#Ref<{node}>"))
            }
            _ => Ok(format!("<{node}>")),
        }
    };
    match bytes.get(1) {
        Some(&NEWER_REFERENCE) | Some(&NEW_REFERENCE) => {
            let mut r2 = Reader { buf: bytes, pos: 2 };
            let mut describe = || -> Result<String, DecodeError> {
                let n = r2.u16()? as usize;
                let node_tag = r2.u8()?;
                let node = decode_atom_text(&mut r2, node_tag)?;
                let creation_len = if bytes[1] == NEWER_REFERENCE { 4 } else { 1 };
                r2.take(creation_len)?;
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(r2.u32()?.to_string());
                }
                ids.reverse();
                Ok(format!("#Ref<{node}.{}>", ids.join(".")))
            };
            describe().unwrap_or_else(|_| "#Ref<?>".into())
        }
        _ => parse(&mut r).unwrap_or_else(|_| "<?>".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_it_encodes() {
        let t = Term::Tuple(vec![
            Term::Atom("ok".into()),
            Term::List(vec![Term::Int(1), Term::Int(-70000), Term::Int(i64::MIN)], None),
            Term::Map(vec![(Term::Binary(b"k".to_vec()), Term::Float(1.5))]),
        ]);
        assert_eq!(decode(&encode(&t)).unwrap(), t);
    }

    #[test]
    fn string_ext_is_a_list_of_bytes() {
        // term_to_binary("ab")
        let t = decode(&[131, 107, 0, 2, b'a', b'b']).unwrap();
        assert_eq!(t, Term::List(vec![Term::Int(97), Term::Int(98)], None));
    }

    #[test]
    fn lying_lengths_do_not_allocate() {
        assert_eq!(decode(&[131, 108, 255, 255, 255, 255]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[131, 116, 255, 255, 255, 255]), Err(DecodeError::Truncated));
    }

    #[test]
    fn deep_input_is_refused_not_overflowed() {
        let mut bytes = vec![131];
        for _ in 0..100_000 {
            bytes.extend_from_slice(&[104, 1]);
        }
        bytes.push(106);
        assert_eq!(decode(&bytes), Err(DecodeError::TooDeep));
    }

    #[test]
    fn bignum_round_trip() {
        let big = BigInt { negative: true, magnitude: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1] };
        assert_eq!(big_from_external(&big_to_external(&big)), Some(big));
    }

    #[test]
    fn pid_keeps_its_bytes() {
        // term_to_binary(c:pid(0,85,0)) on nonode@nohost, OTP 25
        let bytes = [
            131, 88, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0, 85, 0, 0, 0,
            0, 0, 0, 0, 0,
        ];
        let t = decode(&bytes).unwrap();
        assert_eq!(t, Term::Pid(bytes.to_vec()));
        assert_eq!(encode(&t), bytes.to_vec());
        assert_eq!(describe_external(&bytes), "<nonode@nohost.85.0>");
    }
}
