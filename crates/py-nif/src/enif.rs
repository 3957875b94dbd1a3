//! The raw `erl_nif` layer: process-independent environments for requests
//! and replies, and the term model of `py-convert` implemented directly on
//! `enif_*` calls. Every raw NIF call of this crate lives here.

use std::ffi::{c_int, c_uint};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use py_convert::etf;
use py_convert::{Attached, BigInt, ConvertError, KnownAtom, PyObj, TermKind, TermSink, TermSource};
use rustler::sys::{self as nif, ErlNifEnv, ErlNifPid, ErlNifTerm, ErlNifTermType};

pub type RawTerm = ErlNifTerm;

/// A valid environment pointer. Making one is `unsafe` (the pointer must
/// be valid while used), so the functions taking one can be safe.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct NifEnv(*mut ErlNifEnv);

impl NifEnv {
    /// # Safety
    /// `env` must be a valid environment for as long as the value is used.
    #[inline]
    pub unsafe fn from_raw(env: *mut ErlNifEnv) -> NifEnv {
        NifEnv(env)
    }

    /// The environment of a running NIF call.
    #[inline]
    pub fn of(env: rustler::Env<'_>) -> NifEnv {
        NifEnv(env.as_c_arg())
    }

    #[inline]
    pub fn raw(self) -> *mut ErlNifEnv {
        self.0
    }
}

/// A process-independent environment owned by Rust: request arguments are
/// copied into one, replies are built in one and sent from any thread.
pub struct MsgEnv {
    env: *mut ErlNifEnv,
}

// SAFETY: a process-independent environment may be used from any thread, one
// thread at a time, which `&mut`/ownership enforces.
unsafe impl Send for MsgEnv {}

impl MsgEnv {
    pub fn new() -> MsgEnv {
        // SAFETY: enif_alloc_env has no preconditions.
        let env = unsafe { nif::enif_alloc_env() };
        assert!(!env.is_null(), "enif_alloc_env failed");
        MsgEnv { env }
    }

    #[inline]
    pub fn env(&self) -> NifEnv {
        NifEnv(self.env)
    }

    /// Copies a term from another environment into this one.
    #[inline]
    pub fn copy_from(&self, term: RawTerm) -> RawTerm {
        // SAFETY: `term` is valid in the calling NIF's env; enif_make_copy
        // reads it and writes only into our env.
        unsafe { nif::enif_make_copy(self.env, term) }
    }

    /// Sends `msg` (built in this env) to `to`; on success the env is
    /// cleared for reuse. On failure (the process is not alive) `msg` and
    /// the env stay valid, so the message may go elsewhere; the caller
    /// clears the env when it gives up. Must not run on a scheduler thread
    /// (enif_send with a NULL caller env is only allowed off-scheduler).
    #[inline]
    pub fn send_and_clear(&mut self, to: &ErlNifPid, msg: RawTerm) -> bool {
        // SAFETY: `msg` lives in this env; the caller is on a thread not
        // managed by the VM (context threads), where a NULL caller env is
        // the documented way to send. A successful send invalidates the
        // env's terms, and it is cleared before reuse; a failed one leaves
        // them valid.
        unsafe {
            let sent = nif::enif_send(ptr::null_mut(), to, self.env, msg) != 0;
            if sent {
                nif::enif_clear_env(self.env);
            }
            sent
        }
    }

    pub fn clear(&mut self) {
        // SAFETY: owned env; terms made before are not used afterwards
        // (callers hold no terms across a clear).
        unsafe { nif::enif_clear_env(self.env) }
    }
}

impl Default for MsgEnv {
    fn default() -> Self {
        MsgEnv::new()
    }
}

impl Drop for MsgEnv {
    fn drop(&mut self) {
        // SAFETY: owned, allocated by enif_alloc_env, freed once.
        unsafe { nif::enif_free_env(self.env) }
    }
}

/// The atoms conversion compares against, made once at load (atoms are
/// global, so their term values are valid in every environment).
pub struct Atoms {
    pub true_: RawTerm,
    pub false_: RawTerm,
    pub none: RawTerm,
    pub nil: RawTerm,
    pub undefined: RawTerm,
    pub bytes: RawTerm,
    pub nan: RawTerm,
    pub infinity: RawTerm,
    pub neg_infinity: RawTerm,
    pub ok: RawTerm,
    pub error: RawTerm,
}

static ATOMS: OnceLock<Atoms> = OnceLock::new();

