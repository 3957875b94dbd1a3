//! [`EtfSink`]: Python -> external term format, written as conversion
//! builds the term.

use std::collections::HashMap;

use super::{to_i64, trim_high_zeros, EtfSource};
use crate::error::ConvertError;
use crate::etf::{
    ATOM_UTF8, BINARY, INTEGER, LARGE_BIG, LARGE_TUPLE, LIST, MAP, NEW_FLOAT, NIL, SMALL_ATOM_UTF8, SMALL_BIG,
    SMALL_INTEGER, SMALL_TUPLE, VERSION,
};
use crate::term::{BigInt, KnownAtom, TermKind, TermSink, TermSource};

/// Containers whose children sit together and fill at most this many bytes
/// are copied whole after their header, so small terms stay one run of the
/// buffer and need no segments. Each level adds a header of two bytes or
/// more, so a byte is copied this way at most 32 times.
const INLINE_CHILDREN: usize = 64;
/// Maps up to this size look for equal keys pairwise rather than hashing.
const PAIRWISE_KEYS: usize = 8;
const NO_SEG: usize = usize::MAX;

/// A handle to a term built by an [`EtfSink`]; each is used once, by the
/// container that takes it or by [`EtfSink::finish`].
#[derive(Clone, Copy, Debug)]
pub struct SinkTerm(Piece);

#[derive(Clone, Copy, Debug)]
enum Piece {
    /// The encoding is `data[start..end]`.
    Flat { start: usize, end: usize },
    /// The encoding is the segments from `head` to `tail`, in order.
    Chain { head: usize, tail: usize },
}

/// A run of `data` in a term's encoding, linked to the next run.
#[derive(Clone, Copy, Debug)]
struct Seg {
    start: usize,
    end: usize,
    next: usize,
}

/// A [`TermSink`] that writes the external term format.
///
/// Conversion hands over children before their container, but the format
/// puts a container's header first. Copying children behind each header
/// would copy every byte once per enclosing container; instead a container
/// writes its header and links it in front of its children's pieces, and
/// [`EtfSink::finish`] concatenates the pieces once. Every byte is written
/// once and copied once at the end (small containers excepted, see above).
pub struct EtfSink {
    /// Leaves and headers, in the order they were made; starts with 131.
    data: Vec<u8>,
    segs: Vec<Seg>,
}

impl Default for EtfSink {
    fn default() -> EtfSink {
        EtfSink::new()
    }
}

impl EtfSink {
    pub fn new() -> EtfSink {
        EtfSink::with_capacity(128)
    }

    /// A sink whose buffer starts with room for `bytes` bytes of terms.
    pub fn with_capacity(bytes: usize) -> EtfSink {
        let mut data = Vec::with_capacity(bytes.saturating_add(1));
        data.push(VERSION);
        EtfSink { data, segs: Vec::new() }
    }

    /// The whole external-format binary (with the leading 131) of `root`.
    pub fn finish(mut self, root: SinkTerm) -> Vec<u8> {
        match root.0 {
            Piece::Flat { start, end } => {
                let end = end.min(self.data.len());
                let start = start.max(1).min(end);
                self.data.copy_within(start..end, 1);
                self.data.truncate(1 + end - start);
                self.data
            }
            Piece::Chain { head, .. } => {
                let mut len = 1;
                self.each_seg(head, |s| len += s.end - s.start);
                let mut out = Vec::with_capacity(len);
                out.push(VERSION);
                self.each_seg(head, |s| out.extend_from_slice(&self.data[s.start..s.end]));
                out
            }
        }
    }

    /// Visits a chain's segments. The walk is bounded by the number of
    /// segments, so a handle wrongly used twice (which could link a chain
    /// into a loop) gives wrong bytes rather than a hang.
    fn each_seg(&self, head: usize, mut f: impl FnMut(Seg)) {
        let mut at = head;
        for _ in 0..self.segs.len() {
            let Some(&s) = self.segs.get(at) else { return };
            if s.start <= s.end && s.end <= self.data.len() {
                f(s);
            }
            at = s.next;
        }
    }

