//! The `_erlang_channel` built-in module: multi-phase, per interpreter (it
//! imports in own-GIL sub-interpreters), with the C functions behind
//! `erlang.Channel`, `ByteChannel`, `PyBuffer` and `SharedDict`
//! (`python/channel.py`). Waits release the GIL and, on a context thread,
//! keep serving the context's requests (`py_core::block_until_deadline`).

use py_convert::capi::{self, boolean, fast, none_raw, wrong_args, MethodDef, METHODS_END};
use py_convert::PyObj;

use crate::args::{bytes_arg, deadline_arg, handle_arg, size_arg};
use crate::handle::{null, Core};
use crate::view;

/// Registers `_erlang_channel` as a built-in module; call before Python
/// starts.
pub fn register() -> bool {
    // Imported by every interpreter as it starts (a stream driver first
    // imports it inside a request that may be interrupted).
    py_core::runtime::preload_module(c"_erlang_channel");
    py_core::erlang_module::extend(c"_erlang_channel");
    py_core::runtime::add_builtin_module(c"_erlang_channel", init_module)
}

py_convert::fastcall_entry!(ch_recv, |py, module, args| {
    let [cap, timeout] = args.as_slice() else { return wrong_args(c"_recv(channel, timeout)") };
    let Some(h) = handle_arg(py, cap) else { return null() };
    let Ok(deadline) = deadline_arg(py, timeout) else { return null() };
    crate::channel_fns::receive(py, &module, h, deadline, crate::channel_fns::OnClosed::Raise)
});

py_convert::fastcall_entry!(ch_next, |py, module, args| {
    let [cap] = args.as_slice() else { return wrong_args(c"_next(channel)") };
    let Some(h) = handle_arg(py, cap) else { return null() };
    crate::channel_fns::receive(py, &module, h, None, crate::channel_fns::OnClosed::StopIteration)
});

py_convert::fastcall_entry!(ch_try_recv, |py, module, args| {
    let [cap, default] = args.as_slice() else { return wrong_args(c"_try_recv(channel, default)") };
    let Some(h) = handle_arg(py, cap) else { return null() };
    crate::channel_fns::try_receive(py, &module, h, default)
});

py_convert::fastcall_entry!(ch_closed, |py, _module, args| {
    let [cap] = args.as_slice() else { return wrong_args(c"_closed(channel)") };
    let Some(h) = handle_arg(py, cap) else { return null() };
    match &h.core {
        Core::Channel(q) | Core::ByteChannel { inbound: q, .. } => boolean(q.is_closed()),
        Core::Buffer(b) => boolean(b.is_closed()),
        Core::Dict(d) => boolean(d.is_destroyed()),
    }
});

py_convert::fastcall_entry!(ch_close, |py, _module, args| {
    let [cap] = args.as_slice() else { return wrong_args(c"_close(channel)") };
    let Some(h) = handle_arg(py, cap) else { return null() };
    crate::channel_fns::close(h);
    none_raw()
});

py_convert::fastcall_entry!(ch_info, |py, _module, args| {
    let [cap] = args.as_slice() else { return wrong_args(c"_info(channel)") };
    let Some(h) = handle_arg(py, cap) else { return null() };
    crate::channel_fns::info(py, h).map_or(null(), PyObj::into_raw)
});

py_convert::fastcall_entry!(ch_send_bytes, |py, module, args| {
    let [cap, data] = args.as_slice() else { return wrong_args(c"_send_bytes(channel, data)") };
    let Some(h) = handle_arg(py, cap) else { return null() };
    crate::channel_fns::send_bytes(py, &module, h, data)
});

py_convert::fastcall_entry!(ch_watch_begin, |py, _module, args| {
    let [cap] = args.as_slice() else { return wrong_args(c"_watch_begin(channel)") };
    let Some(h) = handle_arg(py, cap) else { return null() };
    crate::channel_fns::watch_begin(py, h)
});

