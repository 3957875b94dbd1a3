//! Python objects held by Erlang resources, and how they get released.
//!
//! A resource destructor runs on whatever scheduler thread garbage-collects
//! the last term, where no interpreter may be touched. [`Held`] therefore
//! never decrefs in `Drop`: it hands the pointer to its [`Owner`], a thread
//! that can attach to the object's interpreter:
//!
//! * objects of the main interpreter go to the janitor, which runs on the
//!   thread that started Python (it owns the main thread state and has
//!   nothing else to do);
//! * objects of an own-GIL sub-interpreter go to the release queue of the
//!   thread that owns that interpreter (drained before each request, and
//!   when the interpreter is reset for reuse). If the interpreter has
//!   ended, the object is already gone and the pointer is simply forgotten.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crossbeam_deque::{Injector, Steal};
use py_convert::{Attached, PyObj};
use pyo3_ffi as ffi;

use crate::handoff::Mailbox;

/// A raw object pointer in transit to its releasing thread.
struct Released(NonNull<ffi::PyObject>);

// SAFETY: the pointer is only dereferenced (decref'd) by a thread attached
// to the object's interpreter; in transit it is just an address.
unsafe impl Send for Released {}

/// A thread's wake-up call.
type Wake = Arc<dyn Fn() + Send + Sync>;

/// The release queue of an own-GIL interpreter: drained by its thread.
pub struct SubOwner {
    queue: Injector<Released>,
    /// Cleared (by the owning thread, before it ends the interpreter)
    /// once nothing may be released any more.
    alive: AtomicBool,
    interp_id: i64,
    /// Which context the interpreter serves (counted up when it is reused
    /// after a reset): objects held for one context are not lent to the
    /// next, whatever the interpreter id says.
    generation: AtomicU64,
    /// Wakes the owning thread's current context when something is queued.
    wake: Mutex<Option<Wake>>,
}

impl SubOwner {
    pub(crate) fn new(interp_id: i64) -> Arc<SubOwner> {
        Arc::new(SubOwner {
            queue: Injector::new(),
            alive: AtomicBool::new(true),
            interp_id,
            generation: AtomicU64::new(0),
            wake: Mutex::new(None),
        })
    }

