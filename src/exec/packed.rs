//! compressed-tensors `pack-quantized` INT4 weights: decoding rows to f32 exactly as
//! llama.cpp's converter does (`(q − 8) · f32(scale)` in f32, low bits first along the input
//! dimension), and the lossless repack of symmetric 32-wide groups into Q4_0 blocks (the group
//! scale becomes the block's f16 `d`, the stored 4-bit values become its nibbles).

use super::Scratch;
use crate::arch::{Decoder, Recipe, Source};
use crate::checkpoint::safetensors::Checkpoint;
use crate::gguf::GgmlType;
use crate::plan::PlannedTensor;
use crate::quant::float;
use crate::{Error, Result};
use std::sync::Mutex;

/// The packed layout of a source, when it is a compressed-tensors packed weight:
/// `(scale tensor, bits, group, cols)`.
fn layout(src: &Source) -> Option<(usize, u32, u64, u64)> {
    match src.decoder {
        Decoder::PackedInt {
            scale,
            bits,
            group,
            cols,
            ..
        } => Some((scale, bits, group, cols)),
        _ => None,
    }
}

/// Reads the packed words and the scales of rows `row0..row0+nrows` into `sc.bytes` and
/// `sc.scales`; returns the words per row.
fn read_band(
    ck: &Checkpoint,
    src: &Source,
    row0: u64,
    nrows: u64,
    sc: &mut Scratch,
    drop_cache: bool,
) -> Result<u64> {
    let Some((si, _, _, _)) = layout(src) else {
        return Err(Error::Unsupported("not a packed INT4 source".into()));
    };
    let t = &ck.tensors[src.tensor];
    let shard = ck.shard_of(t);
    let words = t.shape[1];
    let pos = t.start + row0 * words * 4;
    let len = (nrows * words * 4) as usize;
    super::grow(&mut sc.bytes, len, 0, "packed INT4 words")?;
    shard.read_tensor_at(Some(&t.name), &mut sc.bytes, pos)?;
    if drop_cache {
        shard.dont_need(pos, len as u64);
    }
    let s = &ck.tensors[si];
    let scols = s.shape[1];
    let sbpe = s.dtype.bits().unwrap_or(16) / 8;
    let slen = (nrows * scols * sbpe) as usize;
    super::grow(&mut sc.scale_bytes, slen, 0, "INT4 scale bytes")?;
    ck.shard_of(s).read_tensor_at(
        Some(&s.name),
        &mut sc.scale_bytes,
        s.start + row0 * scols * sbpe,
    )?;
    super::grow(&mut sc.scales, (nrows * scols) as usize, 0.0, "INT4 scales")?;
    if !super::decode::decode_floats(&s.dtype, &sc.scale_bytes, &mut sc.scales) {
        return Err(Error::bad_tensor(
            &ck.shard_of(s).path,
            &s.name,
            "unsupported scale dtype",
        ));
    }
    Ok(words)
}

/// The stored (unsigned) `bits`-bit value `k` of a little-endian I32 word.
#[inline]
fn unpack(word: i32, bits: u32, k: u32) -> i32 {
    (word >> (bits * k)) & ((1 << bits) - 1)
}

/// Decodes rows `row0..row0+nrows` of a packed source into `out` (`cols` values per row).
pub(super) fn read_rows(
    ck: &Checkpoint,
    src: &Source,
    row0: u64,
    nrows: u64,
    out: &mut [f32],
    sc: &mut Scratch,
    drop_cache: bool,
) -> Result<()> {
    let Some((_, bits, group, cols)) = layout(src) else {
        return Err(Error::Unsupported("not a packed INT4 source".into()));
    };
    let words = read_band(ck, src, row0, nrows, sc, drop_cache)? as usize;
    let (cols, group) = (cols as usize, group as usize);
    let per_word = (32 / bits) as usize;
    let scols = cols / group;
    let zeros = match zero_of(src) {
        Some(zi) => Some(read_zero_points(ck, zi, bits, row0, nrows)?),
        None => None,
    };
    for r in 0..nrows as usize {
        let wrow = &sc.bytes[r * words * 4..(r + 1) * words * 4];
        let srow = &sc.scales[r * scols..(r + 1) * scols];
        let orow = &mut out[r * cols..(r + 1) * cols];
        for (c, o) in orow.iter_mut().enumerate() {
            let j = c / per_word;
            let w = i32::from_le_bytes([
                wrow[4 * j],
                wrow[4 * j + 1],
                wrow[4 * j + 2],
                wrow[4 * j + 3],
            ]);
            let offset = match &zeros {
                Some(z) => z[r * scols + c / group],
                None => 1i32 << (bits - 1),
            };
            let q = unpack(w, bits, (c % per_word) as u32) - offset;
            *o = q as f32 * srow[c / group];
        }
    }
    Ok(())
}

