//! DeepSeek-V4-shaped synthetic checkpoints: the `config.json` `ds2gguf synth --family
//! deepseek-v4` writes, and the full-size V4-Flash and V4-Pro presets (for `--sparse` scale
//! runs). The tensors come from the architecture's table.

use crate::synth::{SynthDtype, SynthFamily, SynthSpec};
use serde_json::{Value as Json, json};

/// V4's shape beyond the fields [`SynthSpec`] shares with the other families (`v` is the
/// head size, `rope` the rotary part of it, `q_lora` the query rank).
#[derive(Clone, Debug, PartialEq)]
pub struct V4Shape {
    /// `o_groups`.
    pub o_groups: u64,
    /// `o_lora_rank`.
    pub o_lora: u64,
    /// `num_hash_layers`.
    pub hash_layers: u64,
    /// `compress_ratios` of the trunk layers; empty: layer 0 is 0, then 4 and 128 alternate.
    /// The MTP layer gets 0.
    pub ratios: Vec<i64>,
    /// `index_n_heads`.
    pub index_heads: u64,
    /// `index_head_dim`.
    pub index_dim: u64,
    /// `index_topk`.
    pub index_topk: u64,
    /// `sliding_window`.
    pub window: u64,
}

impl Default for V4Shape {
    fn default() -> Self {
        V4Shape {
            o_groups: 2,
            o_lora: 64,
            hash_layers: 1,
            ratios: Vec::new(),
            index_heads: 4,
            index_dim: 64,
            index_topk: 512,
            window: 128,
        }
    }
}

/// The compress ratios written for `s` (trunk, then 0 for the MTP layer).
pub fn ratios(s: &SynthSpec) -> Vec<i64> {
    let mut r: Vec<i64> = if s.v4.ratios.is_empty() {
        (0..s.layers)
            .map(|l| match l {
                0 => 0,
                l if l % 2 == 1 => 4,
                _ => 128,
            })
            .collect()
    } else {
        s.v4.ratios.clone()
    };
    r.resize(s.layers as usize, 0);
    if s.mtp {
        r.push(0);
    }
    r
}

/// The `config.json` of a V4-shaped synthetic checkpoint (published V4's keys).
pub fn config_json(s: &SynthSpec) -> Json {
    let v = &s.v4;
    let mut c = json!({
        "architectures": ["DeepseekV4ForCausalLM"], "model_type": "deepseek_v4",
        "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 0, "eos_token_id": 1,
        "compress_ratios": ratios(s), "compress_rope_theta": 160000.0, "expert_dtype": "fp4",
        "hc_eps": 1e-6, "hc_mult": 4, "hc_sinkhorn_iters": 20, "head_dim": s.v,
        "hidden_act": "silu", "hidden_size": s.hidden,
    });
    let o = c.as_object_mut().expect("object literal");
    let more = json!({
        "index_head_dim": v.index_dim,
        "index_n_heads": v.index_heads, "index_topk": v.index_topk,
        "max_position_embeddings": 1048576, "moe_intermediate_size": s.moe_ff,
        "n_routed_experts": s.experts, "n_shared_experts": s.shared, "norm_topk_prob": true,
        "num_attention_heads": s.heads, "num_experts_per_tok": s.experts_used,
        "num_hash_layers": v.hash_layers.min(s.layers), "num_hidden_layers": s.layers,
        "num_key_value_heads": 1, "num_nextn_predict_layers": if s.mtp { 1 } else { 0 },
        "o_groups": v.o_groups, "o_lora_rank": v.o_lora, "q_lora_rank": s.q_lora.unwrap_or(s.hidden),
        "qk_rope_head_dim": s.rope, "rms_norm_eps": 1e-6,
        "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 16,
                         "original_max_position_embeddings": 65536, "type": "yarn"},
        "rope_theta": 10000.0, "routed_scaling_factor": 1.5, "scoring_func": "sqrtsoftplus",
        "sliding_window": v.window, "swiglu_limit": 10.0, "tie_word_embeddings": false,
        "torch_dtype": "bfloat16", "vocab_size": s.vocab,
    });
    if let Json::Object(m) = more {
        o.extend(m);
    }
    if s.dtype == SynthDtype::Fp8 {
        c.as_object_mut().expect("object literal").insert(
            "quantization_config".into(),
            json!({"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                   "scale_fmt": "ue8m0", "weight_block_size": [128, 128]}),
        );
    }
    c
}

/// A small V4-shaped spec (tests): 3 layers with ratios 0, 4, 128, 8 experts, hidden 256.
pub fn tiny_spec() -> SynthSpec {
    SynthSpec {
        family: SynthFamily::DeepseekV4,
        hidden: 256,
        layers: 3,
        dense_layers: 0,
        experts: 8,
        experts_used: 2,
        shared: 1,
        heads: 4,
        q_lora: Some(128),
        rope: 32,
        v: 64,
        moe_ff: 128,
        vocab: 1024,
        dtype: SynthDtype::Fp8,
        shards: 3,
        mtp: true,
        ..SynthSpec::default()
    }
}

/// All of DeepSeek-V4-Flash (284B) at its published widths: hidden 4096, 43 layers, 64 heads
/// × 512, q_lora 1024, rope 64, 8 output groups × 1024, 256 experts top-6 + 1 shared, expert
/// width 2048, 3 hash layers, window 128, indexer 64 × 128 top-512, one MTP layer. The
/// per-layer compress ratios are an assumption (two 0 layers, then 4 and 128 alternating).
pub fn flash_spec() -> SynthSpec {
    let layers = 43;
    SynthSpec {
        family: SynthFamily::DeepseekV4,
        hidden: 4096,
        layers,
        dense_layers: 0,
        experts: 256,
        experts_used: 6,
        shared: 1,
        heads: 64,
        q_lora: Some(1024),
        rope: 64,
        v: 512,
        moe_ff: 2048,
        vocab: 129280,
        dtype: SynthDtype::Fp8,
        shards: 46,
        mtp: true,
        v4: V4Shape {
            o_groups: 8,
            o_lora: 1024,
            hash_layers: 3,
            ratios: (0..layers)
                .map(|l| match l {
                    0 | 1 => 0,
                    l if l % 2 == 0 => 4,
                    _ => 128,
                })
                .collect(),
            index_heads: 64,
            index_dim: 128,
            index_topk: 512,
            window: 128,
        },
        ..SynthSpec::default()
    }
}

/// DeepSeek-V4-Pro at full size, with widths as we understand the published model (hidden
/// 7168, 61 layers, 128 heads × 512, q_lora 1536, 16 output groups × 1024, 384 experts top-6
/// plus 1 shared, expert width 3072, 3 hash layers, indexer 64 × 128 top-1024); the ratios
/// are assumed as for [`flash_spec`].
pub fn pro_spec() -> SynthSpec {
    let layers = 61;
    SynthSpec {
        hidden: 7168,
        layers,
        experts: 384,
        heads: 128,
        q_lora: Some(1536),
        moe_ff: 3072,
        shards: 64,
        v4: V4Shape {
            o_groups: 16,
            index_topk: 1024,
            ratios: (0..layers)
                .map(|l| match l {
                    0 | 1 => 0,
                    l if l % 2 == 0 => 4,
                    _ => 128,
                })
                .collect(),
            ..flash_spec().v4
        },
        ..flash_spec()
    }
}
