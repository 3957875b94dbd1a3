//! The `_erlang_loop` built-in module: multi-phase, per interpreter (it
//! imports in own-GIL sub-interpreters), with the few functions the Python
//! half needs from Rust — the context's wait (serve, wake descriptor,
//! sleep) and the sink for tasks submitted from Erlang.

use std::sync::OnceLock;
use std::time::Duration;

use py_convert::capi::{self, boolean, fast, int, none_raw, null, wrong_args, MethodDef, PyExc, METHODS_END};
use py_convert::{Attached, PyObj};
use py_core::WaitError;

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

py_convert::fastcall_entry!(loop_serve, |py, _module, _args| {
    let ran = py_core::serve_pending(py);
    if interrupted(py) {
        return null();
    }
    int(ran as i64)
});

/// KeyboardInterrupt is raised here when the loop's task was interrupted
/// while it waited (see `py_core::take_pending_interrupt`).
fn interrupted(py: py_convert::Attached<'_>) -> bool {
    if capi::error_occurred(py) || !py_core::take_pending_interrupt(py) {
        return false;
    }
    capi::raise(py, PyExc::KeyboardInterrupt, "");
    true
}

py_convert::fastcall_entry!(loop_wake_fd, |_py, _module, _args| { int(py_core::wake_fd().map_or(-1, |fd| fd as i64)) });

py_convert::fastcall_entry!(loop_sleep_begin, |_py, _module, _args| { boolean(py_core::begin_external_sleep()) });

py_convert::fastcall_entry!(loop_poll_window, |py, _module, args| {
    let [fd, seconds] = args.as_slice() else { return wrong_args(c"_poll_window(fd, seconds)") };
    let Some(fd) = capi::int_arg(py, fd) else { return null() };
    // Anything but a positive number (an error included) means no window.
    let secs = capi::float_arg(py, seconds).unwrap_or(f64::NAN);
    if !secs.is_finite() || secs <= 0.0 {
        capi::clear_error(py);
        return boolean(false);
    }
    boolean(py_core::poll_window(py, fd as i32, Duration::from_secs_f64(secs)))
});

py_convert::fastcall_entry!(loop_select, |py, _module, args| {
    let [epfd, fd_to_key, timeout, wake] = args.as_slice() else {
        return wrong_args(c"_select(epfd, fd_to_key, timeout, wake_fd)");
    };
    let Some(epfd) = capi::int_arg(py, epfd) else { return null() };
    let Some(wake) = capi::int_arg(py, wake) else { return null() };
    let timeout = if capi::is_none(timeout) {
        None
    } else {
        let Some(secs) = capi::float_arg(py, timeout) else { return null() };
        match secs {
            s if s.is_nan() || s <= 0.0 => Some(Duration::ZERO),
            s => Duration::try_from_secs_f64(s).ok(),
        }
    };
    let ready = crate::select::select(py, epfd as i32, fd_to_key, timeout, wake as i32);
    if ready.is_some() && interrupted(py) {
        return null();
    }
    capi::into_raw_or_null(ready)
});

py_convert::fastcall_entry!(loop_sleep_end, |py, _module, _args| {
    py_core::end_external_sleep();
    if interrupted(py) {
        return null();
    }
    none_raw()
});

py_convert::fastcall_entry!(loop_blocking_sleep, |py, _module, args| {
    let [seconds] = args.as_slice() else { return wrong_args(c"_blocking_sleep(seconds)") };
    let Some(secs) = capi::float_arg(py, seconds) else { return null() };
    if !secs.is_finite() || secs < 0.0 {
        capi::raise(py, PyExc::ValueError, "sleep length must be a non-negative number");
        return null();
    }
    match py_core::sleep(py, Duration::from_secs_f64(secs)) {
        Ok(()) => none_raw(),
        Err(WaitError::Interrupted) => {
            capi::raise(py, PyExc::KeyboardInterrupt, "");
            null()
        }
        Err(WaitError::Stopped) => {
            capi::raise(py, PyExc::RuntimeError, "the context is stopping");
            null()
        }
    }
});

py_convert::fastcall_entry!(loop_task_done, |py, _module, args| {
    let [token, kind, value] = args.as_slice() else { return wrong_args(c"_task_done(token, kind, value)") };
    let Some(token) = capi::int_arg(py, token) else { return null() };
    let Some(kind) = capi::int_arg(py, kind) else { return null() };
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

py_convert::fastcall_entry!(loop_interp_id, |py, _module, _args| { int(capi::interpreter_id(py)) });

static mut METHODS: [MethodDef; 10] = [
    fast(c"_serve", loop_serve, c"Run the requests queued for this context thread."),
    fast(c"_wake_fd", loop_wake_fd, c"The context's wake-up descriptor, or -1 off a context thread."),
    fast(c"_sleep_begin", loop_sleep_begin, c"About to block in the poller: False if a request is queued."),
    fast(c"_select", loop_select, c"EpollSelector.select for the loop: serves the context, then waits."),
    fast(c"_sleep_end", loop_sleep_end, c"Back from the poller."),
    fast(c"_poll_window", loop_poll_window, c"Briefly watch the poller and the queue before blocking."),
    fast(c"_blocking_sleep", loop_blocking_sleep, c"Sleep, serving the context's requests, interruptible."),
    fast(c"_task_done", loop_task_done, c"Report the outcome of a task submitted from Erlang."),
    fast(c"_interp_id", loop_interp_id, c"This interpreter's id (0 for the main one)."),
    METHODS_END,
];

py_convert::exec_slot!(exec_module, |py, module| {
    for (name, source) in [(c"_REACTOR_SOURCE", crate::REACTOR_SOURCE), (c"_SERVER_SOURCE", crate::SERVER_SOURCE)] {
        let Some(text) = capi::new_str(py, source) else { return -1 };
        if capi::add_object(py, &module, name, &text).is_none() {
            return -1;
        }
    }
    capi::exec_python_half(py, &module, crate::PYTHON_SOURCE, c"<_erlang_loop>")
});

py_convert::builtin_module!(
    init_module,
    c"_erlang_loop",
    c"The asyncio event loop of erlang_python (use it through the erlang module).",
    METHODS,
    exec_module
);