/// The zero-point tensor of a packed source, if it has one.
fn zero_of(src: &Source) -> Option<usize> {
    match src.decoder {
        Decoder::PackedInt { zero, .. } => zero,
        _ => None,
    }
}

/// The zero points of rows `row0..row0+nrows` (one per row and group), unpacked from the
/// row-packed I32 tensor `zi`.
fn read_zero_points(
    ck: &Checkpoint,
    zi: usize,
    bits: u32,
    row0: u64,
    nrows: u64,
) -> Result<Vec<i32>> {
    let z = &ck.tensors[zi];
    let per_word = (32 / bits) as u64;
    let g = z.shape[1];
    let (p0, p1) = (row0 / per_word, (row0 + nrows).div_ceil(per_word));
    let mut bytes = Vec::new();
    super::grow(
        &mut bytes,
        ((p1 - p0) * g * 4) as usize,
        0,
        "INT4 zero points",
    )?;
    ck.shard_of(z)
        .read_tensor_at(Some(&z.name), &mut bytes, z.start + p0 * g * 4)?;
    let mut out = Vec::with_capacity((nrows * g) as usize);
    for r in row0..row0 + nrows {
        let p = (r / per_word - p0) as usize;
        for c in 0..g as usize {
            let i = (p * g as usize + c) * 4;
            let w = i32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
            out.push(unpack(w, bits, (r % per_word) as u32));
        }
    }
    Ok(out)
}

/// True when every source of `t` is a symmetric 4-bit, 32-wide packed weight and `t` is
/// written as Q4_0 by explicit request: its blocks are then the checkpoint's groups, repacked
/// without rounding.
pub fn repacks_to_q4_0(t: &PlannedTensor) -> bool {
    t.info.ty == GgmlType::Q4_0
        && t.explicit_q4_0
        && matches!(t.recipe, Recipe::Rows(_) | Recipe::Stack(_))
        && t.recipe.sources().iter().all(|s| {
            zero_of(s).is_none()
                && matches!(layout(s), Some((_, 4, 32, cols)) if cols == t.info.ne[0])
        })
}

/// Scales met while repacking that f16 cannot hold exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ScaleLoss {
    /// Scales seen.
    pub scales: u64,
    /// Scales whose f16 value differs from the checkpoint's.
    pub inexact: u64,
    /// Largest relative error `|f16(s) − s| / |s|` among them (infinite for a scale that
    /// overflows f16; 1 for one that flushes to zero).
    pub worst_rel: f64,
}

impl ScaleLoss {
    /// Counts one scale.
    pub fn add(&mut self, s: f32) {
        self.scales += 1;
        let h = float::f16_bits_to_f32(float::f32_to_f16_bits(s));
        if h.to_bits() != s.to_bits() && !(h.is_nan() && s.is_nan()) {
            self.inexact += 1;
            let rel = if s == 0.0 {
                f64::INFINITY
            } else {
                ((h as f64 - s as f64) / s as f64).abs()
            };
            if rel > self.worst_rel || rel.is_nan() {
                self.worst_rel = rel;
            }
        }
    }

    /// Adds another tally.
    pub fn merge(&mut self, o: &ScaleLoss) {
        self.scales += o.scales;
        self.inexact += o.inexact;
        if o.worst_rel > self.worst_rel {
            self.worst_rel = o.worst_rel;
        }
    }
}

