//! AArch64 backend: Advanced SIMD (NEON), 4 lanes, and the `#[target_feature]` entry points
//! that instantiate the generic kernels for it.
//!
//! AArch64 vector arithmetic is IEEE-754 with subnormals (FPCR.FZ is clear on Linux), like the
//! scalar code. Minimum and maximum are built from compares and selects (`FMIN`/`FMAX` treat
//! NaNs differently from the scalar code's `if a < b { a } else { b }`).
//!
//! SAFETY (for every `unsafe` block in the trait implementation): the token [`Neon`] is only
//! constructed, through its `unsafe fn new`, inside functions compiled with the `neon` target
//! feature, which [`super::Isa::is_supported`] has checked; memory accesses are preceded by
//! length assertions.

use super::{Simd, Wide, block32, kquant};
use crate::gguf::GgmlType;
use std::arch::aarch64::*;

/// Advanced SIMD, 4 lanes.
#[derive(Clone, Copy)]
pub(crate) struct Neon(());

impl Neon {
    /// # Safety
    /// The CPU must support NEON.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Neon(())
    }
}

/// 4×4 transpose: lane `k` of `out[i]` is lane `i` of `r[k]`.
#[inline(always)]
fn transpose4(r: [float32x4_t; 4]) -> [float32x4_t; 4] {
    unsafe {
        let t0 = vreinterpretq_f64_f32(vtrn1q_f32(r[0], r[1]));
        let t1 = vreinterpretq_f64_f32(vtrn2q_f32(r[0], r[1]));
        let t2 = vreinterpretq_f64_f32(vtrn1q_f32(r[2], r[3]));
        let t3 = vreinterpretq_f64_f32(vtrn2q_f32(r[2], r[3]));
        [
            vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)),
            vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)),
            vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)),
            vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)),
        ]
    }
}

impl Simd for Neon {
    const LANES: usize = 4;
    type F = float32x4_t;
    type I = int32x4_t;
    type M = uint32x4_t;