    /// The interpreter starts serving another context.
    pub(crate) fn next_generation(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// How to wake the thread while it serves its current context.
    pub(crate) fn set_waker(&self, wake: Wake) {
        *self.wake.lock().unwrap_or_else(|p| p.into_inner()) = Some(wake);
    }

    /// Releases everything queued. The caller's thread is attached to this
    /// owner's interpreter.
    pub(crate) fn drain(&self, _py: Attached<'_>) {
        loop {
            match self.queue.steal() {
                Steal::Success(Released(p)) => {
                    // SAFETY: attached to the owning interpreter (token and
                    // caller contract); we own one reference.
                    unsafe { ffi::Py_DECREF(p.as_ptr()) }
                }
                Steal::Empty => break,
                Steal::Retry => continue,
            }
        }
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Stops accepting releases: the interpreter is about to end.
    pub(crate) fn close(&self, py: Attached<'_>) {
        self.alive.store(false, Ordering::Release);
        self.drain(py);
    }
}

/// Who can release an object: see the module documentation.
#[derive(Clone)]
pub enum Owner {
    Main,
    Sub(Arc<SubOwner>),
}

impl Owner {
    /// The interpreter id objects of this owner belong to.
    pub fn interp_id(&self) -> i64 {
        match self {
            Owner::Main => 0,
            Owner::Sub(s) => s.interp_id,
        }
    }

    fn release(&self, p: NonNull<ffi::PyObject>) {
        match self {
            Owner::Main => janitor_release(Released(p)),
            Owner::Sub(s) => {
                if s.alive.load(Ordering::Acquire) {
                    s.queue.push(Released(p));
                    // Closed between the check and the push: the context
                    // thread drains once more after closing, or the
                    // interpreter is gone and the entry is never touched.
                    let wake = s.wake.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    if let Some(wake) = wake {
                        wake();
                    }
                }
            }
        }
    }
}

/// A strong reference to a Python object that may be dropped on any thread.
pub struct Held {
    ptr: NonNull<ffi::PyObject>,
    owner: Owner,
    /// The owner's generation when the object was taken (own-GIL only).
    generation: u64,
}

// SAFETY: the pointer is only dereferenced through `get`, which requires a
// thread attached to the same interpreter, and released through the owner.
unsafe impl Send for Held {}
// SAFETY: as above; `get` only increfs under the interpreter's GIL.
unsafe impl Sync for Held {}

impl Held {
    /// Takes over `obj`, released later by `owner` (the owner of the
    /// interpreter `obj` belongs to).
    pub fn new(obj: PyObj, owner: Owner) -> Held {
        let ptr = NonNull::new(obj.into_raw()).expect("PyObj is never null");
        let generation = match &owner {
            Owner::Sub(s) => s.generation.load(Ordering::Acquire),
            Owner::Main => 0,
        };
        Held { ptr, owner, generation }
    }

    /// A new reference, if the calling thread's interpreter is the object's
    /// and (for an own-GIL interpreter reused by a later context) still
    /// serves the context the object was taken in.
    pub fn get(&self, _py: Attached<'_>) -> Option<PyObj> {
        if let Owner::Sub(s) = &self.owner {
            if s.generation.load(Ordering::Acquire) != self.generation {
                return None;
            }
        }
        // SAFETY: attached (token); the interpreter check guarantees the
        // object belongs to the attached interpreter, where it is alive
        // because we hold a reference.
        unsafe {
            let current = ffi::PyInterpreterState_GetID(ffi::PyInterpreterState_Get());
            (current == self.owner.interp_id()).then(|| PyObj::from_borrowed(self.ptr))
        }
    }

    pub fn interp_id(&self) -> i64 {
        self.owner.interp_id()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.owner.release(self.ptr);
    }
}

/// Work for the janitor.
enum Chore {
    Release(Released),
    /// Answered once everything queued before it is released.
    Barrier(std::sync::mpsc::Sender<()>),
}

/// The main interpreter's janitor: the thread that started Python.
struct Janitor {
    mailbox: Mailbox<Chore>,
}

static JANITOR: OnceLock<Janitor> = OnceLock::new();

fn janitor_release(r: Released) {
    // Without a janitor Python was never started, so no object exists.
    if let Some(j) = JANITOR.get() {
        j.mailbox.push_always(Chore::Release(r));
    }
}

/// Returns once every main-interpreter object dropped before the call has
/// been released (for tests and orderly shutdown).
pub fn flush_main() {
    if let Some(j) = JANITOR.get() {
        let (tx, rx) = std::sync::mpsc::channel();
        j.mailbox.push_always(Chore::Barrier(tx));
        let _ = rx.recv();
    }
}

/// Sets the janitor up on the calling thread (the one that initialised
/// Python), before anything can be released.
pub(crate) fn prepare_janitor() {
    let janitor = JANITOR.get_or_init(|| Janitor { mailbox: Mailbox::new(std::time::Duration::ZERO) });
    janitor.mailbox.bind_consumer();
}

/// Runs the janitor loop on the thread `prepare_janitor` ran on, whose main
/// thread state is saved in `tstate`. Never returns.
pub(crate) fn run_janitor(tstate: *mut ffi::PyThreadState) -> ! {
    let janitor = JANITOR.get().expect("prepare_janitor ran first");
    loop {
        let Some(first) = janitor.mailbox.wait() else {
            // Closed: never happens; park for good.
            loop {
                std::thread::park();
            }
        };
        let mut barriers = Vec::new();
        // SAFETY: `tstate` is this thread's own main thread state, saved
        // when Python finished starting; we attach, release, detach.
        unsafe {
            ffi::PyEval_RestoreThread(tstate);
            let mut next = Some(first);
            while let Some(chore) = next {
                match chore {
                    Chore::Release(Released(p)) => ffi::Py_DECREF(p.as_ptr()),
                    Chore::Barrier(tx) => barriers.push(tx),
                }
                next = janitor.mailbox.try_pop();
            }
            ffi::PyEval_SaveThread();
        }
        for b in barriers {
            let _ = b.send(());
        }
    }
}
