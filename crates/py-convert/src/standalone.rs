//! Conversion on its own: for programs, tools and tests that use this
//! crate without `py-core`'s runtime (which is what the library itself
//! uses).
//!
//! [`with_python`] attaches the calling thread to the main interpreter —
//! starting Python first if nobody in the process has — and lends the
//! `erlang` types conversion needs. It is for embedders that own no thread
//! state of their own; a program that already manages thread states (a
//! pyo3 host, say) creates its [`ErlTypes`] with [`ErlTypes::standalone`]
//! under its own attachment instead.

use std::sync::OnceLock;

use crate::capi::gil;
use crate::pyobj::Attached;
use crate::pytypes::ErlTypes;

struct Shared(ErlTypes);
// SAFETY: the types are only touched by `with_python`, which holds the GIL
// of the one interpreter they belong to.
unsafe impl Send for Shared {}
// SAFETY: as above; every access happens with the GIL held.
unsafe impl Sync for Shared {}

static TYPES: OnceLock<Shared> = OnceLock::new();

/// Runs `f` with the GIL held and the `erlang` types, initialising Python
/// (without signal handlers) on first use. Any thread may call it, also
/// while other threads do; calls serialise on the GIL.
///
/// ```
/// use py_convert::{etf_to_py, py_to_etf, standalone::with_python, Limits};
///
/// // term_to_binary(<<"hello">>)
/// let etf = [131, 109, 0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o'];
/// let back = with_python(|py, types| {
///     let text = etf_to_py(py, types, &etf, Limits::default()).unwrap();
///     py_to_etf(py, types, &text, Limits::default()).unwrap()
/// });
/// assert_eq!(back, etf);
/// ```
///
/// # Panics
/// If Python cannot create the `erlang` types (out of memory).
pub fn with_python<R>(f: impl FnOnce(Attached<'_>, &ErlTypes) -> R) -> R {
    let shared = TYPES.get_or_init(|| {
        // SAFETY: runs once (OnceLock); initialises Python, creates the
        // types with the GIL held, then releases the GIL for other threads.
        unsafe { gil::start_then_release(|py| Shared(ErlTypes::standalone(py).expect("create erlang types").1)) }
    });
    // SAFETY: Python is initialised; the guard gives this thread a thread
    // state and the GIL until it drops, also when `f` panics, so a failing
    // test cannot keep the GIL.
    let guard = unsafe { gil::GilGuard::ensure() };
    f(guard.py(), &shared.0)
}
