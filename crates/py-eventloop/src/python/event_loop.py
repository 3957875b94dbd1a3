# The Python half of `_erlang_loop` (re-exported by the `erlang` module):
# the asyncio event loop that runs on a context thread, its entry points,
# and the runner of tasks submitted from Erlang.
# The C functions (_serve, _select, _wake_fd, _sleep_begin, _sleep_end,
# _blocking_sleep, _task_done, _interp_id) are already in this
# module's namespace.

import asyncio
import enum
import select
import selectors
import sys
import warnings
import weakref

__all__ = [
    "ErlangEventLoop", "ErlangEventLoopPolicy", "EventLoopPolicy", "new_event_loop",
    "get_event_loop_policy", "install", "run", "sleep", "spawn_task", "detect_mode",
    "ExecutionMode",
]

_NO_SUBPROCESS = (
    "subprocesses are not available inside the Erlang VM (forking the VM is unsafe): "
    "run programs with Erlang ports (open_port/2) and talk to them from Erlang"
)
_NO_SIGNALS = "signals belong to the Erlang VM: handle them in Erlang (os:set_signal/2)"


# How long a loop that just worked keeps watching for more before it
# blocks (see py_core::poll_window).
_POLL_WINDOW = 50e-6


if hasattr(selectors, "EpollSelector"):

    class _EpollContextSelector(selectors.EpollSelector):
        """The stdlib epoll selector with the wait done by `_select`: on a
        context thread each `select` first runs the requests queued for the
        context, and a blocking one also wakes up for new ones (the
        context's wake-up descriptor is in the epoll set, never reported);
        timeouts are nanosecond-precise."""

        def __init__(self):
            super().__init__()
            self._epfd = self._selector.fileno()
            self._wake = _wake_fd()
            if self._wake >= 0:
                self._selector.register(self._wake, select.EPOLLIN)

        def select(self, timeout=None):
            # The context the loop runs on now: a loop made on one context
            # thread may run on another (or on a plain thread).
            wake = _wake_fd()
            if wake != self._wake:
                self._rewake(wake)
            return _select(self._epfd, self._fd_to_key, timeout, wake)

        def _rewake(self, wake):
            if self._wake >= 0:
                try:
                    self._selector.unregister(self._wake)
                except (KeyError, OSError, ValueError):
                    pass
            self._wake = wake
            if wake >= 0:
                self._selector.register(wake, select.EPOLLIN)

        def close(self):
            self._epfd = -1
            super().close()


class _ContextSelector(selectors.BaseSelector):
    """Any other selector (one given to ErlangEventLoop, or where there is
    no epoll), plus the context's queue when the loop runs on a context
    thread: each `select` first runs the requests queued for the context,
    and a blocking `select` also wakes up for new ones."""

    def __init__(self, inner=None):
        self._inner = inner if inner is not None else selectors.DefaultSelector()
        self._wake = _wake_fd()
        if self._wake >= 0:
            self._inner.register(self._wake, selectors.EVENT_READ)
        # The kernel poller's own descriptor, watched for a short window
        # before blocking (epoll and kqueue selectors have one).
        fileno = getattr(self._inner, "fileno", None)
        self._poll_fd = fileno() if fileno is not None and self._wake >= 0 else -1

    def register(self, fileobj, events, data=None):
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj):
        return self._inner.unregister(fileobj)

    def modify(self, fileobj, events, data=None):
        return self._inner.modify(fileobj, events, data)

    def get_map(self):
        return self._inner.get_map()

    def select(self, timeout=None):
        inner = self._inner
        if self._wake < 0:
            return inner.select(timeout)
        if _serve():
            # What ran may have scheduled callbacks: the timeout asyncio
            # computed before is stale, so only look for ready I/O.
            timeout = 0
        # A busy loop's next event is usually there already: one
        # non-blocking poll answers without the window or the sleep.
        ready = inner.select(0)
        if not ready and (timeout is None or timeout > 0):
            window = _POLL_WINDOW if timeout is None else min(timeout, _POLL_WINDOW)
            if self._poll_fd >= 0 and _poll_window(self._poll_fd, window):
                return self.select(0)
            if _sleep_begin():
                try:
                    ready = inner.select(timeout)
                finally:
                    _sleep_end()
        wake = self._wake
        return [(key, mask) for (key, mask) in ready if key.fd != wake]

    def close(self):
        if self._wake >= 0:
            try:
                self._inner.unregister(self._wake)
            except (KeyError, ValueError):
                pass
            self._wake = -1
        self._inner.close()


class ErlangEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector event loop, made part of its context thread's
    wait: while it runs, the context keeps serving `py:call` and friends,
    and idle it blocks without any polling. Subprocesses and signal
    handlers belong to the Erlang VM and are refused."""

    def __init__(self, selector=None):
        if selector is None and hasattr(selectors, "EpollSelector"):
            selector = _EpollContextSelector()
        else:
            selector = _ContextSelector(selector)
        super().__init__(selector)
        self._erlang_servers = weakref.WeakSet()

    async def create_server(self, *args, **kwargs):
        server = await super().create_server(*args, **kwargs)
        self._erlang_servers.add(server)
        return server

    async def create_unix_server(self, *args, **kwargs):
        server = await super().create_unix_server(*args, **kwargs)
        self._erlang_servers.add(server)
        return server

    def _release_descriptors(self):
        """Closes every server and transport made on this loop (listening
        sockets, accepted and adopted connections, datagram endpoints):
        a loop that ends leaves no descriptor open behind it, however much
        of what it served the application still references. Transports
        finish closing in the loop's next iteration."""
        for server in list(self._erlang_servers):
            server.close()
        for transport in list(self._transports.values()):
            transport.abort()

    async def subprocess_exec(self, *args, **kwargs):
        raise NotImplementedError(_NO_SUBPROCESS)

    async def subprocess_shell(self, *args, **kwargs):
        raise NotImplementedError(_NO_SUBPROCESS)

    def add_signal_handler(self, sig, callback, *args):
        raise NotImplementedError(_NO_SIGNALS)

    def remove_signal_handler(self, sig):
        raise NotImplementedError(_NO_SIGNALS)


class ErlangEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """An event loop policy whose loops are ErlangEventLoops."""

    def new_event_loop(self):
        return ErlangEventLoop()


EventLoopPolicy = ErlangEventLoopPolicy


def new_event_loop():
    """A new ErlangEventLoop."""
    return ErlangEventLoop()


def get_event_loop_policy():
    return asyncio.get_event_loop_policy()


def install(*, silent=False):
    """Make ErlangEventLoop asyncio's default (a global policy). Prefer
    erlang.run(): policies are deprecated from Python 3.14 on."""
    if sys.version_info >= (3, 14):
        raise RuntimeError(
            "erlang.install() is not supported on Python 3.14+: use erlang.run(coro) "
            "or asyncio.run(coro, loop_factory=erlang.new_event_loop)"
        )
    if not silent:
        warnings.warn(
            "erlang.install() sets a global event loop policy; prefer erlang.run()",
            DeprecationWarning,
            stacklevel=2,
        )
    asyncio.set_event_loop_policy(ErlangEventLoopPolicy())


def _install_default_policy():
    """Called on every context as it starts (Python < 3.14; policies are
    deprecated from 3.14 on): ErlangEventLoopPolicy becomes asyncio's
    global policy, so `asyncio.run` in code that `py:exec` runs gets an
    ErlangEventLoop, which keeps serving the context while it runs. A
    policy the application's own code set (uvloop's, say) is kept."""
    if sys.version_info >= (3, 14):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if type(asyncio.get_event_loop_policy()) is asyncio.DefaultEventLoopPolicy:
            asyncio.set_event_loop_policy(ErlangEventLoopPolicy())
    return True


def run(main, *, debug=None, **kwargs):
    """Run a coroutine on a new ErlangEventLoop, like asyncio.run."""
    if sys.version_info >= (3, 12):
        return asyncio.run(main, debug=debug, loop_factory=new_event_loop, **kwargs)
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


def sleep(seconds):
    """In a running loop: `await erlang.sleep(s)` (asyncio.sleep). Outside
    one: a blocking sleep that releases the GIL, keeps the context serving
    requests, and is stopped by py:interrupt and timeouts."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _blocking_sleep(float(seconds))
        return None
    return asyncio.sleep(seconds)


# The loop py_event_loop runs for this interpreter, if any: where
# spawn_task sends coroutines from code that has no running loop.
_default_loop = None


def spawn_task(coro, *, name=None):
    """Start a coroutine as a task, from async or sync code: on the running
    loop of this thread (returns the asyncio.Task), else on the
    interpreter's py_event_loop loop (returns a concurrent Future)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        return _keep(loop.create_task(coro, name=name))
    loop = _default_loop
    if loop is None or loop.is_closed() or not loop.is_running():
        coro.close()
        raise RuntimeError(
            "no event loop to spawn on: call from async code, or start py_event_loop"
        )
    return asyncio.run_coroutine_threadsafe(coro, loop)


