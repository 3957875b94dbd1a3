# `erlang.reactor`: protocols driven by readiness on file descriptors.
#
# Two layers:
#
# * the module functions (init_connection, on_read_ready, on_write_ready,
#   close_connection, signal_write_ready, get_protocol) only dispatch to
#   protocols and return their action words; they need no asyncio loop and
#   work from any code on a context thread;
# * the driver (_handoff, serve, run_fd) watches descriptors on the event
#   loop of the reactor's context and acts on those words.
#
# Action words (what data_received / write_ready return):
#   "continue"       keep the current mode: from data_received, read more;
#                    from write_ready, more to write: call write_ready again
#                    when the descriptor is writable;
#   "write_pending"  switch to writing: write_ready is called when the
#                    descriptor is writable (from write_ready: as continue);
#   "read_pending"   switch (back) to reading;
#   "async_pending"  watch nothing until the protocol calls
#                    signal_write_ready(fd), from any thread;
#   "close"          close the connection.

import asyncio
import os
import select
import socket
import threading

__all__ = [
    "Protocol", "ReactorBuffer", "set_protocol_factory", "get_protocol", "init_connection",
    "on_read_ready", "on_write_ready", "close_connection", "signal_write_ready", "serve", "run_fd",
    "stats",
]

_READ_SIZE = 65536

# Watching modes of a driven connection.
_IDLE, _READ, _WRITE = 0, 1, 2


class _Reactor:
    """One reactor's connections and counters: those of the loop running
    on this thread (a reactor context's), else of the thread itself, so
    worker contexts sharing an interpreter keep theirs apart, and a pooled
    interpreter's next reactor starts afresh."""

    def __init__(self):
        self.fds = set()
        self.total_connections = 0
        self.total_requests = 0


# The protocol factory of each reactor: set on the reactor context's
# thread (its setup code).
_local = threading.local()


def _reactor():
    try:
        holder = asyncio.get_running_loop()
    except RuntimeError:
        holder = _local
    reactor = getattr(holder, "_erlang_reactor", None)
    if reactor is None:
        reactor = holder._erlang_reactor = _Reactor()
    return reactor


class _Conn:
    """A registered connection: its protocol, the reactor that made it,
    and, when the driver serves it, the loop watching it and how."""

    __slots__ = ("proto", "reactor", "loop", "mode")

    def __init__(self, proto, reactor):
        self.proto = proto
        self.reactor = reactor
        self.loop = None
        self.mode = _IDLE


# Every registered connection of this interpreter, by descriptor (a
# descriptor number names one open file in the process at a time).
_connections = {}


class ReactorBuffer(bytes):
    """The bytes read for one data_received call (a bytes object: find,
    startswith, split, decode, memoryview ... all work)."""

    def memoryview(self):
        return memoryview(self)


class Protocol:
    """Base class: override data_received (and write_ready,
    connection_made, connection_lost as needed).

    Attributes: fd (-1 until connection_made), client_info (a dict),
    write_buffer (a bytearray the default write_ready sends), closed (set
    by close_connection)."""

    def __init__(self):
        self.fd = -1
        self.client_info = {}
        self.write_buffer = bytearray()
        self.closed = False

    def connection_made(self, fd, client_info):
        self.fd = fd
        self.client_info = client_info

    def data_received(self, data):
        return "continue"

    def write_ready(self):
        """Sends what write_buffer holds: "continue" while some is left,
        then "read_pending"."""
        buffer = getattr(self, "write_buffer", None)
        if buffer:
            del buffer[:self.write(buffer)]
            if buffer:
                return "continue"
        return "read_pending"

    def connection_lost(self):
        pass

    def read(self, size=_READ_SIZE):
        """Reads at most `size` bytes from the descriptor now: b'' at end
        of file, when nothing is there (EAGAIN) or on an error."""
        try:
            return os.read(self.fd, size)
        except OSError:
            return b""

    def write(self, data):
        """Writes to the descriptor now: the number of bytes written (0
        when it would block or on an error)."""
        try:
            return os.write(self.fd, data)
        except OSError:
            return 0


