//! The metadata keys of the DeepSeek family, in llama.cpp's converter order: the generic text
//! model keys (`TextModel.set_gguf_parameters`), then DeepSeek-V2's own (MLA ranks and head
//! sizes, MoE widths, routing scale and norm, rope dimension, YaRN log multiplier).

use super::config::DeepseekConfig;
use crate::arch::{Kvs, Layout};
use crate::gguf::Value;
use crate::{Error, Result};
use serde_json::Value as Json;

fn u32v(x: u64) -> Value {
    Value::U32(x as u32)
}

fn f32v(x: f64) -> Value {
    Value::F32(x as f32)
}

/// The keys the converter's generic text model writes (block count, context, widths, heads,
/// rope scaling, norm epsilon, expert counts and gating), for `block_count` blocks.
pub fn text_model_kvs(
    kv: &mut Kvs,
    cfg: &DeepseekConfig,
    block_count: u64,
    layout: Layout,
) -> Result<()> {
    let raw = &cfg.raw;
    kv.put("block_count", u32v(block_count));
    if let Some(v) = raw.get("max_position_embeddings").and_then(Json::as_u64) {
        kv.put_u32(raw, "context_length", "max_position_embeddings", v)?;
    }
    kv.put("embedding_length", u32v(cfg.n_embd));
    kv.put("feed_forward_length", u32v(cfg.n_ff));
    kv.put("attention.head_count", u32v(cfg.n_head));
    kv.put(
        "attention.head_count_kv",
        u32v(match layout {
            Layout::Mla => 1,
            Layout::Legacy => cfg.n_head_kv,
        }),
    );
    let rope = &cfg.rope;
    if let Some(rt) = rope.get("rope_type").and_then(Json::as_str) {
        let factor = rope.get("factor").and_then(Json::as_f64);
        match (rt, factor) {
            ("linear", Some(f)) => {
                kv.put("rope.scaling.type", Value::String("linear".into()));
                kv.put("rope.scaling.factor", f32v(f));
            }
            ("yarn", Some(f)) => {
                kv.put("rope.scaling.type", Value::String("yarn".into()));
                kv.put("rope.scaling.factor", f32v(f));
                let orig = rope
                    .get("original_max_position_embeddings")
                    .and_then(Json::as_u64)
                    .ok_or_else(|| {
                        Error::bad_file(
                            &raw.path,
                            "yarn rope scaling needs original_max_position_embeddings",
                        )
                    })?;
                kv.put_u32(
                    raw,
                    "rope.scaling.original_context_length",
                    "original_max_position_embeddings",
                    orig,
                )?;
                if let Some(x) = rope.get("extrapolation_factor").and_then(Json::as_f64) {
                    kv.put("rope.scaling.yarn_ext_factor", f32v(x));
                }
                if let Some(x) = rope
                    .get("attention_factor")
                    .or_else(|| rope.get("attn_factor"))
                    .and_then(Json::as_f64)
                {
                    kv.put("rope.scaling.yarn_attn_factor", f32v(x));
                }
                if let Some(x) = rope.get("beta_fast").and_then(Json::as_f64) {
                    kv.put("rope.scaling.yarn_beta_fast", f32v(x));
                }
                if let Some(x) = rope.get("beta_slow").and_then(Json::as_f64) {
                    kv.put("rope.scaling.yarn_beta_slow", f32v(x));
                }
            }
            ("su" | "longrope", _) => kv.put("rope.scaling.type", Value::String("longrope".into())),
            _ => {}
        }
    }
    if let Some(t) = rope.get("rope_theta").and_then(Json::as_f64) {
        kv.put("rope.freq_base", f32v(t));
    }
    kv.put(
        "attention.layer_norm_rms_epsilon",
        f32v(cfg.num("rms_norm_eps").unwrap_or(1e-6)),
    );
    if let Some(e) = cfg.n_expert {
        kv.put("expert_count", u32v(e));
    }
    if let Some(v) = raw.get("num_experts_per_tok").and_then(Json::as_u64) {
        kv.put_u32(raw, "expert_used_count", "num_experts_per_tok", v)?;
    }
    if let Some(v) = raw.get("n_group").and_then(Json::as_u64) {
        kv.put_u32(raw, "expert_group_count", "n_group", v)?;
    }
    if let Some(v) = raw.get("topk_group").and_then(Json::as_u64) {
        kv.put_u32(raw, "expert_group_used_count", "topk_group", v)?;
    }
    match raw.get("scoring_func").and_then(Json::as_str) {
        Some("softmax") => kv.put("expert_gating_func", Value::U32(1)),
        Some("sigmoid") => kv.put("expert_gating_func", Value::U32(2)),
        _ => {}
    }
    Ok(())
}

