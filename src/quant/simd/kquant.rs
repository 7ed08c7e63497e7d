//! Row drivers of the vectorised K-quants, generic over two backends: `W` fits `W::LANES`
//! sub-blocks at once ([`kfit`], one sub-block per lane), `B` computes the final levels of a
//! sub-block from its stored scale, `B::LANES` consecutive elements at a time. The
//! super-block scale stages and the bit packing are the scalar code's own functions.
//!
//! Super-blocks containing a NaN or an infinity go to the scalar code. Where two NaNs meet in
//! one operation, which payload survives depends on the operand order the compiler picked (it
//! may swap the operands of an addition or a multiplication, in C as in Rust), and
//! `nearest_int` reads payload bits; without NaN inputs every NaN that arises is the default
//! NaN of the machine, so the order cannot show. Finite inputs also bound the values whose
//! levels the fits round (see `kfit`).
//!
//! A row is processed in windows of whole super-blocks holding a whole number of `W` vectors
//! of sub-blocks; a short last window is padded with zeros, whose results are discarded.

use super::{Simd, kfit};
use crate::quant::kquants::{
    self as kq, K_SCALE_SIZE, Q2_K_BYTES, Q3_K_BYTES, Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES, QK_K,
};

/// Most sub-blocks in one window.
const MAX_GROUPS: usize = 64;

/// The window of `sbs` super-blocks starting at super-block `b0`: the number of real
/// super-blocks in it and its data (the row itself, or `pad` holding the last super-blocks
/// followed by zeros).
#[inline(always)]
fn window<'a>(x: &'a [f32], b0: usize, sbs: usize, pad: &'a mut [f32]) -> (usize, &'a [f32]) {
    let n = sbs.min(x.len() / QK_K - b0);
    let src = &x[b0 * QK_K..(b0 + n) * QK_K];
    if n == sbs {
        return (n, src);
    }
    pad[..src.len()].copy_from_slice(src);
    pad[src.len()..sbs * QK_K].fill(0.0);
    (n, &pad[..sbs * QK_K])
}

/// Super-blocks per window for `W` with `G` sub-blocks per super-block, and `W` vectors per
/// window.
#[inline(always)]
fn window_shape<W: Simd>(groups_per_sb: usize) -> (usize, usize) {
    let sbs = (W::LANES / groups_per_sb).max(1);
    let fits = sbs * groups_per_sb / W::LANES;
    assert!(
        fits * W::LANES == sbs * groups_per_sb && sbs * groups_per_sb <= MAX_GROUPS,
        "unsupported lane count {}",
        W::LANES
    );
    (sbs, fits)
}

/// Final levels of one sub-block of `x.len()` elements (a multiple of `B::LANES`) into `out`:
/// `clamp(nearest_int((x + dm) / d), lo, hi) + off` when `d != 0`, else the fit's levels from
/// `r` (`clamp(nearest_int(r.iscale * (x - r.min)), lo, hi) + off`, or 0), or when `fit` is
/// given, those levels as they are.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn group_levels<B: Simd>(
    b: B,
    x: &[f32],
    d: f32,
    dm: Option<f32>,
    r: &kfit::Recipe,
    asym: bool,
    (lo, hi, off): (i32, i32, i32),
    out: &mut [u8],
) {
    let l = B::LANES;
    let offv = b.splat_i(off);
    if d != 0.0 {
        let dv = b.splat(d);
        for c in 0..x.len() / l {
            let xv = b.load(&x[c * l..]);
            let num = match dm {
                Some(dm) => b.add(xv, b.splat(dm)),
                None => xv,
            };
            let q = b.clamp_i(b.nearest_int(b.div(num, dv)), lo, hi);
            b.store_i8(b.add_i(q, offv), &mut out[c * l..]);
        }
    } else if r.zero {
        out[..x.len()].fill(0);
    } else {
        let (iv, mv) = (b.splat(r.iscale), b.splat(r.min));
        for c in 0..x.len() / l {
            let xv = b.load(&x[c * l..]);
            let xm = if asym { b.sub(xv, mv) } else { xv };
            let q = b.clamp_i(b.nearest_int(b.mul(iv, xm)), lo, hi);
            b.store_i8(b.add_i(q, offv), &mut out[c * l..]);
        }
    }
}

