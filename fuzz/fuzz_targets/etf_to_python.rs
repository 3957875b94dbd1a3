//! Arbitrary bytes -> external term format decoder -> Python -> Erlang, along
//! both paths: the model tree (`etf::decode`, `ModelSource`, `ModelSink`)
//! and the direct one (`etf_to_py`, `py_to_etf`).
//!
//! Whatever the input: no panic, no crash, no leak (run under
//! AddressSanitizer's leak checker with PYTHONMALLOC=malloc, so every Python
//! object is a malloc block it tracks). Every term that reaches Python must
//! convert back, and conversion must settle: atoms become text after one
//! trip (`nan` the float becomes the atom `nan` and then text after two), so
//! the third trip must give exactly the second. The direct path must accept
//! and refuse the same inputs with the same errors and give identical values
//! and terms. Arrays come back as tensor terms (`ArrayMode::Tensor`): a
//! tensor term becomes a numpy array (a memoryview without numpy) and must
//! come back whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use py_convert::model::{ModelSink, ModelSource, Term};
use py_convert::testing::{identical, with_python};
use py_convert::{etf, etf_to_py, py_to_etf, py_to_term, term_to_py, ArrayMode, EtfSource, Limits};

fuzz_target!(|data: &[u8]| {
    let mut input = Vec::with_capacity(data.len() + 1);
    input.push(etf::VERSION);
    input.extend_from_slice(data);
    let decoded = etf::decode(&input);
    assert_eq!(
        EtfSource::new(&input).map(|_| ()).err(),
        decoded.as_ref().err().cloned(),
        "the direct source validates like the decoder"
    );
    with_python(|py, types| {
        let limits = Limits::default().with_arrays(ArrayMode::Tensor);
        let direct = etf_to_py(py, types, &input, limits);
        let Ok(term) = decoded else {
            assert!(direct.is_err(), "input the decoder refuses converted directly");
            return;
        };
        let model = term_to_py(py, types, &ModelSource, &term as *const Term, limits);
        match (&model, &direct) {
            (Ok(a), Ok(b)) => assert!(identical(py, a, b), "the paths made different values"),
            (Err(a), Err(b)) => assert_eq!(a, b, "the paths failed differently"),
            _ => panic!("one path converted, the other did not: {model:?} / {direct:?}"),
        }
        let Ok(obj) = model else { return };
        let mut sink = ModelSink::new();
        let back = py_to_term(py, types, &mut sink, &obj, limits).expect("a value that reached Python converts back");
        let mut current = sink.take(back);
        let bytes = py_to_etf(py, types, &obj, limits).expect("and converts back directly");
        assert_eq!(etf::decode(&bytes).expect("the sink's bytes decode"), current, "the sinks built different terms");
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
