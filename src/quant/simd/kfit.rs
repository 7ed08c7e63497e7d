//! The K-quant sub-block fits of `kquants/`, one group per lane, generic over [`Simd`].
//!
//! Lane `k` of `x[i]` is element `i` of group `k`. Each lane runs the scalar sequence of the
//! portable code (`kquants::fit_scale_min`, `fit_qx_rmse1`, `fit_q3`, themselves ports of
//! ggml's `make_qkx2_quants`, `make_qx_quants` and `make_q3_quants`) on its own group: the same
//! operations in the same order, with each data-dependent branch turned into a per-lane
//! select, so every lane's result is bit-identical to the scalar one.
//!
//! The two searches that try many candidate scales do not keep the levels of the best
//! candidate; they keep the candidate's inverse scale (and offset), from which
//! [`Recipe::level`] recomputes exactly the same levels, and only for the few groups whose
//! levels are not recomputed from the final rounded scales anyway.

use super::Simd;
use crate::quant::kquants::GROUP_MAX_EPS;

/// How to recompute a fit's levels for one group: `clamp(nearest_int(iscale * (x - min)),
/// lo, hi) + offset`, or all zero when `zero`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Recipe {
    pub iscale: f32,
    pub min: f32,
    pub zero: bool,
}

/// `nearest_int(v).clamp(lo, hi) as f32`, the scalar code's sequence.
#[inline(always)]
fn level_exact<S: Simd>(s: S, v: S::F, lo: i32, hi: i32) -> S::F {
    s.to_f(s.clamp_i(s.nearest_int(v), lo, hi))
}

/// The same value as [`level_exact`] for `|v| < 2^22`, in four operations instead of six,
/// none of them a float minimum or maximum (which compete with the multiplications for
/// execution ports): `t = v + 1.5 * 2^23` then lies in `[2^23, 2^24)`, where the spacing of
/// floats is 1, so `t` is `v` rounded to the nearest integer (ties to even) plus `1.5 * 2^23`
/// exactly, which is also what `nearest_int` reads from its mantissa bits. Positive floats
/// order as their bit patterns, so clamping the bits of `t` between those of
/// `1.5 * 2^23 + lo` and `1.5 * 2^23 + hi` clamps the integer, and subtracting `1.5 * 2^23` back
/// is exact.
#[inline(always)]
fn level_small<S: Simd>(s: S, v: S::F, lo: i32, hi: i32) -> S::F {
    const MAGIC: f32 = 12_582_912.0;
    let magic = s.splat(MAGIC);
    let t = s.bits(s.add(v, magic));
    let lo_bits = (MAGIC + lo as f32).to_bits() as i32;
    let hi_bits = (MAGIC + hi as f32).to_bits() as i32;
    s.sub(s.bitcast_f(s.clamp_i(t, lo_bits, hi_bits)), magic)
}

/// Passes of [`fit_scale_min`] that took the exact (integer) rounding path, for the tests.
#[cfg(test)]
pub(super) static EXACT_PASSES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Largest magnitude for which [`level_small`] equals [`level_exact`] (exclusive).
const SMALL: f32 = 4_194_304.0;

/// Per lane: the largest magnitude and the signed element that has it (first one on ties).
#[inline(always)]
fn signed_absmax<S: Simd, const N: usize>(s: S, x: &[S::F; N]) -> (S::F, S::F) {
    let mut amax = s.splat(0.0);
    let mut max = s.splat(0.0);
    for &v in x {
        let a = s.abs(v);
        let take = s.gt(a, amax);
        amax = s.select(take, a, amax);
        max = s.select(take, v, max);
    }
    (amax, max)
}

/// Result of [`fit_scale_min`] per lane.
pub(super) struct ScaleMin<S: Simd> {
    pub scale: S::F,
    pub neg_min: S::F,
    /// Inverse scale and `min` the best levels were computed with.
    pub iscale: S::F,
    pub min_used: S::F,
    /// Flat groups: levels, scale 0.
    pub flat: S::M,
}

