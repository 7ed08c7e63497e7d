//! The `deepseek4` architecture: DeepSeek-V4 (V4-Flash, V4-Pro; `DeepseekV4ForCausalLM`) as
//! published — FP8 e4m3 weights with E8M0 128×128 block scales, FP4 e2m1 routed experts
//! (repacked losslessly to MXFP4), hash-routing tables, hyper-connections, compressors, an
//! indexer and attention sinks — written as llama.cpp's converter writes it. Its own
//! implementation: no MLA rewrite, no kv_b split.

pub mod config;
pub mod synth;
pub mod template;
pub mod tensors;

use super::{
    ArchOptions, CheckpointTensor, Decoder, Fact, Kvs, MappedTensor, Model, Mtp, Recipe,
    Registration,
};
use crate::checkpoint::config::RawConfig;
use crate::checkpoint::safetensors::{Checkpoint, Dtype};
use crate::gguf::{Array, GgmlType, Value};
use crate::quant::preset::QuantModel;
use crate::{Error, Result};
use config::V4Config;
use serde_json::Value as Json;

/// The GGUF architecture name.
pub const ARCH: &str = "deepseek4";

/// `LLAMA_FTYPE_MOSTLY_MXFP4_MOE`, the file type llama.cpp's converter writes for V4.
pub const FTYPE_MXFP4_MOE: u32 = 38;

/// The registry entry.
pub static REGISTRATION: Registration = Registration {
    gguf_arch: ARCH,
    hf_architectures: &["DeepseekV4ForCausalLM"],
    // quantization_config is not read: V4's FP8/FP4 layout is fixed
    load: |raw| Ok(Box::new(Deepseek4::new(raw)?)),
    describe,
};

/// A DeepSeek-V4 model.
#[derive(Debug)]
pub struct Deepseek4 {
    cfg: V4Config,
}

impl Deepseek4 {
    /// Reads the V4 hyper-parameters from `raw`.
    pub fn new(raw: RawConfig) -> Result<Deepseek4> {
        Ok(Deepseek4 {
            cfg: V4Config::from_raw(raw)?,
        })
    }

    /// The typed configuration.
    pub fn cfg(&self) -> &V4Config {
        &self.cfg
    }

    fn mtp_only(opts: &ArchOptions) -> bool {
        opts.mtp == Mtp::Only
    }
}

fn f32v(x: f64) -> Value {
    Value::F32(x as f32)
}

