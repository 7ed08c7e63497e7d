//! `config.json` of a DeepSeek V2/V3-family checkpoint: the hyper-parameters the plan needs,
//! read without transformers, with both the legacy `rope_scaling` and the transformers-5
//! `rope_parameters` forms.

use crate::{Error, Result};
use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};

/// The FP8 block quantisation described by `quantization_config`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fp8Config {
    /// Rows and columns covered by one scale (`weight_block_size`, usually 128×128).
    pub block: [u64; 2],
    /// `scale_fmt` (`"ue8m0"` for V3.1), if given.
    pub scale_fmt: Option<String>,
}

/// The hyper-parameters of a DeepSeek V2/V3-family model.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// Where it was read from.
    pub path: PathBuf,
    /// `architectures[0]`.
    pub architecture: String,
    /// The whole JSON object (with `text_config` merged onto the root).
    pub raw: Map<String, Json>,
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
    /// The FP8 quantisation, when `quantization_config.quant_method` is `fp8`.
    pub fp8: Option<Fp8Config>,
    /// The rope dictionary as llama.cpp's converter sees it (`rope_parameters` or
    /// `rope_scaling`, with `rope_theta`, `rope_type` and `original_max_position_embeddings`
    /// mirrored in).
    pub rope: Map<String, Json>,
}

/// Architectures converted to `deepseek2`.
pub const SUPPORTED_ARCHITECTURES: [&str; 2] = ["DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"];

impl ModelConfig {
    /// Reads `dir/config.json`.
    pub fn read(dir: &Path) -> Result<ModelConfig> {
        let path = dir.join("config.json");
        let json = super::read_json(&path)?;
        ModelConfig::from_json(&path, json)
    }

