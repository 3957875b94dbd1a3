//! Arbitrary bytes -> an Erlang term -> every argument of the requests the
//! NIF serves (`py:call` module, function, args and kwargs; `py:eval` code
//! and locals; `py:exec` code), through the code the NIF runs: the job
//! readers and runner of `py_core::job`, on a real context thread, and the
//! result converted back as a reply would be.
//!
//! The term is tried in every position with harmless values in the others,
//! and a 5-tuple `{Op, A, B, C, D}` (Op 0..2) is also taken as one request
//! with arbitrary parts. Whatever the input: no panic, no crash, no leak
//! (ASan, PYTHONMALLOC=malloc); a malformed argument is a `BadArgument`,
//! never a run.
//!
//! What is run stays harmless: calls only to an allow-list of pure
//! functions, code only from a small alphabet without names that reach the
//! system (the fuzzer must not open files), and every request is
//! interrupted after a second.
#![no_main]

use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use py_convert::model::{ModelSink, ModelSource, Term};
use py_convert::{etf, py_to_term};
use py_core::job::{self, Job};
use py_core::runtime::RuntimeConfig;
use py_core::{Context, ContextOptions};

/// The functions requests may call.
const CALLABLE: [(&str, &str); 14] = [
    ("builtins", "len"),
    ("builtins", "repr"),
    ("builtins", "sorted"),
    ("builtins", "sum"),
    ("builtins", "str"),
    ("builtins", "int"),
    ("builtins", "tuple"),
    ("builtins", "dict"),
    ("operator", "add"),
    ("operator", "getitem"),
    ("math", "sqrt"),
    ("json", "dumps"),
    ("json", "loads"),
    ("__main__", "f"),
];

/// Words code may not contain (they reach files, processes, the import
/// system or the interpreter's innards, or loop).
const DENIED: [&str; 20] = [
    "open", "exec", "eval", "compile", "import", "__", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "input", "breakpoint", "exit", "quit", "help", "print", "while", "erlang",
];

fn context() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(|| {
        py_core::runtime::start(&RuntimeConfig { forbid_process_creation: true, ..Default::default() })
            .expect("python starts");
        let ctx = Context::start(ContextOptions::default()).expect("context starts");
        let (tx, rx) = mpsc::channel();
        ctx.submit_fn(move |w| {
            let _ = w.exec(b"def f(*a, **k): return [a, k]", None);
            let _ = tx.send(());
        });
        let _ = rx.recv();
        ctx
    })
}

fn harmless(job: &Job<*const Term>) -> bool {
    match job {
        Job::Call { module, func, .. } => CALLABLE.iter().any(|(m, f)| m.as_bytes() == module && f.as_bytes() == func),
        Job::Eval { code, .. } | Job::Exec { code } => {
            code.len() <= 200
                && code.iter().all(|&b| b.is_ascii_alphanumeric() || b" _+-*/%().,:[]{}'\"=<>!\n".contains(&b))
                && std::str::from_utf8(code).is_ok_and(|text| !DENIED.iter().any(|d| text.contains(d)))
        }
        Job::NewEnv => true,
    }
}

/// Runs the job read from `parts` (all terms of `root`) if it is harmless.
fn run(root: Term, read: impl FnOnce(&ModelSource, &Term) -> Result<Job<*const Term>, job::BadArgument>) {
    let Ok(j) = read(&ModelSource, &root) else { return };
    if !harmless(&j) {
        return;
    }
    // The job's terms point into `root`, which moves with it.
    struct Sent(Term, Job<*const Term>);
    // SAFETY: the pointers in the job point into the boxed term tree that
    // travels with them and is only used by the context thread.
    unsafe impl Send for Sent {}
    let sent = Sent(root, j);
    let ctx = context();
    let (tx, rx) = mpsc::channel();
    let Some(seq) = ctx.submit_fn(move |w| {
        let whole = sent;
        let Sent(_root, j) = whole;
        let mut garbage = Vec::new();
        let outcome = job::run(w, &ModelSource, None, &j, &mut garbage);
        if let Ok(job::Done::Value(v)) = &outcome {
            let mut sink = ModelSink::new();
            let _ = py_to_term(w.py(), w.types(), &mut sink, v, w.limits()).map(|t| sink.take(t));
        }
        w.settle_request();
        drop(outcome);
        drop(garbage);
        w.clear_error();
        let _ = tx.send(());
    }) else {
        return;
    };
    if rx.recv_timeout(Duration::from_secs(1)).is_err() {
        ctx.interrupt(Some(seq));
        let _ = rx.recv();
    }
}

/// The terms of a tuple, or `None`.
fn elems(t: &Term) -> Option<&[Term]> {
    match t {
        Term::Tuple(e) => Some(e),
        _ => None,
    }
}

fn at(root: &Term, i: usize) -> *const Term {
    &elems(root).expect("a tuple")[i] as *const Term
}

fuzz_target!(|data: &[u8]| {
    let mut input = Vec::with_capacity(data.len() + 1);
    input.push(etf::VERSION);
    input.extend_from_slice(data);
    let Ok(term) = etf::decode(&input) else { return };
    let ok_name = |s: &str| Term::bin(s.as_bytes());
    let empty = Term::Map(Vec::new());
    // The term in every position, with harmless values around it.
    let tuple = |items: Vec<Term>| Term::Tuple(items);
    let positions = [
        tuple(vec![term.clone(), ok_name("len"), Term::list(vec![Term::list(vec![])]), empty.clone()]),
        tuple(vec![ok_name("builtins"), term.clone(), Term::list(vec![Term::list(vec![])]), empty.clone()]),
        tuple(vec![ok_name("builtins"), ok_name("repr"), term.clone(), empty.clone()]),
        tuple(vec![ok_name("__main__"), ok_name("f"), Term::list(vec![]), term.clone()]),
    ];
    for root in positions {
        run(root, |src, r| job::call(src, at(r, 0), at(r, 1), at(r, 2), at(r, 3)));
    }
    run(tuple(vec![term.clone(), empty.clone()]), |src, r| job::eval(src, at(r, 0), at(r, 1)));
    run(tuple(vec![ok_name("sorted(x) if isinstance(x, list) else repr(x)"), term.clone()]), |src, r| {
        job::eval(src, at(r, 0), at(r, 1))
    });
    run(tuple(vec![term.clone()]), |src, r| job::exec(src, at(r, 0)));
    // A whole request with arbitrary parts.
    if let Some([Term::Int(op), ..]) = elems(&term).filter(|e| e.len() == 5) {
        match op {
            0 => run(term.clone(), |src, r| job::call(src, at(r, 1), at(r, 2), at(r, 3), at(r, 4))),
            1 => run(term.clone(), |src, r| job::eval(src, at(r, 1), at(r, 2))),
            2 => run(term.clone(), |src, r| job::exec(src, at(r, 1))),
            _ => {}
        }
    }
});
