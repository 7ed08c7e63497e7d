//! Golden tests of the K-quants against ggml, and unit tests of the helpers.

use super::*;
use crate::gguf::GgmlType;
use crate::quant::legacy::test_support::{
    Golden, check_dequantize, check_fuzz, check_quantize, check_roundtrip, fuzz_input, golden_case,
};

/// One golden case of this module's block size (the data files live in tests/data/quant).
macro_rules! golden {
    ($name:literal, $q:ident, $dq:ident, $bytes:expr) => {
        golden_case!($name, $q, $dq, QK_K, $bytes)
    };
}

fn all() -> [(Golden, GgmlType, f64); 5] {
    // bounds: measured relative RMS error on normal data (0.299, 0.152, 0.072, 0.036,
    // 0.0177) plus ~30%
    [
        (
            golden!("q2_k", quantize_row_q2_k, dequantize_row_q2_k, Q2_K_BYTES),
            GgmlType::Q2_K,
            0.39,
        ),
        (
            golden!("q3_k", quantize_row_q3_k, dequantize_row_q3_k, Q3_K_BYTES),
            GgmlType::Q3_K,
            0.20,
        ),
        (
            golden!("q4_k", quantize_row_q4_k, dequantize_row_q4_k, Q4_K_BYTES),
            GgmlType::Q4_K,
            0.095,
        ),
        (
            golden!("q5_k", quantize_row_q5_k, dequantize_row_q5_k, Q5_K_BYTES),
            GgmlType::Q5_K,
            0.047,
        ),
        (
            golden!("q6_k", quantize_row_q6_k, dequantize_row_q6_k, Q6_K_BYTES),
            GgmlType::Q6_K,
            0.023,
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
fn nearest_int_rounds_half_to_even() {
    assert_eq!(nearest_int(0.5), 0);
    assert_eq!(nearest_int(1.5), 2);
    assert_eq!(nearest_int(2.5), 2);
    assert_eq!(nearest_int(-0.5), 0);
    assert_eq!(nearest_int(-1.5), -2);
    assert_eq!(nearest_int(-2.5), -2);
    assert_eq!(nearest_int(2.49), 2);
    assert_eq!(nearest_int(-31.7), -32);
    assert_eq!(nearest_int(f32::NAN), 0);
}

#[test]
fn scale_min_packing_roundtrips() {
    let ls = [0, 63, 17, 42, 5, 63, 33, 1];
    let lm = [63, 0, 9, 40, 62, 31, 32, 16];
    let p = pack_scale_min_k4(&ls, &lm);
    for j in 0..8 {
        assert_eq!(scale_min_k4(j, &p), (ls[j], lm[j]), "sub-block {j}");
    }
}
