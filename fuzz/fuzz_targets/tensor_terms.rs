//! Tensor terms built from arbitrary bytes: tag, type, shape and data each
//! picked from valid and hostile choices (negative, huge and bignum
//! dimensions, sizes that overflow, data that does not match, bitstrings).
//!
//! Whatever the input: no panic, no crash, no over-read; a term with a
//! valid tag and type either converts or is refused with `BadTerm`, along
//! the model path and the external-format path alike; one that converts
//! comes back, with `ArrayMode::Tensor`, as exactly the same term.
#![no_main]

use libfuzzer_sys::fuzz_target;
use py_convert::model::{ModelSink, ModelSource, Term};
use py_convert::tensor::parse_tensor_term;
use py_convert::testing::with_python;
use py_convert::{etf, etf_to_py, py_to_term, term_to_py, ArrayMode, BigInt, ConvertError, Limits};

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }
}

fn dim(b: &mut Bytes<'_>) -> Term {
    match b.byte() % 8 {
        0..=3 => Term::Int(i64::from(b.byte() % 6)),
        4 => Term::Int(-i64::from(b.byte())),
        5 => Term::Int(b.i64()),
        6 => Term::from_big(BigInt { negative: b.byte() % 2 == 0, magnitude: vec![b.byte() | 1; 9] }),
        _ => Term::Float(f64::from(b.byte())),
    }
}

fn build(b: &mut Bytes<'_>) -> Term {
    let tag = match b.byte() % 4 {
        0 => Term::bin(b"tensor"),
        1 => Term::atom("tensors"),
        _ => Term::atom("tensor"),
    };
    let kind = ["f", "s", "u", "bf", "c"][usize::from(b.byte() % 5)];
    let bits = [8, 16, 32, 64, 0, -16, 1 << 40][usize::from(b.byte() % 7)];
    let ty = match b.byte() % 8 {
        0 => Term::atom(kind),
        _ => Term::Tuple(vec![Term::atom(kind), Term::Int(bits)]),
    };
    let rank = match b.byte() % 16 {
        15 => 65,
        r => usize::from(r % 5),
    };
    let dims: Vec<Term> = (0..rank).map(|_| dim(b)).collect();
    let shape = match b.byte() % 8 {
        0 => Term::list(dims),
        _ => Term::Tuple(dims),
    };
    let rest = b.0.to_vec();
    let data = match b.byte() % 8 {
        0 => Term::BitBinary(if rest.is_empty() { vec![0] } else { rest }, 5),
        1 => Term::Int(1),
        _ => Term::Binary(rest),
    };
    let mut parts = vec![tag, ty, shape, data];
    if b.byte() % 16 == 0 {
        parts.pop();
    }
    Term::Tuple(parts)
}

fuzz_target!(|data: &[u8]| {
    let term = build(&mut Bytes(data));
    with_python(|py, types| {
        let limits = Limits::default().with_arrays(ArrayMode::Tensor);
        let parsed = parse_tensor_term(&ModelSource, &term as *const Term);
        let model = term_to_py(py, types, &ModelSource, &term as *const Term, limits);
        let direct = etf_to_py(py, types, &etf::encode(&term), limits);
        assert_eq!(model.as_ref().err(), direct.as_ref().err(), "the paths failed differently");
        match (&parsed, &model) {
            (Some(Err(e)), Err(m)) => assert_eq!(e, m),
            (Some(Err(e)), Ok(_)) => panic!("a malformed tensor converted: {e:?}"),
            (Some(Ok(_)), Err(e)) => assert!(matches!(e, ConvertError::BadTerm(_)), "{e:?}"),
            (Some(Ok(parts)), Ok(obj)) => {
                let mut sink = ModelSink::new();
                let back = py_to_term(py, types, &mut sink, obj, limits).expect("a tensor converts back");
                let back = sink.take(back);
                // A memoryview (numpy missing) with a zero in its shape is flat.
                if !parts.shape.contains(&0) || obj.type_name() == "ndarray" {
                    assert_eq!(back, term, "the tensor did not round-trip");
                }
            }
            (None, _) => {}
        }
    });
});