/// Creates the atom table; called from the NIF `load` callback.
pub fn init_atoms(env: NifEnv) {
    let env = env.raw();
    let mk = |name: &str| -> RawTerm {
        // SAFETY: `env` is the load env; atom creation has no other
        // preconditions and the result is valid in any env.
        unsafe { nif::enif_make_atom_len(env, name.as_ptr() as *const _, name.len()) }
    };
    let _ = ATOMS.set(Atoms {
        true_: mk("true"),
        false_: mk("false"),
        none: mk("none"),
        nil: mk("nil"),
        undefined: mk("undefined"),
        bytes: mk("bytes"),
        nan: mk("nan"),
        infinity: mk("infinity"),
        neg_infinity: mk("neg_infinity"),
        ok: mk("ok"),
        error: mk("error"),
    });
}

#[inline]
pub fn atoms() -> &'static Atoms {
    ATOMS.get().expect("NIF atoms are initialised at load")
}

/// Reading immediates and list cells without a call into the VM.
///
/// Conversion spends most of its time on small integers and list cells;
/// each `enif_*` call costs a few nanoseconds that add up on large lists.
/// The BEAM's 64-bit term layout (small integers tagged `0xF` in the low
/// four bits, `[]` as `0x3B`, list cells tagged `0x1` pointing at
/// `[head, tail]`) has been stable since OTP R13, but it is not a public
/// API, so [`init_fast_terms`] checks every assumption against `enif_*`
/// results at load time and the fast paths stay off if any check fails.
mod fast {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::RawTerm;

    static ENABLED: AtomicBool = AtomicBool::new(false);

    const SMALL_TAG_MASK: usize = 0xF;
    const SMALL_TAG: usize = 0xF;
    const PRIMARY_MASK: usize = 0x3;
    const LIST_TAG: usize = 0x1;
    pub const NIL: usize = 0x3B;
    pub const SMALL_MIN: i64 = -(1 << 59);
    pub const SMALL_MAX: i64 = (1 << 59) - 1;

    #[inline]
    pub fn enabled() -> bool {
        ENABLED.load(Ordering::Relaxed)
    }

    pub fn enable(on: bool) {
        ENABLED.store(on, Ordering::Relaxed);
    }

    #[inline]
    fn raw(t: RawTerm) -> usize {
        // SAFETY: ErlNifTerm is a transparent word.
        unsafe { std::mem::transmute::<RawTerm, usize>(t) }
    }

    #[inline]
    pub fn from_raw(w: usize) -> RawTerm {
        // SAFETY: ErlNifTerm is a transparent word.
        unsafe { std::mem::transmute::<usize, RawTerm>(w) }
    }

    #[inline]
    pub fn small_int(t: RawTerm) -> Option<i64> {
        let w = raw(t);
        (w & SMALL_TAG_MASK == SMALL_TAG).then_some((w as i64) >> 4)
    }

    #[inline]
    pub fn make_small(v: i64) -> Option<RawTerm> {
        (SMALL_MIN..=SMALL_MAX).contains(&v).then(|| from_raw(((v << 4) as usize) | SMALL_TAG))
    }

    #[inline]
    pub fn is_nil(t: RawTerm) -> bool {
        raw(t) == NIL
    }

    /// `[head | tail]` of a list cell term, or `None` if `t` is not one.
    ///
    /// # Safety
    /// `t` must be a live term (its cell is read from memory).
    #[inline]
    pub unsafe fn cons(t: RawTerm) -> Option<(RawTerm, RawTerm)> {
        let w = raw(t);
        if w & PRIMARY_MASK != LIST_TAG {
            return None;
        }
        let cell = (w - LIST_TAG) as *const usize;
        // SAFETY: a live list term points at two words, head and tail.
        unsafe { Some((from_raw(*cell), from_raw(*cell.add(1)))) }
    }
}

/// Checks the term layout the fast paths assume against terms made by the
/// VM, and turns the fast paths on if all checks pass. Returns whether they
/// are on.
pub fn init_fast_terms(env: NifEnv) -> bool {
    let e = env.raw();
    // SAFETY: `e` is the load env; every term inspected was just made in it.
    let ok = unsafe {
        let ints_ok = [0i64, 1, -1, 42, fast::SMALL_MAX, fast::SMALL_MIN].iter().all(|&v| {
            let t = nif::enif_make_int64(e, v);
            fast::small_int(t) == Some(v) && fast::make_small(v) == Some(t)
        });
        let bigs_ok = [fast::SMALL_MAX + 1, fast::SMALL_MIN - 1, i64::MAX]
            .iter()
            .all(|&v| fast::small_int(nif::enif_make_int64(e, v)).is_none());
        let others_ok = [
            nif::enif_make_atom_len(e, c"true".as_ptr(), 4),
            nif::enif_make_double(e, 1.5),
            nif::enif_make_list_from_array(e, ptr::null(), 0),
            nif::enif_make_tuple_from_array(e, ptr::null(), 0),
        ]
        .iter()
        .all(|&t| fast::small_int(t).is_none());
        let nil = nif::enif_make_list_from_array(e, ptr::null(), 0);
        let nil_ok = fast::is_nil(nil) && fast::cons(nil).is_none();
        let (a, b) = (nif::enif_make_int64(e, 7), nif::enif_make_atom_len(e, c"x".as_ptr(), 1));
        let cell = nif::enif_make_list_cell(e, a, b);
        let cell_ok = fast::cons(cell) == Some((a, b));
        let items = [a, b, a];
        let list = nif::enif_make_list_from_array(e, items.as_ptr(), 3);
        let mut walked = Vec::new();
        let mut rest = list;
        while let Some((h, t)) = fast::cons(rest) {
            walked.push(h);
            rest = t;
        }
        let list_ok = walked == items && fast::is_nil(rest);
        ints_ok && bigs_ok && others_ok && nil_ok && cell_ok && list_ok
    };
    fast::enable(ok);
    ok
}

