//! Golden tests of the IQ quantizers against ggml (hashes made by a harness linked with the
//! reference's libggml-base, from the inputs below), and unit tests.

use super::*;
use crate::quant::legacy::test_support::{fnv, fuzz_input};

mod golden;

/// Row length of the golden rows (four 256-element super-blocks).
const N_PER_ROW: usize = 1024;
/// Rows of the golden input.
const NROWS: usize = 32;
/// Rows per hashed chunk.
const CHUNK_ROWS: usize = 4;

/// The golden input: the first 128 super-blocks of the K-quants' generated input (eight
/// shapes: scaled normal, uniform, outlier, sparse, integer ties, constant, extreme
/// magnitudes, negative), as 32 rows of 1024. Super-blocks whose squares overflow f32 (the
/// reference aborts on them in the lattice types) are scaled by 2^-40.
fn input() -> Vec<f32> {
    let mut x = fuzz_input();
    x.truncate(N_PER_ROW * NROWS);
    for sb in x.chunks_exact_mut(256) {
        if sb.iter().any(|v| v.abs() > (2f32).powi(60)) {
            for v in sb.iter_mut() {
                *v *= (2f32).powi(-40);
            }
        }
    }
    x
}

/// The extreme inputs (infinite squares, infinities, NaN) give some bytes without panicking.
#[test]
fn extreme_inputs_do_not_panic() {
    let mut x = fuzz_input();
    x.truncate(N_PER_ROW * 8);
    x[5] = f32::INFINITY;
    x[300] = f32::NAN;
    x[600] = f32::NEG_INFINITY;
    x[2000..2256].fill(f32::NAN);
    let w = weights();
    for ty in GgmlType::all().filter(|t| weighted_quantizer(*t).is_some()) {
        let q = weighted_quantizer(ty).unwrap();
        let rb = ty.row_bytes(N_PER_ROW as u64).unwrap() as usize;
        let mut out = vec![0u8; rb];
        for xr in x.chunks_exact(N_PER_ROW) {
            q(xr, Some(&w), &mut out);
            q(xr, None, &mut out);
        }
    }
}

fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Importance weights per column, shaped like an imatrix (sums of squared activations):
/// positive, spanning four decades, a few exact zeros.
fn weights() -> Vec<f32> {
    let mut nx = xorshift(0x005e_ed0f_1a7e_u64);
    (0..N_PER_ROW)
        .map(|j| {
            let u = (nx() >> 40) as f32 * (1.0 / 16_777_216.0);
            let e = (nx() % 5) as i32 - 2;
            if j % 97 == 13 {
                0.0
            } else {
                (0.05 + u * u) * 10f32.powi(e)
            }
        })
        .collect()
}

/// `n` random blocks of `bytes` bytes (every bit pattern, the f16 fields included).
fn random_blocks(n: usize, bytes: usize, seed: u64) -> Vec<u8> {
    let mut nx = xorshift(seed);
    (0..n * bytes).map(|_| (nx() >> 32) as u8).collect()
}

