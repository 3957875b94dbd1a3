# `erlang.server`: asyncio servers on sockets Erlang hands over as file
# descriptors (py:dup_fd/1 of a gen_tcp/gen_udp socket's fd, or a listening
# socket shared by several worker contexts: the kernel spreads the
# connections over them).

import asyncio
import os
import socket

__all__ = ["serve", "adopt", "stop_serving"]


def _check_fd(fd):
    if isinstance(fd, bool) or not isinstance(fd, int) or fd < 0:
        raise ValueError(f"a file descriptor must be a non-negative int, got {fd!r}")


def _socket(fd):
    # socket.socket(fileno=...) learns family and type from the descriptor;
    # it owns a copy, so the caller's descriptor stays the caller's.
    sock = socket.socket(fileno=os.dup(fd))
    sock.setblocking(False)
    return sock


async def serve(listen_fd, protocol_factory, *, udp=False, backlog=100):
    """Serve `protocol_factory` on a listening (or, with udp=True, bound
    datagram) socket: an asyncio Server, or the datagram transport."""
    _check_fd(listen_fd)
    loop = asyncio.get_running_loop()
    sock = _socket(listen_fd)
    if udp:
        transport, _protocol = await loop.create_datagram_endpoint(protocol_factory, sock=sock)
        return transport
    return await loop.create_server(protocol_factory, sock=sock, backlog=backlog)


async def adopt(fd, protocol_factory):
    """Take over one connected socket: (transport, protocol)."""
    _check_fd(fd)
    loop = asyncio.get_running_loop()
    return await loop.connect_accepted_socket(protocol_factory, _socket(fd))


async def stop_serving(server, *, wait_closed=True):
    """Stop accepting (a Server) or close (a transport)."""
    server.close()
    if wait_closed and hasattr(server, "wait_closed"):
        await server.wait_closed()
