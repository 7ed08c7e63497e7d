//! IQ3_XXS (3.06 bits per weight) and IQ3_S (3.44): groups of 4 magnitudes from a 256- or
//! 512-entry grid of the D4 lattice, explicit signs (IQ3_XXS: 7 per 8 values with even
//! parity), 4-bit block scales. Ports of `quantize_iq3_xxs` / `quantize_iq3_s`
//! (`quantize_row_iq3_xxs_impl`, `quantize_row_iq3_s_impl`) and the decoders.

use super::grids::{IQ3S_GRID, IQ3XXS_GRID, KSIGNS_IQ2XS};
use super::lattice::{self, Lattice};
use super::{check_row, f16_bits, get_f16, nearest_int};

/// Bytes of one IQ3_XXS super-block: f16 scale, 64 grid indices, 8 words of signs + scale.
pub const IQ3_XXS_BYTES: usize = 2 + 3 * 256 / 8;
/// Bytes of one IQ3_S super-block: f16 scale, 64 low index bytes, 8 bytes of index high
/// bits, 32 bytes of signs, 4 bytes of 4-bit scales.
pub const IQ3_S_BYTES: usize = 2 + 13 * 256 / 32 + 256 / 64;

const QK_K: usize = 256;
const K_MAX_Q: i32 = 8;
/// `GROUP_MAX_EPS_IQ3_XXS`.
const GROUP_MAX_EPS_IQ3_XXS: f32 = 1e-8;

#[inline(always)]
fn max_sel(a: f32, b: f32) -> f32 {
    // C `MAX(a, b)`: `a > b ? a : b`
    if a > b { a } else { b }
}

#[inline(always)]
fn lattice_index(l: &[i8]) -> usize {
    let mut u = 0usize;
    for (i, &v) in l[..4].iter().enumerate() {
        u |= (v as usize) << (3 * i);
    }
    u
}

/// The weights of one 32-element block.
#[inline(always)]
fn block_weights(xb: &[f32], qw: Option<&[f32]>, sigma2: f32, weight: &mut [f32; 32]) {
    match qw {
        Some(qw) => {
            for i in 0..32 {
                weight[i] = qw[i] * (sigma2 + xb[i] * xb[i]).sqrt();
            }
        }
        None => {
            for i in 0..32 {
                weight[i] = xb[i] * xb[i];
            }
        }
    }
}

/// Scale search shared by both types for one 32-element block of magnitudes `xval`: the
/// levels `l` (0..7) and the block scale. `xxs`: IQ3_XXS's variant (31 trial scales, refit
/// only of groups that were off the grid).
fn search_block(
    lat: &Lattice<4>,
    xval: &[f32; 32],
    weight: &[f32; 32],
    waux: &[f32; 32],
    max: f32,
    xxs: bool,
    l: &mut [i8; 32],
) -> f32 {
    let mut laux = [0i8; 32];
    let mut is_on_grid = [xxs; 8];
    let mut is_on_grid_aux = [false; 8];
    let mut best = 0f32;
    let mut scale = max / (2 * K_MAX_Q - 1) as f32;
    let ntry = if xxs { 15 } else { 9 };
    for is in -ntry..=ntry {
        let id = ((2 * K_MAX_Q - 1) as f32 + is as f32 * 0.2) / max;
        let this_scale = 1.0 / id;
        for k in 0..8 {
            for i in 0..4 {
                let v = nearest_int(0.5 * (id * xval[4 * k + i] - 1.0));
                laux[4 * k + i] = v.clamp(0, K_MAX_Q - 1) as i8;
            }
            let u = lattice_index(&laux[4 * k..]);
            is_on_grid_aux[k] = true;
            if lat.map[u] < 0 {
                is_on_grid_aux[k] = false;
                lat.best_neighbour(
                    lat.neighbours_of(u),
                    &xval[4 * k..],
                    &waux[4 * k..],
                    this_scale,
                    &mut laux[4 * k..],
                );
            }
        }
        let mut sumqx = 0f32;
        let mut sumq2 = 0f32;
        for i in 0..32 {
            let w = weight[i];
            let q = (2 * laux[i] as i32 + 1) as f32;
            sumqx += w * xval[i] * q;
            sumq2 += w * q * q;
        }
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            *l = laux;
            is_on_grid = is_on_grid_aux;
        }
    }
    let n_not_ongrid = is_on_grid.iter().filter(|&&g| !g).count();
    if n_not_ongrid > 0 && scale > 0.0 {
        let id = 1.0 / scale;
        for k in 0..8 {
            if xxs && is_on_grid[k] {
                continue;
            }
            let mut u = 0usize;
            for i in 0..4 {
                let v = nearest_int(0.5 * (id * xval[4 * k + i] - 1.0)).clamp(0, K_MAX_Q - 1);
                u |= (v as usize) << (3 * i);
            }
            let gi = if lat.map[u] < 0 {
                lat.best_neighbour(
                    lat.neighbours_of(u),
                    &xval[4 * k..],
                    &waux[4 * k..],
                    scale,
                    &mut l[4 * k..],
                )
            } else {
                lat.map[u] as usize
            };
            let pg = &lat.grid[gi];
            for i in 0..4 {
                l[4 * k + i] = (pg[i] - 1) / 2;
            }
        }
        let mut sumqx = 0f32;
        let mut sumq2 = 0f32;
        for i in 0..32 {
            let w = weight[i];
            let q = (2 * l[i] as i32 + 1) as f32;
            sumqx += w * xval[i] * q;
            sumq2 += w * q * q;
        }
        if sumq2 > 0.0 {
            scale = sumqx / sumq2;
        }
    }
    scale
}