fn fnv_bytes(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &c in b {
        h ^= c as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn canonical_nan(y: &mut [f32]) {
    for v in y.iter_mut() {
        if v.is_nan() {
            *v = f32::from_bits(0x7fc0_0000);
        }
    }
}

/// One type under test and the reference's hashes.
pub(super) struct Case {
    pub ty: GgmlType,
    /// Per chunk of [`CHUNK_ROWS`] rows, unweighted then weighted (`None`: the reference
    /// refuses the type without weights).
    pub plain: Option<[u64; NROWS / CHUNK_ROWS]>,
    pub weighted: [u64; NROWS / CHUNK_ROWS],
    /// Decoded weighted output; decoded random blocks.
    pub decoded: u64,
    pub random_decoded: u64,
}

const RANDOM_BLOCKS: usize = 64;

fn check(c: &Case) {
    let ty = c.ty;
    let q = weighted_quantizer(ty).unwrap();
    let x = input();
    let w = weights();
    let row_bytes = ty.row_bytes(N_PER_ROW as u64).unwrap() as usize;
    let mut out = vec![0u8; row_bytes * NROWS];
    for (variant, want) in [("plain", c.plain), ("weighted", Some(c.weighted))] {
        let Some(want) = want else { continue };
        for (xr, or) in x
            .chunks_exact(N_PER_ROW)
            .zip(out.chunks_exact_mut(row_bytes))
        {
            q(xr, (variant == "weighted").then_some(&w[..]), or);
        }
        for (k, ch) in out.chunks_exact(row_bytes * CHUNK_ROWS).enumerate() {
            assert_eq!(
                fnv_bytes(ch),
                want[k],
                "{ty} {variant}: rows {}..{} differ from ggml",
                k * CHUNK_ROWS,
                (k + 1) * CHUNK_ROWS
            );
        }
        if variant == "plain" {
            // the table's encoder is the unweighted one
            let mut t = vec![0u8; row_bytes];
            (ty.traits().quantize)(&x[..N_PER_ROW], &mut t);
            assert_eq!(t, out[..row_bytes], "{ty}: table encoder");
        }
    }
    let mut y = vec![0f32; x.len()];
    (ty.traits().dequantize)(&out, &mut y);
    canonical_nan(&mut y);
    assert_eq!(
        fnv(&y),
        c.decoded,
        "{ty}: decoded weighted output differs from ggml"
    );
    let n = RANDOM_BLOCKS * ty.block_size() as usize;
    let rb = random_blocks(RANDOM_BLOCKS, ty.type_size() as usize, ty.id() as u64 + 1);
    let mut y = vec![0f32; n];
    (ty.traits().dequantize)(&rb, &mut y);
    canonical_nan(&mut y);
    assert_eq!(
        fnv(&y),
        c.random_decoded,
        "{ty}: decoded random blocks differ from ggml"
    );
}

#[test]
fn iq_types_match_ggml() {
    for c in golden::CASES {
        check(c);
    }
}

#[test]
fn golden_inputs_are_stable() {
    assert_eq!(fnv(&input()), golden::INPUT_HASH);
    assert_eq!(fnv(&weights()), golden::WEIGHTS_HASH);
}

/// Writes the golden inputs for the harness: `IQ_DUMP_DIR=dir cargo test --lib
/// iq::tests::dump -- --ignored`.
#[test]
#[ignore]
fn dump() {
    let dir = std::path::PathBuf::from(std::env::var("IQ_DUMP_DIR").unwrap());
    let f32s = |v: &[f32]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
    std::fs::write(dir.join("input.f32"), f32s(&input())).unwrap();
    std::fs::write(dir.join("weights.f32"), f32s(&weights())).unwrap();
    for ty in GgmlType::all().filter(|t| weighted_quantizer(*t).is_some()) {
        let rb = random_blocks(RANDOM_BLOCKS, ty.type_size() as usize, ty.id() as u64 + 1);
        std::fs::write(dir.join(format!("rnd_{}.bin", ty.name())), rb).unwrap();
        // our outputs, to compare byte by byte with the harness's q_TYPE_{p,w}.bin
        let q = weighted_quantizer(ty).unwrap();
        let (x, w) = (input(), weights());
        let rbytes = ty.row_bytes(N_PER_ROW as u64).unwrap() as usize;
        for (tag, qw) in [("p", None), ("w", Some(&w[..]))] {
            let mut out = vec![0u8; rbytes * NROWS];
            for (xr, or) in x.chunks_exact(N_PER_ROW).zip(out.chunks_exact_mut(rbytes)) {
                q(xr, qw, or);
            }
            std::fs::write(dir.join(format!("ours_{}_{tag}.bin", ty.name())), out).unwrap();
        }
    }
    println!("input {:#x} weights {:#x}", fnv(&input()), fnv(&weights()));
    // an extra input of the developer's (extra.f32, rows of N_PER_ROW, weights extra_w.f32)
    if let (Ok(x), Ok(w)) = (
        std::fs::read(dir.join("extra.f32")),
        std::fs::read(dir.join("extra_w.f32")),
    ) {
        let from = |b: &[u8]| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let (x, w) = (from(&x), from(&w));
        for ty in GgmlType::all().filter(|t| weighted_quantizer(*t).is_some()) {
            let q = weighted_quantizer(ty).unwrap();
            let rbytes = ty.row_bytes(N_PER_ROW as u64).unwrap() as usize;
            for (tag, qw) in [("p", None), ("w", Some(&w[..]))] {
                let mut out = vec![0u8; rbytes * (x.len() / N_PER_ROW)];
                for (xr, or) in x.chunks_exact(N_PER_ROW).zip(out.chunks_exact_mut(rbytes)) {
                    q(xr, qw, or);
                }
                std::fs::write(dir.join(format!("extra_ours_{}_{tag}.bin", ty.name())), out)
                    .unwrap();
            }
        }
    }
}

#[test]
fn best_index_picks_nearest_level() {
    let v = &iq4::KVALUES_IQ4NL;
    assert_eq!(best_index_int8(v, -1000.0), 0);
    assert_eq!(best_index_int8(v, 1000.0), 15);
    assert_eq!(best_index_int8(v, 0.0), 8);
    assert_eq!(best_index_int8(v, -4.5), 8); // tie between -10 and 1 goes up
    assert_eq!(best_index_int8(v, f32::NAN), 15);
}
