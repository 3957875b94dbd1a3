# The Python half of the built-in `erlang` module, executed into each
# interpreter's copy of the module after its C functions are in place
# (call, send, whereis, atom, consume_time_slice and the private _helpers).
# Kept import-light: logging, threading and asyncio load on first use.

__all__ = [
    "call", "send", "reply", "whereis", "atom", "Atom", "Pid", "Ref",
    "ProcessError", "ErlangError", "async_call", "schedule", "schedule_py",
    "schedule_inline", "consume_time_slice", "ScheduleMarker",
    "InlineScheduleMarker", "state_get", "state_set", "state_delete",
    "state_keys", "state_clear", "state_incr", "state_decr",
    "ErlangHandler", "setup_logging", "Span", "trace",
    "ErlangEventLoop", "ErlangEventLoopPolicy", "EventLoopPolicy", "new_event_loop",
    "get_event_loop_policy", "install", "run", "sleep", "spawn_task", "detect_mode",
    "ExecutionMode", "Channel", "ChannelClosed", "ByteChannel", "ByteChannelClosed", "PyBuffer",
    "SharedDict",
]


class ProcessError(Exception):
    """The target Erlang process does not exist (for example in send)."""


class ErlangError(RuntimeError):
    """An Erlang callback failed; `reason` holds the Erlang reason."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason


class SuspensionRequired(BaseException):
    """Kept for compatibility with code written for the C library; never
    raised here: callbacks run exactly once, without suspend-and-replay."""


class ScheduleMarker:
    """Returned by a function called from Erlang: Erlang then runs the
    registered callback `callback` with `args`, and its result becomes the
    call's result."""

    __slots__ = ("callback", "args")

    def __init__(self, callback, args):
        self.callback = callback
        self.args = list(args)

    def __repr__(self):
        return f"erlang.ScheduleMarker({self.callback!r}, {self.args!r})"


class InlineScheduleMarker:
    """Returned by a function called from Erlang: the call continues with
    `module.func(*args, **kwargs)` on the same thread, without a round trip
    through Erlang."""

    __slots__ = ("module", "func", "args", "kwargs")

    def __init__(self, module, func, args, kwargs):
        self.module = module
        self.func = func
        self.args = list(args or ())
        self.kwargs = dict(kwargs or {})

    def __repr__(self):
        return f"erlang.InlineScheduleMarker({self.module!r}, {self.func!r})"


def tensor(array):
    """Mark `array` (a numpy array, array.array, memoryview, or an object
    with __array__ or __dlpack__) to cross into Erlang as
    {tensor, Type, Shape, Binary}, wherever it appears in a value and
    whatever the call asked for. An array with no tensor form (object
    dtype, say) converts as it would unmarked."""
    return Tensor((array,))


def schedule(callback_name, *args):
    """Finish this call by running an Erlang callback (see ScheduleMarker)."""
    return ScheduleMarker(callback_name, args)


def schedule_py(module, func, args=None, kwargs=None):
    """Finish this call by calling Python `module.func` again through Erlang."""
    return ScheduleMarker("_execute_py", (module, func, list(args or ()), dict(kwargs or {})))


def schedule_inline(module, func, args=None, kwargs=None):
    """Continue this call with `module.func(*args, **kwargs)` directly."""
    return InlineScheduleMarker(module, func, args, kwargs)


