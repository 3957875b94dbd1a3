//! The asyncio event loop of erlang_python (`erlang.ErlangEventLoop`), as the
//! built-in module `_erlang_loop`, which the `erlang` module re-exports.
//!
//! The loop is asyncio's own selector loop (so every `AbstractEventLoop`
//! behaviour — transports, servers, datagrams, executors, exception handlers
//! — is the standard library's, tested by CPython) with one difference that
//! matters inside the VM: its selector is part of a context thread's wait.
//!
//! * When the loop runs on a context thread, its `select` first runs the
//!   requests queued for the context (nested, as [`py_core::block_until`]
//!   does), and when it blocks, it blocks in the poller with the context's
//!   wake-up descriptor among the watched ones ([`py_core::wake_fd`]): a
//!   `py:call`, an Erlang task submission, an interrupt or the answer to a
//!   callback wakes it. One wait serves calls, callbacks, I/O and timers;
//!   idle, it costs nothing.
//! * Timers are the loop's own heap, waited for with the poller's timeout:
//!   sub-millisecond precise (Erlang timers have millisecond granularity).
//! * Readiness comes from the kernel poller wherever the loop runs, on or
//!   off a context thread (so `cargo test` runs the same loop without a
//!   BEAM): the stdlib's `EpollSelector` keeps the registrations and
//!   `select` does the wait in one native call.
//! * Tasks submitted from Erlang (`py_event_loop:create_task`) run on the
//!   loop; their outcome goes to a [`TaskSink`] installed by the NIF layer,
//!   which sends `{async_result, Ref, Result}`.
//!
//! `register()` must be called before Python starts:
//!
//! ```
//! use std::sync::mpsc;
//! use py_core::{runtime, Context, ContextOptions, RuntimeConfig};
//!
//! py_eventloop::register();
//! runtime::start(&RuntimeConfig::default()).expect("Python starts");
//! let ctx = Context::start(ContextOptions::default()).unwrap();
//! let (tx, rx) = mpsc::channel();
//! ctx.submit_fn(move |w| {
//!     // asyncio code runs on the loop as on any other: here two sleeps
//!     // in parallel, and a timer.
//!     let code = b"import asyncio, erlang\n\
//! async def main():\n    \
//!     await asyncio.gather(asyncio.sleep(0.01), asyncio.sleep(0.01))\n    \
//!     return type(asyncio.get_running_loop()).__name__\n\
//! loop = erlang.new_event_loop()\n\
//! name = loop.run_until_complete(main())\n\
//! loop.close()\n";
//!     let ran = w.exec(code, None).and_then(|()| w.eval(b"name", None, None));
//!     let _ = tx.send(ran.map(|name| name.type_name()).map_err(|e| e.message));
//! });
//! assert_eq!(rx.recv().unwrap(), Ok("str".to_string()));
//! ```

mod module;
mod poller;
mod select;

pub use module::{register, set_task_sink, TaskOutcome, TaskSink};

/// The Python half of the module.
pub const PYTHON_SOURCE: &str = include_str!("python/event_loop.py");
/// `erlang.reactor` and `erlang.server`, made submodules by the Python half.
pub const REACTOR_SOURCE: &str = include_str!("python/reactor.py");
pub const SERVER_SOURCE: &str = include_str!("python/server.py");
