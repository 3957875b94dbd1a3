//! Owned Python references and the token that proves the current thread is
//! attached to an interpreter. Everything that touches a `PyObject` takes an
//! [`Attached`]; [`PyObj`] is `!Send`, so a reference cannot wander to a
//! thread that is not attached to its interpreter.

use std::ffi::CStr;
use std::marker::PhantomData;
use std::ptr::NonNull;

use pyo3_ffi as ffi;

/// Proof that the current OS thread holds an attached thread state (and so
/// the GIL of its interpreter) for the lifetime `'a`.
#[derive(Clone, Copy)]
pub struct Attached<'a> {
    _not_send: PhantomData<*mut ()>,
    _life: PhantomData<&'a ()>,
}

impl Attached<'_> {
    /// # Safety
    /// The caller's thread must be attached to a Python interpreter for as
    /// long as the returned token (and anything derived from it) is used.
    pub unsafe fn assume() -> Self {
        Attached { _not_send: PhantomData, _life: PhantomData }
    }
}

/// A strong reference to a Python object, released on drop.
///
/// Only create, clone and drop it on a thread attached to the object's
/// interpreter: it is `!Send` for that reason.
#[repr(transparent)]
pub struct PyObj(NonNull<ffi::PyObject>);

impl PyObj {
    /// Takes ownership of a new reference; `None` if `ptr` is null (a Python
    /// error is then set).
    ///
    /// # Safety
    /// `ptr` is null or a new (owned) reference, and the thread is attached.
    #[inline]
    pub unsafe fn from_owned(ptr: *mut ffi::PyObject) -> Option<PyObj> {
        NonNull::new(ptr).map(PyObj)
    }

    /// Takes a new reference to a borrowed object.
    ///
    /// # Safety
    /// `ptr` is a valid object and the thread is attached.
    #[inline]
    pub unsafe fn from_borrowed(ptr: NonNull<ffi::PyObject>) -> PyObj {
        // SAFETY: the caller guarantees a live object and an attached thread.
        unsafe { ffi::Py_INCREF(ptr.as_ptr()) };
        PyObj(ptr)
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut ffi::PyObject {
        self.0.as_ptr()
    }

    /// Gives up ownership without a decref (for APIs that steal a reference).
    #[inline]
    pub fn into_raw(self) -> *mut ffi::PyObject {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    /// `type(obj).__name__` (for error messages).
    pub fn type_name(&self) -> String {
        // SAFETY: the object is alive (we own a reference) and `PyObj` only
        // exists on attached threads; tp_name is a NUL-terminated C string.
        unsafe {
            let tp = ffi::Py_TYPE(self.as_ptr());
            let full = CStr::from_ptr((*tp).tp_name).to_string_lossy();
            match full.rfind('.') {
                Some(i) => full[i + 1..].to_string(),
                None => full.into_owned(),
            }
        }
    }
}

impl std::fmt::Debug for PyObj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PyObj({:p})", self.as_ptr())
    }
}

impl Clone for PyObj {
    #[inline]
    fn clone(&self) -> PyObj {
        // SAFETY: a `PyObj` only exists on an attached thread and keeps its
        // object alive.
        unsafe { PyObj::from_borrowed(self.0) }
    }
}

impl Drop for PyObj {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own one reference and the thread is attached (PyObj is
        // !Send and only made on attached threads).
        unsafe { ffi::Py_DECREF(self.0.as_ptr()) }
    }
}

/// A new reference to `None`, `True` or `False`-like immortal singletons.
///
/// # Safety
/// `ptr` is one of the interpreter's singletons; the thread is attached.
#[inline]
pub(crate) unsafe fn new_ref(ptr: *mut ffi::PyObject) -> PyObj {
    // SAFETY: singletons are never null.
    unsafe { PyObj::from_borrowed(NonNull::new_unchecked(ptr)) }
}

/// A Python exception taken out of the thread's error indicator, reduced to
/// what crosses into Erlang.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyErrInfo {
    /// The exception class's `__name__` (no module prefix).
    pub class: String,
    /// `str(exception)`.
    pub message: String,
    /// The formatted traceback, when one was asked for and available.
    pub traceback: Option<String>,
}

impl PyErrInfo {
    /// Fetches and clears the current Python error. Returns a generic
    /// description if no error is set.
    pub fn fetch(py: Attached<'_>) -> PyErrInfo {
        PyErrInfo::fetch_with(py, false)
    }

    /// Like [`PyErrInfo::fetch`], also formatting the traceback when asked.
    pub fn fetch_with(py: Attached<'_>, with_traceback: bool) -> PyErrInfo {
        // SAFETY: the thread is attached (token).
        match unsafe { take_raised_exception() } {
            Some(exc) => PyErrInfo::from_exception(py, &exc, with_traceback),
            None => PyErrInfo {
                class: "SystemError".into(),
                message: "error return without exception set".into(),
                traceback: None,
            },
        }
    }

