//! Erlang terms through Python, without a BEAM: producer threads queue
//! orders as Erlang external-format bytes (what `term_to_binary/1` makes) in
//! a `py_channel::Queue` with backpressure; one consumer converts each to
//! Python with `py_convert`, prices it with a Python function, and stores
//! the result, converted back to external format, in a
//! `py_channel::SharedDict`.
//!
//! Run it with `cargo run --release` (PYO3_PYTHON selects the Python).

use std::ffi::CString;
use std::sync::Arc;
use std::thread::{self, Thread};

use py_channel::{Queue, RecvError, SendError, SharedDict, Wake};
use py_convert::model::Term;
use py_convert::standalone::with_python;
use py_convert::{etf, etf_to_py, py_to_etf, Attached, Limits, PyErrInfo, PyObj};
use pyo3_ffi as ffi;

const PRODUCERS: i64 = 4;
const ORDERS_EACH: i64 = 250;

const PRICING: &str = "
def price(order):
    kind, number, lines = order
    total = sum(qty * unit for (_sku, qty, unit) in lines)
    return (number, round(total * 1.2, 2), len(lines))
";

/// Wakes the consumer thread parked on an empty queue.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(&self) {
        self.0.unpark();
    }
}

/// `{order, N, [{Sku, Qty, UnitPrice}]}`
fn order(number: i64) -> Term {
    let lines = (1..=number % 3 + 1)
        .map(|i| Term::Tuple(vec![Term::bin(format!("sku-{i}").as_bytes()), Term::Int(i), Term::Float(2.5 * i as f64)]))
        .collect();
    Term::Tuple(vec![Term::atom("order"), Term::Int(number), Term::List(lines, None)])
}

fn produce(queue: &Queue, first: i64) {
    for number in first..first + ORDERS_EACH {
        let mut item = etf::encode(&order(number));
        loop {
            match queue.send_or_return(item) {
                Ok(()) => break,
                // Full: the consumer is behind; let it run.
                Err((SendError::Busy, back)) => {
                    item = back;
                    thread::yield_now();
                }
                Err((SendError::Closed, _)) => return,
            }
        }
    }
}

/// Compiles `PRICING` and returns its `price` function.
fn pricing_function(py: Attached<'_>) -> Result<PyObj, PyErrInfo> {
    let source = CString::new(PRICING).expect("no NUL");
    // SAFETY: the thread is attached (the token); every new reference is
    // owned by a PyObj at once, and `price` is looked up in a dict we hold.
    unsafe {
        let globals = PyObj::from_owned(ffi::PyDict_New()).ok_or_else(|| PyErrInfo::fetch(py))?;
        let builtins = ffi::PyEval_GetBuiltins();
        if ffi::PyDict_SetItemString(globals.as_ptr(), c"__builtins__".as_ptr(), builtins) < 0 {
            return Err(PyErrInfo::fetch(py));
        }
        let ran = ffi::PyRun_String(source.as_ptr(), ffi::Py_file_input, globals.as_ptr(), globals.as_ptr());
        PyObj::from_owned(ran).ok_or_else(|| PyErrInfo::fetch(py))?;
        let price = ffi::PyDict_GetItemString(globals.as_ptr(), c"price".as_ptr());
        std::ptr::NonNull::new(price).map(|p| PyObj::from_borrowed(p)).ok_or_else(|| PyErrInfo::fetch(py))
    }
}

fn call(py: Attached<'_>, function: &PyObj, arg: &PyObj) -> Result<PyObj, PyErrInfo> {
    // SAFETY: attached thread; both objects are alive for the call and the
    // result is a new reference (or null with an exception set).
    unsafe { PyObj::from_owned(ffi::PyObject_CallOneArg(function.as_ptr(), arg.as_ptr())) }
        .ok_or_else(|| PyErrInfo::fetch(py))
}

/// Drains the queue until it is closed and empty; returns how many orders
/// it priced.
fn consume(queue: &Queue, results: &SharedDict) -> Result<usize, String> {
    let watch = queue.watch(Arc::new(Unpark(thread::current())));
    let mut priced = 0;
    let outcome = with_python(|py, types| {
        let price = pricing_function(py).map_err(|e| format!("{}: {}", e.class, e.message))?;
        loop {
            match queue.try_recv() {
                Ok(bytes) => {
                    let order = etf_to_py(py, types, &bytes, Limits::default()).map_err(|e| e.to_string())?;
                    let priced_order = call(py, &price, &order).map_err(|e| format!("{}: {}", e.class, e.message))?;
                    let reply = py_to_etf(py, types, &priced_order, Limits::default()).map_err(|e| e.to_string())?;
                    let Term::Tuple(fields) = etf::decode(&reply).map_err(|e| format!("{e:?}"))? else {
                        return Err("price() returned no tuple".to_string());
                    };
                    let Term::Int(number) = fields[0] else { return Err("no order number".to_string()) };
                    results.set(number.to_string().into_bytes(), reply).map_err(|_| "results destroyed")?;
                    priced += 1;
                }
                Err(RecvError::Closed) => return Ok(priced),
                // Woken by the next send or by close; the GIL is kept, as
                // only this thread uses Python here.
                Err(RecvError::Empty) => thread::park(),
            }
        }
    });
    queue.unwatch(watch);
    outcome
}

fn main() {
    let queue = Arc::new(Queue::new(64 * 1024));
    let results = Arc::new(SharedDict::new());
    let consumer = {
        let (queue, results) = (queue.clone(), results.clone());
        thread::spawn(move || consume(&queue, &results))
    };
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queue = queue.clone();
            thread::spawn(move || produce(&queue, p * ORDERS_EACH))
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    queue.close();
    let priced = consumer.join().expect("consumer").unwrap_or_else(|e| panic!("consumer failed: {e}"));

    let expected = (PRODUCERS * ORDERS_EACH) as usize;
    assert_eq!(priced, expected, "every order priced");
    assert_eq!(results.len().expect("live"), expected);
    let sample = results.get(b"7").expect("live").expect("order 7 priced");
    // Order 7 has two lines: 1 x 2.5 + 2 x 5.0 = 12.5, with tax 15.0.
    assert_eq!(
        etf::decode(&sample).expect("valid external format"),
        Term::Tuple(vec![Term::Int(7), Term::Float(15.0), Term::Int(2)])
    );
    println!("rust_embedder: {priced} orders priced in Python; order 7 -> {{7, 15.0, 2}}");
}
