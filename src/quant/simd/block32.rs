//! Q8_0 and the float decoders (FP8 e4m3fn × block scale, bf16), generic over [`Simd`].
//! Here the lanes are consecutive elements: no sums cross lanes except a maximum, which is
//! exact in any order.

use super::Simd;
use crate::quant::float;
use crate::quant::legacy::{Q8_0_BYTES, QK, quantize_block_q8_0};

/// Q8_0 exactly as [`crate::quant::legacy::quantize_row_q8_0`]. Blocks with a NaN or an
/// infinity, or whose inverse scale overflows, are handed to the scalar block code; for the
/// others `amax` is a maximum of non-negative finite values (any order gives the same value)
/// and `|x * id| <= 127`, where the scalar code's compare-based rounding is used lane-wise.
#[inline(always)]
pub(super) fn quantize_q8_0<S: Simd>(s: S, x: &[f32], out: &mut [u8]) {
    assert!(
        x.len().is_multiple_of(QK) && QK.is_multiple_of(S::LANES),
        "row length {} is not a multiple of {QK}",
        x.len()
    );
    assert_eq!(out.len(), x.len() / QK * Q8_0_BYTES, "output size");
    let l = S::LANES;
    let abs_mask = s.splat_i(0x7fff_ffff);
    let (half, mhalf) = (s.splat(0.5), s.splat(-0.5));
    let (one, zero) = (s.splat_i(1), s.splat_i(0));
    for (xb, ob) in x.chunks_exact(QK).zip(out.chunks_exact_mut(Q8_0_BYTES)) {
        // the bits of non-negative floats order as the floats; NaNs above +inf
        let mut m = zero;
        for c in 0..QK / l {
            m = s.max_i(m, s.and_i(s.bits(s.load(&xb[c * l..])), abs_mask));
        }
        let amax_bits = s.hmax_i(m);
        if amax_bits >= 0x7f80_0000 {
            quantize_block_q8_0(xb, ob);
            continue;
        }
        let amax = f32::from_bits(amax_bits as u32);
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        if !id.is_finite() {
            quantize_block_q8_0(xb, ob);
            continue;
        }
        ob[..2].copy_from_slice(&s.f16_bits(d).to_le_bytes());
        let idv = s.splat(id);
        for c in 0..QK / l {
            let y = s.mul(s.load(&xb[c * l..]), idv);
            let t = s.trunc_i(y);
            let f = s.sub(y, s.to_f(t));
            let r = s.add_i(t, s.select_i(s.ge(f, half), one, zero));
            let r = s.sub_i(r, s.select_i(s.le(f, mhalf), one, zero));
            s.store_i8(r, &mut ob[2 + c * l..]);
        }
    }
}

/// [`float::fp8_block_row`], `LANES` codes at a time. The e4m3fn code is decoded in the integer
/// domain, never through subnormal floats (which cost a microcode assist per vector on x86): a
/// normal code's 7 magnitude bits shifted to bit 20 and rebiased by 120 are its f32 bits; a
/// subnormal code (exponent 0) is its 3-bit mantissa times `2^-9`, exact; the sign bit is copied
/// and the two NaN codes give [`f32::NAN`], all as [`float::E4M3FN_LUT`] (the tests check all
/// 256 codes). The product with the block scale is the scalar code's one rounding.
#[inline(always)]
pub(super) fn fp8_block_row<S: Simd>(
    s: S,
    codes: &[u8],
    scales: &[f32],
    block_cols: usize,
    out: &mut [f32],
) {
    float::check_fp8_block_row(codes, scales, block_cols, out);
    let l = S::LANES;
    let rebias = s.splat_i(120 << 23);
    let p2_m9 = s.splat(f32::from_bits((127 - 9) << 23));
    let (m7f, m78, m80) = (s.splat_i(0x7f), s.splat_i(0x78), s.splat_i(0x80));
    let zero = s.splat_i(0);
    let nan = s.splat(f32::NAN);
    for ((oc, cc), &sc) in out
        .chunks_mut(block_cols)
        .zip(codes.chunks(block_cols))
        .zip(scales)
    {
        let sv = s.splat(sc);
        let n = oc.len();
        let mut i = 0;
        while i + l <= n {
            let c = s.load_u8(&cc[i..]);
            let mag = s.and_i(c, m7f);
            let normal = s.bitcast_f(s.add_i(s.shl_i::<20>(mag), rebias));
            let sub = s.mul(s.to_f(mag), p2_m9);
            let v = s.select(s.eq_i(s.and_i(mag, m78), zero), sub, normal);
            let v = s.bitcast_f(s.or_i(s.bits(v), s.shl_i::<24>(s.and_i(c, m80))));
            let r = s.select(s.eq_i(mag, m7f), nan, s.mul(v, sv));
            s.store(r, &mut oc[i..]);
            i += l;
        }
        for (o, q) in oc[i..].iter_mut().zip(&cc[i..]) {
            *o = float::fp8_scaled(*q, sc);
        }
    }
}

/// [`float::bf16_bytes_to_f32`], `LANES` values at a time.
#[inline(always)]
pub(super) fn bf16_to_f32<S: Simd>(s: S, data: &[u8], out: &mut [f32]) {
    assert_eq!(data.len(), 2 * out.len(), "bf16 input size");
    let l = S::LANES;
    let n = out.len();
    let mut i = 0;
    while i + l <= n {
        let v = s.load_u16(&data[2 * i..]);
        s.store(s.bitcast_f(s.shl_i::<16>(v)), &mut out[i..]);
        i += l;
    }
    float::bf16_bytes_to_f32_scalar(&data[2 * i..], &mut out[i..]);
}
