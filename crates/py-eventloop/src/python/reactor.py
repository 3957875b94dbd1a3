# `erlang.reactor`: protocols driven by readiness on descriptors Erlang
# hands over (py_reactor_context:handoff/2,3), on the event loop of the
# reactor's context. A protocol's data_received / write_ready return an
# action: "continue" (keep reading), "write_pending" (flush what write()
# queued, then call write_ready), "read_pending" (same as continue),
# "async_pending" (the protocol will call signal_write_ready(fd) itself),
# "close".

import asyncio
import os
import socket
import threading

__all__ = [
    "Protocol", "ReactorBuffer", "set_protocol_factory", "get_protocol", "init_connection",
    "on_read_ready", "on_write_ready", "close_connection", "signal_write_ready", "serve", "run_fd",
    "stats",
]

_READ_SIZE = 65536
# The protocol factory of each reactor: set on the reactor context's thread
# (its setup code), so reactors sharing an interpreter keep their own.
_factories = threading.local()
# Which loop serves each descriptor (signal_write_ready may come from any
# thread).
_loops = {}


class _State:
    """The connections of one reactor: one per event loop (a reactor
    context's loop), so worker contexts sharing an interpreter stay apart."""

    def __init__(self):
        self.connections = {}
        self.total_connections = 0
        self.total_requests = 0


def _state():
    loop = _loop()
    state = getattr(loop, "_erlang_reactor", None)
    if state is None:
        state = loop._erlang_reactor = _State()
    return state


class ReactorBuffer(bytes):
    """The bytes read for one data_received call (a bytes object: find,
    startswith, split, decode, memoryview ... all work)."""


class Protocol:
    """Base class: override data_received (and write_ready, connection_made,
    connection_lost as needed)."""

    def __init__(self):
        self.fd = -1
        self.client_info = None
        self._out = bytearray()

    def connection_made(self, fd, client_info):
        self.fd = fd
        self.client_info = client_info

    def data_received(self, data):
        return "continue"

    def write_ready(self):
        return "continue"

    def connection_lost(self):
        pass

    def write(self, data):
        """Queue bytes; they are sent when the action is write_pending."""
        self._out += data

    def read(self, size=_READ_SIZE):
        """Read directly from the descriptor (non-blocking; b'' at EOF)."""
        try:
            return os.read(self.fd, size)
        except BlockingIOError:
            return None


def set_protocol_factory(factory):
    """The protocol for connections handed to the reactor running on this
    thread (call it from the reactor's setup code)."""
    _factories.factory = factory


def get_protocol(fd):
    return _state().connections.get(fd)


def stats():
    st = _state()
    return {"active_connections": len(st.connections), "total_connections": st.total_connections,
            "total_requests": st.total_requests}


def _handoff(fd, client_info, max_connections):
    """A descriptor from py_reactor_context:handoff (already a copy we own)."""
    if len(_state().connections) >= max_connections:
        os.close(fd)
        return "max_connections"
    init_connection(fd, client_info)
    return "ok"


def _loop():
    return asyncio.get_running_loop() if _running() else asyncio.get_event_loop()


def _running():
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def init_connection(fd, client_info=None, factory=None):
    """Start serving `fd` (owned from now on) with a new protocol."""
    factory = factory or getattr(_factories, "factory", None)
    if factory is None:
        os.close(fd)
        raise RuntimeError("no protocol factory: call erlang.reactor.set_protocol_factory first")
    try:
        os.set_blocking(fd, False)
        proto = factory()
        proto.connection_made(fd, client_info if client_info is not None else {})
    except BaseException:
        os.close(fd)
        raise
    st = _state()
    st.connections[fd] = proto
    st.total_connections += 1
    _loops[fd] = _loop()
    _loop().add_reader(fd, on_read_ready, fd)
    return proto


def _act(fd, proto, action):
    loop = _loop()
    if action == "close":
        close_connection(fd)
    elif action == "write_pending":
        loop.remove_reader(fd)
        _flush(fd, proto)
    elif action == "async_pending":
        loop.remove_reader(fd)
    else:
        loop.add_reader(fd, on_read_ready, fd)


def _flush(fd, proto):
    """Send what the protocol wrote, asking write_ready for more while it
    answers write_pending and the socket takes it all (a loop, not a
    recursion: a streaming response may take thousands of rounds)."""
    loop = _loop()
    while True:
        if proto._out:
            try:
                sent = os.write(fd, proto._out)
            except BlockingIOError:
                sent = 0
            except OSError:
                close_connection(fd)
                return
            del proto._out[:sent]
            if proto._out:
                loop.add_writer(fd, on_write_ready, fd)
                return
        loop.remove_writer(fd)
        try:
            action = proto.write_ready()
        except Exception:  # noqa: BLE001 - a failing protocol loses only its connection
            close_connection(fd)
            return
        if action != "write_pending":
            _act(fd, proto, action)
            return


def on_read_ready(fd):
    st = _state()
    proto = st.connections.get(fd)
    if proto is None:
        return
    try:
        data = os.read(fd, _READ_SIZE)
    except BlockingIOError:
        return
    except OSError:
        close_connection(fd)
        return
    if not data:
        close_connection(fd)
        return
    st.total_requests += 1
    try:
        action = proto.data_received(ReactorBuffer(data))
    except Exception:  # noqa: BLE001 - a failing protocol loses only its connection
        close_connection(fd)
        return
    _act(fd, proto, action)


def on_write_ready(fd):
    proto = _state().connections.get(fd)
    if proto is not None:
        _flush(fd, proto)


def signal_write_ready(fd):
    """From protocol code that answered later (async_pending), on any
    thread: flush what it wrote."""
    loop = _loops.get(fd)
    if loop is not None:
        loop.call_soon_threadsafe(on_write_ready, fd)


def close_connection(fd):
    proto = _state().connections.pop(fd, None)
    _loops.pop(fd, None)
    loop = _loop()
    loop.remove_reader(fd)
    loop.remove_writer(fd)
    if proto is not None:
        try:
            os.close(fd)
        except OSError:
            pass
        try:
            proto.connection_lost()
        except Exception:  # noqa: BLE001
            pass


def serve(sock, protocol_factory):
    """Accept connections on a listening socket (a socket object or a
    descriptor) and serve each with a new protocol; returns the socket."""
    if not isinstance(sock, socket.socket):
        sock = socket.socket(fileno=os.dup(sock))
    sock.setblocking(False)
    loop = _loop()

    def accept():
        while True:
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            info = {"peer": addr if isinstance(addr, str) else list(addr)}
            init_connection(conn.detach(), info, protocol_factory)

    loop.add_reader(sock.fileno(), accept)
    return sock


def run_fd(fd, protocol_factory):
    """Serve one connected descriptor with a new protocol."""
    return init_connection(fd, {}, protocol_factory)
