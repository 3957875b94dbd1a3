# The Python half of `_erlang_channel` (re-exported by the `erlang` module,
# and importable as `erlang.channel`): channels, byte channels, PyBuffer,
# SharedDict, and the driver of streams started with py:stream_start.
# The C functions (_recv, _try_recv, _next, _closed, _close, _info,
# _send_bytes, _watch_begin, _watch_end, _buf_*, _BufferView, _sd_*) are
# already in this module's namespace. Capsules stand for the Erlang
# resources; these classes wrap them.

import sys

__all__ = [
    "Channel", "ChannelClosed", "ByteChannel", "ByteChannelClosed", "PyBuffer", "SharedDict",
    "reply",
]

_EMPTY = object()


class ChannelClosed(Exception):
    """The channel is closed and everything sent before was received."""


class ByteChannelClosed(ChannelClosed):
    """The byte channel is closed and drained."""


def reply(pid, term):
    """Send `term` to the Erlang process `pid` (erlang.send)."""
    import erlang

    erlang.send(pid, term)


def _capsule(handle):
    return handle._cap if isinstance(handle, (Channel, PyBuffer, SharedDict)) else handle


async def _async_take(cap):
    """The next item, waiting in the running event loop (no thread blocks):
    the channel wakes a descriptor the loop watches."""
    import asyncio

    while True:
        item = _try_recv(cap, _EMPTY)
        if item is not _EMPTY:
            return item
        loop = asyncio.get_running_loop()
        fd = _watch_begin(cap)
        try:
            woken = loop.create_future()
            loop.add_reader(fd, lambda: woken.done() or woken.set_result(None))
            try:
                # An item that came before the watch was armed.
                item = _try_recv(cap, _EMPTY)
                if item is not _EMPTY:
                    return item
                await woken
            finally:
                loop.remove_reader(fd)
        finally:
            _watch_end(cap, fd)


class Channel:
    """Terms sent from Erlang with py_channel:send/2, in order.

    `receive(timeout=None)` waits (without holding the GIL; a context keeps
    serving its other requests meanwhile), `try_receive()` does not, and
    iteration ends when the channel is closed and drained.
    `await async_receive()` and `async for` wait in the event loop.
    """

    __slots__ = ("_cap",)

    def __init__(self, handle):
        self._cap = _capsule(handle)

    def receive(self, timeout=None):
        """The next term; ChannelClosed once closed and drained; TimeoutError
        after `timeout` seconds (None: wait as long as it takes)."""
        return _recv(self._cap, timeout)

    def try_receive(self):
        """The next term, or None if none is queued."""
        return _try_recv(self._cap, None)

    async def async_receive(self):
        return await _async_take(self._cap)

    def __iter__(self):
        return self

    def __next__(self):
        return _next(self._cap)

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return await _async_take(self._cap)
        except ChannelClosed:
            raise StopAsyncIteration from None

    @property
    def closed(self):
        return _closed(self._cap)

    def close(self):
        _close(self._cap)

    def info(self):
        return _info(self._cap)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __reduce__(self):
        raise TypeError("channels cannot be pickled: pass them as arguments instead")


class ByteChannel(Channel):
    """Raw bytes both ways: `receive_bytes`/iteration/`async_receive_bytes`
    take what Erlang sent with py_byte_channel:send/2; `send_bytes(data)`
    queues bytes for py_byte_channel:recv/2 or try_receive/1."""

    __slots__ = ()

    def send_bytes(self, data):
        return _send_bytes(self._cap, data)

    def receive_bytes(self, timeout=None):
        return _recv(self._cap, timeout)

    def try_receive_bytes(self):
        return _try_recv(self._cap, None)

    async def async_receive_bytes(self):
        return await _async_take(self._cap)


class PyBuffer:
    """A file-like, read-only view of bytes Erlang writes with
    py_buffer:write/2. Reads wait for data (without holding the GIL) until
    py_buffer:close/1; `memoryview(buf)` shows what was written so far
    without copying."""

    __slots__ = ("_cap", "_closed")

    def __init__(self, handle):
        self._cap = _capsule(handle)
        self._closed = False

    def _check(self):
        if self._closed:
            raise ValueError("I/O operation on closed PyBuffer")

    def read(self, size=-1):
        """Up to `size` bytes (all, until the end, if negative), waiting
        until that many are there or the writer closed."""
        self._check()
        return _buf_read(self._cap, -1 if size is None else size)

    def read_nonblock(self, size=-1):
        """What is there now, up to `size` bytes."""
        self._check()
        return _buf_read_nonblock(self._cap, -1 if size is None else size)

    def readline(self, size=-1):
        self._check()
        return _buf_readline(self._cap, -1 if size is None else size)

    def readlines(self, hint=-1):
        lines, total = [], 0
        while hint is None or hint <= 0 or total < hint:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def seek(self, offset, whence=0):
        self._check()
        return _buf_seek(self._cap, offset, whence)

    def tell(self):
        self._check()
        return _buf_tell(self._cap)

    def find(self, sub, start=0, end=None):
        """Offset of `sub` in what was written (like bytes.find), or -1."""
        return _buf_find(self._cap, sub, start, sys.maxsize if end is None else end)

    def readable_amount(self):
        return _buf_available(self._cap)

    def at_eof(self):
        return _buf_at_eof(self._cap)

    def readable(self):
        return True

    def writable(self):
        return False

    def seekable(self):
        return True

    @property
    def closed(self):
        return self._closed

    def close(self):
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __len__(self):
        return _buf_len(self._cap)

    def __buffer__(self, flags):
        return memoryview(_BufferView(self._cap))


