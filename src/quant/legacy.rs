//! ggml's 32-element block formats: Q8_0, and Q4_0, Q4_1, Q5_0, Q5_1 (fallback types of the
//! K-quant presets). Ports of the `quantize_row_*_ref` / `dequantize_row_*` functions.
//!
//! Every float operation is done in the same order as the reference (separate multiply and add,
//! never fused), so the bytes match what `llama-quantize` writes without an importance matrix
//! on x86-64.

use super::float::{f16_bits_to_f32, f32_to_f16_bits};

/// Elements per block for all the formats of this module.
pub const QK: usize = 32;
/// Bytes of one Q8_0 block: f16 scale + 32 signed bytes.
pub const Q8_0_BYTES: usize = 2 + QK;
/// Bytes of one Q4_0 block: f16 scale + 32 nibbles.
pub const Q4_0_BYTES: usize = 2 + QK / 2;
/// Bytes of one Q4_1 block: f16 scale, f16 minimum, 32 nibbles.
pub const Q4_1_BYTES: usize = 2 * 2 + QK / 2;
/// Bytes of one Q5_0 block: f16 scale, 32 high bits, 32 nibbles.
pub const Q5_0_BYTES: usize = 2 + 4 + QK / 2;
/// Bytes of one Q5_1 block: f16 scale, f16 minimum, 32 high bits, 32 nibbles.
pub const Q5_1_BYTES: usize = 2 * 2 + 4 + QK / 2;

const _: () = assert!(Q8_0_BYTES == 34);
const _: () = assert!(Q4_0_BYTES == 18);
const _: () = assert!(Q4_1_BYTES == 20);
const _: () = assert!(Q5_0_BYTES == 22);
const _: () = assert!(Q5_1_BYTES == 24);

/// Float → integer truncation as an x86-64 build of the C code performs it (`cvttss2si`):
/// toward zero, with NaN and out-of-range values giving `i32::MIN`. C leaves those cases
/// undefined; they only arise for degenerate blocks (e.g. subnormal inputs whose inverse scale
/// overflows). Callers then narrow with `as i8` / `as u8`, which wraps like the C conversion.
#[inline(always)]
pub(crate) fn trunc_x86(v: f32) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        v as i32
    } else {
        i32::MIN
    }
}

#[inline(always)]
fn put_f16(dst: &mut [u8], v: f32) {
    dst[..2].copy_from_slice(&f32_to_f16_bits(v).to_le_bytes());
}

#[inline(always)]
fn get_f16(src: &[u8]) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([src[0], src[1]]))
}

/// Returns the element of largest magnitude (the first one on ties), with its sign.
#[inline(always)]
fn signed_absmax(xb: &[f32; QK]) -> f32 {
    let mut amax = 0f32;
    let mut max = 0f32;
    for &v in xb {
        let a = v.abs();
        if amax < a {
            amax = a;
            max = v;
        }
    }
    max
}

/// Returns `(min, max)` of the block, starting from `(f32::MAX, -f32::MAX)`.
#[inline(always)]
fn min_max(xb: &[f32; QK]) -> (f32, f32) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in xb {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

#[inline(always)]
fn check_sizes(nx: usize, nout: usize, block_bytes: usize) {
    assert!(
        nx.is_multiple_of(QK),
        "row length {nx} is not a multiple of {QK}"
    );
    assert_eq!(
        nout,
        nx / QK * block_bytes,
        "output size does not match the row length"
    );
}

/// Q8_0: per 32 values, `d = amax/127` (stored as f16), `q = round(x/d)` with ties away from 0.
pub fn quantize_row_q8_0(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q8_0_BYTES);
    for (xb, ob) in x.chunks_exact(QK).zip(out.chunks_exact_mut(Q8_0_BYTES)) {
        quantize_block_q8_0(xb, ob);
    }
}

