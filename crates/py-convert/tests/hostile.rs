//! Python values built to hurt the converter: objects whose plain form
//! (`tolist()`) refers back to themselves, dicts that change while they are
//! converted, atoms past the gate. Each must end in an error, never in a
//! crash or a silently wrong term.

mod common;

use common::*;
use py_convert::model::{ModelSink, Term};
use py_convert::testing::{eval, with_python};
use py_convert::{py_to_term, ConvertError, EtfSink, Limits, DEFAULT_MAX_DEPTH, MAX_CONFIGURABLE_DEPTH};

/// An instance of a class that passes for numpy and whose `tolist()`
/// returns `plain` (a Python expression in `self`).
fn fake_numpy(plain: &str) -> String {
    format!("type('FakeArray', (), {{'__module__': 'numpy', 'tolist': lambda self: {plain}}})()")
}

fn model(expr: &str, limits: Limits) -> Result<Term, ConvertError> {
    with_python(|py, types| {
        let o = eval(py, expr);
        let mut sink = ModelSink::new();
        py_to_term(py, types, &mut sink, &o, limits).map(|t| sink.take(t))
    })
}

fn external(expr: &str, limits: Limits) -> Result<Vec<u8>, ConvertError> {
    with_python(|py, types| {
        let o = eval(py, expr);
        let mut sink = EtfSink::new();
        py_to_term(py, types, &mut sink, &o, limits).map(|t| sink.finish(t))
    })
}

#[test]
fn a_plain_form_that_is_the_object_itself_hits_the_limit() {
    let expr = fake_numpy("self");
    assert_eq!(model(&expr, Limits::default()), Err(ConvertError::NestingTooDeep(DEFAULT_MAX_DEPTH)));
    assert_eq!(external(&expr, Limits::default()), Err(ConvertError::NestingTooDeep(DEFAULT_MAX_DEPTH)));
}

#[test]
fn a_plain_form_that_holds_the_object_hits_the_limit() {
    for plain in ["[self]", "(self, 1)", "{'k': self}", "{self}"] {
        let expr = fake_numpy(plain);
        assert_eq!(model(&expr, Limits::default()), Err(ConvertError::NestingTooDeep(DEFAULT_MAX_DEPTH)), "{plain}");
    }
}

#[test]
fn the_deepest_configurable_limit_stops_before_the_stack_ends() {
    // Each level recurses through the interpreter as well: the stack guard,
    // not the nesting limit, must end this one, on a small stack too.
    let limits = Limits::with_max_depth(MAX_CONFIGURABLE_DEPTH);
    let expr = fake_numpy("[self]");
    let run = move || model(&expr, limits);
    let result = std::thread::Builder::new().stack_size(1 << 20).spawn(run).expect("thread").join();
    match result.expect("no crash") {
        Err(ConvertError::NestingTooDeep(_)) => {}
        // CPython's own recursion guard may stop it first.
        Err(ConvertError::Python(e)) if e.class == "RecursionError" => {}
        other => panic!("expected a depth error, got {other:?}"),
    }
}

#[test]
fn a_dict_changed_during_conversion_is_an_error() {
    // The value's tolist() adds a key to the dict being converted.
    let grow = "(lambda d: (d.__setitem__('v', type('G', (), {'__module__': 'numpy', \
                'tolist': lambda self: d.__setitem__('extra', 1) or 1})()), d)[1])({'a': 1})";
    let shrink = "(lambda d: (d.__setitem__('v', type('S', (), {'__module__': 'numpy', \
                  'tolist': lambda self: d.pop('a', None) or 1})()), d)[1])({'a': 1})";
    // Same size, other key: an entry disappears and one appears.
    let swap = "(lambda d: (d.__setitem__('v', type('W', (), {'__module__': 'numpy', \
                'tolist': lambda self: (d.pop('a', None), d.__setitem__('z', 2), 1)[2]})()), d)[1])({'a': 1})";
    for expr in [grow, shrink, swap] {
        match model(expr, Limits::default()) {
            Err(ConvertError::Python(e)) => {
                assert_eq!(e.class, "RuntimeError", "{expr}");
                assert!(e.message.contains("changed"), "{}", e.message);
            }
            other => panic!("{expr}: expected RuntimeError, got {other:?}"),
        }
    }
}

#[test]
fn an_unchanged_dict_with_python_values_converts() {
    let expr = format!("{{'a': {}, 'b': [1, 2]}}", fake_numpy("[1, 2]"));
    let t = model(&expr, Limits::default()).expect("converts");
    assert_eq!(
        t,
        Term::Map(vec![
            (Term::bin(b"a"), Term::list(vec![Term::Int(1), Term::Int(2)])),
            (Term::bin(b"b"), Term::list(vec![Term::Int(1), Term::Int(2)])),
        ])
    );
}

#[test]
fn atom_names_longer_than_the_vm_allows_are_refused() {
    with_python(|py, types| {
        let long = eval(py, "'x' * 256");
        let atom = types.new_atom(py, &"x".repeat(256));
        // erlang.Atom is a str subclass: the long name itself is allowed in
        // Python, refused on its way to Erlang.
        let atom = atom.expect("atom object");
        assert!(from_py(py, types, &long).is_ok());
        assert!(matches!(from_py(py, types, &atom), Err(ConvertError::BadTerm(_))));
    });
}
