//! Limits that protect the threads conversion runs on from what Python
//! values can do: the stack (a value converted through Python code, such as
//! numpy's `tolist()`, recurses through the interpreter as well as through
//! conversion) and the atom table (atoms made from `erlang.Atom` values are
//! never garbage collected by the VM).

use std::cell::Cell;
use std::sync::OnceLock;

use crate::error::ConvertError;

/// Conversion stops this far above the end of the thread's stack, leaving
/// room for the Python code and the error handling still to run.
const STACK_RESERVE: usize = 256 << 10;

thread_local! {
    /// The lowest stack address conversion may reach on this thread (0
    /// until measured; `usize::MAX` never happens).
    static STACK_FLOOR: Cell<usize> = const { Cell::new(0) };
}

/// The floor for the current thread: the end of its stack plus the reserve.
fn stack_floor() -> usize {
    STACK_FLOOR.with(|floor| {
        if floor.get() == 0 {
            floor.set(measure_stack_floor().unwrap_or(1));
        }
        floor.get()
    })
}

#[cfg(target_os = "linux")]
fn measure_stack_floor() -> Option<usize> {
    // SAFETY: `attr` is initialised by pthread_getattr_np before it is read
    // and destroyed once; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let got = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (got == 0 && !addr.is_null()).then(|| addr as usize + STACK_RESERVE.min(size / 2))
    }
}

#[cfg(not(target_os = "linux"))]
fn measure_stack_floor() -> Option<usize> {
    None
}

/// Whether the current thread still has room to convert one level deeper.
#[inline]
pub(crate) fn stack_has_room() -> bool {
    let marker = 0u8;
    let here = std::ptr::addr_of!(marker) as usize;
    here > stack_floor()
}

/// Decides whether an atom named by a Python value may reach the VM. The
/// NIF layer installs one that creates the atom within the atom budget (so
/// a later `binary_to_term(B, [safe])` of bytes holding it succeeds) or
/// refuses it past the budget. Without one, every atom is admitted (tests,
/// benches and fuzzers have no atom table).
pub type AtomGate = fn(&str) -> Result<(), ConvertError>;

static ATOM_GATE: OnceLock<AtomGate> = OnceLock::new();

/// Installs the atom gate (once; later calls are ignored).
pub fn set_atom_gate(gate: AtomGate) {
    let _ = ATOM_GATE.set(gate);
}

/// The longest atom name the VM accepts, in characters.
pub const MAX_ATOM_CHARS: usize = 255;

/// Checks an atom name from a Python value against the length limit and
/// the installed gate.
pub fn admit_atom(name: &str) -> Result<(), ConvertError> {
    if name.chars().count() > MAX_ATOM_CHARS {
        return Err(ConvertError::BadTerm("atom name longer than 255 characters"));
    }
    match ATOM_GATE.get() {
        Some(gate) => gate(name),
        None => Ok(()),
    }
}
