//! ggml K-quants (256-element super-blocks): ports of the `_ref` quantizers and the decoders.
//!
//! These are the paths `llama-quantize` takes when no importance matrix is given
//! (`quantize_qN_K` falls through to `quantize_row_qN_K_ref`). The scale searches keep the
//! reference's float operation order, accumulation order, rounding and tie rules, so the output
//! bytes are identical to an x86-64 build of ggml (where the compiler does not fuse multiply-add).

mod dequant;
mod fit;

use super::float::{f16_bits_to_f32, f32_to_f16_bits};
pub use dequant::{
    dequantize_row_q2_k, dequantize_row_q3_k, dequantize_row_q4_k, dequantize_row_q5_k,
    dequantize_row_q6_k,
};
use fit::{fit_q3, fit_qx_rmse1, fit_scale_min, transpose_in, transpose_out};

/// Elements per super-block.
pub const QK_K: usize = 256;
/// Bytes of the packed 6-bit scales/mins of Q4_K and Q5_K.
pub(crate) const K_SCALE_SIZE: usize = 12;

/// Q2_K block: `scales[16]` (4-bit scale | 4-bit min), `qs[64]`, f16 `d`, f16 `dmin`.
pub const Q2_K_BYTES: usize = QK_K / 16 + QK_K / 4 + 2 + 2;
/// Q3_K block: `hmask[32]`, `qs[64]`, `scales[12]` (6-bit signed), f16 `d`.
pub const Q3_K_BYTES: usize = QK_K / 8 + QK_K / 4 + 12 + 2;
/// Q4_K block: f16 `d`, f16 `dmin`, `scales[12]`, `qs[128]`.
pub const Q4_K_BYTES: usize = 2 + 2 + K_SCALE_SIZE + QK_K / 2;
/// Q5_K block: f16 `d`, f16 `dmin`, `scales[12]`, `qh[32]`, `qs[128]`.
pub const Q5_K_BYTES: usize = 2 + 2 + K_SCALE_SIZE + QK_K / 8 + QK_K / 2;
/// Q6_K block: `ql[128]`, `qh[64]`, `scales[16]` (i8), f16 `d`.
pub const Q6_K_BYTES: usize = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;

const _: () = assert!(Q2_K_BYTES == 84);
const _: () = assert!(Q3_K_BYTES == 110);
const _: () = assert!(Q4_K_BYTES == 144);
const _: () = assert!(Q5_K_BYTES == 176);
const _: () = assert!(Q6_K_BYTES == 210);

/// Groups whose largest magnitude is below this are treated as all zero.
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

/// Round to nearest, ties to even, by adding 1.5 * 2^23 and reading the mantissa bits.
/// Exact for |v| < 2^22; other inputs (incl. NaN) give the same garbage as the reference.
#[inline(always)]
pub(crate) fn nearest_int(v: f32) -> i32 {
    let t = v + 12_582_912.0;
    (t.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

#[inline(always)]
pub(crate) fn check_sizes(nx: usize, nout: usize, block_bytes: usize) {
    assert!(
        nx.is_multiple_of(QK_K),
        "row length {nx} is not a multiple of {QK_K}"
    );
    assert_eq!(
        nout,
        nx / QK_K * block_bytes,
        "output size does not match the row length"
    );
}

/// 6-bit scale and min number `j` (0..8) from the 12-byte packed field of Q4_K/Q5_K.
#[inline(always)]
pub(crate) fn scale_min_k4(j: usize, q: &[u8; K_SCALE_SIZE]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Packs eight 6-bit scales and mins into the 12-byte field read by [`scale_min_k4`].
#[inline(always)]
pub(crate) fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; K_SCALE_SIZE] {
    let mut s = [0u8; K_SCALE_SIZE];
    s[..4].copy_from_slice(&ls[..4]);
    s[4..8].copy_from_slice(&lm[..4]);
    for j in 4..8 {
        s[j + 4] = (ls[j] & 0x0f) | ((lm[j] & 0x0f) << 4);
        s[j - 4] |= (ls[j] >> 4) << 6;
        s[j] |= (lm[j] >> 4) << 6;
    }
    s
}

/// Q2_K: 16 sub-blocks of 16 with 2-bit levels, each with a 4-bit scale and 4-bit min relative
/// to the super-block `d` / `dmin`.
pub fn quantize_row_q2_k(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q2_K_BYTES);
    for (xb, ob) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(Q2_K_BYTES)) {
        let xb: &[f32; QK_K] = xb.try_into().unwrap();
        let xt = transpose_in::<16, 16>(xb);
        let mut w = [[0f32; 16]; 16];
        for i in 0..16 {
            for k in 0..16 {
                w[i][k] = xt[i][k].abs();
            }
        }
        let mut lt = [[0u8; 16]; 16];
        let (scales, mins) = fit_scale_min::<16, 16, true>(3, &xt, &w, &mut lt, -0.5, 0.1, 15);
        let mut levels = [0u8; QK_K];
        transpose_out(&lt, &mut levels);
        let (sc, d16, dmin16) = q2_k_scales(&scales, &mins);
        let (d, dm) = q2_k_group_scales(&sc, d16, dmin16);
        for j in 0..QK_K / 16 {
            if d[j] == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int((xb[16 * j + ii] + dm[j]) / d[j]).clamp(0, 3);
                levels[16 * j + ii] = l as u8;
            }
        }
        write_q2_k(ob, &sc, &levels, d16, dmin16);
    }
}

