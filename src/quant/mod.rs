//! Element encoders and decoders: float conversions, FP8 decoding, and ports of ggml's
//! reference quantizers (`quantize_row_*_ref`), bit-exact with llama.cpp.

pub mod float;
pub mod iq;
pub mod kquants;
pub mod legacy;
pub mod mxfp4;
pub mod preset;
pub mod simd;
pub mod types;
pub mod weighted;

pub use simd::Isa;
pub use types::{GgmlType, TYPES, TypeTraits};

/// Encodes one row of `x` (length a multiple of `ty.block_size()`) into `out`
/// (exactly `ty.row_bytes(x.len())` bytes), as ggml's reference code does.
///
/// Q8_0 and the K-quants run in vectorised kernels for the best instruction set the CPU has
/// ([`Isa::active`]); they give the same bytes as the portable code ([`quantize_row_scalar`]).
pub fn quantize_row(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    quantize_row_isa(Isa::active(), ty, x, out);
}

/// [`quantize_row`] with the kernels of `isa` (the portable code for types it has no
/// vectorised kernel for).
///
/// # Panics
/// When the running CPU does not support `isa` ([`Isa::is_supported`]).
pub fn quantize_row_isa(isa: Isa, ty: GgmlType, x: &[f32], out: &mut [u8]) {
    debug_assert_eq!(Some(out.len() as u64), ty.row_bytes(x.len() as u64));
    if !simd::quantize_row(isa, ty, x, out) {
        quantize_row_scalar(ty, x, out);
    }
}

/// [`quantize_row`] in portable scalar code (the type table's encoder): the fallback, and the
/// oracle the vectorised kernels are tested against.
pub fn quantize_row_scalar(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    debug_assert_eq!(Some(out.len() as u64), ty.row_bytes(x.len() as u64));
    (ty.traits().quantize)(x, out)
}

/// [`quantize_row`] with importance weights `qw` (one per column), as `ggml_quantize_chunk`
/// does with an imatrix: the type's weighted encoder when it has one, else (float types) the
/// plain encoder, which ggml uses whatever the weights. `None` is exactly [`quantize_row`].
pub fn quantize_row_weighted(ty: GgmlType, x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    debug_assert_eq!(Some(out.len() as u64), ty.row_bytes(x.len() as u64));
    match (qw, ty.traits().quantize_weighted) {
        (Some(w), Some(f)) => f(x, Some(w), out),
        _ => quantize_row(ty, x, out),
    }
}

/// Decodes one row of `ty` data into `out` (`out.len()` elements).
pub fn dequantize_row(ty: GgmlType, data: &[u8], out: &mut [f32]) {
    debug_assert_eq!(Some(data.len() as u64), ty.row_bytes(out.len() as u64));
    (ty.traits().dequantize)(data, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatched_kquants_equal_portable_code() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let x: Vec<f32> = (0..4096)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let u = (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                if i % 97 == 0 { u * 40.0 } else { u }
            })
            .collect();
        for ty in [
            GgmlType::Q2_K,
            GgmlType::Q3_K,
            GgmlType::Q4_K,
            GgmlType::Q5_K,
            GgmlType::Q6_K,
        ] {
            let n = ty.row_bytes(x.len() as u64).unwrap() as usize;
            let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
            quantize_row(ty, &x, &mut a);
            quantize_row_scalar(ty, &x, &mut b);
            assert_eq!(a, b, "{ty}");
            assert!(a.iter().any(|&v| v != 0));
        }
    }
}