/// The grid index of levels `l` (4 of them), on the grid by construction. (The reference
/// aborts if not; that needs non-finite input, and index 0 is taken then.)
#[inline(always)]
fn grid_index_of(lat: &Lattice<4>, l: &[i8]) -> usize {
    lat.map[lattice_index(l)].max(0) as usize
}

/// IQ3_XXS with optional importance weights `qw`, as `quantize_iq3_xxs`.
pub fn quantize_iq3_xxs(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    check_row(x.len(), qw, out.len(), QK_K, IQ3_XXS_BYTES);
    let lat = lattice::iq3xxs();
    for (ibl, (xbl, y)) in x
        .chunks_exact(QK_K)
        .zip(out.chunks_exact_mut(IQ3_XXS_BYTES))
        .enumerate()
    {
        let mut q3 = [0u8; 64];
        let mut scales_and_signs = [0u32; 8];
        let mut scales = [0f32; 8];
        let mut max_scale = 0f32;
        let mut sumx2 = 0f32;
        for &v in xbl {
            sumx2 += v * v;
        }
        let sigma2 = 2.0 * sumx2 / QK_K as f32;
        for ib in 0..QK_K / 32 {
            let xb = &xbl[32 * ib..][..32];
            let mut weight = [0f32; 32];
            block_weights(
                xb,
                qw.map(|w| &w[QK_K * ibl + 32 * ib..][..32]),
                sigma2,
                &mut weight,
            );
            let waux: [f32; 32] = std::array::from_fn(|i| weight[i].sqrt());
            let mut xval = [0f32; 32];
            let mut block_signs = [0u8; 4];
            for k in 0..4 {
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
                block_signs[k] = s & 127;
            }
            let mut max = xval[0];
            for &v in &xval[1..] {
                max = max_sel(max, v);
            }
            let mut l = [0i8; 32];
            if max < GROUP_MAX_EPS_IQ3_XXS {
                scales[ib] = 0.0;
                continue;
            }
            let mut scale = search_block(lat, &xval, &weight, &waux, max, true, &mut l);
            if scale < 0.0 {
                scale = -scale;
                for s in block_signs.iter_mut() {
                    *s = !*s & 127;
                }
            }
            for k in 0..8 {
                q3[8 * ib + k] = grid_index_of(lat, &l[4 * k..]) as u8;
            }
            scales_and_signs[ib] = block_signs[0] as u32
                | (block_signs[1] as u32) << 7
                | (block_signs[2] as u32) << 14
                | (block_signs[3] as u32) << 21;
            scales[ib] = scale;
            max_scale = max_sel(max_scale, scale);
        }
        if max_scale == 0.0 {
            y.fill(0);
            continue;
        }
        let d = max_scale / 31.0;
        y[..2].copy_from_slice(&f16_bits(d * 1.0125).to_le_bytes());
        let id = 1.0 / d;
        for ib in 0..QK_K / 32 {
            let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 15);
            scales_and_signs[ib] |= (l as u32) << 28;
        }
        y[2..66].copy_from_slice(&q3);
        for (o, w) in y[66..].chunks_exact_mut(4).zip(scales_and_signs) {
            o.copy_from_slice(&w.to_le_bytes());
        }
    }
}

