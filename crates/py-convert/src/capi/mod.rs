//! The safe layer over CPython's C API that every crate above the
//! conversion core uses: owned references in, owned references out, the
//! attachment token ([`Attached`](crate::Attached)) as the proof that a call
//! may touch Python. The crates above make no `pyo3_ffi` call of their own
//! (`scripts/check-ffi-layer.py` checks it; docs/architecture.md lists the
//! few files that may).
//!
//! Conventions: a wrapper that can fail returns `Option<PyObj>` (or
//! `Result<_, Raised>`) and leaves the Python exception set, C-API style,
//! so a module function can return its null error value; callers that want
//! the error as a value take it with [`PyErrInfo::fetch`](crate::PyErrInfo::fetch).
//!
//! - [`object`]: identity and type checks, reading values (arguments).
//! - [`value`]: building values (ints, strs, bytes, tuples, lists, dicts).
//! - [`error`]: raising and clearing exceptions.
//! - [`call`]: attributes, calls, imports, compiling and evaluating code.
//! - [`module`]: built-in modules written on the C API (method tables,
//!   FASTCALL entries, multi-phase definitions, module state).
//! - [`capsule`]: Rust values owned by Python capsules.
//! - [`buffer`]: reading buffer exports (format, shape, row-major bytes).
//! - [`bufview`]: heap types whose instances export Rust-owned bytes
//!   through the buffer protocol.
//! - [`gil`]: attaching a thread that has no thread state of its own.

pub mod buffer;
pub mod bufview;
pub mod call;
pub mod capsule;
pub mod error;
pub mod gil;
pub mod module;
pub mod object;
pub mod value;

pub use call::*;
pub use capsule::*;
pub use error::*;
pub use module::*;
pub use object::*;
pub use value::*;

/// pyo3-ffi, for the macros of this layer ([`crate::fastcall_entry!`],
/// [`crate::builtin_module!`]), which expand in the crates above.
#[doc(hidden)]
pub use pyo3_ffi as ffi;
