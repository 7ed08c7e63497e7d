//! The `deepseek2` architecture: GGUF metadata keys, tensor names and shapes, and the mapping
//! from a DeepSeek V2/V3 checkpoint's tensors to output tensors (expert stacking, the MLA
//! split of `kv_b_proj`, MTP layers left out), in llama.cpp's converter order.

use crate::checkpoint::config::ModelConfig;
use crate::checkpoint::safetensors::{Checkpoint, Dtype, TensorEntry};
use crate::gguf::Value;
use crate::{Error, Result};
use serde_json::Value as Json;
use std::collections::HashMap;

/// The GGUF architecture name.
pub const ARCH: &str = "deepseek2";

/// Largest expert count llama.cpp at the reference commit loads (`LLAMA_MAX_EXPERTS`).
pub const LLAMA_MAX_EXPERTS: u64 = 512;

/// How attention's `kv_b_proj` is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// llama.cpp's MLA layout: `attn_k_b` and `attn_v_b`, `head_count_kv` 1, `*_mla` keys.
    Mla,
    /// Ollama's (pre-MLA) layout: `attn_kv_b` whole, `head_count_kv` = heads, no `*_mla` keys.
    Legacy,
}

/// A checkpoint tensor used as input, with its FP8 block scale when it has one.
#[derive(Clone, Debug)]
pub struct SrcRef {
    /// Index into [`Checkpoint::tensors`].
    pub tensor: usize,
    /// Index of the scale tensor (`<name>_scale_inv` or `<name>_scale`), for FP8 weights.
    pub scale: Option<usize>,
    /// Rows and columns covered by one scale.
    pub block: (u64, u64),
}

/// Where an output tensor's rows come from. Output rows are `ne[0]` elements long; a
/// tensor has `ne[1] × ne[2] × …` rows.
#[derive(Clone, Debug)]
pub enum Source {
    /// Row `i` of the output is row `i` of the source (1-D tensors are one row).
    Rows(SrcRef),
    /// Expert tensors stacked on a new outermost axis: expert `e`'s rows follow expert `e-1`'s.
    Stack(Vec<SrcRef>),
    /// `attn_k_b` from `kv_b_proj` `[H·(nope+v), r]`: output `[H][r][nope]`,
    /// `out[h][c][d] = W[h·(nope+v)+d][c]`.
    KvbK {
        src: SrcRef,
        heads: u64,
        nope: u64,
        v: u64,
        rank: u64,
    },
    /// `attn_v_b` from `kv_b_proj`: output `[H][v][r]`, `out[h][j] = W[h·(nope+v)+nope+j]`.
    KvbV {
        src: SrcRef,
        heads: u64,
        nope: u64,
        v: u64,
        rank: u64,
    },
}

/// One output tensor before types and offsets are chosen.
#[derive(Clone, Debug)]
pub struct MappedTensor {
    /// GGUF name.
    pub name: String,
    /// Shape in ggml order (`ne[0]` = row length).
    pub ne: Vec<u64>,
    /// Where its data comes from.
    pub source: Source,
}

impl MappedTensor {
    /// Number of rows (`ne[1] × ne[2] × …`).
    pub fn n_rows(&self) -> u64 {
        self.ne.iter().skip(1).product()
    }
}

/// A config value that GGUF stores as u32; larger values are an error, not a silent wrap.
fn checked_u32(cfg: &ModelConfig, key: &str, x: u64) -> Result<Value> {
    u32::try_from(x).map(Value::U32).map_err(|_| {
        Error::bad_file(
            &cfg.path,
            format!("{key} = {x} does not fit the 32 bits GGUF stores"),
        )
    })
}

fn u32v(x: u64) -> Value {
    Value::U32(x as u32)
}

fn f32v(x: f64) -> Value {
    Value::F32(x as f32)
}

