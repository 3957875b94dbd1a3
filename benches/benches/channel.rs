//! Channel and shared-dict costs without a BEAM:
//!
//! * `queue_send_recv/{0,1000,100000}_queued` — one `Queue::send` of a
//!   40-byte item and one `try_recv`, with that many items already queued
//!   (the level stays constant). The cost must not grow with the backlog.
//! * `shared_dict/{get,set}_10k_keys` — `SharedDict::get` and `set`
//!   (overwrite) of a ~50-byte value with 10 000 keys present; `set`
//!   includes copying the value into a fresh `Vec`, as the NIF hands one
//!   over.
//! * `channel_term/{etf_to_py,py_to_etf}` — the conversion a channel or
//!   shared dict does on the Python side, of the external form of
//!   `{msg, 12345, <<"0123456789abcdef0123456789abcdef">>}`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use py_channel::{Queue, SharedDict};
use py_convert::model::Term;
use py_convert::testing::with_python;
use py_convert::{etf, etf_to_py, py_to_etf, Limits};

const ITEM: [u8; 40] = [7; 40];

fn queue_send_recv(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_send_recv");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    for queued in [0usize, 1_000, 100_000] {
        let queue = Queue::new(0);
        for _ in 0..queued {
            queue.send(ITEM.to_vec()).unwrap();
        }
        g.bench_with_input(BenchmarkId::new("queued", queued), &queue, |b, queue| {
            b.iter(|| {
                queue.send(ITEM.to_vec()).unwrap();
                queue.try_recv().unwrap()
            })
        });
        assert_eq!(queue.info().len, queued, "the level stayed constant");
    }
    g.finish();
}

fn shared_dict(c: &mut Criterion) {
    let mut g = c.benchmark_group("shared_dict");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let value: Vec<u8> = (0..50u8).map(|i| b'a' + i % 26).collect();
    let dict = SharedDict::new();
    for i in 0..10_000 {
        dict.set(format!("key_{i}").into_bytes(), value.clone()).unwrap();
    }
    let key = b"key_4242";
    g.bench_function("get_10k_keys", |b| b.iter(|| dict.get(key).unwrap().unwrap()));
    g.bench_function("set_10k_keys", |b| b.iter(|| dict.set(key.to_vec(), value.clone()).unwrap()));
    assert_eq!(dict.len(), Ok(10_000));
    g.finish();
}

fn channel_term(c: &mut Criterion) {
    let mut g = c.benchmark_group("channel_term");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let term = Term::Tuple(vec![Term::atom("msg"), Term::Int(12345), Term::bin(b"0123456789abcdef0123456789abcdef")]);
    let bytes = etf::encode(&term);
    g.bench_function("etf_to_py", |b| {
        with_python(|py, types| b.iter(|| etf_to_py(py, types, &bytes, Limits::default()).unwrap()))
    });
    g.bench_function("py_to_etf", |b| {
        with_python(|py, types| {
            let obj = etf_to_py(py, types, &bytes, Limits::default()).unwrap();
            b.iter(|| py_to_etf(py, types, &obj, Limits::default()).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, queue_send_recv, shared_dict, channel_term);
criterion_main!(benches);