    /// Interprets an already parsed `config.json` (`path` is used in messages).
    pub fn from_json(path: &Path, json: Json) -> Result<ModelConfig> {
        let Json::Object(mut raw) = json else {
            return Err(Error::bad_file(
                path,
                "expected a JSON object at the top level",
            ));
        };
        if let Some(Json::Object(text)) = raw.get("text_config").cloned() {
            for (k, v) in text {
                raw.insert(k, v);
            }
        }
        let architecture = match raw.get("architectures") {
            Some(Json::Array(a)) if !a.is_empty() => a[0]
                .as_str()
                .ok_or_else(|| Error::bad_file(path, "'architectures' must be a list of strings"))?
                .to_string(),
            Some(_) => {
                return Err(Error::bad_file(
                    path,
                    "'architectures' must be a non-empty list",
                ));
            }
            None => {
                return Err(Error::bad_file(
                    path,
                    "no 'architectures' entry: cannot tell what model this is",
                ));
            }
        };
        if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
            let hint = match architecture.as_str() {
                "DeepseekV32ForCausalLM" => {
                    " (DeepSeek-V3.2 uses the 'deepseek32' architecture, not supported yet)"
                }
                "DeepseekV4ForCausalLM" => " (DeepSeek-V4 is not supported yet)",
                "DeepseekForCausalLM" => {
                    " (DeepSeek-MoE 16B uses the older 'deepseek' architecture)"
                }
                _ => "",
            };
            return Err(Error::Unsupported(format!(
                "{}: architecture '{architecture}'{hint}; ds2gguf converts {}",
                path.display(),
                SUPPORTED_ARCHITECTURES.join(" and ")
            )));
        }
        let c = Reader { path, raw: &raw };
        let n_layer = c.req_u64("num_hidden_layers")?;
        let n_head = c.req_u64("num_attention_heads")?;
        let n_ff = c.req_u64("intermediate_size")?;
        let n_expert = c.opt_u64("n_routed_experts")?;
        let n_dense_lead = match c.opt_u64("first_k_dense_replace")? {
            Some(v) => v,
            None if n_expert.is_none() => n_layer,
            None => 0,
        };
        let q_lora_rank = c.opt_u64("q_lora_rank")?;
        let fp8 = match raw.get("quantization_config") {
            None | Some(Json::Null) => None,
            Some(Json::Object(q)) => {
                let method = q.get("quant_method").and_then(Json::as_str).unwrap_or("");
                if method != "fp8" {
                    return Err(Error::Unsupported(format!(
                        "{}: quantization_config.quant_method '{method}'; ds2gguf reads unquantized and block-FP8 ('fp8') checkpoints",
                        path.display()
                    )));
                }
                let block = match q.get("weight_block_size") {
                    Some(Json::Array(a)) if a.len() == 2 => {
                        let r = a[0].as_u64().filter(|v| *v > 0);
                        let cc = a[1].as_u64().filter(|v| *v > 0);
                        match (r, cc) {
                            (Some(r), Some(cc)) => [r, cc],
                            _ => {
                                return Err(Error::bad_file(
                                    path,
                                    "quantization_config.weight_block_size must be two positive integers",
                                ));
                            }
                        }
                    }
                    None => [128, 128],
                    Some(other) => {
                        return Err(Error::bad_file(
                            path,
                            format!(
                                "quantization_config.weight_block_size must be [rows, cols], found {other}"
                            ),
                        ));
                    }
                };
                let scale_fmt = q
                    .get("scale_fmt")
                    .and_then(Json::as_str)
                    .map(str::to_string);
                Some(Fp8Config { block, scale_fmt })
            }
            Some(_) => {
                return Err(Error::bad_file(
                    path,
                    "quantization_config must be an object",
                ));
            }
        };
        let cfg = ModelConfig {
            path: path.to_path_buf(),
            architecture,
            n_layer,
            n_embd: c.req_u64("hidden_size")?,
            n_head,
            n_head_kv: c.opt_u64("num_key_value_heads")?.unwrap_or(n_head),
            vocab_size: c.req_u64("vocab_size")?,
            n_ff,
            n_ff_exp: c.opt_u64("moe_intermediate_size")?.unwrap_or(n_ff),
            n_expert,
            n_shared: c.opt_u64("n_shared_experts")?.unwrap_or(0),
            n_dense_lead,
            q_lora_rank,
            kv_lora_rank: c.opt_u64("kv_lora_rank")?.unwrap_or(512),
            qk_nope: c.req_u64("qk_nope_head_dim")?,
            qk_rope: c.req_u64("qk_rope_head_dim")?,
            v_head: c.req_u64("v_head_dim")?,
            tied_embeddings: raw
                .get("tie_word_embeddings")
                .and_then(Json::as_bool)
                .unwrap_or(false),
            n_nextn: c.opt_u64("num_nextn_predict_layers")?.unwrap_or(0),
            fp8,
            rope: rope_dict(&raw),
            raw: raw.clone(),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        let p = &self.path;
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
            let used = self
                .raw
                .get("num_experts_per_tok")
                .and_then(Json::as_u64)
                .unwrap_or(0);
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
        Ok(())
    }

    /// True when `layer` has a dense FFN (`mlp.{gate,up,down}_proj`) rather than experts.
    pub fn is_dense_layer(&self, layer: u64) -> bool {
        layer < self.n_dense_lead || self.n_expert.is_none()
    }

    /// A number from the config (integers and floats alike), if present and numeric.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.raw.get(key).and_then(Json::as_f64)
    }
}

