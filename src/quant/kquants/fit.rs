//! The scalar sub-block fits of the K-quants, several independent groups at a time.
//!
//! Sub-blocks are fitted several at a time: the fitting helpers below take `LANES`
//! independent groups stored transposed (`x[i][k]` is element `i` of group `k`). Each lane
//! performs exactly the reference's scalar sequence of operations on its own group (same order
//! of accumulation, same comparisons, branches turned into per-lane selects), so the result is
//! bit-identical to fitting the groups one by one. This is the portable code (and the oracle of
//! the vectorised copies in `quant::simd`).

use super::{GROUP_MAX_EPS, nearest_int};

/// Transposes `LANES` consecutive groups of `N` values: `out[i][k] = x[N * k + i]`.
#[inline(always)]
pub(super) fn transpose_in<const N: usize, const LANES: usize>(x: &[f32]) -> [[f32; LANES]; N] {
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
pub(super) fn transpose_out<T: Copy, const N: usize, const LANES: usize>(
    t: &[[T; LANES]; N],
    out: &mut [T],
) {
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
pub(super) fn fit_scale_min<const N: usize, const LANES: usize, const MAD: bool>(
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
pub(super) fn fit_q3<const N: usize, const LANES: usize>(
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
pub(super) fn fit_qx_rmse1<const N: usize, const LANES: usize>(
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