/// True when the super-block `xb` contains a NaN or an infinity (`v - v` is NaN exactly for
/// those).
#[inline(always)]
fn has_nonfinite<B: Simd>(b: B, xb: &[f32]) -> bool {
    let l = B::LANES;
    let zero = b.splat(0.0);
    let v = b.load(xb);
    let mut acc = b.ne(b.sub(v, v), zero);
    for c in 1..QK_K / l {
        let v = b.load(&xb[c * l..]);
        acc = b.or(acc, b.ne(b.sub(v, v), zero));
    }
    b.any(acc)
}

/// Per-window fit results, one entry per sub-block.
struct Fits {
    scale: [f32; MAX_GROUPS],
    min: [f32; MAX_GROUPS],
    iscale: [f32; MAX_GROUPS],
    min_used: [f32; MAX_GROUPS],
    zero: [f32; MAX_GROUPS],
}

impl Fits {
    fn new() -> Self {
        Fits {
            scale: [0.0; MAX_GROUPS],
            min: [0.0; MAX_GROUPS],
            iscale: [0.0; MAX_GROUPS],
            min_used: [0.0; MAX_GROUPS],
            zero: [0.0; MAX_GROUPS],
        }
    }

    #[inline(always)]
    fn put_scale_min<W: Simd>(&mut self, w: W, at: usize, r: &kfit::ScaleMin<W>) {
        w.store(r.scale, &mut self.scale[at..]);
        w.store(r.neg_min, &mut self.min[at..]);
        w.store(r.iscale, &mut self.iscale[at..]);
        w.store(r.min_used, &mut self.min_used[at..]);
        let (one, zero) = (w.splat(1.0), w.splat(0.0));
        w.store(w.select(r.flat, one, zero), &mut self.zero[at..]);
    }

    #[inline(always)]
    fn recipe(&self, g: usize) -> kfit::Recipe {
        kfit::Recipe {
            iscale: self.iscale[g],
            min: self.min_used[g],
            zero: self.zero[g] != 0.0,
        }
    }
}

/// Q4_K exactly as [`kq::quantize_row_q4_k`].
#[inline(always)]
pub(super) fn quantize_q4_k<B: Simd, W: Simd>(b: B, w: W, x: &[f32], out: &mut [u8]) {
    kq::check_sizes(x.len(), out.len(), Q4_K_BYTES);
    quantize_k4(b, w, x, out, false);
}

/// Q5_K exactly as [`kq::quantize_row_q5_k`].
#[inline(always)]
pub(super) fn quantize_q5_k<B: Simd, W: Simd>(b: B, w: W, x: &[f32], out: &mut [u8]) {
    kq::check_sizes(x.len(), out.len(), Q5_K_BYTES);
    quantize_k4(b, w, x, out, true);
}

#[inline(always)]
fn quantize_k4<B: Simd, W: Simd>(b: B, w: W, x: &[f32], out: &mut [u8], q5: bool) {
    let (nmax, rmin, nstep) = kq::k4_params(q5);
    let bytes = if q5 { Q5_K_BYTES } else { Q4_K_BYTES };
    let (sbs, fits) = window_shape::<W>(8);
    let mut fr = Fits::new();
    let mut pad = [0f32; MAX_GROUPS * 32];
    let mut b0 = 0;
    while b0 * QK_K < x.len() {
        let (n, xs) = window(x, b0, sbs, &mut pad);
        for f in 0..fits {
            let xt = w.load_groups::<32>(&xs[f * W::LANES * 32..]);
            let mut sum_x2 = w.splat(0.0);
            for v in &xt {
                sum_x2 = w.add(sum_x2, w.mul(*v, *v));
            }
            let av_x = w.sqrt(w.div(sum_x2, w.splat(32.0)));
            let mut wt = xt;
            for v in wt.iter_mut() {
                *v = w.add(av_x, w.abs(*v));
            }
            let r = kfit::fit_scale_min::<W, 32, false>(w, nmax, &xt, &wt, rmin, 0.1, nstep);
            fr.put_scale_min(w, f * W::LANES, &r);
        }
        for sb in 0..n {
            let xb = &xs[sb * QK_K..(sb + 1) * QK_K];
            if has_nonfinite(b, xb) {
                let ob = &mut out[(b0 + sb) * bytes..(b0 + sb + 1) * bytes];
                if q5 {
                    kq::quantize_row_q5_k(xb, ob);
                } else {
                    kq::quantize_row_q4_k(xb, ob);
                }
                continue;
            }
            let g0 = sb * 8;
            let scales: &[f32; 8] = fr.scale[g0..g0 + 8].try_into().unwrap();
            let mins: &[f32; 8] = fr.min[g0..g0 + 8].try_into().unwrap();
            let (d16, dmin16, packed): (u16, u16, [u8; K_SCALE_SIZE]) = kq::k4_scales(scales, mins);
            let (d, dm) = kq::k4_group_scales(d16, dmin16, &packed);
            let mut levels = [0u8; QK_K];
            for j in 0..8 {
                group_levels(
                    b,
                    &xb[32 * j..32 * j + 32],
                    d[j],
                    Some(dm[j]),
                    &fr.recipe(g0 + j),
                    true,
                    (0, nmax, 0),
                    &mut levels[32 * j..],
                );
            }
            let ob = &mut out[(b0 + sb) * bytes..(b0 + sb + 1) * bytes];
            if q5 {
                kq::write_q5_k(ob, d16, dmin16, &packed, &levels);
            } else {
                kq::write_q4_k(ob, d16, dmin16, &packed, &levels);
            }
        }
        b0 += n;
    }
}

