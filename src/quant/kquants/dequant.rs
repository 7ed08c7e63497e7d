//! The K-quant decoders (ggml's `dequantize_row_qN_K`).

use super::{
    K_SCALE_SIZE, Q2_K_BYTES, Q3_K_BYTES, Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES, QK_K, check_sizes,
    q3_scale, scale_min_k4,
};
use crate::quant::float::f16_bits_to_f32;

#[inline(always)]
fn get_f16(src: &[u8]) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([src[0], src[1]]))
}

/// Inverse of [`quantize_row_q2_k`]: `d * scale * q - dmin * min`.
pub fn dequantize_row_q2_k(data: &[u8], out: &mut [f32]) {
    check_sizes(out.len(), data.len(), Q2_K_BYTES);
    for (b, o) in data
        .chunks_exact(Q2_K_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let scales = &b[..16];
        let qs = &b[16..80];
        let d = get_f16(&b[80..82]);
        let min = get_f16(&b[82..84]);
        let mut is = 0;
        for h in 0..2 {
            let q = &qs[32 * h..32 * h + 32];
            for k in 0..4 {
                let shift = 2 * k;
                for half in 0..2 {
                    let sc = scales[is];
                    is += 1;
                    let dl = d * (sc & 0x0f) as f32;
                    let ml = min * (sc >> 4) as f32;
                    let dst = &mut o[128 * h + 32 * k + 16 * half..][..16];
                    for (l, y) in dst.iter_mut().enumerate() {
                        *y = dl * ((q[16 * half + l] >> shift) & 3) as f32 - ml;
                    }
                }
            }
        }
    }
}

/// Inverse of [`quantize_row_q3_k`]: `d * scale * (q - 4)`, where 4 is subtracted when the
/// `hmask` bit is clear.
pub fn dequantize_row_q3_k(data: &[u8], out: &mut [f32]) {
    check_sizes(out.len(), data.len(), Q3_K_BYTES);
    for (b, o) in data
        .chunks_exact(Q3_K_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let hm = &b[..32];
        let qs = &b[32..96];
        let sc = &b[96..108];
        let d_all = get_f16(&b[108..110]);
        let mut is = 0;
        let mut m = 0u32;
        for h in 0..2 {
            let q = &qs[32 * h..32 * h + 32];
            for k in 0..4 {
                let shift = 2 * k;
                let bit = 1u8 << m;
                for half in 0..2 {
                    let dl = d_all * q3_scale(sc, is) as f32;
                    is += 1;
                    let dst = &mut o[128 * h + 32 * k + 16 * half..][..16];
                    for (l, y) in dst.iter_mut().enumerate() {
                        let i = 16 * half + l;
                        let v = ((q[i] >> shift) & 3) as i32 - if hm[i] & bit != 0 { 0 } else { 4 };
                        *y = dl * v as f32;
                    }
                }
                m += 1;
            }
        }
    }
}

/// Inverse of [`quantize_row_q4_k`]: `d * scale * q - dmin * min`.
pub fn dequantize_row_q4_k(data: &[u8], out: &mut [f32]) {
    check_sizes(out.len(), data.len(), Q4_K_BYTES);
    for (b, o) in data
        .chunks_exact(Q4_K_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let d = get_f16(&b[0..2]);
        let min = get_f16(&b[2..4]);
        let scales: &[u8; K_SCALE_SIZE] = b[4..16].try_into().unwrap();
        for (c, (q, y)) in b[16..]
            .chunks_exact(32)
            .zip(o.chunks_exact_mut(64))
            .enumerate()
        {
            let (sc1, m1) = scale_min_k4(2 * c, scales);
            let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
            let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
            let (ya, yb) = y.split_at_mut(32);
            for l in 0..32 {
                ya[l] = d1 * (q[l] & 0x0f) as f32 - m1;
                yb[l] = d2 * (q[l] >> 4) as f32 - m2;
            }
        }
    }
}

/// Inverse of [`quantize_row_q5_k`].
pub fn dequantize_row_q5_k(data: &[u8], out: &mut [f32]) {
    check_sizes(out.len(), data.len(), Q5_K_BYTES);
    for (b, o) in data
        .chunks_exact(Q5_K_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let d = get_f16(&b[0..2]);
        let min = get_f16(&b[2..4]);
        let scales: &[u8; K_SCALE_SIZE] = b[4..16].try_into().unwrap();
        let qh = &b[16..48];
        for (c, (q, y)) in b[48..]
            .chunks_exact(32)
            .zip(o.chunks_exact_mut(64))
            .enumerate()
        {
            let (sc1, m1) = scale_min_k4(2 * c, scales);
            let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
            let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
            let u1 = 1u8 << (2 * c);
            let u2 = 2u8 << (2 * c);
            let (ya, yb) = y.split_at_mut(32);
            for l in 0..32 {
                let ha = if qh[l] & u1 != 0 { 16 } else { 0 };
                let hb = if qh[l] & u2 != 0 { 16 } else { 0 };
                ya[l] = d1 * ((q[l] & 0x0f) + ha) as f32 - m1;
                yb[l] = d2 * ((q[l] >> 4) + hb) as f32 - m2;
            }
        }
    }
}

/// Inverse of [`quantize_row_q6_k`]: `d * scale * (q - 32)`.
pub fn dequantize_row_q6_k(data: &[u8], out: &mut [f32]) {
    check_sizes(out.len(), data.len(), Q6_K_BYTES);
    for (b, o) in data
        .chunks_exact(Q6_K_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let d = get_f16(&b[208..210]);
        for h in 0..2 {
            let ql = &b[64 * h..64 * h + 64];
            let qh = &b[128 + 32 * h..128 + 32 * h + 32];
            let sc = &b[192 + 8 * h..192 + 8 * h + 8];
            let y = &mut o[128 * h..128 * h + 128];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
            }
        }
    }
}
