//! How channels, buffers and shared dicts (Erlang resources) appear in
//! Python: capsules holding a [`Handle`], the shared core plus whatever
//! keeps the Erlang resource alive (the NIF layer's resource reference), so
//! a capsule converts back to the very same resource.
//!
//! Buffers are handed to Python code as `erlang.PyBuffer` objects (file
//! like); the others as capsules that `erlang.Channel(c)`,
//! `erlang.ByteChannel(c)` and `erlang.SharedDict(c)` wrap.

use std::any::Any;
use std::ffi::CStr;
use std::sync::Arc;

use py_convert::capi;
use py_convert::{Attached, PyObj};

use crate::{Buffer, Queue, SharedDict};

/// The shared state behind a handle.
pub enum Core {
    /// Terms (encoded) from Erlang to Python.
    Channel(Arc<Queue>),
    /// Bytes both ways: `inbound` from Erlang, `outbound` to Erlang.
    ByteChannel {
        inbound: Arc<Queue>,
        outbound: Arc<Queue>,
    },
    Buffer(Arc<Buffer>),
    Dict(Arc<SharedDict>),
}

/// What a capsule holds.
pub struct Handle {
    pub core: Core,
    /// Keeps the Erlang side alive and lets the NIF layer find its resource
    /// again (it downcasts this).
    pub owner: Box<dyn Any + Send + Sync>,
}

const CHANNEL: &CStr = c"erlang.channel_ref";
const BYTE_CHANNEL: &CStr = c"erlang.byte_channel_ref";
const BUFFER: &CStr = c"erlang.buffer_ref";
const DICT: &CStr = c"py_shared_dict";
const NAMES: [&CStr; 4] = [CHANNEL, BYTE_CHANNEL, BUFFER, DICT];

fn name_of(core: &Core) -> &'static CStr {
    match core {
        Core::Channel(_) => CHANNEL,
        Core::ByteChannel { .. } => BYTE_CHANNEL,
        Core::Buffer(_) => BUFFER,
        Core::Dict(_) => DICT,
    }
}

/// A capsule for `handle` (a Python error is set if that fails).
pub fn capsule(py: Attached<'_>, handle: Handle) -> Option<PyObj> {
    let name = name_of(&handle.core);
    capi::new_capsule(py, Box::new(handle), name)
}

/// The handle in `obj`, if it is one of our capsules. Borrowed for as long
/// as `obj` lives.
pub fn handle_of(obj: &PyObj) -> Option<&Handle> {
    // SAFETY: every capsule under one of our names was made by `capsule`,
    // so it holds a `Handle`.
    unsafe { capi::capsule_value::<Handle>(obj, &NAMES) }
}

/// Our capsule for `obj`: the capsule itself, or the one inside one of the
/// wrapper objects (`Channel`, `PyBuffer`, `SharedDict`: their `_cap`).
pub fn capsule_of(py: Attached<'_>, obj: &PyObj) -> Option<PyObj> {
    if handle_of(obj).is_some() {
        return Some(obj.clone());
    }
    // A failed attribute lookup's error is cleared.
    capi::getattr_opt(py, obj, c"_cap").filter(|c| handle_of(c).is_some())
}

/// The Python object an Erlang resource becomes: a `PyBuffer` for buffers,
/// a capsule for the others. `None` with a Python error set on failure.
pub fn to_python(py: Attached<'_>, handle: Handle) -> Option<PyObj> {
    let is_buffer = matches!(handle.core, Core::Buffer(_));
    let cap = capsule(py, handle)?;
    if !is_buffer {
        return Some(cap);
    }
    let module = capi::import(py, c"_erlang_channel")?;
    let class = capi::getattr(py, &module, c"PyBuffer")?;
    capi::call1(py, &class, &cap)
}

/// A null pointer, for C functions returning "error set".
pub(crate) use py_convert::capi::null;