/// The keys DeepSeek-V2's converter class adds after the generic ones: dense lead, vocabulary,
/// MLA ranks and head sizes (per `layout`), expert widths and counts, routing scale and
/// normalisation, rope dimension and the YaRN log multiplier.
pub fn deepseek_v2_kvs(kv: &mut Kvs, cfg: &DeepseekConfig, layout: Layout) {
    kv.put("leading_dense_block_count", u32v(cfg.n_dense_lead));
    kv.put("vocab_size", u32v(cfg.vocab_size));
    if let Some(q) = cfg.q_lora_rank {
        kv.put("attention.q_lora_rank", u32v(q));
    }
    kv.put("attention.kv_lora_rank", u32v(cfg.kv_lora_rank));
    match layout {
        Layout::Mla => {
            kv.put("attention.key_length", u32v(cfg.kv_lora_rank + cfg.qk_rope));
            kv.put("attention.value_length", u32v(cfg.kv_lora_rank));
            kv.put("attention.key_length_mla", u32v(cfg.qk_nope + cfg.qk_rope));
            kv.put("attention.value_length_mla", u32v(cfg.v_head));
        }
        Layout::Legacy => {
            kv.put("attention.key_length", u32v(cfg.qk_nope + cfg.qk_rope));
            kv.put("attention.value_length", u32v(cfg.v_head));
        }
    }
    kv.put("expert_feed_forward_length", u32v(cfg.n_ff_exp));
    if let Some(e) = cfg.n_expert {
        kv.put("expert_count", u32v(e));
    }
    kv.put("expert_shared_count", u32v(cfg.n_shared));
    if let Some(s) = cfg.num("routed_scaling_factor") {
        kv.put("expert_weights_scale", f32v(s));
    }
    if cfg.raw.get("norm_topk_prob").and_then(Json::as_bool) == Some(true) {
        kv.put("expert_weights_norm", Value::Bool(true));
    }
    kv.put("rope.dimension_count", u32v(cfg.qk_rope));
    if let Some(m) = cfg.rope.get("mscale_all_dim").and_then(Json::as_f64) {
        kv.put("rope.scaling.yarn_log_multiplier", f32v(0.1 * m));
    }
}

/// `nextn_predict_layers`: the number of multi-token-prediction blocks after the trunk.
pub fn nextn_kv(kv: &mut Kvs, n: u64) {
    kv.put("nextn_predict_layers", u32v(n));
}

/// DeepSeek-V3.2's DSA indexer keys: head count, key length (head dimension), top-k.
pub fn indexer_kvs(kv: &mut Kvs, heads: u64, dim: u64, top_k: u64) {
    kv.put("attention.indexer.head_count", u32v(heads));
    kv.put("attention.indexer.key_length", u32v(dim));
    kv.put("attention.indexer.top_k", u32v(top_k));
}

/// Facts about a DeepSeek-family GGUF from its metadata (for `inspect`): blocks, experts,
/// attention layout, MTP layers.
pub fn describe(kvs: &[(String, Value)]) -> Vec<crate::arch::Fact> {
    let arch = kvs
        .iter()
        .find(|(k, _)| k == "general.architecture")
        .and_then(|(_, v)| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let get = |k: &str| {
        let key = format!("{arch}.{k}");
        kvs.iter().find(|(n, _)| *n == key).map(|(_, v)| v)
    };
    let num = |k: &str| match get(k) {
        Some(Value::U32(v)) => Some(*v as u64),
        Some(Value::U64(v)) => Some(*v),
        Some(Value::I32(v)) => u64::try_from(*v).ok(),
        _ => None,
    };
    let mut facts = Vec::new();
    if let Some(b) = num("block_count") {
        facts.push(("blocks", b.into()));
    }
    if let Some(e) = num("expert_count") {
        facts.push(("experts", e.into()));
    }
    if let Some(e) = num("expert_used_count") {
        facts.push(("experts_used", e.into()));
    }
    facts.push((
        "attention",
        if get("attention.key_length_mla").is_some() {
            "MLA (attn_k_b, attn_v_b)".into()
        } else {
            "legacy (attn_kv_b)".into()
        },
    ));
    if let (Some(h), Some(d)) = (
        num("attention.indexer.head_count"),
        num("attention.indexer.key_length"),
    ) {
        let k = num("attention.indexer.top_k").unwrap_or(0);
        facts.push(("indexer", format!("DSA, {h} heads × {d}, top-k {k}").into()));
    }
    if let Some(n) = num("nextn_predict_layers") {
        facts.push(("mtp_layers", n.into()));
        if let Some(b) = num("block_count")
            && n > 0
        {
            facts.push((
                "mtp_blocks",
                format!(
                    "blk.{}..blk.{} (skipped unless loaded for MTP)",
                    b.saturating_sub(n),
                    b.saturating_sub(1)
                )
                .into(),
            ));
        }
    }
    facts
}
