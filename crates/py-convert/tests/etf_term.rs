//! The external-format path (`etf_to_py`, `py_to_etf`) against the model
//! path (`etf::decode` with `ModelSource`, `ModelSink` with `etf::encode`):
//! the same Python values, the same terms and bytes, the same errors, and
//! no panic on any input.

mod common;

use common::strategies::any_term;
use common::*;
use proptest::prelude::*;
use py_convert::etf::{self, DecodeError, MAX_DECODE_DEPTH};
use py_convert::model::{ModelSink, ModelSource, Term};
use py_convert::testing::{eval, identical, with_python};
use py_convert::{
    etf_to_py, py_to_etf, py_to_term, term_to_py, Attached, BigInt, ConvertError, ErlTypes, EtfSource, Limits, PyObj,
    TermSource, DEFAULT_MAX_DEPTH,
};

/// Converts `bytes` along both paths, checks they agree (validation
/// included: the same `DecodeError`), and returns the direct result.
fn check_decode(py: Attached<'_>, types: &ErlTypes, bytes: &[u8], limits: Limits) -> Result<PyObj, ConvertError> {
    let direct = etf_to_py(py, types, bytes, limits);
    let model = etf::decode(bytes);
    let validated = EtfSource::new(bytes).map(|_| ());
    assert_eq!(validated, model.as_ref().map(|_| ()).map_err(Clone::clone), "validation of {bytes:?}");
    let Ok(term) = model else {
        assert!(direct.is_err(), "{bytes:?} converted though it does not decode");
        return direct;
    };
    let via_model = term_to_py(py, types, &ModelSource, &term as *const Term, limits);
    match (&via_model, &direct) {
        (Ok(a), Ok(b)) => assert!(identical(py, a, b), "{bytes:?}: model {} direct {}", repr(a), repr(b)),
        (Err(a), Err(b)) => assert_eq!(a, b, "{bytes:?}"),
        _ => panic!("{bytes:?}: model {via_model:?} direct {direct:?}"),
    }
    direct
}

/// `py_to_etf` against `ModelSink`: the same term (and, since both write
/// the canonical form, the bytes `etf::encode` writes), or the same error.
fn check_encode(py: Attached<'_>, types: &ErlTypes, obj: &PyObj, limits: Limits) -> Result<Vec<u8>, ConvertError> {
    let direct = py_to_etf(py, types, obj, limits);
    let mut sink = ModelSink::new();
    let model = py_to_term(py, types, &mut sink, obj, limits).map(|t| sink.take(t));
    match (&model, &direct) {
        (Ok(t), Ok(bytes)) => {
            assert_eq!(&etf::decode(bytes).expect("decodes"), t, "{}", repr(obj));
            assert_eq!(bytes, &etf::encode(t), "{}", repr(obj));
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "{}", repr(obj)),
        _ => panic!("{}: model {model:?} direct {direct:?}", repr(obj)),
    }
    direct
}

/// Checks both paths on `bytes`; the Python value is dropped while the GIL
/// is still held.
fn decode_both(bytes: &[u8]) -> Result<(), ConvertError> {
    with_python(|py, types| check_decode(py, types, bytes, Limits::default()).map(drop))
}

/// Checks both paths on `bytes` and that the result is `expected_expr`.
fn assert_etf_py(bytes: &[u8], expected_expr: &str) {
    with_python(|py, types| {
        let o = check_decode(py, types, bytes, Limits::default()).expect("converts");
        let expected = eval(py, expected_expr);
        assert!(identical(py, &o, &expected), "{bytes:?} became {} not {expected_expr}", repr(&o));
    })
}

/// Checks both paths on the Python value of `expr`; returns the bytes.
fn encode_both(expr: &str) -> Result<Vec<u8>, ConvertError> {
    with_python(|py, types| check_encode(py, types, &eval(py, expr), Limits::default()))
}

fn with_version(body: &[u8]) -> Vec<u8> {
    let mut v = vec![131];
    v.extend_from_slice(body);
    v
}

// ---- Raw encodings: forms `etf::encode` never writes but OTP does ----

fn atom_bytes(name: &[u8], tag: u8) -> Vec<u8> {
    let mut v = vec![tag];
    if tag == 100 || tag == 118 {
        v.extend_from_slice(&(name.len() as u16).to_be_bytes());
    } else {
        v.push(name.len() as u8);
    }
    v.extend_from_slice(name);
    v
}

