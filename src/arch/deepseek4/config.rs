//! DeepSeek-V4's `config.json`: the hyper-parameters llama.cpp's converter reads, checked
//! against what llama.cpp's `deepseek4` loader and graph accept.

use crate::checkpoint::config::RawConfig;
use crate::{Error, Result};
use serde_json::Value as Json;

/// The compress ratios llama.cpp's loader accepts (0 = no compressor).
pub const RATIOS: [i64; 3] = [0, 4, 128];

/// DeepSeek-V4's typed hyper-parameters.
#[derive(Clone, Debug)]
pub struct V4Config {
    /// The parsed `config.json`.
    pub raw: RawConfig,
    /// `num_hidden_layers` (trunk layers).
    pub n_layer: u64,
    /// `num_nextn_predict_layers` (MTP layers, stored as `mtp.J.*`).
    pub n_nextn: u64,
    /// `hidden_size`.
    pub hidden: u64,
    /// `num_attention_heads`.
    pub n_head: u64,
    /// `num_key_value_heads`, if given.
    pub n_head_kv: Option<u64>,
    /// `head_dim`.
    pub head_dim: u64,
    /// `qk_rope_head_dim`.
    pub qk_rope: u64,
    /// `q_lora_rank`.
    pub q_lora: u64,
    /// `o_groups`.
    pub o_groups: u64,
    /// `o_lora_rank`.
    pub o_lora: u64,
    /// `sliding_window`.
    pub window: u64,
    /// `compress_ratios`, one per layer (trunk then MTP), as listed.
    pub ratios: Vec<i64>,
    /// `n_routed_experts`.
    pub n_expert: u64,
    /// `num_experts_per_tok`.
    pub n_used: u64,
    /// `n_shared_experts`.
    pub n_shared: u64,
    /// `moe_intermediate_size`.
    pub moe_ff: u64,
    /// `hc_mult` (hyper-connection streams).
    pub hc: u64,
    /// `num_hash_layers` (leading layers routed by token id).
    pub hash_layers: u64,
    /// `index_n_heads`.
    pub index_heads: u64,
    /// `index_head_dim`.
    pub index_dim: u64,
    /// `index_topk`.
    pub index_topk: u64,
    /// `vocab_size`.
    pub vocab: u64,
}

fn bad(raw: &RawConfig, key: &str, expected: &str, found: impl std::fmt::Display) -> Error {
    Error::bad_file(
        &raw.path,
        format!("'{key}': expected {expected}, found {found}"),
    )
}