/// IQ3_XXS without importance weights (the type table's encoder).
pub fn quantize_row_iq3_xxs(x: &[f32], out: &mut [u8]) {
    quantize_iq3_xxs(x, None, out)
}

/// IQ3_S with optional importance weights `qw`, as `quantize_iq3_s` (32-element blocks).
pub fn quantize_iq3_s(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    check_row(x.len(), qw, out.len(), QK_K, IQ3_S_BYTES);
    let lat = lattice::iq3s();
    const BS4: usize = 8;
    const BS8: usize = 4;
    for (ibl, (xbl, y)) in x
        .chunks_exact(QK_K)
        .zip(out.chunks_exact_mut(IQ3_S_BYTES))
        .enumerate()
    {
        y.fill(0);
        let (d_out, rest) = y.split_at_mut(2);
        let (qs, rest) = rest.split_at_mut(64);
        let (qh, rest) = rest.split_at_mut(8);
        let (signs, scales_out) = rest.split_at_mut(32);
        // Write positions of qs and signs: like the reference, they do not advance past a
        // block that is all zero.
        let (mut qs_at, mut signs_at) = (0usize, 0usize);
        let mut scales = [0f32; 8];
        let mut max_scale = 0f32;
        let mut sumx2 = 0f32;
        for &v in xbl {
            sumx2 += v * v;
        }
        let sigma2 = 2.0 * sumx2 / QK_K as f32;
        for ib in 0..QK_K / 32 {
            let xb = &xbl[32 * ib..][..32];
            let mut weight = [0f32; 32];
            block_weights(
                xb,
                qw.map(|w| &w[QK_K * ibl + 32 * ib..][..32]),
                sigma2,
                &mut weight,
            );
            let waux: [f32; 32] = std::array::from_fn(|i| weight[i].sqrt());
            let mut xval = [0f32; 32];
            let mut block_signs = [0u8; BS8];
            for k in 0..BS8 {
                let mut s = 0u8;
                for i in 0..8 {
                    let v = xb[8 * k + i];
                    if v >= 0.0 {
                        xval[8 * k + i] = v;
                    } else {
                        xval[8 * k + i] = -v;
                        s |= 1 << i;
                    }
                }
                block_signs[k] = s;
            }
            let mut max = xval[0];
            for &v in &xval[1..] {
                max = max_sel(max, v);
            }
            let mut l = [0i8; 32];
            if max == 0.0 {
                scales[ib] = 0.0;
                continue;
            }
            let mut scale = search_block(lat, &xval, &weight, &waux, max, false, &mut l);
            if scale < 0.0 {
                scale = -scale;
                for s in block_signs.iter_mut() {
                    *s = !*s;
                }
            }
            for k in 0..BS4 {
                let gi = grid_index_of(lat, &l[4 * k..]);
                qs[qs_at + k] = (gi & 255) as u8;
                qh[(ib * BS4 + k) / 8] |= ((gi >> 8) << ((ib * BS4 + k) % 8)) as u8;
            }
            qs_at += BS4;
            signs[signs_at..signs_at + BS8].copy_from_slice(&block_signs);
            signs_at += BS8;
            scales[ib] = scale;
            max_scale = max_sel(max_scale, scale);
        }
        if max_scale == 0.0 {
            continue;
        }
        let d = max_scale / 31.0;
        d_out.copy_from_slice(&f16_bits(d * 1.033).to_le_bytes());
        let id = 1.0 / d;
        for ib in (0..QK_K / 32).step_by(2) {
            let l1 = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 15);
            let l2 = nearest_int(0.5 * (id * scales[ib + 1] - 1.0)).clamp(0, 15);
            scales_out[ib / 2] = (l1 | (l2 << 4)) as u8;
        }
    }
}