fn raw_atom() -> impl Strategy<Value = Vec<u8>> {
    let text = prop_oneof![
        prop::sample::select(vec![
            "true",
            "false",
            "none",
            "nil",
            "undefined",
            "bytes",
            "nan",
            "infinity",
            "neg_infinity",
            "nonode@nohost"
        ])
        .prop_map(String::from),
        "[a-zé日]{0,8}",
    ];
    let any_tag = prop::sample::select(vec![100u8, 115, 118, 119]);
    // Any bytes are a Latin-1 name; only the UTF-8 tags need valid text.
    let latin1 = (prop::collection::vec(any::<u8>(), 0..8), prop::sample::select(vec![100u8, 115]));
    prop_oneof![
        (text, any_tag).prop_map(|(t, tag)| atom_bytes(t.as_bytes(), tag)),
        latin1.prop_map(|(n, tag)| atom_bytes(&n, tag)),
    ]
}

fn node() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![100u8, 115, 118, 119]).prop_map(|tag| atom_bytes(b"nonode@nohost", tag))
}

fn raw_leaf() -> impl Strategy<Value = Vec<u8>> {
    let bytes = |n| prop::collection::vec(any::<u8>(), 0..n);
    prop_oneof![
        any::<u8>().prop_map(|b| vec![97, b]),
        any::<i32>().prop_map(|i| [&[98][..], &i.to_be_bytes()].concat()),
        (any::<bool>(), bytes(12)).prop_map(|(s, m)| [&[110, m.len() as u8, s as u8][..], &m].concat()),
        (any::<bool>(), bytes(12))
            .prop_map(|(s, m)| [&[111][..], &(m.len() as u32).to_be_bytes(), &[s as u8], &m].concat()),
        any::<u64>().prop_map(|b| [&[70][..], &b.to_be_bytes()].concat()),
        any::<f64>().prop_map(|f| {
            let mut text = format!("{f:.20e}").into_bytes();
            text.resize(31, 0);
            [&[99][..], &text].concat()
        }),
        raw_atom(),
        bytes(12).prop_map(|b| [&[109][..], &(b.len() as u32).to_be_bytes(), &b].concat()),
        "[a-zé日]{0,8}".prop_map(|s| [&[109][..], &(s.len() as u32).to_be_bytes(), s.as_bytes()].concat()),
        (prop::collection::vec(any::<u8>(), 1..4), 1u8..=8).prop_map(|(b, bits)| [
            &[77][..],
            &(b.len() as u32).to_be_bytes(),
            &[bits],
            &b
        ]
        .concat()),
        Just(vec![106]),
        bytes(10).prop_map(|b| [&[107][..], &(b.len() as u16).to_be_bytes(), &b].concat()),
        (node(), any::<[u8; 12]>()).prop_map(|(n, rest)| [&[88][..], &n, &rest].concat()),
        (node(), any::<[u8; 9]>()).prop_map(|(n, rest)| [&[103][..], &n, &rest].concat()),
        (node(), 0u16..=3, any::<[u8; 16]>()).prop_map(|(n, words, rest)| {
            [&[90][..], &words.to_be_bytes(), &n, &rest[..4 + 4 * words as usize]].concat()
        }),
        (node(), 0u16..=3, any::<[u8; 13]>()).prop_map(|(n, words, rest)| {
            [&[114][..], &words.to_be_bytes(), &n, &rest[..1 + 4 * words as usize]].concat()
        }),
        (node(), any::<[u8; 5]>()).prop_map(|(n, rest)| [&[101][..], &n, &rest].concat()),
        (node(), any::<[u8; 12]>(), prop::sample::select(vec![(89u8, 8usize), (102, 5), (120, 12)]))
            .prop_map(|(n, rest, (tag, len))| [&[tag][..], &n, &rest[..len]].concat()),
        (node(), node()).prop_map(|(m, f)| [&[113][..], &m, &f, &[97, 2]].concat()),
        bytes(8).prop_map(|b| [&[112][..], &(b.len() as u32 + 4).to_be_bytes(), &b].concat()),
    ]
}

