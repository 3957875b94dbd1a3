//! Contexts without a BEAM: start, calls, namespaces, thread affinity,
//! sub-interpreter isolation, interrupts and stopping.

use std::sync::mpsc;
use std::time::Duration;

use py_convert::model::{ModelSink, Term};
use py_convert::{py_to_term, PyErrInfo, PyObj};
use py_core::{Context, ContextOptions, Mode, RuntimeConfig, Task, Worker};

fn start_python() {
    py_core::runtime::start(&RuntimeConfig::default()).expect("python starts");
}

fn context(mode: Mode) -> Context {
    start_python();
    Context::start(ContextOptions { mode, ..Default::default() }).expect("context starts")
}

fn to_term(w: &Worker, o: &PyObj) -> Term {
    let mut sink = ModelSink::new();
    let t = py_to_term(w.py(), w.types(), &mut sink, o, w.limits()).expect("convert");
    sink.take(t)
}

/// Runs `f` on the context and waits for its result.
fn on<R: Send + 'static>(ctx: &Context, f: impl FnOnce(&Worker) -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    ctx.submit_fn(move |w| {
        let _ = tx.send(f(w));
    })
    .expect("submitted");
    rx.recv_timeout(Duration::from_secs(60)).expect("the task ran")
}

fn eval(ctx: &Context, code: &'static str) -> Result<Term, PyErrInfo> {
    on(ctx, move |w| w.eval(code.as_bytes(), None, None).map(|o| to_term(w, &o)))
}

#[test]
fn runtime_starts_once_and_reports_itself() {
    start_python();
    let again = py_core::runtime::start(&RuntimeConfig::default()).unwrap();
    assert!(again.version.starts_with(&format!("{}.{}", again.version_info.0, again.version_info.1)));
    assert!(again.executable.contains("python"), "sys.executable = {}", again.executable);
}

#[test]
fn call_eval_exec_in_a_worker_context() {
    let ctx = context(Mode::Worker);
    let sqrt = on(&ctx, |w| {
        let f = w.resolve(b"math", b"sqrt", None)?;
        let arg = w.eval(b"16.0", None, None)?;
        w.call(&f, &[arg], None).map(|o| to_term(w, &o))
    });
    assert_eq!(sqrt.unwrap(), Term::Float(4.0));
    // Dotted function names walk attributes.
    let joined = on(&ctx, |w| {
        let f = w.resolve(b"os", b"path.join", None)?;
        let (a, b) = (w.eval(b"'a'", None, None)?, w.eval(b"'b'", None, None)?);
        w.call(&f, &[a, b], None).map(|o| to_term(w, &o))
    });
    assert_eq!(joined.unwrap(), Term::bin(b"a/b"));
    // exec defines, eval and __main__ calls see it.
    on(&ctx, |w| w.exec(b"def double(x):\n    return 2 * x\ncounter = 41", None)).unwrap();
    assert_eq!(eval(&ctx, "double(counter) + 2").unwrap(), Term::Int(84));
    let doubled = on(&ctx, |w| {
        let f = w.resolve(b"__main__", b"double", None)?;
        let arg = w.eval(b"21", None, None)?;
        w.call(&f, &[arg], None).map(|o| to_term(w, &o))
    });
    assert_eq!(doubled.unwrap(), Term::Int(42));
}

#[test]
fn eval_locals_are_visible_in_comprehensions_and_do_not_leak() {
    let ctx = context(Mode::Worker);
    let r = on(&ctx, |w| {
        let locals = w.eval(b"{'y': 10}", None, None)?;
        let v = w.eval(b"[x * y for x in range(3)]", None, Some(&locals))?;
        Ok::<_, PyErrInfo>(to_term(w, &v))
    });
    assert_eq!(r.unwrap(), Term::list(vec![Term::Int(0), Term::Int(10), Term::Int(20)]));
    let leaked = eval(&ctx, "y").unwrap_err();
    assert_eq!(leaked.class, "NameError");
}

#[test]
fn python_errors_are_described() {
    let ctx = context(Mode::Worker);
    let e = eval(&ctx, "1/0").unwrap_err();
    assert_eq!((e.class.as_str(), e.message.as_str()), ("ZeroDivisionError", "division by zero"));
    let e = eval(&ctx, "1 +").unwrap_err();
    assert_eq!(e.class, "SyntaxError");
    let e = on(&ctx, |w| w.eval(b"1\0", None, None).map(|_| ())).unwrap_err();
    assert_eq!(e.class, "ValueError");
    let e = on(&ctx, |w| w.resolve(b"no_such_module_xyz", b"f", None).map(|_| ())).unwrap_err();
    assert_eq!(e.class, "ModuleNotFoundError");
    let e = on(&ctx, |w| w.resolve(b"__main__", b"missing", None).map(|_| ())).unwrap_err();
    assert_eq!(e.class, "NameError");
    // With a traceback when asked.
    let e = on(&ctx, |w| {
        w.set_want_traceback(true);
        let r = w.exec(b"def f():\n    raise ValueError('boom')\nf()", None);
        w.set_want_traceback(false);
        r
    })
    .unwrap_err();
    let tb = e.traceback.expect("traceback");
    assert!(tb.contains("ValueError: boom") && tb.contains("in f"), "{tb}");
    // The context is fine afterwards.
    assert_eq!(eval(&ctx, "2 + 2").unwrap(), Term::Int(4));
}