/// The architecture keys, in the order llama.cpp's converter writes them (between
/// `general.*` and `tokenizer.*`), including `general.file_type`.
pub fn arch_kvs(cfg: &ModelConfig, file_type: u32, layout: Layout) -> Result<Vec<(String, Value)>> {
    let mut kv: Vec<(String, Value)> = Vec::new();
    let mut put = |k: &str, v: Value| {
        let key = if k.starts_with("general.") {
            k.to_string()
        } else {
            format!("{ARCH}.{k}")
        };
        if let Some(slot) = kv.iter_mut().find(|(n, _)| *n == key) {
            slot.1 = v; // gguf-py replaces a duplicated key in place
        } else {
            kv.push((key, v));
        }
    };
    let raw = &cfg.raw;
    let num = |k: &str| raw.get(k).and_then(Json::as_f64);
    put("block_count", u32v(cfg.n_layer));
    if let Some(v) = raw.get("max_position_embeddings").and_then(Json::as_u64) {
        put(
            "context_length",
            checked_u32(cfg, "max_position_embeddings", v)?,
        );
    }
    put("embedding_length", u32v(cfg.n_embd));
    put("feed_forward_length", u32v(cfg.n_ff));
    put("attention.head_count", u32v(cfg.n_head));
    put(
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
                put("rope.scaling.type", Value::String("linear".into()));
                put("rope.scaling.factor", f32v(f));
            }
            ("yarn", Some(f)) => {
                put("rope.scaling.type", Value::String("yarn".into()));
                put("rope.scaling.factor", f32v(f));
                let orig = rope
                    .get("original_max_position_embeddings")
                    .and_then(Json::as_u64)
                    .ok_or_else(|| {
                        Error::bad_file(
                            &cfg.path,
                            "yarn rope scaling needs original_max_position_embeddings",
                        )
                    })?;
                put(
                    "rope.scaling.original_context_length",
                    checked_u32(cfg, "original_max_position_embeddings", orig)?,
                );
                if let Some(x) = rope.get("extrapolation_factor").and_then(Json::as_f64) {
                    put("rope.scaling.yarn_ext_factor", f32v(x));
                }
                if let Some(x) = rope
                    .get("attention_factor")
                    .or_else(|| rope.get("attn_factor"))
                    .and_then(Json::as_f64)
                {
                    put("rope.scaling.yarn_attn_factor", f32v(x));
                }
                if let Some(x) = rope.get("beta_fast").and_then(Json::as_f64) {
                    put("rope.scaling.yarn_beta_fast", f32v(x));
                }
                if let Some(x) = rope.get("beta_slow").and_then(Json::as_f64) {
                    put("rope.scaling.yarn_beta_slow", f32v(x));
                }
            }
            ("su" | "longrope", _) => put("rope.scaling.type", Value::String("longrope".into())),
            _ => {}
        }
    }
    if let Some(t) = rope.get("rope_theta").and_then(Json::as_f64) {
        put("rope.freq_base", f32v(t));
    }
    put(
        "attention.layer_norm_rms_epsilon",
        f32v(num("rms_norm_eps").unwrap_or(1e-6)),
    );
    if let Some(e) = cfg.n_expert {
        put("expert_count", u32v(e));
    }
    if let Some(v) = raw.get("num_experts_per_tok").and_then(Json::as_u64) {
        put(
            "expert_used_count",
            checked_u32(cfg, "num_experts_per_tok", v)?,
        );
    }
    if let Some(v) = raw.get("n_group").and_then(Json::as_u64) {
        put("expert_group_count", checked_u32(cfg, "n_group", v)?);
    }
    if let Some(v) = raw.get("topk_group").and_then(Json::as_u64) {
        put(
            "expert_group_used_count",
            checked_u32(cfg, "topk_group", v)?,
        );
    }
    match raw.get("scoring_func").and_then(Json::as_str) {
        Some("softmax") => put("expert_gating_func", Value::U32(1)),
        Some("sigmoid") => put("expert_gating_func", Value::U32(2)),
        _ => {}
    }
    put("general.file_type", Value::U32(file_type));
    put("leading_dense_block_count", u32v(cfg.n_dense_lead));
    put("vocab_size", u32v(cfg.vocab_size));
    if let Some(q) = cfg.q_lora_rank {
        put("attention.q_lora_rank", u32v(q));
    }
    put("attention.kv_lora_rank", u32v(cfg.kv_lora_rank));
    match layout {
        Layout::Mla => {
            put("attention.key_length", u32v(cfg.kv_lora_rank + cfg.qk_rope));
            put("attention.value_length", u32v(cfg.kv_lora_rank));
            put("attention.key_length_mla", u32v(cfg.qk_nope + cfg.qk_rope));
            put("attention.value_length_mla", u32v(cfg.v_head));
        }
        Layout::Legacy => {
            put("attention.key_length", u32v(cfg.qk_nope + cfg.qk_rope));
            put("attention.value_length", u32v(cfg.v_head));
        }
    }
    put("expert_feed_forward_length", u32v(cfg.n_ff_exp));
    if let Some(e) = cfg.n_expert {
        put("expert_count", u32v(e));
    }
    put("expert_shared_count", u32v(cfg.n_shared));
    if let Some(s) = num("routed_scaling_factor") {
        put("expert_weights_scale", f32v(s));
    }
    if raw.get("norm_topk_prob").and_then(Json::as_bool) == Some(true) {
        put("expert_weights_norm", Value::Bool(true));
    }
    put("rope.dimension_count", u32v(cfg.qk_rope));
    if let Some(m) = rope.get("mscale_all_dim").and_then(Json::as_f64) {
        put("rope.scaling.yarn_log_multiplier", f32v(0.1 * m));
    }
    Ok(kv)
}

