//! `_BufferView`: the object behind `memoryview(pybuffer)`. It exports the
//! bytes written so far without copying and pins the buffer's memory while
//! any view of it lives (a write that would move it then fails in Erlang
//! with `write_failed`).

use std::ffi::CStr;
use std::sync::Arc;

use py_convert::capi::bufview::{self, ByteSource};
use py_convert::capi::{self, RawObj};
use py_convert::{Attached, PyObj};

use crate::Buffer;

impl ByteSource for Buffer {
    const TYPE_NAME: &'static CStr = c"_erlang_channel._BufferViewType";
    const NO_SOURCE: &'static CStr = c"not a PyBuffer view";

    fn export(&self) -> (*const u8, usize) {
        Buffer::export(self)
    }

    fn unexport(&self) {
        Buffer::unexport(self)
    }
}

/// Creates the `_BufferViewType` heap type for this interpreter's module.
pub fn add_type(py: Attached<'_>, module: &PyObj) -> Option<()> {
    bufview::add_view_type::<Buffer>(py, module, c"_BufferViewType")
}

/// A new view of `buffer` (`_BufferView(capsule)`).
pub fn new_view(py: Attached<'_>, module: &PyObj, buffer: Arc<Buffer>) -> RawObj {
    capi::into_raw_or_null(bufview::new_view(py, module, c"_BufferViewType", buffer))
}