impl V4Config {
    /// Reads and checks the hyper-parameters.
    pub fn from_raw(raw: RawConfig) -> Result<V4Config> {
        let req = |k: &str| raw.req_u64(k);
        let ratios = match raw.get("compress_ratios") {
            Some(Json::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_i64()
                        .ok_or_else(|| bad(&raw, "compress_ratios", "a list of integers", v))
                })
                .collect::<Result<Vec<i64>>>()?,
            Some(v) => return Err(bad(&raw, "compress_ratios", "a list of integers", v)),
            None => {
                return Err(Error::bad_file(
                    &raw.path,
                    "required key 'compress_ratios' is missing",
                ));
            }
        };
        let cfg = V4Config {
            n_layer: req("num_hidden_layers")?,
            n_nextn: raw.opt_u64("num_nextn_predict_layers")?.unwrap_or(0),
            hidden: req("hidden_size")?,
            n_head: req("num_attention_heads")?,
            n_head_kv: raw.opt_u64("num_key_value_heads")?,
            head_dim: req("head_dim")?,
            qk_rope: req("qk_rope_head_dim")?,
            q_lora: req("q_lora_rank")?,
            o_groups: req("o_groups")?,
            o_lora: req("o_lora_rank")?,
            window: req("sliding_window")?,
            ratios,
            n_expert: req("n_routed_experts")?,
            n_used: req("num_experts_per_tok")?,
            n_shared: req("n_shared_experts")?,
            moe_ff: req("moe_intermediate_size")?,
            hc: req("hc_mult")?,
            hash_layers: req("num_hash_layers")?,
            index_heads: req("index_n_heads")?,
            index_dim: req("index_head_dim")?,
            index_topk: req("index_topk")?,
            vocab: req("vocab_size")?,
            raw,
        };
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<()> {
        let raw = &self.raw;
        match raw.get("scoring_func") {
            Some(Json::String(s)) if s == "sqrtsoftplus" => {}
            Some(v) => {
                return Err(bad(
                    raw,
                    "scoring_func",
                    "\"sqrtsoftplus\" (llama.cpp's deepseek4 only runs that gating)",
                    v,
                ));
            }
            None => {
                return Err(bad(
                    raw,
                    "scoring_func",
                    "\"sqrtsoftplus\" (llama.cpp's deepseek4 only runs that gating)",
                    "nothing",
                ));
            }
        }
        if self.hc != 4 {
            return Err(bad(
                raw,
                "hc_mult",
                "4 (llama.cpp's deepseek4 graph asserts 4 hyper-connection streams)",
                self.hc,
            ));
        }
        for (i, r) in self.ratios.iter().enumerate() {
            if !RATIOS.contains(r) {
                return Err(bad(
                    raw,
                    &format!("compress_ratios[{i}]"),
                    "0, 4 or 128 (llama.cpp rejects other ratios)",
                    r,
                ));
            }
        }
        let total = self.n_layer + self.n_nextn;
        if (self.ratios.len() as u64) < total {
            return Err(bad(
                raw,
                "compress_ratios",
                &format!("one ratio per layer ({total} = trunk + MTP)"),
                format!("{} entries", self.ratios.len()),
            ));
        }
        if self.n_layer == 0 || self.hidden == 0 || self.n_head == 0 || self.vocab == 0 {
            return Err(Error::bad_file(
                &raw.path,
                "num_hidden_layers, hidden_size, num_attention_heads and vocab_size must be positive",
            ));
        }
        if self.o_groups == 0 || !(self.n_head * self.head_dim).is_multiple_of(self.o_groups) {
            return Err(bad(
                raw,
                "o_groups",
                &format!(
                    "a divisor of num_attention_heads·head_dim = {}",
                    self.n_head * self.head_dim
                ),
                self.o_groups,
            ));
        }
        if !self.n_head.is_multiple_of(self.o_groups) {
            return Err(bad(
                raw,
                "o_groups",
                &format!(
                    "a divisor of num_attention_heads = {} (llama.cpp's loader)",
                    self.n_head
                ),
                self.o_groups,
            ));
        }
        for (k, v) in [
            ("hidden_size", self.hidden),
            ("moe_intermediate_size", self.moe_ff),
        ] {
            if !v.is_multiple_of(32) || v == 0 {
                return Err(bad(
                    raw,
                    k,
                    "a positive multiple of 32 (FP4 experts repack into 32-element MXFP4 blocks)",
                    v,
                ));
            }
        }
        if self.hash_layers > self.n_layer {
            return Err(bad(
                raw,
                "num_hash_layers",
                &format!("at most num_hidden_layers = {}", self.n_layer),
                self.hash_layers,
            ));
        }
        if self.n_expert == 0 || self.n_used == 0 || self.n_used > self.n_expert {
            return Err(bad(
                raw,
                "num_experts_per_tok",
                &format!("1..={} (n_routed_experts)", self.n_expert),
                self.n_used,
            ));
        }
        for k in [
            "routed_scaling_factor",
            "swiglu_limit",
            "compress_rope_theta",
            "hc_eps",
        ] {
            if raw.num(k).is_none() {
                return Err(bad(
                    raw,
                    k,
                    "a number",
                    raw.get(k).map_or("nothing".to_string(), |v| v.to_string()),
                ));
            }
        }
        if raw.opt_bool("norm_topk_prob")?.is_none() {
            return Err(bad(raw, "norm_topk_prob", "true or false", "nothing"));
        }
        raw.req_u64("hc_sinkhorn_iters")?;
        Ok(())
    }

    /// The compress ratio of layer `i` (trunk then MTP).
    pub fn ratio(&self, i: u64) -> i64 {
        self.ratios.get(i as usize).copied().unwrap_or(0)
    }

    /// Rows of the compressor projections for a ratio (2·head_dim for ratio 4, else head_dim).
    pub fn compressor_rows(&self, ratio: i64) -> u64 {
        if ratio == 4 {
            2 * self.head_dim
        } else {
            self.head_dim
        }
    }
}
