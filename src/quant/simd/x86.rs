//! x86-64 backends: AVX2 (+F16C, 8 lanes) and AVX-512F (16 lanes), and the
//! `#[target_feature]` entry points that instantiate the generic kernels for them.
//!
//! SAFETY (for every `unsafe` block in the trait implementations): the tokens [`Avx2`] and
//! [`Avx512`] are only constructed, through their `unsafe fn new`, inside functions compiled
//! with the corresponding target features, which [`super::Isa::is_supported`] has checked; the
//! intrinsics' only requirement is that feature. Memory accesses are preceded by length
//! assertions.

use super::{Simd, Wide, block32, kquant};
use crate::gguf::GgmlType;
use std::arch::x86_64::*;

/// AVX2 with F16C, 8 lanes.
#[derive(Clone, Copy)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// # Safety
    /// The CPU must support AVX2 and F16C.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Avx2(())
    }
}

/// AVX-512F (with AVX2 and F16C), 16 lanes.
#[derive(Clone, Copy)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// # Safety
    /// The CPU must support AVX-512F, AVX2 and F16C.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Avx512(())
    }
}

#[inline(always)]
pub(super) fn f16_bits_f16c(v: f32) -> u16 {
    // the same instruction and rounding mode as the `half` crate's F16C path
    unsafe {
        let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(v));
        _mm_extract_epi16::<0>(h) as u16
    }
}

/// 8×8 transpose: lane `k` of `out[i]` is lane `i` of `r[k]`.
#[inline(always)]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    unsafe {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        // u[c] / u[4 + c]: column 4j + c of rows 0-3 / 4-7 in 128-bit half j
        let u = [
            _mm256_shuffle_ps::<0x44>(t0, t2),
            _mm256_shuffle_ps::<0xEE>(t0, t2),
            _mm256_shuffle_ps::<0x44>(t1, t3),
            _mm256_shuffle_ps::<0xEE>(t1, t3),
            _mm256_shuffle_ps::<0x44>(t4, t6),
            _mm256_shuffle_ps::<0xEE>(t4, t6),
            _mm256_shuffle_ps::<0x44>(t5, t7),
            _mm256_shuffle_ps::<0xEE>(t5, t7),
        ];
        let mut out = r;
        for c in 0..4 {
            out[c] = _mm256_permute2f128_ps::<0x20>(u[c], u[4 + c]);
            out[4 + c] = _mm256_permute2f128_ps::<0x31>(u[c], u[4 + c]);
        }
        out
    }
}

/// 16×16 transpose: lane `k` of `out[i]` is lane `i` of `r[k]`.
#[inline(always)]
fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    unsafe {
        let mut t = r;
        for p in 0..8 {
            t[2 * p] = _mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]);
            t[2 * p + 1] = _mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]);
        }
        // u[4g + c]: column 4j + c of rows 4g..4g+4 in 128-bit lane j
        let mut u = r;
        for g in 0..4 {
            let (a0, a1, b0, b1) = (
                _mm512_castps_pd(t[4 * g]),
                _mm512_castps_pd(t[4 * g + 1]),
                _mm512_castps_pd(t[4 * g + 2]),
                _mm512_castps_pd(t[4 * g + 3]),
            );
            u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, b0));
            u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, b0));
            u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, b1));
            u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, b1));
        }
        // 4×4 transposes of 128-bit lanes
        let mut out = r;
        for c in 0..4 {
            let (a, b, cc, d) = (u[c], u[4 + c], u[8 + c], u[12 + c]);
            let v0 = _mm512_shuffle_f32x4::<0x44>(a, b);
            let v1 = _mm512_shuffle_f32x4::<0xEE>(a, b);
            let v2 = _mm512_shuffle_f32x4::<0x44>(cc, d);
            let v3 = _mm512_shuffle_f32x4::<0xEE>(cc, d);
            out[c] = _mm512_shuffle_f32x4::<0x88>(v0, v2);
            out[4 + c] = _mm512_shuffle_f32x4::<0xDD>(v0, v2);
            out[8 + c] = _mm512_shuffle_f32x4::<0x88>(v1, v3);
            out[12 + c] = _mm512_shuffle_f32x4::<0xDD>(v1, v3);
        }
        out
    }
}

