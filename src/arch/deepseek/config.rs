//! The hyper-parameters of a DeepSeek V2/V3-family `config.json` (MLA attention, DeepSeek-MoE),
//! shared by every architecture built on them.

use crate::checkpoint::config::{Quantization, RawConfig};
use crate::{Error, Result};
use serde_json::{Map, Value as Json};

/// The hyper-parameters of a DeepSeek V2/V3-family model.
#[derive(Clone, Debug)]
pub struct DeepseekConfig {
    /// The parsed `config.json` these come from.
    pub raw: RawConfig,
    /// `num_hidden_layers` (MTP layers not counted).
    pub n_layer: u64,
    /// `hidden_size`.
    pub n_embd: u64,
    /// `num_attention_heads`.
    pub n_head: u64,
    /// `num_key_value_heads` as the checkpoint states it (defaults to `n_head`).
    pub n_head_kv: u64,
    /// `vocab_size`.
    pub vocab_size: u64,
    /// `intermediate_size` (dense FFN width).
    pub n_ff: u64,
    /// `moe_intermediate_size` (falls back to `intermediate_size`).
    pub n_ff_exp: u64,
    /// `n_routed_experts`, absent for dense models.
    pub n_expert: Option<u64>,
    /// `n_shared_experts` (0 when absent).
    pub n_shared: u64,
    /// `first_k_dense_replace`, as llama.cpp defaults it.
    pub n_dense_lead: u64,
    /// `q_lora_rank`, `None` for V2-Lite-style models with a plain `q_proj`.
    pub q_lora_rank: Option<u64>,
    /// `kv_lora_rank` (default 512).
    pub kv_lora_rank: u64,
    /// `qk_nope_head_dim`.
    pub qk_nope: u64,
    /// `qk_rope_head_dim`.
    pub qk_rope: u64,
    /// `v_head_dim`.
    pub v_head: u64,
    /// `tie_word_embeddings`.
    pub tied_embeddings: bool,
    /// `num_nextn_predict_layers` (MTP layers stored after the trunk).
    pub n_nextn: u64,
    /// The rope dictionary as llama.cpp's converter sees it.
    pub rope: Map<String, Json>,
}

