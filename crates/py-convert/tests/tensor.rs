//! Tensor terms: numpy arrays, `array.array` and memoryviews to
//! `{tensor, Type, Shape, Binary}` and back, bit-exact, with malformed
//! terms refused cleanly. Needs numpy on PYTHONPATH
//! (`source scripts/test-env.sh`).

mod common;

use common::*;
use proptest::prelude::*;
use py_convert::model::{ModelSink, ModelSource, Term};
use py_convert::tensor::{py_to_tensor_term, tensor_term_to_memoryview, tensor_term_to_py, TensorType};
use py_convert::testing::{eval, with_python};
use py_convert::{capi, etf, py_to_etf, py_to_term, term_to_py, ArrayMode, Attached, ConvertError, Limits, PyObj};

fn tensor(kind: &str, bits: i64, shape: &[i64], data: Vec<u8>) -> Term {
    Term::Tuple(vec![
        Term::atom("tensor"),
        Term::Tuple(vec![Term::atom(kind), Term::Int(bits)]),
        Term::Tuple(shape.iter().map(|&d| Term::Int(d)).collect()),
        Term::Binary(data),
    ])
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Evaluates `expr` with numpy imported as `np` (panics if it is missing).
fn np_eval(py: Attached<'_>, expr: &str) -> PyObj {
    let np = capi::import(py, c"numpy");
    assert!(np.is_some(), "numpy is needed: source scripts/test-env.sh");
    let f = eval(py, &format!("lambda np: {expr}"));
    capi::call1(py, &f, &np.unwrap()).unwrap_or_else(|| panic!("{expr} raised {:?}", py_convert::PyErrInfo::fetch(py)))
}

/// The tensor term of a Python value, `None` if it has none.
fn tensor_of(py: Attached<'_>, o: &PyObj) -> Option<Term> {
    let mut sink = ModelSink::new();
    py_to_tensor_term(py, o, &mut sink).expect("no error").map(|t| sink.take(t))
}

fn tensor_of_np(expr: &str) -> Option<Term> {
    with_python(|py, _| tensor_of(py, &np_eval(py, expr)))
}

/// `f(obj)` for a Python lambda `f`, converted back to a term.
fn inspect(py: Attached<'_>, types: &py_convert::ErlTypes, o: &PyObj, lambda: &str) -> Term {
    let f = eval(py, lambda);
    let r = capi::call1(py, &f, o).expect("inspect");
    from_py(py, types, &r).expect("inspect result converts")
}

#[test]
fn a_float32_matrix_becomes_one_binary() {
    let t = tensor_of_np("np.arange(6, dtype=np.float32).reshape(2, 3)");
    assert_eq!(t, Some(tensor("f", 32, &[2, 3], f32s(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]))));
}

#[test]
fn every_numpy_dtype_maps_to_its_type() {
    for (dtype, kind, bits) in [
        ("float16", "f", 16),
        ("float32", "f", 32),
        ("float64", "f", 64),
        ("int8", "s", 8),
        ("int16", "s", 16),
        ("int32", "s", 32),
        ("int64", "s", 64),
        ("uint8", "u", 8),
        ("uint16", "u", 16),
        ("uint32", "u", 32),
        ("uint64", "u", 64),
        ("intc", "s", 32),
        ("longlong", "s", 64),
        ("ulonglong", "u", 64),
        ("intp", "s", 64),
    ] {
        let t = tensor_of_np(&format!("np.zeros((2,), dtype=np.{dtype})"));
        assert_eq!(t, Some(tensor(kind, bits, &[2], vec![0; 2 * bits as usize / 8])), "{dtype}");
    }
}

