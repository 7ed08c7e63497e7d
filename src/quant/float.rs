//! Scalar float formats: IEEE half, bfloat16, FP8 e4m3fn and E8M0 scales.
//!
//! Rounding follows ggml and gguf-py exactly: round to nearest even for f16 and bf16,
//! with bf16 NaNs quieted as `(bits >> 16) | 0x40`.

use super::simd::{self, Isa};
use half::f16;

/// f32 → bf16 bits, as ggml's `ggml_compute_fp32_to_bf16` and gguf-py do.
#[inline]
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    let u = x.to_bits();
    if (u & 0x7fff_ffff) > 0x7f80_0000 {
        return ((u >> 16) | 0x40) as u16;
    }
    ((u.wrapping_add(0x7fff + ((u >> 16) & 1))) >> 16) as u16
}

/// bf16 bits → f32 (exact).
#[inline]
pub fn bf16_bits_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// f32 → f16 bits, round to nearest even (overflow gives ±inf).
#[inline]
pub fn f32_to_f16_bits(x: f32) -> u16 {
    f16::from_f32(x).to_bits()
}

/// f16 bits → f32 (exact).
#[inline]
pub fn f16_bits_to_f32(b: u16) -> f32 {
    f16::from_bits(b).to_f32()
}

/// Rounds `x` to the nearest bf16 value, returned as f32.
#[inline]
pub fn round_to_bf16(x: f32) -> f32 {
    bf16_bits_to_f32(f32_to_bf16_bits(x))
}

/// Encodes `x` as little-endian f16 into `out` (2 bytes per element).
pub fn f32_to_f16_bytes(x: &[f32], out: &mut [u8]) {
    for (o, v) in out.chunks_exact_mut(2).zip(x) {
        o.copy_from_slice(&f32_to_f16_bits(*v).to_le_bytes());
    }
}

/// Encodes `x` as little-endian bf16 into `out` (2 bytes per element).
pub fn f32_to_bf16_bytes(x: &[f32], out: &mut [u8]) {
    for (o, v) in out.chunks_exact_mut(2).zip(x) {
        o.copy_from_slice(&f32_to_bf16_bits(*v).to_le_bytes());
    }
}

/// Decodes little-endian f16 bytes.
pub fn f16_bytes_to_f32(data: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(data.chunks_exact(2)) {
        *o = f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
}

/// Decodes little-endian bf16 bytes (`data.len() == 2 * out.len()`), vectorised where the CPU
/// allows ([`Isa::active`]).
pub fn bf16_bytes_to_f32(data: &[u8], out: &mut [f32]) {
    bf16_bytes_to_f32_isa(Isa::active(), data, out);
}

/// [`bf16_bytes_to_f32`] with the kernel of `isa`.
///
/// # Panics
/// When the running CPU does not support `isa`.
pub fn bf16_bytes_to_f32_isa(isa: Isa, data: &[u8], out: &mut [f32]) {
    if !simd::bf16_bytes_to_f32(isa, data, out) {
        bf16_bytes_to_f32_scalar(data, out);
    }
}

/// [`bf16_bytes_to_f32`] in portable scalar code (the fallback and test oracle).
pub fn bf16_bytes_to_f32_scalar(data: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(data.chunks_exact(2)) {
        *o = bf16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
}

/// Decodes one FP8 e4m3fn code (no infinities; 0x7F and 0xFF are NaN), as torch's
/// `float8_e4m3fn` does.
pub const fn e4m3fn_to_f32(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0f32 } else { 1.0f32 };
    let exp = ((b >> 3) & 0x0f) as i32;
    let man = (b & 0x07) as i32;
    if exp == 0x0f && man == 0x07 {
        return f32::NAN;
    }
    if exp == 0 {
        // subnormal: man/8 * 2^-6
        return sign * (man as f32) * (1.0 / 512.0);
    }
    // normal: (1 + man/8) * 2^(exp-7)
    let bits = (((exp - 7 + 127) as u32) << 23) | ((man as u32) << 20);
    sign * f32::from_bits(bits)
}

/// All 256 e4m3fn codes decoded, for table look-up in hot loops.
pub static E4M3FN_LUT: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = e4m3fn_to_f32(i as u8);
        i += 1;
    }
    t
};

/// One FP8 e4m3fn code times its block scale: `E4M3FN_LUT[q] * scale`. The two NaN codes give
/// [`f32::NAN`] whatever the scale (what x86 returns for `NAN * scale` with the table value as
/// the first operand; written out so that the result does not depend on operand order when
/// the scale is a NaN too).
#[inline(always)]
pub fn fp8_scaled(q: u8, scale: f32) -> f32 {
    if q & 0x7f == 0x7f {
        f32::NAN
    } else {
        E4M3FN_LUT[q as usize] * scale
    }
}

