//! Properties: Erlang -> Python -> Erlang is the identity on the
//! round-trippable subset of terms, the codec round-trips, and no input of
//! any shape makes conversion panic.

mod common;

use common::strategies::{any_term, round_trippable};
use common::*;
use proptest::prelude::*;
use py_convert::etf;
use py_convert::testing::with_python;

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