/// One block of [`quantize_row_q8_0`]: 32 values into 34 bytes.
#[inline(always)]
pub(crate) fn quantize_block_q8_0(xb: &[f32], ob: &mut [u8]) {
    let mut amax = 0f32;
    let mut nan = false;
    for v in &xb[..QK] {
        let a = v.abs();
        nan |= a.is_nan();
        // same select as the C `MAX` macro (a NaN element wins, until the next element)
        amax = if amax > a { amax } else { a };
    }
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(ob, d);
    if !nan && amax.is_finite() && id.is_finite() {
        // |v·id| ≤ 127 here (amax is the true maximum: no NaN dropped an earlier one), so
        // truncation through i32 is exact and the half-away-from-zero rounding of `roundf` can
        // be done with compares: the loop vectorises.
        for (o, v) in ob[2..Q8_0_BYTES].iter_mut().zip(xb) {
            let y = v * id;
            let t = y as i32;
            let f = y - t as f32;
            let r = t + (f >= 0.5) as i32 - (f <= -0.5) as i32;
            *o = r as u8;
        }
    } else {
        for (o, v) in ob[2..Q8_0_BYTES].iter_mut().zip(xb) {
            *o = trunc_x86((v * id).round()) as u8;
        }
    }
}

/// Inverse of [`quantize_row_q8_0`].
pub fn dequantize_row_q8_0(data: &[u8], out: &mut [f32]) {
    check_sizes(out.len(), data.len(), Q8_0_BYTES);
    for (b, o) in data.chunks_exact(Q8_0_BYTES).zip(out.chunks_exact_mut(QK)) {
        let d = get_f16(b);
        for (v, q) in o.iter_mut().zip(&b[2..]) {
            *v = (*q as i8) as f32 * d;
        }
    }
}

/// Q4_0: symmetric 4-bit; the scale maps the signed extreme value to -8, codes are
/// `trunc(x/d + 8.5)` capped at 15. Element `j` goes to the low nibble of byte `j`, element
/// `j + 16` to its high nibble.
pub fn quantize_row_q4_0(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q4_0_BYTES);
    for (xb, ob) in x.chunks_exact(QK).zip(out.chunks_exact_mut(Q4_0_BYTES)) {
        let xb: &[f32; QK] = xb.try_into().unwrap();
        let max = signed_absmax(xb);
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(ob, d);
        let (lo, hi) = xb.split_at(QK / 2);
        for ((o, &a), &b) in ob[2..].iter_mut().zip(lo).zip(hi) {
            let qa = (trunc_x86(a * id + 8.5) as i8).min(15) as u8;
            let qb = (trunc_x86(b * id + 8.5) as i8).min(15) as u8;
            *o = qa | (qb << 4);
        }
    }
}

/// Inverse of [`quantize_row_q4_0`]: `(q - 8) * d`.
pub fn dequantize_row_q4_0(data: &[u8], out: &mut [f32]) {
    check_sizes(out.len(), data.len(), Q4_0_BYTES);
    for (b, o) in data.chunks_exact(Q4_0_BYTES).zip(out.chunks_exact_mut(QK)) {
        let d = get_f16(b);
        let (lo, hi) = o.split_at_mut(QK / 2);
        for ((q, a), c) in b[2..].iter().zip(lo).zip(hi) {
            *a = ((q & 0x0f) as i32 - 8) as f32 * d;
            *c = ((q >> 4) as i32 - 8) as f32 * d;
        }
    }
}

/// Q4_1: asymmetric 4-bit; `d = (max - min)/15`, codes `trunc((x - min)/d + 0.5)` capped at 15;
/// `d` and `min` stored as f16.
pub fn quantize_row_q4_1(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q4_1_BYTES);
    for (xb, ob) in x.chunks_exact(QK).zip(out.chunks_exact_mut(Q4_1_BYTES)) {
        let xb: &[f32; QK] = xb.try_into().unwrap();
        let (min, max) = min_max(xb);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(&mut ob[0..2], d);
        put_f16(&mut ob[2..4], min);
        let (lo, hi) = xb.split_at(QK / 2);
        for ((o, &a), &b) in ob[4..].iter_mut().zip(lo).zip(hi) {
            let qa = (trunc_x86((a - min) * id + 0.5) as i8).min(15) as u8;
            let qb = (trunc_x86((b - min) * id + 0.5) as i8).min(15) as u8;
            *o = qa | (qb << 4);
        }
    }
}

