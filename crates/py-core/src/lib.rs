//! The Python side of erlang_python: starting the interpreter, thread
//! states, and contexts — dedicated OS threads that each own one Python
//! thread state for life, in the main interpreter (`worker` mode) or in a
//! sub-interpreter with its own GIL (`owngil` mode).
//!
//! ```
//! use std::sync::mpsc;
//! use py_convert::model::{ModelSink, Term};
//! use py_core::{runtime, Context, ContextOptions, Mode, RuntimeConfig};
//!
//! runtime::start(&RuntimeConfig::default()).expect("Python starts");
//! let ctx = Context::start(ContextOptions { mode: Mode::Worker, ..Default::default() }).unwrap();
//! let (tx, rx) = mpsc::channel();
//! // The closure runs on the context's own thread, attached to Python.
//! ctx.submit_fn(move |w| {
//!     let result = w.eval(b"sum(range(10))", None, None).map(|obj| {
//!         let mut sink = ModelSink::new();
//!         let term = py_convert::py_to_term(w.py(), w.types(), &mut sink, &obj, w.limits());
//!         sink.take(term.unwrap())
//!     });
//!     let _ = tx.send(result.map_err(|e| e.message));
//! });
//! assert_eq!(rx.recv().unwrap(), Ok(Term::Int(45)));
//! ```
//!
//! Nothing here knows about the BEAM: work arrives as [`Task`]s, and tasks
//! decide how to reply. `py-nif` builds tasks that read Erlang terms and
//! send results as messages; the tests here use closures.
//!
//! * [`runtime`] — start CPython once per process (signal handlers off,
//!   libpython promoted to global symbols, the `erlang` module registered).
//! * [`context`] — the thread, its queue ([`handoff`]) and interrupts.
//! * [`worker`] — what a task can do on the thread: calls, eval, exec.
//! * [`interp`] — thread states and sub-interpreters, the raw calls.
//! * [`release`] — Python objects held across threads and their release.
//! * [`erlang_module`] — the built-in `erlang` module, per interpreter.
//!
//! Built-in modules on the C API, and every other call into CPython
//! outside the thread-state layer, go through [`py_convert::capi`].
//!
//! # Linking a program against libpython
//!
//! The crates link libpython dynamically, against the Python that
//! `PYO3_PYTHON` names when they are built (3.11 or newer; own-GIL
//! contexts need 3.12). A binary must also find that library when it runs:
//! either run it with `LD_LIBRARY_PATH` set to the Python's `LIBDIR`
//! (`python3 -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))'`),
//! or record the directory in the binary from its build script, with
//! `pyo3-build-config` as a build dependency:
//!
//! ```ignore
//! // build.rs
//! fn main() {
//!     pyo3_build_config::add_libpython_rpath_link_args();
//! }
//! ```
//!
//! `examples/rust_embedder` in the repository is such a program.

pub mod context;
mod dl;
pub mod erlang_module;
pub mod handoff;
pub mod interp;
mod interrupt;
pub mod job;
pub mod pool;
pub mod release;
mod run_state;
pub mod runtime;
pub mod sandbox;
mod state;
pub mod worker;

pub use context::{
    begin_external_sleep, block_until, block_until_deadline, current_waker, end_external_sleep, poll_window,
    running_seq, serve_pending, sleep, take_pending_interrupt, wake_fd, with_worker, without_gil, Context,
    ContextOptions, FnTask, Task, WaitError, Waker,
};
pub use interp::{owngil_supported, Mode};
pub use release::{Held, Owner};
pub use runtime::{Allocator, RuntimeConfig, RuntimeInfo};
pub use worker::Worker;
