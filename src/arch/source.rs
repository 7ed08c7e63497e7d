//! Turning a checkpoint tensor into a [`Source`]: its dtype is checked and the decoder chosen
//! (plain float, or FP8 with its block-scale tensor found and checked). Shared by every
//! architecture that reads Hugging Face float or block-FP8 checkpoints.

use super::recipe::{Decoder, Source};
use crate::checkpoint::config::PackedIntConfig;
use crate::checkpoint::safetensors::{Checkpoint, Dtype};
use crate::{Error, Result};

/// True for the tensors that carry FP8 scales or activation scales rather than weights.
pub fn is_aux_name(name: &str) -> bool {
    name.ends_with("_scale_inv")
        || name.ends_with(".weight_scale")
        || name.ends_with(".input_scale")
        || name.ends_with(".activation_scale")
        || name.ends_with("_activation_scale")
        || name.ends_with(".weight_shape")
        || name.ends_with(".weight_zero_point")
}

/// The weight name a compressed-tensors `X.weight_packed` tensor stands for (`X.weight`).
pub fn packed_weight_name(name: &str) -> Option<String> {
    name.strip_suffix("_packed")
        .filter(|b| b.ends_with(".weight"))
        .map(str::to_string)
}

/// Checks a compressed-tensors `X.weight_packed` tensor (I32 `[rows, words]`) against its
/// `X.weight_scale` (`[rows, cols / group]`, F32/BF16/F16) and `X.weight_shape` (two integers,
/// read from the file: 16 bytes) and its optional `X.weight_zero_point` (I32, packed along the
/// rows), and returns its source with the logical shape `[rows, cols]`.
pub fn packed_int(ck: &Checkpoint, idx: usize, q: &PackedIntConfig) -> Result<(Source, Vec<u64>)> {
    let t = &ck.tensors[idx];
    let path = &ck.shards[t.shard].path;
    let base = t.name.trim_end_matches("_packed");
    let bad = |p: &std::path::Path, n: &str, m: String| Err(Error::bad_tensor(p, n, m));
    if t.dtype.name() != "I32" || t.shape.len() != 2 {
        return bad(
            path,
            &t.name,
            format!(
                "expected I32 words [rows, words], found {} {:?}",
                t.dtype.name(),
                t.shape
            ),
        );
    }
    let shape_name = format!("{base}_shape");
    let Some(si) = ck.index_of(&shape_name) else {
        return bad(path, &t.name, format!("has no '{shape_name}' tensor"));
    };
    let shape = read_small_ints(ck, si)?;
    let spath = &ck.shards[ck.tensors[si].shard].path;
    let (rows, cols) = match shape.as_slice() {
        &[r, c] if r > 0 && c > 0 => (r as u64, c as u64),
        _ => {
            return bad(
                spath,
                &shape_name,
                format!("expected two positive integers, found {shape:?}"),
            );
        }
    };
    let per_word = (32 / q.bits) as u64;
    if t.shape[0] != rows || t.shape[1] * per_word < cols {
        return bad(
            path,
            &t.name,
            format!(
                "shape {:?} cannot hold a [{rows}, {cols}] weight ({per_word} values per word)",
                t.shape
            ),
        );
    }
    if !cols.is_multiple_of(q.group) {
        return bad(
            path,
            &t.name,
            format!(
                "{cols} inputs are not a whole number of groups of {}",
                q.group
            ),
        );
    }
    let scale_name = format!("{base}_scale");
    let Some(sc) = ck.index_of(&scale_name) else {
        return bad(path, &t.name, format!("has no '{scale_name}' tensor"));
    };
    let zero = ck.index_of(&format!("{base}_zero_point"));
    if let Some(zi) = zero {
        let z = &ck.tensors[zi];
        let want = vec![rows.div_ceil(per_word), cols / q.group];
        if z.dtype.name() != "I32" || z.shape != want {
            return bad(
                &ck.shards[z.shard].path,
                &z.name,
                format!(
                    "expected I32 zero points packed along the rows, shape {want:?}; found {} {:?}",
                    z.dtype.name(),
                    z.shape
                ),
            );
        }
    }
    let s = &ck.tensors[sc];
    let want = vec![rows, cols / q.group];
    if s.shape != want || !matches!(s.dtype, Dtype::F32 | Dtype::BF16 | Dtype::F16) {
        return bad(
            &ck.shards[s.shard].path,
            &s.name,
            format!(
                "expected F32/BF16/F16 scales of shape {want:?}, found {} {:?}",
                s.dtype.name(),
                s.shape
            ),
        );
    }
    Ok((
        Source {
            tensor: idx,
            decoder: Decoder::PackedInt {
                scale: sc,
                zero,
                bits: q.bits,
                group: q.group,
                cols,
            },
        },
        vec![rows, cols],
    ))
}

