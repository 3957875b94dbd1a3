//! Data that flows continuously between Erlang and Python: the pure-Rust
//! core, with no Python or BEAM in it, so it is tested with plain
//! `cargo test`. `py-nif` and the Python module wrap these types in
//! resources and objects.
//!
//! * [`Queue`]: the FIFO of byte items (encoded terms or raw binaries)
//!   behind term and byte channels, with `max_size` backpressure counted in
//!   queued bytes.
//! * [`Buffer`]: the append-only store behind the file-like
//!   `erlang.PyBuffer` fed by `py_buffer:write/2`; readable, seekable and
//!   exportable to a `memoryview` without a copy.
//! * [`SharedDict`]: a concurrent map of byte keys to byte values.
//!
//! ```
//! use std::sync::Arc;
//! use py_channel::{Queue, RecvError, SendError, SharedDict};
//!
//! // A queue that takes at most 8 bytes before the sender must wait.
//! let queue = Arc::new(Queue::new(8));
//! queue.send(b"12345".to_vec()).unwrap();
//! assert_eq!(queue.send(b"6789".to_vec()), Err(SendError::Busy));
//! assert_eq!(queue.try_recv().unwrap(), b"12345");
//! queue.close();
//! assert_eq!(queue.try_recv(), Err(RecvError::Closed));
//!
//! let dict = SharedDict::new();
//! dict.set(b"answer".to_vec(), b"42".to_vec()).unwrap();
//! assert_eq!(dict.get(b"answer").unwrap().as_deref(), Some(&b"42"[..]));
//! ```
//!
//! Everything is `Send + Sync` and meant to be shared through an `Arc`. A
//! reader that finds a queue or buffer empty registers a [`Wake`] with
//! `watch` and is told, outside any lock, when an item or data arrives or
//! the writer closes it.
//!
//! The Python side is the built-in module `_erlang_channel` ([`register`];
//! `module.rs`, the `*_fns.rs` files and their helpers in `args.rs`,
//! `python/channel.py`), which the
//! `erlang` module re-exports; [`handle`] turns the NIF layer's resources
//! into capsules and back.

mod args;
mod buffer;
mod buffer_fns;
mod channel_fns;
mod dict_fns;
pub mod handle;
mod module;
mod queue;
mod shared_dict;
mod view;
mod wake;

pub use buffer::{Buffer, BufferError};
pub use module::register;
pub use queue::{Queue, QueueInfo, RecvError, SendError};
pub use shared_dict::{Destroyed, SharedDict};
pub use wake::{Wake, WatchId};

/// The Python half of the `_erlang_channel` module.
pub const PYTHON_SOURCE: &str = include_str!("python/channel.py");

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a queue or buffer. Their state stays consistent even if a panic
/// unwound while the lock was held (wakes, the only foreign code, run
/// unlocked), so a poisoned lock is still usable and must not turn one
/// panic into a panic on every later call.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Callers share every type across threads through an `Arc`.
    #[test]
    fn shared_types_are_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Queue>();
        shared::<Buffer>();
        shared::<SharedDict>();
        shared::<std::sync::Arc<dyn Wake>>();
    }
}
