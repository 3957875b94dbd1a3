//! The event loop without a BEAM: it runs on context threads (worker and
//! own-GIL) exactly as in the VM, with a test sink for tasks submitted
//! "from Erlang". Timers, cancellation, readers, TCP, UDP and Unix sockets,
//! serving the context's requests while the loop runs, the blocking sleep.

use std::sync::mpsc;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use py_convert::model::{ModelSink, Term};
use py_convert::{py_to_term, Attached, PyErrInfo, PyObj};
use py_core::{Context, ContextOptions, Mode, RuntimeConfig, Worker};
use py_eventloop::{TaskOutcome, TaskSink};

/// Outcomes of tasks started with `_start_task` (token, text), and a
/// condition signalled on each.
type Outcomes = (Mutex<Vec<(u64, String)>>, Condvar);

fn outcomes() -> &'static Outcomes {
    static OUT: OnceLock<Outcomes> = OnceLock::new();
    OUT.get_or_init(Default::default)
}

/// Waits for the outcome of task `token`.
fn outcome_of(token: u64) -> String {
    let (lock, changed) = outcomes();
    let mut all = lock.lock().unwrap();
    loop {
        if let Some((_, o)) = all.iter().find(|(t, _)| *t == token) {
            return o.clone();
        }
        let (next, timeout) = changed.wait_timeout(all, Duration::from_secs(30)).unwrap();
        assert!(!timeout.timed_out(), "no outcome for task {token}");
        all = next;
    }
}

struct RecordingSink;

impl TaskSink for RecordingSink {
    fn done(&self, py: Attached<'_>, token: u64, outcome: TaskOutcome<'_>) {
        let text = match outcome {
            TaskOutcome::Value(v) => format!("ok:{}", v.type_name()),
            TaskOutcome::Raised(e) => format!("raised:{}", PyErrInfo::from_exception(py, e, false).class),
            TaskOutcome::Cancelled => "cancelled".to_string(),
        };
        let (lock, changed) = outcomes();
        lock.lock().unwrap().push((token, text));
        changed.notify_all();
    }
}

fn start() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        py_eventloop::register();
        py_eventloop::set_task_sink(Box::new(RecordingSink));
        py_core::runtime::start(&RuntimeConfig::default()).expect("python starts");
    });
}

fn context(mode: Mode) -> Option<Context> {
    start();
    if mode == Mode::OwnGil && !py_core::owngil_supported() {
        return None;
    }
    Some(Context::start(ContextOptions { mode, ..Default::default() }).expect("context starts"))
}

fn to_term(w: &Worker, o: &PyObj) -> Term {
    let mut sink = ModelSink::new();
    let t = py_to_term(w.py(), w.types(), &mut sink, o, w.limits()).expect("convert");
    sink.take(t)
}

fn on<R: Send + 'static>(ctx: &Context, f: impl FnOnce(&Worker) -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    ctx.submit_fn(move |w| {
        let _ = tx.send(f(w));
    })
    .expect("submitted");
    rx.recv_timeout(Duration::from_secs(60)).expect("the task ran")
}

/// Runs `code` (which defines `main()`, a coroutine function) with
/// `erlang.run(main())` and returns the result.
fn run_main(ctx: &Context, code: &'static str) -> Result<Term, PyErrInfo> {
    on(ctx, move |w| {
        let ns = w.new_namespace()?;
        w.exec(code.as_bytes(), Some(&ns))?;
        let r = w.eval(b"erlang.run(main())", Some(&ns), None)?;
        Ok(to_term(w, &r))
    })
}

fn both_modes(test: impl Fn(&Context)) {
    for mode in [Mode::Worker, Mode::OwnGil] {
        if let Some(ctx) = context(mode) {
            test(&ctx);
        }
    }
}