/// IQ3_S without importance weights (the type table's encoder).
pub fn quantize_row_iq3_s(x: &[f32], out: &mut [u8]) {
    quantize_iq3_s(x, None, out)
}

#[inline(always)]
fn sign(signs: u8, j: usize) -> f32 {
    if signs & (1 << j) != 0 { -1.0 } else { 1.0 }
}

/// Inverse of [`quantize_iq3_xxs`] (`dequantize_row_iq3_xxs`).
pub fn dequantize_row_iq3_xxs(data: &[u8], out: &mut [f32]) {
    check_row(out.len(), None, data.len(), QK_K, IQ3_XXS_BYTES);
    for (b, y) in data
        .chunks_exact(IQ3_XXS_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let d = get_f16(b);
        let qs = &b[2..66];
        let ss = &b[66..98];
        for ib32 in 0..8 {
            let aux32 = u32::from_le_bytes(ss[4 * ib32..4 * ib32 + 4].try_into().unwrap());
            let db = d * (0.5 + (aux32 >> 28) as f32) * 0.5;
            for l in 0..4 {
                let signs = KSIGNS_IQ2XS[((aux32 >> (7 * l)) & 127) as usize];
                let g1 = IQ3XXS_GRID[qs[8 * ib32 + 2 * l] as usize].to_le_bytes();
                let g2 = IQ3XXS_GRID[qs[8 * ib32 + 2 * l + 1] as usize].to_le_bytes();
                let yy = &mut y[32 * ib32 + 8 * l..][..8];
                for j in 0..4 {
                    yy[j] = db * g1[j] as f32 * sign(signs, j);
                    yy[j + 4] = db * g2[j] as f32 * sign(signs, j + 4);
                }
            }
        }
    }
}

/// Inverse of [`quantize_iq3_s`] (`dequantize_row_iq3_s`).
pub fn dequantize_row_iq3_s(data: &[u8], out: &mut [f32]) {
    check_row(out.len(), None, data.len(), QK_K, IQ3_S_BYTES);
    for (b, y) in data
        .chunks_exact(IQ3_S_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let d = get_f16(b);
        let qs = &b[2..66];
        let qh = &b[66..74];
        let signs = &b[74..106];
        let scales = &b[106..110];
        let mut yo = 0;
        for ib32 in (0..8).step_by(2) {
            let db = [
                d * (1 + 2 * (scales[ib32 / 2] & 0xf) as i32) as f32,
                d * (1 + 2 * (scales[ib32 / 2] >> 4) as i32) as f32,
            ];
            for half in 0..2 {
                let q = &qs[8 * (ib32 + half)..][..8];
                let h = qh[ib32 + half] as usize;
                let s = &signs[4 * (ib32 + half)..][..4];
                for l in 0..4 {
                    let i1 = q[2 * l] as usize | ((h << (8 - 2 * l)) & 256);
                    let i2 = q[2 * l + 1] as usize | ((h << (7 - 2 * l)) & 256);
                    let g1 = IQ3S_GRID[i1].to_le_bytes();
                    let g2 = IQ3S_GRID[i2].to_le_bytes();
                    for j in 0..4 {
                        y[yo + j] = db[half] * g1[j] as f32 * sign(s[l], j);
                        y[yo + j + 4] = db[half] * g2[j] as f32 * sign(s[l], j + 4);
                    }
                    yo += 8;
                }
            }
        }
    }
}

const _: () = assert!(IQ3_XXS_BYTES == 98);
const _: () = assert!(IQ3_S_BYTES == 110);
