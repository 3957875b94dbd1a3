//! Properties: Erlang -> Python -> Erlang is the identity on the
//! round-trippable subset of terms, the codec round-trips, and no input of
//! any shape makes conversion panic.

mod common;

use common::*;
use proptest::prelude::*;
use py_convert::etf;
use py_convert::model::Term;
use py_convert::testing::with_python;
use py_convert::BigInt;

fn big_int() -> impl Strategy<Value = Term> {
    (any::<bool>(), prop::collection::vec(any::<u8>(), 9..40)).prop_map(|(negative, mut magnitude)| {
        *magnitude.last_mut().unwrap() |= 1;
        Term::from_big(BigInt { negative, magnitude })
    })
}

fn finite_float() -> impl Strategy<Value = Term> {
    any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Term::Float)
}

fn pid() -> impl Strategy<Value = Term> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(i, s, c)| Term::Pid(pid_etf(i, s, c)))
}

fn reference() -> impl Strategy<Value = Term> {
    (any::<[u32; 3]>(), any::<u32>()).prop_map(|(w, c)| Term::Ref(ref_etf(w, c)))
}

/// Terms whose Python form comes back as the same term.
fn round_trippable() -> impl Strategy<Value = Term> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Term::Int),
        big_int(),
        finite_float(),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Term::Binary),
        "[a-zé日]{0,12}".prop_map(|s| Term::Binary(s.into_bytes())),
        prop_oneof![Just("true"), Just("false"), Just("none")].prop_map(Term::atom),
        pid(),
        reference(),
    ];
    leaf.prop_recursive(6, 256, 8, |inner| {
        // Keys that stay distinct in Python (no floats or booleans, which
        // Python would merge with equal ints).
        let key =
            prop_oneof![any::<i64>().prop_map(Term::Int), "[a-z]{0,6}".prop_map(|s| Term::Binary(s.into_bytes())),];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Term::list),
            prop::collection::vec(inner.clone(), 0..8).prop_map(Term::Tuple),
            prop::collection::vec((key, inner), 0..8).prop_map(|pairs| {
                let mut seen = Vec::new();
                Term::Map(
                    pairs
                        .into_iter()
                        .filter(|(k, _)| {
                            let fresh = !seen.contains(k);
                            seen.push(k.clone());
                            fresh
                        })
                        .collect(),
                )
            }),
        ]
    })
}

/// Any term the model can express, including ones with no Python form.
fn any_term() -> impl Strategy<Value = Term> {
    let leaf = prop_oneof![
        round_trippable(),
        "[a-z_]{0,10}".prop_map(Term::Atom),
        any::<f64>().prop_map(Term::Float),
        (prop::collection::vec(any::<u8>(), 1..4), 1u8..8).prop_map(|(b, n)| Term::BitBinary(b, n)),
        Just(Term::Fun(vec![131, 113, 119, 1, b'm', 119, 1, b'f', 97, 0])),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Term::list),
            (prop::collection::vec(inner.clone(), 1..4), inner.clone())
                .prop_filter("an improper tail is not a list", |(_, tail)| !matches!(tail, Term::List(..)))
                .prop_map(|(v, tail)| Term::List(v, Some(Box::new(tail)))),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Term::Tuple),
            prop::collection::vec((inner.clone(), inner), 0..6).prop_map(Term::Map),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn erlang_python_erlang_is_identity(t in round_trippable()) {
        let back = with_python(|py, types| {
            let o = to_py(py, types, &t).expect("to python");
            from_py(py, types, &o).expect("from python")
        });
        prop_assert_eq!(back, t);
    }

    #[test]
    fn codec_round_trips(t in any_term()) {
        let bytes = etf::encode(&t);
        prop_assert_eq!(etf::decode(&bytes).expect("decode"), t);
    }

    #[test]
    fn any_term_converts_or_fails_cleanly(t in any_term()) {
        with_python(|py, types| {
            if let Ok(o) = to_py(py, types, &t) {
                // Whatever reached Python has an Erlang form again.
                from_py(py, types, &o).expect("from python");
            }
        });
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut input = vec![131];
        input.extend_from_slice(&bytes);
        if let Ok(t) = etf::decode(&input) {
            with_python(|py, types| {
                if let Ok(o) = to_py(py, types, &t) {
                    from_py(py, types, &o).expect("from python");
                }
            });
        }
    }
}
