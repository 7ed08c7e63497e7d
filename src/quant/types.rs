//! The one table of tensor element types, as ggml's type traits: GGUF id, name, block size,
//! bytes per block, the llama.cpp file type of a file made mostly of it, and the row encoder
//! and decoder. Adding a type is one row here plus its kernel module.

use super::{float, kquants, legacy, mxfp4};
use std::fmt;

/// Encodes one row of f32 values (a whole number of blocks) into the type's bytes.
pub type QuantizeFn = fn(&[f32], &mut [u8]);
/// Decodes one row of the type's bytes into f32 values.
pub type DequantizeFn = fn(&[u8], &mut [f32]);

/// A ggml tensor element type. The discriminant is the row of [`TYPES`] describing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types, missing_docs)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    BF16,
    MXFP4,
    I32,
}

/// Everything ds2gguf knows about one element type.
#[derive(Debug)]
pub struct TypeTraits {
    /// The type this row describes.
    pub ty: GgmlType,
    /// The upper-case name llama.cpp prints (`Q4_K`, `BF16`).
    pub name: &'static str,
    /// The id stored in a GGUF tensor info (`ggml_type`).
    pub id: u32,
    /// Elements per block (1 for plain scalar types).
    pub block: u64,
    /// Bytes per block.
    pub bytes: u64,
    /// `general.file_type` (`LLAMA_FTYPE_MOSTLY_*`) of a file made mostly of this type, where
    /// llama.cpp has one.
    pub mostly_ftype: Option<u32>,
    /// Row encoder (an exact port of ggml's reference quantizer).
    pub quantize: QuantizeFn,
    /// Row decoder (as ggml's `dequantize_row_*`).
    pub dequantize: DequantizeFn,
}

/// The table, in [`GgmlType`] discriminant order.
#[rustfmt::skip]
pub static TYPES: [TypeTraits; 15] = [
    row(GgmlType::F32, "F32", 0, 1, 4, Some(0), float::f32_row, float::f32_row_decode),
    row(GgmlType::F16, "F16", 1, 1, 2, Some(1), float::f32_to_f16_bytes, float::f16_bytes_to_f32),
    row(GgmlType::Q4_0, "Q4_0", 2, 32, 18, Some(2), legacy::quantize_row_q4_0, legacy::dequantize_row_q4_0),
    row(GgmlType::Q4_1, "Q4_1", 3, 32, 20, Some(3), legacy::quantize_row_q4_1, legacy::dequantize_row_q4_1),
    row(GgmlType::Q5_0, "Q5_0", 6, 32, 22, Some(8), legacy::quantize_row_q5_0, legacy::dequantize_row_q5_0),
    row(GgmlType::Q5_1, "Q5_1", 7, 32, 24, Some(9), legacy::quantize_row_q5_1, legacy::dequantize_row_q5_1),
    row(GgmlType::Q8_0, "Q8_0", 8, 32, 34, Some(7), legacy::quantize_row_q8_0, legacy::dequantize_row_q8_0),
    row(GgmlType::Q2_K, "Q2_K", 10, 256, 84, Some(10), kquants::quantize_row_q2_k, kquants::dequantize_row_q2_k),
    row(GgmlType::Q3_K, "Q3_K", 11, 256, 110, None, kquants::quantize_row_q3_k, kquants::dequantize_row_q3_k),
    row(GgmlType::Q4_K, "Q4_K", 12, 256, 144, None, kquants::quantize_row_q4_k, kquants::dequantize_row_q4_k),
    row(GgmlType::Q5_K, "Q5_K", 13, 256, 176, None, kquants::quantize_row_q5_k, kquants::dequantize_row_q5_k),
    row(GgmlType::Q6_K, "Q6_K", 14, 256, 210, Some(18), kquants::quantize_row_q6_k, kquants::dequantize_row_q6_k),
    row(GgmlType::BF16, "BF16", 30, 1, 2, Some(32), float::f32_to_bf16_bytes, float::bf16_bytes_to_f32),
    row(GgmlType::MXFP4, "MXFP4", 39, 32, 17, Some(38), mxfp4::quantize_row_mxfp4, mxfp4::dequantize_row_mxfp4),
    row(GgmlType::I32, "I32", 26, 1, 4, None, mxfp4::i32_row, mxfp4::i32_row_decode),
];

#[allow(clippy::too_many_arguments)]
const fn row(
    ty: GgmlType,
    name: &'static str,
    id: u32,
    block: u64,
    bytes: u64,
    mostly_ftype: Option<u32>,
    quantize: QuantizeFn,
    dequantize: DequantizeFn,
) -> TypeTraits {
    TypeTraits {
        ty,
        name,
        id,
        block,
        bytes,
        mostly_ftype,
        quantize,
        dequantize,
    }
}

const _: () = {
    // every row sits at its type's discriminant
    let mut i = 0;
    while i < TYPES.len() {
        assert!(TYPES[i].ty as usize == i);
        i += 1;
    }
};

impl GgmlType {
    /// Every type ds2gguf can read and write, in table order.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TYPES.iter().map(|t| t.ty)
    }

    /// This type's row of [`TYPES`].
    pub fn traits(self) -> &'static TypeTraits {
        &TYPES[self as usize]
    }

    /// The id stored in a GGUF tensor info (`ggml_type`).
    pub fn id(self) -> u32 {
        self.traits().id
    }

    /// The type with GGUF id `id`, if ds2gguf knows it.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TYPES.iter().find(|t| t.id == id).map(|t| t.ty)
    }

    /// Elements per block (1 for plain float types).
    pub fn block_size(self) -> u64 {
        self.traits().block
    }

    /// Bytes per block.
    pub fn type_size(self) -> u64 {
        self.traits().bytes
    }

    /// Bytes taken by one row of `ne0` elements; `None` when `ne0` is not a whole number of blocks.
    pub fn row_bytes(self, ne0: u64) -> Option<u64> {
        if !ne0.is_multiple_of(self.block_size()) {
            return None;
        }
        (ne0 / self.block_size()).checked_mul(self.type_size())
    }

    /// The upper-case name llama.cpp prints (`Q4_K`, `BF16`, ...).
    pub fn name(self) -> &'static str {
        self.traits().name
    }

    /// Parses a type name, case-insensitively (`q4_k`, `BF16`).
    pub fn from_name(s: &str) -> Option<GgmlType> {
        TYPES
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(s))
            .map(|t| t.ty)
    }

    /// True for the block-quantized types (everything but the plain floats).
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique_and_round_trip() {
        for t in GgmlType::all() {
            assert_eq!(GgmlType::from_id(t.id()), Some(t));
            assert_eq!(GgmlType::from_name(&t.name().to_lowercase()), Some(t));
        }
        assert_eq!(GgmlType::Q8_0.id(), 8);
        assert_eq!(GgmlType::BF16.id(), 30);
        assert_eq!(GgmlType::from_id(4), None); // Q4_2, removed from ggml
        assert_eq!(GgmlType::Q4_K.row_bytes(512), Some(288));
        assert_eq!(GgmlType::Q4_K.row_bytes(100), None);
    }
}