/// What each checkpoint tensor is for, once its name is understood.
enum Role {
    /// An output tensor under this GGUF name.
    Plain(String),
    /// Expert `e`'s projection `proj` (0 down, 1 gate, 2 up) in `layer`.
    Expert { layer: u64, e: u64, proj: usize },
    /// `kv_b_proj` of `layer`.
    KvB { layer: u64 },
    /// FP8 scales and activation scales: consumed with their weight or ignored.
    Aux,
    /// Not converted (MTP layers, tied `lm_head`).
    Skip,
}

const EXPERT_PROJ: [&str; 3] = ["down", "gate", "up"];

fn layer_suffix_name(rest: &str) -> Option<&'static str> {
    Some(match rest {
        "input_layernorm.weight" => "attn_norm.weight",
        "self_attn.q_a_proj.weight" => "attn_q_a.weight",
        "self_attn.q_a_layernorm.weight" => "attn_q_a_norm.weight",
        "self_attn.q_b_proj.weight" => "attn_q_b.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.kv_a_proj_with_mqa.weight" => "attn_kv_a_mqa.weight",
        "self_attn.kv_a_layernorm.weight" => "attn_kv_a_norm.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        "mlp.gate.weight" => "ffn_gate_inp.weight",
        "mlp.gate.e_score_correction_bias" => "exp_probs_b.bias",
        "mlp.shared_experts.gate_proj.weight" => "ffn_gate_shexp.weight",
        "mlp.shared_experts.up_proj.weight" => "ffn_up_shexp.weight",
        "mlp.shared_experts.down_proj.weight" => "ffn_down_shexp.weight",
        _ => return None,
    })
}

/// True for the tensors that carry FP8 scales or activation scales rather than weights.
pub fn is_aux_name(name: &str) -> bool {
    name.ends_with("_scale_inv")
        || name.ends_with(".weight_scale")
        || name.ends_with(".input_scale")
        || name.ends_with(".activation_scale")
        || name.ends_with("_activation_scale")
}