#[test]
fn every_call_runs_on_the_same_os_thread() {
    let ctx = context(Mode::Worker);
    let expected = ctx.native_thread_id() as i64;
    for _ in 0..50 {
        let id = eval(&ctx, "__import__('threading').get_native_id()").unwrap();
        assert_eq!(id, Term::Int(expected));
    }
}

#[test]
fn owngil_contexts_are_isolated() {
    if !py_core::owngil_supported() {
        return;
    }
    let a = context(Mode::OwnGil);
    let b = context(Mode::OwnGil);
    let w = context(Mode::Worker);
    assert_ne!(a.interp_id(), b.interp_id());
    assert_ne!(a.interp_id(), 0);
    assert_eq!(w.interp_id(), 0);
    on(&a, |w| w.exec(b"import sys, json\nsys.marker_for_test = 'a'", None)).unwrap();
    assert_eq!(eval(&a, "getattr(__import__('sys'), 'marker_for_test', None)").unwrap(), Term::bin(b"a"));
    assert_eq!(eval(&b, "getattr(__import__('sys'), 'marker_for_test', None)").unwrap(), Term::atom("none"));
    assert_eq!(eval(&w, "getattr(__import__('sys'), 'marker_for_test', None)").unwrap(), Term::atom("none"));
    // C extensions that support sub-interpreters import.
    assert_eq!(eval(&b, "__import__('math').floor(2.5)").unwrap(), Term::Int(2));
    // The erlang types exist per interpreter.
    assert_eq!(eval(&a, "__import__('erlang').Pid.__name__").unwrap(), Term::bin(b"Pid"));
}

