//! ggml K-quants (256-element super-blocks): ports of the `_ref` quantizers and the decoders.
//!
//! These are the paths `llama-quantize` takes when no importance matrix is given
//! (`quantize_qN_K` falls through to `quantize_row_qN_K_ref`). The scale searches keep the
//! reference's float operation order, accumulation order, rounding and tie rules, so the output
//! bytes are identical to an x86-64 build of ggml (where the compiler does not fuse multiply-add).

use super::float::{f16_bits_to_f32, f32_to_f16_bits};

/// Elements per super-block.
pub const QK_K: usize = 256;
/// Bytes of the packed 6-bit scales/mins of Q4_K and Q5_K.
const K_SCALE_SIZE: usize = 12;

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
const GROUP_MAX_EPS: f32 = 1e-15;

/// Round to nearest, ties to even, by adding 1.5 * 2^23 and reading the mantissa bits.
/// Exact for |v| < 2^22; other inputs (incl. NaN) give the same garbage as the reference.
#[inline(always)]
fn nearest_int(v: f32) -> i32 {
    let t = v + 12_582_912.0;
    (t.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

#[inline(always)]
fn get_f16(src: &[u8]) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([src[0], src[1]]))
}

#[inline(always)]
fn check_sizes(nx: usize, nout: usize, block_bytes: usize) {
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

// Sub-blocks are fitted several at a time: the fitting helpers below take `LANES`
// independent groups stored transposed (`x[i][k]` is element `i` of group `k`). Each lane
// performs exactly the reference's scalar sequence of operations on its own group (same order
// of accumulation, same comparisons, branches turned into per-lane selects), so the result is
// bit-identical to fitting the groups one by one, while the compiler can keep the lanes in
// SIMD registers and overlap the otherwise serial floating-point sums.

/// Transposes `LANES` consecutive groups of `N` values: `out[i][k] = x[N * k + i]`.
#[inline(always)]
fn transpose_in<const N: usize, const LANES: usize>(x: &[f32]) -> [[f32; LANES]; N] {
    let mut t = [[0f32; LANES]; N];
    for k in 0..LANES {
        for i in 0..N {
            t[i][k] = x[N * k + i];
        }
    }
    t
}

/// Inverse of [`transpose_in`] for level codes.
#[inline(always)]
fn transpose_out<T: Copy, const N: usize, const LANES: usize>(t: &[[T; LANES]; N], out: &mut [T]) {
    for k in 0..LANES {
        for i in 0..N {
            out[N * k + i] = t[i][k];
        }
    }
}

/// Per lane: the largest magnitude and the signed element that has it (first one on ties).
#[inline(always)]
fn signed_absmax<const N: usize, const LANES: usize>(
    x: &[[f32; LANES]; N],
) -> ([f32; LANES], [f32; LANES]) {
    let mut amax = [0f32; LANES];
    let mut max = [0f32; LANES];
    for row in x {
        for k in 0..LANES {
            let a = row[k].abs();
            let take = a > amax[k];
            amax[k] = if take { a } else { amax[k] };
            max[k] = if take { row[k] } else { max[k] };
        }
    }
    (amax, max)
}

/// Weighted asymmetric fit `x ≈ scale * L + min` with `L` in `0..=nmax` and `min <= 0`
/// (ggml's `make_qkx2_quants`), per lane. Starts from the min/max grid, then tries `nstep + 1`
/// inverse scales `(rmin + rdelta * is + nmax) / (max - min)` — relative to the best `min`
/// found so far — solving the weighted least squares for each set of levels and keeping the
/// one with the lowest weighted error (squared, or absolute when `MAD`).
/// Writes the levels and returns `(scale, -min)` per lane.
#[inline(always)]
fn fit_scale_min<const N: usize, const LANES: usize, const MAD: bool>(
    nmax: i32,
    x: &[[f32; LANES]; N],
    w: &[[f32; LANES]; N],
    levels: &mut [[u8; LANES]; N],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
) -> ([f32; LANES], [f32; LANES]) {
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = w[0];
    let mut sum_x = [0f32; LANES];
    for k in 0..LANES {
        sum_x[k] = sum_w[k] * x[0][k];
    }
    for i in 1..N {
        for k in 0..LANES {
            let v = x[i][k];
            min[k] = if v < min[k] { v } else { min[k] };
            max[k] = if v > max[k] { v } else { max[k] };
            sum_w[k] += w[i][k];
            sum_x[k] += w[i][k] * v;
        }
    }
    let mut flat = [false; LANES];
    let mut range = [0f32; LANES];
    let mut iscale = [0f32; LANES];
    let mut scale = [0f32; LANES];
    for k in 0..LANES {
        min[k] = if min[k] > 0.0 { 0.0 } else { min[k] };
        // a flat group gets zero levels and scale; computed along with the others, then reset
        flat[k] = max[k] == min[k];
        range[k] = max[k] - min[k];
        iscale[k] = nmax as f32 / range[k];
        scale[k] = 1.0 / iscale[k];
    }

    // `x - min` for the current `min` of each lane
    let mut xm = [[0f32; LANES]; N];
    let mut best_error = [0f32; LANES];
    for i in 0..N {
        for k in 0..LANES {
            xm[i][k] = x[i][k] - min[k];
            let l = nearest_int(iscale[k] * xm[i][k]).max(0).min(nmax);
            levels[i][k] = l as u8;
            let diff = scale[k] * l as f32 + min[k] - x[i][k];
            let diff = if MAD { diff.abs() } else { diff * diff };
            best_error[k] += w[i][k] * diff;
        }
    }

    let mut cand = [[0u8; LANES]; N];
    let passes = if nstep < 1 { 0 } else { nstep + 1 };
    for is in 0..passes {
        let num = rmin + rdelta * is as f32 + nmax as f32;
        for k in 0..LANES {
            iscale[k] = num / range[k];
        }
        let mut sum_l = [0f32; LANES];
        let mut sum_l2 = [0f32; LANES];
        let mut sum_xl = [0f32; LANES];
        for i in 0..N {
            for k in 0..LANES {
                let l = nearest_int(iscale[k] * xm[i][k]).max(0).min(nmax);
                cand[i][k] = l as u8;
                let lf = l as f32;
                let wl = w[i][k] * lf;
                sum_l[k] += wl;
                sum_l2[k] += wl * lf;
                sum_xl[k] += wl * x[i][k];
            }
        }
        let mut this_scale = [0f32; LANES];
        let mut this_min = [0f32; LANES];
        let mut ok = [false; LANES];
        for k in 0..LANES {
            let det = sum_w[k] * sum_l2[k] - sum_l[k] * sum_l[k];
            ok[k] = det > 0.0;
            let s = (sum_w[k] * sum_xl[k] - sum_x[k] * sum_l[k]) / det;
            let m = (sum_l2[k] * sum_x[k] - sum_l[k] * sum_xl[k]) / det;
            let clip = m > 0.0;
            this_scale[k] = if clip { sum_xl[k] / sum_l2[k] } else { s };
            this_min[k] = if clip { 0.0 } else { m };
        }
        let mut cur_error = [0f32; LANES];
        for i in 0..N {
            for k in 0..LANES {
                let diff = this_scale[k] * cand[i][k] as f32 + this_min[k] - x[i][k];
                let diff = if MAD { diff.abs() } else { diff * diff };
                cur_error[k] += w[i][k] * diff;
            }
        }
        let mut take = [false; LANES];
        let mut any = false;
        for k in 0..LANES {
            take[k] = ok[k] && cur_error[k] < best_error[k] && !flat[k];
            any |= take[k];
        }
        if any {
            for k in 0..LANES {
                if take[k] {
                    best_error[k] = cur_error[k];
                    scale[k] = this_scale[k];
                    min[k] = this_min[k];
                    range[k] = max[k] - min[k];
                }
            }
            for i in 0..N {
                for k in 0..LANES {
                    levels[i][k] = if take[k] { cand[i][k] } else { levels[i][k] };
                    xm[i][k] = x[i][k] - min[k];
                }
            }
        }
    }

    let mut neg_min = [0f32; LANES];
    for k in 0..LANES {
        neg_min[k] = -min[k];
        if flat[k] {
            scale[k] = 0.0;
            for row in levels.iter_mut() {
                row[k] = 0;
            }
        }
    }
    (scale, neg_min)
}

/// Symmetric fit for 3-bit levels (ggml's `make_q3_quants` with its RMSE refinement), per
/// lane: start from `round(-nmax * x / max)`, then up to five sweeps that move single levels
/// to their optimum when that raises `sumlx^2 / suml2` (weights `x^2`). Writes
/// `level + nmax` (plain 0 for an all-zero group) and returns the scales.
///
/// Lanes run the sweeps in lockstep; a lane whose sweep changed nothing stops in the
/// reference, and re-running an unchanged sweep changes nothing, so extra sweeps are harmless.
#[inline(always)]
fn fit_q3<const N: usize, const LANES: usize>(
    nmax: i32,
    x: &[[f32; LANES]; N],
    levels: &mut [[i8; LANES]; N],
) -> [f32; LANES] {
    let (amax, max) = signed_absmax(x);
    let mut iscale = [0f32; LANES];
    for k in 0..LANES {
        iscale[k] = -(nmax as f32) / max[k];
    }
    let mut w = [[0f32; LANES]; N];
    let mut wx = [[0f32; LANES]; N];
    let mut lv = [[0i32; LANES]; N];
    let mut sumlx = [0f32; LANES];
    let mut suml2 = [0f32; LANES];
    for i in 0..N {
        for k in 0..LANES {
            let v = x[i][k];
            w[i][k] = v * v;
            wx[i][k] = w[i][k] * v;
            let l = nearest_int(iscale[k] * v).max(-nmax).min(nmax - 1);
            lv[i][k] = l;
            let lf = l as f32;
            sumlx[k] += wx[i][k] * lf;
            suml2[k] += w[i][k] * lf * lf;
        }
    }
    for _ in 0..5 {
        let mut changed = false;
        for i in 0..N {
            for k in 0..LANES {
                let li = lv[i][k] as f32;
                let slx = sumlx[k] - wx[i][k] * li;
                let sl2 = suml2[k] - w[i][k] * li * li;
                let new_l = nearest_int(x[i][k] * sl2 / slx).max(-nmax).min(nmax - 1);
                let nf = new_l as f32;
                let slx_n = slx + wx[i][k] * nf;
                let sl2_n = sl2 + w[i][k] * nf * nf;
                let take = slx > 0.0
                    && new_l != lv[i][k]
                    && sl2_n > 0.0
                    && slx_n * slx_n * suml2[k] > sumlx[k] * sumlx[k] * sl2_n;
                lv[i][k] = if take { new_l } else { lv[i][k] };
                sumlx[k] = if take { slx_n } else { sumlx[k] };
                suml2[k] = if take { sl2_n } else { suml2[k] };
                changed |= take;
            }
        }
        if !changed {
            break;
        }
    }
    let mut scale = [0f32; LANES];
    for k in 0..LANES {
        let zero = amax[k] < GROUP_MAX_EPS;
        scale[k] = if zero {
            0.0
        } else if suml2[k] > 0.0 {
            sumlx[k] / suml2[k]
        } else {
            0.0
        };
        for i in 0..N {
            levels[i][k] = if zero { 0 } else { (lv[i][k] + nmax) as i8 };
        }
    }
    scale
}

/// Symmetric fit with weights `x^2` (ggml's `make_qx_quants`, `rmse_type = 1`, no importance
/// weights), per lane: levels in `-nmax..nmax`, trying inverse scales `-(nmax + 0.1 * is) / max`
/// for `is` in `-9..=9` and keeping the best `sumlx^2 / suml2`. Writes `level + nmax` (plain
/// 0 for an all-zero group) and returns the scales.
#[inline(always)]
fn fit_qx_rmse1<const N: usize, const LANES: usize>(
    nmax: i32,
    x: &[[f32; LANES]; N],
    levels: &mut [[i8; LANES]; N],
) -> [f32; LANES] {
    let (amax, max) = signed_absmax(x);
    let mut w = [[0f32; LANES]; N];
    let mut wx = [[0f32; LANES]; N];
    for i in 0..N {
        for k in 0..LANES {
            w[i][k] = x[i][k] * x[i][k];
            wx[i][k] = w[i][k] * x[i][k];
        }
    }
    let mut cand = [[0i8; LANES]; N];
    // levels (offset by nmax) and the two sums for one inverse scale per lane
    let pass = |iscale: &[f32; LANES], cand: &mut [[i8; LANES]; N]| {
        let mut sumlx = [0f32; LANES];
        let mut suml2 = [0f32; LANES];
        for i in 0..N {
            for k in 0..LANES {
                let l = nearest_int(iscale[k] * x[i][k]).max(-nmax).min(nmax - 1);
                cand[i][k] = (l + nmax) as i8;
                let lf = l as f32;
                sumlx[k] += wx[i][k] * lf;
                suml2[k] += w[i][k] * lf * lf;
            }
        }
        (sumlx, suml2)
    };

    let mut iscale = [0f32; LANES];
    for k in 0..LANES {
        iscale[k] = -(nmax as f32) / max[k];
    }
    let (sumlx, suml2) = pass(&iscale, &mut cand);
    *levels = cand;
    let mut scale = [0f32; LANES];
    let mut best = [0f32; LANES];
    for k in 0..LANES {
        scale[k] = if suml2[k] != 0.0 {
            sumlx[k] / suml2[k]
        } else {
            0.0
        };
        best[k] = scale[k] * sumlx[k];
    }
    for is in (-9i32..=9).filter(|&is| is != 0) {
        let num = nmax as f32 + 0.1 * is as f32;
        for k in 0..LANES {
            iscale[k] = -num / max[k];
        }
        let (sumlx, suml2) = pass(&iscale, &mut cand);
        let mut take = [false; LANES];
        for k in 0..LANES {
            take[k] = suml2[k] > 0.0 && sumlx[k] * sumlx[k] > best[k] * suml2[k];
            if take[k] {
                scale[k] = sumlx[k] / suml2[k];
                best[k] = scale[k] * sumlx[k];
            }
        }
        for i in 0..N {
            for k in 0..LANES {
                levels[i][k] = if take[k] { cand[i][k] } else { levels[i][k] };
            }
        }
    }
    for k in 0..LANES {
        if amax[k] < GROUP_MAX_EPS {
            scale[k] = 0.0;
            for row in levels.iter_mut() {
                row[k] = 0;
            }
        }
    }
    scale
}

/// 6-bit scale and min number `j` (0..8) from the 12-byte packed field of Q4_K/Q5_K.
#[inline(always)]
fn scale_min_k4(j: usize, q: &[u8; K_SCALE_SIZE]) -> (u8, u8) {
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
fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; K_SCALE_SIZE] {
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

/// Shared first stage of Q4_K and Q5_K: per 32-element sub-block, weights
/// `sqrt(mean(x^2)) + |x|` and an asymmetric fit; then the 6-bit scale/min codes relative to
/// the largest scale and min, and the final levels recomputed from the stored (rounded)
/// scales. Returns the f16 bits of `d` and `dmin`, the packed scales, and fills `levels`.
#[inline(always)]
fn quantize_k4_common(
    x: &[f32; QK_K],
    nmax: i32,
    rmin: f32,
    nstep: i32,
    levels: &mut [u8; QK_K],
) -> (u16, u16, [u8; K_SCALE_SIZE]) {
    let xt = transpose_in::<32, 8>(x);
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
    let (scales, mins) = fit_scale_min::<32, 8, false>(nmax, &xt, &w, &mut lt, rmin, 0.1, nstep);
    transpose_out(&lt, levels);
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
    let dr = f16_bits_to_f32(d16);
    let dminr = f16_bits_to_f32(dmin16);

    for j in 0..QK_K / 32 {
        let (sc, m) = scale_min_k4(j, &packed);
        let d = dr * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dminr * m as f32;
        for ii in 0..32 {
            let l = nearest_int((x[32 * j + ii] + dm) / d).clamp(0, nmax);
            levels[32 * j + ii] = l as u8;
        }
    }
    (d16, dmin16, packed)
}

/// Q2_K: 16 sub-blocks of 16 with 2-bit levels, each with a 4-bit scale and 4-bit min relative
/// to the super-block `d` / `dmin`.
#[inline(always)]
pub fn quantize_row_q2_k(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q2_K_BYTES);
    const Q4SCALE: f32 = 15.0;
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
        let dr = f16_bits_to_f32(d16);
        let dminr = f16_bits_to_f32(dmin16);
        for j in 0..QK_K / 16 {
            let d = dr * (sc[j] & 0x0f) as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dminr * (sc[j] >> 4) as f32;
            for ii in 0..16 {
                let l = nearest_int((xb[16 * j + ii] + dm) / d).clamp(0, 3);
                levels[16 * j + ii] = l as u8;
            }
        }

        ob[..16].copy_from_slice(&sc);
        pack_2bit(&levels, &mut ob[16..16 + 64]);
        ob[80..82].copy_from_slice(&d16.to_le_bytes());
        ob[82..84].copy_from_slice(&dmin16.to_le_bytes());
    }
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

/// Q3_K: 16 sub-blocks of 16 with signed 3-bit levels (low 2 bits in `qs`, high bit in
/// `hmask`) and signed 6-bit sub-block scales relative to the super-block `d`.
#[inline(always)]
pub fn quantize_row_q3_k(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q3_K_BYTES);
    for (xb, ob) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(Q3_K_BYTES)) {
        let xb: &[f32; QK_K] = xb.try_into().unwrap();
        let xt = transpose_in::<16, 16>(xb);
        let mut lt = [[0i8; 16]; 16];
        let scales = fit_q3(4, &xt, &mut lt);
        let mut levels = [0i8; QK_K];
        transpose_out(&lt, &mut levels);
        let mut max_scale = 0f32;
        let mut amax = 0f32;
        for &s in &scales {
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
        let dr = f16_bits_to_f32(d16);
        for j in 0..QK_K / 16 {
            let d = dr * q3_scale(&sc, j) as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int(xb[16 * j + ii] / d).clamp(-4, 3);
                levels[16 * j + ii] = (l + 4) as i8;
            }
        }

        // high bit of element j goes to bit j/32 of hmask[j % 32]
        let mut low = [0u8; QK_K];
        let mut hmask = [0u8; QK_K / 8];
        for j in 0..QK_K {
            let mut l = levels[j] as u8;
            if levels[j] > 3 {
                hmask[j % 32] |= 1 << (j / 32);
                l = l.wrapping_sub(4);
            }
            low[j] = l;
        }
        ob[..32].copy_from_slice(&hmask);
        pack_2bit(&low, &mut ob[32..96]);
        ob[96..108].copy_from_slice(&sc);
        ob[108..110].copy_from_slice(&d16.to_le_bytes());
    }
}

