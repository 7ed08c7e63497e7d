//! Importance-weighted quantizers: ports of ggml's `quantize_row_*_impl` paths, the ones
//! `llama-quantize --imatrix` takes (`quantize_qN(…, quant_weights)` with weights present).
//!
//! Every entry point has the shape `fn(x, qw, out)` for one row: `qw` holds one importance
//! value per column (the row length), or `None`, in which case the row goes through the
//! unweighted reference quantizer exactly as ggml does when no weights are given. Q8_0 has no
//! weighted path in ggml (it ignores the weights), so neither has it here.
//!
//! The code is scalar and keeps the reference's operation order (no fused multiply-add, same
//! accumulation order, same tie rules and integer narrowing), so the bytes equal an x86-64
//! build of ggml.

use super::float::f32_to_f16_bits;
use super::kquants::{
    self, GROUP_MAX_EPS, K_SCALE_SIZE, Q2_K_BYTES, Q3_K_BYTES, Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES,
    QK_K, check_sizes, k4_group_scales, nearest_int, pack_scale_min_k4, q3_k_group_scales,
    q6_k_group_scales, q6_k_scales, write_q2_k, write_q3_k, write_q4_k, write_q5_k, write_q6_k,
};
use super::legacy::{self, Q4_0_BYTES, Q4_1_BYTES, Q5_0_BYTES, Q5_1_BYTES, QK};

