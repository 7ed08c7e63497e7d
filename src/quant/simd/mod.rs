//! Vectorised copies of the hot kernels (Q8_0, the K-quants, FP8 and bf16 decoding), chosen
//! at run time by CPU feature.
//!
//! Every kernel here computes exactly what the portable scalar code computes, bit for bit.
//! The speed comes from running several *independent* groups side by side: each SIMD lane
//! performs the scalar reference's sequence of operations for its own group (same operation
//! order, same accumulation order, branches turned into per-lane selects), so nothing is
//! reassociated and no multiply is fused with an add. The portable code in `legacy.rs` and
//! `kquants/` stays the fallback and the test oracle (see `tests.rs`, which compares every
//! instruction set the running CPU supports against it).
//!
//! The kernels are written once, generic over the [`Simd`] trait, and instantiated per
//! instruction set in `#[target_feature]` functions (`x86.rs`, `neon.rs`).

mod block32;
mod kfit;
mod kquant;
#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86;

use crate::gguf::GgmlType;
use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction set the kernels can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// The portable code (no vector intrinsics; the test oracle).
    Scalar,
    /// x86-64 AVX2 with F16C (8 lanes).
    Avx2,
    /// x86-64 AVX-512F (16 lanes).
    Avx512,
    /// AArch64 Advanced SIMD (4 lanes).
    Neon,
}

