//! Term strategies shared by the property tests.

use proptest::prelude::*;
use py_convert::model::Term;
use py_convert::BigInt;

use super::{pid_etf, ref_etf};

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
pub fn round_trippable() -> impl Strategy<Value = Term> {
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
pub fn any_term() -> impl Strategy<Value = Term> {
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