/// Q2_K exactly as [`kq::quantize_row_q2_k`].
#[inline(always)]
pub(super) fn quantize_q2_k<B: Simd, W: Simd>(b: B, w: W, x: &[f32], out: &mut [u8]) {
    kq::check_sizes(x.len(), out.len(), Q2_K_BYTES);
    let (sbs, fits) = window_shape::<W>(16);
    let mut fr = Fits::new();
    let mut pad = [0f32; MAX_GROUPS * 32];
    let mut b0 = 0;
    while b0 * QK_K < x.len() {
        let (n, xs) = window(x, b0, sbs, &mut pad);
        for f in 0..fits {
            let xt = w.load_groups::<16>(&xs[f * W::LANES * 16..]);
            let mut wt = xt;
            for v in wt.iter_mut() {
                *v = w.abs(*v);
            }
            let r = kfit::fit_scale_min::<W, 16, true>(w, 3, &xt, &wt, -0.5, 0.1, 15);
            fr.put_scale_min(w, f * W::LANES, &r);
        }
        for sb in 0..n {
            let xb = &xs[sb * QK_K..(sb + 1) * QK_K];
            if has_nonfinite(b, xb) {
                let ob = &mut out[(b0 + sb) * Q2_K_BYTES..(b0 + sb + 1) * Q2_K_BYTES];
                kq::quantize_row_q2_k(xb, ob);
                continue;
            }
            let g0 = sb * 16;
            let scales: &[f32; 16] = fr.scale[g0..g0 + 16].try_into().unwrap();
            let mins: &[f32; 16] = fr.min[g0..g0 + 16].try_into().unwrap();
            let (sc, d16, dmin16) = kq::q2_k_scales(scales, mins);
            let (d, dm) = kq::q2_k_group_scales(&sc, d16, dmin16);
            let mut levels = [0u8; QK_K];
            for j in 0..16 {
                group_levels(
                    b,
                    &xb[16 * j..16 * j + 16],
                    d[j],
                    Some(dm[j]),
                    &fr.recipe(g0 + j),
                    true,
                    (0, 3, 0),
                    &mut levels[16 * j..],
                );
            }
            let ob = &mut out[(b0 + sb) * Q2_K_BYTES..(b0 + sb + 1) * Q2_K_BYTES];
            kq::write_q2_k(ob, &sc, &levels, d16, dmin16);
        }
        b0 += n;
    }
}

