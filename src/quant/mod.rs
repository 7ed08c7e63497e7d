//! Element encoders and decoders: float conversions, FP8 decoding, and ports of ggml's
//! reference quantizers (`quantize_row_*_ref`), bit-exact with llama.cpp.

pub mod float;
pub mod kquants;
pub mod legacy;
pub mod preset;
pub mod simd;

use crate::gguf::GgmlType;
pub use simd::Isa;

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

/// [`quantize_row`] in portable scalar code: the fallback, and the oracle the vectorised
/// kernels are tested against.
pub fn quantize_row_scalar(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    debug_assert_eq!(Some(out.len() as u64), ty.row_bytes(x.len() as u64));
    match ty {
        GgmlType::F32 => {
            for (o, v) in out.chunks_exact_mut(4).zip(x) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
        GgmlType::F16 => float::f32_to_f16_bytes(x, out),
        GgmlType::BF16 => float::f32_to_bf16_bytes(x, out),
        GgmlType::Q8_0 => legacy::quantize_row_q8_0(x, out),
        GgmlType::Q4_0 => legacy::quantize_row_q4_0(x, out),
        GgmlType::Q4_1 => legacy::quantize_row_q4_1(x, out),
        GgmlType::Q5_0 => legacy::quantize_row_q5_0(x, out),
        GgmlType::Q5_1 => legacy::quantize_row_q5_1(x, out),
        GgmlType::Q2_K => kquants::quantize_row_q2_k(x, out),
        GgmlType::Q3_K => kquants::quantize_row_q3_k(x, out),
        GgmlType::Q4_K => kquants::quantize_row_q4_k(x, out),
        GgmlType::Q5_K => kquants::quantize_row_q5_k(x, out),
        GgmlType::Q6_K => kquants::quantize_row_q6_k(x, out),
    }
}

/// Decodes one row of `ty` data into `out` (`out.len()` elements).
pub fn dequantize_row(ty: GgmlType, data: &[u8], out: &mut [f32]) {
    debug_assert_eq!(Some(data.len() as u64), ty.row_bytes(out.len() as u64));
    match ty {
        GgmlType::F32 => {
            for (o, b) in out.iter_mut().zip(data.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        GgmlType::F16 => float::f16_bytes_to_f32(data, out),
        GgmlType::BF16 => float::bf16_bytes_to_f32(data, out),
        GgmlType::Q8_0 => legacy::dequantize_row_q8_0(data, out),
        GgmlType::Q4_0 => legacy::dequantize_row_q4_0(data, out),
        GgmlType::Q4_1 => legacy::dequantize_row_q4_1(data, out),
        GgmlType::Q5_0 => legacy::dequantize_row_q5_0(data, out),
        GgmlType::Q5_1 => legacy::dequantize_row_q5_1(data, out),
        GgmlType::Q2_K => kquants::dequantize_row_q2_k(data, out),
        GgmlType::Q3_K => kquants::dequantize_row_q3_k(data, out),
        GgmlType::Q4_K => kquants::dequantize_row_q4_k(data, out),
        GgmlType::Q5_K => kquants::dequantize_row_q5_k(data, out),
        GgmlType::Q6_K => kquants::dequantize_row_q6_k(data, out),
    }
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
