//! The one table of tensor element types, as ggml's type traits: GGUF id, name, block size,
//! bytes per block, the llama.cpp file type of a file made mostly of it, and the row encoder
//! and decoder. Adding a type is one row here plus its kernel module.

use super::{float, iq, kquants, legacy, mxfp4, weighted};
use std::fmt;

/// Encodes one row of f32 values (a whole number of blocks) into the type's bytes.
pub type QuantizeFn = fn(&[f32], &mut [u8]);
/// Decodes one row of the type's bytes into f32 values.
pub type DequantizeFn = fn(&[u8], &mut [f32]);
/// Encodes one row with optional importance weights (one per column, the row's length), as
/// ggml's `quantize_*` functions do with `quant_weights`; `None` takes the unweighted path.
pub type QuantizeWeightedFn = fn(&[f32], Option<&[f32]>, &mut [u8]);

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
    IQ4_NL,
    IQ4_XS,
    IQ3_S,
    IQ3_XXS,
    IQ2_S,
    IQ2_XS,
    IQ2_XXS,
    IQ1_S,
    IQ1_M,
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
    /// Row encoder with importance weights (ggml's `quantize_row_*_impl` paths), for the types
    /// whose ggml quantizer takes them into account or accepts them (Q8_0 ignores them).
    pub quantize_weighted: Option<QuantizeWeightedFn>,
}

/// The table, in [`GgmlType`] discriminant order.
#[rustfmt::skip]
pub static TYPES: [TypeTraits; 24] = [
    row(GgmlType::F32, "F32", 0, 1, 4, Some(0), float::f32_row, float::f32_row_decode),
    row(GgmlType::F16, "F16", 1, 1, 2, Some(1), float::f32_to_f16_bytes, float::f16_bytes_to_f32),
    row(GgmlType::Q4_0, "Q4_0", 2, 32, 18, Some(2), legacy::quantize_row_q4_0, legacy::dequantize_row_q4_0).weighted(weighted::quantize_row_q4_0_w),
    row(GgmlType::Q4_1, "Q4_1", 3, 32, 20, Some(3), legacy::quantize_row_q4_1, legacy::dequantize_row_q4_1).weighted(weighted::quantize_row_q4_1_w),
    row(GgmlType::Q5_0, "Q5_0", 6, 32, 22, Some(8), legacy::quantize_row_q5_0, legacy::dequantize_row_q5_0).weighted(weighted::quantize_row_q5_0_w),
    row(GgmlType::Q5_1, "Q5_1", 7, 32, 24, Some(9), legacy::quantize_row_q5_1, legacy::dequantize_row_q5_1).weighted(weighted::quantize_row_q5_1_w),
    row(GgmlType::Q8_0, "Q8_0", 8, 32, 34, Some(7), legacy::quantize_row_q8_0, legacy::dequantize_row_q8_0).weighted(weighted::quantize_row_q8_0_w),
    row(GgmlType::Q2_K, "Q2_K", 10, 256, 84, Some(10), kquants::quantize_row_q2_k, kquants::dequantize_row_q2_k).weighted(weighted::quantize_row_q2_k_w),
    row(GgmlType::Q3_K, "Q3_K", 11, 256, 110, None, kquants::quantize_row_q3_k, kquants::dequantize_row_q3_k).weighted(weighted::quantize_row_q3_k_w),
    row(GgmlType::Q4_K, "Q4_K", 12, 256, 144, None, kquants::quantize_row_q4_k, kquants::dequantize_row_q4_k).weighted(weighted::quantize_row_q4_k_w),
    row(GgmlType::Q5_K, "Q5_K", 13, 256, 176, None, kquants::quantize_row_q5_k, kquants::dequantize_row_q5_k).weighted(weighted::quantize_row_q5_k_w),
    row(GgmlType::Q6_K, "Q6_K", 14, 256, 210, Some(18), kquants::quantize_row_q6_k, kquants::dequantize_row_q6_k).weighted(weighted::quantize_row_q6_k_w),
    row(GgmlType::BF16, "BF16", 30, 1, 2, Some(32), float::f32_to_bf16_bytes, float::bf16_bytes_to_f32),
    row(GgmlType::IQ4_NL, "IQ4_NL", 20, 32, 18, Some(25), iq::iq4::quantize_row_iq4_nl, iq::iq4::dequantize_row_iq4_nl).weighted(iq::iq4::quantize_iq4_nl),
    row(GgmlType::IQ4_XS, "IQ4_XS", 23, 256, 136, Some(30), iq::iq4::quantize_row_iq4_xs, iq::iq4::dequantize_row_iq4_xs).weighted(iq::iq4::quantize_iq4_xs),
    row(GgmlType::IQ3_S, "IQ3_S", 21, 256, 110, Some(26), iq::iq3::quantize_row_iq3_s, iq::iq3::dequantize_row_iq3_s).weighted(iq::iq3::quantize_iq3_s),
    row(GgmlType::IQ3_XXS, "IQ3_XXS", 18, 256, 98, Some(23), iq::iq3::quantize_row_iq3_xxs, iq::iq3::dequantize_row_iq3_xxs).weighted(iq::iq3::quantize_iq3_xxs),
    row(GgmlType::IQ2_S, "IQ2_S", 22, 256, 82, Some(28), iq::iq2::quantize_row_iq2_s, iq::iq2::dequantize_row_iq2_s).weighted(iq::iq2::quantize_iq2_s),
    row(GgmlType::IQ2_XS, "IQ2_XS", 17, 256, 74, Some(20), iq::iq2::quantize_row_iq2_xs, iq::iq2::dequantize_row_iq2_xs).weighted(iq::iq2::quantize_iq2_xs),
    row(GgmlType::IQ2_XXS, "IQ2_XXS", 16, 256, 66, Some(19), iq::iq2::quantize_row_iq2_xxs, iq::iq2::dequantize_row_iq2_xxs).weighted(iq::iq2::quantize_iq2_xxs),
    row(GgmlType::IQ1_S, "IQ1_S", 19, 256, 50, Some(24), iq::iq1::quantize_row_iq1_s, iq::iq1::dequantize_row_iq1_s).weighted(iq::iq1::quantize_iq1_s),
    row(GgmlType::IQ1_M, "IQ1_M", 29, 256, 56, Some(31), iq::iq1::quantize_row_iq1_m, iq::iq1::dequantize_row_iq1_m).weighted(iq::iq1::quantize_iq1_m),
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
        quantize_weighted: None,
    }
}

impl TypeTraits {
    /// This row with a weighted encoder.
    const fn weighted(mut self, f: QuantizeWeightedFn) -> TypeTraits {
        self.quantize_weighted = Some(f);
        self
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
