//! IQ4_NL (32-element blocks, one f16 scale) and IQ4_XS (256-element super-blocks, f16 scale
//! and 6-bit block scales): 4-bit indices into ggml's non-linear level table
//! ([`KVALUES_IQ4NL`]). Ports of `quantize_iq4_nl` / `quantize_iq4_xs` (the functions
//! `llama-quantize` calls, which search 15 scales per block) and their decoders.

use super::{GROUP_MAX_EPS, best_index_int8, check_row, get_f16, nearest_int};

/// Elements per IQ4_NL block.
pub const QK4_NL: usize = 32;
/// Bytes of one IQ4_NL block: f16 scale + 16 bytes of nibbles.
pub const IQ4_NL_BYTES: usize = 2 + QK4_NL / 2;
/// Bytes of one IQ4_XS super-block: f16 scale, 16-bit high scale bits, 4 bytes of low scale
/// nibbles, 128 bytes of nibbles.
pub const IQ4_XS_BYTES: usize = 2 + 2 + 256 / 64 + 256 / 2;

/// ggml's `kvalues_iq4nl`: the 16 reconstruction levels, in increasing order.
pub const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// Where one call of the shared kernel stores its result.
struct Iq4Out<'a> {
    /// The (super-)block's f16 scale.
    dh: &'a mut u16,
    /// Packed nibbles, `super_block_size / 2` bytes.
    q4: &'a mut [u8],
    /// IQ4_XS only: high 2 bits of the 6-bit block scales.
    scales_h: &'a mut u16,
    /// IQ4_XS only: low 4 bits of the block scales (two per byte).
    scales_l: &'a mut [u8],
}

