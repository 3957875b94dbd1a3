"""The coroutines behind benches/erlang/event_loop.escript.

The escript runs them on an ErlangEventLoop inside the VM; run as a script,
this file runs the same coroutines on the stdlib selector loop in a plain
Python process and prints `tcp_echo_s <median> sleep_overshoot_s <median>`,
so both sides measure exactly the same code.
"""

import asyncio
import statistics
import time

PAYLOAD = b"x" * 1024


async def tcp_echo(round_trips=1000):
    """Seconds for `round_trips` 1 KiB echoes over loopback TCP, client and
    server on this loop."""

    async def echo(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    for _ in range(round_trips):
        writer.write(PAYLOAD)
        await reader.readexactly(len(PAYLOAD))
    elapsed = time.perf_counter() - started
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return elapsed


async def sleep_overshoot(sleeps=300, delay=0.001):
    """Median seconds by which `asyncio.sleep(delay)` oversleeps."""
    overshoots = []
    for _ in range(sleeps):
        started = time.perf_counter()
        await asyncio.sleep(delay)
        overshoots.append(time.perf_counter() - started - delay)
    return statistics.median(overshoots)


async def nop():
    return 1


RUNS = 15


def median_on_stdlib_loop(coroutine_function, runs=RUNS):
    """Median result of `runs` runs, each on a new stdlib loop."""
    return statistics.median(asyncio.run(coroutine_function()) for _ in range(runs))


# Run as a script (inside the VM the code is exec'd: no __file__).
if __name__ == "__main__" and "__file__" in globals():
    asyncio.run(tcp_echo(100))
    print("tcp_echo_s", median_on_stdlib_loop(tcp_echo), "sleep_overshoot_s", median_on_stdlib_loop(sleep_overshoot))
