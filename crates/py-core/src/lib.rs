//! The Python side of erlang_python: starting the interpreter, thread
//! states, and contexts — dedicated OS threads that each own one Python
//! thread state for life, in the main interpreter (`worker` mode) or in a
//! sub-interpreter with its own GIL (`owngil` mode).
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
//! * [`cfunc`] — scaffolding for built-in modules on the C API.

pub mod cfunc;
pub mod context;
mod dl;
pub mod erlang_module;
pub mod handoff;
pub mod interp;
mod interrupt;
pub mod job;
pub mod pool;
pub mod release;
pub mod runtime;
pub mod sandbox;
pub mod worker;

pub use context::{
    begin_external_sleep, block_until, block_until_deadline, current_waker, end_external_sleep, poll_window,
    running_seq, serve_pending, sleep, wake_fd, with_worker, without_gil, Context, ContextOptions, FnTask, Task,
    WaitError, Waker,
};
pub use interp::{owngil_supported, Mode};
pub use release::{Held, Owner};
pub use runtime::{Allocator, RuntimeConfig, RuntimeInfo};
pub use worker::Worker;
