//! Every vectorised kernel the running CPU supports against the portable scalar code, on
//! random, extreme and real-shaped inputs, plus the ggml golden files through the dispatched
//! path. Runs wherever `cargo test` runs, so CI exercises the instruction sets of its machine.

use super::*;
use crate::quant::legacy::test_support::{
    Golden, check_fuzz, check_quantize, fuzz_input, gaussian, golden_case,
};
use crate::quant::{float, kquants, legacy, quantize_row_isa, quantize_row_scalar};

const TYPES: [GgmlType; 6] = [
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// The vectorised instruction sets of this CPU.
fn vector_isas() -> Vec<Isa> {
    let v: Vec<Isa> = Isa::supported()
        .into_iter()
        .filter(|i| *i != Isa::Scalar)
        .collect();
    eprintln!("vectorised instruction sets on this CPU: {v:?}");
    v
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732
    }
}

/// Super-blocks (256 values) of special shapes: NaN, ±Inf, subnormals, zeros, signed zeros,
/// huge values near ±3e38, exact ties, flat and constant groups, values below ggml's
/// "all zero" threshold, arbitrary bit patterns, and single outliers of each kind in
/// otherwise normal data.
fn extreme_input(superblocks: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng(seed | 1);
    let mut x = vec![0f32; superblocks * 256];
    let specials = [
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN,
        3e38,
        -3e38,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        -f32::from_bits(1),
        -0.0,
        1e-16,
        1e30,
    ];
    for (b, y) in x.chunks_exact_mut(256).enumerate() {
        let mode = b % 24;
        for (i, v) in y.iter_mut().enumerate() {
            *v = match mode {
                0 => 0.0,
                1 => f32::NAN,
                2 => f32::from_bits(r.next() as u32),
                3 => f32::from_bits(r.below(1 << 23) as u32) * if i % 2 == 0 { 1.0 } else { -1.0 },
                4 => f32::from_bits((r.below(1 << 23) as u32) | ((r.below(3) as u32) << 23)),
                5 => (r.unit() * 2.0 - 1.0) * 3e38,
                6 => (r.below(33) as f32 - 16.0) * 0.25,
                7 => r.below(255) as f32 - 127.0 + if i % 3 == 0 { 0.5 } else { 0.0 },
                8 => 1.25,
                9 => ((i / 16) as f32 - 8.0) * 0.5,
                10 => ((i / 32) as f32) * -0.75,
                11 => r.normal() * 1e-16,
                12 => {
                    if r.below(2) == 0 {
                        -0.0
                    } else {
                        0.0
                    }
                }
                13 => r.unit() + 0.5,
                14 => -(r.unit() + 0.5),
                15 => {
                    if i == 77 {
                        r.normal()
                    } else {
                        0.0
                    }
                }
                16 => specials[r.below(specials.len() as u64) as usize],
                17 => r.normal() * 1e-39,
                18 => r.normal() * 1e37,
                19 => {
                    let e = r.below(254) as i32 - 126;
                    r.normal() * 2f32.powi(e)
                }
                _ => r.normal() * 0.02,
            };
        }
        if mode >= 20 {
            // one special value among normal ones
            let k = r.below(256) as usize;
            y[k] = specials[(b / 24 + mode) % specials.len()];
        }
    }
    x
}

fn first_difference(ty: GgmlType, x: &[f32], a: &[u8], b: &[u8]) -> String {
    let i = a.iter().zip(b).position(|(p, q)| p != q).unwrap();
    let bb = ty.type_size() as usize;
    let be = ty.block_size() as usize;
    let blk = i / bb;
    format!(
        "byte {i} (block {blk}, offset {}): got {:#04x}, want {:#04x}; input block {:?}",
        i % bb,
        a[i],
        b[i],
        &x[blk * be..(blk + 1) * be]
    )
}

/// Quantizes `x` as rows of `ne0` with `isa` and with the scalar code; panics on a difference.
fn check_rows(isa: Isa, ty: GgmlType, x: &[f32], ne0: usize, what: &str) {
    let rb = ty.row_bytes(ne0 as u64).unwrap() as usize;
    let rows = x.len() / ne0;
    let mut a = vec![0xAAu8; rb * rows];
    let mut b = vec![0x55u8; rb * rows];
    for (r, xr) in x.chunks_exact(ne0).enumerate() {
        quantize_row_isa(isa, ty, xr, &mut a[r * rb..(r + 1) * rb]);
        quantize_row_scalar(ty, xr, &mut b[r * rb..(r + 1) * rb]);
    }
    if a != b {
        panic!(
            "{isa} {ty} on {what} (rows of {ne0}): {}",
            first_difference(ty, x, &a, &b)
        );
    }
}

#[test]
fn quantizers_match_scalar_on_real_shapes() {
    for isa in vector_isas() {
        for (ne0, rows) in [(7168, 3), (2048, 4), (18432, 1)] {
            let x = gaussian(ne0 * rows, 0x1234 + ne0 as u64);
            let mut scaled = x.clone();
            for (i, v) in scaled.iter_mut().enumerate() {
                // per-row magnitudes from 1e-4 to 1e2, and a shift
                *v = *v * 10f32.powi((i / ne0) as i32 * 3 - 4) + 0.01;
            }
            for ty in TYPES {
                check_rows(isa, ty, &x, ne0, "normal data");
                check_rows(isa, ty, &scaled, ne0, "scaled data");
            }
        }
    }
}