    /// The encoding of `t` as one slice, copied into `scratch` if it is in pieces.
    fn bytes_of<'s>(&'s self, t: SinkTerm, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        match t.0 {
            Piece::Flat { start, end } => self.data.get(start..end).unwrap_or(&[]),
            Piece::Chain { head, .. } => {
                scratch.clear();
                self.each_seg(head, |s| scratch.extend_from_slice(&self.data[s.start..s.end]));
                scratch
            }
        }
    }

    #[inline]
    fn leaf(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> SinkTerm {
        let start = self.data.len();
        write(&mut self.data);
        SinkTerm(Piece::Flat { start, end: self.data.len() })
    }

    fn new_seg(&mut self, start: usize, end: usize) -> usize {
        self.segs.push(Seg { start, end, next: NO_SEG });
        self.segs.len() - 1
    }

    /// Links `t` after the segment `tail`, merging runs that touch in
    /// `data`, and returns the new tail.
    fn append(&mut self, tail: usize, t: SinkTerm) -> usize {
        match t.0 {
            Piece::Flat { start, end } => {
                if start == end {
                    return tail;
                }
                if self.segs[tail].end == start {
                    self.segs[tail].end = end;
                    return tail;
                }
                let seg = self.new_seg(start, end);
                self.segs[tail].next = seg;
                seg
            }
            Piece::Chain { head, tail: last } => {
                let first = self.segs[head];
                let t = &mut self.segs[tail];
                if t.end == first.start {
                    t.end = first.end;
                    t.next = first.next;
                    if head == last {
                        tail
                    } else {
                        last
                    }
                } else {
                    t.next = head;
                    last
                }
            }
        }
    }

    /// A container: `header`, the children in order, then NIL for a list.
    fn container<I>(&mut self, header: &[u8], children: I, nil_tail: bool) -> SinkTerm
    where
        I: Iterator<Item = SinkTerm> + Clone,
    {
        let start = self.data.len();
        if let Some((from, to)) = contiguous(children.clone()) {
            if to - from <= INLINE_CHILDREN {
                self.data.extend_from_slice(header);
                self.data.extend_from_within(from..to);
                if nil_tail {
                    self.data.push(NIL);
                }
                return SinkTerm(Piece::Flat { start, end: self.data.len() });
            }
        }
        self.data.extend_from_slice(header);
        let body = self.data.len();
        let head = self.new_seg(start, body);
        let mut tail = head;
        for c in children {
            tail = self.append(tail, c);
        }
        if nil_tail {
            self.data.push(NIL);
            tail = self.append(tail, SinkTerm(Piece::Flat { start: body, end: body + 1 }));
        }
        SinkTerm(Piece::Chain { head, tail })
    }

    /// For each key, the index of the first key with the same encoding,
    /// which is the same Erlang term (the encoding is canonical); `None`
    /// when all keys differ, as they nearly always do.
    fn duplicate_keys(&self, keys: &[SinkTerm]) -> Option<Vec<usize>> {
        if keys.len() < 2 {
            return None;
        }
        let flat = |t: &SinkTerm| match t.0 {
            Piece::Flat { start, end } => self.data.get(start..end),
            Piece::Chain { .. } => None,
        };
        if keys.len() <= PAIRWISE_KEYS && keys.iter().all(|k| flat(k).is_some()) {
            let distinct = keys.iter().enumerate().all(|(i, k)| keys[..i].iter().all(|j| flat(j) != flat(k)));
            if distinct {
                return None;
            }
        }
        let mut scratch = Vec::new();
        let mut owned = Vec::new();
        let mut ranges = Vec::with_capacity(keys.len());
        for &k in keys {
            match k.0 {
                Piece::Flat { start, end } => ranges.push((false, start, end)),
                Piece::Chain { .. } => {
                    let from = owned.len();
                    owned.extend_from_slice(self.bytes_of(k, &mut scratch));
                    ranges.push((true, from, owned.len()));
                }
            }
        }
        let key = |i: usize| {
            let (in_owned, from, to) = ranges[i];
            if in_owned {
                &owned[from..to]
            } else {
                self.data.get(from..to).unwrap_or(&[])
            }
        };
        let first: Vec<usize> = if keys.len() <= PAIRWISE_KEYS {
            (0..keys.len()).map(|i| (0..i).find(|&j| key(j) == key(i)).unwrap_or(i)).collect()
        } else {
            let mut seen: HashMap<&[u8], usize> = HashMap::with_capacity(keys.len());
            (0..keys.len()).map(|i| *seen.entry(key(i)).or_insert(i)).collect()
        };
        first.iter().enumerate().any(|(i, &f)| f != i).then_some(first)
    }
}