impl Model for Deepseek4 {
    fn arch(&self) -> &'static str {
        ARCH
    }

    fn config(&self) -> &RawConfig {
        &self.cfg.raw
    }

    fn vocab_size(&self) -> u64 {
        self.cfg.vocab
    }

    fn metadata(&self, file_type: u32, opts: &ArchOptions) -> Result<Vec<(String, Value)>> {
        let c = &self.cfg;
        let raw = &c.raw;
        let mut kv = Kvs::new(ARCH);
        let block_count = c.n_layer + if Self::mtp_only(opts) { c.n_nextn } else { 0 };
        // the generic text-model keys
        kv.put_u32(raw, "block_count", "num_hidden_layers", block_count)?;
        if let Some(v) = raw.opt_u64("max_position_embeddings")? {
            kv.put_u32(raw, "context_length", "max_position_embeddings", v)?;
        }
        kv.put_u32(raw, "embedding_length", "hidden_size", c.hidden)?;
        kv.put_u32(raw, "attention.head_count", "num_attention_heads", c.n_head)?;
        if let Some(v) = c.n_head_kv {
            kv.put_u32(raw, "attention.head_count_kv", "num_key_value_heads", v)?;
        }
        let rope = raw.rope_dict();
        let rope_num = |k: &str| rope.get(k).and_then(Json::as_f64);
        match (
            rope.get("rope_type").and_then(Json::as_str),
            rope_num("factor"),
        ) {
            (Some("linear"), Some(f)) => {
                kv.put("rope.scaling.type", Value::String("linear".into()));
                kv.put("rope.scaling.factor", f32v(f));
            }
            (Some("yarn"), Some(f)) => {
                kv.put("rope.scaling.type", Value::String("yarn".into()));
                kv.put("rope.scaling.factor", f32v(f));
                let orig = rope
                    .get("original_max_position_embeddings")
                    .and_then(Json::as_u64)
                    .ok_or_else(|| {
                        Error::bad_file(
                            &raw.path,
                            "rope_scaling: yarn needs original_max_position_embeddings (an integer)",
                        )
                    })?;
                kv.put_u32(
                    raw,
                    "rope.scaling.original_context_length",
                    "original_max_position_embeddings",
                    orig,
                )?;
                if let Some(x) = rope_num("extrapolation_factor") {
                    kv.put("rope.scaling.yarn_ext_factor", f32v(x));
                }
                if let Some(x) = rope_num("attention_factor").or_else(|| rope_num("attn_factor")) {
                    kv.put("rope.scaling.yarn_attn_factor", f32v(x));
                }
                if let Some(x) = rope_num("beta_fast") {
                    kv.put("rope.scaling.yarn_beta_fast", f32v(x));
                }
                if let Some(x) = rope_num("beta_slow") {
                    kv.put("rope.scaling.yarn_beta_slow", f32v(x));
                }
            }
            (Some("su" | "longrope"), _) => {
                kv.put("rope.scaling.type", Value::String("longrope".into()))
            }
            _ => {}
        }
        if let Some(t) = rope_num("rope_theta") {
            kv.put("rope.freq_base", f32v(t));
        }
        if let Some(e) = raw.num("rms_norm_eps") {
            kv.put("attention.layer_norm_rms_epsilon", f32v(e));
        }
        kv.put_u32(raw, "expert_count", "n_routed_experts", c.n_expert)?;
        kv.put_u32(raw, "expert_used_count", "num_experts_per_tok", c.n_used)?;
        if let Some(v) = raw.opt_u64("n_group")? {
            kv.put_u32(raw, "expert_group_count", "n_group", v)?;
        }
        if let Some(v) = raw.opt_u64("topk_group")? {
            kv.put_u32(raw, "expert_group_used_count", "topk_group", v)?;
        }
        kv.put("expert_gating_func", Value::U32(4)); // sqrtsoftplus (checked at load)
        kv.put_u32(raw, "attention.key_length", "head_dim", c.head_dim)?;
        kv.put_u32(raw, "attention.value_length", "head_dim", c.head_dim)?;
        // the reference always writes MOSTLY_MXFP4_MOE; llama-quantize presets write their own
        let ft = match file_type {
            0 | 1 | 7 | 32 => FTYPE_MXFP4_MOE,
            other => other,
        };
        kv.put("general.file_type", Value::U32(ft));
        // DeepseekV4Model's keys
        kv.put_u32(raw, "rope.dimension_count", "qk_rope_head_dim", c.qk_rope)?;
        kv.put_u32(raw, "attention.q_lora_rank", "q_lora_rank", c.q_lora)?;
        kv.put_u32(raw, "attention.sliding_window", "sliding_window", c.window)?;
        kv.put_u32(
            raw,
            "expert_feed_forward_length",
            "moe_intermediate_size",
            c.moe_ff,
        )?;
        kv.put_u32(raw, "expert_shared_count", "n_shared_experts", c.n_shared)?;
        kv.put(
            "expert_weights_scale",
            f32v(raw.num("routed_scaling_factor").unwrap_or(1.0)),
        );
        kv.put(
            "expert_weights_norm",
            Value::Bool(raw.opt_bool("norm_topk_prob")?.unwrap_or(false)),
        );
        let limit = raw.get("swiglu_limit").cloned().unwrap_or(Json::Null);
        let clamp = if limit.is_i64() || limit.is_u64() {
            // gguf-py types a list of Python ints as INT32
            let v = limit.as_i64().unwrap_or(0) as i32;
            Array::I32(vec![v; block_count as usize])
        } else {
            Array::F32(vec![
                limit.as_f64().unwrap_or(0.0) as f32;
                block_count as usize
            ])
        };
        kv.put("swiglu_clamp_exp", Value::Array(clamp.clone()));
        kv.put("swiglu_clamp_shexp", Value::Array(clamp));
        kv.put_u32(
            raw,
            "attention.indexer.head_count",
            "index_n_heads",
            c.index_heads,
        )?;
        kv.put_u32(
            raw,
            "attention.indexer.key_length",
            "index_head_dim",
            c.index_dim,
        )?;
        kv.put_u32(raw, "attention.indexer.top_k", "index_topk", c.index_topk)?;
        kv.put_u32(raw, "attention.output_group_count", "o_groups", c.o_groups)?;
        kv.put_u32(raw, "attention.output_lora_rank", "o_lora_rank", c.o_lora)?;
        kv.put(
            "attention.compress_ratios",
            Value::Array(Array::I32(c.ratios.iter().map(|&r| r as i32).collect())),
        );
        kv.put(
            "attention.compress_rope_freq_base",
            f32v(raw.num("compress_rope_theta").unwrap_or(0.0)),
        );
        kv.put_u32(raw, "hyper_connection.count", "hc_mult", c.hc)?;
        kv.put_u32(
            raw,
            "hyper_connection.sinkhorn_iterations",
            "hc_sinkhorn_iters",
            raw.req_u64("hc_sinkhorn_iters")?,
        )?;
        kv.put(
            "hyper_connection.epsilon",
            f32v(raw.num("hc_eps").unwrap_or(0.0)),
        );
        kv.put_u32(raw, "hash_layer_count", "num_hash_layers", c.hash_layers)?;
        kv.put_u32(raw, "embedding_length_out", "hidden_size", c.hidden * c.hc)?;
        if Self::mtp_only(opts) && c.n_nextn > 0 {
            kv.put_u32(
                raw,
                "nextn_predict_layers",
                "num_nextn_predict_layers",
                c.n_nextn,
            )?;
        }
        Ok(kv.into_vec())
    }

    fn tensor_table(&self) -> Vec<CheckpointTensor> {
        tensors::table(&self.cfg)
    }

    fn map_tensors(&self, ck: &Checkpoint, opts: &ArchOptions) -> Result<Vec<MappedTensor>> {
        if opts.mtp == Mtp::Keep {
            return Err(Error::Unsupported(format!(
                "{}: DeepSeek-V4 cannot keep the trunk and its MTP layers in one file (llama.cpp's \
                 converter writes the trunk by default and the MTP draft file with --mtp)",
                self.cfg.raw.path.display()
            )));
        }
        if opts.layout != super::Layout::Mla {
            return Err(Error::Usage(
                "--layout only applies to MLA architectures (deepseek2); DeepSeek-V4 has one layout"
                    .into(),
            ));
        }
        tensors::map(ck, &self.cfg, Self::mtp_only(opts))
    }

    fn quant_model(&self, opts: &ArchOptions) -> QuantModel {
        let c = &self.cfg;
        QuantModel {
            n_layer: (c.n_layer + if Self::mtp_only(opts) { c.n_nextn } else { 0 }) as u32,
            n_expert: c.n_expert as u32,
            n_head: c.n_head as u32,
            n_head_kv: c.n_head_kv.unwrap_or(c.n_head) as u32,
        }
    }

    fn converter_type(&self, ck: &Checkpoint, m: &MappedTensor) -> Option<GgmlType> {
        let n_dims = m.ne.len();
        match &m.recipe {
            Recipe::Stack(s)
                if s.iter()
                    .all(|s| matches!(s.decoder, Decoder::Fp4Block { .. })) =>
            {
                Some(GgmlType::MXFP4)
            }
            Recipe::Concat(_) => Some(GgmlType::Q8_0), // nextn.eh_proj
            Recipe::Rows(s) => match s.decoder {
                Decoder::Int => Some(GgmlType::I32),
                Decoder::Fp8Block { .. } if n_dims >= 2 => Some(GgmlType::Q8_0),
                Decoder::Float => match ck.tensors[s.tensor].dtype {
                    Dtype::F32 => Some(GgmlType::F32),
                    Dtype::BF16 if n_dims >= 2 => Some(GgmlType::BF16),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        }
    }

    fn bundled_chat_template(&self) -> Option<&'static str> {
        let dir_name = self
            .cfg
            .raw
            .path
            .parent()
            .and_then(|p| p.canonicalize().ok())
            .and_then(|p| p.file_name().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default();
        Some(template::bundled(dir_name.contains("0731")))
    }

    fn facts(&self) -> Vec<Fact> {
        let c = &self.cfg;
        let ratios: Vec<i64> = c.ratios.iter().take(c.n_layer as usize).copied().collect();
        vec![
            ("layers", c.n_layer.into()),
            ("mtp_layers", c.n_nextn.into()),
            ("experts", c.n_expert.into()),
            ("experts_used", c.n_used.into()),
            ("shared_experts", c.n_shared.into()),
            ("hash_layers", c.hash_layers.into()),
            ("compress_ratios", serde_json::json!(ratios)),
            ("hyper_connections", c.hc.into()),
            (
                "attention",
                format!(
                    "{} heads × {}, 1 KV head, sliding window {}, indexer {}×{} top-{}",
                    c.n_head, c.head_dim, c.window, c.index_heads, c.index_dim, c.index_topk
                )
                .into(),
            ),
            (
                "routed_experts",
                "FP4 e2m1 → MXFP4 (lossless repack)".into(),
            ),
        ]
    }

    fn warnings(&self, opts: &ArchOptions) -> Vec<String> {
        let c = &self.cfg;
        let mut w = Vec::new();
        if c.n_nextn > 0 && !Self::mtp_only(opts) {
            w.push(format!(
                "{} multi-token-prediction layer(s) are left out, as llama.cpp's converter does \
                 (--mtp writes them as a draft file)",
                c.n_nextn
            ));
        }
        let trunk = &c.ratios[..(c.n_layer as usize).min(c.ratios.len())];
        for r in [4, 128] {
            if !trunk.contains(&r) {
                w.push(format!(
                    "no layer has compress ratio {r}: llama.cpp (0c1e57098) crashes with SIGFPE \
                     creating a context for such a file (its KV cache for ratio {r} is empty)"
                ));
            }
        }
        if Self::mtp_only(opts) {
            w.push(
                "llama.cpp (0c1e57098) crashes with SIGFPE creating the MTP context of a \
                 DeepSeek-V4 draft file on CPU"
                    .into(),
            );
        }
        if !matches!(c.index_dim, 64 | 128) {
            w.push(format!(
                "index_head_dim {} is untested: llama.cpp's deepseek4 graph asserts for 32 and 48",
                c.index_dim
            ));
        }
        w
    }
}

/// Facts about a `deepseek4` GGUF from its metadata (for `inspect`).
pub fn describe(kvs: &[(String, Value)]) -> Vec<Fact> {
    let get = |k: &str| {
        let key = format!("{ARCH}.{k}");
        kvs.iter().find(|(n, _)| *n == key).map(|(_, v)| v)
    };
    let num = |k: &str| match get(k) {
        Some(Value::U32(v)) => Some(*v as u64),
        Some(Value::U64(v)) => Some(*v),
        _ => None,
    };
    let mut facts = Vec::new();
    for (k, f) in [
        ("block_count", "blocks"),
        ("expert_count", "experts"),
        ("expert_used_count", "experts_used"),
        ("hash_layer_count", "hash_layers"),
        ("hyper_connection.count", "hyper_connections"),
        ("nextn_predict_layers", "mtp_layers"),
    ] {
        if let Some(v) = num(k) {
            facts.push((f, v.into()));
        }
    }
    if let Some(Value::Array(Array::I32(r))) = get("attention.compress_ratios") {
        facts.push(("compress_ratios", serde_json::json!(r)));
    }
    if let Some(Value::U32(ft)) = kvs
        .iter()
        .find(|(n, _)| n == "general.file_type")
        .map(|(_, v)| v)
        && *ft == FTYPE_MXFP4_MOE
    {
        facts.push(("routed_experts", "MXFP4".into()));
    }
    facts
}
