//! Arrays crossing as tensor terms against the list path, through the
//! model term source and sink (no BEAM):
//!
//! * `tensor_python_to_erlang/{case}/{tensor,lists}`: a numpy array to
//!   `{tensor, Type, Shape, Binary}` (`ArrayMode::Tensor`) or to nested
//!   lists (the default `tolist()` path).
//! * `tensor_erlang_to_python/{case}/{tensor,lists}`: the tensor term to a
//!   numpy array, or the same numbers as nested lists to Python lists.
//!
//! Cases: a 1000 x 384 float32 matrix (a batch of embeddings), one
//! 384-float32 embedding, a 224 x 224 x 3 uint8 image. Needs numpy on
//! PYTHONPATH (`source scripts/test-env.sh`); without it the benches say so
//! and measure nothing.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use py_convert::model::{ModelSink, ModelSource, Term};
use py_convert::testing::{eval, with_python};
use py_convert::{capi, py_to_term, term_to_py, ArrayMode, Limits};

struct Case {
    name: &'static str,
    /// A Python expression for the array, with numpy as `np`.
    expr: &'static str,
}

const CASES: [Case; 3] = [
    Case {
        name: "matrix_1000x384_f32",
        expr: "np.random.default_rng(1).standard_normal((1000, 384), dtype=np.float32)",
    },
    Case { name: "vector_384_f32", expr: "np.random.default_rng(2).standard_normal(384, dtype=np.float32)" },
    Case {
        name: "image_224x224x3_u8",
        expr: "np.random.default_rng(3).integers(0, 256, (224, 224, 3), dtype=np.uint8)",
    },
];

fn has_numpy() -> bool {
    with_python(|py, _| {
        let ok = capi::import(py, c"numpy").is_some();
        if !ok {
            capi::clear_error(py);
            eprintln!("tensor benches: numpy does not import (source scripts/test-env.sh); skipped");
        }
        ok
    })
}

fn array(py: py_convert::Attached<'_>, expr: &str) -> py_convert::PyObj {
    let np = capi::import(py, c"numpy").expect("numpy");
    capi::call1(py, &eval(py, &format!("lambda np: {expr}")), &np).expect("array")
}

/// The array's tensor term and its list term.
fn terms(expr: &str) -> (Term, Term) {
    with_python(|py, types| {
        let a = array(py, expr);
        let mut sink = ModelSink::new();
        let t = py_to_term(py, types, &mut sink, &a, Limits::default().with_arrays(ArrayMode::Tensor)).unwrap();
        let tensor = sink.take(t);
        let l = py_to_term(py, types, &mut sink, &a, Limits::default()).unwrap();
        (tensor, sink.take(l))
    })
}

fn python_to_erlang(c: &mut Criterion) {
    if !has_numpy() {
        return;
    }
    let mut g = c.benchmark_group("tensor_python_to_erlang");
    for case in &CASES {
        for (mode, label) in [(ArrayMode::Tensor, "tensor"), (ArrayMode::Lists, "lists")] {
            g.bench_function(format!("{}/{label}", case.name), |b| {
                with_python(|py, types| {
                    let a = array(py, case.expr);
                    let limits = Limits::default().with_arrays(mode);
                    let mut sink = ModelSink::new();
                    b.iter(|| {
                        let t = py_to_term(py, types, &mut sink, &a, limits).unwrap();
                        sink.take(t)
                    })
                })
            });
        }
    }
    g.finish();
}

fn erlang_to_python(c: &mut Criterion) {
    if !has_numpy() {
        return;
    }
    let mut g = c.benchmark_group("tensor_erlang_to_python");
    for case in &CASES {
        let (tensor, lists) = terms(case.expr);
        if let Term::Tuple(parts) = &tensor {
            if let Term::Binary(b) = &parts[3] {
                g.throughput(Throughput::Bytes(b.len() as u64));
            }
        }
        for (term, label) in [(&tensor, "tensor"), (&lists, "lists")] {
            g.bench_function(format!("{}/{label}", case.name), |b| {
                with_python(|py, types| {
                    b.iter(|| term_to_py(py, types, &ModelSource, term as *const Term, Limits::default()).unwrap())
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, python_to_erlang, erlang_to_python);
criterion_main!(benches);
