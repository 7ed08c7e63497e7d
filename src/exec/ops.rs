//! The recipe operations: which source rows make up a band of output rows, copied straight
//! from the source bytes when nothing changes, or decoded, gathered, transposed and joined.

use super::Scratch;
use super::decode::read_rows;
use crate::Result;
use crate::arch::{Decoder, Recipe, Source};
use crate::checkpoint::safetensors::{Checkpoint, Dtype};
use crate::gguf::GgmlType;
use crate::plan::PlannedTensor;

/// Contiguous runs of source rows that make up output rows `row0..row0+nrows`, for recipes in
/// which every output row is one source row: `(source, first source row, row count)` in
/// output order. Empty for the other recipes.
pub(super) fn row_segments(t: &PlannedTensor, row0: u64, nrows: u64) -> Vec<(&Source, u64, u64)> {
    let mut segs = Vec::new();
    let end = row0 + nrows;
    let mut r = row0;
    match &t.recipe {
        Recipe::Rows(src) => segs.push((src, row0, nrows)),
        Recipe::Stack(refs) => {
            let rpe = t.info.ne[1];
            while r < end {
                let within = r % rpe;
                let n = (rpe - within).min(end - r);
                segs.push((&refs[(r / rpe) as usize], within, n));
                r += n;
            }
        }
        Recipe::GatherRows {
            src,
            period,
            offset,
            take,
        } => {
            while r < end {
                let (g, j) = (r / take, r % take);
                let n = (take - j).min(end - r);
                segs.push((src, g * period + offset + j, n));
                r += n;
            }
        }
        Recipe::TransposeGroups { .. } | Recipe::Concat(_) => {}
    }
    segs
}

/// Copies output rows straight from the source bytes when the output type is the source's
/// own 16/32-bit type and no value changes (no FP8 scale, no bf16 rounding, no transpose).
/// bf16 NaNs are left to the decoding path, which quiets them as llama.cpp does. Returns
/// false when the fast path does not apply.
pub(super) fn copy_raw_rows(
    ck: &Checkpoint,
    t: &PlannedTensor,
    row0: u64,
    nrows: u64,
    out: &mut Vec<u8>,
    drop_cache: bool,
) -> Result<bool> {
    if t.round_bf16 || matches!(t.recipe, Recipe::TransposeGroups { .. } | Recipe::Concat(_)) {
        return Ok(false);
    }
    let segs = row_segments(t, row0, nrows);
    let same = |s: &Source| {
        let e = &ck.tensors[s.tensor];
        s.decoder == Decoder::Float
            && matches!(
                (&e.dtype, t.info.ty),
                (Dtype::F32, GgmlType::F32)
                    | (Dtype::F16, GgmlType::F16)
                    | (Dtype::BF16, GgmlType::BF16)
            )
    };
    if !segs.iter().all(|(s, _, _)| same(s)) {
        return Ok(false);
    }
    let row_bytes = t.info.ty.row_bytes(t.info.ne[0]).unwrap_or(0) as usize;
    out.clear();
    super::grow(out, row_bytes * nrows as usize, 0, "copied rows")?;
    let mut o = 0usize;
    for (src, r, n) in segs {
        let e = &ck.tensors[src.tensor];
        let shard = ck.shard_of(e);
        let len = n as usize * row_bytes;
        let pos = e.start + r * row_bytes as u64;
        shard.read_tensor_at(Some(&e.name), &mut out[o..o + len], pos)?;
        if drop_cache {
            shard.dont_need(pos, len as u64);
        }
        o += len;
    }
    if t.info.ty == GgmlType::BF16
        && out
            .chunks_exact(2)
            .any(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7fff > 0x7f80)
    {
        return Ok(false);
    }
    Ok(true)
}

/// Decodes output rows `row0..row0+nrows` of `t` into `out` (f32, row-major).
pub(super) fn fill_rows(
    ck: &Checkpoint,
    t: &PlannedTensor,
    row0: u64,
    nrows: u64,
    out: &mut [f32],
    sc: &mut Scratch,
    drop_cache: bool,
) -> Result<()> {
    let ne0 = t.info.ne[0] as usize;
    match &t.recipe {
        Recipe::Rows(_) | Recipe::Stack(_) | Recipe::GatherRows { .. } => {
            let mut o = 0usize;
            for (src, r, n) in row_segments(t, row0, nrows) {
                let len = n as usize * ne0;
                read_rows(ck, src, r, n, &mut out[o..o + len], sc, drop_cache)?;
                o += len;
            }
            Ok(())
        }
        Recipe::TransposeGroups {
            src,
            period,
            offset,
            take,
            cols,
        } => {
            let (take_u, cols_u) = (*take as usize, *cols as usize);
            debug_assert_eq!(row0 % cols, 0);
            let mut tmp = std::mem::take(&mut sc.tmp);
            super::grow(&mut tmp, take_u * cols_u, 0.0, "a transposed group")?;
            for (k, g) in (row0 / cols..(row0 + nrows) / cols).enumerate() {
                read_rows(
                    ck,
                    src,
                    g * period + offset,
                    *take,
                    &mut tmp,
                    sc,
                    drop_cache,
                )?;
                let dst = &mut out[k * cols_u * take_u..(k + 1) * cols_u * take_u];
                for c in 0..cols_u {
                    for d in 0..take_u {
                        dst[c * take_u + d] = tmp[d * cols_u + c];
                    }
                }
            }
            sc.tmp = tmp;
            Ok(())
        }
        Recipe::Concat(parts) => {
            let mut tmp = std::mem::take(&mut sc.tmp);
            let mut col = 0usize;
            for src in parts {
                let width = row_len(ck, src);
                super::grow(&mut tmp, width * nrows as usize, 0.0, "joined rows")?;
                read_rows(ck, src, row0, nrows, &mut tmp, sc, drop_cache)?;
                for (orow, srow) in out.chunks_exact_mut(ne0).zip(tmp.chunks_exact(width)) {
                    orow[col..col + width].copy_from_slice(srow);
                }
                col += width;
            }
            sc.tmp = tmp;
            Ok(())
        }
    }
}

/// Elements per row of a checkpoint tensor (its last dimension; a 1-D tensor is one row).
pub(super) fn row_len(ck: &Checkpoint, src: &Source) -> usize {
    if let Decoder::PackedInt { cols, .. } = src.decoder {
        return cols as usize;
    }
    let t = &ck.tensors[src.tensor];
    if matches!(src.decoder, Decoder::Fp4Block { .. }) {
        // two FP4 codes per stored byte
        return 2 * *t.shape.last().unwrap_or(&0) as usize;
    }
    if t.shape.len() <= 1 {
        t.n_elements() as usize
    } else {
        *t.shape.last().unwrap_or(&1) as usize
    }
}
