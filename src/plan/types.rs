//! The output type of every tensor: llama.cpp's converter rules for the float and Q8_0 types
//! (forced F32 tensors, `--tensor-type` overrides, the F16 fallback for rows that are not
//! whole blocks), or llama-quantize's rules for the K-quant presets applied to the BF16 file
//! the converter would write first.

use super::ConvertOptions;
use crate::arch::{MappedTensor, Model};
use crate::checkpoint::safetensors::Checkpoint;
use crate::gguf::GgmlType;
use crate::quant::preset::{
    OutType, QuantParams, QuantTensor, check_imatrix_requirement, try_assign_types,
};
use crate::{Error, Result};

/// Chooses each tensor's output type; returns the types and whether each tensor's values are
/// rounded to bf16 first.
pub fn choose_types(
    model: &dyn Model,
    ck: &Checkpoint,
    mapped: &[MappedTensor],
    outtype: OutType,
    opts: &ConvertOptions,
) -> Result<(Vec<GgmlType>, Vec<bool>)> {
    let fixed: Vec<Option<GgmlType>> = mapped.iter().map(|m| model.converter_type(ck, m)).collect();
    let forced: Vec<bool> = mapped
        .iter()
        .zip(&fixed)
        .map(|(m, f)| f.is_none() && model.forced_f32(&m.name, m.ne.len()))
        .collect();
    if outtype.is_kquant_preset() {
        // the reference path: a BF16 GGUF from the converter, then llama-quantize
        let src: Vec<GgmlType> = forced
            .iter()
            .zip(&fixed)
            .map(|(&f, x)| match x {
                Some(t) => *t,
                None if f => GgmlType::F32,
                None => GgmlType::BF16,
            })
            .collect();
        let qts: Vec<QuantTensor> = mapped
            .iter()
            .zip(&src)
            .map(|(m, &s)| QuantTensor {
                name: &m.name,
                ne: &m.ne,
                src_type: s,
            })
            .collect();
        let params = QuantParams {
            has_imatrix: opts.imatrix.is_some(),
            ..QuantParams::default()
        };
        let mut types = try_assign_types(
            outtype,
            &model.quant_model(&opts.arch),
            &qts,
            &opts.tensor_types,
            &params,
        )
        .map_err(Error::Usage)?;
        // lossless repacks (FP4 experts → MXFP4) stay as they are unless --tensor-type asks
        for ((ty, m), x) in types.iter_mut().zip(mapped).zip(&fixed) {
            if *x == Some(GgmlType::MXFP4)
                && !opts
                    .tensor_types
                    .iter()
                    .any(|o| o.pattern.is_match(&m.name))
            {
                *ty = GgmlType::MXFP4;
            }
        }
        check_imatrix_requirement(&qts, &types, &params).map_err(Error::Usage)?;
        let round = src.iter().map(|&s| s == GgmlType::BF16).collect();
        return Ok((types, round));
    }
    let base = outtype.base_type().unwrap_or(GgmlType::F16);
    let mut types = Vec::with_capacity(mapped.len());
    for ((m, &f), x) in mapped.iter().zip(&forced).zip(&fixed) {
        let mut ty = match x {
            Some(t) => *t,
            None if f => GgmlType::F32,
            None => base,
        };
        if !f
            && *x != Some(GgmlType::I32)
            && let Some(o) = opts
                .tensor_types
                .iter()
                .find(|o| o.pattern.is_match(&m.name))
        {
            ty = o.ty;
        }
        if ty.row_bytes(m.ne[0]).is_none() {
            // llama.cpp's converter falls back to F16 when a row is not whole blocks
            ty = GgmlType::F16;
        }
        types.push(ty);
    }
    Ok((types, vec![false; mapped.len()]))
}