    /// Describes an exception object. `str()` of an exception runs its
    /// code, which may never end: if it is interrupted there, the error is
    /// reported as that KeyboardInterrupt (no traceback is formatted, which
    /// would run the same code again).
    pub fn from_exception(_py: Attached<'_>, exc: &PyObj, with_traceback: bool) -> PyErrInfo {
        // SAFETY: the thread is attached (token); every object is owned.
        unsafe {
            let class = exc.type_name();
            let message = match PyObj::from_owned(ffi::PyObject_Str(exc.as_ptr())) {
                Some(s) => str_to_string(&s).unwrap_or_default(),
                None => {
                    let interrupted = ffi::PyErr_ExceptionMatches(ffi::PyExc_KeyboardInterrupt) != 0;
                    ffi::PyErr_Clear();
                    if interrupted {
                        return PyErrInfo {
                            class: "KeyboardInterrupt".into(),
                            message: String::new(),
                            traceback: None,
                        };
                    }
                    String::from("<exception str() failed>")
                }
            };
            let traceback = if with_traceback { format_traceback(exc) } else { None };
            PyErrInfo {
                class,
                message: bounded_head(message, MAX_ERROR_MESSAGE_CHARS),
                traceback: traceback.map(|t| bounded_tail(t, MAX_TRACEBACK_CHARS)),
            }
        }
    }

    /// Whether the exception is of a given built-in class name.
    pub fn is(&self, class: &str) -> bool {
        self.class == class
    }
}

/// Exception messages are cut to this many characters (the rest is replaced
/// by a note saying how much was cut): an error term must stay small
/// whatever Python raised.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 8192;
/// Tracebacks are cut to this many characters, keeping the end (where the
/// exception was raised).
pub const MAX_TRACEBACK_CHARS: usize = 65536;

/// `text` if it has at most `max` characters, else its first `max`
/// characters and a note of how many were cut.
pub fn bounded_head(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text,
        Some((cut_at, _)) => {
            let cut = text[cut_at..].chars().count();
            format!("{}... [{cut} characters cut]", &text[..cut_at])
        }
    }
}

/// `text` if it has at most `max` characters, else a note of how many were
/// cut and its last `max` characters (a traceback ends where it matters).
pub fn bounded_tail(text: String, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text;
    }
    let cut = total - max;
    let keep_from = text.char_indices().nth(cut).map_or(text.len(), |(i, _)| i);
    format!("[{cut} characters cut] ...{}", &text[keep_from..])
}

/// `"".join(traceback.format_exception(exc))`, or `None` if that fails.
///
/// # Safety
/// The thread must be attached.
unsafe fn format_traceback(exc: &PyObj) -> Option<String> {
    // SAFETY: attached (caller); owned references throughout; any error is
    // cleared so the caller's state is unchanged.
    unsafe {
        let result = (|| {
            let module = PyObj::from_owned(ffi::PyImport_ImportModule(c"traceback".as_ptr()))?;
            let func = PyObj::from_owned(ffi::PyObject_GetAttrString(module.as_ptr(), c"format_exception".as_ptr()))?;
            let lines = PyObj::from_owned(ffi::PyObject_CallOneArg(func.as_ptr(), exc.as_ptr()))?;
            let empty = PyObj::from_owned(ffi::PyUnicode_FromString(c"".as_ptr()))?;
            let joined = PyObj::from_owned(ffi::PyUnicode_Join(empty.as_ptr(), lines.as_ptr()))?;
            str_to_string(&joined)
        })();
        if result.is_none() {
            ffi::PyErr_Clear();
        }
        result
    }
}

/// Takes the raised exception (normalised), clearing the indicator.
///
/// # Safety
/// The thread must be attached.
pub unsafe fn take_raised_exception() -> Option<PyObj> {
    #[cfg(Py_3_12)]
    {
        // SAFETY: attached thread (caller); returns a new reference or null.
        unsafe { PyObj::from_owned(ffi::PyErr_GetRaisedException()) }
    }
    #[cfg(not(Py_3_12))]
    {
        let mut tp = std::ptr::null_mut();
        let mut val = std::ptr::null_mut();
        let mut tb = std::ptr::null_mut();
        // SAFETY: attached thread (caller); the three out-pointers receive
        // owned references (or null) which we release or keep below.
        unsafe {
            ffi::PyErr_Fetch(&mut tp, &mut val, &mut tb);
            if tp.is_null() {
                return None;
            }
            ffi::PyErr_NormalizeException(&mut tp, &mut val, &mut tb);
            if !tb.is_null() && !val.is_null() {
                ffi::PyException_SetTraceback(val, tb);
            }
            let _tp = PyObj::from_owned(tp);
            let _tb = PyObj::from_owned(tb);
            PyObj::from_owned(val)
        }
    }
}

/// The UTF-8 text of a `str` object (`None` if it cannot be encoded).
///
/// # Safety
/// `s` must be a `str` and the thread attached.
pub unsafe fn str_to_string(s: &PyObj) -> Option<String> {
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str (caller); the returned buffer lives as long
    // as `s` and is copied before returning.
    unsafe {
        let p = ffi::PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut len);
        if p.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let bytes = std::slice::from_raw_parts(p as *const u8, len as usize);
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}