/// Makes an atom from UTF-8 text (any name up to 255 characters).
pub fn make_atom(env: NifEnv, name: &str) -> Option<RawTerm> {
    if name.chars().count() > 255 {
        return None;
    }
    if name.is_ascii() {
        // SAFETY: valid env; ASCII text is valid Latin-1.
        return Some(unsafe { nif::enif_make_atom_len(env.raw(), name.as_ptr() as *const _, name.len()) });
    }
    // Non-ASCII names go through the external format (ATOM_UTF8_EXT), the
    // one way to create them on every OTP release we support.
    let mut bytes = vec![etf::VERSION, 118];
    bytes.extend_from_slice(&(name.len() as u16).to_be_bytes());
    bytes.extend_from_slice(name.as_bytes());
    binary_to_term(env, &bytes, false)
}

/// The atom named `name` if it already exists (never creates one).
pub fn existing_atom(env: NifEnv, name: &str) -> Option<RawTerm> {
    if name.chars().count() > 255 {
        return None;
    }
    if name.is_ascii() {
        let mut atom = RawTerm::default();
        // SAFETY: valid env; ASCII text is valid Latin-1; `atom` is written
        // only on success.
        let found = unsafe {
            nif::enif_make_existing_atom_len(
                env.raw(),
                name.as_ptr() as *const _,
                name.len(),
                &mut atom,
                nif::ErlNifCharEncoding::ERL_NIF_LATIN1,
            )
        };
        return (found != 0).then_some(atom);
    }
    // The safe external-format decoder refuses to create atoms.
    let mut bytes = vec![etf::VERSION, 118];
    bytes.extend_from_slice(&(name.len() as u16).to_be_bytes());
    bytes.extend_from_slice(name.as_bytes());
    binary_to_term(env, &bytes, true)
}

/// Atoms Python code has created so far, against [`atom_budget`].
static ATOMS_CREATED: AtomicUsize = AtomicUsize::new(0);

/// How many new atoms Python code may create (`erlang.atom`, `erlang.Atom`
/// values sent to Erlang): `ERLANG_PYTHON_MAX_ATOMS`, default 10 000. The
/// VM's atom table is never garbage collected, so a loop making atoms from
/// data must hit an exception, not exhaust it.
pub fn atom_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        std::env::var("ERLANG_PYTHON_MAX_ATOMS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(10_000)
    })
}

/// The error for an atom over the budget.
pub const ATOM_BUDGET_EXHAUSTED: &str = "too many atoms created from Python (ERLANG_PYTHON_MAX_ATOMS)";

/// An atom for Python code: existing atoms are free, new ones count against
/// [`atom_budget`].
pub fn make_budgeted_atom(env: NifEnv, name: &str) -> Result<RawTerm, ConvertError> {
    if let Some(a) = existing_atom(env, name) {
        return Ok(a);
    }
    if name.chars().count() > 255 {
        return Err(ConvertError::BadTerm("atom name longer than 255 characters"));
    }
    if ATOMS_CREATED.fetch_add(1, Ordering::Relaxed) >= atom_budget() {
        ATOMS_CREATED.fetch_sub(1, Ordering::Relaxed);
        return Err(ConvertError::BadTerm(ATOM_BUDGET_EXHAUSTED));
    }
    make_atom(env, name).ok_or(ConvertError::BadTerm("atom name longer than 255 characters"))
}

/// The atom gate of conversion (`py_convert::guard`): an atom named by a
/// Python value is created now, within the atom budget, so that bytes
/// holding it decode later with `binary_to_term(B, [safe])`.
pub fn admit_python_atom(name: &str) -> Result<(), ConvertError> {
    let scratch = MsgEnv::new();
    make_budgeted_atom(scratch.env(), name).map(|_| ())
}

