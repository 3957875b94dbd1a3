//! One test per row of the conversion table, in both directions.

mod common;

use common::*;
use py_convert::model::Term;
use py_convert::testing::{eval, with_python};
use py_convert::{BigInt, ConvertError, DEFAULT_MAX_DEPTH};

fn big(negative: bool, shift_bytes: usize) -> Term {
    let mut magnitude = vec![0u8; shift_bytes];
    magnitude.push(1);
    Term::from_big(BigInt { negative, magnitude })
}

// ---- Erlang -> Python ----

#[test]
fn booleans_and_none_atoms() {
    assert_py(Term::atom("true"), "True");
    assert_py(Term::atom("false"), "False");
    assert_py(Term::atom("none"), "None");
    assert_py(Term::atom("nil"), "None");
    assert_py(Term::atom("undefined"), "None");
}

#[test]
fn other_atoms_become_str() {
    assert_py(Term::atom("hello"), "'hello'");
    assert_py(Term::atom("infinity"), "'infinity'");
    assert_py(Term::atom("héllo_日本"), "'héllo_日本'");
}

#[test]
fn integers_of_every_size() {
    assert_py(Term::Int(0), "0");
    assert_py(Term::Int(-1), "-1");
    assert_py(Term::Int(i64::MIN), "-2**63");
    assert_py(Term::Int(i64::MAX), "2**63-1");
    assert_py(Term::from_big(BigInt { negative: false, magnitude: u64::MAX.to_le_bytes().to_vec() }), "2**64-1");
    assert_py(big(false, 25), "2**200");
    assert_py(big(true, 25), "-2**200");
    assert_py(big(false, 1000), "2**8000");
}

#[test]
fn floats() {
    assert_py(Term::Float(1.5), "1.5");
    assert_py(Term::Float(-0.0), "-0.0");
    assert_py(Term::Float(f64::MAX), "1.7976931348623157e308");
}

#[test]
fn binaries_text_and_bytes() {
    assert_py(Term::bin(b"abc"), "'abc'");
    assert_py(Term::bin("é日本".as_bytes()), "'é日本'");
    assert_py(Term::bin(b""), "''");
    assert_py(Term::bin(&[0xff, 0xfe]), "b'\\xff\\xfe'");
    // UTF-8 encoded surrogates are not valid UTF-8.
    assert_py(Term::bin(&[0xed, 0xa0, 0x80]), "b'\\xed\\xa0\\x80'");
    assert_py(Term::Tuple(vec![Term::atom("bytes"), Term::bin(b"abc")]), "b'abc'");
    // Only {bytes, Binary} is special.
    assert_py(Term::Tuple(vec![Term::atom("bytes"), Term::Int(1)]), "('bytes', 1)");
}

#[test]
fn lists_tuples_maps() {
    assert_py(Term::list(vec![]), "[]");
    assert_py(Term::list(vec![Term::Int(97), Term::Int(98)]), "[97, 98]");
    assert_py(Term::Tuple(vec![]), "()");
    assert_py(Term::Tuple(vec![Term::Int(1), Term::bin(b"x"), Term::list(vec![])]), "(1, 'x', [])");
    assert_py(
        Term::Map(vec![(Term::atom("a"), Term::Int(1)), (Term::bin(b"b"), Term::Map(vec![]))]),
        "{'a': 1, 'b': {}}",
    );
    assert_py(Term::Map(vec![(Term::Tuple(vec![Term::Int(1)]), Term::Int(2))]), "{(1,): 2}");
}

#[test]
fn big_map_both_ways() {
    let pairs: Vec<(Term, Term)> =
        (0..10_000).map(|i| (Term::Binary(format!("key{i}").into_bytes()), Term::Int(i))).collect();
    let t = Term::Map(pairs);
    with_python(|py, types| {
        let o = to_py(py, types, &t).unwrap();
        assert!(same(py, &o, "{f'key{i}': i for i in range(10000)}"));
        assert_eq!(from_py(py, types, &o).unwrap(), t);
    });
}

#[test]
fn pids_and_refs_round_trip() {
    let pid = Term::Pid(pid_etf(85, 0, 1_700_000_000));
    let reference = Term::Ref(ref_etf([1, 2, 3], 7));
    with_python(|py, types| {
        let p = to_py(py, types, &pid).unwrap();
        assert_eq!(repr(&p), "<erlang.Pid <nonode@nohost.85.0>>");
        let r = to_py(py, types, &reference).unwrap();
        assert!(repr(&r).starts_with("<erlang.Ref #Ref<nonode@nohost.3.2.1>"));
        assert_eq!(from_py(py, types, &p).unwrap(), pid);
        assert_eq!(from_py(py, types, &r).unwrap(), reference);
        // Equal pids are equal and hash alike; different ones differ.
        let p2 = to_py(py, types, &pid).unwrap();
        let other = to_py(py, types, &Term::Pid(pid_etf(86, 0, 1_700_000_000))).unwrap();
        // SAFETY: GIL held inside with_python.
        unsafe {
            use pyo3_ffi as ffi;
            assert_eq!(ffi::PyObject_RichCompareBool(p.as_ptr(), p2.as_ptr(), ffi::Py_EQ), 1);
            assert_eq!(ffi::PyObject_Hash(p.as_ptr()), ffi::PyObject_Hash(p2.as_ptr()));
            assert_eq!(ffi::PyObject_RichCompareBool(p.as_ptr(), other.as_ptr(), ffi::Py_EQ), 0);
            assert_eq!(ffi::PyObject_RichCompareBool(p.as_ptr(), r.as_ptr(), ffi::Py_EQ), 0);
        }
    });
}