/// Q2_K super-block stage: 4-bit codes of the 16 sub-block scales and mins relative to the
/// largest of each (`scales[j] | mins[j] << 4`), and the f16 bits of `d` and `dmin`.
#[inline(always)]
pub(crate) fn q2_k_scales(scales: &[f32; 16], mins: &[f32; 16]) -> ([u8; 16], u16, u16) {
    const Q4SCALE: f32 = 15.0;
    let mut max_scale = 0f32;
    let mut max_min = 0f32;
    for j in 0..QK_K / 16 {
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let mut sc = [0u8; QK_K / 16];
    let d16 = if max_scale > 0.0 {
        let iscale = Q4SCALE / max_scale;
        for j in 0..QK_K / 16 {
            sc[j] = nearest_int(iscale * scales[j]) as u8;
        }
        f32_to_f16_bits(max_scale / Q4SCALE)
    } else {
        f32_to_f16_bits(0.0)
    };
    let dmin16 = if max_min > 0.0 {
        let iscale = Q4SCALE / max_min;
        for j in 0..QK_K / 16 {
            sc[j] |= (nearest_int(iscale * mins[j]) << 4) as u8;
        }
        f32_to_f16_bits(max_min / Q4SCALE)
    } else {
        f32_to_f16_bits(0.0)
    };
    (sc, d16, dmin16)
}

/// The stored (rounded) scale and min of each Q2_K sub-block: `d * (sc & 15)`,
/// `dmin * (sc >> 4)`. Sub-blocks with scale 0 keep the levels of the fit.
#[inline(always)]
pub(crate) fn q2_k_group_scales(sc: &[u8; 16], d16: u16, dmin16: u16) -> ([f32; 16], [f32; 16]) {
    let dr = f16_bits_to_f32(d16);
    let dminr = f16_bits_to_f32(dmin16);
    (
        std::array::from_fn(|j| dr * (sc[j] & 0x0f) as f32),
        std::array::from_fn(|j| dminr * (sc[j] >> 4) as f32),
    )
}

/// Writes one Q2_K block.
#[inline(always)]
pub(crate) fn write_q2_k(ob: &mut [u8], sc: &[u8; 16], levels: &[u8; QK_K], d16: u16, dmin16: u16) {
    ob[..16].copy_from_slice(sc);
    pack_2bit(levels, &mut ob[16..16 + 64]);
    ob[80..82].copy_from_slice(&d16.to_le_bytes());
    ob[82..84].copy_from_slice(&dmin16.to_le_bytes());
}

/// 2-bit packing shared by Q2_K and Q3_K: in each half of 128, byte `l` holds elements
/// `l`, `l+32`, `l+64`, `l+96` in bits 0-1, 2-3, 4-5, 6-7.
#[inline(always)]
fn pack_2bit(levels: &[u8; QK_K], qs: &mut [u8]) {
    for (h, q) in qs.chunks_exact_mut(32).enumerate() {
        let base = 128 * h;
        for l in 0..32 {
            q[l] = levels[base + l]
                | (levels[base + l + 32] << 2)
                | (levels[base + l + 64] << 4)
                | (levels[base + l + 96] << 6);
        }
    }
}

/// Q3_K: 16 sub-blocks of 16 with signed 3-bit levels (low 2 bits in `qs`, high bit in
/// `hmask`) and signed 6-bit sub-block scales relative to the super-block `d`.
pub fn quantize_row_q3_k(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q3_K_BYTES);
    for (xb, ob) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(Q3_K_BYTES)) {
        let xb: &[f32; QK_K] = xb.try_into().unwrap();
        let xt = transpose_in::<16, 16>(xb);
        let mut lt = [[0i8; 16]; 16];
        let scales = fit_q3(4, &xt, &mut lt);
        let mut levels = [0i8; QK_K];
        transpose_out(&lt, &mut levels);
        let mut levels = levels.map(|l| l as u8);
        let (sc, d16) = q3_k_scales(&scales);
        let d = q3_k_group_scales(&sc, d16);
        for j in 0..QK_K / 16 {
            if d[j] == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int(xb[16 * j + ii] / d[j]).clamp(-4, 3);
                levels[16 * j + ii] = (l + 4) as u8;
            }
        }
        write_q3_k(ob, &sc, &levels, d16);
    }
}