/// The values of a tiny I64/I32 tensor (at most 16 elements), read from the file.
fn read_small_ints(ck: &Checkpoint, idx: usize) -> Result<Vec<i64>> {
    let t = &ck.tensors[idx];
    let shard = ck.shard_of(t);
    let width = match t.dtype.name() {
        "I64" => 8,
        "I32" => 4,
        other => {
            return Err(Error::bad_tensor(
                &shard.path,
                &t.name,
                format!("expected I64 or I32, found {other}"),
            ));
        }
    };
    let n = t.n_elements();
    if n > 16 {
        return Err(Error::bad_tensor(
            &shard.path,
            &t.name,
            format!("expected a shape (2 integers), found {n} elements"),
        ));
    }
    let mut buf = vec![0u8; (n * width) as usize];
    shard.read_tensor_at(Some(&t.name), &mut buf, t.start)?;
    Ok(buf
        .chunks_exact(width as usize)
        .map(|c| {
            if width == 8 {
                i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
            } else {
                i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64
            }
        })
        .collect())
}

/// Checks the dtype of checkpoint tensor `idx` and finds its FP8 block scale
/// (`<name>_scale_inv` or `<name>_scale`) when it is F8_E4M3. `fp8_block` is the block size
/// `quantization_config` declares (128×128 when it declares none).
pub fn float_or_fp8(ck: &Checkpoint, idx: usize, fp8_block: Option<[u64; 2]>) -> Result<Source> {
    let t = &ck.tensors[idx];
    let path = &ck.shards[t.shard].path;
    match &t.dtype {
        Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F8E4M3 => {}
        other => {
            return Err(Error::bad_tensor(
                path,
                &t.name,
                format!(
                    "dtype {} is not supported (expected F32, F16, BF16 or F8_E4M3)",
                    other.name()
                ),
            ));
        }
    }
    let scale_idx = [format!("{}_scale_inv", t.name), format!("{}_scale", t.name)]
        .iter()
        .find_map(|n| ck.index_of(n));
    if t.dtype != Dtype::F8E4M3 {
        if let Some(si) = scale_idx {
            return Err(Error::bad_tensor(
                path,
                &ck.tensors[si].name,
                format!(
                    "is a block scale for '{}', which is {} rather than F8_E4M3",
                    t.name,
                    t.dtype.name()
                ),
            ));
        }
        return Ok(Source {
            tensor: idx,
            decoder: Decoder::Float,
        });
    }
    let Some(si) = scale_idx else {
        return Err(Error::bad_tensor(
            path,
            &t.name,
            format!(
                "is F8_E4M3 but has no block scale tensor '{0}_scale_inv' (or '{0}_scale')",
                t.name
            ),
        ));
    };
    let s = &ck.tensors[si];
    let spath = &ck.shards[s.shard].path;
    if t.shape.len() != 2 {
        return Err(Error::bad_tensor(
            path,
            &t.name,
            format!("FP8 weights must be 2-D, found shape {:?}", t.shape),
        ));
    }
    let block = fp8_block.unwrap_or([128, 128]);
    let want = vec![t.shape[0].div_ceil(block[0]), t.shape[1].div_ceil(block[1])];
    if s.shape != want {
        return Err(Error::bad_tensor(
            spath,
            &s.name,
            format!(
                "scale shape {:?} does not match weight {:?} in {}×{} blocks (expected {:?})",
                s.shape, t.shape, block[0], block[1], want
            ),
        ));
    }
    match s.dtype {
        Dtype::F32 | Dtype::BF16 | Dtype::F16 | Dtype::F8E8M0 => {}
        ref other => {
            return Err(Error::bad_tensor(
                spath,
                &s.name,
                format!(
                    "scale dtype {} is not supported (expected F32, BF16 or F8_E8M0)",
                    other.name()
                ),
            ));
        }
    }
    Ok(Source {
        tensor: idx,
        decoder: Decoder::Fp8Block {
            scale: si,
            rows: block[0],
            cols: block[1],
        },
    })
}

/// Checks that every FP8 block scale in the checkpoint belongs to a weight.
pub fn check_orphan_scales(ck: &Checkpoint) -> Result<()> {
    for t in &ck.tensors {
        if t.name.ends_with("_scale_inv") || t.name.ends_with(".weight_scale") {
            let base = t
                .name
                .trim_end_matches("_scale_inv")
                .trim_end_matches("_scale");
            if ck.get(base).is_none() && ck.get(&format!("{base}_packed")).is_none() {
                return Err(Error::bad_tensor(
                    &ck.shards[t.shard].path,
                    &t.name,
                    format!("block scale without its weight '{base}'"),
                ));
            }
        }
    }
    Ok(())
}