/// The Erlang monotonic clock in milliseconds, as
/// `erlang:monotonic_time(millisecond)` reads it (any thread).
pub fn monotonic_ms() -> i64 {
    // SAFETY: no preconditions; thread-safe.
    unsafe { nif::enif_monotonic_time(nif::ErlNifTimeUnit::ERL_NIF_MSEC) }
}

/// The local process registered as `name`. Only from threads the VM does
/// not manage (context threads, Python threads).
pub fn whereis(name: &str) -> Option<ErlNifPid> {
    let scratch = MsgEnv::new();
    let atom = existing_atom(scratch.env(), name)?;
    // SAFETY: ErlNifPid is plain data filled on success; a NULL env is the
    // documented form for threads the VM does not manage.
    unsafe {
        let mut pid: ErlNifPid = std::mem::zeroed();
        (nif::enif_whereis_pid(ptr::null_mut(), atom, &mut pid) != 0).then_some(pid)
    }
}

/// The local process registered as `name`, from a NIF call (`env` is the
/// caller's).
pub fn whereis_from(env: NifEnv, name: &str) -> Option<ErlNifPid> {
    let atom = existing_atom(env, name)?;
    // SAFETY: valid process env; ErlNifPid is plain data filled on success.
    unsafe {
        let mut pid: ErlNifPid = std::mem::zeroed();
        (nif::enif_whereis_pid(env.raw(), atom, &mut pid) != 0).then_some(pid)
    }
}

/// The local pid a pid term stands for (`None` for remote pids).
pub fn local_pid(env: NifEnv, t: RawTerm) -> Option<ErlNifPid> {
    // SAFETY: valid env; ErlNifPid is plain data filled on success.
    unsafe {
        let mut pid: ErlNifPid = std::mem::zeroed();
        (nif::enif_get_local_pid(env.raw(), t, &mut pid) != 0).then_some(pid)
    }
}

/// The term of a local pid.
pub fn pid_term(env: NifEnv, pid: &ErlNifPid) -> RawTerm {
    // SAFETY: valid env; a pid is an immediate term.
    unsafe { nif::enif_make_pid(env.raw(), *pid) }
}

/// Decodes an external-format binary into `env`.
pub fn binary_to_term(env: NifEnv, bytes: &[u8], safe: bool) -> Option<RawTerm> {
    let mut term = RawTerm::default();
    let opts = if safe { nif::ERL_NIF_BIN2TERM_SAFE } else { 0 };
    // SAFETY: valid env; the bytes are read for the call only.
    let used = unsafe { nif::enif_binary_to_term(env.raw(), bytes.as_ptr(), bytes.len(), &mut term, opts) };
    (used == bytes.len() && used > 0).then_some(term)
}

/// Encodes a term in the external format.
pub fn term_to_binary(env: NifEnv, term: RawTerm) -> Option<Vec<u8>> {
    // SAFETY: `bin` is filled by enif_term_to_binary and released right
    // after being copied.
    unsafe {
        let mut bin: nif::ErlNifBinary = std::mem::zeroed();
        if nif::enif_term_to_binary(env.raw(), term, &mut bin) == 0 {
            return None;
        }
        let v = std::slice::from_raw_parts(bin.data, bin.size).to_vec();
        nif::enif_release_binary(&mut bin);
        Some(v)
    }
}

/// Turns a reference term that stands for a Python object (an object
/// handle) into that object; `None` when the term is not such a handle.
pub type ResolveHandle = fn(NifEnv, Attached<'_>, RawTerm) -> Option<Result<PyObj, ConvertError>>;

/// Reads terms of one environment (the request env of a task, or a NIF's
/// own env) for Erlang -> Python conversion.
#[derive(Clone, Copy)]
pub struct EnvSource {
    pub env: NifEnv,
    pub handles: Option<ResolveHandle>,
}

impl EnvSource {
    /// A source that knows no object handles.
    pub fn plain(env: NifEnv) -> EnvSource {
        EnvSource { env, handles: None }
    }
}

pub struct ListElems {
    env: *mut ErlNifEnv,
    rest: RawTerm,
}

impl Iterator for ListElems {
    type Item = RawTerm;
    #[inline]
    fn next(&mut self) -> Option<RawTerm> {
        if fast::enabled() {
            // SAFETY: `rest` is a live term of the env being read.
            let (head, tail) = unsafe { fast::cons(self.rest) }?;
            self.rest = tail;
            return Some(head);
        }
        let (mut head, mut tail) = (RawTerm::default(), RawTerm::default());
        // SAFETY: `rest` is a term of `env`; get_list_cell only reads it.
        if unsafe { nif::enif_get_list_cell(self.env, self.rest, &mut head, &mut tail) } == 0 {
            return None;
        }
        self.rest = tail;
        Some(head)
    }
}

pub enum Elems<'s> {
    List(ListElems),
    Tuple(std::slice::Iter<'s, RawTerm>),
}

impl Iterator for Elems<'_> {
    type Item = RawTerm;
    #[inline]
    fn next(&mut self) -> Option<RawTerm> {
        match self {
            Elems::List(l) => l.next(),
            Elems::Tuple(t) => t.next().copied(),
        }
    }
}