#[test]
fn unsupported_arrays_keep_their_other_path() {
    for expr in [
        "np.array([1, 'a'], dtype=object)",
        "np.array([True, False])",
        "np.array([1.0], dtype='>f4')",
        "np.array([1+2j])",
        "np.array(['ab'])",
        "np.zeros(2, dtype=[('a', 'i4'), ('b', 'f4')])",
        "np.array(['2024-01-01'], dtype='datetime64[D]')",
        "[1.0, 2.0]",
        "object()",
    ] {
        assert_eq!(tensor_of_np(expr), None, "{expr}");
    }
}

#[test]
fn non_contiguous_arrays_are_gathered_in_row_major_order() {
    for expr in [
        "np.arange(24, dtype=np.int32).reshape(4, 6)[:, ::2]",
        "np.arange(24, dtype=np.int32).reshape(4, 6)[::-1, 1:5]",
        "np.asfortranarray(np.arange(24, dtype=np.int32).reshape(4, 6))",
        "np.arange(24, dtype=np.int32).reshape(2, 3, 4).transpose(2, 0, 1)",
        "np.arange(24, dtype=np.int32)[::5]",
        "memoryview(np.arange(24, dtype=np.int32).reshape(4, 6))[::2]",
    ] {
        with_python(|py, types| {
            let a = np_eval(py, expr);
            let etf_bytes = py_to_etf(py, types, &a, Limits::default().with_arrays(ArrayMode::Tensor)).expect("ETF");
            assert_eq!(Some(etf::decode(&etf_bytes).expect("decodes")), tensor_of(py, &a), "ETF sink: {expr}");
            let expected = np_eval(py, &format!("(lambda a: (a.shape, np.ascontiguousarray(a).tobytes()))({expr})"));
            let t = tensor_of(py, &a).expect("a tensor");
            let Term::Tuple(parts) = t else { panic!("not a tuple") };
            let shape = capi::tuple_item(&expected, 0).unwrap();
            let bytes = capi::bytes_like(py, &capi::tuple_item(&expected, 1).unwrap()).unwrap();
            let dims: Vec<Term> = capi::tuple_items(py, &shape)
                .unwrap()
                .iter()
                .map(|d| Term::Int(capi::int_arg(py, d).unwrap()))
                .collect();
            assert_eq!(parts[2], Term::Tuple(dims), "{expr}");
            assert_eq!(parts[3], Term::Binary(bytes), "{expr}");
        })
    }
}

