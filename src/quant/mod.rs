//! Element encoders and decoders: float conversions, FP8 decoding, and ports of ggml's
//! reference quantizers (`quantize_row_*_ref`), bit-exact with llama.cpp.

pub mod float;
pub mod kquants;
pub mod legacy;
pub mod preset;

pub mod types;

pub use types::{GgmlType, TYPES, TypeTraits};

/// Encodes one row of `x` (length a multiple of `ty.block_size()`) into `out`
/// (exactly `ty.row_bytes(x.len())` bytes), as ggml's reference code does.
pub fn quantize_row(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    debug_assert_eq!(Some(out.len() as u64), ty.row_bytes(x.len() as u64));
    (ty.traits().quantize)(x, out)
}

/// Decodes one row of `ty` data into `out` (`out.len()` elements).
pub fn dequantize_row(ty: GgmlType, data: &[u8], out: &mut [f32]) {
    debug_assert_eq!(Some(data.len() as u64), ty.row_bytes(out.len() as u64));
    (ty.traits().dequantize)(data, out)
}

/// Defines a K-quant row encoder that runs the portable port in a copy compiled for AVX2
/// when the CPU has it. Rust never contracts a multiply and an add into an FMA, so the
/// results are bit-identical; only the vector width changes.
macro_rules! avx2_dispatched {
    ($(#[$doc:meta] $name:ident => $portable:path;)*) => {$(
        #[$doc]
        pub fn $name(x: &[f32], out: &mut [u8]) {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2(x: &[f32], out: &mut [u8]) {
                    $portable(x, out)
                }
                // SAFETY: the CPU supports AVX2, checked just above.
                unsafe { avx2(x, out) };
                return;
            }
            $portable(x, out)
        }
    )*};
}

/// K-quant encoders with run-time CPU dispatch (the entry points of [`TYPES`]).
pub mod dispatch {
    avx2_dispatched! {
        /// Q2_K row encoder.
        quantize_q2_k => super::kquants::quantize_row_q2_k;
        /// Q3_K row encoder.
        quantize_q3_k => super::kquants::quantize_row_q3_k;
        /// Q4_K row encoder.
        quantize_q4_k => super::kquants::quantize_row_q4_k;
        /// Q5_K row encoder.
        quantize_q5_k => super::kquants::quantize_row_q5_k;
        /// Q6_K row encoder.
        quantize_q6_k => super::kquants::quantize_row_q6_k;
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
            (match ty {
                GgmlType::Q2_K => kquants::quantize_row_q2_k,
                GgmlType::Q3_K => kquants::quantize_row_q3_k,
                GgmlType::Q4_K => kquants::quantize_row_q4_k,
                GgmlType::Q5_K => kquants::quantize_row_q5_k,
                _ => kquants::quantize_row_q6_k,
            })(&x, &mut b);
            assert_eq!(a, b, "{ty}");
            assert!(a.iter().any(|&v| v != 0));
        }
    }
}