/// `kquants::fit_scale_min` (ggml's `make_qkx2_quants`) per lane.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn fit_scale_min<S: Simd, const N: usize, const MAD: bool>(
    s: S,
    nmax: i32,
    x: &[S::F; N],
    w: &[S::F; N],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
) -> ScaleMin<S> {
    let zero = s.splat(0.0);
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = w[0];
    let mut sum_x = s.mul(w[0], x[0]);
    for i in 1..N {
        min = s.min(x[i], min);
        max = s.max(x[i], max);
        sum_w = s.add(sum_w, w[i]);
        sum_x = s.add(sum_x, s.mul(w[i], x[i]));
    }
    let min_x = min;
    min = s.select(s.gt(min, zero), zero, min);
    let flat = s.eq(max, min);
    // The levels are `nearest_int(iscale * (x - min))` with `iscale >= 0`, monotonic in `x`:
    // when its values at the smallest and the largest element lie within ±2^22 in every lane
    // whose result is used (flat lanes are reset), [`level_small`] gives the same levels.

    let mut range = s.sub(max, min);
    let mut iscale = s.div(s.splat(nmax as f32), range);
    let mut scale = s.div(s.splat(1.0), iscale);
    let mut best_iscale = iscale;
    let mut best_min = min;

    let mut xm = [zero; N];
    let mut best_error = zero;
    let fast = small_levels(s, iscale, min, min_x, max, flat);
    for i in 0..N {
        xm[i] = s.sub(x[i], min);
        let v = s.mul(iscale, xm[i]);
        let lf = if fast {
            level_small(s, v, 0, nmax)
        } else {
            level_exact(s, v, 0, nmax)
        };
        let diff = s.sub(s.add(s.mul(scale, lf), min), x[i]);
        let diff = if MAD { s.abs(diff) } else { s.mul(diff, diff) };
        best_error = s.add(best_error, s.mul(w[i], diff));
    }

    let mut cand = [zero; N];
    let passes = if nstep < 1 { 0 } else { nstep + 1 };
    for is in 0..passes {
        let num = rmin + rdelta * is as f32 + nmax as f32;
        iscale = s.div(s.splat(num), range);
        let (sum_l, sum_l2, sum_xl) = if small_levels(s, iscale, min, min_x, max, flat) {
            qkx2_levels::<S, N, true>(s, nmax, iscale, x, w, &xm, &mut cand)
        } else {
            qkx2_levels::<S, N, false>(s, nmax, iscale, x, w, &xm, &mut cand)
        };
        let det = s.sub(s.mul(sum_w, sum_l2), s.mul(sum_l, sum_l));
        let ok = s.gt(det, zero);
        let sc = s.div(s.sub(s.mul(sum_w, sum_xl), s.mul(sum_x, sum_l)), det);
        let m = s.div(s.sub(s.mul(sum_l2, sum_x), s.mul(sum_l, sum_xl)), det);
        let clip = s.gt(m, zero);
        let this_scale = s.select(clip, s.div(sum_xl, sum_l2), sc);
        let this_min = s.select(clip, zero, m);
        let mut cur_error = zero;
        for i in 0..N {
            let diff = s.sub(s.add(s.mul(this_scale, cand[i]), this_min), x[i]);
            let diff = if MAD { s.abs(diff) } else { s.mul(diff, diff) };
            cur_error = s.add(cur_error, s.mul(w[i], diff));
        }
        let take = s.andnot(s.and(ok, s.lt(cur_error, best_error)), flat);
        if s.any(take) {
            best_error = s.select(take, cur_error, best_error);
            scale = s.select(take, this_scale, scale);
            best_iscale = s.select(take, iscale, best_iscale);
            best_min = s.select(take, min, best_min);
            min = s.select(take, this_min, min);
            range = s.sub(max, min);
            for i in 0..N {
                xm[i] = s.sub(x[i], min);
            }
        }
    }
    ScaleMin {
        scale: s.select(flat, zero, scale),
        neg_min: s.neg(min),
        iscale: best_iscale,
        min_used: best_min,
        flat,
    }
}

