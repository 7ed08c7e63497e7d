//! IQ1_S (1.56 bits per weight) and IQ1_M (1.75): groups of 8 ternary values (-1, 0, 1) from
//! a 2048-entry grid, shifted by ±1/8 per block, 3-bit block scales. Ports of
//! `quantize_iq1_s` / `quantize_iq1_m` (`quantize_row_iq1_s_impl`, `quantize_row_iq1_m_impl`:
//! an exact search of the two thresholds that split a block into the three levels) and the
//! decoders.
//!
//! ggml requires importance weights for IQ1_S (it aborts without them, and `llama-quantize`
//! refuses IQ1_S without an imatrix); called without weights this port weights every column
//! by 1. IQ1_M has an unweighted path of its own (x², as the reference).

use super::grids::IQ1S_GRID;
use super::lattice::{self, Lattice};
use super::{check_row, f16_bits, get_f16, nearest_int};

/// Bytes of one IQ1_S super-block: f16 scale, 32 low index bytes, 8 words (4×3 index high
/// bits, 3-bit scale, shift sign).
pub const IQ1_S_BYTES: usize = 2 + 256 / 8 + 256 / 16;
/// Bytes of one IQ1_M super-block: 32 low index bytes, 16 bytes of index high bits and shift
/// signs, 8 bytes of 3-bit scales holding the f16 super-block scale in their top nibbles.
pub const IQ1_M_BYTES: usize = 256 / 8 + 256 / 16 + 256 / 32;

const QK_K: usize = 256;
/// `IQ1S_DELTA` / `IQ1M_DELTA`.
const DELTA: f32 = 0.125;
const GROUP_MAX_EPS_IQ1_S: f32 = 1e-12;
const GROUP_MAX_EPS_IQ1_M: f32 = 1e-7;
const X_P: [f32; 3] = [-1.0 + DELTA, DELTA, 1.0 + DELTA];
const X_M: [f32; 3] = [-1.0 - DELTA, -DELTA, 1.0 - DELTA];