#[test]
fn terms_without_python_form_are_errors() {
    with_python(|py, types| {
        let fun = Term::Fun(vec![131, 113]);
        assert_eq!(to_py(py, types, &fun).unwrap_err(), ConvertError::UnsupportedTerm("fun"));
        let port = Term::Port(vec![131, 89]);
        assert_eq!(to_py(py, types, &port).unwrap_err(), ConvertError::UnsupportedTerm("port"));
        let improper = Term::List(vec![Term::Int(1)], Some(Box::new(Term::Int(2))));
        assert_eq!(to_py(py, types, &improper).unwrap_err(), ConvertError::UnsupportedTerm("improper_list"));
        let bits = Term::BitBinary(vec![0xff], 3);
        assert_eq!(to_py(py, types, &bits).unwrap_err(), ConvertError::UnsupportedTerm("bitstring"));
        // Nested inside a container too.
        let nested = Term::list(vec![Term::Int(1), Term::Tuple(vec![fun])]);
        assert_eq!(to_py(py, types, &nested).unwrap_err(), ConvertError::UnsupportedTerm("fun"));
    });
}

#[test]
fn unhashable_map_keys_are_python_errors() {
    with_python(|py, types| {
        let t = Term::Map(vec![(Term::list(vec![Term::Int(1)]), Term::Int(1))]);
        match to_py(py, types, &t).unwrap_err() {
            ConvertError::Python(e) => assert_eq!(e.class, "TypeError"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn nesting_limit_erlang_to_python() {
    with_python(|py, types| {
        assert!(to_py(py, types, &nested_list(DEFAULT_MAX_DEPTH)).is_ok());
        assert_eq!(
            to_py(py, types, &nested_list(DEFAULT_MAX_DEPTH + 1)).unwrap_err(),
            ConvertError::NestingTooDeep(DEFAULT_MAX_DEPTH)
        );
    });
}

// ---- Python -> Erlang ----

#[test]
fn python_text_and_bytes() {
    assert_term("'abc'", Term::bin(b"abc"));
    assert_term("'é日本'", Term::bin("é日本".as_bytes()));
    assert_term("b'\\xff'", Term::bin(&[0xff]));
    assert_term("bytearray(b'ab')", Term::bin(b"ab"));
    with_python(|py, types| {
        let o = eval(py, "'\\ud800'");
        assert!(matches!(from_py(py, types, &o), Err(ConvertError::UnicodeEncode(_))));
        // Inside a container, the whole conversion fails.
        let o = eval(py, "[1, {'k': '\\udfff'}]");
        assert!(matches!(from_py(py, types, &o), Err(ConvertError::UnicodeEncode(_))));
    });
}

#[test]
fn python_constants() {
    assert_term("True", Term::atom("true"));
    assert_term("False", Term::atom("false"));
    assert_term("None", Term::atom("none"));
}

#[test]
fn python_ints_of_every_size() {
    assert_term("0", Term::Int(0));
    assert_term("-2**63", Term::Int(i64::MIN));
    assert_term("2**63", Term::from_big(BigInt { negative: false, magnitude: (1u64 << 63).to_le_bytes().to_vec() }));
    assert_term("2**64-1", Term::from_big(BigInt { negative: false, magnitude: u64::MAX.to_le_bytes().to_vec() }));
    assert_term(
        "-2**63-1",
        Term::from_big(BigInt { negative: true, magnitude: (1u64 << 63 | 1).to_le_bytes().to_vec() }),
    );
    assert_term("2**200", big(false, 25));
    assert_term("-2**200", big(true, 25));
    // int subclasses (IntEnum) keep their value.
    assert_term("__import__('enum').IntEnum('E', 'A B').B", Term::Int(2));
}

#[test]
fn python_floats_and_specials() {
    assert_term("2.5", Term::Float(2.5));
    assert_term("float('nan')", Term::atom("nan"));
    assert_term("float('inf')", Term::atom("infinity"));
    assert_term("float('-inf')", Term::atom("neg_infinity"));
}

#[test]
fn python_containers() {
    assert_term(
        "[1, (2, 'x'), {'a': [None]}]",
        Term::list(vec![
            Term::Int(1),
            Term::Tuple(vec![Term::Int(2), Term::bin(b"x")]),
            Term::Map(vec![(Term::bin(b"a"), Term::list(vec![Term::atom("none")]))]),
        ]),
    );
    assert_term("{3}", Term::list(vec![Term::Int(3)]));
    assert_term("frozenset()", Term::list(vec![]));
    assert_term("__import__('collections').OrderedDict(a=1)", Term::Map(vec![(Term::bin(b"a"), Term::Int(1))]));
    assert_term(
        "__import__('collections').namedtuple('P', 'x y')(1, 2)",
        Term::Tuple(vec![Term::Int(1), Term::Int(2)]),
    );
}

#[test]
fn colliding_keys_keep_the_later_value() {
    assert_term("{'a': 1, b'a': 2}", Term::Map(vec![(Term::bin(b"a"), Term::Int(2))]));
}

#[test]
fn erlang_atom_objects_become_atoms() {
    with_python(|py, types| {
        let a = types.new_atom(py, "hello").unwrap();
        assert_eq!(repr(&a), "erlang.Atom('hello')");
        assert!(same(py, &a, "'hello'") || repr(&a) == "erlang.Atom('hello')");
        assert_eq!(from_py(py, types, &a).unwrap(), Term::atom("hello"));
    });
}

#[test]
fn values_without_erlang_form_are_opaque() {
    with_python(|py, types| {
        let o = eval(py, "__import__('datetime').date(2024, 1, 2)");
        assert_eq!(from_py(py, types, &o).unwrap_err(), ConvertError::Opaque { type_name: "date".into() });
        let o = eval(py, "[1, object()]");
        assert_eq!(from_py(py, types, &o).unwrap_err(), ConvertError::Opaque { type_name: "object".into() });
    });
}

#[test]
fn nesting_limit_python_to_erlang() {
    with_python(|py, types| {
        let nest = |n: usize| format!("__import__('functools').reduce(lambda a, _: [a], range({n}), 1)");
        let ok = eval(py, &nest(DEFAULT_MAX_DEPTH));
        assert_eq!(from_py(py, types, &ok).unwrap(), nested_list(DEFAULT_MAX_DEPTH));
        let deep = eval(py, &nest(DEFAULT_MAX_DEPTH + 1));
        assert_eq!(from_py(py, types, &deep).unwrap_err(), ConvertError::NestingTooDeep(DEFAULT_MAX_DEPTH));
        // A list that contains itself is refused, not followed forever.
        let cyclic = eval(py, "(lambda l: (l.append(l), l)[1])([])");
        assert_eq!(from_py(py, types, &cyclic).unwrap_err(), ConvertError::NestingTooDeep(DEFAULT_MAX_DEPTH));
    });
}

#[test]
fn configurable_limit_is_clamped() {
    use py_convert::{Limits, MAX_CONFIGURABLE_DEPTH};
    assert_eq!(Limits::with_max_depth(0).max_depth(), 1);
    assert_eq!(Limits::with_max_depth(usize::MAX).max_depth(), MAX_CONFIGURABLE_DEPTH);
    // The deepest configurable nesting converts without exhausting the
    // stack of an ordinary test thread.
    let t = nested_list(MAX_CONFIGURABLE_DEPTH);
    let handle = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            with_python(|py, types| {
                let limits = Limits::with_max_depth(MAX_CONFIGURABLE_DEPTH);
                let o = py_convert::term_to_py(py, types, &py_convert::model::ModelSource, &t as *const Term, limits)
                    .unwrap();
                let mut sink = py_convert::model::ModelSink::new();
                let back = py_convert::py_to_term(py, types, &mut sink, &o, limits).unwrap();
                sink.take(back) == t
            })
        })
        .unwrap();
    assert!(handle.join().unwrap());
}

#[test]
fn ints_in_the_cache_range_are_shared_objects() {
    use py_convert::intcache::INT_CACHE_SIZE;
    with_python(|py, types| {
        let a = to_py(py, types, &Term::Int(100_000)).unwrap();
        let b = to_py(py, types, &Term::Int(100_000)).unwrap();
        assert_eq!(a.as_ptr(), b.as_ptr());
        assert!(same(py, &a, "100000"));
        let edge = INT_CACHE_SIZE as i64;
        let c = to_py(py, types, &Term::Int(edge)).unwrap();
        let d = to_py(py, types, &Term::Int(edge)).unwrap();
        assert_ne!(c.as_ptr(), d.as_ptr());
        assert!(same(py, &c, &edge.to_string()));
        let last = to_py(py, types, &Term::Int(edge - 1)).unwrap();
        assert!(same(py, &last, &(edge - 1).to_string()));
    });
}

#[test]
fn ints_around_the_internal_digit_size_convert_exactly() {
    let values: Vec<i64> =
        vec![0, 1, -1, 255, 256, -5, -6, (1 << 30) - 1, -((1 << 30) - 1), 1 << 30, -(1 << 30), 1 << 31, -(1 << 31)];
    let expr = format!("[{}]", values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "));
    assert_term(&expr, Term::list(values.iter().map(|&v| Term::Int(v)).collect()));
    let tuple = format!("({},)", values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "));
    assert_term(&tuple, Term::Tuple(values.iter().map(|&v| Term::Int(v)).collect()));
    for v in values {
        assert_term(&v.to_string(), Term::Int(v));
    }
}
