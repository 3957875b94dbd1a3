//! Arbitrary bytes -> external term format decoder -> Python -> Erlang.
//!
//! Whatever the input: no panic, no crash, no leak (run under
//! AddressSanitizer's leak checker with PYTHONMALLOC=malloc, so every Python
//! object is a malloc block it tracks). Every term that reaches Python must
//! convert back, and conversion must settle: atoms become text after one
//! trip (`nan` the float becomes the atom `nan` and then text after two), so
//! the third trip must give exactly the second.
#![no_main]

use libfuzzer_sys::fuzz_target;
use py_convert::model::{ModelSink, ModelSource, Term};
use py_convert::testing::with_python;
use py_convert::{etf, py_to_term, term_to_py, Limits};

fuzz_target!(|data: &[u8]| {
    let mut input = Vec::with_capacity(data.len() + 1);
    input.push(etf::VERSION);
    input.extend_from_slice(data);
    let Ok(term) = etf::decode(&input) else { return };
    with_python(|py, types| {
        let limits = Limits::default();
        let Ok(obj) = term_to_py(py, types, &ModelSource, &term as *const Term, limits) else { return };
        let mut sink = ModelSink::new();
        let back = py_to_term(py, types, &mut sink, &obj, limits).expect("a value that reached Python converts back");
        let mut current = sink.take(back);
        let mut rounds = Vec::new();
        for _ in 0..2 {
            let o = term_to_py(py, types, &ModelSource, &current as *const Term, limits).expect("converts again");
            let t = py_to_term(py, types, &mut sink, &o, limits).expect("and back again");
            current = sink.take(t);
            rounds.push(current.clone());
        }
        assert_eq!(rounds[0], rounds[1], "conversion did not settle");
        // The external format of what came back decodes to the same term.
        assert_eq!(etf::decode(&etf::encode(&current)).expect("re-decodes"), current);
    });
});