class SharedDict:
    """A dict shared with Erlang (py:shared_dict_*): keys are str (UTF-8)
    or bytes, values anything with an Erlang form."""

    __slots__ = ("_cap",)

    def __init__(self, handle):
        self._cap = _capsule(handle)

    def __getitem__(self, key):
        return _sd_get(self._cap, key)

    def __setitem__(self, key, value):
        _sd_set(self._cap, key, value)

    def __delitem__(self, key):
        if not _sd_del(self._cap, key):
            raise KeyError(key)

    def __contains__(self, key):
        return _sd_contains(self._cap, key)

    def __len__(self):
        return _sd_len(self._cap)

    def __iter__(self):
        return iter(self.keys())

    def get(self, key, default=None):
        try:
            return _sd_get(self._cap, key)
        except KeyError:
            return default

    def keys(self):
        return _sd_keys(self._cap)

    def items(self):
        return [(k, self.get(k)) for k in self.keys()]

    def destroy(self):
        _sd_destroy(self._cap)


# --- Streams (py:stream_start): driven on the generator's context ----------


def _stream_run(source, owner, relay, ref, credit):
    """Send the values of `source` (a generator, async generator or any
    iterable) to `owner` as {py_stream, Ref, {data, V}}, spending credit the
    relay lends; end with done, {error, Reason}, or {error, <<"cancelled">>}
    when the relay closes the credit channel (it also interrupts a
    generator that is computing or blocked). Returns True once that end is
    sent (or the owner is gone); otherwise the relay sends one itself."""
    import erlang

    send, atom = erlang.send, erlang.atom
    stream, data = atom("py_stream"), atom("data")
    credit = Channel(credit)
    state = {"budget": 0}

    def spend():
        """Before each value: False if the stream was cancelled."""
        if credit.closed:
            return False
        if state["budget"] == 0:
            try:
                lent = credit.try_receive()
            except ChannelClosed:  # cancelled just now
                return False
            if lent is None:
                send(relay, (atom("py_stream_more"), ref))
                try:
                    lent = credit.receive()
                except ChannelClosed:
                    return False
            state["budget"] = lent
        state["budget"] -= 1
        return True

    try:
        if hasattr(source, "__anext__"):
            outcome = erlang.run(_drive_async(source, spend, lambda v: send(owner, (stream, ref, (data, v)))))
        else:
            outcome = _drive(source, spend, lambda v: send(owner, (stream, ref, (data, v))))
    except BaseException as exc:  # noqa: BLE001 - the owner is told
        if credit.closed:
            outcome = (atom("error"), "cancelled")
        else:
            outcome = (atom("error"), _error_reason(exc))
    if outcome is not None:
        try:
            send(owner, (stream, ref, outcome))
        except erlang.ProcessError:
            pass
    return True


def _error_reason(exc):
    """An exception as py:call reports it: `interrupted` for
    KeyboardInterrupt, else {Class, Message} with the class name an atom
    (a binary once the atom budget is spent) and the message a charlist."""
    import erlang

    if isinstance(exc, KeyboardInterrupt):
        return erlang.atom("interrupted")
    name = type(exc).__name__
    try:
        cls = erlang.atom(name)
    except Exception:  # noqa: BLE001 - past the atom budget, or too long
        cls = name
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001
        message = "<exception str() failed>"
    return (cls, [ord(c) for c in message[:8192]])


def _drive(source, spend, emit):
    """Iterate `source`; None if the owner went away (the generator is
    closed, so its `finally` runs)."""
    import erlang

    iterator = iter(source)
    close = getattr(iterator, "close", None)
    while True:
        if not spend():
            if close is not None:
                close()
            return (erlang.atom("error"), "cancelled")
        try:
            value = next(iterator)
        except StopIteration:
            return erlang.atom("done")
        try:
            emit(value)
        except erlang.ProcessError:
            if close is not None:
                close()
            return None


async def _drive_async(source, spend, emit):
    import erlang

    while True:
        if not spend():
            await source.aclose()
            return (erlang.atom("error"), "cancelled")
        try:
            value = await source.__anext__()
        except StopAsyncIteration:
            return erlang.atom("done")
        try:
            emit(value)
        except erlang.ProcessError:
            await source.aclose()
            return None


# What the `erlang` module takes from here (py_core::erlang_module::extend):
# these names as attributes, and this module as erlang.channel,
# erlang.byte_channel and erlang.buffer.
_ERLANG_NAMES = ("Channel", "ChannelClosed", "ByteChannel", "ByteChannelClosed", "PyBuffer", "SharedDict")
_ERLANG_SUBMODULES = {"channel": None, "byte_channel": None, "buffer": None}
