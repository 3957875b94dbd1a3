//! Runtime NIFs: starting Python and asking what it is.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::atoms::{
    allocator, auto, default, executable, faulthandler, free_threaded, gil, malloc, malloc_tuning, max_depth, mimalloc,
    ok, pymalloc,
};
use crate::error::NifError;
use py_convert::Limits;
use py_core::{Allocator, RuntimeConfig};
use rustler::{Encoder, Env, Term};

static MAX_DEPTH: AtomicUsize = AtomicUsize::new(py_convert::DEFAULT_MAX_DEPTH);

/// The conversion limits configured at `init/1`.
pub fn configured_limits() -> Limits {
    Limits::with_max_depth(MAX_DEPTH.load(Ordering::Relaxed))
}

fn text(t: Term<'_>) -> Option<String> {
    if let Ok(s) = t.decode::<String>() {
        return Some(s);
    }
    let chars: Vec<u32> = t.decode().ok()?;
    chars.into_iter().map(char::from_u32).collect()
}

/// `init(#{executable => Path, max_depth => N, allocator => auto | default |
/// mimalloc | pymalloc | malloc, malloc_tuning => boolean(),
/// faulthandler => boolean()}) -> ok |
/// {error, Reason}`.
/// Starts Python once per VM; later calls succeed without restarting it.
#[rustler::nif(schedule = "DirtyIo")]
fn init<'a>(env: Env<'a>, opts: Term<'a>) -> Term<'a> {
    let mut config = RuntimeConfig { forbid_process_creation: true, faulthandler: true, ..RuntimeConfig::default() };
    if opts.is_map() {
        if let Ok(v) = opts.map_get(executable()) {
            match text(v) {
                Some(p) => config.executable = Some(PathBuf::from(p)),
                None => return NifError::BadSetting(executable(), v).encode(env),
            }
        }
        if let Ok(v) = opts.map_get(allocator()) {
            let choice = [
                (auto(), Allocator::Auto),
                (default(), Allocator::Default),
                (mimalloc(), Allocator::Mimalloc),
                (pymalloc(), Allocator::Pymalloc),
                (malloc(), Allocator::Malloc),
            ]
            .into_iter()
            .find(|(a, _)| v == a.encode(env));
            match choice {
                Some((_, a)) => config.allocator = a,
                None => return NifError::BadSetting(allocator(), v).encode(env),
            }
        }
        if let Ok(v) = opts.map_get(malloc_tuning()) {
            match v.decode::<bool>() {
                Ok(tune) => config.keep_malloc_thresholds = !tune,
                Err(_) => return NifError::BadSetting(malloc_tuning(), v).encode(env),
            }
        }
        if let Ok(v) = opts.map_get(faulthandler()) {
            match v.decode::<bool>() {
                Ok(on) => config.faulthandler = on,
                Err(_) => return NifError::BadSetting(faulthandler(), v).encode(env),
            }
        }
        if let Ok(v) = opts.map_get(max_depth()) {
            match v.decode::<usize>() {
                Ok(n) if n > 0 && n <= py_convert::MAX_CONFIGURABLE_DEPTH => MAX_DEPTH.store(n, Ordering::Relaxed),
                _ => return NifError::BadSetting(max_depth(), v).encode(env),
            }
        }
    }
    match py_core::runtime::start(&config) {
        Ok(_) => ok().encode(env),
        Err(e) => NifError::Text(&e).encode(env),
    }
}

/// `version() -> {ok, SysVersion} | {error, python_not_running}`
#[rustler::nif]
fn version<'a>(env: Env<'a>) -> Term<'a> {
    match py_core::runtime::info() {
        Some(i) => (ok(), i.version).encode(env),
        None => NifError::Named("python_not_running").encode(env),
    }
}

/// `python_info() -> #{version, executable, libpython, version_info}`
#[rustler::nif]
fn python_info<'a>(env: Env<'a>) -> rustler::NifResult<Term<'a>> {
    let Some(i) = py_core::runtime::info() else {
        return Ok(NifError::Named("python_not_running").encode(env));
    };
    let key = |k: &str| rustler::Atom::from_str(env, k).map(|a| a.encode(env));
    Term::map_from_pairs(
        env,
        &[
            (key("version")?, i.version.encode(env)),
            (key("executable")?, i.executable.encode(env)),
            (key("libpython")?, i.libpython.encode(env)),
            (key("version_info")?, (i.version_info.0, i.version_info.1).encode(env)),
        ],
    )
}

/// Whether own-GIL sub-interpreters can be created (Python 3.12+).
#[rustler::nif]
fn owngil_supported() -> bool {
    py_core::owngil_supported()
}

/// Whether sub-interpreters are available at all (Python 3.12+ here).
#[rustler::nif]
fn subinterp_supported() -> bool {
    py_core::owngil_supported()
}

/// `gil` or `free_threaded`: what the linked Python build is.
#[rustler::nif]
fn execution_mode() -> rustler::Atom {
    if cfg!(Py_GIL_DISABLED) {
        free_threaded()
    } else {
        gil()
    }
}

/// `dup_fd(Fd) -> {ok, NewFd} | {error, Reason}`: a copy of an OS file
/// descriptor (close-on-exec) that Python may own and close.
#[rustler::nif]
fn dup_fd(env: Env<'_>, fd: i32) -> Term<'_> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) only reads its integer arguments; an
    // invalid descriptor fails with EBADF.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new >= 0 {
        (ok(), new).encode(env)
    } else {
        let e = std::io::Error::last_os_error();
        let reason = match e.raw_os_error() {
            Some(libc::EBADF) => "ebadf",
            Some(libc::EMFILE) => "emfile",
            _ => "dup_failed",
        };
        NifError::Named(reason).encode(env)
    }
}