#[inline(always)]
fn max_sel(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// The order in which glibc's `qsort` (2.36: a top-down merge sort, stable, left element
/// first when the comparison says equal) leaves the elements of `xb` compared by value
/// (`iq1_sort_helper`, which calls NaN equal to everything). Returns the element indices.
fn glibc_sorted_indices<const N: usize>(xb: &[f32]) -> [usize; N] {
    fn cmp(a: f32, b: f32) -> i32 {
        if a < b {
            -1
        } else if a > b {
            1
        } else {
            0
        }
    }
    fn msort(xb: &[f32], b: &mut [usize], tmp: &mut [usize]) {
        let n = b.len();
        if n <= 1 {
            return;
        }
        let n1 = n / 2;
        {
            let (b1, b2) = b.split_at_mut(n1);
            msort(xb, b1, tmp);
            msort(xb, b2, tmp);
        }
        let (mut i, mut j, mut t) = (0, n1, 0);
        while i < n1 && j < n {
            if cmp(xb[b[i]], xb[b[j]]) <= 0 {
                tmp[t] = b[i];
                i += 1;
            } else {
                tmp[t] = b[j];
                j += 1;
            }
            t += 1;
        }
        while i < n1 {
            tmp[t] = b[i];
            i += 1;
            t += 1;
        }
        // what is left of the second half is already in place
        b[..t].copy_from_slice(&tmp[..t]);
    }
    let mut idx: [usize; N] = std::array::from_fn(|i| i);
    let mut tmp = [0usize; N];
    msort(&xb[..N], &mut idx, &mut tmp);
    idx
}

/// `iq1_find_best_neighbour2`: among the neighbours of a lattice point, the grid entry whose
/// levels `xg[l]` times `scale` are nearest to `xval` (weighted). (When no distance compares
/// below `f32::MAX`, which needs non-finite input, the reference reads out of bounds and
/// aborts; the first neighbour is taken then.)
fn best_neighbour2(
    lat: &Lattice<8>,
    nb: &[u16],
    xval: &[f32],
    weight: &[f32],
    scale: f32,
    xg: &[f32; 3],
    l: &mut [i8],
) -> usize {
    let mut best_score = f32::MAX;
    let mut grid_index = None;
    for &j in &nb[1..] {
        let pg = &lat.grid[j as usize];
        let mut d2 = 0f32;
        for i in 0..8 {
            let q = xg[((pg[i] - 1) / 2) as usize];
            let w = weight[i];
            let diff = scale * q - xval[i];
            d2 += w * diff * diff;
        }
        if d2 < best_score {
            best_score = d2;
            grid_index = Some(j as usize);
        }
    }
    let gi = grid_index.unwrap_or(nb[1] as usize);
    let pg = &lat.grid[gi];
    for i in 0..8 {
        l[i] = (pg[i] - 1) / 2;
    }
    gi
}

/// Grid indices of the groups of 8 of a block with levels `l`; off-grid groups take the best
/// neighbour (rewriting their levels). `xx(k)`: the shifted levels of group `k`.
fn block_indices<const G: usize>(
    lat: &Lattice<8>,
    xb: &[f32],
    weight: &[f32],
    scale: f32,
    xx: impl Fn(usize) -> &'static [f32; 3],
    l: &mut [i8],
) -> ([u16; G], bool) {
    let mut index = [0u16; G];
    let mut all_on_grid = true;
    for k in 0..G {
        let mut u = 0usize;
        for j in 0..8 {
            u |= (l[8 * k + j] as usize) << (2 * j);
        }
        let gi = if lat.map[u] < 0 {
            all_on_grid = false;
            best_neighbour2(
                lat,
                lat.neighbours_of(u),
                &xb[8 * k..],
                &weight[8 * k..],
                scale,
                xx(k),
                &mut l[8 * k..],
            )
        } else {
            lat.map[u] as usize
        };
        index[k] = gi as u16;
    }
    (index, all_on_grid)
}

/// Least-squares scale of the chosen grid entries, as the reference refits after a group
/// went off the grid (kept only when both sums are positive).
fn refit<const G: usize>(
    lat: &Lattice<8>,
    index: &[u16; G],
    xb: &[f32],
    weight: &[f32],
    xx: impl Fn(usize) -> &'static [f32; 3],
    scale: f32,
) -> f32 {
    let mut sumqx = 0f32;
    let mut sumq2 = 0f32;
    for k in 0..G {
        let pg = &lat.grid[index[k] as usize];
        let x = xx(k);
        for j in 0..8 {
            let w = weight[8 * k + j];
            let q = x[((pg[j] - 1) / 2) as usize];
            sumqx += w * q * xb[8 * k + j];
            sumq2 += w * q * q;
        }
    }
    if sumqx > 0.0 && sumq2 > 0.0 {
        sumqx / sumq2
    } else {
        scale
    }
}

fn sigma2_of(xbl: &[f32]) -> f32 {
    let mut sumx2 = 0f32;
    for &v in xbl {
        sumx2 += v * v;
    }
    2.0 * sumx2 / QK_K as f32
}

fn abs_max(xb: &[f32]) -> f32 {
    let mut max = xb[0].abs();
    for &v in &xb[1..] {
        max = max_sel(max, v.abs());
    }
    max
}

const ONES: [f32; QK_K] = [1.0; QK_K];

/// IQ1_S with importance weights `qw`, as `quantize_iq1_s` (weights of 1 when `None`).
pub fn quantize_iq1_s(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    check_row(x.len(), qw, out.len(), QK_K, IQ1_S_BYTES);
    const BS: usize = 32;
    let lat = lattice::iq1s();
    for (ibl, (xbl, y)) in x
        .chunks_exact(QK_K)
        .zip(out.chunks_exact_mut(IQ1_S_BYTES))
        .enumerate()
    {
        let qwb = qw.map_or(&ONES[..], |w| &w[QK_K * ibl..][..QK_K]);
        y.fill(0);
        let mut qh = [0u16; QK_K / BS];
        let mut scales = [0f32; QK_K / BS];
        let mut shifts = [0i8; QK_K / BS];
        let mut max_scale = 0f32;
        let sigma2 = sigma2_of(xbl);
        for ib in 0..QK_K / BS {
            let xb = &xbl[BS * ib..][..BS];
            let qwi = &qwb[BS * ib..][..BS];
            let weight: [f32; BS] =
                std::array::from_fn(|i| qwi[i] * (sigma2 + xb[i] * xb[i]).sqrt());
            let max = abs_max(xb);
            if max < GROUP_MAX_EPS_IQ1_S {
                scales[ib] = 0.0;
                shifts[ib] = 1;
                continue;
            }
            let idx = glibc_sorted_indices::<BS>(xb);
            let mut sumx = [0f32; BS + 1];
            let mut sumw = [0f32; BS + 1];
            for j in 0..BS {
                let i = idx[j];
                sumx[j + 1] = sumx[j] + weight[i] * xb[i];
                sumw[j + 1] = sumw[j] + weight[i];
            }
            let mut best_score = -f32::MAX;
            let mut scale = max;
            let (mut besti1, mut besti2, mut best_shift) = (-1i32, -1i32, 0i8);
            for i1 in 0..=BS {
                for i2 in i1..=BS {
                    for (xs, shift) in [(&X_P, 1i8), (&X_M, -1i8)] {
                        let sumqx = (sumx[i1] - sumx[0]) * xs[0]
                            + (sumx[i2] - sumx[i1]) * xs[1]
                            + (sumx[BS] - sumx[i2]) * xs[2];
                        let sumq2 = (sumw[i1] - sumw[0]) * xs[0] * xs[0]
                            + (sumw[i2] - sumw[i1]) * xs[1] * xs[1]
                            + (sumw[BS] - sumw[i2]) * xs[2] * xs[2];
                        if sumq2 > 0.0 && sumqx * sumqx > best_score * sumq2 {
                            scale = sumqx / sumq2;
                            best_score = scale * sumqx;
                            besti1 = i1 as i32;
                            besti2 = i2 as i32;
                            best_shift = shift;
                        }
                    }
                }
            }
            if besti1 < 0 || besti2 < 0 || best_shift == 0 {
                scales[ib] = 0.0;
                shifts[ib] = 1;
                continue;
            }
            let mut l = [0i8; BS];
            for (j, &i) in idx.iter().enumerate() {
                l[i] = if (j as i32) < besti1 {
                    0
                } else if (j as i32) < besti2 {
                    1
                } else {
                    2
                };
            }
            if scale < 0.0 {
                for v in l.iter_mut() {
                    *v = 2 - *v;
                }
                scale = -scale;
                best_shift = -best_shift;
            }
            let xx: &'static [f32; 3] = if best_shift == 1 { &X_P } else { &X_M };
            let (index, all_on_grid) = block_indices::<4>(lat, xb, &weight, scale, |_| xx, &mut l);
            if !all_on_grid {
                scale = refit(lat, &index, xb, &weight, |_| xx, scale);
            }
            let mut h = 0u16;
            for k in 0..4 {
                y[2 + 4 * ib + k] = (index[k] & 255) as u8;
                h |= (index[k] >> 8) << (3 * k);
            }
            qh[ib] = h;
            scales[ib] = scale;
            shifts[ib] = best_shift;
            max_scale = max_sel(max_scale, scale);
        }
        if max_scale != 0.0 {
            let d = max_scale / 15.0;
            y[..2].copy_from_slice(&f16_bits(d * 1.125).to_le_bytes());
            let id = 1.0 / d;
            for ib in 0..QK_K / BS {
                let mut l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 7);
                if shifts[ib] == -1 {
                    l |= 8;
                }
                qh[ib] |= (l as u16) << 12;
            }
        }
        for (o, h) in y[34..50].chunks_exact_mut(2).zip(qh) {
            o.copy_from_slice(&h.to_le_bytes());
        }
    }
}