class ExecutionMode(enum.Enum):
    FREE_THREADED = "free_threaded"
    SUBINTERP = "subinterp"
    SHARED_GIL = "shared_gil"


def detect_mode():
    """How this interpreter runs: free-threaded build, a sub-interpreter with
    its own GIL, or the main interpreter's shared GIL."""
    gil = getattr(sys, "_is_gil_enabled", None)
    if gil is not None and not gil():
        return ExecutionMode.FREE_THREADED
    if _interp_id() != 0:
        return ExecutionMode.SUBINTERP
    return ExecutionMode.SHARED_GIL


# --- Tasks submitted from Erlang (py_event_loop:create_task) --------------

_VALUE, _RAISED, _CANCELLED = 0, 1, 2

# Tasks nobody else holds until they end. asyncio keeps only weak
# references to tasks: one waiting on a stream whose reader is itself only
# weakly held (3.12's StreamReaderProtocol) forms an unreachable cycle, and
# the garbage collector destroys it mid-flight, closing its connections.
_running = set()


def _keep(task):
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


def _start_task(fn, args, kwargs, token):
    """Call `fn`; a coroutine (any awaitable) becomes a task on the running
    loop. The outcome goes to Erlang as {async_result, Ref, Result}."""
    try:
        result = fn(*args, **kwargs) if kwargs else fn(*args)
    except BaseException as exc:  # noqa: BLE001 - reported to Erlang
        _task_done(token, _RAISED, exc)
        return
    if not hasattr(result, "__await__"):
        _task_done(token, _VALUE, result)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        # No loop runs on this context: run the coroutine to its end on a
        # loop of its own (py_context:submit works with or without
        # start_loop).
        try:
            value = run(_awaited(result))
        except BaseException as exc:  # noqa: BLE001 - reported to Erlang
            _task_done(token, _RAISED, exc)
        else:
            _task_done(token, _VALUE, value)
        return
    task = _keep(asyncio.ensure_future(result, loop=loop))
    task.add_done_callback(lambda t: _report(token, t))


async def _awaited(awaitable):
    return await awaitable


def _report(token, task):
    if task.cancelled():
        _task_done(token, _CANCELLED, None)
        return
    exc = task.exception()
    if exc is not None:
        _task_done(token, _RAISED, exc)
    else:
        _task_done(token, _VALUE, task.result())


def _run_worker_loop(default=False, notify=None, tag=None):
    """The body of a py_event_loop worker: run a loop until stopped; tasks
    still pending then are cancelled (their callers are told). With
    `notify` (a pid), `(py_loop_running, tag)` is sent to it from the
    loop's first iteration: from then on an interrupt of the context
    reaches the loop itself."""
    global _default_loop
    loop = ErlangEventLoop()
    asyncio.set_event_loop(loop)
    if default:
        _default_loop = loop
    if notify is not None:
        import erlang

        loop.call_soon(erlang.send, notify, (erlang.atom("py_loop_running"), tag))
    try:
        loop.run_forever()
    finally:
        if _default_loop is loop:
            _default_loop = None
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop._release_descriptors()
            loop.run_until_complete(asyncio.sleep(0))
            loop.run_until_complete(loop.shutdown_asyncgens())
        except BaseException:  # noqa: BLE001 - interrupted while winding down
            pass
        finally:
            asyncio.set_event_loop(None)
            try:
                loop.close()
            except BaseException:  # noqa: BLE001 - already half closed
                pass


def _stop_worker_loop():
    """Stop the loop running on this thread (called from a request served by
    that loop's select)."""
    loop = asyncio.get_running_loop()
    loop.stop()


def _submodule(name, source):
    import types

    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = __builtins__
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    sys.modules[name] = module
    return module


reactor = _submodule("erlang.reactor", _REACTOR_SOURCE)
server = _submodule("erlang.server", _SERVER_SOURCE)
del _REACTOR_SOURCE, _SERVER_SOURCE

# What the `erlang` module takes from here (py_core::erlang_module::extend):
# these names as attributes (ReactorBuffer from erlang.reactor), and
# erlang.reactor and erlang.server as submodules.
_ERLANG_NAMES = {name: None for name in __all__}
_ERLANG_NAMES["ReactorBuffer"] = "erlang.reactor"
_ERLANG_SUBMODULES = {"reactor": "reactor", "server": "server"}
