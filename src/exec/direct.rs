//! Sources that are not float values: FP4 e2m1 weights with E8M0 scales (decoded to f32, or
//! repacked into MXFP4 blocks without any float round trip) and integer tables (written to I32
//! outputs as they are).

use super::Scratch;
use super::ops::row_segments;
use crate::Error;
use crate::Result;
use crate::arch::{Decoder, Source};
use crate::checkpoint::safetensors::{Checkpoint, Dtype};
use crate::gguf::GgmlType;
use crate::plan::PlannedTensor;
use crate::quant::mxfp4;

/// Reads the packed codes and scale bytes of rows `row0..row0+nrows` of an FP4 source into
/// `sc.bytes` and `sc.scale_bytes`; returns the row length in elements.
fn read_fp4(
    ck: &Checkpoint,
    src: &Source,
    scale: usize,
    row0: u64,
    nrows: u64,
    sc: &mut Scratch,
    drop_cache: bool,
) -> Result<usize> {
    let t = &ck.tensors[src.tensor];
    let s = &ck.tensors[scale];
    let half = *t.shape.last().unwrap_or(&0);
    let cols = half * 2;
    let nsc = cols / 32;
    let pos = t.start + row0 * half;
    let len = (nrows * half) as usize;
    super::grow(&mut sc.bytes, len, 0, "source bytes")?;
    let shard = ck.shard_of(t);
    shard.read_tensor_at(Some(&t.name), &mut sc.bytes, pos)?;
    let spos = s.start + row0 * nsc;
    let slen = (nrows * nsc) as usize;
    super::grow(&mut sc.scale_bytes, slen, 0, "scale bytes")?;
    let sshard = ck.shard_of(s);
    sshard.read_tensor_at(Some(&s.name), &mut sc.scale_bytes, spos)?;
    if drop_cache {
        shard.dont_need(pos, len as u64);
        sshard.dont_need(spos, slen as u64);
    }
    Ok(cols as usize)
}

/// Decodes rows of an FP4 source to f32 (the values of the MXFP4 blocks it repacks into).
#[allow(clippy::too_many_arguments)]
pub(super) fn read_fp4_rows(
    ck: &Checkpoint,
    src: &Source,
    scale: usize,
    row0: u64,
    nrows: u64,
    out: &mut [f32],
    sc: &mut Scratch,
    drop_cache: bool,
) -> Result<()> {
    let cols = read_fp4(ck, src, scale, row0, nrows, sc, drop_cache)?;
    if cols == 0 {
        return Ok(());
    }
    for ((p, e), o) in sc
        .bytes
        .chunks_exact(cols / 2)
        .zip(sc.scale_bytes.chunks_exact(cols / 32))
        .zip(out.chunks_exact_mut(cols))
    {
        mxfp4::fp4_row_to_f32(p, e, o);
    }
    Ok(())
}

/// Decodes integer elements (I32, I64) to f32; false for other dtypes.
pub(super) fn decode_ints(dtype: &Dtype, bytes: &[u8], out: &mut [f32]) -> bool {
    match dtype.name() {
        "I32" => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32;
            }
        }
        "I64" => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                *o = i64::from_le_bytes(b) as f32;
            }
        }
        _ => return false,
    }
    true
}

/// Fills `out` with output rows made straight from source bytes: MXFP4 from FP4 sources
/// (repacked), I32 from integer sources (I64 narrowed as a two's-complement cast). False when
/// the tensor is not such a case.
pub(super) fn direct_rows(
    ck: &Checkpoint,
    t: &PlannedTensor,
    row0: u64,
    nrows: u64,
    out: &mut Vec<u8>,
    sc: &mut Scratch,
    drop_cache: bool,
) -> Result<bool> {
    let segs = row_segments(t, row0, nrows);
    if segs.is_empty() {
        return Ok(false);
    }
    let ne0 = t.info.ne[0];
    match t.info.ty {
        GgmlType::MXFP4
            if segs
                .iter()
                .all(|(s, _, _)| matches!(s.decoder, Decoder::Fp4Block { .. })) =>
        {
            let row_bytes = (ne0 / 32 * 17) as usize;
            out.clear();
            super::grow(out, row_bytes * nrows as usize, 0, "repacked rows")?;
            let mut o = 0usize;
            for (src, r, n) in segs {
                let Decoder::Fp4Block { scale } = src.decoder else {
                    unreachable!("checked above")
                };
                let cols = read_fp4(ck, src, scale, r, n, sc, drop_cache)?;
                if cols as u64 != ne0 {
                    let e = &ck.tensors[src.tensor];
                    return Err(Error::bad_tensor(
                        &ck.shard_of(e).path,
                        &e.name,
                        format!("FP4 rows of {cols} elements for an output row of {ne0}"),
                    ));
                }
                for ((p, e), ob) in sc
                    .bytes
                    .chunks_exact(cols / 2)
                    .zip(sc.scale_bytes.chunks_exact(cols / 32))
                    .zip(out[o..o + n as usize * row_bytes].chunks_exact_mut(row_bytes))
                {
                    mxfp4::repack_fp4_row(p, e, ob);
                }
                o += n as usize * row_bytes;
            }
            Ok(true)
        }
        GgmlType::I32 if segs.iter().all(|(s, _, _)| s.decoder == Decoder::Int) => {
            out.clear();
            super::grow(out, (ne0 * nrows * 4) as usize, 0, "integer rows")?;
            let mut o = 0usize;
            for (src, r, n) in segs {
                let e = &ck.tensors[src.tensor];
                let shard = ck.shard_of(e);
                let bpe = e.dtype.bits().unwrap_or(32) / 8;
                let pos = e.start + r * ne0 * bpe;
                let len = (n * ne0 * bpe) as usize;
                super::grow(&mut sc.bytes, len, 0, "source bytes")?;
                shard.read_tensor_at(Some(&e.name), &mut sc.bytes, pos)?;
                if drop_cache {
                    shard.dont_need(pos, len as u64);
                }
                let dst = &mut out[o..o + (n * ne0 * 4) as usize];
                match bpe {
                    4 => dst.copy_from_slice(&sc.bytes[..len]),
                    8 => {
                        for (d, c) in dst.chunks_exact_mut(4).zip(sc.bytes.chunks_exact(8)) {
                            d.copy_from_slice(&c[..4]); // little-endian low half: int64 → int32 wrap
                        }
                    }
                    _ => {
                        return Err(Error::bad_tensor(
                            &shard.path,
                            &e.name,
                            format!("dtype {} cannot be written as I32", e.dtype.name()),
                        ));
                    }
                }
                o += dst.len();
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}