/// A valid term in any encoding the decoder accepts.
fn raw_term() -> impl Strategy<Value = Vec<u8>> {
    raw_leaf().prop_recursive(5, 96, 6, |inner| {
        let nil_tail = prop_oneof![
            Just(vec![106]),
            Just(vec![107, 0, 0]),
            Just(vec![108, 0, 0, 0, 0, 106]),
            Just(vec![108, 0, 0, 0, 0, 107, 0, 0]),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| [&[104, v.len() as u8][..], &v.concat()].concat()),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| [
                &[105][..],
                &(v.len() as u32).to_be_bytes(),
                &v.concat()
            ]
            .concat()),
            (prop::collection::vec(inner.clone(), 0..6), prop_oneof![nil_tail, inner.clone()]).prop_map(|(v, tail)| [
                &[108][..],
                &(v.len() as u32).to_be_bytes(),
                &v.concat(),
                &tail
            ]
            .concat()),
            prop::collection::vec((inner.clone(), inner.clone()), 0..5).prop_map(|pairs| {
                let body: Vec<u8> = pairs.iter().flat_map(|(k, v)| [k.as_slice(), v.as_slice()].concat()).collect();
                [&[116][..], &(pairs.len() as u32).to_be_bytes(), &body].concat()
            }),
            inner.prop_map(|b| [&[104, 2][..], &atom_bytes(b"bytes", 119), &b].concat()),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encoded_model_terms_convert_alike(t in any_term()) {
        decode_both(&etf::encode(&t)).ok();
    }

    #[test]
    fn python_values_encode_alike(t in any_term()) {
        with_python(|py, types| {
            if let Ok(o) = to_py(py, types, &t) {
                check_encode(py, types, &o, Limits::default()).expect("what reached Python goes back");
            }
        });
    }

    #[test]
    fn raw_encodings_convert_alike(body in raw_term()) {
        prop_assert!(EtfSource::new(&with_version(&body)).is_ok());
        with_python(|py, types| {
            if let Ok(o) = check_decode(py, types, &with_version(&body), Limits::default()) {
                check_encode(py, types, &o, Limits::default()).expect("what reached Python goes back");
            }
        });
    }

    #[test]
    fn damaged_encodings_fail_alike(
        body in raw_term(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = with_version(&body);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        decode_both(&bytes).ok();
        decode_both(&bytes[..cut.index(bytes.len())]).ok();
    }

    #[test]
    fn arbitrary_bytes_fail_alike(bytes in prop::collection::vec(any::<u8>(), 0..48)) {
        decode_both(&with_version(&bytes)).ok();
        decode_both(&bytes).ok();
    }
}

// ---- Erlang -> Python ----

#[test]
fn integers_in_every_encoding() {
    assert_etf_py(&[131, 97, 255], "255");
    assert_etf_py(&[131, 98, 255, 255, 255, 255], "-1");
    assert_etf_py(&[131, 98, 128, 0, 0, 0], "-2**31");
    // SMALL_BIG with high zero bytes, and a negative zero.
    assert_etf_py(&[131, 110, 3, 0, 5, 0, 0], "5");
    assert_etf_py(&[131, 110, 2, 1, 0, 0], "0");
    assert_etf_py(&[131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128], "-2**63");
    assert_etf_py(&[131, 110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 128], "2**63");
    assert_etf_py(&[131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 255], "2**64-1");
    assert_etf_py(&[131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "2**64");
    assert_etf_py(&[131, 111, 0, 0, 0, 1, 0, 7], "7");
    let mut big = vec![131, 111, 0, 0, 3, 233, 1];
    big.extend(std::iter::repeat_n(0, 1000));
    big.push(1);
    assert_etf_py(&big, "-2**8000");
}

#[test]
fn floats_in_every_encoding() {
    assert_etf_py(&with_version(&[&[70][..], &(-0.0f64).to_be_bytes()].concat()), "-0.0");
    assert_etf_py(&with_version(&[&[70][..], &f64::MAX.to_be_bytes()].concat()), "1.7976931348623157e308");
    assert_etf_py(&with_version(&[&[70][..], &f64::NAN.to_be_bytes()].concat()), "float('nan')");
    let mut old = b"1.50000000000000000000e+00".to_vec();
    old.resize(31, 0);
    assert_etf_py(&with_version(&[&[99][..], &old].concat()), "1.5");
    let mut junk = b"1.5x".to_vec();
    junk.resize(31, 0);
    assert!(decode_both(&with_version(&[&[99][..], &junk].concat())).is_err());
}

#[test]
fn atoms_in_every_encoding() {
    for tag in [100, 115, 118, 119] {
        assert_etf_py(&with_version(&atom_bytes(b"true", tag)), "True");
        assert_etf_py(&with_version(&atom_bytes(b"undefined", tag)), "None");
        assert_etf_py(&with_version(&atom_bytes(b"infinity", tag)), "'infinity'");
        assert_etf_py(&with_version(&atom_bytes(b"", tag)), "''");
    }
    // Latin-1 names become text; the same bytes are not UTF-8.
    assert_etf_py(&with_version(&atom_bytes(b"h\xe9", 100)), "'hé'");
    assert_etf_py(&with_version(&atom_bytes("日".as_bytes(), 119)), "'日'");
    assert!(decode_both(&with_version(&atom_bytes(b"h\xe9", 119))).is_err());
    // 255 characters, not bytes, is the limit.
    assert_etf_py(&with_version(&atom_bytes("é".repeat(255).as_bytes(), 118)), "'é' * 255");
    assert!(decode_both(&with_version(&atom_bytes(&[b'a'; 256], 100))).is_err());
}

#[test]
fn binaries_text_bytes_and_bitstrings() {
    assert_etf_py(&[131, 109, 0, 0, 0, 2, b'h', b'i'], "'hi'");
    assert_etf_py(&[131, 109, 0, 0, 0, 0], "''");
    assert_etf_py(&[131, 109, 0, 0, 0, 1, 0xff], "b'\\xff'");
    let explicit = [&[131, 104, 2][..], &atom_bytes(b"bytes", 100), &[109, 0, 0, 0, 1, b'a']].concat();
    assert_etf_py(&explicit, "b'a'");
    assert_eq!(decode_both(&[131, 77, 0, 0, 0, 1, 3, 0xe0]).unwrap_err(), ConvertError::UnsupportedTerm("bitstring"));
}

#[test]
fn lists_in_every_encoding() {
    assert_etf_py(&[131, 106], "[]");
    assert_etf_py(&[131, 107, 0, 3, b'a', b'b', 0], "[97, 98, 0]");
    assert_etf_py(&[131, 107, 0, 0], "[]");
    assert_etf_py(&[131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 106], "[1, 2]");
    // Tails that decode to [] end a proper list, whatever their spelling.
    assert_etf_py(&[131, 108, 0, 0, 0, 0, 106], "[]");
    assert_etf_py(&[131, 108, 0, 0, 0, 1, 97, 1, 107, 0, 0], "[1]");
    assert_etf_py(&[131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 0, 107, 0, 0], "[1]");
    // Improper: [1 | 2], [1 | "ab"], [1 | [2]] spelled as a tail, [| 2].
    let improper = ConvertError::UnsupportedTerm("improper_list");
    assert_eq!(decode_both(&[131, 108, 0, 0, 0, 1, 97, 1, 97, 2]).unwrap_err(), improper);
    assert_eq!(decode_both(&[131, 108, 0, 0, 0, 1, 97, 1, 107, 0, 2, 1, 2]).unwrap_err(), improper);
    assert_eq!(decode_both(&[131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 106]).unwrap_err(), improper);
    assert_eq!(decode_both(&[131, 108, 0, 0, 0, 0, 97, 2]).unwrap_err(), improper);
    // An improper list nested in a proper one, and the other way round.
    assert_eq!(decode_both(&[131, 108, 0, 0, 0, 1, 108, 0, 0, 0, 1, 97, 1, 97, 2, 106]).unwrap_err(), improper);
    assert_eq!(decode_both(&[131, 108, 0, 0, 0, 1, 108, 0, 0, 0, 1, 97, 1, 106, 97, 2]).unwrap_err(), improper);
}

#[test]
fn tuples_and_maps_of_every_size() {
    assert_etf_py(&[131, 104, 0], "()");
    assert_etf_py(&[131, 105, 0, 0, 0, 1, 97, 1], "(1,)");
    let large: Vec<u8> = [&[131, 105, 0, 0, 1, 44][..], &[97, 7].repeat(300)].concat();
    assert_etf_py(&large, "(7,) * 300");
    assert_etf_py(&[131, 116, 0, 0, 0, 0], "{}");
    assert_etf_py(&[131, 116, 0, 0, 0, 1, 97, 1, 106], "{1: []}");
    let many = Term::Map((0..1000).map(|i| (Term::Int(i), Term::Tuple(vec![Term::Int(-i)]))).collect());
    assert_etf_py(&etf::encode(&many), "{i: (-i,) for i in range(1000)}");
    // A key repeated in the input: Python keeps the later value, both ways.
    assert_etf_py(&[131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 1, 97, 3], "{1: 3}");
    let nested = etf::encode(&Term::Map(vec![(
        Term::Tuple(vec![Term::Int(1), Term::bin(b"k")]),
        Term::Map(vec![(Term::atom("a"), Term::list(vec![Term::Map(vec![])]))]),
    )]));
    assert_etf_py(&nested, "{(1, 'k'): {'a': [{}]}}");
}

#[test]
fn pids_refs_ports_and_funs() {
    with_python(|py, types| {
        for bytes in [pid_etf(85, 0, 7), ref_etf([1, 2, 3], 7)] {
            let o = check_decode(py, types, &bytes, Limits::default()).unwrap();
            assert_eq!(check_encode(py, types, &o, Limits::default()).unwrap(), bytes);
        }
        let old_pid = [&[131, 103][..], &atom_bytes(b"nonode@nohost", 100), &[0, 0, 0, 9, 0, 0, 0, 0, 1]].concat();
        let o = check_decode(py, types, &old_pid, Limits::default()).unwrap();
        assert_eq!(repr(&o), "<erlang.Pid <nonode@nohost.9.0>>");
        let old_ref = [&[131, 101][..], &atom_bytes(b"n@h", 115), &[0, 0, 0, 1, 2]].concat();
        check_decode(py, types, &old_ref, Limits::default()).unwrap();
        let in_list = [&[131, 108, 0, 0, 0, 2][..], &old_ref[1..], &pid_etf(1, 2, 3)[1..], &[106]].concat();
        check_decode(py, types, &in_list, Limits::default()).unwrap();
    });
    let port = [&[131, 120][..], &atom_bytes(b"nonode@nohost", 119), &[0; 12]].concat();
    assert_eq!(decode_both(&port).unwrap_err(), ConvertError::UnsupportedTerm("port"));
    let export = [&[131, 113][..], &atom_bytes(b"lists", 119), &atom_bytes(b"map", 119), &[97, 2]].concat();
    assert_eq!(decode_both(&export).unwrap_err(), ConvertError::UnsupportedTerm("fun"));
    assert_eq!(decode_both(&[131, 112, 0, 0, 0, 6, 1, 2]).unwrap_err(), ConvertError::UnsupportedTerm("fun"));
    // term_to_binary([fun(X) -> X end, 1]) in an OTP 25 shell.
    let otp_fun: &[u8] = &[
        131, 108, 0, 0, 0, 2, 112, 0, 0, 0, 160, 1, 6, 83, 97, 170, 70, 21, 144, 209, 189, 241, 235, 98, 209, 166, 235,
        8, 0, 0, 0, 42, 0, 0, 0, 1, 100, 0, 8, 101, 114, 108, 95, 101, 118, 97, 108, 97, 42, 98, 0, 50, 155, 13, 88,
        100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0,
        104, 6, 97, 1, 106, 100, 0, 4, 110, 111, 110, 101, 100, 0, 4, 110, 111, 110, 101, 116, 0, 0, 0, 0, 108, 0, 0,
        0, 1, 104, 5, 100, 0, 6, 99, 108, 97, 117, 115, 101, 97, 1, 108, 0, 0, 0, 1, 104, 3, 100, 0, 3, 118, 97, 114,
        97, 1, 100, 0, 1, 88, 106, 106, 108, 0, 0, 0, 1, 104, 3, 100, 0, 3, 118, 97, 114, 97, 1, 100, 0, 1, 88, 106,
        106, 97, 1, 106,
    ];
    assert_eq!(decode_both(otp_fun).unwrap_err(), ConvertError::UnsupportedTerm("fun"));
}

fn nested_lists_etf(levels: usize) -> Vec<u8> {
    let mut v = vec![131];
    v.extend(std::iter::repeat_n([108, 0, 0, 0, 1], levels).flatten());
    v.extend_from_slice(&[97, 1]);
    v.extend(std::iter::repeat_n(106, levels));
    v
}

#[test]
fn nesting_at_and_over_the_limits() {
    let too_deep = ConvertError::NestingTooDeep(DEFAULT_MAX_DEPTH);
    assert!(decode_both(&nested_lists_etf(DEFAULT_MAX_DEPTH)).is_ok());
    assert_eq!(decode_both(&nested_lists_etf(DEFAULT_MAX_DEPTH + 1)).unwrap_err(), too_deep);
    // Deeper than the decoder follows: a decode error on the model path, the
    // limit that was broken here.
    assert_eq!(etf::decode(&nested_lists_etf(MAX_DECODE_DEPTH + 1)).unwrap_err(), DecodeError::TooDeep);
    assert!(etf::decode(&nested_lists_etf(MAX_DECODE_DEPTH)).is_ok());
    assert_eq!(decode_both(&nested_lists_etf(MAX_DECODE_DEPTH + 1)).unwrap_err(), too_deep);
    // Conversion itself recurses that deep: unoptimised frames need more
    // than a test thread's stack.
    let deep = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            with_python(|py, types| {
                let limits = Limits::with_max_depth(1000);
                assert!(check_decode(py, types, &nested_lists_etf(MAX_DECODE_DEPTH), limits).is_ok());
                assert_eq!(
                    check_decode(py, types, &nested_lists_etf(100_000), limits).unwrap_err(),
                    ConvertError::NestingTooDeep(MAX_DECODE_DEPTH)
                );
            })
        })
        .unwrap();
    deep.join().unwrap();
}

#[test]
fn malformed_input_is_an_error_never_a_panic() {
    assert_eq!(EtfSource::new(&[]).err(), Some(DecodeError::Truncated));
    assert_eq!(EtfSource::new(&[130, 106]).err(), Some(DecodeError::BadVersion));
    assert_eq!(EtfSource::new(&[131, 106, 106]).err(), Some(DecodeError::TrailingBytes));
    assert_eq!(EtfSource::new(&[131, 117]).err(), Some(DecodeError::UnknownTag(117)));
    assert_eq!(EtfSource::new(&[131, 108, 255, 255, 255, 255]).err(), Some(DecodeError::Truncated));
    assert_eq!(EtfSource::new(&[131, 116, 255, 255, 255, 255]).err(), Some(DecodeError::Truncated));
    assert_eq!(
        decode_both(&[131, 106, 0]).unwrap_err(),
        ConvertError::BadTerm("external term format: bytes after the term")
    );
    // Every prefix of a term using each kind of element.
    let t = Term::Tuple(vec![
        Term::atom("ok"),
        Term::Map(vec![(Term::bin(b"k"), Term::list(vec![Term::Int(-70000), Term::Float(2.5)]))]),
        Term::from_big(BigInt { negative: true, magnitude: vec![1; 20] }),
        Term::Pid(pid_etf(1, 2, 3)),
        Term::Ref(ref_etf([4, 5, 6], 7)),
    ]);
    let full = etf::encode(&t);
    for cut in 0..full.len() {
        assert!(decode_both(&full[..cut]).is_err(), "prefix of {cut} bytes");
    }
    assert!(decode_both(&full).is_ok());
}

#[test]
fn source_accessors_answer_like_the_model() {
    let bytes = etf::encode(&Term::Tuple(vec![
        Term::Int(-5),
        Term::from_big(BigInt { negative: false, magnitude: u64::MAX.to_le_bytes().to_vec() }),
        Term::from_big(BigInt { negative: true, magnitude: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 3] }),
        Term::atom("x"),
    ]));
    let (src, root) = EtfSource::new(&bytes).unwrap();
    let m = etf::decode(&bytes).unwrap();
    let model: Vec<*const Term> = ModelSource.tuple_elems(&m as *const Term).collect();
    let direct: Vec<_> = src.tuple_elems(root).collect();
    assert_eq!(src.tuple_len(root), 4);
    for (&a, &b) in model.iter().zip(&direct) {
        assert_eq!(ModelSource.kind(a), src.kind(b));
        assert_eq!(ModelSource.int64(a), src.int64(b));
        assert_eq!(ModelSource.uint64(a), src.uint64(b));
        assert_eq!(ModelSource.big_int(a).ok(), src.big_int(b).ok());
        assert_eq!(ModelSource.known_atom(a), src.known_atom(b));
        assert_eq!(ModelSource.float(a), src.float(b));
        assert_eq!(ModelSource.binary(a), src.binary(b));
        assert_eq!(ModelSource.list_len(a), src.list_len(b));
        assert_eq!(ModelSource.external_form(a), src.external_form(b));
    }
    // Elements of a STRING_EXT are integers like any other.
    let (src, root) = EtfSource::new(&[131, 107, 0, 2, 0, 200]).unwrap();
    let elems: Vec<_> = src.list_elems(root).map(|e| (src.int64(e), src.big_int(e).unwrap())).collect();
    assert_eq!(elems[1], (Some(200), BigInt { negative: false, magnitude: vec![200] }));
    assert_eq!(elems[0], (Some(0), BigInt { negative: false, magnitude: vec![] }));
}

