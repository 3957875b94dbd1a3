# Helpers of py_compat_reactor_SUITE, run in a context's __main__ (and as
# the setup code of reactor contexts).

import asyncio
import os
import socket
import stat
import sys
import tempfile
import threading
import types

import erlang
import erlang.reactor as reactor
import erlang.server as server

# --- Protocol attributes and its read/write helpers -----------------------


def attributes():
    p = reactor.Protocol()
    return [p.fd, p.client_info, type(p.write_buffer).__name__, len(p.write_buffer), p.closed]


def write_results():
    a, b = socket.socketpair()
    try:
        p = reactor.Protocol()
        p.connection_made(a.fileno(), {})
        count = p.write(b"abc")
        b.setblocking(False)
        try:
            got = b.recv(3)
        except BlockingIOError:
            got = None
        # Fill the socket until it takes no more: then write returns 0.
        a.setblocking(False)
        chunk = b"x" * 65536
        rounds = 0
        while p.write(chunk) > 0:
            rounds += 1
        would_block = p.write(b"y")
        p.fd = -1
        bad_fd = p.write(b"z")
        return [count, got, rounds > 0, would_block, bad_fd]
    finally:
        a.close()
        b.close()


def read_results():
    a, b = socket.socketpair()
    try:
        p = reactor.Protocol()
        p.connection_made(a.fileno(), {})
        a.setblocking(False)
        nothing_yet = p.read()
        b.sendall(b"data")
        data = p.read(100)
        b.close()
        at_eof = p.read()
        p.fd = -1
        bad_fd = p.read()
        return [nothing_yet, data, at_eof, bad_fd]
    finally:
        a.close()


# --- The module functions, without any loop --------------------------------

events = []


class Recorder(reactor.Protocol):
    def connection_made(self, fd, client_info):
        super().connection_made(fd, client_info)
        events.append(["made", client_info])

    def data_received(self, data):
        events.append(["data", bytes(data), type(data).__name__])
        self.write(b"echo:" + data)
        return "write_pending"

    def write_ready(self):
        events.append("write_ready")
        return "read_pending"

    def connection_lost(self):
        events.append("lost")


def no_running_loop():
    return asyncio.events._get_running_loop() is None


# --- Action words through py_reactor_context ------------------------------

SIZE = 4 * 1024 * 1024
CHUNK = 65536


def fresh_state():
    """What a reactor's protocols record, where any caller's namespace
    on that interpreter finds it (state())."""
    sys.modules["compat_reactor_state"] = types.SimpleNamespace(
        counts={"requests": 0, "continue": 0, "read_pending": 0}, detached=[])


def state():
    return sys.modules["compat_reactor_state"]


class Big(reactor.Protocol):
    """The C docs' style: write_buffer, write() returning its count,
    write_ready answering continue / read_pending."""

    def data_received(self, data):
        state().counts["requests"] += 1
        self.write_buffer.extend(b"x" * SIZE + b"end")
        return "write_pending"

    def write_ready(self):
        written = self.write(bytes(self.write_buffer[:CHUNK]))
        del self.write_buffer[:written]
        if self.write_buffer:
            state().counts["continue"] += 1
            return "continue"
        state().counts["read_pending"] += 1
        return "read_pending"


class Later(reactor.Protocol):
    """Answers from another thread (async_pending + signal_write_ready);
    `detach` takes the descriptor back with close_connection."""

    def data_received(self, data):
        if data.startswith(b"detach"):
            fd = self.fd
            reactor.close_connection(fd)
            state().detached.append(fd)
            erlang.send(self.client_info["pid"], ("detached", fd))
            return "close"
        payload = bytes(data)

        def answer():
            self.write_buffer.extend(payload.upper())
            erlang.send(self.client_info["pid"], ("signalled", reactor.signal_write_ready(self.fd)))

        threading.Thread(target=answer).start()
        return "async_pending"

    def connection_lost(self):
        erlang.send(self.client_info["pid"], ("lost", self.fd, self.closed))


def detached_fd_is_open(fd):
    return stat.S_ISSOCK(os.fstat(fd).st_mode) and reactor.get_protocol(fd) is None


def say_bye_and_close(fd):
    os.write(fd, b"bye")
    os.close(fd)
    return True


# --- ErlangEventLoop.create_unix_server over a stale socket file ----------


class Upper(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data.upper())


async def unix_server_over_stale_file():
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "s.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    was_socket = stat.S_ISSOCK(os.stat(path).st_mode)
    loop = asyncio.get_running_loop()
    srv = await loop.create_unix_server(Upper, path)
    try:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"unix")
        reply = await reader.readexactly(4)
        writer.close()
    finally:
        srv.close()
        await srv.wait_closed()
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(directory)
    return [was_socket, type(loop).__name__, reply]


def run_unix_server_over_stale_file():
    return erlang.run(unix_server_over_stale_file())


# --- erlang.server refuses what is not a descriptor -----------------------


async def bad_fds():
    out = []
    for call in (lambda fd: server.serve(fd, Upper), lambda fd: server.adopt(fd, Upper)):
        for fd in ("x", -1):
            try:
                await call(fd)
                out.append("accepted")
            except ValueError:
                out.append("ValueError")
            except Exception as exc:  # noqa: BLE001 - reported
                out.append(type(exc).__name__)
    return out


def run_bad_fds():
    return erlang.run(bad_fds())


# --- The sandbox names the event ------------------------------------------

BLOCKED = ["os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
           "subprocess.Popen"]


def sandbox_messages():
    out = []
    for event in BLOCKED:
        try:
            sys.audit(event, "x")
            out.append([event, "allowed"])
        except RuntimeError as exc:
            out.append([event, str(exc)])
    # And through the real calls (harmless programs, should they run).
    try:
        os.system("true")
        out.append(["os.system", "allowed"])
    except RuntimeError as exc:
        out.append(["os.system", str(exc)])
    import subprocess

    try:
        subprocess.Popen(["true"]).wait()
        out.append(["subprocess.Popen", "allowed"])
    except RuntimeError as exc:
        out.append(["subprocess.Popen", str(exc)])
    return out
