//! The atom gate decides which atoms named by Python values reach the VM:
//! every sink that writes atoms (model terms, the external format) asks it.
//! (A test binary of its own: the gate is process-wide.)

use py_convert::guard::set_atom_gate;
use py_convert::model::{ModelSink, Term};
use py_convert::testing::with_python;
use py_convert::{py_to_term, ConvertError, EtfSink, Limits};

fn refuse_new(name: &str) -> Result<(), ConvertError> {
    if name.starts_with("new_") {
        Err(ConvertError::BadTerm("atom budget spent"))
    } else {
        Ok(())
    }
}

#[test]
fn every_atom_sink_asks_the_gate() {
    set_atom_gate(refuse_new);
    with_python(|py, types| {
        for (name, admitted) in [("old_name", true), ("new_name", false)] {
            let atom = types.new_atom(py, name).expect("atom object");
            let mut model = ModelSink::new();
            let m = py_to_term(py, types, &mut model, &atom, Limits::default()).map(|t| model.take(t));
            let mut etf = EtfSink::new();
            let e = py_to_term(py, types, &mut etf, &atom, Limits::default()).map(|t| etf.finish(t));
            if admitted {
                assert_eq!(m, Ok(Term::atom(name)));
                assert!(e.is_ok());
            } else {
                assert_eq!(m, Err(ConvertError::BadTerm("atom budget spent")));
                assert_eq!(e.map(|_| ()), Err(ConvertError::BadTerm("atom budget spent")));
            }
        }
    });
}
