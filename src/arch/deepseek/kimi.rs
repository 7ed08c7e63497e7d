//! What llama.cpp's `deepseek2` runtime does differently from what Kimi-K2 and Moonlight
//! checkpoints say, reported as warnings (the keys are still written as the reference writes
//! them).

use super::DeepseekConfig;
use serde_json::Value as Json;

/// The YaRN β values llama.cpp's context uses when the model loader does not read them
/// (`yarn_beta_fast`, `yarn_beta_slow`).
pub const RUNTIME_YARN_BETA: (f64, f64) = (32.0, 1.0);

/// Warnings for YaRN β values the runtime ignores (Kimi-K2 ships 1/1) and for a
/// `q_lora_rank`-less model that the loader only accepts with 27 layers.
pub fn warnings(cfg: &DeepseekConfig) -> Vec<String> {
    let mut w = Vec::new();
    let rope = &cfg.rope;
    let yarn = rope.get("rope_type").and_then(Json::as_str) == Some("yarn")
        && rope.get("factor").is_some_and(|f| !f.is_null());
    if yarn {
        let fast = rope.get("beta_fast").and_then(Json::as_f64);
        let slow = rope.get("beta_slow").and_then(Json::as_f64);
        let (rf, rs) = RUNTIME_YARN_BETA;
        if fast.is_some_and(|f| f != rf) || slow.is_some_and(|s| s != rs) {
            let show = |v: Option<f64>| v.map_or("unset".to_string(), |v| v.to_string());
            w.push(format!(
                "rope.scaling.yarn_beta_fast/slow are written as the checkpoint says ({}/{}), but \
                 llama.cpp's deepseek2 loader ignores them and runs {rf}/{rs}: the RoPE differs \
                 from the model's unless yarn_beta_fast/yarn_beta_slow are given at context creation",
                show(fast),
                show(slow)
            ));
        }
    }
    if cfg.q_lora_rank.is_none() && cfg.n_layer != 27 {
        w.push(format!(
            "no q_lora_rank and {} layers: llama.cpp's deepseek2 loader accepts a model without \
             q_lora_rank only with 27 layers (DeepSeek-V2-Lite, Moonlight); this file will not load",
            cfg.n_layer
        ));
    }
    w
}
