//! The `_erlang_loop` built-in module: multi-phase, per interpreter (it
//! imports in own-GIL sub-interpreters), with the few functions the Python
//! half needs from Rust — the context's wait (serve, wake descriptor,
//! sleep) and the sink for tasks submitted from Erlang.

use std::ffi::c_int;
use std::ptr;
use std::sync::OnceLock;
use std::time::Duration;

use py_convert::{Attached, PyObj};
use py_core::capi::{self, PyExc};
use py_core::cfunc::{boolean, fast, int, none_raw, wrong_args};
use py_core::WaitError;
use pyo3_ffi as ffi;

/// How a task submitted from Erlang ended.
pub enum TaskOutcome<'a> {
    /// Its result.
    Value(&'a PyObj),
    /// The exception it raised.
    Raised(&'a PyObj),
    /// It was cancelled.
    Cancelled,
}

/// Where the outcomes of tasks submitted from Erlang go (installed by the
/// NIF layer). Runs on the loop's thread, attached.
pub trait TaskSink: Send + Sync + 'static {
    fn done(&self, py: Attached<'_>, token: u64, outcome: TaskOutcome<'_>);
}

static SINK: OnceLock<Box<dyn TaskSink>> = OnceLock::new();

/// Installs the task sink (once, when the NIF library loads).
pub fn set_task_sink(sink: Box<dyn TaskSink>) {
    let _ = SINK.set(sink);
}

/// Registers `_erlang_loop` as a built-in module; call before Python starts.
pub fn register() -> bool {
    // Imported by every interpreter as it starts: its first use (an
    // erlang.sleep) may come inside a request that is then interrupted.
    py_core::runtime::preload_module(c"_erlang_loop");
    py_core::erlang_module::extend(c"_erlang_loop");
    py_core::runtime::add_builtin_module(c"_erlang_loop", init_module)
}

py_core::fastcall_entry!(loop_serve, |py, _module, _args| { int(py_core::serve_pending(py) as i64) });

py_core::fastcall_entry!(loop_wake_fd, |_py, _module, _args| { int(py_core::wake_fd().map_or(-1, |fd| fd as i64)) });

py_core::fastcall_entry!(loop_sleep_begin, |_py, _module, _args| { boolean(py_core::begin_external_sleep()) });

py_core::fastcall_entry!(loop_poll_window, |py, _module, args| {
    let [fd, seconds] = args.as_slice() else { return wrong_args(c"_poll_window(fd, seconds)") };
    let Some(fd) = capi::int_arg(py, fd) else { return ptr::null_mut() };
    // SAFETY: attached (token); PyFloat_AsDouble sets an error on failure.
    let secs = unsafe { ffi::PyFloat_AsDouble(seconds.as_ptr()) };
    if !secs.is_finite() || secs <= 0.0 {
        // SAFETY: attached (token).
        unsafe { ffi::PyErr_Clear() };
        return boolean(false);
    }
    boolean(py_core::poll_window(py, fd as i32, Duration::from_secs_f64(secs)))
});

py_core::fastcall_entry!(loop_select, |py, _module, args| {
    let [epfd, fd_to_key, timeout, wake] = args.as_slice() else {
        return wrong_args(c"_select(epfd, fd_to_key, timeout, wake_fd)");
    };
    let Some(epfd) = capi::int_arg(py, epfd) else { return ptr::null_mut() };
    let Some(wake) = capi::int_arg(py, wake) else { return ptr::null_mut() };
    // SAFETY: attached (token); None is compared by address.
    let timeout = if timeout.as_ptr() == unsafe { ffi::Py_None() } {
        None
    } else {
        // SAFETY: attached (token); PyFloat_AsDouble sets an error on failure.
        let secs = unsafe { ffi::PyFloat_AsDouble(timeout.as_ptr()) };
        // SAFETY: attached (token).
        if secs == -1.0 && unsafe { !ffi::PyErr_Occurred().is_null() } {
            return ptr::null_mut();
        }
        match secs {
            s if s.is_nan() || s <= 0.0 => Some(Duration::ZERO),
            s => Duration::try_from_secs_f64(s).ok(),
        }
    };
    match crate::select::select(py, epfd as i32, fd_to_key, timeout, wake as i32) {
        Some(list) => list.into_raw(),
        None => ptr::null_mut(),
    }
});

