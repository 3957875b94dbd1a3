//! Conversion costs without a BEAM, through the model term source and sink:
//! Erlang -> Python, Python -> Erlang, and the external-term-format route
//! used for results holding large maps.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use py_benches::{binary, binary_key_map, int_list, json_like};
use py_convert::model::{ModelSink, ModelSource, Term};
use py_convert::testing::with_python;
use py_convert::{etf, py_to_term, term_to_py, Limits};

fn cases() -> Vec<(&'static str, Term, u64)> {
    vec![
        ("list_100k_ints", int_list(100_000), 100_000),
        ("map_10k_binary_keys", binary_key_map(10_000), 10_000),
        ("binary_1MiB", binary(1 << 20), 1 << 20),
        ("json_like_doc", json_like(), 1),
    ]
}

fn erlang_to_python(c: &mut Criterion) {
    let mut g = c.benchmark_group("erlang_to_python");
    for (name, term, n) in cases() {
        g.throughput(if matches!(term, Term::Binary(_)) { Throughput::Bytes(n) } else { Throughput::Elements(n) });
        g.bench_function(name, |b| {
            with_python(|py, types| {
                b.iter(|| term_to_py(py, types, &ModelSource, &term as *const Term, Limits::default()).unwrap())
            })
        });
    }
    g.finish();
}

fn python_to_erlang(c: &mut Criterion) {
    let mut g = c.benchmark_group("python_to_erlang");
    for (name, term, n) in cases() {
        g.throughput(if matches!(term, Term::Binary(_)) { Throughput::Bytes(n) } else { Throughput::Elements(n) });
        g.bench_function(name, |b| {
            with_python(|py, types| {
                let obj = term_to_py(py, types, &ModelSource, &term as *const Term, Limits::default()).unwrap();
                let mut sink = ModelSink::new();
                b.iter(|| {
                    let t = py_to_term(py, types, &mut sink, &obj, Limits::default()).unwrap();
                    sink.take(t)
                })
            })
        });
    }
    g.finish();
}

fn python_to_external_format(c: &mut Criterion) {
    let mut g = c.benchmark_group("python_to_external_format");
    let term = binary_key_map(10_000);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("map_10k_binary_keys", |b| {
        with_python(|py, types| {
            let obj = term_to_py(py, types, &ModelSource, &term as *const Term, Limits::default()).unwrap();
            let mut sink = ModelSink::new();
            b.iter(|| {
                let t = py_to_term(py, types, &mut sink, &obj, Limits::default()).unwrap();
                etf::encode(&sink.take(t))
            })
        })
    });
    g.finish();
}

criterion_group!(benches, erlang_to_python, python_to_erlang, python_to_external_format);
criterion_main!(benches);
