//! Data that flows continuously between Erlang and Python.
//!
//! Owns: term channels with `max_size` backpressure, byte channels, the
//! file-like `erlang.PyBuffer` fed by `py_buffer:write/2`, and SharedDict.
//! The queue and dict logic is plain Rust, tested without a BEAM; `py-nif`
//! wraps it in resources. Not implemented yet: see the channels issue.
