//! The VM owns signals: starting Python and importing `signal` must leave
//! every signal disposition of the process as it was.

use std::mem::MaybeUninit;

use py_core::{Context, ContextOptions, RuntimeConfig};

#[repr(C)]
struct SigAction {
    handler: usize,
    mask: [u64; 16],
    flags: i32,
    restorer: usize,
}

extern "C" {
    fn sigaction(sig: i32, act: *const SigAction, old: *mut SigAction) -> i32;
}

fn disposition(sig: i32) -> usize {
    let mut old = MaybeUninit::<SigAction>::zeroed();
    // SAFETY: querying only (act is NULL); `old` has room for the kernel
    // struct on x86_64 Linux (handler, mask, flags, restorer).
    unsafe {
        assert_eq!(sigaction(sig, std::ptr::null(), old.as_mut_ptr()), 0);
        old.assume_init().handler
    }
}

#[test]
fn python_installs_no_signal_handlers() {
    let signals = [1, 2, 3, 10, 12, 13, 14, 15, 25];
    let before: Vec<usize> = signals.iter().map(|&s| disposition(s)).collect();
    py_core::runtime::start(&RuntimeConfig::default()).unwrap();
    let mut modes = vec![py_core::Mode::Worker];
    if py_core::owngil_supported() {
        modes.push(py_core::Mode::OwnGil);
    }
    for mode in modes {
        let ctx = Context::start(ContextOptions { mode, ..Default::default() }).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        ctx.submit_fn(move |w| {
            let r = w.exec(b"import signal, asyncio, subprocess", None).map_err(|e| e.message);
            tx.send(r).unwrap();
        })
        .unwrap();
        rx.recv().unwrap().unwrap();
    }
    let after: Vec<usize> = signals.iter().map(|&s| disposition(s)).collect();
    assert_eq!(before, after, "signal dispositions changed for {signals:?}");
}