#[test]
fn timers_fire_in_order_and_cancelled_ones_do_not() {
    both_modes(|ctx| {
        let r = run_main(
            ctx,
            "import asyncio\n\
             async def main():\n\
             \x20   loop = asyncio.get_running_loop()\n\
             \x20   order = []\n\
             \x20   done = loop.create_future()\n\
             \x20   for d in (0.03, 0.01, 0.02, 0.0):\n\
             \x20       loop.call_later(d, order.append, d)\n\
             \x20   h = loop.call_later(0.015, order.append, 'cancelled')\n\
             \x20   h.cancel()\n\
             \x20   loop.call_later(0.04, done.set_result, None)\n\
             \x20   await done\n\
             \x20   return (type(loop).__name__, order)\n",
        );
        assert_eq!(
            r.unwrap(),
            Term::Tuple(vec![
                Term::bin(b"ErlangEventLoop"),
                Term::List(vec![Term::Float(0.0), Term::Float(0.01), Term::Float(0.02), Term::Float(0.03)], None)
            ])
        );
    });
}

#[test]
fn task_cancellation_runs_finally_and_gather_collects() {
    both_modes(|ctx| {
        let r = run_main(
            ctx,
            "import asyncio\n\
             async def main():\n\
             \x20   seen = []\n\
             \x20   async def worker():\n\
             \x20       try:\n\
             \x20           await asyncio.sleep(10)\n\
             \x20       finally:\n\
             \x20           seen.append('finally')\n\
             \x20   t = asyncio.ensure_future(worker())\n\
             \x20   await asyncio.sleep(0)\n\
             \x20   t.cancel()\n\
             \x20   try:\n\
             \x20       await t\n\
             \x20   except asyncio.CancelledError:\n\
             \x20       seen.append('cancelled')\n\
             \x20   async def sq(i):\n\
             \x20       await asyncio.sleep(0.001)\n\
             \x20       return i * i\n\
             \x20   seen.append(await asyncio.gather(*(sq(i) for i in range(5))))\n\
             \x20   try:\n\
             \x20       await asyncio.wait_for(asyncio.sleep(10), 0.01)\n\
             \x20   except TimeoutError:\n\
             \x20       seen.append('timeout')\n\
             \x20   return seen\n",
        );
        let ints = |v: &[i64]| Term::List(v.iter().map(|i| Term::Int(*i)).collect(), None);
        assert_eq!(
            r.unwrap(),
            Term::List(
                vec![Term::bin(b"finally"), Term::bin(b"cancelled"), ints(&[0, 1, 4, 9, 16]), Term::bin(b"timeout")],
                None
            )
        );
    });
}