py_convert::fastcall_entry!(ch_watch_end, |py, _module, args| {
    let [_cap, fd] = args.as_slice() else { return wrong_args(c"_watch_end(channel, fd)") };
    let Some(fd) = capi::int_arg(py, fd) else { return null() };
    crate::channel_fns::watch_end(fd);
    none_raw()
});

py_convert::fastcall_entry!(buf_read, |py, _module, args| {
    let [cap, n] = args.as_slice() else { return wrong_args(c"_buf_read(buffer, size)") };
    let (Some(h), Some(n)) = (handle_arg(py, cap), size_arg(py, n)) else { return null() };
    crate::buffer_fns::read(py, h, n, true)
});

py_convert::fastcall_entry!(buf_read_nonblock, |py, _module, args| {
    let [cap, n] = args.as_slice() else { return wrong_args(c"_buf_read_nonblock(buffer, size)") };
    let (Some(h), Some(n)) = (handle_arg(py, cap), size_arg(py, n)) else { return null() };
    crate::buffer_fns::read(py, h, n, false)
});

py_convert::fastcall_entry!(buf_readline, |py, _module, args| {
    let [cap, n] = args.as_slice() else { return wrong_args(c"_buf_readline(buffer, size)") };
    let (Some(h), Some(n)) = (handle_arg(py, cap), size_arg(py, n)) else { return null() };
    crate::buffer_fns::readline(py, h, n)
});

py_convert::fastcall_entry!(buf_seek, |py, _module, args| {
    let [cap, offset, whence] = args.as_slice() else { return wrong_args(c"_buf_seek(buffer, offset, whence)") };
    let Some(h) = handle_arg(py, cap) else { return null() };
    let (Some(offset), Some(whence)) = (capi::int_arg(py, offset), capi::int_arg(py, whence)) else {
        return null();
    };
    crate::buffer_fns::seek(py, h, offset, whence)
});

py_convert::fastcall_entry!(buf_find, |py, _module, args| {
    let [cap, sub, start, end] = args.as_slice() else { return wrong_args(c"_buf_find(buffer, sub, start, end)") };
    let Some(h) = handle_arg(py, cap) else { return null() };
    let Some(sub) = bytes_arg(py, sub) else { return null() };
    let (Some(start), Some(end)) = (capi::int_arg(py, start), capi::int_arg(py, end)) else {
        return null();
    };
    crate::buffer_fns::find(py, h, &sub, start, end)
});

py_convert::fastcall_entry!(buf_tell, |py, _module, args| {
    crate::buffer_fns::number(py, args.as_slice(), |b| b.position() as i64)
});

py_convert::fastcall_entry!(buf_available, |py, _module, args| {
    crate::buffer_fns::number(py, args.as_slice(), |b| b.available() as i64)
});

py_convert::fastcall_entry!(buf_len, |py, _module, args| {
    crate::buffer_fns::number(py, args.as_slice(), |b| b.len() as i64)
});

py_convert::fastcall_entry!(buf_at_eof, |py, _module, args| {
    let [cap] = args.as_slice() else { return wrong_args(c"_buf_at_eof(buffer)") };
    match handle_arg(py, cap).map(|h| &h.core) {
        Some(Core::Buffer(b)) => boolean(b.at_eof()),
        Some(_) => wrong_args(c"not a buffer"),
        None => null(),
    }
});

py_convert::fastcall_entry!(buf_view, |py, module, args| {
    let [cap] = args.as_slice() else { return wrong_args(c"_BufferView(buffer)") };
    match handle_arg(py, cap).map(|h| &h.core) {
        Some(Core::Buffer(b)) => view::new_view(py, &module, b.clone()),
        Some(_) => wrong_args(c"not a buffer"),
        None => null(),
    }
});

py_convert::fastcall_entry!(sd_get, |py, _module, args| {
    let [cap, key] = args.as_slice() else { return wrong_args(c"_sd_get(dict, key)") };
    crate::dict_fns::get(py, cap, key)
});

py_convert::fastcall_entry!(sd_set, |py, _module, args| {
    let [cap, key, value] = args.as_slice() else { return wrong_args(c"_sd_set(dict, key, value)") };
    crate::dict_fns::set(py, cap, key, value)
});

