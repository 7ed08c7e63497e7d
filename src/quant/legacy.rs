//! ggml's 32-element block formats: Q8_0, and Q4_0, Q4_1, Q5_0, Q5_1 (fallback types of the
//! K-quant presets). Ports of the `quantize_row_*_ref` / `dequantize_row_*` functions.

use super::float::{f16_bits_to_f32, f32_to_f16_bits};

/// Q8_0: per 32 values, `d = amax/127` (stored as f16), `q = round(x/d)` with ties away from 0.
pub fn quantize_row_q8_0(x: &[f32], out: &mut [u8]) {
    for (xb, ob) in x.chunks_exact(32).zip(out.chunks_exact_mut(34)) {
        let mut amax = 0f32;
        for v in xb {
            amax = amax.max(v.abs());
        }
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        ob[0..2].copy_from_slice(&f32_to_f16_bits(d).to_le_bytes());
        for (o, v) in ob[2..].iter_mut().zip(xb) {
            *o = (v * id).round() as i8 as u8;
        }
    }
}

/// Inverse of [`quantize_row_q8_0`].
pub fn dequantize_row_q8_0(data: &[u8], out: &mut [f32]) {
    for (b, o) in data.chunks_exact(34).zip(out.chunks_exact_mut(32)) {
        let d = f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]));
        for (v, q) in o.iter_mut().zip(&b[2..]) {
            *v = (*q as i8) as f32 * d;
        }
    }
}

/// Q4_0 (to be ported).
pub fn quantize_row_q4_0(_x: &[f32], _out: &mut [u8]) {
    unimplemented!("q4_0")
}
/// Q4_0 decode (to be ported).
pub fn dequantize_row_q4_0(_d: &[u8], _out: &mut [f32]) {
    unimplemented!("q4_0")
}
/// Q4_1 (to be ported).
pub fn quantize_row_q4_1(_x: &[f32], _out: &mut [u8]) {
    unimplemented!("q4_1")
}
/// Q4_1 decode (to be ported).
pub fn dequantize_row_q4_1(_d: &[u8], _out: &mut [f32]) {
    unimplemented!("q4_1")
}
/// Q5_0 (to be ported).
pub fn quantize_row_q5_0(_x: &[f32], _out: &mut [u8]) {
    unimplemented!("q5_0")
}
/// Q5_0 decode (to be ported).
pub fn dequantize_row_q5_0(_d: &[u8], _out: &mut [f32]) {
    unimplemented!("q5_0")
}
/// Q5_1 (to be ported).
pub fn quantize_row_q5_1(_x: &[f32], _out: &mut [u8]) {
    unimplemented!("q5_1")
}
/// Q5_1 decode (to be ported).
pub fn dequantize_row_q5_1(_d: &[u8], _out: &mut [f32]) {
    unimplemented!("q5_1")
}
