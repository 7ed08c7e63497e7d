//! ggml's "i-quants": IQ4_NL, IQ4_XS, IQ3_S, IQ3_XXS, IQ2_S, IQ2_XS, IQ2_XXS, IQ1_S, IQ1_M.
//! Bit-exact ports of the quantizers `llama-quantize` runs (`quantize_iq*` in ggml-quants.c,
//! with or without an importance matrix), their lattice grids, the neighbour tables ggml
//! builds at start-up (built here once, on first use), and the decoders.
//!
//! Every quantizer has the shape `fn(x, qw, out)`: one row `x` (a whole number of blocks),
//! `qw` the importance of each column of the row (`None` without an imatrix), `out` exactly
//! the row's bytes. Float operations follow the reference order (no fused multiply-add).

pub mod grids;
pub mod iq1;
pub mod iq2;
pub mod iq3;
pub mod iq4;
mod lattice;

use super::float::{f16_bits_to_f32, f32_to_f16_bits};
use crate::gguf::GgmlType;

/// Groups whose largest magnitude is below this are treated as all zero (most types).
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

pub(crate) use super::kquants::nearest_int;

/// A row quantizer taking optional importance weights (one per element of the row).
pub type WeightedQuantizeFn = fn(&[f32], Option<&[f32]>, &mut [u8]);

/// The weighted quantizer of an IQ type, `None` for every other type.
pub fn weighted_quantizer(ty: GgmlType) -> Option<WeightedQuantizeFn> {
    Some(match ty {
        GgmlType::IQ4_NL => iq4::quantize_iq4_nl,
        GgmlType::IQ4_XS => iq4::quantize_iq4_xs,
        GgmlType::IQ3_S => iq3::quantize_iq3_s,
        GgmlType::IQ3_XXS => iq3::quantize_iq3_xxs,
        GgmlType::IQ2_S => iq2::quantize_iq2_s,
        GgmlType::IQ2_XS => iq2::quantize_iq2_xs,
        GgmlType::IQ2_XXS => iq2::quantize_iq2_xxs,
        GgmlType::IQ1_S => iq1::quantize_iq1_s,
        GgmlType::IQ1_M => iq1::quantize_iq1_m,
        _ => return None,
    })
}

/// f32 → IEEE half bits (ggml's `GGML_FP32_TO_FP16`, round to nearest even).
#[inline(always)]
pub(crate) fn f16_bits(v: f32) -> u16 {
    f32_to_f16_bits(v)
}

/// The f16 at the start of `src` (little-endian) as f32.
#[inline(always)]
pub(crate) fn get_f16(src: &[u8]) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([src[0], src[1]]))
}

/// ggml's `best_index_int8`: the index of the level of `val` (increasing) nearest to `x`
/// (the upper one on ties; the last one for NaN).
#[inline(always)]
pub(crate) fn best_index_int8(val: &[i8], x: f32) -> usize {
    let n = val.len();
    if x <= val[0] as f32 {
        return 0;
    }
    if x >= val[n - 1] as f32 {
        return n - 1;
    }
    let (mut ml, mut mu) = (0usize, n - 1);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < val[mav] as f32 {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - (val[mu - 1] as f32) < val[mu] as f32 - x {
        mu - 1
    } else {
        mu
    }
}

/// Checks a row call: `n` elements in whole blocks of `block`, `qw` of the same length, and
/// `nout` bytes for them.
#[inline(always)]
pub(crate) fn check_row(n: usize, qw: Option<&[f32]>, nout: usize, block: usize, bytes: usize) {
    assert!(
        n.is_multiple_of(block),
        "row length {n} is not a multiple of {block}"
    );
    assert_eq!(
        nout,
        n / block * bytes,
        "output size does not match the row length"
    );
    if let Some(w) = qw {
        assert_eq!(w.len(), n, "importance weights do not match the row length");
    }
}

#[cfg(test)]
mod tests;