// ---- Python -> Erlang ----

#[test]
fn python_leaves_encode_like_the_model() {
    for expr in [
        "None",
        "True",
        "'abc'",
        "''",
        "'é日本'",
        "b'\\xff'",
        "bytearray(b'ab')",
        "0",
        "255",
        "256",
        "-1",
        "2**31-1",
        "-2**31",
        "2**31",
        "2**63-1",
        "-2**63",
        "2**63",
        "2**64-1",
        "-2**64",
        "2**2100",
        "-2**2100",
        "__import__('enum').IntEnum('E', 'A B').B",
        "2.5",
        "-0.0",
        "float('nan')",
        "float('inf')",
        "float('-inf')",
    ] {
        encode_both(expr).unwrap();
    }
    assert_eq!(encode_both("7").unwrap(), [131, 97, 7]);
    assert_eq!(encode_both("None").unwrap(), [131, 119, 4, b'n', b'o', b'n', b'e']);
    assert!(matches!(encode_both("'\\ud800'"), Err(ConvertError::UnicodeEncode(_))));
}

#[test]
fn python_containers_encode_like_the_model() {
    for expr in [
        "[]",
        "()",
        "{}",
        "[1, (2, 'x'), {'a': [None]}]",
        "{3}",
        "frozenset()",
        "[[[]]]",
        "[[1, 2], [3, [4, (5,)]], {}]",
        "(1,) * 300",
        "list(range(1000))",
        "[bytes(100), [bytes(100)], ([bytes(100)], bytes(3))]",
        "{i: [str(i)] * (i % 3) for i in range(100)}",
        "{(1, 'a'): [1], (2, ('b', ())): 2}",
        "__import__('collections').OrderedDict(a=1)",
        "__import__('collections').namedtuple('P', 'x y')(1, 2)",
        "__import__('functools').reduce(lambda a, _: [a, bytes(70)], range(150), 1)",
        "__import__('functools').reduce(lambda a, _: (a,), range(150), 'x' * 100)",
    ] {
        encode_both(expr).unwrap();
    }
}