/// `quantize_row_iq4_nl_impl` for `block_size` = 32 and `values` = [`KVALUES_IQ4NL`].
fn quantize_iq4_impl<const SB: usize>(
    x: &[f32],
    qw: Option<&[f32]>,
    ntry: i32,
    scales: &mut [f32],
    o: Iq4Out<'_>,
) {
    const BS: usize = 32;
    let values = &KVALUES_IQ4NL;
    let v0 = values[0] as f32;
    let mut weight = [0f32; BS];
    let mut l_all = [0u8; SB];

    let mut sigma2 = 0f32;
    for &v in &x[..SB] {
        sigma2 += v * v;
    }
    sigma2 *= 2.0 / SB as f32;

    o.q4.fill(0);
    *o.dh = 0;

    let mut max_scale = 0f32;
    let mut amax_scale = 0f32;
    for ib in 0..SB / BS {
        let xb = &x[ib * BS..][..BS];
        let lb = &mut l_all[ib * BS..][..BS];
        match qw {
            Some(qw) => {
                let qw = &qw[ib * BS..][..BS];
                for j in 0..BS {
                    weight[j] = qw[j] * (sigma2 + xb[j] * xb[j]).sqrt();
                }
            }
            None => {
                for j in 0..BS {
                    weight[j] = xb[j] * xb[j];
                }
            }
        }
        let mut amax = 0f32;
        let mut max = 0f32;
        for &v in xb {
            let ax = v.abs();
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax < GROUP_MAX_EPS {
            scales[ib] = 0.0;
            continue;
        }
        let mut d = if ntry > 0 { -max / v0 } else { max / v0 };
        let mut id = 1.0 / d;
        let mut sumqx = 0f32;
        let mut sumq2 = 0f32;
        for j in 0..BS {
            let al = id * xb[j];
            let l = best_index_int8(values, al);
            lb[j] = l as u8;
            let q = values[l] as f32;
            let w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
        let mut best = d * sumqx;
        for itry in -ntry..=ntry {
            id = (itry + values[0] as i32) as f32 / max;
            sumqx = 0.0;
            sumq2 = 0.0;
            for j in 0..BS {
                let al = id * xb[j];
                let l = best_index_int8(values, al);
                let q = values[l] as f32;
                let w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        let abs_d = d.abs();
        if abs_d > amax_scale {
            amax_scale = abs_d;
            max_scale = d;
        }
    }

    if SB / BS > 1 {
        *o.scales_h = 0;
        let d = -max_scale / 32.0;
        *o.dh = super::f16_bits(d);
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for ib in 0..SB / BS {
            let mut l = nearest_int(id * scales[ib]);
            l = l.clamp(-32, 31);
            let dl = d * l as f32;
            let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
            let lb = &mut l_all[ib * BS..][..BS];
            let xb = &x[ib * BS..][..BS];
            for j in 0..BS {
                lb[j] = best_index_int8(values, idl * xb[j]) as u8;
            }
            let l = (l + 32) as u8;
            let (l_l, l_h) = (l & 0xf, l >> 4);
            if ib % 2 == 0 {
                o.scales_l[ib / 2] = l_l;
            } else {
                o.scales_l[ib / 2] |= l_l << 4;
            }
            *o.scales_h |= (l_h as u16) << (2 * (ib % 8));
        }
    } else {
        *o.dh = super::f16_bits(scales[0]);
        if ntry > 0 {
            let id = if scales[0] != 0.0 {
                1.0 / scales[0]
            } else {
                0.0
            };
            for j in 0..SB {
                l_all[j] = best_index_int8(values, id * x[j]) as u8;
            }
        }
    }

    for i in 0..SB / 32 {
        for j in 0..16 {
            o.q4[16 * i + j] = l_all[32 * i + j] | (l_all[32 * i + 16 + j] << 4);
        }
    }
}

/// IQ4_NL with optional importance weights `qw` (one per element of `x`), as
/// `quantize_iq4_nl` (what `llama-quantize` runs, with or without an imatrix).
pub fn quantize_iq4_nl(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    check_row(x.len(), qw, out.len(), QK4_NL, IQ4_NL_BYTES);
    let mut scale = [0f32; 1];
    for (ib, (xb, ob)) in x
        .chunks_exact(QK4_NL)
        .zip(out.chunks_exact_mut(IQ4_NL_BYTES))
        .enumerate()
    {
        let (mut dh, mut unused_h) = (0u16, 0u16);
        quantize_iq4_impl::<QK4_NL>(
            xb,
            qw.map(|w| &w[ib * QK4_NL..][..QK4_NL]),
            7,
            &mut scale,
            Iq4Out {
                dh: &mut dh,
                q4: &mut ob[2..],
                scales_h: &mut unused_h,
                scales_l: &mut [],
            },
        );
        ob[..2].copy_from_slice(&dh.to_le_bytes());
    }
}

/// IQ4_NL without importance weights (the type table's encoder).
pub fn quantize_row_iq4_nl(x: &[f32], out: &mut [u8]) {
    quantize_iq4_nl(x, None, out)
}

/// IQ4_XS with optional importance weights `qw`, as `quantize_iq4_xs`.
pub fn quantize_iq4_xs(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    check_row(x.len(), qw, out.len(), 256, IQ4_XS_BYTES);
    let mut scales = [0f32; 8];
    for (ib, (xb, ob)) in x
        .chunks_exact(256)
        .zip(out.chunks_exact_mut(IQ4_XS_BYTES))
        .enumerate()
    {
        let (mut dh, mut sh) = (0u16, 0u16);
        let (head, qs) = ob.split_at_mut(8);
        let mut sl = [0u8; 4];
        quantize_iq4_impl::<256>(
            xb,
            qw.map(|w| &w[ib * 256..][..256]),
            7,
            &mut scales,
            Iq4Out {
                dh: &mut dh,
                q4: qs,
                scales_h: &mut sh,
                scales_l: &mut sl,
            },
        );
        head[..2].copy_from_slice(&dh.to_le_bytes());
        head[2..4].copy_from_slice(&sh.to_le_bytes());
        head[4..8].copy_from_slice(&sl);
    }
}

/// IQ4_XS without importance weights (the type table's encoder).
pub fn quantize_row_iq4_xs(x: &[f32], out: &mut [u8]) {
    quantize_iq4_xs(x, None, out)
}

/// Inverse of [`quantize_iq4_nl`] (`dequantize_row_iq4_nl`).
pub fn dequantize_row_iq4_nl(data: &[u8], out: &mut [f32]) {
    check_row(out.len(), None, data.len(), QK4_NL, IQ4_NL_BYTES);
    for (b, y) in data
        .chunks_exact(IQ4_NL_BYTES)
        .zip(out.chunks_exact_mut(QK4_NL))
    {
        let d = get_f16(b);
        let qs = &b[2..];
        for j in 0..QK4_NL / 2 {
            y[j] = d * KVALUES_IQ4NL[(qs[j] & 0xf) as usize] as f32;
            y[j + QK4_NL / 2] = d * KVALUES_IQ4NL[(qs[j] >> 4) as usize] as f32;
        }
    }
}

/// Inverse of [`quantize_iq4_xs`] (`dequantize_row_iq4_xs`).
pub fn dequantize_row_iq4_xs(data: &[u8], out: &mut [f32]) {
    check_row(out.len(), None, data.len(), 256, IQ4_XS_BYTES);
    for (b, y) in data
        .chunks_exact(IQ4_XS_BYTES)
        .zip(out.chunks_exact_mut(256))
    {
        let d = get_f16(b);
        let scales_h = u16::from_le_bytes([b[2], b[3]]);
        let scales_l = &b[4..8];
        for ib in 0..8 {
            let ls = ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) as i32
                | ((((scales_h >> (2 * ib)) & 3) as i32) << 4);
            let dl = d * (ls - 32) as f32;
            let qs = &b[8 + 16 * ib..][..16];
            let yb = &mut y[32 * ib..][..32];
            for j in 0..16 {
                yb[j] = dl * KVALUES_IQ4NL[(qs[j] & 0xf) as usize] as f32;
                yb[j + 16] = dl * KVALUES_IQ4NL[(qs[j] >> 4) as usize] as f32;
            }
        }
    }
}

const _: () = assert!(IQ4_NL_BYTES == 18);
const _: () = assert!(IQ4_XS_BYTES == 136);