/// Writes rows `row0..row0+nrows` of a repacked tensor (see [`repacks_to_q4_0`]) as Q4_0
/// blocks: `d` = f16 of the group scale, `qs[j] = u[j] | u[j+16] << 4` with `u` the stored
/// unsigned 4-bit values (`q + 8`). Returns false when the tensor is not repacked.
#[allow(clippy::too_many_arguments)]
pub(super) fn repack_rows(
    ck: &Checkpoint,
    t: &PlannedTensor,
    row0: u64,
    nrows: u64,
    out: &mut Vec<u8>,
    sc: &mut Scratch,
    drop_cache: bool,
    tally: &Mutex<ScaleLoss>,
) -> Result<bool> {
    if !repacks_to_q4_0(t) {
        return Ok(false);
    }
    let ne0 = t.info.ne[0];
    let row_bytes = (ne0 / 32 * 18) as usize;
    out.clear();
    super::grow(out, row_bytes * nrows as usize, 0, "repacked rows")?;
    let rpe = t.info.ne[1];
    let mut loss = ScaleLoss::default();
    let (mut r, end) = (row0, row0 + nrows);
    let mut o = 0usize;
    while r < end {
        let (src, within, n) = match &t.recipe {
            Recipe::Rows(s) => (s, r, end - r),
            Recipe::Stack(v) => {
                let within = r % rpe;
                (&v[(r / rpe) as usize], within, (rpe - within).min(end - r))
            }
            _ => return Ok(false),
        };
        let words = read_band(ck, src, within, n, sc, drop_cache)? as usize;
        let groups = (ne0 / 32) as usize;
        for i in 0..n as usize {
            let wrow = &sc.bytes[i * words * 4..(i + 1) * words * 4];
            let srow = &sc.scales[i * groups..(i + 1) * groups];
            let orow = &mut out[o..o + row_bytes];
            for g in 0..groups {
                loss.add(srow[g]);
                let d = float::f32_to_f16_bits(srow[g]);
                let blk = &mut orow[g * 18..(g + 1) * 18];
                blk[..2].copy_from_slice(&d.to_le_bytes());
                // the group's 32 values are words 4g..4g+4, 8 nibbles each, low first
                let u = |c: usize| -> u8 {
                    let j = g * 4 + c / 8;
                    let w = i32::from_le_bytes([
                        wrow[4 * j],
                        wrow[4 * j + 1],
                        wrow[4 * j + 2],
                        wrow[4 * j + 3],
                    ]);
                    unpack(w, 4, (c % 8) as u32) as u8
                };
                for j in 0..16 {
                    blk[2 + j] = u(j) | (u(j + 16) << 4);
                }
            }
            o += row_bytes;
        }
        r += n;
    }
    tally.lock().unwrap_or_else(|e| e.into_inner()).merge(&loss);
    Ok(true)
}

/// The f16 exactness of every scale of a repacked tensor, read from the checkpoint (the scales
/// are 1/16 of the packed data).
pub fn scan_scales(ck: &Checkpoint, t: &PlannedTensor) -> Result<ScaleLoss> {
    let mut loss = ScaleLoss::default();
    let mut bytes = Vec::new();
    let mut vals = Vec::new();
    for src in t.recipe.sources() {
        let Some((si, ..)) = layout(src) else {
            continue;
        };
        let s = &ck.tensors[si];
        let n = s.n_elements();
        let sbpe = s.dtype.bits().unwrap_or(16) / 8;
        super::grow(&mut bytes, (n * sbpe) as usize, 0, "INT4 scale bytes")?;
        ck.shard_of(s)
            .read_tensor_at(Some(&s.name), &mut bytes, s.start)?;
        super::grow(&mut vals, n as usize, 0.0, "INT4 scales")?;
        if !super::decode::decode_floats(&s.dtype, &bytes, &mut vals) {
            return Err(Error::bad_tensor(
                &ck.shard_of(s).path,
                &s.name,
                "unsupported scale dtype",
            ));
        }
        for &v in &vals {
            loss.add(v);
        }
    }
    Ok(loss)
}

/// Bytes of scale data a repacked tensor's sources hold.
pub fn scale_bytes(ck: &Checkpoint, t: &PlannedTensor) -> u64 {
    t.recipe
        .sources()
        .iter()
        .filter_map(|s| layout(s))
        .map(|(si, ..)| {
            let s = &ck.tensors[si];
            s.n_elements() * s.dtype.bits().unwrap_or(16) / 8
        })
        .sum()
}
