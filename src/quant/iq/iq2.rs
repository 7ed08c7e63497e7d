//! IQ2_XXS (2.06 bits per weight), IQ2_XS (2.31) and IQ2_S (2.56): groups of 8 magnitudes
//! from a 256-, 512- or 1024-entry grid of the E8 lattice, signs (IQ2_XXS/XS: 7 per 8 with
//! even parity), 4-bit block scales. Ports of `quantize_iq2_xxs`, `quantize_iq2_xs`,
//! `quantize_iq2_s` and the decoders.
//!
//! ggml requires importance weights for IQ2_XXS and IQ2_XS (it aborts without them, and
//! `llama-quantize` refuses to make them without an imatrix). Called without weights, these
//! ports weight every column by 1: valid data, but no reference to compare with.

use super::grids::{IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, KSIGNS_IQ2XS};
use super::lattice::{self, Lattice};
use super::{GROUP_MAX_EPS, check_row, f16_bits, get_f16, nearest_int};

/// Bytes of one IQ2_XXS super-block: f16 scale, 8 pairs of words (4 grid indices; 4×7 sign
/// bits and a 4-bit scale).
pub const IQ2_XXS_BYTES: usize = 2 + 256 / 8 * 2;
/// Bytes of one IQ2_XS super-block: f16 scale, 32 words (9-bit grid index, 7 sign bits), 8
/// bytes of 4-bit scales.
pub const IQ2_XS_BYTES: usize = 2 + 256 / 8 * 2 + 256 / 32;
/// Bytes of one IQ2_S super-block: f16 scale, 32 low index bytes, 32 sign bytes, 8 bytes of
/// index high bits, 8 bytes of 4-bit scales.
pub const IQ2_S_BYTES: usize = 2 + 256 / 4 + 256 / 16;

const QK_K: usize = 256;
const K_MAX_Q: i32 = 3;
/// `GROUP_MAX_EPS_IQ2_S`.
const GROUP_MAX_EPS_IQ2_S: f32 = 1e-8;