def set_protocol_factory(factory):
    """The protocol for connections handed to the reactor running on this
    thread (call it from the reactor's setup code)."""
    _local.factory = factory


def get_protocol(fd):
    """The protocol serving `fd`, or None."""
    conn = _connections.get(fd)
    return conn.proto if conn is not None else None


def stats():
    reactor = _reactor()
    return {"active_connections": len(reactor.fds), "total_connections": reactor.total_connections,
            "total_requests": reactor.total_requests}


# --- The module functions: dispatch only, no loop needed. -----------------

def init_connection(fd, client_info=None):
    """Registers `fd` with a new protocol from this reactor's factory and
    calls its connection_made(fd, client_info)."""
    _register(fd, client_info, None)


def _register(fd, client_info, factory):
    reactor = _reactor()
    factory = factory or getattr(_local, "factory", None)
    if factory is None:
        raise RuntimeError("no protocol factory: call erlang.reactor.set_protocol_factory first")
    proto = factory()
    proto.connection_made(fd, client_info if client_info is not None else {})
    old = _connections.get(fd)
    if old is not None:
        # A descriptor closed without close_connection, its number reused.
        _forget(fd, old)
    conn = _Conn(proto, reactor)
    _connections[fd] = conn
    reactor.fds.add(fd)
    reactor.total_connections += 1
    return conn


def on_read_ready(fd, data=None):
    """`fd` is readable: hands `data` (read from `fd` when None) to the
    protocol's data_received and returns its action ("close" at end of
    file, or for an unknown descriptor)."""
    conn = _connections.get(fd)
    if conn is None:
        return "close"
    proto = conn.proto
    if data is None:
        data = proto.read()
    if not data:
        return "close"
    conn.reactor.total_requests += 1
    if type(data) is not ReactorBuffer:
        data = ReactorBuffer(data)
    return proto.data_received(data)


def on_write_ready(fd):
    """`fd` is writable: the action of the protocol's write_ready ("close"
    for an unknown descriptor)."""
    conn = _connections.get(fd)
    if conn is None:
        return "close"
    return conn.proto.write_ready()


def close_connection(fd):
    """Unregisters `fd` (the reactor stops watching it), marks its
    protocol closed and calls connection_lost. The descriptor stays open:
    closing it is the caller's business."""
    conn = _connections.get(fd)
    if conn is None:
        return
    _forget(fd, conn)
    proto = conn.proto
    proto.closed = True
    proto.connection_lost()


def signal_write_ready(fd):
    """From a protocol that answered "async_pending", on any thread: the
    reactor serving `fd` calls its write_ready. False when no reactor
    serves `fd`."""
    conn = _connections.get(fd)
    loop = conn.loop if conn is not None else None
    if loop is None:
        return False
    try:
        loop.call_soon_threadsafe(_resume, fd, conn)
    except RuntimeError:  # the loop is closed
        return False
    return True


def _forget(fd, conn):
    if _connections.get(fd) is conn:
        del _connections[fd]
    conn.reactor.fds.discard(fd)
    loop = conn.loop
    if loop is None or conn.mode == _IDLE or loop.is_closed():
        conn.mode = _IDLE
        return
    if getattr(loop, "_thread_id", None) in (None, threading.get_ident()):
        _set_mode(fd, conn, _IDLE)
    else:
        loop.call_soon_threadsafe(_unwatch_later, fd, conn)


def _unwatch_later(fd, conn):
    # Unless another connection took the descriptor meanwhile (its watch
    # replaced this one's).
    other = _connections.get(fd)
    if other is None or other is conn or other.loop is not conn.loop:
        _set_mode(fd, conn, _IDLE)
    else:
        conn.mode = _IDLE


# --- The driver: a reactor context's loop watches and acts. ---------------

def _loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop()