py_core::fastcall_entry!(loop_sleep_end, |_py, _module, _args| {
    py_core::end_external_sleep();
    none_raw()
});

py_core::fastcall_entry!(loop_blocking_sleep, |py, _module, args| {
    let [seconds] = args.as_slice() else { return wrong_args(c"_blocking_sleep(seconds)") };
    // SAFETY: attached (token); PyFloat_AsDouble sets an error on failure.
    let secs = unsafe { ffi::PyFloat_AsDouble(seconds.as_ptr()) };
    // SAFETY: attached (token).
    if secs == -1.0 && unsafe { !ffi::PyErr_Occurred().is_null() } {
        return ptr::null_mut();
    }
    if !secs.is_finite() || secs < 0.0 {
        capi::raise(py, PyExc::ValueError, "sleep length must be a non-negative number");
        return ptr::null_mut();
    }
    match py_core::sleep(py, Duration::from_secs_f64(secs)) {
        Ok(()) => none_raw(),
        Err(WaitError::Interrupted) => {
            capi::raise(py, PyExc::KeyboardInterrupt, "");
            ptr::null_mut()
        }
        Err(WaitError::Stopped) => {
            capi::raise(py, PyExc::RuntimeError, "the context is stopping");
            ptr::null_mut()
        }
    }
});

py_core::fastcall_entry!(loop_task_done, |py, _module, args| {
    let [token, kind, value] = args.as_slice() else { return wrong_args(c"_task_done(token, kind, value)") };
    let Some(token) = capi::int_arg(py, token) else { return ptr::null_mut() };
    let Some(kind) = capi::int_arg(py, kind) else { return ptr::null_mut() };
    let outcome = match kind {
        0 => TaskOutcome::Value(value),
        1 => TaskOutcome::Raised(value),
        _ => TaskOutcome::Cancelled,
    };
    if let Some(sink) = SINK.get() {
        sink.done(py, token as u64, outcome);
    }
    none_raw()
});

py_core::fastcall_entry!(loop_interp_id, |_py, _module, _args| {
    // SAFETY: attached (token): the calling thread's interpreter is valid.
    int(unsafe { ffi::PyInterpreterState_GetID(ffi::PyInterpreterState_Get()) })
});

static mut METHODS: [ffi::PyMethodDef; 10] = [
    fast(c"_serve", loop_serve, c"Run the requests queued for this context thread."),
    fast(c"_wake_fd", loop_wake_fd, c"The context's wake-up descriptor, or -1 off a context thread."),
    fast(c"_sleep_begin", loop_sleep_begin, c"About to block in the poller: False if a request is queued."),
    fast(c"_select", loop_select, c"EpollSelector.select for the loop: serves the context, then waits."),
    fast(c"_sleep_end", loop_sleep_end, c"Back from the poller."),
    fast(c"_poll_window", loop_poll_window, c"Briefly watch the poller and the queue before blocking."),
    fast(c"_blocking_sleep", loop_blocking_sleep, c"Sleep, serving the context's requests, interruptible."),
    fast(c"_task_done", loop_task_done, c"Report the outcome of a task submitted from Erlang."),
    fast(c"_interp_id", loop_interp_id, c"This interpreter's id (0 for the main one)."),
    ffi::PyMethodDef::zeroed(),
];

unsafe extern "C" fn exec_module(module: *mut ffi::PyObject) -> c_int {
    // SAFETY: CPython calls the exec slot with the GIL held and the module;
    // the source strings are new references handed to AddObjectRef.
    unsafe {
        for (name, source) in [(c"_REACTOR_SOURCE", crate::REACTOR_SOURCE), (c"_SERVER_SOURCE", crate::SERVER_SOURCE)] {
            let Some(text) = PyObj::from_owned(ffi::PyUnicode_FromStringAndSize(
                source.as_ptr().cast(),
                source.len() as ffi::Py_ssize_t,
            )) else {
                return -1;
            };
            if ffi::PyModule_AddObjectRef(module, name.as_ptr(), text.as_ptr()) < 0 {
                return -1;
            }
        }
        py_core::cfunc::exec_python_half(module, crate::PYTHON_SOURCE, c"<_erlang_loop>")
    }
}

py_core::builtin_module!(
    init_module,
    c"_erlang_loop",
    c"The asyncio event loop of erlang_python (use it through the erlang module).",
    METHODS,
    exec_module
);