impl Simd for Avx2 {
    const LANES: usize = 8;
    type F = __m256;
    type I = __m256i;
    type M = __m256;

    #[inline(always)]
    fn splat(self, v: f32) -> __m256 {
        unsafe { _mm256_set1_ps(v) }
    }
    #[inline(always)]
    fn splat_i(self, v: i32) -> __m256i {
        unsafe { _mm256_set1_epi32(v) }
    }
    #[inline(always)]
    fn load(self, p: &[f32]) -> __m256 {
        assert!(p.len() >= 8);
        unsafe { _mm256_loadu_ps(p.as_ptr()) }
    }
    #[inline(always)]
    fn load_strided(self, p: &[f32], stride: usize) -> __m256 {
        assert!(p.len() > 7 * stride && stride <= i32::MAX as usize / 8);
        let s = stride as i32;
        unsafe {
            let idx = _mm256_mullo_epi32(
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                _mm256_set1_epi32(s),
            );
            _mm256_i32gather_ps::<4>(p.as_ptr(), idx)
        }
    }
    #[inline(always)]
    fn load_groups<const N: usize>(self, x: &[f32]) -> [__m256; N] {
        assert!(N.is_multiple_of(8) && x.len() >= 8 * N);
        let mut out = [self.splat(0.0); N];
        for b in 0..N / 8 {
            let mut r = [self.splat(0.0); 8];
            for (k, v) in r.iter_mut().enumerate() {
                *v = self.load(&x[k * N + 8 * b..]);
            }
            let c = transpose8(r);
            out[8 * b..8 * b + 8].copy_from_slice(&c);
        }
        out
    }
    #[inline(always)]
    fn store(self, v: __m256, p: &mut [f32]) {
        assert!(p.len() >= 8);
        unsafe { _mm256_storeu_ps(p.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn store_i(self, v: __m256i, p: &mut [i32]) {
        assert!(p.len() >= 8);
        unsafe { _mm256_storeu_si256(p.as_mut_ptr().cast(), v) }
    }
    #[inline(always)]
    fn store_i8(self, v: __m256i, p: &mut [u8]) {
        assert!(p.len() >= 8);
        unsafe {
            // low byte of each i32, per 128-bit half, then the two halves' first 4 bytes
            let m = _mm256_setr_epi8(
                0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1,
                -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
            );
            let b = _mm256_shuffle_epi8(v, m);
            let lo = _mm256_cvtsi256_si32(b) as u32;
            let hi = _mm256_extract_epi32::<4>(b) as u32;
            let w = (lo as u64) | ((hi as u64) << 32);
            p[..8].copy_from_slice(&w.to_le_bytes());
        }
    }
    #[inline(always)]
    fn load_u8(self, p: &[u8]) -> __m256i {
        assert!(p.len() >= 8);
        unsafe { _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.as_ptr().cast())) }
    }
    #[inline(always)]
    fn load_u16(self, p: &[u8]) -> __m256i {
        assert!(p.len() >= 16);
        unsafe { _mm256_cvtepu16_epi32(_mm_loadu_si128(p.as_ptr().cast())) }
    }
    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    fn sqrt(self, a: __m256) -> __m256 {
        unsafe { _mm256_sqrt_ps(a) }
    }
    #[inline(always)]
    fn abs(self, a: __m256) -> __m256 {
        unsafe { _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff))) }
    }
    #[inline(always)]
    fn neg(self, a: __m256) -> __m256 {
        unsafe { _mm256_xor_ps(a, _mm256_set1_ps(-0.0)) }
    }
    #[inline(always)]
    fn min(self, a: __m256, b: __m256) -> __m256 {
        // vminps returns the first operand when it is smaller, else the second
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    fn max(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    fn lt(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn gt(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_GT_OQ>(a, b) }
    }
    #[inline(always)]
    fn le(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_LE_OQ>(a, b) }
    }
    #[inline(always)]
    fn ge(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_GE_OQ>(a, b) }
    }
    #[inline(always)]
    fn eq(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_EQ_OQ>(a, b) }
    }
    #[inline(always)]
    fn ne(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_NEQ_UQ>(a, b) }
    }
    #[inline(always)]
    fn select(self, m: __m256, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_blendv_ps(b, a, m) }
    }
    #[inline(always)]
    fn and(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_and_ps(a, b) }
    }
    #[inline(always)]
    fn or(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_or_ps(a, b) }
    }
    #[inline(always)]
    fn andnot(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_andnot_ps(b, a) }
    }
    #[inline(always)]
    fn any(self, m: __m256) -> bool {
        unsafe { _mm256_movemask_ps(m) != 0 }
    }
    #[inline(always)]
    fn all(self, m: __m256) -> bool {
        unsafe { _mm256_movemask_ps(m) == 0xff }
    }
    #[inline(always)]
    fn nearest_int(self, v: __m256) -> __m256i {
        unsafe {
            let t = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12_582_912.0)));
            _mm256_sub_epi32(
                _mm256_and_si256(t, _mm256_set1_epi32(0x007f_ffff)),
                _mm256_set1_epi32(0x0040_0000),
            )
        }
    }
    #[inline(always)]
    fn clamp_i(self, v: __m256i, lo: i32, hi: i32) -> __m256i {
        unsafe {
            _mm256_min_epi32(
                _mm256_max_epi32(v, _mm256_set1_epi32(lo)),
                _mm256_set1_epi32(hi),
            )
        }
    }
    #[inline(always)]
    fn to_f(self, v: __m256i) -> __m256 {
        unsafe { _mm256_cvtepi32_ps(v) }
    }
    #[inline(always)]
    fn trunc_i(self, v: __m256) -> __m256i {
        unsafe { _mm256_cvttps_epi32(v) }
    }
    #[inline(always)]
    fn add_i(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_add_epi32(a, b) }
    }
    #[inline(always)]
    fn sub_i(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn and_i(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_and_si256(a, b) }
    }
    #[inline(always)]
    fn or_i(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_or_si256(a, b) }
    }
    #[inline(always)]
    fn shl_i<const N: i32>(self, a: __m256i) -> __m256i {
        unsafe { _mm256_slli_epi32::<N>(a) }
    }
    #[inline(always)]
    fn max_i(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_max_epi32(a, b) }
    }
    #[inline(always)]
    fn eq_i(self, a: __m256i, b: __m256i) -> __m256 {
        unsafe { _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b)) }
    }
    #[inline(always)]
    fn select_i(self, m: __m256, a: __m256i, b: __m256i) -> __m256i {
        unsafe {
            _mm256_castps_si256(_mm256_blendv_ps(
                _mm256_castsi256_ps(b),
                _mm256_castsi256_ps(a),
                m,
            ))
        }
    }
    #[inline(always)]
    fn hmax_i(self, v: __m256i) -> i32 {
        unsafe {
            let m = _mm_max_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
            let m = _mm_max_epi32(m, _mm_shuffle_epi32::<0b01_00_11_10>(m));
            let m = _mm_max_epi32(m, _mm_shuffle_epi32::<0b10_11_00_01>(m));
            _mm_cvtsi128_si32(m)
        }
    }
    #[inline(always)]
    fn bits(self, v: __m256) -> __m256i {
        unsafe { _mm256_castps_si256(v) }
    }
    #[inline(always)]
    fn bitcast_f(self, v: __m256i) -> __m256 {
        unsafe { _mm256_castsi256_ps(v) }
    }
    #[inline(always)]
    fn f16_bits(self, v: f32) -> u16 {
        f16_bits_f16c(v)
    }
}