#[inline(always)]
fn max_sel(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

#[inline(always)]
fn lattice_index(l: &[i8]) -> usize {
    let mut u = 0usize;
    for (i, &v) in l[..8].iter().enumerate() {
        u |= (v as usize) << (2 * i);
    }
    u
}

/// The grid index of 8 levels, on the grid by construction (the reference aborts if not,
/// which needs non-finite input; index 0 is taken then).
#[inline(always)]
fn grid_index_of(lat: &Lattice<8>, l: &[i8]) -> usize {
    lat.map[lattice_index(l)].max(0) as usize
}

/// Magnitudes and sign bits of `xb`'s groups of 8. With `parity`, each group's sign count is
/// made even by flipping the element of least weighted square (its magnitude goes negative),
/// and only 7 sign bits are kept.
fn magnitudes_and_signs(
    xb: &[f32],
    weight: &[f32],
    parity: bool,
    xval: &mut [f32],
    signs: &mut [u8],
) {
    for (k, s_out) in signs.iter_mut().enumerate() {
        let mut nflip = 0;
        let mut s = 0u8;
        for i in 0..8 {
            let v = xb[8 * k + i];
            if v >= 0.0 {
                xval[8 * k + i] = v;
            } else {
                xval[8 * k + i] = -v;
                nflip += 1;
                s |= 1 << i;
            }
        }
        if parity {
            if nflip % 2 != 0 {
                let mut imin = 0;
                let mut min = weight[8 * k] * xb[8 * k] * xb[8 * k];
                for i in 1..8 {
                    let ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                    if ax < min {
                        min = ax;
                        imin = i;
                    }
                }
                xval[8 * k + imin] = -xval[8 * k + imin];
                s ^= 1 << imin;
            }
            s &= 127;
        }
        *s_out = s;
    }
}

/// ggml's `make_qp_quants` (levels 0..nmax, weighted, positive `x`), as IQ2_XXS calls it.
fn make_qp_quants(nmax: i32, x: &[f32], l: &mut [u8], qw: &[f32]) -> f32 {
    let n = x.len();
    let mut max = 0f32;
    for &v in x {
        max = max_sel(max, v);
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
    for is in -4..=4 {
        if is == 0 {
            continue;
        }
        let iscale_is = (0.1 * is as f32 + nmax as f32) / max;
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
        sumlx += w * x[i] * li as f32;
        suml2 += w * li as f32 * li as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for i in 0..n {
            let w = qw[i];
            let li = l[i] as f32;
            let mut slx = sumlx - w * x[i] * li;
            let mut sl2 = suml2 - w * li * li;
            if slx > 0.0 && sl2 > 0.0 {
                let new_l = nearest_int(x[i] * sl2 / slx).min(nmax);
                if new_l != l[i] as i32 {
                    slx += w * x[i] * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l[i] = new_l as u8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    if suml2 > 0.0 { sumlx / suml2 } else { 0.0 }
}

/// `sum w·x·q` and `sum w·q²` for levels `l` (q = 2l + 1).
#[inline(always)]
fn sums(weight: &[f32], xval: &[f32], l: &[i8]) -> (f32, f32) {
    let mut sumqx = 0f32;
    let mut sumq2 = 0f32;
    for i in 0..weight.len() {
        let w = weight[i];
        let q = (2 * l[i] as i32 + 1) as f32;
        sumqx += w * xval[i] * q;
        sumq2 += w * q * q;
    }
    (sumqx, sumq2)
}

#[inline(always)]
fn round_levels(id: f32, xval: &[f32], l: &mut [i8]) {
    for i in 0..8 {
        l[i] = nearest_int(0.5 * (id * xval[i] - 1.0)).clamp(0, K_MAX_Q - 1) as i8;
    }
}

/// The scale search of IQ2_XS and IQ2_S for one 16-element block (two groups of 8):
/// 19 trial scales around `max / 5`, then a refit of the groups that were off the grid.
fn search16(
    lat: &Lattice<8>,
    xval: &[f32; 16],
    weight: &[f32; 16],
    waux: &[f32; 16],
    max: f32,
    l: &mut [i8; 16],
) -> f32 {
    let mut laux = [0i8; 16];
    let mut best = 0f32;
    let mut scale = max / (2 * K_MAX_Q - 1) as f32;
    let mut is_on_grid = [true; 2];
    let mut is_on_grid_aux = [true; 2];
    for is in -9..=9 {
        let id = ((2 * K_MAX_Q - 1) as f32 + is as f32 * 0.1) / max;
        let this_scale = 1.0 / id;
        for k in 0..2 {
            round_levels(id, &xval[8 * k..], &mut laux[8 * k..]);
            let u = lattice_index(&laux[8 * k..]);
            is_on_grid_aux[k] = true;
            if lat.map[u] < 0 {
                is_on_grid_aux[k] = false;
                lat.best_neighbour(
                    lat.neighbours_of(u),
                    &xval[8 * k..],
                    &waux[8 * k..],
                    this_scale,
                    &mut laux[8 * k..],
                );
            }
        }
        let (sumqx, sumq2) = sums(weight, xval, &laux);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            *l = laux;
            is_on_grid = is_on_grid_aux;
        }
    }
    if is_on_grid.iter().any(|g| !g) && scale > 0.0 {
        let id = 1.0 / scale;
        for k in 0..2 {
            if is_on_grid[k] {
                continue;
            }
            round_levels(id, &xval[8 * k..], &mut l[8 * k..]);
            let u = lattice_index(&l[8 * k..]);
            if lat.map[u] < 0 {
                lat.best_neighbour(
                    lat.neighbours_of(u),
                    &xval[8 * k..],
                    &waux[8 * k..],
                    scale,
                    &mut l[8 * k..],
                );
            }
        }
        let (sumqx, sumq2) = sums(weight, xval, l);
        if sumq2 > 0.0 {
            scale = sumqx / sumq2;
        }
    }
    scale
}

fn sum_squares(xbl: &[f32]) -> f32 {
    let mut s = 0f32;
    for &v in xbl {
        s += v * v;
    }
    s
}

const ONES: [f32; QK_K] = [1.0; QK_K];

/// IQ2_XXS with importance weights `qw`, as `quantize_iq2_xxs` (weights of 1 when `None`).
pub fn quantize_iq2_xxs(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    check_row(x.len(), qw, out.len(), QK_K, IQ2_XXS_BYTES);
    let lat = lattice::iq2xxs();
    for (ibl, (xbl, y)) in x
        .chunks_exact(QK_K)
        .zip(out.chunks_exact_mut(IQ2_XXS_BYTES))
        .enumerate()
    {
        let qwb = qw.map_or(&ONES[..], |w| &w[QK_K * ibl..][..QK_K]);
        y[..2].fill(0);
        let mut q2 = [0u32; 16];
        let mut scales = [0f32; 8];
        let mut max_scale = 0f32;
        let sigma2 = sum_squares(xbl) / QK_K as f32;
        for ib in 0..QK_K / 32 {
            let xb = &xbl[32 * ib..][..32];
            let qwi = &qwb[32 * ib..][..32];
            let weight: [f32; 32] =
                std::array::from_fn(|i| qwi[i] * (sigma2 + xb[i] * xb[i]).sqrt());
            let waux: [f32; 32] = std::array::from_fn(|i| weight[i].sqrt());
            let mut xval = [0f32; 32];
            let mut block_signs = [0u8; 4];
            magnitudes_and_signs(xb, &weight, true, &mut xval, &mut block_signs);
            let mut max = xval[0];
            for &v in &xval[1..] {
                max = max_sel(max, v);
            }
            if max < GROUP_MAX_EPS {
                scales[ib] = 0.0;
                continue;
            }
            let mut lq = [0u8; 32];
            let mut scale = make_qp_quants(K_MAX_Q + 1, &xval, &mut lq, &weight);
            let mut l: [i8; 32] = std::array::from_fn(|i| lq[i] as i8);
            let eff_max = scale * K_MAX_Q as f32;
            if eff_max <= 0.0 {
                scales[ib] = 0.0;
                continue;
            }
            let mut best = 0f32;
            let mut laux = [0i8; 32];
            for is in -6..=6 {
                let id = ((2 * K_MAX_Q - 1) as f32 + is as f32 * 0.1) / eff_max;
                let this_scale = 1.0 / id;
                for k in 0..4 {
                    round_levels(id, &xval[8 * k..], &mut laux[8 * k..]);
                    let u = lattice_index(&laux[8 * k..]);
                    if lat.map[u] < 0 {
                        lat.best_neighbour(
                            lat.neighbours_of(u),
                            &xval[8 * k..],
                            &waux[8 * k..],
                            this_scale,
                            &mut laux[8 * k..],
                        );
                    }
                }
                let (sumqx, sumq2) = sums(&weight, &xval, &laux);
                if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                    scale = sumqx / sumq2;
                    best = scale * sumqx;
                    l = laux;
                }
            }
            if scale > 0.0 {
                let id = 1.0 / scale;
                for k in 0..4 {
                    let mut lk = [0i8; 8];
                    round_levels(id, &xval[8 * k..], &mut lk);
                    let u = lattice_index(&lk);
                    let gi = if lat.map[u] < 0 {
                        lat.best_neighbour(
                            lat.neighbours_of(u),
                            &xval[8 * k..],
                            &waux[8 * k..],
                            scale,
                            &mut l[8 * k..],
                        )
                    } else {
                        lat.map[u] as usize
                    };
                    let pg = &lat.grid[gi];
                    for i in 0..8 {
                        l[8 * k + i] = (pg[i] - 1) / 2;
                    }
                }
                let (sumqx, sumq2) = sums(&weight, &xval, &l);
                if sumq2 > 0.0 {
                    scale = sumqx / sumq2;
                }
            }
            if scale < 0.0 {
                scale = -scale;
                for s in block_signs.iter_mut() {
                    *s = !*s & 127;
                }
            }
            for k in 0..4 {
                let gi = grid_index_of(lat, &l[8 * k..]) as u32;
                q2[2 * ib] |= gi << (8 * k);
                q2[2 * ib + 1] |= (block_signs[k] as u32) << (7 * k);
            }
            scales[ib] = scale;
            max_scale = max_sel(max_scale, scale);
        }
        if max_scale == 0.0 {
            y[2..].fill(0);
            continue;
        }
        let d = max_scale / 31.0;
        y[..2].copy_from_slice(&f16_bits(d).to_le_bytes());
        let id = 1.0 / d;
        for ib in 0..QK_K / 32 {
            let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 15);
            q2[2 * ib + 1] |= (l as u32) << 28;
        }
        for (o, w) in y[2..].chunks_exact_mut(4).zip(q2) {
            o.copy_from_slice(&w.to_le_bytes());
        }
    }
}

/// IQ2_XXS without importance weights (the type table's encoder; weights of 1).
pub fn quantize_row_iq2_xxs(x: &[f32], out: &mut [u8]) {
    quantize_iq2_xxs(x, None, out)
}

/// IQ2_XS with importance weights `qw`, as `quantize_iq2_xs` (weights of 1 when `None`).
pub fn quantize_iq2_xs(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    check_row(x.len(), qw, out.len(), QK_K, IQ2_XS_BYTES);
    let lat = lattice::iq2xs();
    for (ibl, (xbl, y)) in x
        .chunks_exact(QK_K)
        .zip(out.chunks_exact_mut(IQ2_XS_BYTES))
        .enumerate()
    {
        let qwb = qw.map_or(&ONES[..], |w| &w[QK_K * ibl..][..QK_K]);
        y.fill(0);
        let mut q2 = [0u16; 32];
        let mut scales = [0f32; 16];
        let mut max_scale = 0f32;
        let sigma2 = sum_squares(xbl) / QK_K as f32;
        for ib in 0..QK_K / 16 {
            let xb = &xbl[16 * ib..][..16];
            let qwi = &qwb[16 * ib..][..16];
            let weight: [f32; 16] =
                std::array::from_fn(|i| qwi[i] * (sigma2 + xb[i] * xb[i]).sqrt());
            let waux: [f32; 16] = std::array::from_fn(|i| weight[i].sqrt());
            let mut xval = [0f32; 16];
            let mut block_signs = [0u8; 2];
            magnitudes_and_signs(xb, &weight, true, &mut xval, &mut block_signs);
            let mut max = xval[0];
            for &v in &xval[1..] {
                max = max_sel(max, v);
            }
            if max < GROUP_MAX_EPS {
                scales[ib] = 0.0;
                continue;
            }
            let mut l = [0i8; 16];
            let mut scale = search16(lat, &xval, &weight, &waux, max, &mut l);
            if scale < 0.0 {
                scale = -scale;
                for s in block_signs.iter_mut() {
                    *s = !*s & 127;
                }
            }
            for k in 0..2 {
                let gi = grid_index_of(lat, &l[8 * k..]) as u16;
                q2[2 * ib + k] = gi | ((block_signs[k] as u16) << 9);
            }
            scales[ib] = scale;
            max_scale = max_sel(max_scale, scale);
        }
        if max_scale == 0.0 {
            continue;
        }
        let d = max_scale / 31.0;
        y[..2].copy_from_slice(&f16_bits(d).to_le_bytes());
        let id = 1.0 / d;
        let sc = &mut y[66..74];
        for ib in 0..QK_K / 16 {
            let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 15) as u8;
            if ib % 2 == 0 {
                sc[ib / 2] = l;
            } else {
                sc[ib / 2] |= l << 4;
            }
        }
        for (o, w) in y[2..66].chunks_exact_mut(2).zip(q2) {
            o.copy_from_slice(&w.to_le_bytes());
        }
    }
}

/// IQ2_XS without importance weights (the type table's encoder; weights of 1).
pub fn quantize_row_iq2_xs(x: &[f32], out: &mut [u8]) {
    quantize_iq2_xs(x, None, out)
}

/// IQ2_S with optional importance weights `qw`, as `quantize_iq2_s`.
pub fn quantize_iq2_s(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    check_row(x.len(), qw, out.len(), QK_K, IQ2_S_BYTES);
    let lat = lattice::iq2s();
    for (ibl, (xbl, y)) in x
        .chunks_exact(QK_K)
        .zip(out.chunks_exact_mut(IQ2_S_BYTES))
        .enumerate()
    {
        y.fill(0);
        let mut scales = [0f32; 16];
        let mut max_scale = 0f32;
        let sigma2 = 2.0 * sum_squares(xbl) / QK_K as f32;
        for ib in 0..QK_K / 16 {
            let xb = &xbl[16 * ib..][..16];
            let weight: [f32; 16] = match qw {
                Some(w) => {
                    let qwi = &w[QK_K * ibl + 16 * ib..][..16];
                    std::array::from_fn(|i| qwi[i] * (sigma2 + xb[i] * xb[i]).sqrt())
                }
                None => std::array::from_fn(|i| 0.25 * sigma2 + xb[i] * xb[i]),
            };
            let waux: [f32; 16] = std::array::from_fn(|i| weight[i].sqrt());
            let mut xval = [0f32; 16];
            let mut block_signs = [0u8; 2];
            magnitudes_and_signs(xb, &weight, false, &mut xval, &mut block_signs);
            let mut max = xval[0];
            for &v in &xval[1..] {
                max = max_sel(max, v);
            }
            if max < GROUP_MAX_EPS_IQ2_S {
                scales[ib] = 0.0;
                continue;
            }
            let mut l = [0i8; 16];
            let mut scale = search16(lat, &xval, &weight, &waux, max, &mut l);
            if scale < 0.0 {
                scale = -scale;
                for s in block_signs.iter_mut() {
                    *s = !*s;
                }
            }
            for k in 0..2 {
                let gi = grid_index_of(lat, &l[8 * k..]);
                let i8 = 2 * ib + k;
                y[2 + i8] = (gi & 255) as u8;
                y[66 + i8 / 4] |= ((gi >> 8) << (2 * (i8 % 4))) as u8;
                y[2 + 32 + i8] = block_signs[k];
            }
            scales[ib] = scale;
            max_scale = max_sel(max_scale, scale);
        }
        if max_scale == 0.0 {
            continue;
        }
        let d = max_scale / 31.0;
        y[..2].copy_from_slice(&f16_bits(d * 0.9875).to_le_bytes());
        let id = 1.0 / d;
        for ib in 0..QK_K / 16 {
            let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 15) as u8;
            if ib % 2 == 0 {
                y[74 + ib / 2] = l;
            } else {
                y[74 + ib / 2] |= l << 4;
            }
        }
    }
}

/// IQ2_S without importance weights (the type table's encoder).
pub fn quantize_row_iq2_s(x: &[f32], out: &mut [u8]) {
    quantize_iq2_s(x, None, out)
}

#[inline(always)]
fn sign(signs: u8, j: usize) -> f32 {
    if signs & (1 << j) != 0 { -1.0 } else { 1.0 }
}

/// Inverse of [`quantize_iq2_xxs`] (`dequantize_row_iq2_xxs`).
pub fn dequantize_row_iq2_xxs(data: &[u8], out: &mut [f32]) {
    check_row(out.len(), None, data.len(), QK_K, IQ2_XXS_BYTES);
    for (b, y) in data
        .chunks_exact(IQ2_XXS_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let d = get_f16(b);
        for ib32 in 0..8 {
            let q = &b[2 + 8 * ib32..][..8];
            let aux1 = u32::from_le_bytes([q[4], q[5], q[6], q[7]]);
            let db = d * (0.5 + (aux1 >> 28) as f32) * 0.25;
            for l in 0..4 {
                let grid = IQ2XXS_GRID[q[l] as usize].to_le_bytes();
                let signs = KSIGNS_IQ2XS[((aux1 >> (7 * l)) & 127) as usize];
                for j in 0..8 {
                    y[32 * ib32 + 8 * l + j] = db * grid[j] as f32 * sign(signs, j);
                }
            }
        }
    }
}

/// Inverse of [`quantize_iq2_xs`] (`dequantize_row_iq2_xs`).
pub fn dequantize_row_iq2_xs(data: &[u8], out: &mut [f32]) {
    check_row(out.len(), None, data.len(), QK_K, IQ2_XS_BYTES);
    for (b, y) in data
        .chunks_exact(IQ2_XS_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let d = get_f16(b);
        let scales = &b[66..74];
        for ib32 in 0..8 {
            let db = [
                d * (0.5 + (scales[ib32] & 0xf) as f32) * 0.25,
                d * (0.5 + (scales[ib32] >> 4) as f32) * 0.25,
            ];
            for l in 0..4 {
                let o = 2 + 2 * (4 * ib32 + l);
                let qs = u16::from_le_bytes([b[o], b[o + 1]]);
                let grid = IQ2XS_GRID[(qs & 511) as usize].to_le_bytes();
                let signs = KSIGNS_IQ2XS[(qs >> 9) as usize];
                for j in 0..8 {
                    y[32 * ib32 + 8 * l + j] = db[l / 2] * grid[j] as f32 * sign(signs, j);
                }
            }
        }
    }
}

/// Inverse of [`quantize_iq2_s`] (`dequantize_row_iq2_s`).
pub fn dequantize_row_iq2_s(data: &[u8], out: &mut [f32]) {
    check_row(out.len(), None, data.len(), QK_K, IQ2_S_BYTES);
    for (b, y) in data
        .chunks_exact(IQ2_S_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let d = get_f16(b);
        let qs = &b[2..34];
        let signs = &b[34..66];
        let qh = &b[66..74];
        let scales = &b[74..82];
        for ib32 in 0..8 {
            let db = [
                d * (0.5 + (scales[ib32] & 0xf) as f32) * 0.25,
                d * (0.5 + (scales[ib32] >> 4) as f32) * 0.25,
            ];
            for l in 0..4 {
                let dl = db[l / 2];
                let idx =
                    qs[4 * ib32 + l] as usize | (((qh[ib32] as usize) << (8 - 2 * l)) & 0x300);
                let grid = IQ2S_GRID[idx].to_le_bytes();
                for j in 0..8 {
                    y[32 * ib32 + 8 * l + j] = dl * grid[j] as f32 * sign(signs[4 * ib32 + l], j);
                }
            }
        }
    }
}

const _: () = assert!(IQ2_XXS_BYTES == 66);
const _: () = assert!(IQ2_XS_BYTES == 74);
const _: () = assert!(IQ2_S_BYTES == 82);
