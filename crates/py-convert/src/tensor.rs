//! Tensors: numeric arrays cross as one binary plus a type and a shape,
//! not one term per element.
//!
//! The tensor term is `{tensor, Type, Shape, Binary}`:
//!
//! - `Type` in Nx's vocabulary: `{f, 16}`, `{f, 32}`, `{f, 64}`,
//!   `{s, 8}`, `{s, 16}`, `{s, 32}`, `{s, 64}`, `{u, 8}`, `{u, 16}`,
//!   `{u, 32}`, `{u, 64}`, `{bf, 16}` ([`TensorType`]);
//! - `Shape` a tuple of non-negative integers (`{}` for a scalar, rank 0),
//!   at most [`MAX_RANK`] of them;
//! - `Binary` the elements in row-major (C) order, native-endian
//!   (little-endian on every platform this library is built for), exactly
//!   `product(Shape) * size(Type)` bytes.
//!
//! In Elixir, `{tensor, type, shape, data}` gives `Nx.from_binary(data,
//! type) |> Nx.reshape(shape)`.
//!
//! Python -> Erlang ([`py_to_tensor_term`], or [`crate::py_to_term`] with
//! [`ArrayMode::Tensor`] in its [`Limits`](crate::Limits)): any object
//! exporting a numeric buffer (a numpy array, `array.array`, `memoryview`)
//! and, when numpy imports, any object with `__array__` or `__dlpack__`
//! (through `numpy.asarray` / `numpy.from_dlpack`). The bytes are copied
//! once, into the binary; a non-contiguous export (a sliced or
//! Fortran-order array) is gathered into row-major order by that same
//! copy. Formats with no tensor type (objects, bools, records, complex,
//! big-endian) give `Ok(None)`: the caller keeps the list path. Python
//! has no bfloat16 buffer format, so `{bf, 16}` is never produced.
//!
//! Erlang -> Python ([`crate::term_to_py`], or [`tensor_term_to_py`]): a
//! tensor term becomes a read-only numpy array when numpy imports
//! (`numpy.frombuffer(data, dtype).reshape(shape)`; `{bf, 16}` needs
//! `ml_dtypes`), else a `memoryview` cast to the element format and shape
//! (a view with a zero in its shape stays flat: memoryview cannot cast
//! those). The data is copied once into a `bytes` object unless the term
//! source lends the binary ([`TermSource::lend_binary`](crate::TermSource::lend_binary)).
//! The term is recognised by its tag and a valid `Type`; anything else
//! tagged `tensor` stays a plain tuple. A recognised term with a bad shape
//! (not a tuple, a negative or non-integer dimension, more than
//! [`MAX_RANK`] dimensions, a size that overflows) or data (not a binary,
//! not exactly the size the shape gives) is refused with
//! [`ConvertError::BadTerm`](crate::ConvertError::BadTerm).

mod from_py;
mod to_py;

pub(crate) use from_py::embedded_tensor;
pub use from_py::py_to_tensor_term;
pub use to_py::{parse_tensor_term, tensor_term_to_memoryview, tensor_term_to_py, TensorParts};

/// The tag atom of a tensor term.
pub const TENSOR_TAG: &str = "tensor";

/// The most dimensions a tensor term may have (numpy's and memoryview's
/// limit).
pub const MAX_RANK: usize = 64;

/// What [`crate::py_to_term`] makes of the arrays it meets anywhere inside
/// a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ArrayMode {
    /// numpy arrays and scalars become their `tolist()` (the default, as
    /// the C library does); other buffer exporters are opaque.
    #[default]
    Lists,
    /// Arrays (numpy arrays, `array.array`, `memoryview`, objects with
    /// `__array__` or `__dlpack__`) with a numeric element type become
    /// tensor terms; numpy scalars and unsupported arrays keep the list
    /// path. `bytes` and `bytearray` stay binaries, other buffer
    /// exporters (`mmap`, the library's buffer views) keep their path.
    Tensor,
}

/// The element type of a tensor, in Nx's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TensorType {
    F16,
    F32,
    F64,
    /// bfloat16: accepted from Erlang (numpy needs `ml_dtypes` for it),
    /// never produced from a Python buffer.
    BF16,
    S8,
    S16,
    S32,
    S64,
    U8,
    U16,
    U32,
    U64,
}

impl TensorType {
    /// Every type.
    pub const ALL: [TensorType; 12] = [
        TensorType::F16,
        TensorType::F32,
        TensorType::F64,
        TensorType::BF16,
        TensorType::S8,
        TensorType::S16,
        TensorType::S32,
        TensorType::S64,
        TensorType::U8,
        TensorType::U16,
        TensorType::U32,
        TensorType::U64,
    ];