py_convert::fastcall_entry!(sd_del, |py, _module, args| {
    let [cap, key] = args.as_slice() else { return wrong_args(c"_sd_del(dict, key)") };
    crate::dict_fns::delete(py, cap, key)
});

py_convert::fastcall_entry!(sd_contains, |py, _module, args| {
    let [cap, key] = args.as_slice() else { return wrong_args(c"_sd_contains(dict, key)") };
    crate::dict_fns::contains(py, cap, key)
});

py_convert::fastcall_entry!(sd_len, |py, _module, args| {
    let [cap] = args.as_slice() else { return wrong_args(c"_sd_len(dict)") };
    crate::dict_fns::len(py, cap)
});

py_convert::fastcall_entry!(sd_keys, |py, _module, args| {
    let [cap] = args.as_slice() else { return wrong_args(c"_sd_keys(dict)") };
    crate::dict_fns::keys(py, cap)
});

py_convert::fastcall_entry!(sd_destroy, |py, _module, args| {
    let [cap] = args.as_slice() else { return wrong_args(c"_sd_destroy(dict)") };
    crate::dict_fns::destroy(py, cap)
});

static mut METHODS: [MethodDef; 27] = [
    fast(c"_recv", ch_recv, c"Next item, waiting up to timeout seconds (None: no limit)."),
    fast(c"_next", ch_next, c"Next item; StopIteration once closed and drained."),
    fast(c"_try_recv", ch_try_recv, c"Next item, or default if none is queued."),
    fast(c"_closed", ch_closed, c"Whether the channel (buffer, dict) is closed."),
    fast(c"_close", ch_close, c"Close the channel."),
    fast(c"_info", ch_info, c"Queue sizes and state."),
    fast(c"_send_bytes", ch_send_bytes, c"Queue bytes for Erlang (byte channels)."),
    fast(c"_watch_begin", ch_watch_begin, c"A descriptor that turns readable when an item comes."),
    fast(c"_watch_end", ch_watch_end, c"Stop watching (closes the descriptor)."),
    fast(c"_buf_read", buf_read, c"Read, waiting for the bytes or the end."),
    fast(c"_buf_read_nonblock", buf_read_nonblock, c"Read what is there."),
    fast(c"_buf_readline", buf_readline, c"Read a line, waiting for it or the end."),
    fast(c"_buf_seek", buf_seek, c"Move the read position."),
    fast(c"_buf_find", buf_find, c"Offset of a byte string in what was written, or -1."),
    fast(c"_buf_tell", buf_tell, c"The read position."),
    fast(c"_buf_available", buf_available, c"Bytes readable now."),
    fast(c"_buf_len", buf_len, c"Bytes written so far."),
    fast(c"_buf_at_eof", buf_at_eof, c"Closed and read to the end."),
    fast(c"_BufferView", buf_view, c"A buffer-protocol view of what was written (no copy)."),
    fast(c"_sd_get", sd_get, c"Value of a key (KeyError if missing)."),
    fast(c"_sd_set", sd_set, c"Store a value."),
    fast(c"_sd_del", sd_del, c"Remove a key; whether it was there."),
    fast(c"_sd_contains", sd_contains, c"Whether a key is there."),
    fast(c"_sd_len", sd_len, c"Number of keys."),
    fast(c"_sd_keys", sd_keys, c"All keys."),
    fast(c"_sd_destroy", sd_destroy, c"Free the dict."),
    METHODS_END,
];

py_convert::exec_slot!(exec_module, |py, module| {
    if view::add_type(py, &module).is_none() {
        return -1;
    }
    capi::exec_python_half(py, &module, crate::PYTHON_SOURCE, c"<_erlang_channel>")
});

py_convert::builtin_module!(
    init_module,
    c"_erlang_channel",
    c"Channels, PyBuffer and SharedDict of erlang_python (use them through the erlang module).",
    METHODS,
    exec_module
);