#[test]
fn array_array_memoryview_and_bytes_export_their_buffers() {
    with_python(|py, _| {
        let a = eval(py, "__import__('array').array('d', [1.5, -2.0])");
        let bytes: Vec<u8> = [1.5f64, -2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(tensor_of(py, &a), Some(tensor("f", 64, &[2], bytes)));
        let a = eval(py, "__import__('array').array('l', [-1, 7])");
        let bytes: Vec<u8> = [-1i64, 7].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(tensor_of(py, &a), Some(tensor("s", 64, &[2], bytes)));
        let a = eval(py, "__import__('array').array('H', [1, 65535])");
        assert_eq!(tensor_of(py, &a), Some(tensor("u", 16, &[2], vec![1, 0, 255, 255])));
        let m = eval(py, "memoryview(bytes(range(8))).cast('i', (2, 1))");
        assert_eq!(tensor_of(py, &m), Some(tensor("s", 32, &[2, 1], (0..8).collect())));
        let b = eval(py, "b'abc'");
        assert_eq!(tensor_of(py, &b), Some(tensor("u", 8, &[3], b"abc".to_vec())));
        assert_eq!(tensor_of(py, &eval(py, "__import__('array').array('u', 'ab')")), None);
    })
}

#[test]
fn array_and_dlpack_protocols_go_through_numpy() {
    with_python(|py, _| {
        let with_array = np_eval(
            py,
            "type('A', (), {'__array__': lambda self, dtype=None, copy=None: np.arange(3, dtype=np.uint8)})()",
        );
        assert_eq!(tensor_of(py, &with_array), Some(tensor("u", 8, &[3], vec![0, 1, 2])));
        let with_dlpack = np_eval(
            py,
            "(lambda a: type('D', (), {'__dlpack__': lambda self, **kw: a.__dlpack__(**kw), \
             '__dlpack_device__': lambda self: a.__dlpack_device__()})())(np.arange(4, dtype=np.int16).reshape(2, 2))",
        );
        assert_eq!(tensor_of(py, &with_dlpack), Some(tensor("s", 16, &[2, 2], vec![0, 0, 1, 0, 2, 0, 3, 0])));
        let raising = np_eval(py, "type('R', (), {'__array__': lambda self, *a, **k: 1 / 0})()");
        assert_eq!(tensor_of(py, &raising), None);
        assert!(!capi::error_occurred(py), "no error left set");
    })
}

#[test]
fn numpy_scalars_are_rank_zero_when_asked_directly() {
    let t = tensor_of_np("np.float32(1.5)");
    assert_eq!(t, Some(tensor("f", 32, &[], f32s(&[1.5]))));
    let t = tensor_of_np("np.array(7, dtype=np.int8)");
    assert_eq!(t, Some(tensor("s", 8, &[], vec![7])));
}

const NESTED: &str = "{'emb': np.arange(3, dtype=np.float32), 'score': np.float32(0.5), \
                      'rows': [np.zeros((1, 2), dtype=np.uint8)], 'raw': b'xy', 'mv': memoryview(b'ab'), \
                      'obj': np.array([None]), 'n': 3}";

#[test]
fn tensor_mode_converts_arrays_anywhere_in_a_value() {
    with_python(|py, types| {
        let o = np_eval(py, NESTED);
        let mut sink = ModelSink::new();
        let limits = Limits::default().with_arrays(ArrayMode::Tensor);
        let t = py_to_term(py, types, &mut sink, &o, limits).expect("converts");
        let t = sink.take(t);
        let expected = Term::Map(vec![
            (Term::bin(b"emb"), tensor("f", 32, &[3], f32s(&[0.0, 1.0, 2.0]))),
            (Term::bin(b"score"), Term::Float(0.5)),
            (Term::bin(b"rows"), Term::list(vec![tensor("u", 8, &[1, 2], vec![0, 0])])),
            (Term::bin(b"raw"), Term::bin(b"xy")),
            (Term::bin(b"mv"), tensor("u", 8, &[2], b"ab".to_vec())),
            (Term::bin(b"obj"), Term::list(vec![Term::atom("none")])),
            (Term::bin(b"n"), Term::Int(3)),
        ]);
        assert_eq!(t, expected);
        // A buffer exporter that is no array keeps its path.
        let mmap = eval(py, "__import__('mmap').mmap(-1, 4)");
        let mut sink = ModelSink::new();
        let r = py_to_term(py, types, &mut sink, &mmap, limits);
        assert!(matches!(r, Err(ConvertError::Opaque { .. })), "{r:?}");
        // The external-format sink builds the same term.
        let bytes = py_to_etf(py, types, &o, limits).expect("converts to ETF");
        assert_eq!(etf::decode(&bytes).expect("decodes"), expected);
    })
}

#[test]
fn the_default_mode_still_makes_lists() {
    with_python(|py, types| {
        let o = np_eval(py, "{'emb': np.arange(3, dtype=np.float32), 'm': np.eye(2, dtype=np.int64)}");
        let t = from_py(py, types, &o).expect("converts");
        let expected = Term::Map(vec![
            (Term::bin(b"emb"), Term::list(vec![Term::Float(0.0), Term::Float(1.0), Term::Float(2.0)])),
            (
                Term::bin(b"m"),
                Term::list(vec![
                    Term::list(vec![Term::Int(1), Term::Int(0)]),
                    Term::list(vec![Term::Int(0), Term::Int(1)]),
                ]),
            ),
        ]);
        assert_eq!(t, expected);
        // A memoryview stays opaque, as before.
        let m = eval(py, "memoryview(b'ab')");
        assert!(matches!(from_py(py, types, &m), Err(ConvertError::Opaque { .. })));
    })
}

#[test]
fn a_tensor_term_becomes_a_read_only_numpy_array() {
    with_python(|py, types| {
        let t = tensor("f", 32, &[2, 2], f32s(&[1.0, -0.0, f32::INFINITY, 2.5]));
        let o = to_py(py, types, &t).expect("converts");
        let seen = inspect(
            py,
            types,
            &o,
            "lambda a: (type(a).__name__, str(a.dtype), a.shape, a.flags.writeable, a.tobytes())",
        );
        let expected = Term::Tuple(vec![
            Term::bin(b"ndarray"),
            Term::bin(b"float32"),
            Term::Tuple(vec![Term::Int(2), Term::Int(2)]),
            Term::atom("false"),
            Term::Binary(f32s(&[1.0, -0.0, f32::INFINITY, 2.5])),
        ]);
        assert_eq!(seen, expected);
        let scalar = to_py(py, types, &tensor("u", 16, &[], vec![1, 2])).expect("rank 0");
        let seen = inspect(py, types, &scalar, "lambda a: (a.shape, int(a))");
        assert_eq!(seen, Term::Tuple(vec![Term::Tuple(vec![]), Term::Int(0x0201)]));
        let empty = to_py(py, types, &tensor("s", 64, &[3, 0, 2], vec![])).expect("zero size");
        let seen = inspect(py, types, &empty, "lambda a: (str(a.dtype), a.shape)");
        assert_eq!(
            seen,
            Term::Tuple(vec![Term::bin(b"int64"), Term::Tuple(vec![Term::Int(3), Term::Int(0), Term::Int(2)])])
        );
    })
}

#[test]
fn without_numpy_a_tensor_term_is_a_memoryview() {
    with_python(|py, types| {
        let lambda = "lambda m: (type(m).__name__, m.format, m.shape, m.tobytes())";
        let view = |t: &Term| tensor_term_to_memoryview(py, &ModelSource, t as *const Term).expect("a tensor");
        let t = tensor("s", 32, &[2, 1], (0..8).collect());
        let seen = inspect(py, types, &view(&t).expect("converts"), lambda);
        let expected = Term::Tuple(vec![
            Term::bin(b"memoryview"),
            Term::bin(b"i"),
            Term::Tuple(vec![Term::Int(2), Term::Int(1)]),
            Term::Binary((0..8).collect()),
        ]);
        assert_eq!(seen, expected);
        // And back, the same term.
        assert_eq!(tensor_of(py, &view(&t).unwrap()), Some(t));
        let t = tensor("f", 16, &[], vec![0, 0x3c]);
        assert_eq!(tensor_of(py, &view(&t).unwrap()), Some(t));
        let t = tensor("u", 8, &[2, 0], vec![]);
        let seen = inspect(py, types, &view(&t).expect("converts"), lambda);
        let expected = Term::Tuple(vec![
            Term::bin(b"memoryview"),
            Term::bin(b"B"),
            Term::Tuple(vec![Term::Int(0)]),
            Term::bin(b""),
        ]);
        assert_eq!(seen, expected, "a zero-size view stays flat");
        assert!(matches!(view(&tensor("bf", 16, &[1], vec![0, 0])), Err(ConvertError::BadTerm(_))));
    })
}

#[test]
fn bfloat16_without_ml_dtypes_is_a_clean_error() {
    with_python(|py, types| {
        let r = to_py(py, types, &tensor("bf", 16, &[2], vec![0x80, 0x3f, 0, 0]));
        match r {
            Ok(o) => assert_eq!(inspect(py, types, &o, "lambda a: str(a.dtype)"), Term::bin(b"bfloat16")),
            Err(e) => assert!(matches!(e, ConvertError::BadTerm(_)), "{e:?}"),
        }
        assert!(!capi::error_occurred(py));
    })
}

#[test]
fn malformed_tensor_terms_are_refused() {
    let huge = 1i64 << 40;
    let cases: Vec<(Term, &str)> = vec![
        (tensor("f", 32, &[2], vec![0; 4]), "size mismatch"),
        (tensor("f", 32, &[1], vec![0; 5]), "size mismatch"),
        (tensor("u", 8, &[0], vec![1]), "zero size with data"),
        (tensor("f", 32, &[-1], vec![]), "negative dim"),
        (tensor("u", 8, &[huge, huge, huge], vec![]), "overflow"),
        (tensor("f", 64, &[i64::MAX, 2], vec![]), "overflow"),
        (tensor("f", 64, &[1 << 61], vec![]), "bytes overflow"),
        (tensor("u", 8, &vec![1; 65], vec![0]), "rank 65"),
        (
            Term::Tuple(vec![
                Term::atom("tensor"),
                Term::Tuple(vec![Term::atom("u"), Term::Int(8)]),
                Term::list(vec![Term::Int(1)]),
                Term::bin(b"a"),
            ]),
            "shape as a list",
        ),
        (
            Term::Tuple(vec![
                Term::atom("tensor"),
                Term::Tuple(vec![Term::atom("u"), Term::Int(8)]),
                Term::Tuple(vec![Term::Float(1.0)]),
                Term::bin(b"a"),
            ]),
            "float dim",
        ),
        (
            Term::Tuple(vec![
                Term::atom("tensor"),
                Term::Tuple(vec![Term::atom("u"), Term::Int(8)]),
                Term::Tuple(vec![Term::from_big(py_convert::BigInt { negative: false, magnitude: vec![1; 12] })]),
                Term::bin(b"a"),
            ]),
            "bignum dim",
        ),
        (
            Term::Tuple(vec![
                Term::atom("tensor"),
                Term::Tuple(vec![Term::atom("u"), Term::Int(8)]),
                Term::Tuple(vec![Term::Int(1)]),
                Term::list(vec![Term::Int(1)]),
            ]),
            "data not a binary",
        ),
        (
            Term::Tuple(vec![
                Term::atom("tensor"),
                Term::Tuple(vec![Term::atom("u"), Term::Int(8)]),
                Term::Tuple(vec![Term::Int(1)]),
                Term::BitBinary(vec![1], 3),
            ]),
            "bitstring data",
        ),
    ];
    with_python(|py, types| {
        for (t, what) in &cases {
            match to_py(py, types, t) {
                Err(ConvertError::BadTerm(_)) => {}
                other => panic!("{what}: {other:?}"),
            }
            let direct = tensor_term_to_py(py, &ModelSource, t as *const Term);
            assert!(matches!(direct, Some(Err(ConvertError::BadTerm(_)))), "{what}");
            // The external-format source refuses it the same way.
            let bytes = etf::encode(t);
            assert!(matches!(
                py_convert::etf_to_py(py, types, &bytes, Limits::default()),
                Err(ConvertError::BadTerm(_))
            ));
            assert!(!capi::error_occurred(py));
        }
    })
}

#[test]
fn other_tensor_tagged_tuples_stay_tuples() {
    for t in [
        tensor("f", 8, &[1], vec![0]),
        tensor("c", 64, &[1], vec![0; 8]),
        Term::Tuple(vec![Term::atom("tensor"), Term::atom("f32"), Term::Tuple(vec![]), Term::bin(b"abcd")]),
        Term::Tuple(vec![
            Term::bin(b"tensor"),
            Term::Tuple(vec![Term::atom("u"), Term::Int(8)]),
            Term::Tuple(vec![]),
            Term::bin(b"a"),
        ]),
        Term::Tuple(vec![Term::atom("tensor"), Term::Tuple(vec![Term::atom("u"), Term::Int(8)]), Term::Tuple(vec![])]),
    ] {
        with_python(|py, types| {
            let o = to_py(py, types, &t).expect("converts as a tuple");
            assert!(capi::is_exact_tuple(&o), "{t:?}");
        })
    }
}

/// Values that must survive bit for bit, per type.
fn special_bytes(ty: TensorType) -> Vec<u8> {
    match ty {
        TensorType::F32 => {
            [f32::NAN, f32::from_bits(0x7fc0_1234), f32::from_bits(0xffa0_0001), -0.0, f32::MIN, f32::MAX]
                .iter()
                .flat_map(|x| x.to_bits().to_le_bytes())
                .collect()
        }
        TensorType::F64 => {
            [f64::from_bits(0x7ff8_0000_dead_beef), f64::from_bits(0x7ff0_0000_0000_0001), -0.0, f64::MIN_POSITIVE]
                .iter()
                .flat_map(|x| x.to_bits().to_le_bytes())
                .collect()
        }
        TensorType::F16 => [0x7e01u16, 0xfc01, 0x8000, 0x7bff].iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorType::S64 => [i64::MIN, i64::MAX, -1].iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorType::U64 => [u64::MAX, 0, 1 << 63].iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorType::S32 => [i32::MIN, i32::MAX].iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorType::U32 => [u32::MAX, 0].iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorType::S16 => [i16::MIN, i16::MAX].iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorType::U16 => [u16::MAX, 0].iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorType::S8 => vec![0x80, 0x7f],
        TensorType::U8 => vec![0xff, 0],
        TensorType::BF16 => vec![0x80, 0x3f],
    }
}

#[test]
fn special_values_round_trip_bit_exact() {
    with_python(|py, types| {
        for ty in TensorType::ALL.into_iter().filter(|t| *t != TensorType::BF16) {
            let data = special_bytes(ty);
            let n = (data.len() / ty.size()) as i64;
            let t = tensor(ty.kind(), ty.bits().into(), &[n], data);
            let o = to_py(py, types, &t).expect("converts");
            assert_eq!(tensor_of(py, &o).as_ref(), Some(&t), "{ty:?} through numpy");
            let m = tensor_term_to_memoryview(py, &ModelSource, &t as *const Term).unwrap().expect("memoryview");
            assert_eq!(tensor_of(py, &m).as_ref(), Some(&t), "{ty:?} through memoryview");
        }
    })
}

fn tensor_types() -> impl Strategy<Value = TensorType> {
    prop::sample::select(TensorType::ALL.into_iter().filter(|t| *t != TensorType::BF16).collect::<Vec<_>>())
}

fn random_tensor() -> impl Strategy<Value = (TensorType, Vec<i64>, Vec<u8>)> {
    (tensor_types(), prop::collection::vec(0i64..5, 0..=4)).prop_flat_map(|(ty, shape)| {
        let n = shape.iter().product::<i64>() as usize * ty.size();
        (Just(ty), Just(shape), prop::collection::vec(any::<u8>(), n))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_tensors_round_trip_bit_exact((ty, shape, data) in random_tensor()) {
        let t = tensor(ty.kind(), ty.bits().into(), &shape, data);
        with_python(|py, types| {
            let o = term_to_py(py, types, &ModelSource, &t as *const Term, Limits::default()).expect("converts");
            let mut sink = ModelSink::new();
            let tensor_mode = Limits::default().with_arrays(ArrayMode::Tensor);
            let back = py_to_term(py, types, &mut sink, &o, tensor_mode).expect("converts back");
            assert_eq!(sink.take(back), t.clone(), "through numpy and tensor mode");
            let bytes = py_to_etf(py, types, &o, tensor_mode).expect("converts to ETF");
            assert_eq!(etf::decode(&bytes).expect("decodes"), t.clone(), "through the ETF sink");
            if !shape.contains(&0) {
                let m = tensor_term_to_memoryview(py, &ModelSource, &t as *const Term).unwrap().expect("memoryview");
                assert_eq!(tensor_of(py, &m), Some(t.clone()), "through a memoryview");
            }
        });
    }
}