#[test]
fn colliding_keys_keep_the_first_place_and_the_later_value() {
    // Distinct in Python, equal as Erlang terms: small and large maps, flat
    // and nested keys.
    let bytes = encode_both("{'a': 1, 'b': 2, b'a': 3}").unwrap();
    assert_eq!(
        etf::decode(&bytes).unwrap(),
        Term::Map(vec![(Term::bin(b"a"), Term::Int(3)), (Term::bin(b"b"), Term::Int(2))])
    );
    encode_both("{('k', 'x' * 100): 1, 2: 2, ('k', b'x' * 100): 3}").unwrap();
    encode_both("{**{str(i): i for i in range(20)}, **{str(i).encode(): -i for i in range(0, 20, 3)}}").unwrap();
    encode_both(
        "{**{(str(i), 'y' * 80): i for i in range(20)}, **{(str(i).encode(), b'y' * 80): -i for i in range(5)}}",
    )
    .unwrap();
    encode_both("{**{(str(i), (i,)): i for i in range(20)}, **{(str(i).encode(), (i,)): -i for i in range(5)}}")
        .unwrap();
}

#[test]
fn python_pids_atoms_and_errors() {
    with_python(|py, types| {
        let a = types.new_atom(py, "hello").unwrap();
        assert_eq!(
            check_encode(py, types, &a, Limits::default()).unwrap(),
            [131, 119, 5, b'h', b'e', b'l', b'l', b'o']
        );
        let long = types.new_atom(py, &"é".repeat(200)).unwrap();
        let bytes = check_encode(py, types, &long, Limits::default()).unwrap();
        assert_eq!(&bytes[..4], &[131, 118, 1, 144]);
        let too_long = types.new_atom(py, &"a".repeat(256)).unwrap();
        check_encode(py, types, &too_long, Limits::default()).unwrap_err();
        let o = eval(py, "__import__('datetime').date(2024, 1, 2)");
        assert_eq!(
            check_encode(py, types, &o, Limits::default()).unwrap_err(),
            ConvertError::Opaque { type_name: "date".into() }
        );
        let nest = |n: usize| format!("__import__('functools').reduce(lambda a, _: [a], range({n}), 1)");
        check_encode(py, types, &eval(py, &nest(DEFAULT_MAX_DEPTH)), Limits::default()).unwrap();
        assert_eq!(
            check_encode(py, types, &eval(py, &nest(DEFAULT_MAX_DEPTH + 1)), Limits::default()).unwrap_err(),
            ConvertError::NestingTooDeep(DEFAULT_MAX_DEPTH)
        );
    });
}