#[test]
fn quantizers_match_scalar_on_extreme_values() {
    let x = extreme_input(24 * 8, 0xfeed);
    let exact_before = kfit::EXACT_PASSES.load(std::sync::atomic::Ordering::Relaxed);
    let isas = vector_isas();
    for &isa in &isas {
        for ty in TYPES {
            // odd super-block counts exercise the padded last window
            for ne0 in [256, 768, 1280, 4096] {
                let n = x.len() / ne0 * ne0;
                check_rows(isa, ty, &x[..n], ne0, "extreme values");
            }
        }
        check_rows(isa, GgmlType::Q8_0, &x[..96 * 32], 96, "extreme values");
    }
    // these inputs include groups whose levels need the exact rounding path of the fits
    let exact_after = kfit::EXACT_PASSES.load(std::sync::atomic::Ordering::Relaxed);
    assert!(isas.is_empty() || exact_after > exact_before);
}

#[test]
fn quantizers_match_scalar_on_random_data() {
    let mut r = Rng(0xabcdef);
    for isa in vector_isas() {
        for round in 0..8 {
            let n = 256 * (1 + r.below(40) as usize);
            let scale = 2f32.powi(r.below(80) as i32 - 40);
            let x: Vec<f32> = (0..n)
                .map(|_| match round % 4 {
                    0 => r.normal() * scale,
                    1 => (r.unit() - 0.25) * scale,
                    2 => (r.below(9) as f32 - 4.0) * scale,
                    _ => r.normal() * scale * if r.below(50) == 0 { 30.0 } else { 1.0 },
                })
                .collect();
            for ty in TYPES {
                check_rows(isa, ty, &x, n, "random data");
            }
        }
    }
}

#[test]
fn quantizers_match_scalar_on_ggml_test_inputs() {
    let golden = crate::quant::legacy::test_support::input();
    let fuzz = fuzz_input();
    for isa in vector_isas() {
        for ty in TYPES {
            check_rows(isa, ty, &golden, 256, "golden input");
            check_rows(isa, ty, &fuzz, 256 * 16, "generated blocks");
        }
    }
}

fn q8_0_active(x: &[f32], o: &mut [u8]) {
    crate::quant::quantize_row(GgmlType::Q8_0, x, o)
}
fn q2_k_active(x: &[f32], o: &mut [u8]) {
    crate::quant::quantize_row(GgmlType::Q2_K, x, o)
}
fn q3_k_active(x: &[f32], o: &mut [u8]) {
    crate::quant::quantize_row(GgmlType::Q3_K, x, o)
}
fn q4_k_active(x: &[f32], o: &mut [u8]) {
    crate::quant::quantize_row(GgmlType::Q4_K, x, o)
}
fn q5_k_active(x: &[f32], o: &mut [u8]) {
    crate::quant::quantize_row(GgmlType::Q5_K, x, o)
}
fn q6_k_active(x: &[f32], o: &mut [u8]) {
    crate::quant::quantize_row(GgmlType::Q6_K, x, o)
}

#[test]
fn dispatched_quantizers_match_ggml_golden_files() {
    eprintln!("active instruction set: {}", Isa::active());
    use kquants::*;
    use legacy::*;
    macro_rules! k {
        ($name:literal, $q:ident, $dq:ident, $bytes:expr) => {
            golden_case!($name, $q, $dq, QK_K, $bytes)
        };
    }
    let cases: [Golden; 6] = [
        golden_case!("q8_0", q8_0_active, dequantize_row_q8_0, QK, Q8_0_BYTES),
        k!("q2_k", q2_k_active, dequantize_row_q2_k, Q2_K_BYTES),
        k!("q3_k", q3_k_active, dequantize_row_q3_k, Q3_K_BYTES),
        k!("q4_k", q4_k_active, dequantize_row_q4_k, Q4_K_BYTES),
        k!("q5_k", q5_k_active, dequantize_row_q5_k, Q5_K_BYTES),
        k!("q6_k", q6_k_active, dequantize_row_q6_k, Q6_K_BYTES),
    ];
    let fuzz = fuzz_input();
    for g in &cases {
        check_quantize(g);
        check_fuzz(g, &fuzz);
    }
}

