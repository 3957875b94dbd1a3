"""Type stub for the built-in `erlang` module that erlang_python provides in
every interpreter it runs (the main one and each own-GIL sub-interpreter).

Put this directory on your editor's or mypy's stub path (for mypy:
`MYPY_PATH=$(erl -noshell -eval 'io:format("~s", [code:priv_dir(erlang_python)]), halt().')`).
"""

import asyncio
import concurrent.futures
import enum
import logging
from typing import Any, Callable, Coroutine, Iterable, Mapping, NoReturn, Sequence, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")

# --- Erlang values with no Python equivalent --------------------------------

class Pid:
    """An Erlang process identifier. Not constructible from Python; equal
    and hashable by identity of the process."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class Ref:
    """An Erlang reference (from `make_ref()`), round-tripping exactly."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class Atom(str):
    """An Erlang atom; equal to its name. Make one with `atom(name)`."""

class Tensor(tuple[object]):
    """`(array,)`: the array crosses into Erlang as
    `{tensor, Type, Shape, Binary}`. Make one with `tensor(array)`."""

def tensor(array: object) -> Tensor:
    """Mark an array (numpy, array.array, memoryview, __array__/__dlpack__)
    to cross into Erlang as a tensor term."""

# --- Exceptions ---------------------------------------------------------------

class ProcessError(Exception):
    """The target Erlang process is not alive (`send`)."""

class ErlangError(RuntimeError):
    """An Erlang callback failed, or none is registered under the name.
    `reason` holds the Erlang error reason, converted when possible."""
    reason: Any
    def __init__(self, message: str, reason: Any = ...) -> None: ...

class SuspensionRequired(BaseException):
    """Kept for code written for the C library; never raised here."""

# --- Calling Erlang -------------------------------------------------------------

def call(name: str | bytes, *args: Any) -> Any:
    """Run the Erlang function registered as `name` (py:register_function)
    with `args` and return its result. Raises ErlangError if it fails.
    Python code runs exactly once; nesting back into Python is unlimited."""

async def async_call(name: str | bytes, *args: Any) -> Any:
    """`call` for asyncio code: awaits the result without blocking the loop;
    several may run concurrently (asyncio.gather)."""

def __getattr__(name: str) -> Callable[..., Any]:
    """`erlang.<name>(*args)` and `from erlang import <name>` for registered
    names only; any other attribute raises AttributeError."""

# --- Messages and names ---------------------------------------------------------

def send(pid: Pid, term: Any) -> None:
    """Send `term` to a process. Raises ProcessError if it is not alive."""

def reply(pid: Pid, term: Any) -> bool:
    """`send` that returns True."""

def whereis(name: str | bytes | Atom) -> Pid | None:
    """The process registered under `name`, or None."""

def atom(name: str) -> Atom:
    """An atom. New atoms count against ERLANG_PYTHON_MAX_ATOMS (default
    10 000 per VM); beyond it RuntimeError is raised."""

# --- Scheduling -------------------------------------------------------------------

class ScheduleMarker:
    callback: str
    args: list[Any]
    def __init__(self, callback: str, args: Iterable[Any]) -> None: ...

class InlineScheduleMarker:
    module: str
    func: str
    args: list[Any]
    kwargs: dict[str, Any]
    def __init__(self, module: str, func: str, args: Iterable[Any] | None, kwargs: Mapping[str, Any] | None) -> None: ...

def schedule(callback_name: str, *args: Any) -> ScheduleMarker:
    """Return this from a function called from Erlang: the registered
    callback then runs in Erlang and its result becomes the call's."""

def schedule_py(module: str, func: str, args: Sequence[Any] | None = ..., kwargs: Mapping[str, Any] | None = ...) -> ScheduleMarker:
    """Return this to finish the call with `module.func(*args, **kwargs)`
    called again through Erlang."""

def schedule_inline(module: str, func: str, args: Sequence[Any] | None = ..., kwargs: Mapping[str, Any] | None = ...) -> InlineScheduleMarker:
    """Return this to continue the call with `module.func(*args, **kwargs)`
    on the same thread, without a trip through Erlang."""

def consume_time_slice(percent: int) -> bool:
    """Always False: Python never runs on an Erlang scheduler here."""

# --- Shared state (py_state) ----------------------------------------------------------

def state_get(key: Any) -> Any: ...
def state_set(key: Any, value: Any) -> None: ...
def state_delete(key: Any) -> None: ...
def state_keys() -> list[Any]: ...
def state_clear() -> None: ...
def state_incr(key: Any, n: int = ...) -> int: ...
def state_decr(key: Any, n: int = ...) -> int: ...

# --- Logging and tracing --------------------------------------------------------------

class ErlangHandler(logging.Handler):
    """Forwards records to the Erlang logger (domain [python]) with module,
    line, function and thread metadata."""
    def emit(self, record: logging.LogRecord) -> None: ...

def setup_logging(level: int = ..., format: str | None = ...) -> ErlangHandler:
    """Install an ErlangHandler on the root logger at `level`."""