class Function:
    """A registered Erlang function, callable from Python."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        return call(self.name, *args)

    def __repr__(self):
        return f"<erlang.Function {self.name}>"


def __getattr__(name):
    # Only registered callbacks appear as attributes: introspecting
    # libraries (torch, inspect) must not see functions that do not exist.
    names, submodules = _extensions()
    if name in names:
        import importlib

        value = getattr(importlib.import_module(names[name]), name)
        globals()[name] = value
        return value
    if "erlang." + name in submodules:
        import importlib

        value = importlib.import_module("erlang." + name)
        globals()[name] = value
        return value
    lazy = _LAZY.get(name)
    if lazy is not None:
        value = lazy()
        globals()[name] = value
        return value
    if not name.startswith("_") and _is_registered(name):
        return Function(name)
    raise AttributeError(f"module 'erlang' has no attribute {name!r}")


def reply(pid, term):
    """Send `term` to `pid`; returns True."""
    send(pid, term)
    return True


async def async_call(name, *args):
    """`await erlang.async_call(name, *args)`: an Erlang callback from
    asyncio code, without blocking the event loop."""
    import asyncio

    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fd, token = _async_call_start(name, args)
    settled = False

    def ready():
        nonlocal settled
        settled = True
        loop.remove_reader(fd)
        if fut.cancelled():
            _async_call_cancel(token)
            return
        try:
            fut.set_result(_async_call_finish(token))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiter
            fut.set_exception(exc)

    loop.add_reader(fd, ready)
    try:
        return await fut
    finally:
        # Cancelled or abandoned before the answer came: stop watching the
        # fd and forget the call (both harmless if already done).
        if not settled:
            loop.remove_reader(fd)
            _async_call_cancel(token)


# Shared state (py_state), through built-in callbacks.
def state_get(key):
    return call("state_get", key)


def state_set(key, value):
    return call("state_set", key, value)


def state_delete(key):
    return call("state_delete", key)


def state_keys():
    return call("state_keys")


def state_clear():
    return call("state_clear")


def state_incr(key, n=1):
    return call("state_incr", key, n)


def state_decr(key, n=1):
    return call("state_decr", key, n)


# Logging to the Erlang logger.
def _make_handler_class():
    import logging

    class ErlangHandler(logging.Handler):
        """A logging handler that forwards records to the Erlang logger
        (through py_logger), with module, line and function metadata."""

        def emit(self, record):
            if record.levelno < _log_level():
                return
            try:
                message = self.format(record)
                meta = {
                    "module": record.module,
                    "lineno": record.lineno,
                    "funcName": record.funcName,
                    "thread": record.threadName,
                }
                _log(record.levelno, record.name, message, meta)
            except Exception:  # noqa: BLE001 - logging must not raise
                self.handleError(record)

    return ErlangHandler


def setup_logging(level=10, format=None):
    """Send Python logging at `level` and above to the Erlang logger;
    returns the handler installed on the root logger."""
    import logging

    handler = globals().get("ErlangHandler") or __getattr__("ErlangHandler")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, handler):
            root.removeHandler(existing)
    h = handler()
    h.setLevel(level)
    if format:
        h.setFormatter(logging.Formatter(format))
    root.addHandler(h)
    root.setLevel(level)
    return h


# Tracing spans (collected by py_tracer while tracing is enabled).
def _span_state():
    import threading

    return threading.local()


def _make_span_class():
    import os
    import time

    local = _span_state()

    def now_us():
        return time.monotonic_ns() // 1000

    class Span:
        """`with erlang.Span(name, **attrs) as span:` records a span with
        its parent (the enclosing span on this thread), duration, status
        ('ok' or 'error' with the exception) and events."""

        __slots__ = ("name", "attrs", "span_id", "parent_id", "_prev", "_on")

        def __init__(self, name, **attrs):
            self.name = name
            self.attrs = attrs
            self.span_id = int.from_bytes(os.urandom(8), "little") or 1
            self.parent_id = None
            self._prev = None
            self._on = False

        def __enter__(self):
            self._prev = getattr(local, "span", None)
            self.parent_id = self._prev.span_id if self._prev is not None else None
            local.span = self
            self._on = _tracing()
            if self._on:
                _trace("start", self.span_id, self.parent_id, self.name, self.attrs, now_us())
            return self

        def event(self, name, **attrs):
            if self._on:
                _trace("event", self.span_id, name, attrs, now_us())

        def __exit__(self, exc_type, exc, tb):
            local.span = self._prev
            if self._on:
                if exc_type is None:
                    _trace("end", self.span_id, "ok", {}, now_us())
                else:
                    _trace("end", self.span_id, "error", {"exception": f"{exc_type.__name__}: {exc}"}, now_us())
            return False

    return Span


def trace(name=None):
    """Decorator: run the function inside a Span named after it."""
    span = globals().get("Span") or __getattr__("Span")

    def wrap(fn):
        import functools

        label = name or fn.__qualname__

        @functools.wraps(fn)
        def traced(*args, **kwargs):
            with span(label):
                return fn(*args, **kwargs)

        return traced

    if callable(name):
        fn, name = name, None
        return wrap(fn)
    return wrap


_LAZY = {"ErlangHandler": _make_handler_class, "Span": _make_span_class}

# Names and submodules of `erlang` that other built-in modules provide (the
# event loop's `_erlang_loop`, the channels' `_erlang_channel`): each lists
# them in `_ERLANG_NAMES` and `_ERLANG_SUBMODULES` and is registered with
# py-core (erlang_module::extend), so this module knows none of them. Read
# on first use; the modules are imported as every interpreter starts.
_EXTENSIONS = None


def _extensions():
    """({name: module to import}, {"erlang.sub": (module, attribute or None)})."""
    global _EXTENSIONS
    if _EXTENSIONS is None:
        import importlib

        names, submodules = {}, {}
        for module_name in _extension_modules():
            module = importlib.import_module(module_name)
            # A name maps to the module to take it from: its own by default,
            # or the one named (a submodule, loaded on first use).
            entries = getattr(module, "_ERLANG_NAMES", ())
            for name in entries:
                names[name] = (entries[name] if isinstance(entries, dict) else None) or module_name
            for sub, attribute in getattr(module, "_ERLANG_SUBMODULES", {}).items():
                submodules["erlang." + sub] = (module_name, attribute)
        _EXTENSIONS = (names, submodules)
    return _EXTENSIONS


# `erlang` is a package of built-in submodules (erlang.channel,
# erlang.reactor, ... : see _extensions), loaded on first import.
__path__ = []


class _SubmoduleFinder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if not name.startswith("erlang.") or name not in _extensions()[1]:
            return None
        import importlib.util

        return importlib.util.spec_from_loader(name, cls)

    @staticmethod
    def create_module(spec):
        import importlib

        module_name, attribute = _extensions()[1][spec.name]
        module = importlib.import_module(module_name)
        return module if attribute is None else getattr(module, attribute)

    @staticmethod
    def exec_module(module):
        pass


def _register_submodules():
    import sys

    if not any(f is _SubmoduleFinder for f in sys.meta_path):
        sys.meta_path.append(_SubmoduleFinder)


_register_submodules()


# --- ctypes.util.find_library inside the VM. On Linux it runs ldconfig (or
# gcc, ld) to find a library, and the sandbox refuses to start programs
# from the VM's process: so, as ctypes.util loads, find_library gets a
# fallback that reads the library directories itself (as `ldconfig -p`
# would list them). torch and many wrappers of C libraries call it on
# import.

_SANDBOX_REFUSAL = "is blocked in Erlang VM context"


def _library_dirs():
    import glob
    import os
    import sysconfig

    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    pending = ["/etc/ld.so.conf"]
    seen = set()
    while pending:
        conf = pending.pop()
        if conf in seen:
            continue
        seen.add(conf)
        try:
            with open(conf) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line.startswith("include "):
                pending.extend(sorted(glob.glob(line[len("include "):].strip())))
            elif line:
                dirs.append(line)
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    for base in ("/lib", "/usr/lib", "/usr/local/lib"):
        dirs += [f"{base}/{arch}", f"{base}64", base] if arch else [f"{base}64", base]
    return dirs


def _find_library_without_programs(name):
    """The soname find_library would give for `name` (`libc.so.6` for
    "c"), from the files in the library directories; None if none."""
    import os
    import re

    pattern = re.compile(r"lib" + re.escape(name) + r"\.so((?:\.[0-9]+)*)$")
    for directory in _library_dirs():
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        found = [(m.group(1), e) for e in entries for m in [pattern.match(e)] if m]
        if found:
            # The shortest versioned name is the soname ldconfig lists;
            # the bare .so (a development link) only when it is all there is.
            versioned = sorted((len(v), e) for v, e in found if v)
            return versioned[0][1] if versioned else found[0][1]
    return None


class _CtypesUtilLoader:
    """Loads ctypes.util with its own loader, then wraps find_library."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        original = module.find_library

        def find_library(name):
            try:
                return original(name)
            except RuntimeError as e:
                if _SANDBOX_REFUSAL not in str(e):
                    raise
                return _find_library_without_programs(name)

        find_library.__doc__ = original.__doc__
        find_library.__wrapped__ = original
        module.find_library = find_library

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _CtypesUtilFinder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "ctypes.util":
            return None
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _CtypesUtilLoader(spec.loader)
        return spec