/// Q3_K super-block stage: signed 6-bit codes of the 16 sub-block scales relative to the one
/// of largest magnitude (packed as [`q3_scale`] reads them) and the f16 bits of `d`.
#[inline(always)]
pub(crate) fn q3_k_scales(scales: &[f32; 16]) -> ([u8; 12], u16) {
    let mut max_scale = 0f32;
    let mut amax = 0f32;
    for &s in scales {
        let a = s.abs();
        if a > amax {
            amax = a;
            max_scale = s;
        }
    }
    let mut sc = [0u8; 12];
    let d16 = if max_scale != 0.0 {
        let iscale = -32.0 / max_scale;
        for j in 0..QK_K / 16 {
            let l = (nearest_int(iscale * scales[j]) as i8 as i32).clamp(-32, 31) + 32;
            let l = l as u8;
            if j < 8 {
                sc[j] = l & 0x0f;
            } else {
                sc[j - 8] |= (l & 0x0f) << 4;
            }
            sc[j % 4 + 8] |= (l >> 4) << (2 * (j / 4));
        }
        f32_to_f16_bits(1.0 / iscale)
    } else {
        f32_to_f16_bits(0.0)
    };
    (sc, d16)
}

/// The stored (rounded) scale of each Q3_K sub-block. Sub-blocks with scale 0 keep the levels
/// of the fit.
#[inline(always)]
pub(crate) fn q3_k_group_scales(sc: &[u8; 12], d16: u16) -> [f32; 16] {
    let dr = f16_bits_to_f32(d16);
    std::array::from_fn(|j| dr * q3_scale(sc, j) as f32)
}

/// Writes one Q3_K block from levels in `0..8`.
#[inline(always)]
pub(crate) fn write_q3_k(ob: &mut [u8], sc: &[u8; 12], levels: &[u8; QK_K], d16: u16) {
    // high bit of element j goes to bit j/32 of hmask[j % 32]
    let mut low = [0u8; QK_K];
    let mut hmask = [0u8; QK_K / 8];
    // (levels are below 8: bit 2 is the high bit; written without branches)
    for j in 0..QK_K {
        let l = levels[j];
        hmask[j % 32] |= ((l >> 2) & 1) << (j / 32);
        low[j] = l & 3;
    }
    ob[..32].copy_from_slice(&hmask);
    pack_2bit(&low, &mut ob[32..96]);
    ob[96..108].copy_from_slice(sc);
    ob[108..110].copy_from_slice(&d16.to_le_bytes());
}

/// Signed 6-bit scale `j` (0..16) of a Q3_K block: low nibble from `s[j % 8]`, high two bits
/// from `s[8 + j % 4]`, minus 32.
#[inline(always)]
pub(crate) fn q3_scale(s: &[u8], j: usize) -> i32 {
    let lo = if j < 8 { s[j] & 0x0f } else { s[j - 8] >> 4 };
    let hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    (lo | (hi << 4)) as i32 - 32
}

/// Level range, `rmin` and number of steps of the Q4_K (`false`) and Q5_K (`true`) fits.
#[inline(always)]
pub(crate) const fn k4_params(q5: bool) -> (i32, f32, i32) {
    if q5 { (31, -0.5, 15) } else { (15, -1.0, 20) }
}

/// Q4_K: 8 sub-blocks of 32 with 4-bit levels, 6-bit scales and mins relative to the
/// super-block `d` / `dmin`.
pub fn quantize_row_q4_k(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q4_K_BYTES);
    quantize_row_k4(x, out, false);
}

/// Q5_K: as Q4_K with 5-bit levels; the fifth bits go to `qh`.
pub fn quantize_row_q5_k(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q5_K_BYTES);
    quantize_row_k4(x, out, true);
}

