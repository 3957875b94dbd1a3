//! Shared fixtures for the criterion benches in `benches/`: the values the
//! issue's benchmarks name (a list of 100k ints, a map with 10k binary keys,
//! a 1 MiB binary, a nested JSON-like document) as model terms.

use py_convert::model::Term;

pub fn int_list(n: i64) -> Term {
    Term::list((0..n).map(Term::Int).collect())
}

pub fn binary_key_map(n: usize) -> Term {
    Term::Map((0..n).map(|i| (Term::Binary(format!("key_{i}").into_bytes()), Term::Int(i as i64))).collect())
}

pub fn binary(size: usize) -> Term {
    Term::Binary((0..size).map(|i| b'a' + (i % 26) as u8).collect())
}

/// A document like a typical JSON API response: 100 records, each a map of
/// strings, numbers, booleans, a nested list and a nested map.
pub fn json_like() -> Term {
    let record = |i: i64| {
        Term::Map(vec![
            (Term::bin(b"id"), Term::Int(i)),
            (Term::bin(b"name"), Term::Binary(format!("user-{i}").into_bytes())),
            (Term::bin(b"score"), Term::Float(i as f64 * 1.5)),
            (Term::bin(b"active"), Term::atom(if i % 2 == 0 { "true" } else { "false" })),
            (Term::bin(b"tags"), Term::list(vec![Term::bin(b"a"), Term::bin(b"b"), Term::bin(b"c")])),
            (
                Term::bin(b"address"),
                Term::Map(vec![
                    (Term::bin(b"city"), Term::bin(b"Stockholm")),
                    (Term::bin(b"zip"), Term::Int(11_000 + i)),
                ]),
            ),
        ])
    };
    Term::Map(vec![
        (Term::bin(b"count"), Term::Int(100)),
        (Term::bin(b"items"), Term::list((0..100).map(record).collect())),
    ])
}