#[test]
fn interrupt_stops_a_busy_task_and_the_context_stays_usable() {
    for mode in [Mode::Worker, Mode::OwnGil] {
        if mode == Mode::OwnGil && !py_core::owngil_supported() {
            continue;
        }
        let ctx = context(mode);
        let (started_tx, started_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let seq = ctx
            .submit_fn(move |w| {
                started_tx.send(()).unwrap();
                let r = w.exec(b"while True:\n    pass", None);
                done_tx.send(r.map_err(|e| e.class)).unwrap();
            })
            .unwrap();
        started_rx.recv().unwrap();
        // Interrupting another sequence number does nothing.
        assert!(!ctx.interrupt(Some(seq + 1000)));
        assert!(ctx.interrupt(Some(seq)));
        let r = done_rx.recv_timeout(Duration::from_secs(30)).expect("interrupted");
        assert_eq!(r, Err("KeyboardInterrupt".to_string()));
        assert_eq!(eval(&ctx, "1 + 1").unwrap(), Term::Int(2));
        assert!(!ctx.interrupt(Some(seq)), "that task is over");
    }
}

struct Reply(mpsc::Sender<&'static str>);

impl Task for Reply {
    fn run(self: Box<Self>, _w: &Worker) {
        let _ = self.0.send("ran");
    }
    fn cancel(self: Box<Self>) {
        let _ = self.0.send("cancelled");
    }
}

#[test]
fn stopping_cancels_queued_tasks_and_refuses_new_ones() {
    let ctx = context(Mode::Worker);
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (tx, rx) = mpsc::channel();
    // Hold the thread so the next tasks stay queued while we stop.
    let hold = tx.clone();
    let (started_tx, started_rx) = mpsc::channel();
    ctx.submit_fn(move |_| {
        started_tx.send(()).unwrap();
        gate_rx.recv().unwrap();
        hold.send("held").unwrap();
    })
    .unwrap();
    started_rx.recv().unwrap();
    for _ in 0..3 {
        assert!(ctx.submit(Box::new(Reply(tx.clone()))).is_ok());
    }
    ctx.stop();
    assert!(ctx.submit(Box::new(Reply(tx.clone()))).is_err());
    gate_tx.send(()).unwrap();
    ctx.stop_and_join();
    drop(tx);
    let got: Vec<_> = rx.iter().collect();
    assert_eq!(got, vec!["held", "cancelled", "cancelled", "cancelled"]);
}

#[test]
fn many_owngil_contexts_come_and_go() {
    if !py_core::owngil_supported() {
        return;
    }
    for _ in 0..10 {
        let ctx = context(Mode::OwnGil);
        assert_eq!(eval(&ctx, "sum(range(10))").unwrap(), Term::Int(45));
        ctx.stop_and_join();
    }
}

/// Objects held past their task are released on a thread of their
/// interpreter when the holder is dropped anywhere.
#[test]
fn held_objects_are_released_by_their_interpreter() {
    let mut modes = vec![Mode::Worker];
    if py_core::owngil_supported() {
        modes.push(Mode::OwnGil);
    }
    for mode in modes {
        let ctx = context(mode);
        let held = on(&ctx, |w| {
            w.exec(b"import weakref\nclass Probe: pass\nprobe = Probe()\nprobe_ref = weakref.ref(probe)", None)
                .unwrap();
            let obj = w.eval(b"probe", None, None).unwrap();
            w.exec(b"del probe", None).unwrap();
            w.hold(obj)
        });
        assert_eq!(eval(&ctx, "probe_ref() is None").unwrap(), Term::atom("false"));
        // Using it needs the same interpreter.
        let same = on(&ctx, move |w| {
            let alive = held.get(w.py()).is_some();
            (alive, held)
        });
        assert!(same.0, "{mode:?}");
        // Dropped on this (test) thread: released by the interpreter's owner.
        drop(same.1);
        if mode == Mode::Worker {
            py_core::release::flush_main();
        }
        // Own-GIL contexts drain their release queue before the next task.
        assert_eq!(eval(&ctx, "probe_ref() is None").unwrap(), Term::atom("true"), "{mode:?}");
    }
}

#[test]
fn held_objects_refuse_other_interpreters() {
    if !py_core::owngil_supported() {
        return;
    }
    let a = context(Mode::OwnGil);
    let b = context(Mode::OwnGil);
    let held = on(&a, |w| {
        let o = w.eval(b"[1, 2]", None, None).unwrap();
        w.hold(o)
    });
    let (in_b, held) = on(&b, move |w| (held.get(w.py()).is_some(), held));
    assert!(!in_b);
    // Dropping it after its interpreter ended is harmless.
    a.stop_and_join();
    drop(held);
    assert_eq!(eval(&b, "1 + 1").unwrap(), Term::Int(2));
}

#[test]
fn stopping_interrupts_the_running_task() {
    let ctx = context(Mode::Worker);
    let (started_tx, started_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    ctx.submit_fn(move |w| {
        started_tx.send(()).unwrap();
        let r = w.exec(b"while True:\n    pass", None);
        done_tx.send(r.map_err(|e| e.class)).unwrap();
    })
    .unwrap();
    started_rx.recv().unwrap();
    ctx.stop_and_join();
    assert_eq!(done_rx.recv().unwrap(), Err("KeyboardInterrupt".to_string()));
}

/// Code that catches KeyboardInterrupt in a loop still ends when its
/// context is stopped (Python 3.12+: the terminator raises at every line).
#[test]
fn stopping_ends_code_that_swallows_interrupts() {
    let ctx = context(Mode::Worker);
    let (started_tx, started_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    ctx.submit_fn(move |w| {
        started_tx.send(()).unwrap();
        let r = w.exec(
            b"while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
            None,
        );
        done_tx.send(r.map_err(|e| e.class)).unwrap();
    })
    .unwrap();
    started_rx.recv().unwrap();
    let stopped = ctx.stop_and_wait(Duration::from_secs(10));
    if cfg!(Py_3_12) {
        assert!(stopped, "the terminator ends it");
        assert_eq!(done_rx.recv().unwrap(), Err("KeyboardInterrupt".to_string()));
        // The trace is gone: other contexts run untraced.
        let other = context(Mode::Worker);
        assert_eq!(eval(&other, "__import__('sys').gettrace() is None").unwrap(), Term::atom("true"));
    } else {
        assert!(!stopped, "3.11 cannot stop it, and says so");
    }
}

/// Code blocked in C cannot be stopped: `stop_and_wait` says so, and the
/// thread leaves once the code returns.
#[test]
fn stopping_reports_code_blocked_in_c() {
    let ctx = context(Mode::Worker);
    let (started_tx, started_rx) = mpsc::channel();
    ctx.submit_fn(move |w| {
        started_tx.send(()).unwrap();
        let _ = w.exec(b"import time\ntime.sleep(1.5)", None);
    })
    .unwrap();
    started_rx.recv().unwrap();
    assert!(!ctx.stop_and_wait(Duration::from_millis(300)));
    assert!(ctx.wait_ended(Duration::from_secs(30)));
    assert!(!ctx.is_doomed(), "the terminator is gone once the thread left");
}

/// An own-GIL interpreter is reused by the next own-GIL context, reset to
/// how it started.
#[test]
fn owngil_interpreters_are_reused_after_a_reset() {
    if !py_core::owngil_supported() {
        return;
    }
    let a = context(Mode::OwnGil);
    eval(&a, "0").unwrap();
    on(&a, |w| w.exec(b"import json, builtins\njson.marker = 1\nbuiltins.left_behind = 1", None)).unwrap();
    let id = a.interp_id();
    a.stop_and_join();
    // Other tests running meanwhile may take it first: keep what we get
    // until it comes back to us.
    let mut held = Vec::new();
    let b = loop {
        let c = context(Mode::OwnGil);
        if c.interp_id() == id {
            break c;
        }
        assert!(held.len() < 20, "the interpreter was not reused");
        held.push(c);
    };
    assert_eq!(
        eval(&b, "('json' in __import__('sys').modules, hasattr(__import__('builtins'), 'left_behind'))").unwrap(),
        Term::Tuple(vec![Term::atom("false"), Term::atom("false")])
    );
    b.stop_and_join();
    held.iter().for_each(Context::stop_and_join);
}
