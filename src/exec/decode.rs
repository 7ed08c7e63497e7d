//! Source decoders: checkpoint bytes to f32 values, per [`Decoder`].

use super::Scratch;
use crate::arch::{Decoder, Source};
use crate::checkpoint::safetensors::{Checkpoint, Dtype};
use crate::quant::float;
use crate::{Error, Result};

/// Reads rows `row0..row0+nrows` of a checkpoint tensor (row = its last dimension) and
/// decodes them to f32, applying the FP8 block scale when there is one.
pub(super) fn read_rows(
    ck: &Checkpoint,
    src: &Source,
    row0: u64,
    nrows: u64,
    out: &mut [f32],
    sc: &mut Scratch,
    drop_cache: bool,
) -> Result<()> {
    if let Decoder::PackedInt { .. } = src.decoder {
        return super::packed::read_rows(ck, src, row0, nrows, out, sc, drop_cache);
    }
    if let Decoder::Fp4Block { scale } = src.decoder {
        return super::direct::read_fp4_rows(ck, src, scale, row0, nrows, out, sc, drop_cache);
    }
    let t = &ck.tensors[src.tensor];
    let shard = ck.shard_of(t);
    let cols = super::ops::row_len(ck, src) as u64;
    let bpe = t.dtype.bits().unwrap_or(8) / 8;
    let pos = t.start + row0 * cols * bpe;
    let len = (nrows * cols * bpe) as usize;
    super::grow(&mut sc.bytes, len, 0, "source bytes")?;
    shard.read_tensor_at(Some(&t.name), &mut sc.bytes, pos)?;
    if drop_cache {
        shard.dont_need(pos, len as u64);
    }
    let b = &sc.bytes;
    debug_assert_eq!(out.len(), (nrows * cols) as usize);
    match t.dtype {
        Dtype::F32 | Dtype::BF16 | Dtype::F16 if src.decoder == Decoder::Float => {
            decode_floats(&t.dtype, b, out);
        }
        Dtype::Other(_) if src.decoder == Decoder::Int => {
            if !super::direct::decode_ints(&t.dtype, b, out) {
                return Err(Error::bad_tensor(
                    &shard.path,
                    &t.name,
                    format!("dtype {} is not an integer type", t.dtype.name()),
                ));
            }
        }
        Dtype::F8E4M3 => {
            let Decoder::Fp8Block {
                scale: si,
                rows,
                cols: bcols,
            } = src.decoder
            else {
                return Err(Error::bad_tensor(
                    &shard.path,
                    &t.name,
                    "FP8 weight without a scale",
                ));
            };
            let s = &ck.tensors[si];
            let block = (rows, bcols);
            let scols = s.shape[1];
            let sr0 = row0 / block.0;
            let sr1 = (row0 + nrows).div_ceil(block.0);
            let sbpe = s.dtype.bits().unwrap_or(8) / 8;
            let slen = ((sr1 - sr0) * scols * sbpe) as usize;
            super::grow(&mut sc.scale_bytes, slen, 0, "scale bytes")?;
            ck.shard_of(s).read_tensor_at(
                Some(&s.name),
                &mut sc.scale_bytes,
                s.start + sr0 * scols * sbpe,
            )?;
            super::grow(
                &mut sc.scales,
                ((sr1 - sr0) * scols) as usize,
                0.0,
                "scales",
            )?;
            let sb = &sc.scale_bytes;
            if !decode_floats(&s.dtype, sb, &mut sc.scales) {
                return Err(Error::bad_tensor(
                    &ck.shard_of(s).path,
                    &s.name,
                    "unsupported scale dtype",
                ));
            }
            let cols_u = cols as usize;
            let bc = block.1 as usize;
            for (ri, (orow, brow)) in out
                .chunks_exact_mut(cols_u)
                .zip(b.chunks_exact(cols_u))
                .enumerate()
            {
                let srow = ((row0 + ri as u64) / block.0 - sr0) as usize;
                let scales = &sc.scales[srow * scols as usize..(srow + 1) * scols as usize];
                float::fp8_block_row(brow, scales, bc, orow);
            }
        }
        _ => {
            return Err(Error::bad_tensor(
                &shard.path,
                &t.name,
                format!("dtype {} cannot be converted", t.dtype.name()),
            ));
        }
    }
    Ok(())
}

/// Decodes little-endian F32, BF16, F16 or E8M0 values; false for any other dtype.
pub(super) fn decode_floats(dtype: &Dtype, bytes: &[u8], out: &mut [f32]) -> bool {
    match dtype {
        Dtype::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Dtype::BF16 => float::bf16_bytes_to_f32(bytes, out),
        Dtype::F16 => float::f16_bytes_to_f32(bytes, out),
        Dtype::F8E8M0 => {
            for (o, c) in out.iter_mut().zip(bytes) {
                *o = float::e8m0_to_f32(*c);
            }
        }
        _ => return false,
    }
    true
}