fn role(cfg: &ModelConfig, name: &str) -> Option<Role> {
    if is_aux_name(name) {
        return Some(Role::Aux);
    }
    match name {
        "model.embed_tokens.weight" => return Some(Role::Plain("token_embd.weight".into())),
        "model.norm.weight" => return Some(Role::Plain("output_norm.weight".into())),
        "lm_head.weight" | "model.lm_head.weight" => {
            return Some(if cfg.tied_embeddings {
                Role::Skip
            } else {
                Role::Plain("output.weight".into())
            });
        }
        _ => {}
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (num, rest) = rest.split_once('.')?;
    let layer: u64 = num.parse().ok()?;
    if layer >= cfg.n_layer {
        return Some(Role::Skip); // multi-token-prediction layers
    }
    if let Some(ex) = rest.strip_prefix("mlp.experts.") {
        let (e, proj) = ex.split_once('.')?;
        let e: u64 = e.parse().ok()?;
        let proj = match proj {
            "down_proj.weight" => 0,
            "gate_proj.weight" => 1,
            "up_proj.weight" => 2,
            _ => return None,
        };
        return Some(Role::Expert { layer, e, proj });
    }
    if rest == "self_attn.kv_b_proj.weight" {
        return Some(Role::KvB { layer });
    }
    layer_suffix_name(rest).map(|n| Role::Plain(format!("blk.{layer}.{n}")))
}

/// Expected HF shape (outermost first) of a plain tensor, from config.json.
fn expected_shape(cfg: &ModelConfig, gguf_name: &str) -> Option<Vec<u64>> {
    let (e, h, r) = (cfg.n_embd, cfg.n_head, cfg.kv_lora_rank);
    let qk = cfg.qk_nope + cfg.qk_rope;
    let fs = cfg.n_ff_exp * cfg.n_shared;
    let base = gguf_name
        .rsplit_once("blk.")
        .map(|(_, b)| b.split_once('.').map(|x| x.1).unwrap_or(b))
        .unwrap_or(gguf_name);
    Some(match base {
        "token_embd.weight" | "output.weight" => vec![cfg.vocab_size, e],
        "output_norm.weight" | "attn_norm.weight" | "ffn_norm.weight" => vec![e],
        "attn_q_a.weight" => vec![cfg.q_lora_rank?, e],
        "attn_q_a_norm.weight" => vec![cfg.q_lora_rank?],
        "attn_q_b.weight" => vec![h * qk, cfg.q_lora_rank?],
        "attn_q.weight" => vec![h * qk, e],
        "attn_kv_a_mqa.weight" => vec![r + cfg.qk_rope, e],
        "attn_kv_a_norm.weight" => vec![r],
        "attn_output.weight" => vec![e, h * cfg.v_head],
        "ffn_gate.weight" | "ffn_up.weight" => vec![cfg.n_ff, e],
        "ffn_down.weight" => vec![e, cfg.n_ff],
        "ffn_gate_inp.weight" => vec![cfg.n_expert?, e],
        "exp_probs_b.bias" => vec![cfg.n_expert?],
        "ffn_gate_shexp.weight" | "ffn_up_shexp.weight" => vec![fs, e],
        "ffn_down_shexp.weight" => vec![e, fs],
        _ => return None,
    })
}

/// The GGUF names every layer must have (besides experts and kv_b), from config.json.
fn required_layer_tensors(cfg: &ModelConfig, layer: u64) -> Vec<&'static str> {
    let mut v = vec![
        "attn_norm.weight",
        "attn_kv_a_mqa.weight",
        "attn_kv_a_norm.weight",
        "attn_output.weight",
        "ffn_norm.weight",
    ];
    if cfg.q_lora_rank.is_some() {
        v.extend(["attn_q_a.weight", "attn_q_a_norm.weight", "attn_q_b.weight"]);
    } else {
        v.push("attn_q.weight");
    }
    if cfg.is_dense_layer(layer) {
        v.extend(["ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"]);
    } else {
        v.push("ffn_gate_inp.weight");
        if cfg.n_shared > 0 {
            v.extend([
                "ffn_gate_shexp.weight",
                "ffn_up_shexp.weight",
                "ffn_down_shexp.weight",
            ]);
        }
    }
    v
}