/// IQ1_S without importance weights (the type table's encoder; weights of 1).
pub fn quantize_row_iq1_s(x: &[f32], out: &mut [u8]) {
    quantize_iq1_s(x, None, out)
}

/// IQ1_M with optional importance weights `qw`, as `quantize_iq1_m`.
pub fn quantize_iq1_m(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    check_row(x.len(), qw, out.len(), QK_K, IQ1_M_BYTES);
    const BS: usize = 16;
    const MASKS: [u8; 4] = [0x00, 0x80, 0x08, 0x88];
    let lat = lattice::iq1s();
    let weights_of = |xb: &[f32], ibl: usize, ib: usize, sigma2: f32| -> [f32; BS] {
        match qw {
            Some(w) => {
                let qwi = &w[QK_K * ibl + BS * ib..][..BS];
                std::array::from_fn(|i| qwi[i] * (sigma2 + xb[i] * xb[i]).sqrt())
            }
            None => std::array::from_fn(|i| xb[i] * xb[i]),
        }
    };
    // shifted levels of group k (0 or 1) for a block whose choice is `best_k`
    let xx_of = |best_k: usize, k: usize| -> &'static [f32; 3] {
        let plus = if k == 0 {
            best_k < 2
        } else {
            best_k.is_multiple_of(2)
        };
        if plus { &X_P } else { &X_M }
    };
    for (ibl, (xbl, y)) in x
        .chunks_exact(QK_K)
        .zip(out.chunks_exact_mut(IQ1_M_BYTES))
        .enumerate()
    {
        y.fill(0);
        let (qs, rest) = y.split_at_mut(32);
        let (qh, sc_bytes) = rest.split_at_mut(16);
        let mut scales = [0f32; QK_K / BS];
        let mut shifts = [0usize; QK_K / BS];
        let mut max_scale = 0f32;
        let sigma2 = sigma2_of(xbl);
        for ib in 0..QK_K / BS {
            let xb = &xbl[BS * ib..][..BS];
            let weight = weights_of(xb, ibl, ib, sigma2);
            let max = abs_max(xb);
            if max < GROUP_MAX_EPS_IQ1_M {
                scales[ib] = 0.0;
                shifts[ib] = 0;
                continue;
            }
            let idx = glibc_sorted_indices::<BS>(xb);
            let mut best_score = -f32::MAX;
            let mut scale = max;
            let (mut besti1, mut besti2, mut best_k) = (-1i32, -1i32, -1i32);
            let mut px = [[0f32; BS + 1]; 2];
            let mut pw = [[0f32; BS + 1]; 2];
            for j in 0..BS {
                let i = idx[j];
                let h = if i < BS / 2 { 0 } else { 1 };
                px[h][j + 1] = px[h][j] + weight[i] * xb[i];
                px[1 - h][j + 1] = px[1 - h][j];
                pw[h][j + 1] = pw[h][j] + weight[i];
                pw[1 - h][j + 1] = pw[1 - h][j];
            }
            let txs = [px[0][BS], px[1][BS]];
            let tws = [pw[0][BS], pw[1][BS]];
            let (p2, m2) = (X_P[2], X_M[2]);
            let cp1 = X_P[0] * X_P[0] - X_P[1] * X_P[1];
            let cp2 = X_P[1] * X_P[1] - X_P[2] * X_P[2];
            let cm1 = X_M[0] * X_M[0] - X_M[1] * X_M[1];
            let cm2 = X_M[1] * X_M[1] - X_M[2] * X_M[2];
            for i1 in 0..=BS {
                for i2 in i1..=BS {
                    let mut qx_p = [0f32; 2];
                    let mut qx_m = [0f32; 2];
                    let mut q2_p = [0f32; 2];
                    let mut q2_m = [0f32; 2];
                    for h in 0..2 {
                        let sx = px[h][i1] + px[h][i2];
                        qx_p[h] = txs[h] * p2 - sx;
                        qx_m[h] = txs[h] * m2 - sx;
                        q2_p[h] = tws[h] * p2 * p2 + pw[h][i1] * cp1 + pw[h][i2] * cp2;
                        q2_m[h] = tws[h] * m2 * m2 + pw[h][i1] * cm1 + pw[h][i2] * cm2;
                    }
                    let sumqx = [
                        qx_p[0] + qx_p[1],
                        qx_p[0] + qx_m[1],
                        qx_m[0] + qx_p[1],
                        qx_m[0] + qx_m[1],
                    ];
                    let sumq2 = [
                        q2_p[0] + q2_p[1],
                        q2_p[0] + q2_m[1],
                        q2_m[0] + q2_p[1],
                        q2_m[0] + q2_m[1],
                    ];
                    for k in 0..4 {
                        if sumq2[k] > 0.0 && sumqx[k] * sumqx[k] > best_score * sumq2[k] {
                            scale = sumqx[k] / sumq2[k];
                            best_score = scale * sumqx[k];
                            besti1 = i1 as i32;
                            besti2 = i2 as i32;
                            best_k = k as i32;
                        }
                    }
                }
            }
            if besti1 < 0 || besti2 < 0 || best_k < 0 {
                scales[ib] = 0.0;
                shifts[ib] = 0;
                continue;
            }
            let mut l = [0i8; BS];
            for (j, &i) in idx.iter().enumerate() {
                l[i] = if (j as i32) < besti1 {
                    0
                } else if (j as i32) < besti2 {
                    1
                } else {
                    2
                };
            }
            let mut best_k = best_k as usize;
            if scale < 0.0 {
                for v in l.iter_mut() {
                    *v = 2 - *v;
                }
                scale = -scale;
                best_k = 3 - best_k;
            }
            let (index, all_on_grid) =
                block_indices::<2>(lat, xb, &weight, scale, |k| xx_of(best_k, k), &mut l);
            if !all_on_grid {
                scale = refit(lat, &index, xb, &weight, |k| xx_of(best_k, k), scale);
            }
            qs[2 * ib] = (index[0] & 255) as u8;
            qs[2 * ib + 1] = (index[1] & 255) as u8;
            qh[ib] = ((index[0] >> 8) | ((index[1] >> 8) << 4)) as u8;
            scales[ib] = scale;
            shifts[ib] = best_k;
            max_scale = max_sel(max_scale, scale);
        }
        if max_scale == 0.0 {
            continue;
        }
        let mut sc = [0u16; 4];
        let mut d = max_scale / 15.0;
        let id = 1.0 / d;
        let mut sumqx_f = 0f32;
        let mut sumq2_f = 0f32;
        for ib in 0..QK_K / BS {
            let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 7);
            sc[ib / 4] |= (l as u16) << (3 * (ib % 4));
            qh[ib] |= MASKS[shifts[ib]];
            let xb = &xbl[BS * ib..][..BS];
            let weight = weights_of(xb, ibl, ib, sigma2);
            for k in 0..2 {
                let xx = xx_of(shifts[ib], k);
                let gi = qs[2 * ib + k] as usize + (((qh[ib] as usize) << (8 - 4 * k)) & 0x700);
                let pg = &lat.grid[gi];
                for j in 0..8 {
                    let w = weight[8 * k + j];
                    let q = xx[((pg[j] - 1) / 2) as usize] * (2 * l + 1) as f32;
                    sumqx_f += w * q * xb[8 * k + j];
                    sumq2_f += w * q * q;
                }
            }
        }
        if sumq2_f > 0.0 {
            d = sumqx_f / sumq2_f;
        }
        let s = f16_bits(d * 1.1125);
        sc[0] |= (s & 0x000f) << 12;
        sc[1] |= (s & 0x00f0) << 8;
        sc[2] |= (s & 0x0f00) << 4;
        sc[3] |= s & 0xf000;
        for (o, v) in sc_bytes.chunks_exact_mut(2).zip(sc) {
            o.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// IQ1_M without importance weights (the type table's encoder).
pub fn quantize_row_iq1_m(x: &[f32], out: &mut [u8]) {
    quantize_iq1_m(x, None, out)
}

/// Inverse of [`quantize_iq1_s`] (`dequantize_row_iq1_s`).
pub fn dequantize_row_iq1_s(data: &[u8], out: &mut [f32]) {
    check_row(out.len(), None, data.len(), QK_K, IQ1_S_BYTES);
    for (b, y) in data
        .chunks_exact(IQ1_S_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let d = get_f16(b);
        for ib in 0..8 {
            let qh = u16::from_le_bytes([b[34 + 2 * ib], b[35 + 2 * ib]]);
            let dl = d * (2 * ((qh >> 12) & 7) as i32 + 1) as f32;
            let delta = if qh & 0x8000 != 0 { -DELTA } else { DELTA };
            for l in 0..4 {
                let gi = b[2 + 4 * ib + l] as usize | ((((qh >> (3 * l)) & 7) as usize) << 8);
                let grid = IQ1S_GRID[gi].to_le_bytes();
                for j in 0..8 {
                    y[32 * ib + 8 * l + j] = dl * (grid[j] as i8 as f32 + delta);
                }
            }
        }
    }
}

/// Inverse of [`quantize_iq1_m`] (`dequantize_row_iq1_m`).
pub fn dequantize_row_iq1_m(data: &[u8], out: &mut [f32]) {
    check_row(out.len(), None, data.len(), QK_K, IQ1_M_BYTES);
    for (b, y) in data
        .chunks_exact(IQ1_M_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let sc: [u16; 4] =
            std::array::from_fn(|i| u16::from_le_bytes([b[48 + 2 * i], b[49 + 2 * i]]));
        let s =
            (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
        let d = super::super::float::f16_bits_to_f32(s);
        for ib in 0..8 {
            let s6 = sc[ib / 2] as i32;
            let dl1 = d * (2 * ((s6 >> (6 * (ib % 2))) & 0x7) + 1) as f32;
            let dl2 = d * (2 * ((s6 >> (6 * (ib % 2) + 3)) & 0x7) + 1) as f32;
            let qs = &b[4 * ib..][..4];
            let qh = &b[32 + 2 * ib..][..2];
            let idx = [
                qs[0] as usize | (((qh[0] as usize) << 8) & 0x700),
                qs[1] as usize | (((qh[0] as usize) << 4) & 0x700),
                qs[2] as usize | (((qh[1] as usize) << 8) & 0x700),
                qs[3] as usize | (((qh[1] as usize) << 4) & 0x700),
            ];
            let delta = [
                if qh[0] & 0x08 != 0 { -DELTA } else { DELTA },
                if qh[0] & 0x80 != 0 { -DELTA } else { DELTA },
                if qh[1] & 0x08 != 0 { -DELTA } else { DELTA },
                if qh[1] & 0x80 != 0 { -DELTA } else { DELTA },
            ];
            for l in 0..4 {
                let dl = if l < 2 { dl1 } else { dl2 };
                let grid = IQ1S_GRID[idx[l]].to_le_bytes();
                for j in 0..8 {
                    y[32 * ib + 8 * l + j] = dl * (grid[j] as i8 as f32 + delta[l]);
                }
            }
        }
    }
}

const _: () = assert!(IQ1_S_BYTES == 50);
const _: () = assert!(IQ1_M_BYTES == 56);