/// Q6_K exactly as [`kq::quantize_row_q6_k`].
#[inline(always)]
pub(super) fn quantize_q6_k<B: Simd, W: Simd>(b: B, w: W, x: &[f32], out: &mut [u8]) {
    kq::check_sizes(x.len(), out.len(), Q6_K_BYTES);
    let (sbs, fits) = window_shape::<W>(16);
    let mut fr = Fits::new();
    let mut pad = [0f32; MAX_GROUPS * 32];
    let mut b0 = 0;
    while b0 * QK_K < x.len() {
        let (n, xs) = window(x, b0, sbs, &mut pad);
        for f in 0..fits {
            let xt = w.load_groups::<16>(&xs[f * W::LANES * 16..]);
            let r = kfit::fit_qx_rmse1::<W, 16>(w, 32, &xt);
            let at = f * W::LANES;
            w.store(r.scale, &mut fr.scale[at..]);
            w.store(r.iscale, &mut fr.iscale[at..]);
            let (one, zero) = (w.splat(1.0), w.splat(0.0));
            w.store(w.select(r.zero, one, zero), &mut fr.zero[at..]);
        }
        for sb in 0..n {
            let xb = &xs[sb * QK_K..(sb + 1) * QK_K];
            if has_nonfinite(b, xb) {
                let ob = &mut out[(b0 + sb) * Q6_K_BYTES..(b0 + sb + 1) * Q6_K_BYTES];
                kq::quantize_row_q6_k(xb, ob);
                continue;
            }
            let g0 = sb * 16;
            let ob = &mut out[(b0 + sb) * Q6_K_BYTES..(b0 + sb + 1) * Q6_K_BYTES];
            let scales: &[f32; 16] = fr.scale[g0..g0 + 16].try_into().unwrap();
            let Some((sc, d16)) = kq::q6_k_scales(scales) else {
                ob.fill(0);
                continue;
            };
            let d = kq::q6_k_group_scales(&sc, d16);
            let mut levels = [0u8; QK_K];
            for j in 0..16 {
                group_levels(
                    b,
                    &xb[16 * j..16 * j + 16],
                    d[j],
                    None,
                    &fr.recipe(g0 + j),
                    false,
                    (-32, 31, 32),
                    &mut levels[16 * j..],
                );
            }
            kq::write_q6_k(ob, &sc, &levels, d16);
        }
        b0 += n;
    }
}

/// Q3_K exactly as [`kq::quantize_row_q3_k`].
#[inline(always)]
pub(super) fn quantize_q3_k<B: Simd, W: Simd>(b: B, w: W, x: &[f32], out: &mut [u8]) {
    kq::check_sizes(x.len(), out.len(), Q3_K_BYTES);
    let (sbs, fits) = window_shape::<W>(16);
    let mut fr = Fits::new();
    // the fit's levels, `[fit][element][lane]`
    let mut lv = [0i32; 16 * MAX_GROUPS];
    let mut pad = [0f32; MAX_GROUPS * 32];
    let mut b0 = 0;
    while b0 * QK_K < x.len() {
        let (n, xs) = window(x, b0, sbs, &mut pad);
        for f in 0..fits {
            let xt = w.load_groups::<16>(&xs[f * W::LANES * 16..]);
            let mut levels = [w.splat_i(0); 16];
            let scale = kfit::fit_q3::<W, 16>(w, 4, &xt, &mut levels);
            w.store(scale, &mut fr.scale[f * W::LANES..]);
            for (i, l) in levels.into_iter().enumerate() {
                w.store_i(l, &mut lv[(f * 16 + i) * W::LANES..]);
            }
        }
        for sb in 0..n {
            let xb = &xs[sb * QK_K..(sb + 1) * QK_K];
            if has_nonfinite(b, xb) {
                let ob = &mut out[(b0 + sb) * Q3_K_BYTES..(b0 + sb + 1) * Q3_K_BYTES];
                kq::quantize_row_q3_k(xb, ob);
                continue;
            }
            let g0 = sb * 16;
            let scales: &[f32; 16] = fr.scale[g0..g0 + 16].try_into().unwrap();
            let (sc, d16) = kq::q3_k_scales(scales);
            let d = kq::q3_k_group_scales(&sc, d16);
            let mut levels = [0u8; QK_K];
            for j in 0..16 {
                let g = g0 + j;
                if d[j] == 0.0 {
                    let (f, k) = (g / W::LANES, g % W::LANES);
                    for i in 0..16 {
                        levels[16 * j + i] = lv[(f * 16 + i) * W::LANES + k] as u8;
                    }
                    continue;
                }
                let none = kfit::Recipe::default();
                group_levels(
                    b,
                    &xb[16 * j..16 * j + 16],
                    d[j],
                    None,
                    &none,
                    false,
                    (-4, 3, 4),
                    &mut levels[16 * j..],
                );
            }
            let ob = &mut out[(b0 + sb) * Q3_K_BYTES..(b0 + sb + 1) * Q3_K_BYTES];
            kq::write_q3_k(ob, &sc, &levels, d16);
        }
        b0 += n;
    }
}