impl DeepseekConfig {
    /// Reads the DeepSeek hyper-parameters of `raw`, checking types and ranges.
    pub fn from_raw(mut raw: RawConfig) -> Result<DeepseekConfig> {
        let n_layer = raw.req_u64("num_hidden_layers")?;
        let n_head = raw.req_u64("num_attention_heads")?;
        let n_ff = raw.req_u64("intermediate_size")?;
        let n_expert = raw.opt_u64("n_routed_experts")?;
        let n_dense_lead = match raw.opt_u64("first_k_dense_replace")? {
            Some(v) => v,
            None if n_expert.is_none() => n_layer,
            None => 0,
        };
        let q_lora_rank = raw.opt_u64("q_lora_rank")?;
        raw.read_quantization()?;
        let cfg = DeepseekConfig {
            n_layer,
            n_embd: raw.req_u64("hidden_size")?,
            n_head,
            n_head_kv: raw.opt_u64("num_key_value_heads")?.unwrap_or(n_head),
            vocab_size: raw.req_u64("vocab_size")?,
            n_ff,
            n_ff_exp: raw.opt_u64("moe_intermediate_size")?.unwrap_or(n_ff),
            n_expert,
            n_shared: raw.opt_u64("n_shared_experts")?.unwrap_or(0),
            n_dense_lead,
            q_lora_rank,
            kv_lora_rank: raw.opt_u64("kv_lora_rank")?.unwrap_or(512),
            qk_nope: raw.req_u64("qk_nope_head_dim")?,
            qk_rope: raw.req_u64("qk_rope_head_dim")?,
            v_head: raw.req_u64("v_head_dim")?,
            tied_embeddings: raw
                .get("tie_word_embeddings")
                .and_then(Json::as_bool)
                .unwrap_or(false),
            n_nextn: raw.opt_u64("num_nextn_predict_layers")?.unwrap_or(0),
            rope: raw.rope_dict(),
            raw,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        let p = &self.raw.path;
        for (name, v) in [
            ("num_hidden_layers", self.n_layer),
            ("hidden_size", self.n_embd),
            ("num_attention_heads", self.n_head),
            ("vocab_size", self.vocab_size),
            ("kv_lora_rank", self.kv_lora_rank),
            ("qk_rope_head_dim", self.qk_rope),
            ("v_head_dim", self.v_head),
        ] {
            if v == 0 {
                return Err(Error::bad_file(
                    p,
                    format!("{name} must be positive, found 0"),
                ));
            }
        }
        let dims = [
            ("intermediate_size", self.n_ff),
            ("moe_intermediate_size", self.n_ff_exp),
            ("n_shared_experts", self.n_shared),
            ("kv_lora_rank", self.kv_lora_rank),
            ("qk_nope_head_dim", self.qk_nope),
            ("qk_rope_head_dim", self.qk_rope),
            ("v_head_dim", self.v_head),
            ("q_lora_rank", self.q_lora_rank.unwrap_or(0)),
            ("vocab_size", self.vocab_size),
            ("num_nextn_predict_layers", self.n_nextn),
        ];
        for (name, v) in dims {
            if v > 1 << 24 {
                return Err(Error::bad_file(
                    p,
                    format!("{name} = {v} is implausibly large (more than 2^24)"),
                ));
            }
        }
        if self.n_layer > 4096 || self.n_head > 65536 || self.n_embd > (1 << 24) {
            return Err(Error::bad_file(
                p,
                "implausibly large num_hidden_layers, num_attention_heads or hidden_size",
            ));
        }
        if let Some(e) = self.n_expert {
            if e == 0 || e > 1 << 16 {
                return Err(Error::bad_file(
                    p,
                    format!("n_routed_experts must be between 1 and 65536, found {e}"),
                ));
            }
            let used = self.raw.opt_u64("num_experts_per_tok")?.unwrap_or(0);
            if used == 0 || used > e {
                return Err(Error::bad_file(
                    p,
                    format!(
                        "num_experts_per_tok must be between 1 and n_routed_experts ({e}), found {used}"
                    ),
                ));
            }
        }
        if self.n_dense_lead > self.n_layer {
            return Err(Error::bad_file(
                p,
                format!(
                    "first_k_dense_replace ({}) exceeds num_hidden_layers ({})",
                    self.n_dense_lead, self.n_layer
                ),
            ));
        }
        if self.n_expert.is_none() && self.n_dense_lead < self.n_layer {
            return Err(Error::bad_file(
                p,
                "layers after first_k_dense_replace are MoE, but n_routed_experts is missing",
            ));
        }
        if let Some(s) = self.raw.get("scoring_func")
            && !matches!(s.as_str(), Some("softmax" | "sigmoid"))
        {
            return Err(Error::Unsupported(format!(
                "{}: scoring_func {s}; deepseek2 supports \"softmax\" and \"sigmoid\"",
                p.display()
            )));
        }
        self.validate_types()?;
        self.validate_groups()?;
        self.validate_rope()
    }

    /// Every other key the metadata is made from has the JSON type it needs: a value of another
    /// type is an error, never silently dropped or defaulted.
    fn validate_types(&self) -> Result<()> {
        let r = &self.raw;
        for k in ["max_position_embeddings", "n_group", "topk_group"] {
            r.opt_u64(k)?;
        }
        for k in ["rms_norm_eps", "routed_scaling_factor", "rope_theta"] {
            r.opt_f64(k)?;
        }
        for k in ["norm_topk_prob", "tie_word_embeddings"] {
            r.opt_bool(k)?;
        }
        if let Some(e) = r.opt_f64("rms_norm_eps")?
            && (e.is_nan() || e <= 0.0 || e >= 1.0)
        {
            return Err(Error::bad_file(
                &r.path,
                format!("rms_norm_eps must be between 0 and 1, found {e}"),
            ));
        }
        Ok(())
    }

    /// Expert groups as llama.cpp's loader accepts them: 1 ≤ n_group < experts, experts a
    /// multiple of n_group, and with several groups 1 ≤ topk_group < n_group.
    fn validate_groups(&self) -> Result<()> {
        let r = &self.raw;
        let p = &r.path;
        let used = r.opt_u64("num_experts_per_tok")?;
        let groups = r.opt_u64("n_group")?;
        let topk = r.opt_u64("topk_group")?;
        let Some(e) = self.n_expert else {
            return Ok(());
        };
        if used.is_none() {
            return Err(Error::bad_file(
                p,
                "num_experts_per_tok is missing: a MoE model must say how many experts each token uses",
            ));
        }
        if let Some(g) = groups {
            if g == 0 || g >= e {
                return Err(Error::bad_file(
                    p,
                    format!(
                        "n_group must be at least 1 and below n_routed_experts ({e}), found {g}"
                    ),
                ));
            }
            if g > 1 && !e.is_multiple_of(g) {
                return Err(Error::bad_file(
                    p,
                    format!("n_routed_experts ({e}) is not a multiple of n_group ({g})"),
                ));
            }
            if let Some(t) = topk
                && (t == 0 || t > g || (g > 1 && t == g))
            {
                return Err(Error::bad_file(
                    p,
                    format!(
                        "topk_group must be at least 1 and {} n_group ({g}), found {t}",
                        if g > 1 { "below" } else { "at most" }
                    ),
                ));
            }
        } else if let Some(t) = topk
            && t == 0
        {
            return Err(Error::bad_file(p, "topk_group must be at least 1, found 0"));
        }
        Ok(())
    }

    /// The rope dictionary's values have the types the keys need.
    fn validate_rope(&self) -> Result<()> {
        let p = &self.raw.path;
        let rope = &self.rope;
        let named = |k: &str| format!("rope_scaling.{k}");
        let rt = crate::checkpoint::config::opt_of(p, rope, "rope_type", "a string", Json::as_str)
            .map_err(|_| Error::bad_file(p, format!("'{}' must be a string", named("type"))))?;
        for k in [
            "factor",
            "rope_theta",
            "extrapolation_factor",
            "attention_factor",
            "attn_factor",
            "beta_fast",
            "beta_slow",
            "mscale",
            "mscale_all_dim",
        ] {
            crate::checkpoint::config::opt_of(p, rope, k, "a number", Json::as_f64).map_err(
                |_| {
                    Error::bad_file(
                        p,
                        format!(
                            "'{}' must be a number, found {}",
                            named(k),
                            rope.get(k).unwrap_or(&Json::Null)
                        ),
                    )
                },
            )?;
        }
        crate::checkpoint::config::opt_of(
            p,
            rope,
            "original_max_position_embeddings",
            "a non-negative integer",
            Json::as_u64,
        )
        .map_err(|_| {
            Error::bad_file(
                p,
                format!(
                    "'{}' must be a non-negative integer, found {}",
                    named("original_max_position_embeddings"),
                    rope.get("original_max_position_embeddings")
                        .unwrap_or(&Json::Null)
                ),
            )
        })?;
        if let Some(f) = rope.get("factor").and_then(Json::as_f64)
            && matches!(rt, Some("yarn" | "linear"))
            && (f.is_nan() || f <= 0.0)
        {
            return Err(Error::bad_file(
                p,
                format!("'{}' must be positive, found {f}", named("factor")),
            ));
        }
        Ok(())
    }

    /// True when `layer` has a dense FFN (`mlp.{gate,up,down}_proj`) rather than experts.
    pub fn is_dense_layer(&self, layer: u64) -> bool {
        layer < self.n_dense_lead || self.n_expert.is_none()
    }

    /// A number from the config (integers and floats alike), if present and numeric.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.raw.num(key)
    }