/// The rope dictionary exactly as llama.cpp's `TextModel.__init__` assembles it.
fn rope_dict(raw: &Map<String, Json>) -> Map<String, Json> {
    let mut rope = match raw
        .get("rope_parameters")
        .or_else(|| raw.get("rope_scaling"))
    {
        Some(Json::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    if !rope.contains_key("full_attention") && !rope.contains_key("sliding_attention") {
        if !rope.contains_key("rope_theta")
            && let Some(t) = raw.get("rope_theta").filter(|v| !v.is_null())
        {
            rope.insert("rope_theta".into(), t.clone());
        }
        if !rope.contains_key("rope_type")
            && let Some(t) = rope.get("type").cloned().filter(|v| !v.is_null())
        {
            rope.insert("rope_type".into(), t);
        }
        if !rope.contains_key("original_max_position_embeddings")
            && let Some(t) = raw
                .get("original_max_position_embeddings")
                .filter(|v| !v.is_null())
        {
            rope.insert("original_max_position_embeddings".into(), t.clone());
        }
    }
    rope
}

struct Reader<'a> {
    path: &'a Path,
    raw: &'a Map<String, Json>,
}

impl Reader<'_> {
    fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        match self.raw.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) => Ok(Some(n)),
                None => Err(Error::bad_file(
                    self.path,
                    format!("'{key}' must be a non-negative integer, found {v}"),
                )),
            },
        }
    }

    fn req_u64(&self, key: &str) -> Result<u64> {
        self.opt_u64(key)?
            .ok_or_else(|| Error::bad_file(self.path, format!("required key '{key}' is missing")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let c = ModelConfig::from_json(Path::new("config.json"), v3()).unwrap();
        assert_eq!(c.n_layer, 61);
        assert_eq!(c.n_expert, Some(256));
        assert_eq!(c.q_lora_rank, Some(1536));
        assert_eq!(c.fp8.as_ref().unwrap().block, [128, 128]);
        assert_eq!(c.rope.get("rope_type").unwrap(), "yarn");
        assert_eq!(c.rope.get("rope_theta").unwrap(), 10000);
        assert!(c.is_dense_layer(2) && !c.is_dense_layer(3));
    }

    #[test]
    fn rope_parameters_form() {
        let mut j = v3();
        let o = j.as_object_mut().unwrap();
        o.remove("rope_scaling");
        o.remove("rope_theta");
        o.insert("rope_parameters".into(), json!({"rope_type": "yarn", "factor": 40.0, "rope_theta": 10000.0, "original_max_position_embeddings": 4096}));
        let c = ModelConfig::from_json(Path::new("config.json"), j).unwrap();
        assert_eq!(c.rope.get("rope_theta").unwrap(), 10000.0);
        assert_eq!(c.rope.get("factor").unwrap(), 40.0);
    }

    #[test]
    fn rejects_unknown_arch_and_bad_values() {
        let mut j = v3();
        j["architectures"] = json!(["LlamaForCausalLM"]);
        let e = ModelConfig::from_json(Path::new("m/config.json"), j)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("LlamaForCausalLM") && e.contains("m/config.json"),
            "{e}"
        );
        let mut j = v3();
        j["hidden_size"] = json!("big");
        let e = ModelConfig::from_json(Path::new("config.json"), j)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hidden_size") && e.contains("\"big\""), "{e}");
        let mut j = v3();
        j.as_object_mut().unwrap().remove("qk_rope_head_dim");
        let e = ModelConfig::from_json(Path::new("config.json"), j)
            .unwrap_err()
            .to_string();
        assert!(e.contains("qk_rope_head_dim"), "{e}");
        let e = ModelConfig::from_json(Path::new("config.json"), json!([1]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("object"), "{e}");
    }

    #[test]
    fn v2_lite_defaults() {
        let j = json!({
            "architectures": ["DeepseekV2ForCausalLM"], "hidden_size": 2048, "num_hidden_layers": 27,
            "num_attention_heads": 16, "intermediate_size": 10944, "moe_intermediate_size": 1408,
            "n_routed_experts": 64, "num_experts_per_tok": 6, "first_k_dense_replace": 1, "q_lora_rank": null,
            "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 102400
        });
        let c = ModelConfig::from_json(Path::new("config.json"), j).unwrap();
        assert_eq!(c.q_lora_rank, None);
        assert_eq!(c.n_head_kv, 16);
        assert_eq!(c.n_shared, 0);
        assert!(c.fp8.is_none());
    }
}