pub struct MapPairs {
    env: *mut ErlNifEnv,
    iter: nif::ErlNifMapIterator,
    valid: bool,
}

impl Iterator for MapPairs {
    type Item = (RawTerm, RawTerm);
    #[inline]
    fn next(&mut self) -> Option<(RawTerm, RawTerm)> {
        if !self.valid {
            return None;
        }
        let (mut k, mut v) = (RawTerm::default(), RawTerm::default());
        // SAFETY: the iterator was created on a map of `env` and is
        // destroyed in Drop; get_pair fails at the tail.
        unsafe {
            if nif::enif_map_iterator_get_pair(self.env, &mut self.iter, &mut k, &mut v) == 0 {
                return None;
            }
            nif::enif_map_iterator_next(self.env, &mut self.iter);
        }
        Some((k, v))
    }
}

impl Drop for MapPairs {
    fn drop(&mut self) {
        if self.valid {
            // SAFETY: created by enif_map_iterator_create, destroyed once.
            unsafe { nif::enif_map_iterator_destroy(self.env, &mut self.iter) }
        }
    }
}

impl TermSource for EnvSource {
    type Term = RawTerm;
    type Elems<'s> = Elems<'s>;
    type Pairs<'s> = MapPairs;

    #[inline]
    fn kind(&self, t: RawTerm) -> TermKind {
        if fast::enabled() {
            if fast::small_int(t).is_some() {
                return TermKind::Integer;
            }
            if fast::is_nil(t) {
                return TermKind::List;
            }
        }
        // SAFETY: `t` is a term of `self.env`.
        match unsafe { nif::enif_term_type(self.env.raw(), t) } {
            ErlNifTermType::ERL_NIF_TERM_TYPE_ATOM => TermKind::Atom,
            ErlNifTermType::ERL_NIF_TERM_TYPE_INTEGER => TermKind::Integer,
            ErlNifTermType::ERL_NIF_TERM_TYPE_FLOAT => TermKind::Float,
            ErlNifTermType::ERL_NIF_TERM_TYPE_BITSTRING => TermKind::Binary,
            ErlNifTermType::ERL_NIF_TERM_TYPE_LIST => TermKind::List,
            ErlNifTermType::ERL_NIF_TERM_TYPE_TUPLE => TermKind::Tuple,
            ErlNifTermType::ERL_NIF_TERM_TYPE_MAP => TermKind::Map,
            ErlNifTermType::ERL_NIF_TERM_TYPE_PID => TermKind::Pid,
            ErlNifTermType::ERL_NIF_TERM_TYPE_REFERENCE => TermKind::Reference,
            ErlNifTermType::ERL_NIF_TERM_TYPE_FUN => TermKind::Fun,
            _ => TermKind::Port,
        }
    }

    #[inline]
    fn known_atom(&self, t: RawTerm) -> Option<KnownAtom> {
        let a = atoms();
        Some(if t == a.true_ {
            KnownAtom::True
        } else if t == a.false_ {
            KnownAtom::False
        } else if t == a.none {
            KnownAtom::None
        } else if t == a.nil {
            KnownAtom::Nil
        } else if t == a.undefined {
            KnownAtom::Undefined
        } else if t == a.bytes {
            KnownAtom::Bytes
        } else {
            return None;
        })
    }

    fn with_atom_name<R>(&self, t: RawTerm, f: impl FnOnce(&str) -> R) -> Result<R, ConvertError> {
        let mut buf = [0u8; 256];
        // SAFETY: buffer of 256 bytes holds any Latin-1 atom (max 255 chars)
        // plus the NUL; `t` is a term of `env`.
        let n = unsafe {
            nif::enif_get_atom(
                self.env.raw(),
                t,
                buf.as_mut_ptr() as *mut _,
                buf.len() as c_uint,
                nif::ErlNifCharEncoding::ERL_NIF_LATIN1,
            )
        };
        if n > 0 {
            let latin1 = &buf[..(n as usize - 1)];
            if latin1.is_ascii() {
                // SAFETY: ASCII is valid UTF-8.
                return Ok(f(unsafe { std::str::from_utf8_unchecked(latin1) }));
            }
            let text: String = latin1.iter().map(|&b| b as char).collect();
            return Ok(f(&text));
        }
        // Not representable in Latin-1: read it from the external format.
        let bytes = term_to_binary(self.env, t).ok_or(ConvertError::BadTerm("atom"))?;
        let name = etf::atom_from_external(&bytes).ok_or(ConvertError::BadTerm("atom"))?;
        Ok(f(&name))
    }