/// The bytes are what OTP reads: each is fed to `binary_to_term/1` and the
/// result's own `term_to_binary/1` decodes to the same model term.
#[test]
fn erlang_reads_what_the_sink_writes() {
    let Ok(erl) = which("erl") else {
        eprintln!("erl not found; skipping the check against binary_to_term/1");
        return;
    };
    let exprs = [
        "[1, (2, 'x'), {'a': [None, True, False]}, b'\\xff', 2**70, -2**70, 2**2100, 2.5, -0.0]",
        "{i: (str(i), [i] * (i % 4)) for i in range(50)}",
        "{'a': 1, b'a': 2, ('t', 'x' * 80): 3, ('t', b'x' * 80): 4}",
        "(1,) * 300",
        "[float('nan'), float('inf'), -2**63, 2**64 - 1, 256, -1]",
        "__import__('functools').reduce(lambda a, _: [a, bytes(70)], range(100), 1)",
    ];
    let (encoded, terms): (Vec<Vec<u8>>, Vec<Term>) = with_python(|py, types| {
        let mut out = (Vec::new(), Vec::new());
        for e in exprs {
            let bytes = check_encode(py, types, &eval(py, e), Limits::default()).unwrap();
            out.1.push(etf::decode(&bytes).unwrap());
            let atom = types.new_atom(py, "état").unwrap();
            out.0.push(bytes);
            out.0.push(check_encode(py, types, &atom, Limits::default()).unwrap());
            out.1.push(Term::atom("état"));
        }
        out
    });
    let dir = std::env::temp_dir().join(format!("py_convert_etf_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.etf");
    let output = dir.join("out.etf");
    // One external-format list of binaries in, one list of re-encoded terms out.
    std::fs::write(&input, etf::encode(&Term::list(encoded.into_iter().map(Term::Binary).collect()))).unwrap();
    let script = format!(
        "try {{ok, B}} = file:read_file(\"{}\"), \
           Out = [term_to_binary(binary_to_term(X)) || X <- binary_to_term(B)], \
           ok = file:write_file(\"{}\", term_to_binary(Out)), halt(0) \
         catch C:R -> io:format(\"~p:~p~n\", [C, R]), halt(1) end.",
        input.display(),
        output.display()
    );
    let status = std::process::Command::new(erl).args(["-noshell", "-eval", &script]).status().unwrap();
    assert!(status.success(), "erl refused the bytes");
    let back = etf::decode(&std::fs::read(&output).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let Term::List(items, None) = back else { panic!("{back:?}") };
    assert_eq!(items.len(), terms.len());
    for (item, expected) in items.iter().zip(&terms) {
        let Term::Binary(b) = item else { panic!("{item:?}") };
        assert_eq!(&etf::decode(b).unwrap(), expected);
    }
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).ok_or(())
}