    /// The FP8 block size when the checkpoint declares FP8 weights.
    pub fn fp8_block(&self) -> Option<[u64; 2]> {
        match &self.raw.quantization {
            Quantization::Fp8(f) => Some(f.block),
            Quantization::None | Quantization::PackedInt(_) => None,
        }
    }

    /// The INT4 group layout when the checkpoint declares compressed-tensors weights.
    pub fn packed_int(&self) -> Option<&crate::checkpoint::config::PackedIntConfig> {
        match &self.raw.quantization {
            Quantization::PackedInt(p) => Some(p),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn parse(j: Json) -> Result<DeepseekConfig> {
        DeepseekConfig::from_raw(RawConfig::from_json(Path::new("config.json"), j)?)
    }

    fn v3() -> Json {
        json!({
            "architectures": ["DeepseekV3ForCausalLM"], "hidden_size": 7168, "num_hidden_layers": 61,
            "num_attention_heads": 128, "num_key_value_heads": 128, "intermediate_size": 18432,
            "moe_intermediate_size": 2048, "n_routed_experts": 256, "n_shared_experts": 1,
            "num_experts_per_tok": 8, "first_k_dense_replace": 3, "q_lora_rank": 1536, "kv_lora_rank": 512,
            "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 129280,
            "rope_theta": 10000, "scoring_func": "sigmoid",
            "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "mscale_all_dim": 1.0},
            "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}
        })
    }

    #[test]
    fn reads_v3() {
        let c = parse(v3()).unwrap();
        assert_eq!(c.n_layer, 61);
        assert_eq!(c.n_expert, Some(256));
        assert_eq!(c.q_lora_rank, Some(1536));
        assert_eq!(c.fp8_block(), Some([128, 128]));
        assert_eq!(c.rope.get("rope_type").unwrap(), "yarn");
        assert_eq!(c.rope.get("rope_theta").unwrap(), 10000);
        assert!(c.is_dense_layer(2) && !c.is_dense_layer(3));
    }

    #[test]
    fn rejects_bad_values() {
        let mut j = v3();
        j["hidden_size"] = json!("big");
        let e = parse(j).unwrap_err().to_string();
        assert!(e.contains("hidden_size") && e.contains("\"big\""), "{e}");
        let mut j = v3();
        j.as_object_mut().unwrap().remove("qk_rope_head_dim");
        let e = parse(j).unwrap_err().to_string();
        assert!(e.contains("qk_rope_head_dim"), "{e}");
        let mut j = v3();
        j["num_experts_per_tok"] = json!(300);
        let e = parse(j).unwrap_err().to_string();
        assert!(e.contains("num_experts_per_tok"), "{e}");
    }

    #[test]
    fn wrong_types_and_ranges_are_errors_naming_the_key() {
        for (key, value, want) in [
            (
                "rope_scaling",
                json!({"type": "yarn", "factor": "40", "original_max_position_embeddings": 4096}),
                "rope_scaling.factor",
            ),
            (
                "rope_scaling",
                json!({"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096.5}),
                "original_max_position_embeddings",
            ),
            (
                "rope_scaling",
                json!({"type": 3, "factor": 40}),
                "rope_scaling.type",
            ),
            (
                "rope_scaling",
                json!({"type": "yarn", "factor": -1, "original_max_position_embeddings": 4096}),
                "positive",
            ),
            ("n_group", json!(0), "n_group"),
            ("n_group", json!(7), "multiple of n_group"),
            ("n_group", json!(256), "n_group"),
            ("topk_group", json!(9), "topk_group"),
            ("topk_group", json!(8), "topk_group"),
            ("num_experts_per_tok", json!(2.5), "num_experts_per_tok"),
            ("num_experts_per_tok", json!(257), "num_experts_per_tok"),
            ("rms_norm_eps", json!("1e-6"), "rms_norm_eps"),
            ("rms_norm_eps", json!(0), "rms_norm_eps"),
            (
                "routed_scaling_factor",
                json!([2.5]),
                "routed_scaling_factor",
            ),
            ("norm_topk_prob", json!("true"), "norm_topk_prob"),
            (
                "max_position_embeddings",
                json!(-5),
                "max_position_embeddings",
            ),
            ("tie_word_embeddings", json!(1), "tie_word_embeddings"),
        ] {
            let mut j = v3();
            j["n_group"] = json!(8);
            j["topk_group"] = json!(4);
            j[key] = value.clone();
            let e = parse(j).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(want), "{key} = {value}: {e}");
        }
        let mut j = v3();
        j.as_object_mut().unwrap().remove("num_experts_per_tok");
        assert!(
            parse(j)
                .unwrap_err()
                .to_string()
                .contains("num_experts_per_tok")
        );
        // a yarn type without a factor is what llama.cpp passes over: not an error
        let mut j = v3();
        j["rope_scaling"] = json!({"type": "yarn"});
        parse(j).unwrap();
    }

    #[test]
    fn v2_lite_defaults() {
        let j = json!({
            "architectures": ["DeepseekV2ForCausalLM"], "hidden_size": 2048, "num_hidden_layers": 27,
            "num_attention_heads": 16, "intermediate_size": 10944, "moe_intermediate_size": 1408,
            "n_routed_experts": 64, "num_experts_per_tok": 6, "first_k_dense_replace": 1, "q_lora_rank": null,
            "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 102400
        });
        let c = parse(j).unwrap();
        assert_eq!(c.q_lora_rank, None);
        assert_eq!(c.n_head_kv, 16);
        assert_eq!(c.n_shared, 0);
        assert!(c.fp8_block().is_none());
    }
}