/// True when every used lane of [`fit_scale_min`] has `|iscale * (x - min)| < 2^22` for all
/// its elements, from the values at its smallest (`min_x`) and largest element; flat lanes,
/// whose results are reset, do not count.
#[inline(always)]
fn small_levels<S: Simd>(
    s: S,
    iscale: S::F,
    min: S::F,
    min_x: S::F,
    max: S::F,
    flat: S::M,
) -> bool {
    let hi = s.mul(iscale, s.sub(max, min));
    let lo = s.mul(iscale, s.sub(min_x, min));
    let inside = s.and(s.lt(hi, s.splat(SMALL)), s.gt(lo, s.splat(-SMALL)));
    let small = s.all(s.or(inside, flat));
    #[cfg(test)]
    if !small {
        EXACT_PASSES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    small
}

/// One candidate of [`fit_scale_min`]: its levels (as floats) into `cand` and the sums
/// `(sum w l, sum w l^2, sum w l x)`; `SMALL` selects [`level_small`].
#[inline(always)]
fn qkx2_levels<S: Simd, const N: usize, const SMALL_V: bool>(
    s: S,
    nmax: i32,
    iscale: S::F,
    x: &[S::F; N],
    w: &[S::F; N],
    xm: &[S::F; N],
    cand: &mut [S::F; N],
) -> (S::F, S::F, S::F) {
    let mut sum_l = s.splat(0.0);
    let mut sum_l2 = sum_l;
    let mut sum_xl = sum_l;
    for i in 0..N {
        let v = s.mul(iscale, xm[i]);
        let lf = if SMALL_V {
            level_small(s, v, 0, nmax)
        } else {
            level_exact(s, v, 0, nmax)
        };
        cand[i] = lf;
        let wl = s.mul(w[i], lf);
        sum_l = s.add(sum_l, wl);
        sum_l2 = s.add(sum_l2, s.mul(wl, lf));
        sum_xl = s.add(sum_xl, s.mul(wl, x[i]));
    }
    (sum_l, sum_l2, sum_xl)
}

/// Result of [`fit_qx_rmse1`] per lane.
pub(super) struct Symmetric<S: Simd> {
    pub scale: S::F,
    /// Inverse scale the best levels were computed with.
    pub iscale: S::F,
    /// All-zero groups: levels 0, scale 0.
    pub zero: S::M,
}

/// `kquants::fit_qx_rmse1` (ggml's `make_qx_quants` with `rmse_type = 1`) per lane.
///
/// The inputs must be finite. The levels are `nearest_int(iscale * x)` with
/// `|iscale| = (nmax + 0.1 * is) / |max|`, `|x| <= |max|`, so `|iscale * x| <= nmax + 1` in
/// every lane whose result is used (lanes with `|max| < GROUP_MAX_EPS` are reset), and
/// [`level_small`] gives the scalar code's levels.
#[inline(always)]
pub(super) fn fit_qx_rmse1<S: Simd, const N: usize>(
    s: S,
    nmax: i32,
    x: &[S::F; N],
) -> Symmetric<S> {
    let zero = s.splat(0.0);
    let (amax, max) = signed_absmax(s, x);
    let mut w = [zero; N];
    let mut wx = [zero; N];
    for i in 0..N {
        w[i] = s.mul(x[i], x[i]);
        wx[i] = s.mul(w[i], x[i]);
    }
    let mut iscale = s.div(s.splat(-(nmax as f32)), max);
    let (sumlx, suml2) = rmse1_pass(s, nmax, x, &w, &wx, iscale);
    let mut scale = s.select(s.ne(suml2, zero), s.div(sumlx, suml2), zero);
    let mut best = s.mul(scale, sumlx);
    let mut best_iscale = iscale;
    for is in (-9i32..=9).filter(|&is| is != 0) {
        let num = nmax as f32 + 0.1 * is as f32;
        iscale = s.div(s.splat(-num), max);
        let (sumlx, suml2) = rmse1_pass(s, nmax, x, &w, &wx, iscale);
        let take = s.and(
            s.gt(suml2, zero),
            s.gt(s.mul(sumlx, sumlx), s.mul(best, suml2)),
        );
        scale = s.select(take, s.div(sumlx, suml2), scale);
        best = s.select(take, s.mul(scale, sumlx), best);
        best_iscale = s.select(take, iscale, best_iscale);
    }
    let is_zero = s.lt(amax, s.splat(GROUP_MAX_EPS));
    Symmetric {
        scale: s.select(is_zero, zero, scale),
        iscale: best_iscale,
        zero: is_zero,
    }
}

/// One candidate of [`fit_qx_rmse1`]: `(sum w x l, sum w l^2)` for the levels of `iscale`.
#[inline(always)]
fn rmse1_pass<S: Simd, const N: usize>(
    s: S,
    nmax: i32,
    x: &[S::F; N],
    w: &[S::F; N],
    wx: &[S::F; N],
    iscale: S::F,
) -> (S::F, S::F) {
    let mut sumlx = s.splat(0.0);
    let mut suml2 = sumlx;
    for i in 0..N {
        let lf = level_small(s, s.mul(iscale, x[i]), -nmax, nmax - 1);
        sumlx = s.add(sumlx, s.mul(wx[i], lf));
        suml2 = s.add(suml2, s.mul(s.mul(w[i], lf), lf));
    }
    (sumlx, suml2)
}

/// `kquants::fit_q3` (ggml's `make_q3_quants` with its refinement sweeps) per lane; lanes run
/// the sweeps in lockstep (a sweep that changes nothing changes nothing when repeated).
/// Writes `level + nmax` (0 for an all-zero group) to `levels` and returns the scales.
#[inline(always)]
pub(super) fn fit_q3<S: Simd, const N: usize>(
    s: S,
    nmax: i32,
    x: &[S::F; N],
    levels: &mut [S::I; N],
) -> S::F {
    let zero = s.splat(0.0);
    let (amax, max) = signed_absmax(s, x);
    let iscale = s.div(s.splat(-(nmax as f32)), max);
    let mut w = [zero; N];
    let mut wx = [zero; N];
    let mut sumlx = zero;
    let mut suml2 = zero;
    for i in 0..N {
        w[i] = s.mul(x[i], x[i]);
        wx[i] = s.mul(w[i], x[i]);
        let l = s.clamp_i(s.nearest_int(s.mul(iscale, x[i])), -nmax, nmax - 1);
        levels[i] = l;
        let lf = s.to_f(l);
        sumlx = s.add(sumlx, s.mul(wx[i], lf));
        suml2 = s.add(suml2, s.mul(s.mul(w[i], lf), lf));
    }
    for _ in 0..5 {
        let mut changed = s.lt(zero, zero);
        for i in 0..N {
            let li = s.to_f(levels[i]);
            let slx = s.sub(sumlx, s.mul(wx[i], li));
            let sl2 = s.sub(suml2, s.mul(s.mul(w[i], li), li));
            let new_l = s.clamp_i(s.nearest_int(s.div(s.mul(x[i], sl2), slx)), -nmax, nmax - 1);
            let nf = s.to_f(new_l);
            let slx_n = s.add(slx, s.mul(wx[i], nf));
            let sl2_n = s.add(sl2, s.mul(s.mul(w[i], nf), nf));
            let better = s.gt(
                s.mul(s.mul(slx_n, slx_n), suml2),
                s.mul(s.mul(sumlx, sumlx), sl2_n),
            );
            let take = s.and(
                s.andnot(s.gt(slx, zero), s.eq_i(new_l, levels[i])),
                s.and(s.gt(sl2_n, zero), better),
            );
            levels[i] = s.select_i(take, new_l, levels[i]);
            sumlx = s.select(take, slx_n, sumlx);
            suml2 = s.select(take, sl2_n, suml2);
            changed = s.or(changed, take);
        }
        if !s.any(changed) {
            break;
        }
    }
    let is_zero = s.lt(amax, s.splat(GROUP_MAX_EPS));
    let off = s.splat_i(nmax);
    let zi = s.splat_i(0);
    for l in levels.iter_mut() {
        *l = s.select_i(is_zero, zi, s.add_i(*l, off));
    }
    let sc = s.select(s.gt(suml2, zero), s.div(sumlx, suml2), zero);
    s.select(is_zero, zero, sc)
}
