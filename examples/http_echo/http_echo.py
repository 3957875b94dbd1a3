"""An HTTP/1.1 keep-alive echo: the response body is the request body (or
the request path when there is none). Two forms of one protocol:

* `AsyncioHttpEcho`, an asyncio.Protocol: served by `erlang.server.serve`
  on a socket Erlang listens on, or by plain asyncio in a Python process;
* `ReactorHttpEcho`, an erlang.reactor.Protocol: connections accepted by
  Erlang (gen_tcp) and handed over with py_reactor_context:handoff/2,3.

Run as a script (`python http_echo.py PORT`), it serves with plain asyncio
and prints `ready PORT` (the benchmark's reference).
"""

import asyncio
import sys


def _responses(buffer):
    """Complete requests in `buffer` (a bytearray, consumed): the bytes of
    their responses, and whether the client asked to close."""
    out = []
    close = False
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            break
        head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if len(buffer) < end + 4 + length:
            break
        body = bytes(buffer[end + 4:end + 4 + length])
        del buffer[:end + 4 + length]
        if not body:
            body = head[0].split(" ")[1].encode() if " " in head[0] else b""
        out.append(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s"
                   % (len(body), b"close" if close else b"keep-alive", body))
        if close:
            break
    return b"".join(out), close


class AsyncioHttpEcho(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data):
        self.buffer += data
        reply, close = _responses(self.buffer)
        if reply:
            self.transport.write(reply)
        if close:
            self.transport.close()


def reactor_protocol():
    import erlang.reactor as reactor

    class ReactorHttpEcho(reactor.Protocol):
        def connection_made(self, fd, client_info):
            super().connection_made(fd, client_info)
            self.buffer = bytearray()
            self.closing = False

        def data_received(self, data):
            self.buffer += data
            reply, self.closing = _responses(self.buffer)
            if reply:
                self.write_buffer += reply
                return "write_pending"
            return "close" if self.closing else "continue"

        def write_ready(self):
            # Called when the socket can take more: "continue" while some
            # of the reply is left, then back to reading (or close).
            if self.write_buffer:
                del self.write_buffer[:self.write(self.write_buffer)]
                if self.write_buffer:
                    return "continue"
            return "close" if self.closing else "read_pending"

    return ReactorHttpEcho


async def _serve_forever(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(AsyncioHttpEcho, "127.0.0.1", port, backlog=512)
    print("ready", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve_forever(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
