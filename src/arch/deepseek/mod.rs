//! Machinery shared by the DeepSeek family (DeepSeek-V2/V3 and the models built on them):
//! the typed configuration, the metadata keys (generic text-model keys, MLA and MoE keys, YaRN),
//! the tensor table, expert stacking and the MLA split of `kv_b_proj`. Each architecture of the
//! family composes these.

pub mod config;
pub mod kimi;
pub mod metadata;
pub mod tensors;

pub use config::DeepseekConfig;
pub use tensors::{LLAMA_MAX_EXPERTS, Layers, Role, Spec, Table};

use crate::arch::{ArchOptions, Fact, Layout, Mtp};
use crate::checkpoint::config::Quantization;
use crate::quant::preset::QuantModel;
use crate::{Error, Result};

/// The layers an `--mtp` mode converts: `Default` is `keep_by_default` (V3.2) or the trunk
/// (deepseek2). Asking for MTP layers (`keep`, `only`) of a checkpoint without any, or with
/// the legacy layout (llama.cpp's MTP graph needs MLA), is an error.
pub fn mtp_layers(
    cfg: &DeepseekConfig,
    opts: &ArchOptions,
    keep_by_default: bool,
) -> Result<Layers> {
    let layers = match opts.mtp {
        Mtp::Default if keep_by_default => Layers::All,
        Mtp::Default | Mtp::Drop => Layers::Trunk,
        Mtp::Keep => Layers::All,
        Mtp::Only => Layers::MtpOnly,
    };
    if matches!(opts.mtp, Mtp::Keep | Mtp::Only) {
        let flag = if opts.mtp == Mtp::Keep {
            "--mtp keep"
        } else {
            "--mtp only"
        };
        if cfg.n_nextn == 0 {
            return Err(Error::Usage(format!(
                "{flag}: {} declares no multi-token-prediction layers (num_nextn_predict_layers is {})",
                cfg.raw.path.display(),
                match cfg.raw.get("num_nextn_predict_layers") {
                    Some(v) => v.to_string(),
                    None => "absent".to_string(),
                }
            )));
        }
        if opts.layout == Layout::Legacy {
            return Err(Error::Usage(format!(
                "{flag} needs the MLA layout: llama.cpp's MTP graph requires MLA (drop --layout legacy)"
            )));
        }
    }
    Ok(layers)
}

/// llama-quantize's view of a DeepSeek model (with MLA, the file has one KV head).
pub fn quant_model(cfg: &DeepseekConfig, opts: &ArchOptions) -> QuantModel {
    quant_model_for(cfg, opts, Layers::Trunk)
}

/// [`quant_model`] for a file holding `layers`: llama-quantize counts every block of the
/// file (`block_count`, MTP blocks included) in its per-layer rules.
pub fn quant_model_for(cfg: &DeepseekConfig, opts: &ArchOptions, layers: Layers) -> QuantModel {
    QuantModel {
        n_layer: layers.block_count(cfg) as u32,
        n_expert: cfg.n_expert.unwrap_or(0) as u32,
        n_head: cfg.n_head as u32,
        n_head_kv: match opts.layout {
            Layout::Mla => 1,
            Layout::Legacy => cfg.n_head_kv as u32,
        },
    }
}

/// Warnings about rope scaling the converter passes over: a scaling type without a factor, or a
/// type it does not know.
pub fn rope_warnings(cfg: &DeepseekConfig) -> Vec<String> {
    let rope = &cfg.rope;
    let Some(rt) = rope.get("rope_type").and_then(|v| v.as_str()) else {
        return Vec::new();
    };
    let factor = rope.get("factor").is_some_and(|f| !f.is_null());
    match rt {
        "linear" | "yarn" if !factor => vec![format!(
            "rope scaling '{rt}' without a factor: no rope scaling keys are written, as llama.cpp's converter does"
        )],
        "linear" | "yarn" | "su" | "longrope" | "default" => Vec::new(),
        other => vec![format!(
            "unknown rope scaling type '{other}': no rope scaling keys are written, as llama.cpp's converter does"
        )],
    }
}

/// Facts for `plan`: layers, experts, attention, weight storage, MTP layers.
pub fn facts(cfg: &DeepseekConfig) -> Vec<Fact> {
    let mut f: Vec<Fact> = vec![("layers", cfg.n_layer.into())];
    if let Some(e) = cfg.n_expert {
        f.push(("experts", e.into()));
        if let Some(u) = cfg.raw.get("num_experts_per_tok") {
            f.push(("experts_used", u.clone()));
        }
        f.push(("shared_experts", cfg.n_shared.into()));
        f.push(("dense_layers", cfg.n_dense_lead.into()));
    }
    f.push((
        "attention",
        match cfg.q_lora_rank {
            Some(q) => format!("MLA, q_lora_rank {q}, kv_lora_rank {}", cfg.kv_lora_rank),
            None => format!(
                "MLA, no q_lora_rank (V2-Lite style), kv_lora_rank {}",
                cfg.kv_lora_rank
            ),
        }
        .into(),
    ));
    f.push((
        "weights",
        match &cfg.raw.quantization {
            Quantization::None => "unquantized".to_string(),
            Quantization::Fp8(q) => format!("FP8 e4m3, {}×{} block scales", q.block[0], q.block[1]),
            Quantization::PackedInt(q) => format!(
                "INT{} compressed-tensors pack-quantized, groups of {}",
                q.bits, q.group
            ),
        }
        .into(),
    ));
    if cfg.n_nextn > 0 {
        f.push(("mtp_layers", cfg.n_nextn.into()));
    }
    f
}
