//! The GGUF container: value and tensor types, a layout planner/writer and a reader.
//!
//! Only what ds2gguf needs is modelled, but everything modelled follows the GGUF v3
//! specification as llama.cpp's `gguf.cpp` reads it.

pub mod reader;
pub mod writer;

/// `GGUF` in little-endian byte order.
pub const GGUF_MAGIC: u32 = 0x4655_4747;
/// The only container version ds2gguf writes.
pub const GGUF_VERSION: u32 = 3;
/// Alignment of the data section and of every tensor when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// `general.quantization_version` written by llama.cpp's converter.
pub const QUANT_VERSION: u32 = 2;

pub use crate::quant::types::GgmlType;

/// Metadata key: 0-based index of this shard in a split set (llama.cpp writes a u16).
pub const SPLIT_NO: &str = "split.no";
/// Metadata key: number of shards in a split set (u16).
pub const SPLIT_COUNT: &str = "split.count";
/// Metadata key: number of tensors in the whole split set (i32).
pub const SPLIT_TENSORS_COUNT: &str = "split.tensors.count";

/// The element type of a metadata array, as GGUF numbers it (variants named as GGUF names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    /// The value type with GGUF id `id`.
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }
}

/// One metadata value, one variant per GGUF value type. Arrays are homogeneous, as GGUF requires.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Array(Array),
}

/// A homogeneous metadata array, one variant per element type ds2gguf writes.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Array {
    U8(Vec<u8>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(Vec<String>),
    /// Any other element type, kept as raw little-endian element bytes (read side only).
    Raw {
        /// The element type.
        elem: ValueType,
        /// Number of elements.
        count: u64,
        /// The elements' bytes.
        bytes: Vec<u8>,
    },
}

impl Value {
    /// The GGUF type id of this value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
            Value::Array(_) => ValueType::Array,
        }
    }
}

impl Array {
    /// The element type id.
    pub fn elem_type(&self) -> ValueType {
        match self {
            Array::U8(_) => ValueType::U8,
            Array::I32(_) => ValueType::I32,
            Array::U32(_) => ValueType::U32,
            Array::F32(_) => ValueType::F32,
            Array::Bool(_) => ValueType::Bool,
            Array::String(_) => ValueType::String,
            Array::Raw { elem, .. } => *elem,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> u64 {
        match self {
            Array::U8(v) => v.len() as u64,
            Array::I32(v) => v.len() as u64,
            Array::U32(v) => v.len() as u64,
            Array::F32(v) => v.len() as u64,
            Array::Bool(v) => v.len() as u64,
            Array::String(v) => v.len() as u64,
            Array::Raw { count, .. } => *count,
        }
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Rounds `n` up to a multiple of `align` (a power of two).
pub fn pad_to(n: u64, align: u64) -> u64 {
    n.div_ceil(align) * align
}