fn hf_name_for(gguf: &str) -> String {
    // for messages only: the checkpoint name that maps to `gguf`
    match gguf {
        "token_embd.weight" => return "model.embed_tokens.weight".into(),
        "output_norm.weight" => return "model.norm.weight".into(),
        "output.weight" => return "lm_head.weight".into(),
        _ => {}
    }
    if let Some(rest) = gguf.strip_prefix("blk.")
        && let Some((l, suffix)) = rest.split_once('.')
    {
        for hf in [
            "input_layernorm.weight",
            "self_attn.q_a_proj.weight",
            "self_attn.q_a_layernorm.weight",
            "self_attn.q_b_proj.weight",
            "self_attn.q_proj.weight",
            "self_attn.kv_a_proj_with_mqa.weight",
            "self_attn.kv_a_layernorm.weight",
            "self_attn.o_proj.weight",
            "post_attention_layernorm.weight",
            "mlp.gate_proj.weight",
            "mlp.up_proj.weight",
            "mlp.down_proj.weight",
            "mlp.gate.weight",
            "mlp.gate.e_score_correction_bias",
            "mlp.shared_experts.gate_proj.weight",
            "mlp.shared_experts.up_proj.weight",
            "mlp.shared_experts.down_proj.weight",
        ] {
            if layer_suffix_name(hf) == Some(suffix) {
                return format!("model.layers.{l}.{hf}");
            }
        }
    }
    gguf.to_string()
}