/// Signed 6-bit scale `j` (0..16) of a Q3_K block: low nibble from `s[j % 8]`, high two bits
/// from `s[8 + j % 4]`, minus 32.
#[inline(always)]
fn q3_scale(s: &[u8], j: usize) -> i32 {
    let lo = if j < 8 { s[j] & 0x0f } else { s[j - 8] >> 4 };
    let hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    (lo | (hi << 4)) as i32 - 32
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

/// Q4_K: 8 sub-blocks of 32 with 4-bit levels, 6-bit scales and mins relative to the
/// super-block `d` / `dmin`.
#[inline(always)]
pub fn quantize_row_q4_k(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q4_K_BYTES);
    for (xb, ob) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(Q4_K_BYTES)) {
        let xb: &[f32; QK_K] = xb.try_into().unwrap();
        let mut levels = [0u8; QK_K];
        let (d, dmin, packed) = quantize_k4_common(xb, 15, -1.0, 20, &mut levels);
        ob[0..2].copy_from_slice(&d.to_le_bytes());
        ob[2..4].copy_from_slice(&dmin.to_le_bytes());
        ob[4..16].copy_from_slice(&packed);
        for (c, q) in ob[16..].chunks_exact_mut(32).enumerate() {
            let base = 64 * c;
            for l in 0..32 {
                q[l] = levels[base + l] | (levels[base + l + 32] << 4);
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

/// Q5_K: as Q4_K with 5-bit levels; the fifth bits go to `qh`.
#[inline(always)]
pub fn quantize_row_q5_k(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q5_K_BYTES);
    for (xb, ob) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(Q5_K_BYTES)) {
        let xb: &[f32; QK_K] = xb.try_into().unwrap();
        let mut levels = [0u8; QK_K];
        let (d, dmin, packed) = quantize_k4_common(xb, 31, -0.5, 15, &mut levels);
        ob[0..2].copy_from_slice(&d.to_le_bytes());
        ob[2..4].copy_from_slice(&dmin.to_le_bytes());
        ob[4..16].copy_from_slice(&packed);
        let (qh, ql) = ob[16..].split_at_mut(32);
        qh.fill(0);
        for (c, q) in ql.chunks_exact_mut(32).enumerate() {
            let base = 64 * c;
            let m1 = 1u8 << (2 * c);
            let m2 = 2u8 << (2 * c);
            for j in 0..32 {
                let mut l1 = levels[base + j];
                if l1 > 15 {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                let mut l2 = levels[base + j + 32];
                if l2 > 15 {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                q[j] = l1 | (l2 << 4);
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

/// Q6_K: 16 sub-blocks of 16 with signed 6-bit levels (low nibbles in `ql`, high two bits in
/// `qh`) and signed 8-bit scales relative to the super-block `d`.
#[inline(always)]
pub fn quantize_row_q6_k(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q6_K_BYTES);
    for (xb, ob) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(Q6_K_BYTES)) {
        let xb: &[f32; QK_K] = xb.try_into().unwrap();
        let xt = transpose_in::<16, 16>(xb);
        let mut lt = [[0i8; 16]; 16];
        let scales = fit_qx_rmse1(32, &xt, &mut lt);
        let mut levels = [0i8; QK_K];
        transpose_out(&lt, &mut levels);
        let mut max_scale = 0f32;
        let mut max_abs_scale = 0f32;
        for &s in &scales {
            let a = s.abs();
            if a > max_abs_scale {
                max_abs_scale = a;
                max_scale = s;
            }
        }

        if max_abs_scale < GROUP_MAX_EPS {
            // the reference zeroes the whole block (d = +0.0)
            ob.fill(0);
            continue;
        }

        let iscale = -128.0 / max_scale;
        let d16 = f32_to_f16_bits(1.0 / iscale);
        let mut sc = [0i8; QK_K / 16];
        for ib in 0..QK_K / 16 {
            sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
        }
        let dr = f16_bits_to_f32(d16);
        for j in 0..QK_K / 16 {
            let d = dr * sc[j] as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int(xb[16 * j + ii] / d).clamp(-32, 31);
                levels[16 * j + ii] = (l + 32) as i8;
            }
        }

        let (ql, rest) = ob.split_at_mut(QK_K / 2);
        let (qh, rest) = rest.split_at_mut(QK_K / 4);
        for h in 0..2 {
            let lv = &levels[128 * h..128 * h + 128];
            let ql = &mut ql[64 * h..64 * h + 64];
            let qh = &mut qh[32 * h..32 * h + 32];
            for l in 0..32 {
                let q1 = lv[l] as u8;
                let q2 = lv[l + 32] as u8;
                let q3 = lv[l + 64] as u8;
                let q4 = lv[l + 96] as u8;
                ql[l] = (q1 & 0x0f) | ((q3 & 0x0f) << 4);
                ql[l + 32] = (q2 & 0x0f) | ((q4 & 0x0f) << 4);
                qh[l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
            }
        }
        for (o, s) in rest[..16].iter_mut().zip(&sc) {
            *o = *s as u8;
        }
        rest[16..18].copy_from_slice(&d16.to_le_bytes());
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

#[cfg(test)]
mod tests;