#[test]
fn readers_tcp_udp_and_unix_sockets() {
    both_modes(|ctx| {
        let r = run_main(
            ctx,
            "import asyncio, socket, os, tempfile\n\
             async def main():\n\
             \x20   loop = asyncio.get_running_loop()\n\
             \x20   out = []\n\
             \x20   a, b = socket.socketpair()\n\
             \x20   a.setblocking(False); b.setblocking(False)\n\
             \x20   got = loop.create_future()\n\
             \x20   loop.add_reader(a, lambda: got.set_result(a.recv(10)))\n\
             \x20   b.send(b'ping')\n\
             \x20   out.append(await got)\n\
             \x20   loop.remove_reader(a); a.close(); b.close()\n\
             \x20   async def echo(r, w):\n\
             \x20       while data := await r.read(65536):\n\
             \x20           w.write(data)\n\
             \x20           await w.drain()\n\
             \x20       w.close()\n\
             \x20   srv = await asyncio.start_server(echo, '127.0.0.1', 0)\n\
             \x20   port = srv.sockets[0].getsockname()[1]\n\
             \x20   r, w = await asyncio.open_connection('127.0.0.1', port)\n\
             \x20   total = 0\n\
             \x20   for i in range(100):\n\
             \x20       w.write(b'x' * 1024)\n\
             \x20       total += len(await r.readexactly(1024))\n\
             \x20   out.append(total)\n\
             \x20   w.close(); await w.wait_closed(); srv.close(); await srv.wait_closed()\n\
             \x20   class Echo(asyncio.DatagramProtocol):\n\
             \x20       def connection_made(self, t): self.t = t\n\
             \x20       def datagram_received(self, data, addr): self.t.sendto(data.upper(), addr)\n\
             \x20   class Client(asyncio.DatagramProtocol):\n\
             \x20       def __init__(self): self.reply = loop.create_future()\n\
             \x20       def datagram_received(self, data, addr): self.reply.set_result(data)\n\
             \x20   st, _ = await loop.create_datagram_endpoint(Echo, local_addr=('127.0.0.1', 0))\n\
             \x20   addr = st.get_extra_info('sockname')\n\
             \x20   ct, cp = await loop.create_datagram_endpoint(Client, remote_addr=addr)\n\
             \x20   ct.sendto(b'udp')\n\
             \x20   out.append(await cp.reply)\n\
             \x20   ct.close(); st.close()\n\
             \x20   path = os.path.join(tempfile.mkdtemp(), 's')\n\
             \x20   usrv = await asyncio.start_unix_server(echo, path)\n\
             \x20   ur, uw = await asyncio.open_unix_connection(path)\n\
             \x20   uw.write(b'unix')\n\
             \x20   out.append(await ur.readexactly(4))\n\
             \x20   uw.close(); await uw.wait_closed(); usrv.close(); await usrv.wait_closed()\n\
             \x20   return out\n",
        );
        assert_eq!(
            r.unwrap(),
            Term::List(vec![Term::bin(b"ping"), Term::Int(102_400), Term::bin(b"UDP"), Term::bin(b"unix")], None)
        );
    });
}

#[test]
fn the_context_serves_requests_while_its_loop_runs() {
    both_modes(|ctx| {
        // A long-running loop on the context (as py_event_loop runs one).
        let (tx, rx) = mpsc::channel();
        ctx.submit_fn(move |w| {
            let r = w.exec(b"import _erlang_loop\n_erlang_loop._run_worker_loop()", None);
            let _ = tx.send(r.map_err(|e| e.class));
        })
        .unwrap();
        // Ordinary requests still run, inside the loop's select, and see it.
        let running = on(ctx, |w| {
            w.eval(b"__import__('asyncio').get_running_loop().is_running()", None, None).map(|o| to_term(w, &o))
        });
        assert_eq!(running.unwrap(), Term::atom("true"));
        // A task submitted "from Erlang" runs on the loop; its outcome goes
        // to the sink.
        let base = if ctx.mode() == Mode::OwnGil { 100 } else { 0 };
        on(ctx, move |w| {
            let code = format!(
                "import asyncio, _erlang_loop\n\
                 async def slow_double(x):\n\
                 \x20   await asyncio.sleep(0.01)\n\
                 \x20   return x * 2\n\
                 def boom():\n\
                 \x20   raise ValueError('no')\n\
                 _erlang_loop._start_task(slow_double, (21,), None, {a})\n\
                 _erlang_loop._start_task(len, ('abc',), None, {b})\n\
                 _erlang_loop._start_task(boom, (), None, {c})\n",
                a = 7001 + base,
                b = 7002 + base,
                c = 7003 + base
            );
            w.exec(code.as_bytes(), None)
        })
        .unwrap();
        assert_eq!(outcome_of(7001 + base), "ok:int");
        assert_eq!(outcome_of(7002 + base), "ok:int");
        assert_eq!(outcome_of(7003 + base), "raised:ValueError");
        // Stopping the loop ends the long request normally; a task still
        // pending then is reported cancelled.
        on(ctx, move |w| {
            let code = format!(
                "import asyncio, _erlang_loop\n\
                 _erlang_loop._start_task(asyncio.sleep, (3600,), None, {})\n\
                 _erlang_loop._stop_worker_loop()",
                7004 + base
            );
            w.exec(code.as_bytes(), None)
        })
        .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), Ok(()));
        assert_eq!(outcome_of(7004 + base), "cancelled");
    });
}