/// Inverse of [`quantize_row_q4_1`]: `q * d + m`.
pub fn dequantize_row_q4_1(data: &[u8], out: &mut [f32]) {
    check_sizes(out.len(), data.len(), Q4_1_BYTES);
    for (b, o) in data.chunks_exact(Q4_1_BYTES).zip(out.chunks_exact_mut(QK)) {
        let d = get_f16(&b[0..2]);
        let m = get_f16(&b[2..4]);
        let (lo, hi) = o.split_at_mut(QK / 2);
        for ((q, a), c) in b[4..].iter().zip(lo).zip(hi) {
            *a = (q & 0x0f) as f32 * d + m;
            *c = (q >> 4) as f32 * d + m;
        }
    }
}

/// Q5_0: symmetric 5-bit; the signed extreme value maps to -16, codes `trunc(x/d + 16.5)`
/// capped at 31. Low nibbles as in Q4_0; the fifth bit of element `j` is bit `j` of a
/// little-endian u32.
pub fn quantize_row_q5_0(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q5_0_BYTES);
    for (xb, ob) in x.chunks_exact(QK).zip(out.chunks_exact_mut(Q5_0_BYTES)) {
        let xb: &[f32; QK] = xb.try_into().unwrap();
        let max = signed_absmax(xb);
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(ob, d);
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let qa = (trunc_x86(xb[j] * id + 16.5) as i8).min(31) as u8;
            let qb = (trunc_x86(xb[j + QK / 2] * id + 16.5) as i8).min(31) as u8;
            ob[6 + j] = (qa & 0x0f) | ((qb & 0x0f) << 4);
            qh |= (((qa & 0x10) >> 4) as u32) << j;
            qh |= (((qb & 0x10) >> 4) as u32) << (j + QK / 2);
        }
        ob[2..6].copy_from_slice(&qh.to_le_bytes());
    }
}

/// Inverse of [`quantize_row_q5_0`]: `(q - 16) * d`.
pub fn dequantize_row_q5_0(data: &[u8], out: &mut [f32]) {
    check_sizes(out.len(), data.len(), Q5_0_BYTES);
    for (b, o) in data.chunks_exact(Q5_0_BYTES).zip(out.chunks_exact_mut(QK)) {
        let d = get_f16(b);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        for j in 0..QK / 2 {
            let ha = ((qh >> j) << 4) & 0x10;
            let hb = (qh >> (j + 12)) & 0x10;
            let qa = ((b[6 + j] & 0x0f) as u32 | ha) as i32 - 16;
            let qb = ((b[6 + j] >> 4) as u32 | hb) as i32 - 16;
            o[j] = qa as f32 * d;
            o[j + QK / 2] = qb as f32 * d;
        }
    }
}

/// Q5_1: asymmetric 5-bit; `d = (max - min)/31`, codes `trunc((x - min)/d + 0.5)` (no cap, as
/// in the reference); `d` and `min` stored as f16, bits laid out as in Q5_0.
pub fn quantize_row_q5_1(x: &[f32], out: &mut [u8]) {
    check_sizes(x.len(), out.len(), Q5_1_BYTES);
    for (xb, ob) in x.chunks_exact(QK).zip(out.chunks_exact_mut(Q5_1_BYTES)) {
        let xb: &[f32; QK] = xb.try_into().unwrap();
        let (min, max) = min_max(xb);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(&mut ob[0..2], d);
        put_f16(&mut ob[2..4], min);
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let qa = trunc_x86((xb[j] - min) * id + 0.5) as u8;
            let qb = trunc_x86((xb[j + QK / 2] - min) * id + 0.5) as u8;
            ob[8 + j] = (qa & 0x0f) | ((qb & 0x0f) << 4);
            qh |= (((qa & 0x10) >> 4) as u32) << j;
            qh |= (((qb & 0x10) >> 4) as u32) << (j + QK / 2);
        }
        ob[4..8].copy_from_slice(&qh.to_le_bytes());
    }
}

