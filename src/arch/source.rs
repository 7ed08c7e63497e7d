//! Turning a checkpoint tensor into a [`Source`]: its dtype is checked and the decoder chosen
//! (plain float, or FP8 with its block-scale tensor found and checked). Shared by every
//! architecture that reads Hugging Face float or block-FP8 checkpoints.

use super::recipe::{Decoder, Source};
use crate::checkpoint::safetensors::{Checkpoint, Dtype};
use crate::{Error, Result};

/// True for the tensors that carry FP8 scales or activation scales rather than weights.
pub fn is_aux_name(name: &str) -> bool {
    name.ends_with("_scale_inv")
        || name.ends_with(".weight_scale")
        || name.ends_with(".input_scale")
        || name.ends_with(".activation_scale")
        || name.ends_with("_activation_scale")
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
            if ck.get(base).is_none() {
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