/// Symmetric weighted fit (ggml's `make_qx_quants` with `rmse_type = 1` and weights `qw`):
/// levels `-nmax..nmax` stored as `level + nmax` in `l`; returns the scale.
fn make_qx_quants_w(nmax: i32, x: &[f32], l: &mut [i8], qw: &[f32]) -> f32 {
    let n = x.len();
    let mut max = 0f32;
    let mut amax = 0f32;
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).min(nmax - 1).max(-nmax);
    let mut iscale = -(nmax as f32) / max;
    let mut sumlx = 0f32;
    let mut suml2 = 0f32;
    for i in 0..n {
        let li = level(iscale, x[i]);
        l[i] = (li + nmax) as i8;
        let w = qw[i];
        let lf = li as f32;
        sumlx += w * x[i] * lf;
        suml2 += w * lf * lf;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1f32 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for i in 0..n {
            let lf = level(iscale, x[i]) as f32;
            let w = qw[i];
            sumlx += w * x[i] * lf;
            suml2 += w * lf * lf;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for i in 0..n {
                l[i] = (nmax + level(iscale, x[i])) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Weighted asymmetric fit `x ≈ scale * L + min`, `L` in `0..=nmax`, `min <= 0` (ggml's
/// `make_qkx3_quants` with weights, squared error). Writes `l`; returns `(scale, -min)`.
fn make_qkx3_quants_w(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max <= min {
        l.fill(0);
        return (0.0, -min);
    }
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_mad = 0f32;
    for i in 0..n {
        let li = nearest_int(iscale * (x[i] - min)).min(nmax).max(0);
        l[i] = li as u8;
        let diff = scale * li as f32 + min - x[i];
        let diff = diff * diff;
        best_mad += weights[i] * diff;
    }
    if nstep < 1 {
        return (scale, -min);
    }
    let mut laux = [0u8; 32];
    let laux = &mut laux[..n];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        let mut sum_l = 0f32;
        let mut sum_l2 = 0f32;
        let mut sum_xl = 0f32;
        for i in 0..n {
            let li = nearest_int(iscale * (x[i] - min)).min(nmax).max(0);
            laux[i] = li as u8;
            let w = weights[i];
            let lf = li as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut mad = 0f32;
            for i in 0..n {
                let diff = this_scale * laux[i] as f32 + this_min - x[i];
                let diff = diff * diff;
                mad += weights[i] * diff;
            }
            if mad < best_mad {
                l.copy_from_slice(laux);
                best_mad = mad;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Weighted fit of non-negative values to levels `0..=nmax` with no offset (ggml's
/// `make_qp_quants`, used for the super-block scales). Levels are narrowed to bytes the way
/// the C code stores them; returns the scale.
fn make_qp_quants(nmax: i32, x: &[f32], l: &mut [u8], qw: &[f32]) -> f32 {
    let n = x.len();
    let mut max = 0f32;
    for &v in x {
        max = if max > v { max } else { v };
    }
    if max < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let mut iscale = nmax as f32 / max;
    for i in 0..n {
        l[i] = nearest_int(iscale * x[i]) as u8;
    }
    let scale = 1.0 / iscale;
    let mut best_mse = 0f32;
    for i in 0..n {
        let diff = x[i] - scale * l[i] as f32;
        best_mse += qw[i] * diff * diff;
    }
    for is in -4i32..=4 {
        if is == 0 {
            continue;
        }
        let iscale_is = (0.1f32 * is as f32 + nmax as f32) / max;
        let scale_is = 1.0 / iscale_is;
        let mut mse = 0f32;
        for i in 0..n {
            let li = nearest_int(iscale_is * x[i]).min(nmax);
            let diff = x[i] - scale_is * li as f32;
            mse += qw[i] * diff * diff;
        }
        if mse < best_mse {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    let mut sumlx = 0f32;
    let mut suml2 = 0f32;
    for i in 0..n {
        let li = nearest_int(iscale * x[i]).min(nmax);
        l[i] = li as u8;
        let w = qw[i];
        let lf = li as f32;
        sumlx += w * x[i] * lf;
        suml2 += w * lf * lf;
    }
    for _ in 0..5 {
        let mut changed = false;
        for i in 0..n {
            let w = qw[i];
            let li = l[i] as f32;
            let mut slx = sumlx - w * x[i] * li;
            let mut sl2 = suml2 - w * li * li;
            if slx > 0.0 && sl2 > 0.0 {
                let new_l = nearest_int(x[i] * sl2 / slx).min(nmax);
                if new_l != l[i] as i32 {
                    let nf = new_l as f32;
                    slx += w * x[i] * nf;
                    sl2 += w * nf * nf;
                    if slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l[i] = new_l as u8;
                        sumlx = slx;
                        suml2 = sl2;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    if suml2 > 0.0 { sumlx / suml2 } else { 0.0 }
}

/// Checks the weights' length against the row (the caller's contract).
#[inline]
fn check_weights(x: &[f32], qw: &[f32]) {
    assert_eq!(
        qw.len(),
        x.len(),
        "importance weights length does not match the row length"
    );
}

/// `sum(x^2)` over a slice, in order.
#[inline]
fn sum_sq(x: &[f32]) -> f32 {
    let mut s = 0f32;
    for &v in x {
        s += v * v;
    }
    s
}

/// `qw[l] * sqrt(sigma2 + x[l]^2)`, the per-element weight every weighted path uses.
#[inline]
fn element_weights<const N: usize>(x: &[f32], qw: &[f32], sigma2: f32) -> [f32; N] {
    std::array::from_fn(|l| qw[l] * (sigma2 + x[l] * x[l]).sqrt())
}

/// Sequential sum from zero.
#[inline]
fn sum(v: &[f32]) -> f32 {
    let mut s = 0f32;
    for &w in v {
        s += w;
    }
    s
}

/// Q2_K with importance weights (ggml's `quantize_row_q2_K_impl`); `None` is the
/// unweighted reference quantizer.
pub fn quantize_row_q2_k_w(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    let Some(qw) = qw else {
        return kquants::quantize_row_q2_k(x, out);
    };
    check_sizes(x.len(), out.len(), Q2_K_BYTES);
    check_weights(x, qw);
    for ((xb, wb), ob) in x
        .chunks_exact(QK_K)
        .zip(qw.chunks_exact(QK_K))
        .zip(out.chunks_exact_mut(Q2_K_BYTES))
    {
        let sigma2 = sum_sq(xb) / QK_K as f32;
        let mut levels = [0u8; QK_K];
        let mut scales = [0f32; 16];
        let mut mins = [0f32; 16];
        let mut sw = [0f32; 16];
        for j in 0..QK_K / 16 {
            let xs = &xb[16 * j..16 * j + 16];
            let weight = element_weights::<16>(xs, &wb[16 * j..], sigma2);
            sw[j] = sum(&weight);
            (scales[j], mins[j]) = make_qkx3_quants_w(
                3,
                xs,
                &weight,
                &mut levels[16 * j..16 * j + 16],
                -0.9,
                0.05,
                36,
            );
        }
        let mut ls = [0u8; 16];
        let mut lm = [0u8; 16];
        let dm = make_qp_quants(15, &scales, &mut ls, &sw);
        let mm = make_qp_quants(15, &mins, &mut lm, &sw);
        let d16 = f32_to_f16_bits(dm);
        let dmin16 = f32_to_f16_bits(mm);
        let sc: [u8; 16] = std::array::from_fn(|j| ls[j] | (lm[j] << 4));
        let (d, m) = kquants::q2_k_group_scales(&sc, d16, dmin16);
        for j in 0..QK_K / 16 {
            if d[j] == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int((xb[16 * j + ii] + m[j]) / d[j]).clamp(0, 3);
                levels[16 * j + ii] = l as u8;
            }
        }
        write_q2_k(ob, &sc, &levels, d16, dmin16);
    }
}

/// Q3_K with importance weights (ggml's `quantize_row_q3_K_impl`); `None` is the
/// unweighted reference quantizer.
pub fn quantize_row_q3_k_w(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    let Some(qw) = qw else {
        return kquants::quantize_row_q3_k(x, out);
    };
    check_sizes(x.len(), out.len(), Q3_K_BYTES);
    check_weights(x, qw);
    for ((xb, wb), ob) in x
        .chunks_exact(QK_K)
        .zip(qw.chunks_exact(QK_K))
        .zip(out.chunks_exact_mut(Q3_K_BYTES))
    {
        let sigma2 = 2.0 * sum_sq(xb) / QK_K as f32;
        let mut l8 = [0i8; QK_K];
        let mut scales = [0f32; 16];
        let mut sw = [0f32; 16];
        for j in 0..QK_K / 16 {
            let xs = &xb[16 * j..16 * j + 16];
            let weight = element_weights::<16>(xs, &wb[16 * j..], sigma2);
            sw[j] = sum(&weight);
            scales[j] = make_qx_quants_w(4, xs, &mut l8[16 * j..16 * j + 16], &weight);
        }
        let mut ls = [0i8; 16];
        let d_block = make_qx_quants_w(32, &scales, &mut ls, &sw);
        let mut sc = [0u8; 12];
        for j in 0..QK_K / 16 {
            let mut l = ls[j] as i32;
            if j < 8 {
                sc[j] = (l & 0xf) as u8;
            } else {
                sc[j - 8] |= ((l & 0xf) << 4) as u8;
            }
            l >>= 4;
            sc[j % 4 + 8] |= (l << (2 * (j / 4))) as u8;
        }
        let d16 = f32_to_f16_bits(d_block);
        let d = q3_k_group_scales(&sc, d16);
        let mut levels = l8.map(|v| v as u8);
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

/// Q4_K with importance weights (ggml's `quantize_row_q4_K_impl`); `None` is the
/// unweighted reference quantizer.
pub fn quantize_row_q4_k_w(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    let Some(qw) = qw else {
        return kquants::quantize_row_q4_k(x, out);
    };
    check_sizes(x.len(), out.len(), Q4_K_BYTES);
    check_weights(x, qw);
    k4_w(x, qw, out, false);
}

/// Q5_K with importance weights (ggml's `quantize_row_q5_K_impl`); `None` is the
/// unweighted reference quantizer.
pub fn quantize_row_q5_k_w(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    let Some(qw) = qw else {
        return kquants::quantize_row_q5_k(x, out);
    };
    check_sizes(x.len(), out.len(), Q5_K_BYTES);
    check_weights(x, qw);
    k4_w(x, qw, out, true);
}

/// The shared body of the weighted Q4_K and Q5_K paths (they differ in the level range, the
/// clamp of the 6-bit codes, present in Q5_K only, and the packing).
fn k4_w(x: &[f32], qw: &[f32], out: &mut [u8], q5: bool) {
    let nmax = if q5 { 31 } else { 15 };
    let bytes = if q5 { Q5_K_BYTES } else { Q4_K_BYTES };
    for ((xb, wb), ob) in x
        .chunks_exact(QK_K)
        .zip(qw.chunks_exact(QK_K))
        .zip(out.chunks_exact_mut(bytes))
    {
        let sigma2 = 2.0 * sum_sq(xb) / QK_K as f32;
        let mut levels = [0u8; QK_K];
        let mut scales = [0f32; 8];
        let mut mins = [0f32; 8];
        let mut sw = [0f32; 8];
        for j in 0..QK_K / 32 {
            let xs = &xb[32 * j..32 * j + 32];
            let weight = element_weights::<32>(xs, &wb[32 * j..], sigma2);
            sw[j] = sum(&weight);
            (scales[j], mins[j]) = make_qkx3_quants_w(
                nmax,
                xs,
                &weight,
                &mut levels[32 * j..32 * j + 32],
                -0.9,
                0.05,
                36,
            );
        }
        let mut ls = [0u8; 8];
        let mut lm = [0u8; 8];
        let d_block = make_qp_quants(63, &scales, &mut ls, &sw);
        let m_block = make_qp_quants(63, &mins, &mut lm, &sw);
        if q5 {
            ls = ls.map(|v| v.min(63));
            lm = lm.map(|v| v.min(63));
        }
        let packed: [u8; K_SCALE_SIZE] = pack_scale_min_k4(&ls, &lm);
        let d16 = f32_to_f16_bits(d_block);
        let dmin16 = f32_to_f16_bits(m_block);
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

/// Q6_K with importance weights (ggml's `quantize_row_q6_K_impl`: the weights go straight
/// into the sub-block fits); `None` is the unweighted reference quantizer.
pub fn quantize_row_q6_k_w(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    let Some(qw) = qw else {
        return kquants::quantize_row_q6_k(x, out);
    };
    check_sizes(x.len(), out.len(), Q6_K_BYTES);
    check_weights(x, qw);
    for ((xb, wb), ob) in x
        .chunks_exact(QK_K)
        .zip(qw.chunks_exact(QK_K))
        .zip(out.chunks_exact_mut(Q6_K_BYTES))
    {
        let mut l8 = [0i8; QK_K];
        let mut scales = [0f32; 16];
        for ib in 0..QK_K / 16 {
            scales[ib] = make_qx_quants_w(
                32,
                &xb[16 * ib..16 * ib + 16],
                &mut l8[16 * ib..16 * ib + 16],
                &wb[16 * ib..16 * ib + 16],
            );
        }
        let Some((sc, d16)) = q6_k_scales(&scales) else {
            ob.fill(0);
            continue;
        };
        let d = q6_k_group_scales(&sc, d16);
        let mut levels = l8.map(|v| v as u8);
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

/// Checks the sizes of a 32-element block row.
#[inline]
fn check_legacy(x: &[f32], qw: &[f32], out: &[u8], bytes: usize) {
    assert!(
        x.len().is_multiple_of(QK),
        "row length {} is not a multiple of {QK}",
        x.len()
    );
    assert_eq!(
        out.len(),
        x.len() / QK * bytes,
        "output size does not match the row length"
    );
    check_weights(x, qw);
}

/// `sum(x^2) / n` over the whole row: the legacy types' weighted paths use the row's
/// variance, not the block's.
#[inline]
fn row_sigma2(x: &[f32]) -> f32 {
    sum_sq(x) / x.len() as f32
}

/// Packs 32 five-bit levels into `qh` (fifth bits, little-endian u32) and `qs` (nibbles).
#[inline]
fn pack_q5(levels: &[u8; QK], qh_out: &mut [u8], qs: &mut [u8]) {
    let mut qh = 0u32;
    for j in 0..16 {
        let a = levels[j];
        let b = levels[j + 16];
        qs[j] = (a & 0x0f) | ((b & 0x0f) << 4);
        qh |= (((a & 0x10) as u32) >> 4) << j;
        qh |= (((b & 0x10) as u32) >> 4) << (j + 16);
    }
    qh_out[..4].copy_from_slice(&qh.to_le_bytes());
}

/// Q4_0 with importance weights (ggml's `quantize_row_q4_0_impl`); `None` is the unweighted
/// reference quantizer.
pub fn quantize_row_q4_0_w(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    let Some(qw) = qw else {
        return legacy::quantize_row_q4_0(x, out);
    };
    check_legacy(x, qw, out, Q4_0_BYTES);
    let sigma2 = row_sigma2(x);
    for ((xb, wb), ob) in x
        .chunks_exact(QK)
        .zip(qw.chunks_exact(QK))
        .zip(out.chunks_exact_mut(Q4_0_BYTES))
    {
        let weight = element_weights::<QK>(xb, wb, sigma2);
        let mut l = [0i8; QK];
        let d = make_qx_quants_w(8, xb, &mut l, &weight);
        ob[..2].copy_from_slice(&f32_to_f16_bits(d).to_le_bytes());
        for j in 0..16 {
            ob[2 + j] = (l[j] as u8) | ((l[j + 16] as u8) << 4);
        }
    }
}

/// Q4_1 with importance weights (ggml's `quantize_row_q4_1_impl`); `None` is the unweighted
/// reference quantizer.
pub fn quantize_row_q4_1_w(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    let Some(qw) = qw else {
        return legacy::quantize_row_q4_1(x, out);
    };
    check_legacy(x, qw, out, Q4_1_BYTES);
    let sigma2 = row_sigma2(x);
    for ((xb, wb), ob) in x
        .chunks_exact(QK)
        .zip(qw.chunks_exact(QK))
        .zip(out.chunks_exact_mut(Q4_1_BYTES))
    {
        let weight = element_weights::<QK>(xb, wb, sigma2);
        let mut l = [0u8; QK];
        let (d, min) = make_qkx3_quants_w(15, xb, &weight, &mut l, -0.9, 0.05, 36);
        ob[..2].copy_from_slice(&f32_to_f16_bits(d).to_le_bytes());
        ob[2..4].copy_from_slice(&f32_to_f16_bits(-min).to_le_bytes());
        for j in 0..16 {
            ob[4 + j] = l[j] | (l[j + 16] << 4);
        }
    }
}

/// Q5_0 with importance weights (ggml's `quantize_row_q5_0_impl`); `None` is the unweighted
/// reference quantizer.
pub fn quantize_row_q5_0_w(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    let Some(qw) = qw else {
        return legacy::quantize_row_q5_0(x, out);
    };
    check_legacy(x, qw, out, Q5_0_BYTES);
    let sigma2 = row_sigma2(x);
    for ((xb, wb), ob) in x
        .chunks_exact(QK)
        .zip(qw.chunks_exact(QK))
        .zip(out.chunks_exact_mut(Q5_0_BYTES))
    {
        let weight = element_weights::<QK>(xb, wb, sigma2);
        let mut l = [0i8; QK];
        let d = make_qx_quants_w(16, xb, &mut l, &weight);
        ob[..2].copy_from_slice(&f32_to_f16_bits(d).to_le_bytes());
        let (qh, qs) = ob[2..].split_at_mut(4);
        pack_q5(&l.map(|v| v as u8), qh, qs);
    }
}

/// Q5_1 with importance weights (ggml's `quantize_row_q5_1_impl`); `None` is the unweighted
/// reference quantizer.
pub fn quantize_row_q5_1_w(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    let Some(qw) = qw else {
        return legacy::quantize_row_q5_1(x, out);
    };
    check_legacy(x, qw, out, Q5_1_BYTES);
    let sigma2 = row_sigma2(x);
    for ((xb, wb), ob) in x
        .chunks_exact(QK)
        .zip(qw.chunks_exact(QK))
        .zip(out.chunks_exact_mut(Q5_1_BYTES))
    {
        let weight = element_weights::<QK>(xb, wb, sigma2);
        let mut l = [0u8; QK];
        let (d, min) = make_qkx3_quants_w(31, xb, &weight, &mut l, -0.9, 0.05, 36);
        ob[..2].copy_from_slice(&f32_to_f16_bits(d).to_le_bytes());
        ob[2..4].copy_from_slice(&f32_to_f16_bits(-min).to_le_bytes());
        let (qh, qs) = ob[4..].split_at_mut(4);
        pack_q5(&l, qh, qs);
    }
}

/// Q8_0 "with" importance weights: ggml ignores them (`quantize_q8_0`), so this is the
/// reference quantizer whatever `qw` is.
pub fn quantize_row_q8_0_w(x: &[f32], _qw: Option<&[f32]>, out: &mut [u8]) {
    legacy::quantize_row_q8_0(x, out)
}

#[cfg(test)]
mod tests;