class Span:
    """`with erlang.Span(name, **attrs) as span:` records a tracing span
    (collected by py_tracer while tracing is enabled)."""
    name: str
    attrs: dict[str, Any]
    span_id: int
    parent_id: int | None
    def __init__(self, name: str, **attrs: Any) -> None: ...
    def __enter__(self) -> "Span": ...
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool: ...
    def event(self, name: str, **attrs: Any) -> None: ...

def trace(name: str | _F | None = ...) -> Any:
    """Decorator: run the function inside a Span named after it (or `name`)."""

# --- The event loop (asyncio on the context thread) ----------------------------------

class ErlangEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop, run on the context thread: while it waits it
    also serves the calls queued for the context, and wakes for new ones.
    Subprocesses and signal handlers raise NotImplementedError (the VM owns
    both)."""

class ErlangEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """Policy whose new loops are ErlangEventLoop (Python <= 3.13)."""
    def new_event_loop(self) -> ErlangEventLoop: ...

class EventLoopPolicy(ErlangEventLoopPolicy):
    """Alias of ErlangEventLoopPolicy."""

def new_event_loop() -> ErlangEventLoop: ...
def get_event_loop_policy() -> asyncio.AbstractEventLoopPolicy: ...

def install(*, silent: bool = ...) -> None:
    """Make ErlangEventLoop asyncio's default; RuntimeError on 3.14+."""

def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = ..., **kwargs: Any) -> _T:
    """asyncio.run on a new ErlangEventLoop."""

def sleep(seconds: float) -> Any:
    """Awaitable in a running loop; otherwise a blocking sleep that releases
    the GIL, keeps serving the context and is stopped by py:interrupt."""

def spawn_task(coro: Coroutine[Any, Any, _T], *, name: str | None = ...) -> "asyncio.Task[_T] | concurrent.futures.Future[_T]":
    """Run `coro` on the running loop, or else on the py_event_loop loop."""

class ExecutionMode(enum.Enum):
    FREE_THREADED = ...
    SUBINTERP = ...
    SHARED_GIL = ...

def detect_mode() -> ExecutionMode: ...

# --- Channels, buffers, shared dicts (also `erlang.channel`) ------------------------

class ChannelClosed(Exception):
    """The channel is closed and everything sent before was received."""

class ByteChannelClosed(ChannelClosed): ...

class Channel:
    """Terms sent from Erlang with py_channel:send/2 (construct from the
    handle passed in from Erlang)."""
    def __init__(self, handle: Any) -> None: ...
    def receive(self, timeout: float | None = ...) -> Any:
        """Wait for the next term (GIL released); ChannelClosed, TimeoutError."""
    def try_receive(self) -> Any: ...
    async def async_receive(self) -> Any: ...
    def __iter__(self) -> "Channel": ...
    def __next__(self) -> Any: ...
    def __aiter__(self) -> "Channel": ...
    async def __anext__(self) -> Any: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def info(self) -> dict[str, Any]: ...
    def __enter__(self) -> "Channel": ...
    def __exit__(self, *exc: Any) -> bool: ...

class ByteChannel(Channel):
    """Raw bytes both ways (py_byte_channel)."""
    def send_bytes(self, data: bytes) -> bool: ...
    def receive_bytes(self, timeout: float | None = ...) -> bytes: ...
    def try_receive_bytes(self) -> bytes | None: ...
    async def async_receive_bytes(self) -> bytes: ...

class PyBuffer:
    """File-like view of bytes written with py_buffer:write/2; supports
    memoryview() without copying."""
    def read(self, size: int = ...) -> bytes: ...
    def read_nonblock(self, size: int = ...) -> bytes: ...
    def readline(self, size: int = ...) -> bytes: ...
    def readlines(self, hint: int = ...) -> list[bytes]: ...
    def __iter__(self) -> "PyBuffer": ...
    def __next__(self) -> bytes: ...
    def seek(self, offset: int, whence: int = ...) -> int: ...
    def tell(self) -> int: ...
    def find(self, sub: bytes, start: int = ..., end: int | None = ...) -> int: ...
    def readable_amount(self) -> int: ...
    def at_eof(self) -> bool: ...
    def readable(self) -> bool: ...
    def writable(self) -> bool: ...
    def seekable(self) -> bool: ...
    def close(self) -> None: ...
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int) -> memoryview: ...

class SharedDict:
    """A dict shared with Erlang (py:shared_dict_*); str or bytes keys."""
    def __init__(self, handle: Any) -> None: ...
    def __getitem__(self, key: str | bytes) -> Any: ...
    def __setitem__(self, key: str | bytes, value: Any) -> None: ...
    def __delitem__(self, key: str | bytes) -> None: ...
    def __contains__(self, key: object) -> bool: ...
    def __len__(self) -> int: ...
    def get(self, key: str | bytes, default: Any = ...) -> Any: ...
    def keys(self) -> list[str | bytes]: ...
    def items(self) -> list[tuple[str | bytes, Any]]: ...
    def destroy(self) -> None: ...