def _register_ctypes_util_finder():
    import sys

    if not any(f is _CtypesUtilFinder for f in sys.meta_path):
        sys.meta_path.insert(0, _CtypesUtilFinder)


_register_ctypes_util_finder()


# --- Environments (py_import, py_preload, venvs, reload): applied by Erlang
# to every interpreter, and to each new context as it starts.

def _env_add_paths(paths):
    """Put `paths` first on sys.path, in order, each once."""
    import sys

    for path in reversed(paths):
        while path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)


def _env_import(entries):
    """Import each (module, function or None); a function must exist."""
    import importlib

    for module, function in entries:
        m = importlib.import_module(module)
        if function is not None and not hasattr(m, function):
            raise AttributeError(f"module {module!r} has no attribute {function!r}")


def _env_preload(code):
    """Run the preload code in a fresh namespace; its globals become the
    template of this context's process-local namespaces."""
    globals_ = {"__name__": "__main__", "__builtins__": __builtins__, "erlang": __import__("erlang")}
    exec(compile(code, "<preload>", "exec"), globals_)
    return _set_namespace_template(globals_)


_venv = None


def _venv_site_packages(path):
    """The site-packages of the environment at `path`, as the C library
    finds it (no `pyvenv.cfg` needed): `Lib/site-packages` if present, else
    `lib/pythonX.Y/site-packages` for the running Python. One made only
    for another Python version holds compiled extensions this one cannot
    load: refused, not half-activated."""
    import glob
    import os
    import sys

    flat = os.path.join(path, "Lib", "site-packages")
    if os.path.isdir(flat):
        return flat
    mine = "python%d.%d" % sys.version_info[:2]
    own = os.path.join(path, "lib", mine, "site-packages")
    if os.path.isdir(own):
        return own
    others = sorted(os.path.basename(os.path.dirname(d))
                    for d in glob.glob(os.path.join(path, "lib", "python*", "site-packages")))
    if others:
        raise ValueError(f"virtual environment {path} is for {', '.join(others)}, not {mine}")
    raise ValueError("no_site_packages_found")