    #[inline(always)]
    fn small_int(&self, t: RawTerm) -> Option<i64> {
        if fast::enabled() {
            fast::small_int(t)
        } else {
            None
        }
    }

    #[inline]
    fn int64(&self, t: RawTerm) -> Option<i64> {
        if fast::enabled() {
            if let Some(v) = fast::small_int(t) {
                return Some(v);
            }
        }
        let mut v: i64 = 0;
        // SAFETY: `t` is a term of `env`.
        (unsafe { nif::enif_get_int64(self.env.raw(), t, &mut v) } != 0).then_some(v)
    }

    #[inline]
    fn uint64(&self, t: RawTerm) -> Option<u64> {
        let mut v: u64 = 0;
        // SAFETY: `t` is a term of `env`.
        (unsafe { nif::enif_get_uint64(self.env.raw(), t, &mut v) } != 0).then_some(v)
    }

    fn big_int(&self, t: RawTerm) -> Result<BigInt, ConvertError> {
        let bytes = term_to_binary(self.env, t).ok_or(ConvertError::BadTerm("integer"))?;
        etf::big_from_external(&bytes).ok_or(ConvertError::BadTerm("integer"))
    }

    #[inline]
    fn float(&self, t: RawTerm) -> Option<f64> {
        let mut v: f64 = 0.0;
        // SAFETY: `t` is a term of `env`.
        (unsafe { nif::enif_get_double(self.env.raw(), t, &mut v) } != 0).then_some(v)
    }

    #[inline]
    fn binary(&self, t: RawTerm) -> Option<&[u8]> {
        // SAFETY: the binary data stays valid while the env holds the term,
        // which outlives this borrow of `self`.
        unsafe {
            let mut bin: nif::ErlNifBinary = std::mem::zeroed();
            if nif::enif_inspect_binary(self.env.raw(), t, &mut bin) == 0 {
                return None;
            }
            if bin.size == 0 {
                return Some(&[]);
            }
            Some(std::slice::from_raw_parts(bin.data, bin.size))
        }
    }

    #[inline]
    fn list_len(&self, t: RawTerm) -> Option<usize> {
        if fast::enabled() {
            let mut n = 0;
            let mut rest = t;
            // SAFETY: `t` and its tails are live terms of the env.
            while let Some((_, tail)) = unsafe { fast::cons(rest) } {
                n += 1;
                rest = tail;
            }
            return fast::is_nil(rest).then_some(n);
        }
        let mut n: c_uint = 0;
        // SAFETY: `t` is a term of `env`.
        (unsafe { nif::enif_get_list_length(self.env.raw(), t, &mut n) } != 0).then_some(n as usize)
    }

    #[inline]
    fn list_elems(&self, t: RawTerm) -> Elems<'_> {
        Elems::List(ListElems { env: self.env.raw(), rest: t })
    }

    #[inline]
    fn tuple_elems(&self, t: RawTerm) -> Elems<'_> {
        let mut arity: c_int = 0;
        let mut array: *const RawTerm = ptr::null();
        // SAFETY: the tuple's element array lives on the env's heap as long
        // as the term; we never hand the iterator past the conversion.
        unsafe {
            if nif::enif_get_tuple(self.env.raw(), t, &mut arity, &mut array) == 0 || arity == 0 {
                return Elems::Tuple([].iter());
            }
            Elems::Tuple(std::slice::from_raw_parts(array, arity as usize).iter())
        }
    }

    #[inline]
    fn tuple_len(&self, t: RawTerm) -> usize {
        let mut arity: c_int = 0;
        let mut array: *const RawTerm = ptr::null();
        // SAFETY: `t` is a term of `env`.
        unsafe { nif::enif_get_tuple(self.env.raw(), t, &mut arity, &mut array) };
        arity.max(0) as usize
    }

    #[inline]
    fn map_size(&self, t: RawTerm) -> usize {
        let mut n: usize = 0;
        // SAFETY: `t` is a term of `env`.
        unsafe { nif::enif_get_map_size(self.env.raw(), t, &mut n) };
        n
    }

    fn map_pairs(&self, t: RawTerm) -> MapPairs {
        // SAFETY: `iter` is initialised by enif_map_iterator_create before
        // any use (and not used when creation fails).
        unsafe {
            let mut iter: nif::ErlNifMapIterator = std::mem::zeroed();
            let valid = nif::enif_map_iterator_create(
                self.env.raw(),
                t,
                &mut iter,
                nif::ErlNifMapIteratorEntry::ERL_NIF_MAP_ITERATOR_HEAD,
            ) != 0;
            MapPairs { env: self.env.raw(), iter, valid }
        }
    }

    fn external_form(&self, t: RawTerm) -> Result<Vec<u8>, ConvertError> {
        term_to_binary(self.env, t).ok_or(ConvertError::BadTerm("pid or reference"))
    }

    fn special_reference(&self, py: Attached<'_>, t: RawTerm) -> Option<Result<PyObj, ConvertError>> {
        self.handles.and_then(|resolve| resolve(self.env, py, t))
    }
}