/// Inverse of [`quantize_row_q5_1`]: `q * d + m`.
pub fn dequantize_row_q5_1(data: &[u8], out: &mut [f32]) {
    check_sizes(out.len(), data.len(), Q5_1_BYTES);
    for (b, o) in data.chunks_exact(Q5_1_BYTES).zip(out.chunks_exact_mut(QK)) {
        let d = get_f16(&b[0..2]);
        let m = get_f16(&b[2..4]);
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        for j in 0..QK / 2 {
            let ha = ((qh >> j) << 4) & 0x10;
            let hb = (qh >> (j + 12)) & 0x10;
            let qa = (b[8 + j] & 0x0f) as u32 | ha;
            let qb = (b[8 + j] >> 4) as u32 | hb;
            o[j] = qa as f32 * d + m;
            o[j + QK / 2] = qb as f32 * d + m;
        }
    }
}

/// Helpers shared by the quantizer tests of this module and of `kquants`.
#[cfg(test)]
pub(crate) mod test_support {
    /// A [`Golden`] case named `$name`, with its committed data files.
    macro_rules! golden_case {
        ($name:literal, $q:ident, $dq:ident, $elems:expr, $bytes:expr) => {
            Golden {
                name: $name,
                block_elems: $elems,
                block_bytes: $bytes,
                quantize: $q,
                dequantize: $dq,
                quantized: include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/data/quant/",
                    $name,
                    ".bin"
                )),
                rnd_blocks: include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/data/quant/rnd_",
                    $name,
                    ".bin"
                )),
                rnd_decoded: include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/data/quant/rnd_",
                    $name,
                    ".f32"
                )),
            }
        };
    }
    pub(crate) use golden_case;

    /// Golden inputs: `NCASES` rows of `CASE_LEN` floats (zeros, constants, huge and tiny
    /// magnitudes, random data, an outlier, exact ties, extreme/subnormal values).
    pub const NCASES: usize = 13;
    pub const CASE_LEN: usize = 256;
    /// Order of the types in `deq_hashes.bin`.
    pub const TYPES: [&str; 10] = [
        "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k",
    ];

    pub type QuantFn = fn(&[f32], &mut [u8]);
    pub type DequantFn = fn(&[u8], &mut [f32]);

    /// One format under test with its golden files.
    pub struct Golden {
        pub name: &'static str,
        pub block_elems: usize,
        pub block_bytes: usize,
        pub quantize: QuantFn,
        pub dequantize: DequantFn,
        /// Reference quantization of `input.f32`.
        pub quantized: &'static [u8],
        /// Random blocks (finite f16 fields) and their reference decoding.
        pub rnd_blocks: &'static [u8],
        pub rnd_decoded: &'static [u8],
    }

    pub fn f32s(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    pub fn input() -> Vec<f32> {
        let v = f32s(include_bytes!("../../tests/data/quant/input.f32"));
        assert_eq!(v.len(), NCASES * CASE_LEN);
        v
    }

    /// FNV-1a 64 over the little-endian bytes of `vals` (as the generator hashed them).
    pub fn fnv(vals: &[f32]) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for v in vals {
            for b in v.to_le_bytes() {
                h ^= b as u64;
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    }

    fn deq_hash(type_idx: usize, case: usize) -> u64 {
        let all = include_bytes!("../../tests/data/quant/deq_hashes.bin");
        let o = 8 * (type_idx * NCASES + case);
        u64::from_le_bytes(all[o..o + 8].try_into().unwrap())
    }

    /// Quantizing the golden input gives the reference bytes, case by case.
    pub fn check_quantize(g: &Golden) {
        let x = input();
        let case_bytes = CASE_LEN / g.block_elems * g.block_bytes;
        assert_eq!(
            g.quantized.len(),
            NCASES * case_bytes,
            "{}: golden size",
            g.name
        );
        let mut out = vec![0xAAu8; g.quantized.len()];
        (g.quantize)(&x, &mut out);
        for c in 0..NCASES {
            let (a, b) = (
                &out[c * case_bytes..][..case_bytes],
                &g.quantized[c * case_bytes..][..case_bytes],
            );
            if a != b {
                let i = a.iter().zip(b).position(|(p, q)| p != q).unwrap();
                panic!(
                    "{}: case {c} differs from ggml at byte {i} (block {}, offset {}): got {:#04x}, want {:#04x}",
                    g.name,
                    i / g.block_bytes,
                    i % g.block_bytes,
                    a[i],
                    b[i]
                );
            }
        }
        // one case at a time (shorter rows) gives the same bytes
        let mut one = vec![0u8; case_bytes];
        (g.quantize)(&x[5 * CASE_LEN..6 * CASE_LEN], &mut one);
        assert_eq!(
            one,
            &out[5 * case_bytes..6 * case_bytes],
            "{}: row split",
            g.name
        );
    }

    /// Decoding the golden blocks matches ggml's decoder: hashed per case for the quantized
    /// golden input, value by value for random blocks.
    pub fn check_dequantize(g: &Golden) {
        let idx = TYPES.iter().position(|t| *t == g.name).unwrap();
        let case_bytes = CASE_LEN / g.block_elems * g.block_bytes;
        let mut y = vec![0f32; CASE_LEN];
        for c in 0..NCASES {
            (g.dequantize)(&g.quantized[c * case_bytes..][..case_bytes], &mut y);
            assert_eq!(
                fnv(&y),
                deq_hash(idx, c),
                "{}: decoded case {c} differs from ggml",
                g.name
            );
        }
        let want = f32s(g.rnd_decoded);
        let mut got = vec![0f32; want.len()];
        assert_eq!(
            g.rnd_blocks.len(),
            want.len() / g.block_elems * g.block_bytes
        );
        (g.dequantize)(g.rnd_blocks, &mut got);
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{}: random block value {i}: got {a:e}, want {b:e}",
                g.name
            );
        }
    }

    /// Super-blocks of the PRNG-generated comparison input.
    pub const FUZZ_SUPERBLOCKS: usize = 2048;
    /// Super-blocks per hashed chunk of quantized output in `fuzz_hashes.bin`.
    pub const FUZZ_CHUNK: usize = 64;
    /// FNV-1a of the generated input, as the generator printed it.
    const FUZZ_INPUT_HASH: u64 = 0x7afe_7eb1_7e91_fe27;

    /// The generator's input, rebuilt bit-exactly from an integer PRNG and exact float steps:
    /// per 256-element super-block one of eight shapes (normal-ish with per-32 power-of-two
    /// scales 2^-20..2^20, positive uniform, one outlier, sparse, integer grid (exact ties),
    /// all zero, whole-block scale 2^-140..2^100 (subnormal to overflow of x^2), negative).
    pub fn fuzz_input() -> Vec<f32> {
        let mut s = 0x0123_4567_89AB_CDEFu64;
        let mut nx = move || {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            s.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        fn unif(nx: &mut impl FnMut() -> u64) -> f32 {
            (nx() >> 40) as f32 * (1.0 / 16_777_216.0)
        }
        fn nrm(nx: &mut impl FnMut() -> u64) -> f32 {
            let a = unif(nx);
            let b = unif(nx);
            let c = unif(nx);
            let d = unif(nx);
            (a + b + c + d - 2.0) * 1.732_050_8
        }
        let p2 = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
        let mut x = vec![0f32; FUZZ_SUPERBLOCKS * 256];
        for y in x.chunks_exact_mut(256) {
            let mode = nx() % 8;
            let mut gs = 1f32;
            for (i, v) in y.iter_mut().enumerate() {
                if i % 32 == 0 {
                    gs = p2((nx() % 41) as i32 - 20);
                }
                *v = match mode {
                    0 => nrm(&mut nx) * gs,
                    1 => (0.5 + unif(&mut nx) * 1.5) * gs,
                    2 => nrm(&mut nx) * 0.01,
                    3 => {
                        if unif(&mut nx) < 0.8 {
                            0.0
                        } else {
                            nrm(&mut nx)
                        }
                    }
                    4 => ((nx() % 33) as i32 - 16) as f32 * gs,
                    5 => 0.0,
                    6 => nrm(&mut nx),
                    _ => {
                        let u = unif(&mut nx);
                        let n = nrm(&mut nx);
                        (-3.0 + u * 2.9) + n * 0.001
                    }
                };
            }
            if mode == 2 {
                let k = (nx() % 256) as usize;
                y[k] = nrm(&mut nx) * 40.0;
            }
            if mode == 5 {
                y.fill(nrm(&mut nx));
            }
            if mode == 6 {
                let e = (nx() % 241) as i32 - 140;
                let (e1, e2) = (e / 2, e - e / 2);
                for v in y.iter_mut() {
                    *v = (*v * p2(e1)) * p2(e2);
                }
            }
        }
        x
    }

    fn fnv_bytes(b: &[u8]) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for &c in b {
            h ^= c as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }

    /// Quantizes the 2048 generated super-blocks and compares hashes of every 64-block chunk
    /// (and of the decoded floats, NaNs canonicalised) with ggml's.
    pub fn check_fuzz(g: &Golden, x: &[f32]) {
        let idx = TYPES.iter().position(|t| *t == g.name).unwrap();
        let all = include_bytes!("../../tests/data/quant/fuzz_hashes.bin");
        let per_type = FUZZ_SUPERBLOCKS / FUZZ_CHUNK + 1;
        let want = |k: usize| {
            let o = 8 * (idx * per_type + k);
            u64::from_le_bytes(all[o..o + 8].try_into().unwrap())
        };
        assert_eq!(
            fnv(x),
            FUZZ_INPUT_HASH,
            "generated input differs from the generator's"
        );
        let chunk_bytes = FUZZ_CHUNK * 256 / g.block_elems * g.block_bytes;
        let mut q = vec![0u8; FUZZ_SUPERBLOCKS / FUZZ_CHUNK * chunk_bytes];
        (g.quantize)(x, &mut q);
        for (c, qc) in q.chunks_exact(chunk_bytes).enumerate() {
            assert_eq!(
                fnv_bytes(qc),
                want(c),
                "{}: quantized super-blocks {}..{} differ from ggml",
                g.name,
                c * FUZZ_CHUNK,
                (c + 1) * FUZZ_CHUNK
            );
        }
        let mut y = vec![0f32; x.len()];
        (g.dequantize)(&q, &mut y);
        for v in y.iter_mut() {
            if v.is_nan() {
                *v = f32::from_bits(0x7fc0_0000);
            }
        }
        assert_eq!(
            fnv(&y),
            want(per_type - 1),
            "{}: decoded values differ from ggml",
            g.name
        );
    }

    /// Deterministic standard-normal samples (xorshift64* + Box-Muller).
    pub fn gaussian(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            ((s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64) / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let u1 = next().max(1e-300);
                let u2 = next();
                ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            })
            .collect()
    }

    /// RMS of the round-trip error relative to the RMS of `x`.
    pub fn roundtrip_rel_rms(g: &Golden, x: &[f32]) -> f64 {
        let mut q = vec![0u8; x.len() / g.block_elems * g.block_bytes];
        (g.quantize)(x, &mut q);
        let mut y = vec![0f32; x.len()];
        (g.dequantize)(&q, &mut y);
        let err: f64 = x
            .iter()
            .zip(&y)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        let sig: f64 = x.iter().map(|a| (*a as f64).powi(2)).sum();
        (err / sig).sqrt()
    }

    /// Round trip of normal data (plain, and with per-row scales and a shift) stays within
    /// `bound` relative RMS error.
    pub fn check_roundtrip(g: &Golden, bound: f64) {
        let n = 64 * 256;
        let plain = gaussian(n, 0x1234_5678);
        let mut scaled = gaussian(n, 0x9abc_def0);
        for (i, v) in scaled.iter_mut().enumerate() {
            let row = (i / 1024) as i32;
            *v = *v * 10f32.powi(row % 7 - 3) + 0.1 * 10f32.powi(row % 7 - 3);
        }
        for (what, x) in [("normal", &plain), ("scaled+shifted", &scaled)] {
            let e = roundtrip_rel_rms(g, x);
            eprintln!("{}: {what} relative RMS error {e:.5}", g.name);
            assert!(
                e < bound,
                "{}: {what} relative RMS error {e} >= {bound}",
                g.name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{
        Golden, check_dequantize, check_fuzz, check_quantize, check_roundtrip, fuzz_input,
        golden_case,
    };
    use super::*;
    use crate::gguf::GgmlType;

    /// One golden case of this module's block size (the data files live in tests/data/quant).
    macro_rules! golden {
        ($name:literal, $q:ident, $dq:ident, $bytes:expr) => {
            golden_case!($name, $q, $dq, QK, $bytes)
        };
    }

    fn all() -> [(Golden, GgmlType, f64); 5] {
        // bounds: measured relative RMS error on normal data (0.0053, 0.086, 0.078, 0.042,
        // 0.038) plus ~30%
        [
            (
                golden!("q8_0", quantize_row_q8_0, dequantize_row_q8_0, Q8_0_BYTES),
                GgmlType::Q8_0,
                0.007,
            ),
            (
                golden!("q4_0", quantize_row_q4_0, dequantize_row_q4_0, Q4_0_BYTES),
                GgmlType::Q4_0,
                0.11,
            ),
            (
                golden!("q4_1", quantize_row_q4_1, dequantize_row_q4_1, Q4_1_BYTES),
                GgmlType::Q4_1,
                0.10,
            ),
            (
                golden!("q5_0", quantize_row_q5_0, dequantize_row_q5_0, Q5_0_BYTES),
                GgmlType::Q5_0,
                0.055,
            ),
            (
                golden!("q5_1", quantize_row_q5_1, dequantize_row_q5_1, Q5_1_BYTES),
                GgmlType::Q5_1,
                0.05,
            ),
        ]
    }

    #[test]
    fn block_sizes_match_gguf_types() {
        for (g, ty, _) in all() {
            assert_eq!(g.block_bytes as u64, ty.type_size(), "{}", g.name);
            assert_eq!(g.block_elems as u64, ty.block_size(), "{}", g.name);
        }
    }

    #[test]
    fn quantize_matches_ggml_reference() {
        for (g, _, _) in all() {
            check_quantize(&g);
        }
    }

    #[test]
    fn dequantize_matches_ggml_reference() {
        for (g, _, _) in all() {
            check_dequantize(&g);
        }
    }

    #[test]
    fn matches_ggml_on_generated_blocks() {
        let x = fuzz_input();
        for (g, _, _) in all() {
            check_fuzz(&g, &x);
        }
    }

    #[test]
    fn roundtrip_error_is_bounded() {
        for (g, _, bound) in all() {
            check_roundtrip(&g, bound);
        }
    }

    #[test]
    fn nearest_rounding_cases() {
        // Q8_0 rounds half away from zero: a block whose scale is exactly 1 (amax = 127)
        let mut x = [0f32; QK];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        x[3] = 0.5;
        let mut q = [0u8; Q8_0_BYTES];
        quantize_row_q8_0(&x, &mut q);
        assert_eq!(&q[2..6], &[127, 3, (-3i8) as u8, 1]);
        // a NaN that is not last drops the running maximum (as C's `MAX` does): the other
        // elements are then rounded and converted as x86 does, out-of-range values to 0
        let mut x = [0f32; QK];
        x[0] = -1e30;
        x[1] = f32::NAN;
        x[2] = 1.0;
        x[3] = 0.5;
        quantize_row_q8_0(&x, &mut q);
        assert_eq!(&q[..6], &[0x08, 0x20, 0, 0, 127, 64]);
        // degenerate conversions follow x86: NaN/out of range -> i32::MIN
        assert_eq!(trunc_x86(f32::NAN), i32::MIN);
        assert_eq!(trunc_x86(f32::INFINITY), i32::MIN);
        assert_eq!(trunc_x86(-2.9), -2);
    }
}