impl Isa {
    /// Every instruction set, in increasing order of preference.
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512];

    /// Lower-case name, as accepted by [`Isa::from_name`] and the `DS2GGUF_ISA` variable.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Parses a name given by [`Isa::name`].
    pub fn from_name(s: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == s)
    }

    /// True when the running CPU can execute this instruction set's kernels.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The instruction sets the running CPU supports, scalar first.
    pub fn supported() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_supported()).collect()
    }

    /// The instruction set [`quantize_row`](super::quantize_row) uses: the best one the CPU
    /// supports, or the one named by the environment variable `DS2GGUF_ISA` (`scalar`,
    /// `avx2`, `avx512`, `neon`) when the CPU supports it. Decided once per process.
    pub fn active() -> Isa {
        static ACTIVE: AtomicU8 = AtomicU8::new(u8::MAX);
        let v = ACTIVE.load(Ordering::Relaxed);
        if let Some(isa) = Isa::ALL.get(v as usize) {
            return *isa;
        }
        let best = *Isa::supported().last().unwrap_or(&Isa::Scalar);
        let isa = std::env::var("DS2GGUF_ISA")
            .ok()
            .and_then(|s| Isa::from_name(s.trim()))
            .filter(|i| i.is_supported())
            .unwrap_or(best);
        let idx = Isa::ALL.iter().position(|i| *i == isa).unwrap_or(0);
        ACTIVE.store(idx as u8, Ordering::Relaxed);
        isa
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// True for the types that have a vectorised quantizer.
pub fn is_vectorised(ty: GgmlType) -> bool {
    matches!(
        ty,
        GgmlType::Q8_0
            | GgmlType::Q2_K
            | GgmlType::Q3_K
            | GgmlType::Q4_K
            | GgmlType::Q5_K
            | GgmlType::Q6_K
    )
}

/// Runs the vectorised quantizer of `ty` for `isa`; false (and `out` untouched) when there is
/// none, or when `isa` is [`Isa::Scalar`].
///
/// # Panics
/// When `isa` is not supported by the running CPU.
pub(crate) fn quantize_row(isa: Isa, ty: GgmlType, x: &[f32], out: &mut [u8]) -> bool {
    if isa == Isa::Scalar || !is_vectorised(ty) {
        return false;
    }
    assert!(isa.is_supported(), "{isa} is not supported by this CPU");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the instruction set, checked above.
        Isa::Avx2 => unsafe { x86::quantize_row_avx2(ty, x, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx512 => unsafe { x86::quantize_row_avx512(ty, x, out) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        Isa::Neon => unsafe { neon::quantize_row_neon(ty, x, out) },
        _ => return false,
    }
    true
}

/// Vectorised FP8 e4m3fn × block-scale decoding for `isa`; false when there is none.
pub(crate) fn fp8_block_row(
    isa: Isa,
    codes: &[u8],
    scales: &[f32],
    block_cols: usize,
    out: &mut [f32],
) -> bool {
    if isa == Isa::Scalar {
        return false;
    }
    assert!(isa.is_supported(), "{isa} is not supported by this CPU");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the instruction set, checked above.
        Isa::Avx2 => unsafe { x86::fp8_block_row_avx2(codes, scales, block_cols, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx512 => unsafe { x86::fp8_block_row_avx512(codes, scales, block_cols, out) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        Isa::Neon => unsafe { neon::fp8_block_row_neon(codes, scales, block_cols, out) },
        _ => return false,
    }
    true
}

/// Vectorised little-endian bf16 → f32 decoding for `isa`; false when there is none.
pub(crate) fn bf16_bytes_to_f32(isa: Isa, data: &[u8], out: &mut [f32]) -> bool {
    if isa == Isa::Scalar {
        return false;
    }
    assert!(isa.is_supported(), "{isa} is not supported by this CPU");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the instruction set, checked above.
        Isa::Avx2 => unsafe { x86::bf16_to_f32_avx2(data, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx512 => unsafe { x86::bf16_to_f32_avx512(data, out) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        Isa::Neon => unsafe { neon::bf16_to_f32_neon(data, out) },
        _ => return false,
    }
    true
}

/// Lane-wise operations of one instruction set, as used by the generic kernels.
///
/// Implementations are zero-sized tokens that exist only once the CPU feature has been
/// detected, so the methods are safe to call. Every operation is the exact IEEE-754
/// single-precision operation of the scalar code (no fused multiply-add, no approximations);
/// comparisons are ordered (false with a NaN) except [`Simd::ne`], which, like Rust's `!=`,
/// is true with a NaN.
pub(crate) trait Simd: Copy {
    /// Number of f32 lanes.
    const LANES: usize;
    /// `LANES` f32 values.
    type F: Copy;
    /// `LANES` i32 values.
    type I: Copy;
    /// `LANES` booleans.
    type M: Copy;

    /// All lanes `v`.
    fn splat(self, v: f32) -> Self::F;
    /// All lanes `v`.
    fn splat_i(self, v: i32) -> Self::I;
    /// The first `LANES` values of `p`.
    fn load(self, p: &[f32]) -> Self::F;
    /// Lane `k` is `p[k * stride]`.
    fn load_strided(self, p: &[f32], stride: usize) -> Self::F;
    /// `LANES` consecutive groups of `N` values, transposed: lane `k` of `out[i]` is
    /// `x[N * k + i]`.
    #[inline(always)]
    fn load_groups<const N: usize>(self, x: &[f32]) -> [Self::F; N] {
        let mut t = [self.splat(0.0); N];
        for (i, v) in t.iter_mut().enumerate() {
            *v = self.load_strided(&x[i..], N);
        }
        t
    }
    /// Stores into the first `LANES` values of `p`.
    fn store(self, v: Self::F, p: &mut [f32]);
    /// Stores into the first `LANES` values of `p`.
    fn store_i(self, v: Self::I, p: &mut [i32]);
    /// Stores the lanes, which must lie in `-128..=127`, as bytes (two's complement).
    fn store_i8(self, v: Self::I, p: &mut [u8]);
    /// The first `LANES` bytes of `p`, zero-extended.
    fn load_u8(self, p: &[u8]) -> Self::I;
    /// The first `LANES` little-endian u16 of `p`, zero-extended.
    fn load_u16(self, p: &[u8]) -> Self::I;

    /// `a + b`.
    fn add(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a - b`.
    fn sub(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a * b`.
    fn mul(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a / b`.
    fn div(self, a: Self::F, b: Self::F) -> Self::F;
    /// Correctly rounded square root.
    fn sqrt(self, a: Self::F) -> Self::F;
    /// `|a|` (sign bit cleared).
    fn abs(self, a: Self::F) -> Self::F;
    /// `-a` (sign bit flipped).
    fn neg(self, a: Self::F) -> Self::F;
    /// `if a < b { a } else { b }`.
    fn min(self, a: Self::F, b: Self::F) -> Self::F;
    /// `if a > b { a } else { b }`.
    fn max(self, a: Self::F, b: Self::F) -> Self::F;

    /// `a < b`.
    fn lt(self, a: Self::F, b: Self::F) -> Self::M;
    /// `a > b`.
    fn gt(self, a: Self::F, b: Self::F) -> Self::M;
    /// `a <= b`.
    fn le(self, a: Self::F, b: Self::F) -> Self::M;
    /// `a >= b`.
    fn ge(self, a: Self::F, b: Self::F) -> Self::M;
    /// `a == b`.
    fn eq(self, a: Self::F, b: Self::F) -> Self::M;
    /// `a != b` (true when either is NaN).
    fn ne(self, a: Self::F, b: Self::F) -> Self::M;
    /// `m ? a : b` per lane.
    fn select(self, m: Self::M, a: Self::F, b: Self::F) -> Self::F;
    /// `a && b`.
    fn and(self, a: Self::M, b: Self::M) -> Self::M;
    /// `a || b`.
    fn or(self, a: Self::M, b: Self::M) -> Self::M;
    /// `a && !b`.
    fn andnot(self, a: Self::M, b: Self::M) -> Self::M;
    /// True when any lane is set.
    fn any(self, m: Self::M) -> bool;
    /// True when every lane is set.
    fn all(self, m: Self::M) -> bool;

    /// ggml's `nearest_int`: the low 23 bits of `v + 1.5 * 2^23`, minus 2^22.
    fn nearest_int(self, v: Self::F) -> Self::I;
    /// `v.max(lo).min(hi)`.
    fn clamp_i(self, v: Self::I, lo: i32, hi: i32) -> Self::I;
    /// Exact conversion of small integers to f32 (`v as f32`).
    fn to_f(self, v: Self::I) -> Self::F;
    /// Truncation toward zero (`v as i32`), for values inside the i32 range.
    fn trunc_i(self, v: Self::F) -> Self::I;
    /// `a + b`.
    fn add_i(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a - b`.
    fn sub_i(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a & b`.
    fn and_i(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a | b`.
    fn or_i(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a << N`.
    fn shl_i<const N: i32>(self, a: Self::I) -> Self::I;
    /// Signed `max(a, b)`.
    fn max_i(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a == b`.
    fn eq_i(self, a: Self::I, b: Self::I) -> Self::M;
    /// `m ? a : b` per lane.
    fn select_i(self, m: Self::M, a: Self::I, b: Self::I) -> Self::I;
    /// Signed maximum over the lanes.
    fn hmax_i(self, v: Self::I) -> i32;
    /// The bits of `v`.
    fn bits(self, v: Self::F) -> Self::I;
    /// The f32 values with bits `v`.
    fn bitcast_f(self, v: Self::I) -> Self::F;
    /// f32 → f16 bits, round to nearest even, exactly as [`super::float::f32_to_f16_bits`].
    #[inline(always)]
    fn f16_bits(self, v: f32) -> u16 {
        super::float::f32_to_f16_bits(v)
    }
}

/// `K` registers of `S` side by side, as one `K * S::LANES`-lane vector: more independent
/// work in flight per instruction sequence, which hides the latency of the serial sums.
#[derive(Clone, Copy)]
pub(crate) struct Wide<S, const K: usize>(pub S);

macro_rules! wide_map {
    ($self:ident, $f:ident, $($a:ident),+) => {{
        let mut r = [$self.0.$f($($a[0]),+); K];
        for j in 1..K {
            r[j] = $self.0.$f($($a[j]),+);
        }
        r
    }};
}

impl<S: Simd, const K: usize> Simd for Wide<S, K> {
    const LANES: usize = S::LANES * K;
    type F = [S::F; K];
    type I = [S::I; K];
    type M = [S::M; K];

    #[inline(always)]
    fn splat(self, v: f32) -> Self::F {
        [self.0.splat(v); K]
    }
    #[inline(always)]
    fn splat_i(self, v: i32) -> Self::I {
        [self.0.splat_i(v); K]
    }
    #[inline(always)]
    fn load(self, p: &[f32]) -> Self::F {
        let mut r = [self.0.load(p); K];
        for (j, v) in r.iter_mut().enumerate().skip(1) {
            *v = self.0.load(&p[j * S::LANES..]);
        }
        r
    }
    #[inline(always)]
    fn load_strided(self, p: &[f32], stride: usize) -> Self::F {
        let mut r = [self.0.load_strided(p, stride); K];
        for (j, v) in r.iter_mut().enumerate().skip(1) {
            *v = self.0.load_strided(&p[j * S::LANES * stride..], stride);
        }
        r
    }
    #[inline(always)]
    fn load_groups<const N: usize>(self, x: &[f32]) -> [Self::F; N] {
        let mut t = [[self.0.splat(0.0); K]; N];
        for j in 0..K {
            let part = self.0.load_groups::<N>(&x[j * S::LANES * N..]);
            for i in 0..N {
                t[i][j] = part[i];
            }
        }
        t
    }
    #[inline(always)]
    fn store(self, v: Self::F, p: &mut [f32]) {
        for (j, v) in v.into_iter().enumerate() {
            self.0.store(v, &mut p[j * S::LANES..]);
        }
    }
    #[inline(always)]
    fn store_i(self, v: Self::I, p: &mut [i32]) {
        for (j, v) in v.into_iter().enumerate() {
            self.0.store_i(v, &mut p[j * S::LANES..]);
        }
    }
    #[inline(always)]
    fn store_i8(self, v: Self::I, p: &mut [u8]) {
        for (j, v) in v.into_iter().enumerate() {
            self.0.store_i8(v, &mut p[j * S::LANES..]);
        }
    }
    #[inline(always)]
    fn load_u8(self, p: &[u8]) -> Self::I {
        let mut r = [self.0.load_u8(p); K];
        for (j, v) in r.iter_mut().enumerate().skip(1) {
            *v = self.0.load_u8(&p[j * S::LANES..]);
        }
        r
    }
    #[inline(always)]
    fn load_u16(self, p: &[u8]) -> Self::I {
        let mut r = [self.0.load_u16(p); K];
        for (j, v) in r.iter_mut().enumerate().skip(1) {
            *v = self.0.load_u16(&p[2 * j * S::LANES..]);
        }
        r
    }
    #[inline(always)]
    fn add(self, a: Self::F, b: Self::F) -> Self::F {
        wide_map!(self, add, a, b)
    }
    #[inline(always)]
    fn sub(self, a: Self::F, b: Self::F) -> Self::F {
        wide_map!(self, sub, a, b)
    }
    #[inline(always)]
    fn mul(self, a: Self::F, b: Self::F) -> Self::F {
        wide_map!(self, mul, a, b)
    }
    #[inline(always)]
    fn div(self, a: Self::F, b: Self::F) -> Self::F {
        wide_map!(self, div, a, b)
    }
    #[inline(always)]
    fn sqrt(self, a: Self::F) -> Self::F {
        wide_map!(self, sqrt, a)
    }
    #[inline(always)]
    fn abs(self, a: Self::F) -> Self::F {
        wide_map!(self, abs, a)
    }
    #[inline(always)]
    fn neg(self, a: Self::F) -> Self::F {
        wide_map!(self, neg, a)
    }
    #[inline(always)]
    fn min(self, a: Self::F, b: Self::F) -> Self::F {
        wide_map!(self, min, a, b)
    }
    #[inline(always)]
    fn max(self, a: Self::F, b: Self::F) -> Self::F {
        wide_map!(self, max, a, b)
    }
    #[inline(always)]
    fn lt(self, a: Self::F, b: Self::F) -> Self::M {
        wide_map!(self, lt, a, b)
    }
    #[inline(always)]
    fn gt(self, a: Self::F, b: Self::F) -> Self::M {
        wide_map!(self, gt, a, b)
    }
    #[inline(always)]
    fn le(self, a: Self::F, b: Self::F) -> Self::M {
        wide_map!(self, le, a, b)
    }
    #[inline(always)]
    fn ge(self, a: Self::F, b: Self::F) -> Self::M {
        wide_map!(self, ge, a, b)
    }
    #[inline(always)]
    fn eq(self, a: Self::F, b: Self::F) -> Self::M {
        wide_map!(self, eq, a, b)
    }
    #[inline(always)]
    fn ne(self, a: Self::F, b: Self::F) -> Self::M {
        wide_map!(self, ne, a, b)
    }
    #[inline(always)]
    fn select(self, m: Self::M, a: Self::F, b: Self::F) -> Self::F {
        wide_map!(self, select, m, a, b)
    }
    #[inline(always)]
    fn and(self, a: Self::M, b: Self::M) -> Self::M {
        wide_map!(self, and, a, b)
    }
    #[inline(always)]
    fn or(self, a: Self::M, b: Self::M) -> Self::M {
        wide_map!(self, or, a, b)
    }
    #[inline(always)]
    fn andnot(self, a: Self::M, b: Self::M) -> Self::M {
        wide_map!(self, andnot, a, b)
    }
    #[inline(always)]
    fn any(self, m: Self::M) -> bool {
        let mut acc = m[0];
        for v in &m[1..] {
            acc = self.0.or(acc, *v);
        }
        self.0.any(acc)
    }
    #[inline(always)]
    fn all(self, m: Self::M) -> bool {
        let mut acc = m[0];
        for v in &m[1..] {
            acc = self.0.and(acc, *v);
        }
        self.0.all(acc)
    }
    #[inline(always)]
    fn nearest_int(self, v: Self::F) -> Self::I {
        wide_map!(self, nearest_int, v)
    }
    #[inline(always)]
    fn clamp_i(self, v: Self::I, lo: i32, hi: i32) -> Self::I {
        let mut r = [self.0.clamp_i(v[0], lo, hi); K];
        for j in 1..K {
            r[j] = self.0.clamp_i(v[j], lo, hi);
        }
        r
    }
    #[inline(always)]
    fn to_f(self, v: Self::I) -> Self::F {
        wide_map!(self, to_f, v)
    }
    #[inline(always)]
    fn trunc_i(self, v: Self::F) -> Self::I {
        wide_map!(self, trunc_i, v)
    }
    #[inline(always)]
    fn add_i(self, a: Self::I, b: Self::I) -> Self::I {
        wide_map!(self, add_i, a, b)
    }
    #[inline(always)]
    fn sub_i(self, a: Self::I, b: Self::I) -> Self::I {
        wide_map!(self, sub_i, a, b)
    }
    #[inline(always)]
    fn and_i(self, a: Self::I, b: Self::I) -> Self::I {
        wide_map!(self, and_i, a, b)
    }
    #[inline(always)]
    fn or_i(self, a: Self::I, b: Self::I) -> Self::I {
        wide_map!(self, or_i, a, b)
    }
    #[inline(always)]
    fn shl_i<const N: i32>(self, a: Self::I) -> Self::I {
        let mut r = [self.0.shl_i::<N>(a[0]); K];
        for j in 1..K {
            r[j] = self.0.shl_i::<N>(a[j]);
        }
        r
    }
    #[inline(always)]
    fn max_i(self, a: Self::I, b: Self::I) -> Self::I {
        wide_map!(self, max_i, a, b)
    }
    #[inline(always)]
    fn eq_i(self, a: Self::I, b: Self::I) -> Self::M {
        wide_map!(self, eq_i, a, b)
    }
    #[inline(always)]
    fn select_i(self, m: Self::M, a: Self::I, b: Self::I) -> Self::I {
        wide_map!(self, select_i, m, a, b)
    }
    #[inline(always)]
    fn hmax_i(self, v: Self::I) -> i32 {
        let mut acc = v[0];
        for x in &v[1..] {
            acc = self.0.max_i(acc, *x);
        }
        self.0.hmax_i(acc)
    }
    #[inline(always)]
    fn bits(self, v: Self::F) -> Self::I {
        wide_map!(self, bits, v)
    }
    #[inline(always)]
    fn bitcast_f(self, v: Self::I) -> Self::F {
        wide_map!(self, bitcast_f, v)
    }
    #[inline(always)]
    fn f16_bits(self, v: f32) -> u16 {
        self.0.f16_bits(v)
    }
}