/// The byte range the children fill, if each starts where the one before
/// ends (and all are flat).
fn contiguous(children: impl Iterator<Item = SinkTerm>) -> Option<(usize, usize)> {
    let mut range: Option<(usize, usize)> = None;
    for c in children {
        let Piece::Flat { start, end } = c.0 else { return None };
        range = match range {
            None => Some((start, end)),
            Some((from, to)) if to == start => Some((from, end)),
            Some(_) => return None,
        };
    }
    Some(range.unwrap_or((0, 0)))
}

fn put_atom(out: &mut Vec<u8>, name: &str) {
    let n = name.len();
    if n < 256 {
        out.extend_from_slice(&[SMALL_ATOM_UTF8, n as u8]);
    } else {
        // At most 255 characters of at most four bytes.
        out.push(ATOM_UTF8);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    }
    out.extend_from_slice(name.as_bytes());
}

/// An integer in its smallest form, as `etf::encode` writes it, so equal
/// integers have equal bytes (map keys are compared by their bytes).
fn put_int(out: &mut Vec<u8>, v: i64) {
    if (0..=255).contains(&v) {
        out.extend_from_slice(&[SMALL_INTEGER, v as u8]);
    } else if let Ok(w) = i32::try_from(v) {
        out.push(INTEGER);
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        put_big_digits(out, v < 0, trim_high_zeros(&v.unsigned_abs().to_le_bytes()));
    }
}

/// Any integer, in the smallest form for its value.
fn put_big(out: &mut Vec<u8>, negative: bool, magnitude: &[u8]) {
    let m = trim_high_zeros(magnitude);
    match to_i64(negative, m) {
        Some(v) => put_int(out, v),
        None => put_big_digits(out, negative, m),
    }
}

/// SMALL_BIG or LARGE_BIG of a trimmed magnitude.
fn put_big_digits(out: &mut Vec<u8>, negative: bool, m: &[u8]) {
    if m.len() < 256 {
        out.extend_from_slice(&[SMALL_BIG, m.len() as u8, negative as u8]);
    } else {
        out.push(LARGE_BIG);
        out.extend_from_slice(&(m.len() as u32).to_be_bytes());
        out.push(negative as u8);
    }
    out.extend_from_slice(m);
}

/// A list, tuple or map count. Conversion cannot hold 2^32 terms at once
/// (each handle is 24 bytes), so the count always fits.
fn count_u32(n: usize) -> [u8; 4] {
    (n as u32).to_be_bytes()
}

impl TermSink for EtfSink {
    type Term = SinkTerm;

    #[inline]
    fn known_atom(&mut self, a: KnownAtom) -> SinkTerm {
        self.leaf(|out| put_atom(out, a.name()))
    }

    fn atom(&mut self, name: &str) -> Result<SinkTerm, ConvertError> {
        crate::guard::admit_atom(name)?;
        Ok(self.leaf(|out| put_atom(out, name)))
    }

    #[inline]
    fn int64(&mut self, v: i64) -> SinkTerm {
        self.leaf(|out| put_int(out, v))
    }

    fn uint64(&mut self, v: u64) -> SinkTerm {
        self.leaf(|out| put_big(out, false, &v.to_le_bytes()))
    }