#[test]
fn fp8_decoding_matches_scalar() {
    let mut r = Rng(0x8888);
    let scales_pool = [
        1.0,
        -1.0,
        0.0,
        -0.0,
        f32::NAN,
        f32::from_bits(0x7fa0_0001),
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::from_bits(1),
        1e-30,
        3.5e-4,
        2f32.powi(-20),
    ];
    for isa in vector_isas() {
        // every code with every special scale, block widths that do and do not fill vectors
        for bc in [128usize, 16, 7, 100, 1] {
            let n: usize = 256 * 3 + 5;
            let codes: Vec<u8> = (0..n).map(|i| (i % 256) as u8).collect();
            let nblocks = n.div_ceil(bc);
            let scales: Vec<f32> = (0..nblocks)
                .map(|i| {
                    if i % 3 == 0 {
                        scales_pool[i / 3 % scales_pool.len()]
                    } else {
                        r.normal()
                    }
                })
                .collect();
            let (mut a, mut b) = (vec![1f32; n], vec![2f32; n]);
            float::fp8_block_row_isa(isa, &codes, &scales, bc, &mut a);
            float::fp8_block_row_scalar(&codes, &scales, bc, &mut b);
            for i in 0..n {
                assert_eq!(
                    a[i].to_bits(),
                    b[i].to_bits(),
                    "{isa} fp8 code {:#04x} scale {:e} (block width {bc}, element {i})",
                    codes[i],
                    scales[i / bc]
                );
            }
        }
        // a DeepSeek-shaped row of random codes
        let codes: Vec<u8> = (0..7168).map(|_| r.next() as u8).collect();
        let scales: Vec<f32> = (0..56).map(|_| r.unit() * 1e-3).collect();
        let (mut a, mut b) = (vec![0f32; 7168], vec![0f32; 7168]);
        float::fp8_block_row_isa(isa, &codes, &scales, 128, &mut a);
        float::fp8_block_row_scalar(&codes, &scales, 128, &mut b);
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
    // the arithmetic decoding of the kernels and the table agree on every code
    for q in 0..=255u8 {
        let want = float::E4M3FN_LUT[q as usize] * 1.0;
        let got = float::fp8_scaled(q, 1.0);
        assert!(want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()));
    }
}

#[test]
fn bf16_decoding_matches_scalar() {
    let mut r = Rng(0xbf16);
    for isa in vector_isas() {
        for n in [0usize, 1, 15, 16, 17, 100, 7168] {
            let data: Vec<u8> = (0..2 * n).map(|_| r.next() as u8).collect();
            let (mut a, mut b) = (vec![1f32; n], vec![2f32; n]);
            float::bf16_bytes_to_f32_isa(isa, &data, &mut a);
            float::bf16_bytes_to_f32_scalar(&data, &mut b);
            assert!(
                a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{isa} bf16 decoding, {n} values"
            );
        }
    }
}

#[test]
fn f16c_conversion_equals_the_scalar_one() {
    // the x86 kernels convert Q8_0 scales with F16C; the scalar code with `half`
    let mut r = Rng(0xf16);
    let mut vals: Vec<f32> = (0..200_000)
        .map(|_| f32::from_bits(r.next() as u32))
        .collect();
    vals.extend([
        65504.0, 65520.0, 65519.99, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, -0.0,
    ]);
    for isa in vector_isas() {
        for &v in &vals {
            let want = float::f32_to_f16_bits(v);
            let got = match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 | Isa::Avx512 => x86::f16_bits_f16c(v),
                _ => want,
            };
            assert_eq!(got, want, "{isa}: f16 of {v:e} ({:#010x})", v.to_bits());
        }
    }
}

#[test]
fn isa_names_round_trip() {
    for isa in Isa::ALL {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
    assert!(Isa::Scalar.is_supported());
    assert!(Isa::active().is_supported());
}

/// The backends' transposing loads against lane-by-lane strided loads.
#[test]
fn transposed_group_loads() {
    fn check<S: Simd, const N: usize>(s: S) {
        let x: Vec<f32> = (0..S::LANES * N).map(|i| i as f32).collect();
        let t = s.load_groups::<N>(&x);
        let mut lanes = vec![0f32; S::LANES];
        for (i, v) in t.iter().enumerate() {
            s.store(*v, &mut lanes);
            for (k, got) in lanes.iter().enumerate() {
                assert_eq!(
                    *got,
                    x[N * k + i],
                    "{} lanes, N = {N}: element {i} of group {k}",
                    S::LANES
                );
            }
        }
    }
    #[cfg(target_arch = "aarch64")]
    if Isa::Neon.is_supported() {
        // SAFETY: checked just above.
        let s = unsafe { neon::Neon::new() };
        check::<_, 16>(s);
        check::<_, 32>(s);
        check::<_, 16>(Wide::<_, 2>(s));
    }
    #[cfg(target_arch = "x86_64")]
    if Isa::Avx2.is_supported() {
        // SAFETY: checked just above.
        let s = unsafe { x86::Avx2::new() };
        check::<_, 16>(s);
        check::<_, 32>(s);
        check::<_, 16>(Wide::<_, 2>(s));
        check::<_, 32>(Wide::<_, 4>(s));
    }
    #[cfg(target_arch = "x86_64")]
    if Isa::Avx512.is_supported() {
        // SAFETY: checked just above.
        let s = unsafe { x86::Avx512::new() };
        check::<_, 16>(s);
        check::<_, 32>(s);
        check::<_, 16>(Wide::<_, 2>(s));
        check::<_, 32>(Wide::<_, 4>(s));
    }
}