/// Decodes one row of FP8 e4m3fn codes with per-block scales: element `i` is
/// [`fp8_scaled`]`(codes[i], scales[i / block_cols])`. `out` has `codes.len()` elements;
/// columns beyond the last scale are left as they are. Vectorised where the CPU allows
/// ([`Isa::active`]).
pub fn fp8_block_row(codes: &[u8], scales: &[f32], block_cols: usize, out: &mut [f32]) {
    fp8_block_row_isa(Isa::active(), codes, scales, block_cols, out);
}

/// [`fp8_block_row`] with the kernel of `isa`.
///
/// # Panics
/// When the running CPU does not support `isa`.
pub fn fp8_block_row_isa(
    isa: Isa,
    codes: &[u8],
    scales: &[f32],
    block_cols: usize,
    out: &mut [f32],
) {
    if !simd::fp8_block_row(isa, codes, scales, block_cols, out) {
        fp8_block_row_scalar(codes, scales, block_cols, out);
    }
}

/// [`fp8_block_row`] in portable scalar code (the fallback and test oracle).
pub fn fp8_block_row_scalar(codes: &[u8], scales: &[f32], block_cols: usize, out: &mut [f32]) {
    check_fp8_block_row(codes, scales, block_cols, out);
    for ((oc, cc), s) in out
        .chunks_mut(block_cols)
        .zip(codes.chunks(block_cols))
        .zip(scales)
    {
        for (o, q) in oc.iter_mut().zip(cc) {
            *o = fp8_scaled(*q, *s);
        }
    }
}

#[inline(always)]
pub(crate) fn check_fp8_block_row(codes: &[u8], _scales: &[f32], block_cols: usize, out: &[f32]) {
    assert_eq!(codes.len(), out.len(), "one output per FP8 code");
    assert!(block_cols > 0, "FP8 block width 0");
}

/// Decodes one E8M0 scale code: `2^(b-127)`, 0xFF is NaN.
pub fn e8m0_to_f32(b: u8) -> f32 {
    if b == 0xff {
        return f32::NAN;
    }
    if b == 0 {
        // 2^-127 is subnormal in f32
        return f32::from_bits(0x0040_0000);
    }
    f32::from_bits((b as u32) << 23)
}

/// Writes f32 values as little-endian bytes (the F32 "encoder").
pub fn f32_row(x: &[f32], out: &mut [u8]) {
    for (o, v) in out.chunks_exact_mut(4).zip(x) {
        o.copy_from_slice(&v.to_le_bytes());
    }
}

/// Reads little-endian f32 bytes (the F32 "decoder").
pub fn f32_row_decode(data: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(data.chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e4m3fn_all_codes() {
        // independent formula: value = (-1)^s * 2^(e-7) * (1 + m/8), subnormals 2^-6 * m/8
        for code in 0u16..256 {
            let b = code as u8;
            let v = E4M3FN_LUT[b as usize];
            let s = if b & 0x80 != 0 { -1.0f64 } else { 1.0 };
            let e = ((b >> 3) & 15) as i32;
            let m = (b & 7) as f64;
            if b & 0x7f == 0x7f {
                assert!(v.is_nan(), "code {b:#x}");
                continue;
            }
            let want = if e == 0 {
                s * 2f64.powi(-6) * m / 8.0
            } else {
                s * 2f64.powi(e - 7) * (1.0 + m / 8.0)
            };
            assert_eq!(v as f64, want, "code {b:#x}");
        }
        assert_eq!(E4M3FN_LUT[0x7e], 448.0);
        assert_eq!(E4M3FN_LUT[0x01], 2f32.powi(-9));
        assert_eq!(E4M3FN_LUT[0x80].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn bf16_rounding_is_nearest_even() {
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3f80_8000)), 0x3f80); // tie → even
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3f81_8000)), 0x3f82); // tie → even (up)
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3f80_8001)), 0x3f81);
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x7f80_0001)), 0x7fc0);
        assert_eq!(f32_to_bf16_bits(f32::MAX), 0x7f80);
    }

    #[test]
    fn f16_rounding() {
        assert_eq!(f32_to_f16_bits(1.0), 0x3c00);
        assert_eq!(f32_to_f16_bits(65520.0), 0x7c00);
        assert_eq!(f32_to_f16_bits(1.0 + 2f32.powi(-11)), 0x3c00); // tie → even
    }

    #[test]
    fn e8m0() {
        assert_eq!(e8m0_to_f32(127), 1.0);
        assert_eq!(e8m0_to_f32(120), 2f32.powi(-7));
        assert!(e8m0_to_f32(255).is_nan());
    }
}
