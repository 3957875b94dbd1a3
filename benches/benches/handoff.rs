//! Handing a request to a context thread and getting the answer back,
//! without a BEAM: the cost under every `py:call` besides conversion.
//!
//! * `mailbox_ping_pong` — the queue and wake-up alone, between two threads.
//! * `context_round_trip` — a task on a context thread (GIL taken and
//!   released as in production) that only answers.
//! * `context_math_sqrt` — the same task resolving and calling `math.sqrt`.

use std::sync::Arc;
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion};
use py_core::handoff::Mailbox;
use py_core::{Context, ContextOptions, RuntimeConfig};

fn mailbox_ping_pong(c: &mut Criterion) {
    let to_peer = Arc::new(Mailbox::<u64>::default());
    let back = Arc::new(Mailbox::<u64>::default());
    back.bind_consumer();
    let peer = {
        let (to_peer, back) = (to_peer.clone(), back.clone());
        thread::spawn(move || {
            to_peer.bind_consumer();
            while let Some(v) = to_peer.wait() {
                back.push(v + 1).unwrap();
            }
        })
    };
    c.bench_function("mailbox_ping_pong", |b| {
        b.iter(|| {
            to_peer.push(1).unwrap();
            back.wait().unwrap()
        })
    });
    to_peer.close();
    peer.join().unwrap();
}

fn context(c: &mut Criterion) {
    py_core::runtime::start(&RuntimeConfig::default()).expect("python starts");
    let ctx = Context::start(ContextOptions::default()).expect("context starts");
    let back = Arc::new(Mailbox::<f64>::default());
    back.bind_consumer();
    c.bench_function("context_round_trip", |b| {
        b.iter(|| {
            let reply = back.clone();
            ctx.submit_fn(move |_w| reply.push(1.0).unwrap()).unwrap();
            back.wait().unwrap()
        })
    });
    c.bench_function("context_math_sqrt", |b| {
        b.iter(|| {
            let reply = back.clone();
            ctx.submit_fn(move |w| {
                let f = w.resolve(b"math", b"sqrt", None).unwrap();
                let arg = w.eval(b"2.0", None, None).unwrap();
                let r = w.call(&f, &[arg], None).unwrap();
                // SAFETY: attached on the context thread; `r` is a float.
                let v = unsafe { pyo3_ffi::PyFloat_AsDouble(r.as_ptr()) };
                reply.push(v).unwrap()
            })
            .unwrap();
            back.wait().unwrap()
        })
    });
    ctx.stop_and_join();
}

criterion_group!(benches, mailbox_ping_pong, context);
criterion_main!(benches);