#[test]
fn the_blocking_sleep_serves_requests_and_is_interruptible() {
    both_modes(|ctx| {
        let (tx, rx) = mpsc::channel();
        let seq = ctx
            .submit_fn(move |w| {
                let r = w.exec(b"erlang.sleep(3600)", None);
                let _ = tx.send(r.map_err(|e| e.class));
            })
            .unwrap();
        // The sleeping context still answers.
        let v = on(ctx, |w| w.eval(b"6 * 7", None, None).map(|o| to_term(w, &o)));
        assert_eq!(v.unwrap(), Term::Int(42));
        assert!(ctx.interrupt(Some(seq)));
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), Err("KeyboardInterrupt".to_string()));
    });
}

#[test]
fn subprocesses_and_signal_handlers_are_refused() {
    both_modes(|ctx| {
        let r = run_main(
            ctx,
            "import asyncio, signal\n\
             async def main():\n\
             \x20   out = []\n\
             \x20   try:\n\
             \x20       await asyncio.create_subprocess_exec('true')\n\
             \x20   except NotImplementedError as e:\n\
             \x20       out.append('ports' in str(e))\n\
             \x20   try:\n\
             \x20       asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, print)\n\
             \x20   except NotImplementedError:\n\
             \x20       out.append(True)\n\
             \x20   return out\n",
        );
        assert_eq!(r.unwrap(), Term::List(vec![Term::atom("true"), Term::atom("true")], None));
    });
}

#[test]
fn entry_points_and_mode_detection() {
    both_modes(|ctx| {
        let r = on(ctx, |w| {
            w.eval(
                b"(isinstance(erlang.new_event_loop(), erlang.ErlangEventLoop), \
                   erlang.detect_mode().name, \
                   isinstance(erlang.EventLoopPolicy().new_event_loop(), erlang.ErlangEventLoop))",
                None,
                None,
            )
            .map(|o| to_term(w, &o))
        })
        .unwrap();
        let Term::Tuple(items) = r else { panic!("a tuple") };
        assert_eq!(items[0], Term::atom("true"));
        let mode = if ctx.mode() == Mode::OwnGil { &b"SUBINTERP"[..] } else { &b"SHARED_GIL"[..] };
        assert_eq!(items[1], Term::bin(mode));
        assert_eq!(items[2], Term::atom("true"));
    });
}

/// A loop on a thread Python started (no context queue to serve): timers
/// never fire early and readers work, with the GIL
/// released while it waits (the context's loop keeps running meanwhile).
#[test]
fn a_loop_on_a_plain_python_thread() {
    both_modes(|ctx| {
        let r = run_main(
            ctx,
            "import asyncio, socket, threading, time\n\
             async def on_thread():\n\
             \x20   loop = asyncio.get_running_loop()\n\
             \x20   a, b = socket.socketpair()\n\
             \x20   got = loop.create_future()\n\
             \x20   loop.add_reader(a, lambda: got.set_result(a.recv(16)))\n\
             \x20   loop.call_later(0.002, b.send, b'ping')\n\
             \x20   started = time.monotonic()\n\
             \x20   data = await got\n\
             \x20   waited = time.monotonic() - started\n\
             \x20   loop.remove_reader(a)\n\
             \x20   a.close(); b.close()\n\
             \x20   return type(loop).__name__, data, waited >= 0.002\n\
             async def main():\n\
             \x20   out = []\n\
             \x20   t = threading.Thread(target=lambda: out.append(erlang.run(on_thread())))\n\
             \x20   t.start()\n\
             \x20   await asyncio.get_running_loop().run_in_executor(None, t.join)\n\
             \x20   return out[0]\n",
        );
        assert_eq!(
            r.unwrap(),
            Term::Tuple(vec![Term::bin(b"ErlangEventLoop"), Term::bin(b"ping"), Term::atom("true")])
        );
    });
}