/// Q4_K and Q5_K: per 32-element sub-block, weights `sqrt(mean(x^2)) + |x|` and an
/// asymmetric fit; then the 6-bit scale/min codes relative to the largest scale and min, and
/// the final levels recomputed from the stored (rounded) scales.
#[inline(always)]
fn quantize_row_k4(x: &[f32], out: &mut [u8], q5: bool) {
    let (nmax, rmin, nstep) = k4_params(q5);
    let bytes = if q5 { Q5_K_BYTES } else { Q4_K_BYTES };
    for (xb, ob) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(bytes)) {
        let xb: &[f32; QK_K] = xb.try_into().unwrap();
        let xt = transpose_in::<32, 8>(xb);
        let mut sum_x2 = [0f32; 8];
        for row in &xt {
            for k in 0..8 {
                sum_x2[k] += row[k] * row[k];
            }
        }
        let mut av_x = [0f32; 8];
        for k in 0..8 {
            av_x[k] = (sum_x2[k] / 32.0).sqrt();
        }
        let mut w = [[0f32; 8]; 32];
        for i in 0..32 {
            for k in 0..8 {
                w[i][k] = av_x[k] + xt[i][k].abs();
            }
        }
        let mut lt = [[0u8; 8]; 32];
        let (scales, mins) =
            fit_scale_min::<32, 8, false>(nmax, &xt, &w, &mut lt, rmin, 0.1, nstep);
        let mut levels = [0u8; QK_K];
        transpose_out(&lt, &mut levels);
        let (d16, dmin16, packed) = k4_scales(&scales, &mins);
        let (d, dm) = k4_group_scales(d16, dmin16, &packed);
        for j in 0..QK_K / 32 {
            if d[j] == 0.0 {
                continue;
            }
            for ii in 0..32 {
                let l = nearest_int((xb[32 * j + ii] + dm[j]) / d[j]).clamp(0, nmax);
                levels[32 * j + ii] = l as u8;
            }
        }
        if q5 {
            write_q5_k(ob, d16, dmin16, &packed, &levels);
        } else {
            write_q4_k(ob, d16, dmin16, &packed, &levels);
        }
    }
}

/// Q4_K/Q5_K super-block stage: 6-bit codes of the 8 sub-block scales and mins relative to
/// the largest of each, packed; the f16 bits of `d` and `dmin`.
#[inline(always)]
pub(crate) fn k4_scales(scales: &[f32; 8], mins: &[f32; 8]) -> (u16, u16, [u8; K_SCALE_SIZE]) {
    let mut max_scale = 0f32;
    let mut max_min = 0f32;
    for j in 0..QK_K / 32 {
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    for j in 0..QK_K / 32 {
        ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
    }
    let packed = pack_scale_min_k4(&ls, &lm);
    let d16 = f32_to_f16_bits(max_scale / 63.0);
    let dmin16 = f32_to_f16_bits(max_min / 63.0);
    (d16, dmin16, packed)
}

/// The stored (rounded) scale and min of each Q4_K/Q5_K sub-block. Sub-blocks with scale 0
/// keep the levels of the fit.
#[inline(always)]
pub(crate) fn k4_group_scales(
    d16: u16,
    dmin16: u16,
    packed: &[u8; K_SCALE_SIZE],
) -> ([f32; 8], [f32; 8]) {
    let dr = f16_bits_to_f32(d16);
    let dminr = f16_bits_to_f32(dmin16);
    (
        std::array::from_fn(|j| dr * scale_min_k4(j, packed).0 as f32),
        std::array::from_fn(|j| dminr * scale_min_k4(j, packed).1 as f32),
    )
}

/// Writes one Q4_K block from levels in `0..16`.
#[inline(always)]
pub(crate) fn write_q4_k(
    ob: &mut [u8],
    d16: u16,
    dmin16: u16,
    packed: &[u8; K_SCALE_SIZE],
    levels: &[u8; QK_K],
) {
    ob[0..2].copy_from_slice(&d16.to_le_bytes());
    ob[2..4].copy_from_slice(&dmin16.to_le_bytes());
    ob[4..16].copy_from_slice(packed);
    for (c, q) in ob[16..Q4_K_BYTES].chunks_exact_mut(32).enumerate() {
        let base = 64 * c;
        for l in 0..32 {
            q[l] = levels[base + l] | (levels[base + l + 32] << 4);
        }
    }
}

/// Writes one Q5_K block from levels in `0..32`.
#[inline(always)]
pub(crate) fn write_q5_k(
    ob: &mut [u8],
    d16: u16,
    dmin16: u16,
    packed: &[u8; K_SCALE_SIZE],
    levels: &[u8; QK_K],
) {
    ob[0..2].copy_from_slice(&d16.to_le_bytes());
    ob[2..4].copy_from_slice(&dmin16.to_le_bytes());
    ob[4..16].copy_from_slice(packed);
    let (qh, ql) = ob[16..Q5_K_BYTES].split_at_mut(32);
    qh.fill(0);
    for (c, q) in ql.chunks_exact_mut(32).enumerate() {
        let base = 64 * c;
        // (levels are below 32: bit 4 is the fifth bit; written without branches)
        for j in 0..32 {
            let l1 = levels[base + j];
            let l2 = levels[base + j + 32];
            qh[j] |= (((l1 >> 4) & 1) << (2 * c)) | (((l2 >> 4) & 1) << (2 * c + 1));
            q[j] = (l1 & 0x0f) | ((l2 & 0x0f) << 4);
        }
    }
}

/// Q6_K: 16 sub-blocks of 16 with signed 6-bit levels (low nibbles in `ql`, high two bits in
/// `qh`) and signed 8-bit scales relative to the super-block `d`.
pub fn quantize_row_q6_k(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q6_K_BYTES);
    for (xb, ob) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(Q6_K_BYTES)) {
        let xb: &[f32; QK_K] = xb.try_into().unwrap();
        let xt = transpose_in::<16, 16>(xb);
        let mut lt = [[0i8; 16]; 16];
        let scales = fit_qx_rmse1(32, &xt, &mut lt);
        let mut levels = [0i8; QK_K];
        transpose_out(&lt, &mut levels);
        let mut levels = levels.map(|l| l as u8);
        let Some((sc, d16)) = q6_k_scales(&scales) else {
            // the reference zeroes the whole block (d = +0.0)
            ob.fill(0);
            continue;
        };
        let d = q6_k_group_scales(&sc, d16);
        for j in 0..QK_K / 16 {
            if d[j] == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int(xb[16 * j + ii] / d[j]).clamp(-32, 31);
                levels[16 * j + ii] = (l + 32) as u8;
            }
        }
        write_q6_k(ob, &sc, &levels, d16);
    }
}