    fn big_int(&mut self, v: &BigInt) -> Result<SinkTerm, ConvertError> {
        if trim_high_zeros(&v.magnitude).len() > u32::MAX as usize {
            return Err(ConvertError::BadTerm("integer too large"));
        }
        Ok(self.leaf(|out| put_big(out, v.negative, &v.magnitude)))
    }

    #[inline]
    fn float(&mut self, v: f64) -> SinkTerm {
        self.leaf(|out| {
            out.push(NEW_FLOAT);
            out.extend_from_slice(&v.to_be_bytes());
        })
    }

    #[inline]
    fn binary(&mut self, bytes: &[u8]) -> Result<SinkTerm, ConvertError> {
        let n = u32::try_from(bytes.len()).map_err(|_| ConvertError::BadTerm("binary of 4 GiB or more"))?;
        Ok(self.leaf(|out| {
            out.push(BINARY);
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(bytes);
        }))
    }

    /// Gathers straight into the encoding (a strided array's elements).
    fn binary_filled<F>(&mut self, len: usize, fill: F) -> Result<SinkTerm, ConvertError>
    where
        F: FnOnce(&mut [u8]) -> Result<(), ConvertError>,
    {
        let n = u32::try_from(len).map_err(|_| ConvertError::BadTerm("binary of 4 GiB or more"))?;
        self.data.try_reserve(len + 5).map_err(|_| ConvertError::BadTerm("binary too large to allocate"))?;
        let start = self.data.len();
        self.data.push(BINARY);
        self.data.extend_from_slice(&n.to_be_bytes());
        let body = self.data.len();
        self.data.resize(body + len, 0);
        if let Err(e) = fill(&mut self.data[body..]) {
            self.data.truncate(start);
            return Err(e);
        }
        Ok(SinkTerm(Piece::Flat { start, end: self.data.len() }))
    }

    fn list(&mut self, elems: &[SinkTerm]) -> SinkTerm {
        if elems.is_empty() {
            return self.leaf(|out| out.push(NIL));
        }
        let [a, b, c, d] = count_u32(elems.len());
        self.container(&[LIST, a, b, c, d], elems.iter().copied(), true)
    }

    fn tuple(&mut self, elems: &[SinkTerm]) -> SinkTerm {
        let n = elems.len();
        if n < 256 {
            return self.container(&[SMALL_TUPLE, n as u8], elems.iter().copied(), false);
        }
        let [a, b, c, d] = count_u32(n);
        self.container(&[LARGE_TUPLE, a, b, c, d], elems.iter().copied(), false)
    }

    fn map(&mut self, keys: &[SinkTerm], values: &[SinkTerm]) -> Result<SinkTerm, ConvertError> {
        let n = keys.len().min(values.len());
        let (keys, values) = (&keys[..n], &values[..n]);
        let Some(first) = self.duplicate_keys(keys) else {
            let [a, b, c, d] = count_u32(n);
            let pairs = keys.iter().zip(values).flat_map(|(&k, &v)| [k, v]);
            return Ok(self.container(&[MAP, a, b, c, d], pairs, false));
        };
        // Like the model: the first position of a key, the last value.
        let mut winner = vec![0; n];
        for i in 0..n {
            winner[first[i]] = i;
        }
        let kept: Vec<usize> = (0..n).filter(|&i| first[i] == i).collect();
        let [a, b, c, d] = count_u32(kept.len());
        let pairs = kept.iter().flat_map(|&i| [keys[i], values[winner[i]]]);
        Ok(self.container(&[MAP, a, b, c, d], pairs, false))
    }

    fn external_term(&mut self, etf: &[u8]) -> Result<SinkTerm, ConvertError> {
        let malformed = ConvertError::BadTerm("malformed pid or reference");
        let (src, root) = EtfSource::new(etf).map_err(|_| malformed.clone())?;
        match src.kind(root) {
            TermKind::Pid | TermKind::Reference => Ok(self.leaf(|out| out.extend_from_slice(&etf[1..]))),
            _ => Err(malformed),
        }
    }
}