def _set_mode(fd, conn, mode):
    if conn.mode == mode:
        return
    loop = conn.loop
    if conn.mode == _READ:
        loop.remove_reader(fd)
    elif conn.mode == _WRITE:
        loop.remove_writer(fd)
    conn.mode = mode
    if mode == _READ:
        loop.add_reader(fd, _readable, fd, conn)
    elif mode == _WRITE:
        loop.add_writer(fd, _writable, fd, conn)


def _drive(fd, conn, loop):
    os.set_blocking(fd, False)
    conn.loop = loop
    _set_mode(fd, conn, _READ)


def _finish(fd, conn):
    """The driver closes a connection it serves: unregister, then close
    the descriptor (unless the protocol took it back with
    close_connection)."""
    if _connections.get(fd) is not conn:
        return
    try:
        close_connection(fd)
    except Exception:  # noqa: BLE001 - connection_lost failing changes nothing here
        pass
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def _readable(fd, conn):
    if _connections.get(fd) is not conn:
        return
    try:
        data = os.read(fd, _READ_SIZE)
    except (BlockingIOError, InterruptedError):
        return
    except OSError:
        data = b""
    if not data:
        _finish(fd, conn)
        return
    try:
        action = on_read_ready(fd, ReactorBuffer(data))
    except Exception:  # noqa: BLE001 - a failing protocol loses only its connection
        _finish(fd, conn)
        return
    if action == "write_pending":
        # A connected socket can nearly always be written at once: ask
        # write_ready now rather than after one more round of the loop.
        _writable(fd, conn)
    else:
        _act(fd, conn, action, _READ)


def _writable(fd, conn):
    if _connections.get(fd) is not conn:
        return
    try:
        action = on_write_ready(fd)
    except Exception:  # noqa: BLE001 - a failing protocol loses only its connection
        _finish(fd, conn)
        return
    if action in ("continue", "write_pending") and _broken(fd):
        # Writes to it fail (they return 0): waiting to write would spin.
        _finish(fd, conn)
        return
    _act(fd, conn, action, _WRITE)


def _resume(fd, conn):
    """signal_write_ready, on the loop's thread."""
    if _connections.get(fd) is conn:
        _writable(fd, conn)


def _act(fd, conn, action, mode):
    if _connections.get(fd) is not conn:
        # The protocol called close_connection itself: no longer ours.
        return
    if action == "close":
        _finish(fd, conn)
    elif action == "read_pending":
        _set_mode(fd, conn, _READ)
    elif action == "write_pending":
        _set_mode(fd, conn, _WRITE)
    elif action == "async_pending":
        _set_mode(fd, conn, _IDLE)
    else:
        # "continue" (or a word the reactor does not know): stay.
        _set_mode(fd, conn, mode)


def _broken(fd):
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    for _fd, events in poller.poll(0):
        if events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
            return True
    return False


def _handoff(fd, client_info, max_connections):
    """A descriptor from py_reactor_context:handoff (a copy we own)."""
    if len(_reactor().fds) >= max_connections:
        os.close(fd)
        return "max_connections"
    _serve_fd(fd, client_info, None)
    return "ok"


def _serve_fd(fd, client_info, factory):
    try:
        conn = _register(fd, client_info, factory)
        _drive(fd, conn, _loop())
    except BaseException:
        conn = _connections.get(fd)
        if conn is not None:
            _forget(fd, conn)
        os.close(fd)
        raise
    return conn.proto


def _shutdown():
    """The reactor stops: close every connection it serves."""
    reactor = _reactor()
    closed = 0
    for fd in list(reactor.fds):
        conn = _connections.get(fd)
        if conn is not None and conn.reactor is reactor:
            _finish(fd, conn)
            closed += 1
    reactor.fds.clear()
    return closed


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
            _serve_fd(conn.detach(), info, protocol_factory)

    loop.add_reader(sock.fileno(), accept)
    return sock


def run_fd(fd, protocol_factory):
    """Serve one connected descriptor (owned from now on) with a new
    protocol; returns the protocol."""
    return _serve_fd(fd, {}, protocol_factory)