def _venv_activate(path):
    """Add the venv's site-packages through site.addsitedir (so .pth files
    and editable installs work) and put what it added first on sys.path.
    Activating the venv that is already active changes nothing (contexts
    sharing an interpreter each ask); _venv_deactivate removes exactly
    what activation added, keeping paths added since."""
    global _venv
    import os
    import site
    import sys

    path = os.path.abspath(path)
    site_packages = _venv_site_packages(path)
    if _venv is not None:
        if _venv["venv_path"] == path:
            return True
        _venv_deactivate()
    before = list(sys.path)
    site.addsitedir(site_packages)
    added = [p for p in sys.path if p not in before]
    sys.path[:] = added + before
    _venv = {"venv_path": path, "site_packages": site_packages, "added": added}
    return True


def _venv_deactivate():
    global _venv
    import sys

    if _venv is not None:
        added = set(_venv["added"])
        sys.path[:] = [p for p in sys.path if p not in added]
        _venv = None
    return True


def _venv_info():
    import sys

    if _venv is None:
        return {"active": False}
    return {"active": True, "venv_path": _venv["venv_path"], "site_packages": _venv["site_packages"],
            "sys_path": list(sys.path)}


def _reload(module):
    """importlib.reload(module) if this interpreter has imported it."""
    import importlib
    import sys

    m = sys.modules.get(module)
    if m is None:
        return False
    importlib.reload(m)
    return True


# --- Own-GIL interpreters are reused between contexts (CPython leaks about
# 2 MB per sub-interpreter it destroys). Right after start-up the context
# thread takes a snapshot; when its context ends, the reset brings the
# interpreter back to it, or says it cannot be reused.

def _interp_snapshot():
    """(reset, state): call reset(state) to restore this moment."""
    import builtins
    import sys

    modules = dict(sys.modules)
    # Only real namespaces: 3.12 keeps classes in sys.modules too
    # (typing.io, typing.re), whose __dict__ is a read-only mappingproxy.
    module_dicts = {name: dict(vars(m)) for name, m in modules.items()
                    if type(getattr(m, "__dict__", None)) is dict}
    state = (modules, module_dicts, list(sys.path), list(sys.meta_path), list(sys.path_hooks),
             dict(sys.path_importer_cache), dict(vars(builtins)), sys.getrecursionlimit(),
             (sys.stdin, sys.stdout, sys.stderr, sys.displayhook, sys.excepthook))
    return (_interp_reset, state)


def _interp_reset(state):
    """Back to the snapshot: modules imported since are dropped, module
    attributes, builtins, sys.path and the import system restored, atexit
    functions run. False when the interpreter cannot be reused (a thread it
    started still runs). Uses local names only: it rewrites the very
    dictionaries (builtins, this module's) that global lookups go through."""
    import builtins
    import gc
    import sys

    threading = sys.modules.get("threading")
    if threading is not None and any(t.is_alive() and not isinstance(t, threading._DummyThread)
                                     and t is not threading.main_thread() for t in threading.enumerate()):
        return False
    atexit = sys.modules.get("atexit")
    if atexit is not None:
        atexit._run_exitfuncs()
        atexit._clear()
    (modules, module_dicts, path, meta_path, path_hooks, importer_cache, builtins_dict, limit,
     streams) = state
    sys.settrace(None)
    sys.setprofile(None)
    asyncio_events = sys.modules.get("asyncio.events")
    if asyncio_events is not None:
        asyncio_events._set_running_loop(None)
    current = sys.modules
    for name in [n for n in current if n not in modules]:
        del current[name]
    current.update(modules)
    builtins_vars = builtins.__dict__
    for name, saved in module_dicts.items():
        module = modules[name]
        if module is builtins:
            continue
        d = module.__dict__
        d.clear()
        d.update(saved)
    sys.path[:] = path
    sys.meta_path[:] = meta_path
    sys.path_hooks[:] = path_hooks
    sys.path_importer_cache.clear()
    sys.path_importer_cache.update(importer_cache)
    sys.setrecursionlimit(limit)
    sys.stdin, sys.stdout, sys.stderr, sys.displayhook, sys.excepthook = streams
    builtins_vars.clear()
    builtins_vars.update(builtins_dict)
    gc.collect()
    return True