/// Q6_K super-block stage: signed 8-bit codes of the 16 sub-block scales relative to the one
/// of largest magnitude, and the f16 bits of `d`; `None` when every scale is (nearly) zero,
/// for which the reference writes an all-zero block.
#[inline(always)]
pub(crate) fn q6_k_scales(scales: &[f32; 16]) -> Option<([i8; 16], u16)> {
    let mut max_scale = 0f32;
    let mut max_abs_scale = 0f32;
    for &s in scales {
        let a = s.abs();
        if a > max_abs_scale {
            max_abs_scale = a;
            max_scale = s;
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        return None;
    }
    let iscale = -128.0 / max_scale;
    let d16 = f32_to_f16_bits(1.0 / iscale);
    let mut sc = [0i8; QK_K / 16];
    for ib in 0..QK_K / 16 {
        sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
    }
    Some((sc, d16))
}

/// The stored (rounded) scale of each Q6_K sub-block. Sub-blocks with scale 0 keep the levels
/// of the fit.
#[inline(always)]
pub(crate) fn q6_k_group_scales(sc: &[i8; 16], d16: u16) -> [f32; 16] {
    let dr = f16_bits_to_f32(d16);
    std::array::from_fn(|j| dr * sc[j] as f32)
}

/// Writes one Q6_K block from levels in `0..64`.
#[inline(always)]
pub(crate) fn write_q6_k(ob: &mut [u8], sc: &[i8; 16], levels: &[u8; QK_K], d16: u16) {
    let (ql, rest) = ob.split_at_mut(QK_K / 2);
    let (qh, rest) = rest.split_at_mut(QK_K / 4);
    for h in 0..2 {
        let lv = &levels[128 * h..128 * h + 128];
        let ql = &mut ql[64 * h..64 * h + 64];
        let qh = &mut qh[32 * h..32 * h + 32];
        for l in 0..32 {
            let q1 = lv[l];
            let q2 = lv[l + 32];
            let q3 = lv[l + 64];
            let q4 = lv[l + 96];
            ql[l] = (q1 & 0x0f) | ((q3 & 0x0f) << 4);
            ql[l + 32] = (q2 & 0x0f) | ((q4 & 0x0f) << 4);
            qh[l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
        }
    }
    for (o, s) in rest[..16].iter_mut().zip(sc) {
        *o = *s as u8;
    }
    rest[16..18].copy_from_slice(&d16.to_le_bytes());
}

#[cfg(test)]
mod tests;