impl Simd for Avx512 {
    const LANES: usize = 16;
    type F = __m512;
    type I = __m512i;
    type M = __mmask16;

    #[inline(always)]
    fn splat(self, v: f32) -> __m512 {
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    fn splat_i(self, v: i32) -> __m512i {
        unsafe { _mm512_set1_epi32(v) }
    }
    #[inline(always)]
    fn load(self, p: &[f32]) -> __m512 {
        assert!(p.len() >= 16);
        unsafe { _mm512_loadu_ps(p.as_ptr()) }
    }
    #[inline(always)]
    fn load_strided(self, p: &[f32], stride: usize) -> __m512 {
        assert!(p.len() > 15 * stride && stride <= i32::MAX as usize / 16);
        let s = stride as i32;
        unsafe {
            let idx = _mm512_mullo_epi32(
                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                _mm512_set1_epi32(s),
            );
            _mm512_i32gather_ps::<4>(idx, p.as_ptr())
        }
    }
    #[inline(always)]
    fn load_groups<const N: usize>(self, x: &[f32]) -> [__m512; N] {
        assert!(N.is_multiple_of(16) && x.len() >= 16 * N);
        let mut out = [self.splat(0.0); N];
        for b in 0..N / 16 {
            let mut r = [self.splat(0.0); 16];
            for (k, v) in r.iter_mut().enumerate() {
                *v = self.load(&x[k * N + 16 * b..]);
            }
            let c = transpose16(r);
            out[16 * b..16 * b + 16].copy_from_slice(&c);
        }
        out
    }
    #[inline(always)]
    fn store(self, v: __m512, p: &mut [f32]) {
        assert!(p.len() >= 16);
        unsafe { _mm512_storeu_ps(p.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn store_i(self, v: __m512i, p: &mut [i32]) {
        assert!(p.len() >= 16);
        unsafe { _mm512_storeu_si512(p.as_mut_ptr().cast(), v) }
    }
    #[inline(always)]
    fn store_i8(self, v: __m512i, p: &mut [u8]) {
        assert!(p.len() >= 16);
        unsafe { _mm_storeu_si128(p.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(v)) }
    }
    #[inline(always)]
    fn load_u8(self, p: &[u8]) -> __m512i {
        assert!(p.len() >= 16);
        unsafe { _mm512_cvtepu8_epi32(_mm_loadu_si128(p.as_ptr().cast())) }
    }
    #[inline(always)]
    fn load_u16(self, p: &[u8]) -> __m512i {
        assert!(p.len() >= 32);
        unsafe { _mm512_cvtepu16_epi32(_mm256_loadu_si256(p.as_ptr().cast())) }
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    fn sqrt(self, a: __m512) -> __m512 {
        unsafe { _mm512_sqrt_ps(a) }
    }
    #[inline(always)]
    fn abs(self, a: __m512) -> __m512 {
        unsafe {
            _mm512_castsi512_ps(_mm512_and_si512(
                _mm512_castps_si512(a),
                _mm512_set1_epi32(0x7fff_ffff),
            ))
        }
    }
    #[inline(always)]
    fn neg(self, a: __m512) -> __m512 {
        unsafe {
            _mm512_castsi512_ps(_mm512_xor_si512(
                _mm512_castps_si512(a),
                _mm512_set1_epi32(i32::MIN),
            ))
        }
    }
    #[inline(always)]
    fn min(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    fn max(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    fn lt(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn gt(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b) }
    }
    #[inline(always)]
    fn le(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_LE_OQ>(a, b) }
    }
    #[inline(always)]
    fn ge(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_GE_OQ>(a, b) }
    }
    #[inline(always)]
    fn eq(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, b) }
    }
    #[inline(always)]
    fn ne(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(a, b) }
    }
    #[inline(always)]
    fn select(self, m: __mmask16, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_mask_blend_ps(m, b, a) }
    }
    #[inline(always)]
    fn and(self, a: __mmask16, b: __mmask16) -> __mmask16 {
        a & b
    }
    #[inline(always)]
    fn or(self, a: __mmask16, b: __mmask16) -> __mmask16 {
        a | b
    }
    #[inline(always)]
    fn andnot(self, a: __mmask16, b: __mmask16) -> __mmask16 {
        a & !b
    }
    #[inline(always)]
    fn any(self, m: __mmask16) -> bool {
        m != 0
    }
    #[inline(always)]
    fn all(self, m: __mmask16) -> bool {
        m == 0xffff
    }
    #[inline(always)]
    fn nearest_int(self, v: __m512) -> __m512i {
        unsafe {
            let t = _mm512_castps_si512(_mm512_add_ps(v, _mm512_set1_ps(12_582_912.0)));
            _mm512_sub_epi32(
                _mm512_and_si512(t, _mm512_set1_epi32(0x007f_ffff)),
                _mm512_set1_epi32(0x0040_0000),
            )
        }
    }
    #[inline(always)]
    fn clamp_i(self, v: __m512i, lo: i32, hi: i32) -> __m512i {
        unsafe {
            _mm512_min_epi32(
                _mm512_max_epi32(v, _mm512_set1_epi32(lo)),
                _mm512_set1_epi32(hi),
            )
        }
    }
    #[inline(always)]
    fn to_f(self, v: __m512i) -> __m512 {
        unsafe { _mm512_cvtepi32_ps(v) }
    }
    #[inline(always)]
    fn trunc_i(self, v: __m512) -> __m512i {
        unsafe { _mm512_cvttps_epi32(v) }
    }
    #[inline(always)]
    fn add_i(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_add_epi32(a, b) }
    }
    #[inline(always)]
    fn sub_i(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn and_i(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_and_si512(a, b) }
    }
    #[inline(always)]
    fn or_i(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_or_si512(a, b) }
    }
    #[inline(always)]
    fn shl_i<const N: i32>(self, a: __m512i) -> __m512i {
        unsafe { _mm512_sll_epi32(a, _mm_cvtsi32_si128(N)) }
    }
    #[inline(always)]
    fn max_i(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_max_epi32(a, b) }
    }
    #[inline(always)]
    fn eq_i(self, a: __m512i, b: __m512i) -> __mmask16 {
        unsafe { _mm512_cmpeq_epi32_mask(a, b) }
    }
    #[inline(always)]
    fn select_i(self, m: __mmask16, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_mask_blend_epi32(m, b, a) }
    }
    #[inline(always)]
    fn hmax_i(self, v: __m512i) -> i32 {
        unsafe { _mm512_reduce_max_epi32(v) }
    }
    #[inline(always)]
    fn bits(self, v: __m512) -> __m512i {
        unsafe { _mm512_castps_si512(v) }
    }
    #[inline(always)]
    fn bitcast_f(self, v: __m512i) -> __m512 {
        unsafe { _mm512_castsi512_ps(v) }
    }
    #[inline(always)]
    fn f16_bits(self, v: f32) -> u16 {
        f16_bits_f16c(v)
    }
}