/// Maps with more keys than this are hash-array mapped tries inside the VM.
pub const FLATMAP_LIMIT: usize = 32;

/// Makes an object handle term for a Python value with no Erlang form.
pub type MakeHandle<'a> = &'a dyn Fn(NifEnv, &PyObj) -> Result<RawTerm, ConvertError>;

/// Builds terms in one environment for Python -> Erlang conversion.
pub struct EnvSink<'a> {
    pub env: NifEnv,
    /// Whether maps of more than [`FLATMAP_LIMIT`] keys may be built here.
    /// OTP 25 crashes building them outside scheduler threads (erlang/otp
    /// #8208), so context threads set this to false and fall back to the
    /// external term format (see `reply`).
    pub large_maps: bool,
    /// Where values with no Erlang form become object handles; without it
    /// they are `{unsupported_type, Name}` errors.
    pub handles: Option<MakeHandle<'a>>,
}

impl<'a> EnvSink<'a> {
    /// A sink for a context thread, without object handles.
    pub fn plain(env: NifEnv) -> EnvSink<'a> {
        EnvSink { env, large_maps: false, handles: None }
    }
}

impl TermSink for EnvSink<'_> {
    type Term = RawTerm;

    #[inline]
    fn known_atom(&mut self, a: KnownAtom) -> RawTerm {
        let t = atoms();
        match a {
            KnownAtom::True => t.true_,
            KnownAtom::False => t.false_,
            KnownAtom::None => t.none,
            KnownAtom::Nil => t.nil,
            KnownAtom::Undefined => t.undefined,
            KnownAtom::Bytes => t.bytes,
            KnownAtom::Nan => t.nan,
            KnownAtom::Infinity => t.infinity,
            KnownAtom::NegInfinity => t.neg_infinity,
        }
    }

    fn atom(&mut self, name: &str) -> Result<RawTerm, ConvertError> {
        make_budgeted_atom(self.env, name)
    }

    #[inline]
    fn int64(&mut self, v: i64) -> RawTerm {
        if fast::enabled() {
            if let Some(t) = fast::make_small(v) {
                return t;
            }
        }
        // SAFETY: valid env.
        unsafe { nif::enif_make_int64(self.env.raw(), v) }
    }

    #[inline]
    fn uint64(&mut self, v: u64) -> RawTerm {
        // SAFETY: valid env.
        unsafe { nif::enif_make_uint64(self.env.raw(), v) }
    }

    fn big_int(&mut self, v: &BigInt) -> Result<RawTerm, ConvertError> {
        binary_to_term(self.env, &etf::big_to_external(v), true).ok_or(ConvertError::BadTerm("integer too large"))
    }

    #[inline]
    fn float(&mut self, v: f64) -> RawTerm {
        // SAFETY: valid env; callers pass finite values only.
        unsafe { nif::enif_make_double(self.env.raw(), v) }
    }

    #[inline]
    fn binary(&mut self, bytes: &[u8]) -> Result<RawTerm, ConvertError> {
        let mut term = RawTerm::default();
        // SAFETY: enif_make_new_binary returns a writable buffer of
        // `bytes.len()` bytes owned by the new term (or NULL on failure).
        unsafe {
            let p = nif::enif_make_new_binary(self.env.raw(), bytes.len(), &mut term);
            if p.is_null() {
                return Err(ConvertError::BadTerm("binary allocation failed"));
            }
            ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        }
        Ok(term)
    }

    #[inline]
    fn list(&mut self, elems: &[RawTerm]) -> RawTerm {
        // SAFETY: valid env; the terms are of this env.
        unsafe { nif::enif_make_list_from_array(self.env.raw(), elems.as_ptr(), elems.len() as c_uint) }
    }

    #[inline]
    fn tuple(&mut self, elems: &[RawTerm]) -> RawTerm {
        // SAFETY: valid env; the terms are of this env.
        unsafe { nif::enif_make_tuple_from_array(self.env.raw(), elems.as_ptr(), elems.len() as c_uint) }
    }

    fn map(&mut self, keys: &[RawTerm], values: &[RawTerm]) -> Result<RawTerm, ConvertError> {
        if keys.len() > FLATMAP_LIMIT && !self.large_maps {
            return Err(ConvertError::SinkLimit("a map of more than 32 keys"));
        }
        let mut map = RawTerm::default();
        // Above the flatmap limit enif_make_map_from_arrays does not detect
        // duplicate keys (erlang/otp #10975), so large maps are built key by
        // key (later keys win).
        // SAFETY: valid env; the terms are of this env; both arrays have
        // `keys.len()` elements.
        unsafe {
            if keys.len() <= FLATMAP_LIMIT
                && nif::enif_make_map_from_arrays(self.env.raw(), keys.as_ptr(), values.as_ptr(), keys.len(), &mut map)
                    != 0
            {
                return Ok(map);
            }
            // Equal keys (a str and bytes with the same content), or a large
            // map: build one by one so the later value wins.
            map = nif::enif_make_new_map(self.env.raw());
            for (k, v) in keys.iter().zip(values) {
                let mut next = RawTerm::default();
                if nif::enif_make_map_put(self.env.raw(), map, *k, *v, &mut next) == 0 {
                    return Err(ConvertError::BadTerm("map"));
                }
                map = next;
            }
            Ok(map)
        }
    }

    fn opaque(&mut self, _py: Attached<'_>, obj: &PyObj) -> Result<RawTerm, ConvertError> {
        match self.handles {
            Some(make) => make(self.env, obj),
            None => Err(ConvertError::Opaque { type_name: obj.type_name() }),
        }
    }

    fn external_term(&mut self, etf: &[u8]) -> Result<RawTerm, ConvertError> {
        let t = binary_to_term(self.env, etf, true).ok_or(ConvertError::BadTerm("pid or reference"))?;
        // SAFETY: `t` is a term of this env.
        let ok = unsafe { nif::enif_is_pid(self.env.raw(), t) != 0 || nif::enif_is_ref(self.env.raw(), t) != 0 };
        if ok {
            Ok(t)
        } else {
            Err(ConvertError::BadTerm("pid or reference"))
        }
    }
}