    #[inline(always)]
    fn splat(self, v: f32) -> float32x4_t {
        unsafe { vdupq_n_f32(v) }
    }
    #[inline(always)]
    fn splat_i(self, v: i32) -> int32x4_t {
        unsafe { vdupq_n_s32(v) }
    }
    #[inline(always)]
    fn load(self, p: &[f32]) -> float32x4_t {
        assert!(p.len() >= 4);
        unsafe { vld1q_f32(p.as_ptr()) }
    }
    #[inline(always)]
    fn load_strided(self, p: &[f32], stride: usize) -> float32x4_t {
        let v = [p[0], p[stride], p[2 * stride], p[3 * stride]];
        unsafe { vld1q_f32(v.as_ptr()) }
    }
    #[inline(always)]
    fn load_groups<const N: usize>(self, x: &[f32]) -> [float32x4_t; N] {
        assert!(N.is_multiple_of(4) && x.len() >= 4 * N);
        let mut out = [self.splat(0.0); N];
        for b in 0..N / 4 {
            let mut r = [self.splat(0.0); 4];
            for (k, v) in r.iter_mut().enumerate() {
                *v = self.load(&x[k * N + 4 * b..]);
            }
            let c = transpose4(r);
            out[4 * b..4 * b + 4].copy_from_slice(&c);
        }
        out
    }
    #[inline(always)]
    fn store(self, v: float32x4_t, p: &mut [f32]) {
        assert!(p.len() >= 4);
        unsafe { vst1q_f32(p.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn store_i(self, v: int32x4_t, p: &mut [i32]) {
        assert!(p.len() >= 4);
        unsafe { vst1q_s32(p.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn store_i8(self, v: int32x4_t, p: &mut [u8]) {
        assert!(p.len() >= 4);
        unsafe {
            let h = vmovn_s32(v);
            let b = vmovn_s16(vcombine_s16(h, h));
            let w = vget_lane_u32::<0>(vreinterpret_u32_s8(b));
            p[..4].copy_from_slice(&w.to_le_bytes());
        }
    }
    #[inline(always)]
    fn load_u8(self, p: &[u8]) -> int32x4_t {
        assert!(p.len() >= 4);
        let w = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
        unsafe {
            let b = vreinterpret_u8_u32(vdup_n_u32(w));
            vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(b))))
        }
    }
    #[inline(always)]
    fn load_u16(self, p: &[u8]) -> int32x4_t {
        assert!(p.len() >= 8);
        let w = u64::from_le_bytes(p[..8].try_into().unwrap());
        unsafe { vreinterpretq_s32_u32(vmovl_u16(vreinterpret_u16_u64(vdup_n_u64(w)))) }
    }
    #[inline(always)]
    fn add(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vsubq_f32(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    fn div(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vdivq_f32(a, b) }
    }
    #[inline(always)]
    fn sqrt(self, a: float32x4_t) -> float32x4_t {
        unsafe { vsqrtq_f32(a) }
    }
    #[inline(always)]
    fn abs(self, a: float32x4_t) -> float32x4_t {
        unsafe { vabsq_f32(a) }
    }
    #[inline(always)]
    fn neg(self, a: float32x4_t) -> float32x4_t {
        unsafe { vnegq_f32(a) }
    }
    #[inline(always)]
    fn min(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vbslq_f32(vcltq_f32(a, b), a, b) }
    }
    #[inline(always)]
    fn max(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vbslq_f32(vcgtq_f32(a, b), a, b) }
    }
    #[inline(always)]
    fn lt(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
        unsafe { vcltq_f32(a, b) }
    }
    #[inline(always)]
    fn gt(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
        unsafe { vcgtq_f32(a, b) }
    }
    #[inline(always)]
    fn le(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
        unsafe { vcleq_f32(a, b) }
    }
    #[inline(always)]
    fn ge(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
        unsafe { vcgeq_f32(a, b) }
    }
    #[inline(always)]
    fn eq(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
        unsafe { vceqq_f32(a, b) }
    }
    #[inline(always)]
    fn ne(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
        unsafe { vmvnq_u32(vceqq_f32(a, b)) }
    }
    #[inline(always)]
    fn select(self, m: uint32x4_t, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vbslq_f32(m, a, b) }
    }
    #[inline(always)]
    fn and(self, a: uint32x4_t, b: uint32x4_t) -> uint32x4_t {
        unsafe { vandq_u32(a, b) }
    }
    #[inline(always)]
    fn or(self, a: uint32x4_t, b: uint32x4_t) -> uint32x4_t {
        unsafe { vorrq_u32(a, b) }
    }
    #[inline(always)]
    fn andnot(self, a: uint32x4_t, b: uint32x4_t) -> uint32x4_t {
        unsafe { vbicq_u32(a, b) }
    }
    #[inline(always)]
    fn any(self, m: uint32x4_t) -> bool {
        unsafe { vmaxvq_u32(m) != 0 }
    }
    #[inline(always)]
    fn all(self, m: uint32x4_t) -> bool {
        unsafe { vminvq_u32(m) != 0 }
    }
    #[inline(always)]
    fn nearest_int(self, v: float32x4_t) -> int32x4_t {
        unsafe {
            let t = vreinterpretq_s32_f32(vaddq_f32(v, vdupq_n_f32(12_582_912.0)));
            vsubq_s32(
                vandq_s32(t, vdupq_n_s32(0x007f_ffff)),
                vdupq_n_s32(0x0040_0000),
            )
        }
    }
    #[inline(always)]
    fn clamp_i(self, v: int32x4_t, lo: i32, hi: i32) -> int32x4_t {
        unsafe { vminq_s32(vmaxq_s32(v, vdupq_n_s32(lo)), vdupq_n_s32(hi)) }
    }
    #[inline(always)]
    fn to_f(self, v: int32x4_t) -> float32x4_t {
        unsafe { vcvtq_f32_s32(v) }
    }
    #[inline(always)]
    fn trunc_i(self, v: float32x4_t) -> int32x4_t {
        unsafe { vcvtq_s32_f32(v) }
    }
    #[inline(always)]
    fn add_i(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vaddq_s32(a, b) }
    }
    #[inline(always)]
    fn sub_i(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vsubq_s32(a, b) }
    }
    #[inline(always)]
    fn and_i(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vandq_s32(a, b) }
    }
    #[inline(always)]
    fn or_i(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vorrq_s32(a, b) }
    }
    #[inline(always)]
    fn shl_i<const N: i32>(self, a: int32x4_t) -> int32x4_t {
        unsafe { vshlq_n_s32::<N>(a) }
    }
    #[inline(always)]
    fn max_i(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vmaxq_s32(a, b) }
    }
    #[inline(always)]
    fn eq_i(self, a: int32x4_t, b: int32x4_t) -> uint32x4_t {
        unsafe { vceqq_s32(a, b) }
    }
    #[inline(always)]
    fn select_i(self, m: uint32x4_t, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vbslq_s32(m, a, b) }
    }
    #[inline(always)]
    fn hmax_i(self, v: int32x4_t) -> i32 {
        unsafe { vmaxvq_s32(v) }
    }
    #[inline(always)]
    fn bits(self, v: float32x4_t) -> int32x4_t {
        unsafe { vreinterpretq_s32_f32(v) }
    }
    #[inline(always)]
    fn bitcast_f(self, v: int32x4_t) -> float32x4_t {
        unsafe { vreinterpretq_f32_s32(v) }
    }
}

/// The vectorised quantizers, NEON build.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn quantize_row_neon(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    // SAFETY: this function's feature is the token's requirement.
    let s = unsafe { Neon::new() };
    let w = Wide::<_, 2>(s);
    match ty {
        GgmlType::Q8_0 => block32::quantize_q8_0(s, x, out),
        GgmlType::Q2_K => kquant::quantize_q2_k(s, w, x, out),
        GgmlType::Q3_K => kquant::quantize_q3_k(s, w, x, out),
        GgmlType::Q4_K => kquant::quantize_q4_k(s, w, x, out),
        GgmlType::Q5_K => kquant::quantize_q5_k(s, w, x, out),
        GgmlType::Q6_K => kquant::quantize_q6_k(s, w, x, out),
        _ => unreachable!("no vectorised quantizer for {ty}"),
    }
}

/// FP8 e4m3fn × block scale decoding, NEON build.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn fp8_block_row_neon(
    codes: &[u8],
    scales: &[f32],
    block_cols: usize,
    out: &mut [f32],
) {
    // SAFETY: this function's feature is the token's requirement.
    let s = unsafe { Neon::new() };
    block32::fp8_block_row(s, codes, scales, block_cols, out)
}

/// bf16 → f32 decoding, NEON build.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn bf16_to_f32_neon(data: &[u8], out: &mut [f32]) {
    // SAFETY: this function's feature is the token's requirement.
    let s = unsafe { Neon::new() };
    block32::bf16_to_f32(s, data, out)
}