/// The vectorised quantizers, AVX2 build.
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn quantize_row_avx2(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    // SAFETY: this function's features are the token's requirement.
    let s = unsafe { Avx2::new() };
    // two registers per fitted vector (more independent work to hide the serial sums); the
    // best width on the machines measured (BENCHMARKS.md)
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

/// The vectorised quantizers, AVX-512 build.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and F16C.
#[target_feature(enable = "avx512f,avx2,f16c")]
pub(super) unsafe fn quantize_row_avx512(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    // SAFETY: this function's features are the token's requirement.
    let s = unsafe { Avx512::new() };
    // two registers per fitted vector (more independent work to hide the serial sums); the
    // best width on the machines measured (BENCHMARKS.md)
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

/// FP8 e4m3fn × block scale decoding, AVX2 build.
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn fp8_block_row_avx2(
    codes: &[u8],
    scales: &[f32],
    block_cols: usize,
    out: &mut [f32],
) {
    // SAFETY: this function's features are the token's requirement.
    let s = unsafe { Avx2::new() };
    block32::fp8_block_row(s, codes, scales, block_cols, out)
}

/// FP8 e4m3fn × block scale decoding, AVX-512 build.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and F16C.
#[target_feature(enable = "avx512f,avx2,f16c")]
pub(super) unsafe fn fp8_block_row_avx512(
    codes: &[u8],
    scales: &[f32],
    block_cols: usize,
    out: &mut [f32],
) {
    // SAFETY: this function's features are the token's requirement.
    let s = unsafe { Avx512::new() };
    block32::fp8_block_row(s, codes, scales, block_cols, out)
}

/// bf16 → f32 decoding, AVX2 build.
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn bf16_to_f32_avx2(data: &[u8], out: &mut [f32]) {
    // SAFETY: this function's features are the token's requirement.
    let s = unsafe { Avx2::new() };
    block32::bf16_to_f32(s, data, out)
}

/// bf16 → f32 decoding, AVX-512 build.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and F16C.
#[target_feature(enable = "avx512f,avx2,f16c")]
pub(super) unsafe fn bf16_to_f32_avx512(data: &[u8], out: &mut [f32]) {
    // SAFETY: this function's features are the token's requirement.
    let s = unsafe { Avx512::new() };
    block32::bf16_to_f32(s, data, out)
}