    /// The kind atom: `f`, `bf`, `s` or `u`.
    pub const fn kind(self) -> &'static str {
        match self {
            TensorType::F16 | TensorType::F32 | TensorType::F64 => "f",
            TensorType::BF16 => "bf",
            TensorType::S8 | TensorType::S16 | TensorType::S32 | TensorType::S64 => "s",
            TensorType::U8 | TensorType::U16 | TensorType::U32 | TensorType::U64 => "u",
        }
    }

    /// The size in bits (the second element of the type tuple).
    pub const fn bits(self) -> u32 {
        match self {
            TensorType::S8 | TensorType::U8 => 8,
            TensorType::F16 | TensorType::BF16 | TensorType::S16 | TensorType::U16 => 16,
            TensorType::F32 | TensorType::S32 | TensorType::U32 => 32,
            TensorType::F64 | TensorType::S64 | TensorType::U64 => 64,
        }
    }

    /// The size of one element in bytes.
    pub const fn size(self) -> usize {
        self.bits() as usize / 8
    }

    /// The type named `{Kind, Bits}`.
    ///
    /// ```
    /// use py_convert::tensor::TensorType;
    /// assert_eq!(TensorType::from_nx("f", 32), Some(TensorType::F32));
    /// assert_eq!(TensorType::from_nx("bf", 16), Some(TensorType::BF16));
    /// assert_eq!(TensorType::from_nx("f", 8), None);
    /// assert_eq!(TensorType::from_nx("c", 64), None);
    /// ```
    pub fn from_nx(kind: &str, bits: i64) -> Option<TensorType> {
        TensorType::ALL.into_iter().find(|t| t.kind() == kind && i64::from(t.bits()) == bits)
    }

    /// The type of a buffer export with this `struct`-syntax format and
    /// item size: one code (`e f d b h i l q n B H I L Q N`) after an
    /// optional native or native-endian prefix. `None` for anything else
    /// (objects, bools, records, complex numbers, the other byte order).
    ///
    /// ```
    /// use py_convert::tensor::TensorType;
    /// assert_eq!(TensorType::from_buffer_format(b"<f", 4), Some(TensorType::F32));
    /// assert_eq!(TensorType::from_buffer_format(b"l", 8), Some(TensorType::S64));
    /// assert_eq!(TensorType::from_buffer_format(b"=L", 4), Some(TensorType::U32));
    /// assert_eq!(TensorType::from_buffer_format(b"O", 8), None);
    /// assert_eq!(TensorType::from_buffer_format(b">d", 8), None);
    /// ```
    pub fn from_buffer_format(format: &[u8], itemsize: usize) -> Option<TensorType> {
        let native_order = if cfg!(target_endian = "little") { b'<' } else { b'>' };
        let code = match format {
            [c] => *c,
            [b'@' | b'=', c] => *c,
            [p, c] if *p == native_order || (*p == b'!' && native_order == b'>') => *c,
            _ => return None,
        };
        let fits = |sizes: &[usize]| sizes.contains(&itemsize);
        let ptr = std::mem::size_of::<usize>();
        let ok = match code {
            b'e' => fits(&[2]),
            b'f' => fits(&[4]),
            b'd' => fits(&[8]),
            b'b' | b'B' => fits(&[1]),
            b'h' | b'H' => fits(&[2]),
            b'i' | b'I' => fits(&[4]),
            b'l' | b'L' => fits(&[4, 8]),
            b'q' | b'Q' => fits(&[8]),
            b'n' | b'N' => fits(&[ptr]),
            _ => false,
        };
        if !ok {
            return None;
        }
        let signed = code.is_ascii_lowercase();
        Some(match (code, itemsize) {
            (b'e', _) => TensorType::F16,
            (b'f', _) => TensorType::F32,
            (b'd', _) => TensorType::F64,
            (_, 1) if signed => TensorType::S8,
            (_, 2) if signed => TensorType::S16,
            (_, 4) if signed => TensorType::S32,
            (_, _) if signed => TensorType::S64,
            (_, 1) => TensorType::U8,
            (_, 2) => TensorType::U16,
            (_, 4) => TensorType::U32,
            (_, _) => TensorType::U64,
        })
    }

    /// The `struct` format of one element, for `memoryview.cast` (`None`
    /// for bfloat16, which has none).
    pub const fn struct_format(self) -> Option<&'static str> {
        Some(match self {
            TensorType::F16 => "e",
            TensorType::F32 => "f",
            TensorType::F64 => "d",
            TensorType::BF16 => return None,
            TensorType::S8 => "b",
            TensorType::S16 => "h",
            TensorType::S32 => "i",
            TensorType::S64 => "q",
            TensorType::U8 => "B",
            TensorType::U16 => "H",
            TensorType::U32 => "I",
            TensorType::U64 => "Q",
        })
    }
}