/// Checks a checkpoint tensor's dtype and finds its FP8 scale.
fn src_ref(ck: &Checkpoint, cfg: &ModelConfig, idx: usize) -> Result<SrcRef> {
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
        return Ok(SrcRef {
            tensor: idx,
            scale: None,
            block: (1, 1),
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
    let block = cfg.fp8.as_ref().map(|f| f.block).unwrap_or([128, 128]);
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
    Ok(SrcRef {
        tensor: idx,
        scale: Some(si),
        block: (block[0], block[1]),
    })
}

/// Maps every checkpoint tensor to output tensors, in llama.cpp's converter order, and
/// checks names, dtypes, shapes and completeness against config.json.
pub fn map_tensors(
    ck: &Checkpoint,
    cfg: &ModelConfig,
    layout: Layout,
) -> Result<Vec<MappedTensor>> {
    if let Some(e) = cfg.n_expert
        && e > LLAMA_MAX_EXPERTS
    {
        return Err(Error::Unsupported(format!(
            "{}: n_routed_experts is {e}, but llama.cpp loads at most {LLAMA_MAX_EXPERTS} experts per layer",
            cfg.path.display()
        )));
    }
    if layout == Layout::Mla && cfg.n_head_kv != cfg.n_head {
        return Err(Error::bad_file(
            &cfg.path,
            format!(
                "num_key_value_heads ({}) differs from num_attention_heads ({}): the MLA split needs one kv_b block per head",
                cfg.n_head_kv, cfg.n_head
            ),
        ));
    }
    let n_expert = cfg.n_expert.unwrap_or(0);
    let mut out: Vec<MappedTensor> = Vec::new();
    let mut experts: HashMap<u64, Vec<[Option<usize>; 3]>> = HashMap::new();
    let mut expert_count: HashMap<u64, u64> = HashMap::new();
    let mut problems: Vec<Error> = Vec::new();
    for (idx, t) in ck.tensors.iter().enumerate() {
        let mut step = || -> Result<()> {
            let path = &ck.shards[t.shard].path;
            let Some(role) = role(cfg, &t.name) else {
                return Err(Error::bad_tensor(
                    path,
                    &t.name,
                    "unexpected tensor: not part of a DeepSeek V2/V3 checkpoint as config.json describes it",
                ));
            };
            match role {
                Role::Aux | Role::Skip => {}
                Role::Plain(name) => {
                    let want = expected_shape(cfg, &name).ok_or_else(|| {
                            Error::bad_tensor(
                                path,
                                &t.name,
                                "unexpected tensor for this config.json (e.g. q_proj with q_lora_rank set)",
                            )
                        })?;
                    let layer = name
                        .strip_prefix("blk.")
                        .and_then(|r| r.split('.').next())
                        .and_then(|l| l.parse::<u64>().ok());
                    if let Some(l) = layer {
                        let dense_name = matches!(
                            name.rsplit('.').nth(1),
                            Some("ffn_gate" | "ffn_up" | "ffn_down")
                        );
                        let moe_name = name.contains("_shexp")
                            || name.contains("ffn_gate_inp")
                            || name.contains("exp_probs_b");
                        if (dense_name && !cfg.is_dense_layer(l))
                            || (moe_name && cfg.is_dense_layer(l))
                        {
                            return Err(Error::bad_tensor(
                                path,
                                &t.name,
                                format!(
                                    "layer {l} is {} per config.json (first_k_dense_replace = {})",
                                    if cfg.is_dense_layer(l) {
                                        "dense"
                                    } else {
                                        "MoE"
                                    },
                                    cfg.n_dense_lead
                                ),
                            ));
                        }
                    }
                    check_shape(ck, t, &want)?;
                    let src = src_ref(ck, cfg, idx)?;
                    let ne: Vec<u64> = t.shape.iter().rev().copied().collect();
                    out.push(MappedTensor {
                        name,
                        ne,
                        source: Source::Rows(src),
                    });
                }
                Role::KvB { layer } => {
                    let (h, nope, v, r) =
                        (cfg.n_head_kv, cfg.qk_nope, cfg.v_head, cfg.kv_lora_rank);
                    check_shape(ck, t, &[h * (nope + v), r])?;
                    let src = src_ref(ck, cfg, idx)?;
                    match layout {
                        Layout::Mla => {
                            out.push(MappedTensor {
                                name: format!("blk.{layer}.attn_k_b.weight"),
                                ne: vec![nope, r, h],
                                source: Source::KvbK {
                                    src: src.clone(),
                                    heads: h,
                                    nope,
                                    v,
                                    rank: r,
                                },
                            });
                            out.push(MappedTensor {
                                name: format!("blk.{layer}.attn_v_b.weight"),
                                ne: vec![r, v, h],
                                source: Source::KvbV {
                                    src,
                                    heads: h,
                                    nope,
                                    v,
                                    rank: r,
                                },
                            });
                        }
                        Layout::Legacy => out.push(MappedTensor {
                            name: format!("blk.{layer}.attn_kv_b.weight"),
                            ne: vec![r, h * (nope + v)],
                            source: Source::Rows(src),
                        }),
                    }
                }
                Role::Expert { layer, e, proj } => {
                    if cfg.is_dense_layer(layer) {
                        return Err(Error::bad_tensor(
                            path,
                            &t.name,
                            format!(
                                "layer {layer} is dense per config.json (first_k_dense_replace = {})",
                                cfg.n_dense_lead
                            ),
                        ));
                    }
                    if e >= n_expert {
                        return Err(Error::bad_tensor(
                            path,
                            &t.name,
                            format!(
                                "expert {e} is out of range: config.json says n_routed_experts = {n_expert}"
                            ),
                        ));
                    }
                    let want = if proj == 0 {
                        [cfg.n_embd, cfg.n_ff_exp]
                    } else {
                        [cfg.n_ff_exp, cfg.n_embd]
                    };
                    check_shape(ck, t, &want)?;
                    let slots = experts
                        .entry(layer)
                        .or_insert_with(|| vec![[None; 3]; n_expert as usize]);
                    slots[e as usize][proj] = Some(idx);
                    let c = expert_count.entry(layer).or_insert(0);
                    *c += 1;
                    if *c == 3 * n_expert {
                        let slots = experts.remove(&layer).unwrap_or_default();
                        for (p, pname) in EXPERT_PROJ.iter().enumerate() {
                            let mut refs = Vec::with_capacity(slots.len());
                            for s in &slots {
                                let i = s[p].ok_or_else(|| {
                                    Error::bad_tensor(path, &t.name, "expert set incomplete")
                                })?;
                                refs.push(src_ref(ck, cfg, i)?);
                            }
                            let (rows, cols) = if p == 0 {
                                (cfg.n_embd, cfg.n_ff_exp)
                            } else {
                                (cfg.n_ff_exp, cfg.n_embd)
                            };
                            out.push(MappedTensor {
                                name: format!("blk.{layer}.ffn_{pname}_exps.weight"),
                                ne: vec![cols, rows, n_expert],
                                source: Source::Stack(refs),
                            });
                        }
                    }
                }
            }
            Ok(())
        };
        if let Err(e) = step() {
            problems.push(e);
        }
    }
    if !problems.is_empty() {
        return Err(Error::many(problems));
    }
    // completeness
    let present: std::collections::HashSet<&str> = out.iter().map(|t| t.name.as_str()).collect();
    let missing = |gguf: String| -> Error {
        Error::bad_tensor(
            &ck.dir,
            &hf_name_for(&gguf),
            "missing from the checkpoint (incomplete download or a shard left out of the index?)",
        )
    };
    for g in ["token_embd.weight", "output_norm.weight"] {
        if !present.contains(g) {
            return Err(missing(g.to_string()));
        }
    }
    if !cfg.tied_embeddings && !present.contains("output.weight") {
        return Err(missing("output.weight".to_string()));
    }
    for l in 0..cfg.n_layer {
        for s in required_layer_tensors(cfg, l) {
            let g = format!("blk.{l}.{s}");
            if !present.contains(g.as_str()) {
                return Err(missing(g));
            }
        }
        let kvb = match layout {
            Layout::Mla => format!("blk.{l}.attn_k_b.weight"),
            Layout::Legacy => format!("blk.{l}.attn_kv_b.weight"),
        };
        if !present.contains(kvb.as_str()) {
            return Err(Error::bad_tensor(
                &ck.dir,
                &format!("model.layers.{l}.self_attn.kv_b_proj.weight"),
                "missing from the checkpoint",
            ));
        }
        if !cfg.is_dense_layer(l)
            && !present.contains(format!("blk.{l}.ffn_down_exps.weight").as_str())
        {
            let slots = experts.get(&l);
            let mut which = String::new();
            'f: for e in 0..n_expert {
                for (p, pname) in EXPERT_PROJ.iter().enumerate() {
                    if slots.and_then(|s| s[e as usize][p]).is_none() {
                        which = format!("model.layers.{l}.mlp.experts.{e}.{pname}_proj.weight");
                        break 'f;
                    }
                }
            }
            return Err(Error::bad_tensor(
                &ck.dir,
                &which,
                format!("missing from the checkpoint (layer {l} needs {n_expert} experts)"),
            ));
        }
    }
    // every FP8 scale must belong to a weight
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
    Ok(out)
}

fn check_shape(ck: &Checkpoint, t: &TensorEntry, want: &[u64]) -> Result<()> {
    if t.shape != want {
        return Err(Error::bad_tensor(
            &ck.shards[t.shard].path,
            &t.name,
            format!(
                "shape {:?} contradicts config.json, which implies {:?}",
                t.shape, want
            ),
        ));
    }
    Ok(())
}

/// `general.*` keys written before the architecture keys, in llama.cpp's order: architecture,
/// type, the sampling defaults from `generation_config.json`, then the name.
pub fn general_kvs(name: &str, sampling: &[(String, Value)]) -> Vec<(String, Value)> {
    let mut kv = vec![
        (
            "general.architecture".to_string(),
            Value::String(ARCH.into()),
        ),
        ("general.type".to_string(), Value::String("model".into())),
    ];
    kv.extend(sampling.iter().cloned());
    if !name.is_empty() {
        kv.push(("general.name".to_string(), Value::String(name.to_string())));
    }
    kv
}
