//! The Erlang-backed asyncio event loop (`erlang.ErlangEventLoop`).
//!
//! Owns: readiness and timer sources (in the VM `enif_select` and Erlang
//! timers delivered through the context's queue; in tests a plain poller),
//! the loop's scheduling logic, and the asyncio-facing Python type. It runs
//! on a context's thread, so one queue serves calls, callbacks, I/O and
//! timers alike. Not implemented yet: see the event-loop issue.