/// Whether `terms` hold more than `budget` terms (list cells, tuple and map
/// elements), counting only until the budget is spent.
pub fn heavier_than(env: NifEnv, terms: &[RawTerm], budget: usize) -> bool {
    let src = EnvSource::plain(env);
    let mut left = budget as isize;
    let mut stack: Vec<RawTerm> = terms.to_vec();
    while let Some(t) = stack.pop() {
        left -= 1;
        if left < 0 {
            return true;
        }
        if t == RawTerm::default() {
            continue;
        }
        match src.kind(t) {
            TermKind::List => {
                for e in src.list_elems(t) {
                    left -= 1;
                    if left < 0 {
                        return true;
                    }
                    if src.small_int(e).is_none() {
                        stack.push(e);
                    }
                }
            }
            TermKind::Tuple => stack.extend(src.tuple_elems(t)),
            TermKind::Map => {
                left -= 2 * src.map_size(t) as isize;
                if left < 0 {
                    return true;
                }
                for (k, v) in src.map_pairs(t) {
                    stack.push(k);
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    false
}

/// Runs `f` with a rustler `Env` over a raw environment (to decode and
/// encode resources with rustler's types).
pub fn with_env<R>(env: NifEnv, f: impl for<'e> FnOnce(rustler::Env<'e>) -> R) -> R {
    let marker = ();
    // SAFETY: `env` is valid for the call (NifEnv's contract) and the Env
    // made here does not escape `f`.
    let e = unsafe { rustler::Env::new(&marker, env.raw()) };
    f(e)
}

/// A rustler `Term` for a raw term of `env`.
pub fn term<'e>(env: rustler::Env<'e>, t: RawTerm) -> rustler::Term<'e> {
    // SAFETY: callers pass terms of `env`.
    unsafe { rustler::Term::new(env, t) }
}

/// The pid of the process calling the current NIF.
pub fn self_pid(env: NifEnv) -> Option<ErlNifPid> {
    // SAFETY: ErlNifPid is plain data; enif_self fills it for a process env.
    unsafe {
        let mut pid: ErlNifPid = std::mem::zeroed();
        (!nif::enif_self(env.raw(), &mut pid).is_null()).then_some(pid)
    }
}

/// The bytes of an atom, binary or (Latin-1 or Unicode) charlist naming a
/// module, function or piece of code.
pub fn name_bytes(env: NifEnv, t: RawTerm) -> Option<Vec<u8>> {
    py_core::job::name_bytes(&EnvSource::plain(env), t)
}
