//! The DeepSeek family's tensor table and its mapping to GGUF tensors: one list of every
//! checkpoint tensor a configuration implies (name, shape, kind, what it becomes), read by the
//! mapper's name, shape and completeness checks and by `synth`. The mapper stacks experts,
//! splits or keeps `kv_b_proj`, and leaves out MTP layers unless asked to keep them.

use super::config::DeepseekConfig;
use crate::arch::recipe::{MappedTensor, Recipe, Source};
use crate::arch::{CheckpointTensor, Layout, TensorKind, source};
use crate::checkpoint::safetensors::Checkpoint;
use crate::{Error, Result};
use std::collections::HashMap;

/// Largest expert count llama.cpp at the reference commit loads (`LLAMA_MAX_EXPERTS`,
/// `src/llama-hparams.h`).
pub const LLAMA_MAX_EXPERTS: u64 = 1024;

/// Expert projections in the order the converter writes their stacked tensors.
const EXPERT_PROJ: [&str; 3] = ["down", "gate", "up"];

/// What a checkpoint tensor becomes.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// An output tensor of its own under this GGUF name, rows copied.
    Plain(String),
    /// Expert `e`'s projection `proj` (index into down, gate, up) of `layer`, stacked with the
    /// layer's other experts.
    Expert {
        /// Decoder layer.
        layer: u64,
        /// Expert index.
        e: u64,
        /// 0 down, 1 gate, 2 up.
        proj: usize,
    },
    /// `kv_b_proj` of `layer`: split into `attn_k_b`/`attn_v_b`, or kept whole.
    KvB {
        /// Decoder layer.
        layer: u64,
    },
    /// Read but not converted (a tied `lm_head`).
    Skip,
}

/// One entry of the tensor table.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The checkpoint tensor.
    pub tensor: CheckpointTensor,
    /// What it becomes.
    pub role: Role,
    /// Its decoder layer, for layer tensors (MTP layers are `>= n_layer`).
    pub layer: Option<u64>,
    /// True when a checkpoint may lack it.
    pub optional: bool,
}

/// The table builder: adds one spec at a time.
pub struct Table {
    /// The specs, in a stable order (embeddings, then layer by layer).
    pub specs: Vec<Spec>,
}

impl Table {
    fn add(
        &mut self,
        name: String,
        shape: Vec<u64>,
        kind: TensorKind,
        role: Role,
        layer: Option<u64>,
    ) {
        self.specs.push(Spec {
            tensor: CheckpointTensor { name, shape, kind },
            role,
            layer,
            optional: false,
        });
    }

    /// Adds a tensor of decoder layer `layer`, named `model.layers.{layer}.{suffix}`, becoming
    /// `blk.{layer}.{gguf}`.
    pub fn layer(
        &mut self,
        layer: u64,
        suffix: &str,
        gguf: &str,
        shape: Vec<u64>,
        kind: TensorKind,
    ) {
        self.add(
            format!("model.layers.{layer}.{suffix}"),
            shape,
            kind,
            Role::Plain(format!("blk.{layer}.{gguf}")),
            Some(layer),
        );
    }

    /// The tensors a complete checkpoint has (optional ones left out), without roles.
    pub fn checkpoint_tensors(&self) -> Vec<CheckpointTensor> {
        self.specs
            .iter()
            .filter(|s| !s.optional)
            .map(|s| s.tensor.clone())
            .collect()
    }
}

/// The tensors of a complete DeepSeek V2/V3 checkpoint for `cfg`: embeddings, head, every trunk
/// layer (MLA attention, dense FFN or experts), and the MTP layers with their NextN tensors.
pub fn deepseek_v2_table(cfg: &DeepseekConfig) -> Table {
    use TensorKind::*;
    let mut t = Table { specs: Vec::new() };
    let (e, h, v) = (cfg.n_embd, cfg.n_head_kv, cfg.vocab_size);
    t.add(
        "model.embed_tokens.weight".into(),
        vec![v, e],
        Embed,
        Role::Plain("token_embd.weight".into()),
        None,
    );
    t.add(
        "model.norm.weight".into(),
        vec![e],
        Norm,
        Role::Plain("output_norm.weight".into()),
        None,
    );
    let head_role = if cfg.tied_embeddings {
        Role::Skip
    } else {
        Role::Plain("output.weight".into())
    };
    t.add("lm_head.weight".into(), vec![v, e], Embed, head_role, None);
    if cfg.tied_embeddings {
        t.specs.last_mut().expect("just added").optional = true;
    }
    let qk = cfg.qk_nope + cfg.qk_rope;
    for l in 0..cfg.n_layer + cfg.n_nextn {
        t.layer(
            l,
            "input_layernorm.weight",
            "attn_norm.weight",
            vec![e],
            Norm,
        );
        t.layer(
            l,
            "post_attention_layernorm.weight",
            "ffn_norm.weight",
            vec![e],
            Norm,
        );
        match cfg.q_lora_rank {
            Some(q) => {
                t.layer(
                    l,
                    "self_attn.q_a_proj.weight",
                    "attn_q_a.weight",
                    vec![q, e],
                    Linear,
                );
                t.layer(
                    l,
                    "self_attn.q_a_layernorm.weight",
                    "attn_q_a_norm.weight",
                    vec![q],
                    Norm,
                );
                t.layer(
                    l,
                    "self_attn.q_b_proj.weight",
                    "attn_q_b.weight",
                    vec![cfg.n_head * qk, q],
                    Linear,
                );
            }
            None => t.layer(
                l,
                "self_attn.q_proj.weight",
                "attn_q.weight",
                vec![cfg.n_head * qk, e],
                Linear,
            ),
        }
        t.layer(
            l,
            "self_attn.kv_a_proj_with_mqa.weight",
            "attn_kv_a_mqa.weight",
            vec![cfg.kv_lora_rank + cfg.qk_rope, e],
            Linear,
        );
        t.layer(
            l,
            "self_attn.kv_a_layernorm.weight",
            "attn_kv_a_norm.weight",
            vec![cfg.kv_lora_rank],
            Norm,
        );
        t.add(
            format!("model.layers.{l}.self_attn.kv_b_proj.weight"),
            vec![h * (cfg.qk_nope + cfg.v_head), cfg.kv_lora_rank],
            Linear,
            Role::KvB { layer: l },
            Some(l),
        );
        t.layer(
            l,
            "self_attn.o_proj.weight",
            "attn_output.weight",
            vec![e, cfg.n_head * cfg.v_head],
            Linear,
        );
        if cfg.is_dense_layer(l) {
            t.layer(
                l,
                "mlp.gate_proj.weight",
                "ffn_gate.weight",
                vec![cfg.n_ff, e],
                Linear,
            );
            t.layer(
                l,
                "mlp.up_proj.weight",
                "ffn_up.weight",
                vec![cfg.n_ff, e],
                Linear,
            );
            t.layer(
                l,
                "mlp.down_proj.weight",
                "ffn_down.weight",
                vec![e, cfg.n_ff],
                Linear,
            );
        } else {
            let n_expert = cfg.n_expert.unwrap_or(0);
            t.layer(
                l,
                "mlp.gate.weight",
                "ffn_gate_inp.weight",
                vec![n_expert, e],
                Router,
            );
            // V3's routing bias; V2 (softmax) checkpoints have none, but one is converted
            t.layer(
                l,
                "mlp.gate.e_score_correction_bias",
                "exp_probs_b.bias",
                vec![n_expert],
                Bias,
            );
            if cfg.raw.get("scoring_func").and_then(|s| s.as_str()) != Some("sigmoid") {
                t.specs.last_mut().expect("just added").optional = true;
            }
            for x in 0..n_expert {
                for (proj, name) in [(1, "gate"), (2, "up"), (0, "down")] {
                    let shape = if proj == 0 {
                        vec![e, cfg.n_ff_exp]
                    } else {
                        vec![cfg.n_ff_exp, e]
                    };
                    t.add(
                        format!("model.layers.{l}.mlp.experts.{x}.{name}_proj.weight"),
                        shape,
                        Linear,
                        Role::Expert {
                            layer: l,
                            e: x,
                            proj,
                        },
                        Some(l),
                    );
                }
            }
            if cfg.n_shared > 0 {
                let f = cfg.n_ff_exp * cfg.n_shared;
                t.layer(
                    l,
                    "mlp.shared_experts.gate_proj.weight",
                    "ffn_gate_shexp.weight",
                    vec![f, e],
                    Linear,
                );
                t.layer(
                    l,
                    "mlp.shared_experts.up_proj.weight",
                    "ffn_up_shexp.weight",
                    vec![f, e],
                    Linear,
                );
                t.layer(
                    l,
                    "mlp.shared_experts.down_proj.weight",
                    "ffn_down_shexp.weight",
                    vec![e, f],
                    Linear,
                );
            }
        }
        if l >= cfg.n_layer {
            t.layer(
                l,
                "embed_tokens.weight",
                "nextn.embed_tokens.weight",
                vec![v, e],
                Embed,
            );
            t.layer(l, "enorm.weight", "nextn.enorm.weight", vec![e], Norm);
            t.layer(l, "hnorm.weight", "nextn.hnorm.weight", vec![e], Norm);
            t.layer(
                l,
                "eh_proj.weight",
                "nextn.eh_proj.weight",
                vec![e, 2 * e],
                Linear,
            );
            t.layer(
                l,
                "shared_head.norm.weight",
                "nextn.shared_head_norm.weight",
                vec![e],
                Norm,
            );
            t.layer(
                l,
                "shared_head.head.weight",
                "nextn.shared_head_head.weight",
                vec![v, e],
                Embed,
            );
        }
    }
    t
}

/// Adds DeepSeek-V3.2's DSA indexer (`self_attn.indexer.*`, five tensors) to every decoder
/// layer of `t`, MTP layers included: `heads` indexer heads of `dim` dimensions.
pub fn add_indexer(t: &mut Table, cfg: &DeepseekConfig, heads: u64, dim: u64) {
    use TensorKind::*;
    let e = cfg.n_embd;
    let q = cfg.q_lora_rank.unwrap_or(e);
    for l in 0..cfg.n_layer + cfg.n_nextn {
        let a = "self_attn.indexer";
        t.layer(
            l,
            &format!("{a}.wq_b.weight"),
            "indexer.attn_q_b.weight",
            vec![heads * dim, q],
            Linear,
        );
        t.layer(
            l,
            &format!("{a}.wk.weight"),
            "indexer.attn_k.weight",
            vec![dim, e],
            Linear,
        );
        t.layer(
            l,
            &format!("{a}.k_norm.weight"),
            "indexer.k_norm.weight",
            vec![dim],
            Norm,
        );
        t.layer(
            l,
            &format!("{a}.k_norm.bias"),
            "indexer.k_norm.bias",
            vec![dim],
            Float,
        );
        t.layer(
            l,
            &format!("{a}.weights_proj.weight"),
            "indexer.proj.weight",
            vec![heads, e],
            Float,
        );
    }
}

/// How many tensors [`add_indexer`] adds for `cfg`.
pub fn indexer_len(cfg: &DeepseekConfig) -> u64 {
    5 * (cfg.n_layer + cfg.n_nextn)
}

/// How many tensors [`deepseek_v2_table`] lists for `cfg`, computed without building it.
pub fn table_len(cfg: &DeepseekConfig) -> u64 {
    let per_layer = |l: u64| -> u64 {
        let attn = if cfg.q_lora_rank.is_some() { 3 } else { 1 } + 5;
        let ffn = if cfg.is_dense_layer(l) {
            3
        } else {
            2 + 3 * cfg.n_expert.unwrap_or(0) + if cfg.n_shared > 0 { 3 } else { 0 }
        };
        2 + attn + ffn + if l >= cfg.n_layer { 6 } else { 0 }
    };
    3 + (0..cfg.n_layer + cfg.n_nextn).map(per_layer).sum::<u64>()
}

/// Refuses a configuration that implies far more tensors than the checkpoint has, before a
/// table for it is built (a hostile or mistaken config.json must not exhaust memory).
pub fn check_table_size(ck: &Checkpoint, cfg: &DeepseekConfig) -> Result<()> {
    check_table_len(ck, cfg, table_len(cfg))
}

/// [`check_table_size`] for a table of `want` tensors (an extended table).
pub fn check_table_len(ck: &Checkpoint, cfg: &DeepseekConfig, want: u64) -> Result<()> {
    let have = ck.tensors.len() as u64;
    if want > 2 * have + 1024 {
        return Err(Error::bad_file(
            &cfg.raw.path,
            format!(
                "config.json implies {want} tensors, but the checkpoint has only {have}: \
                 wrong config.json, or most shards are missing"
            ),
        ));
    }
    Ok(())
}

/// Which layers of the checkpoint are converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layers {
    /// The trunk only: every tensor of a layer `>= n_layer` is passed over unchecked.
    Trunk,
    /// The trunk and the MTP layers (`n_layer..n_layer + n_nextn`), all checked.
    All,
    /// The MTP layers and the tensors outside any layer (embeddings, final norm, head): a
    /// draft file. Trunk layers are passed over unchecked.
    MtpOnly,
}

impl Layers {
    /// True when `layer` (`None` for tensors outside the layers) is converted.
    pub fn converts(self, cfg: &DeepseekConfig, layer: Option<u64>) -> bool {
        match self {
            Layers::Trunk => layer.is_none_or(|l| l < cfg.n_layer),
            Layers::All => true,
            Layers::MtpOnly => layer.is_none_or(|l| l >= cfg.n_layer),
        }
    }

    /// The `block_count` of a file with these layers.
    pub fn block_count(self, cfg: &DeepseekConfig) -> u64 {
        match self {
            Layers::Trunk => cfg.n_layer,
            Layers::All | Layers::MtpOnly => cfg.n_layer + cfg.n_nextn,
        }
    }
}

/// Maps the checkpoint's tensors through `table`, in checkpoint order: each tensor must be in
/// the table with the table's shape; experts are stacked when a layer's last one arrives;
/// `kv_b_proj` is split (MLA) or kept (legacy). Every problem is reported, then completeness.
/// Callers build `table` only after [`check_table_size`].
pub fn map_tensors(
    ck: &Checkpoint,
    cfg: &DeepseekConfig,
    table: &Table,
    layout: Layout,
    layers: Layers,
) -> Result<Vec<MappedTensor>> {
    if let Some(e) = cfg.n_expert
        && e > LLAMA_MAX_EXPERTS
    {
        return Err(Error::Unsupported(format!(
            "{}: n_routed_experts is {e}, but llama.cpp loads at most {LLAMA_MAX_EXPERTS} experts per layer",
            cfg.raw.path.display()
        )));
    }
    if layout == Layout::Mla && cfg.n_head_kv != cfg.n_head {
        return Err(Error::bad_file(
            &cfg.raw.path,
            format!(
                "num_key_value_heads ({}) differs from num_attention_heads ({}): the MLA split needs one kv_b block per head",
                cfg.n_head_kv, cfg.n_head
            ),
        ));
    }
    let converted = |s: &Spec| layers.converts(cfg, s.layer);
    let by_name: HashMap<&str, &Spec> = table
        .specs
        .iter()
        .filter(|s| converted(s))
        .map(|s| (s.tensor.name.as_str(), s))
        .collect();
    let n_expert = cfg.n_expert.unwrap_or(0);
    let mut out: Vec<MappedTensor> = Vec::new();
    let mut experts: HashMap<u64, Vec<[Option<usize>; 3]>> = HashMap::new();
    let mut expert_count: HashMap<u64, u64> = HashMap::new();
    let mut problems: Vec<Error> = Vec::new();
    // llama.cpp's converter replaces every `X.weight_packed` by a dequantized `X.weight` added
    // after all other tensors (in discovery order): visit them last.
    let is_packed = |i: &usize| source::packed_weight_name(&ck.tensors[*i].name).is_some();
    let order: Vec<usize> = (0..ck.tensors.len())
        .filter(|i| !is_packed(i))
        .chain((0..ck.tensors.len()).filter(is_packed))
        .collect();
    for idx in order {
        let t = &ck.tensors[idx];
        if source::is_aux_name(&t.name) || skipped_layer(cfg, layers, &t.name) {
            continue;
        }
        let path = &ck.shards[t.shard].path;
        let mut step = || -> Result<()> {
            let packed_name = source::packed_weight_name(&t.name);
            let name = packed_name.as_deref().unwrap_or(&t.name);
            let Some(spec) = by_name.get(canonical(name)) else {
                return Err(Error::bad_tensor(path, &t.name, diagnose(cfg, name)));
            };
            let shape = match &packed_name {
                Some(_) => packed_source(ck, cfg, idx)?.1,
                None => t.shape.clone(),
            };
            if shape != spec.tensor.shape {
                return Err(Error::bad_tensor(
                    path,
                    &t.name,
                    format!(
                        "shape {:?} contradicts config.json, which implies {:?}",
                        shape, spec.tensor.shape
                    ),
                ));
            }
            match &spec.role {
                Role::Skip => {}
                Role::Plain(name) => {
                    let src = weight_source(ck, cfg, idx)?;
                    out.push(MappedTensor {
                        name: name.clone(),
                        ne: shape.iter().rev().copied().collect(),
                        recipe: Recipe::Rows(src),
                    });
                }
                Role::KvB { layer } => {
                    let src = weight_source(ck, cfg, idx)?;
                    out.extend(kv_b(cfg, *layer, src, layout));
                }
                Role::Expert { layer, e, proj } => {
                    let slots = experts
                        .entry(*layer)
                        .or_insert_with(|| vec![[None; 3]; n_expert as usize]);
                    slots[*e as usize][*proj] = Some(idx);
                    let c = expert_count.entry(*layer).or_insert(0);
                    *c += 1;
                    if *c == 3 * n_expert {
                        let slots = experts.remove(layer).unwrap_or_default();
                        out.extend(stack_experts(ck, cfg, *layer, &slots)?);
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
    let present: std::collections::HashSet<String> = ck
        .tensors
        .iter()
        .map(|t| {
            source::packed_weight_name(&t.name).unwrap_or_else(|| canonical(&t.name).to_string())
        })
        .collect();
    let missing: Vec<Error> = table
        .specs
        .iter()
        .filter(|s| converted(s) && !s.optional && !present.contains(s.tensor.name.as_str()))
        .map(|s| {
            let why = match s.role {
                Role::Expert { layer, .. } => format!(
                    "missing from the checkpoint (layer {layer} needs {n_expert} experts)"
                ),
                _ => "missing from the checkpoint (incomplete download or a shard left out of the index?)"
                    .to_string(),
            };
            Error::bad_tensor(&ck.dir, &s.tensor.name, why)
        })
        .collect();
    if !missing.is_empty() {
        return Err(Error::many(missing));
    }
    source::check_orphan_scales(ck)?;
    Ok(out)
}

/// The source of checkpoint tensor `idx`: plain float or FP8 (block-scaled), or a
/// compressed-tensors `X.weight_packed`.
fn weight_source(ck: &Checkpoint, cfg: &DeepseekConfig, idx: usize) -> Result<Source> {
    if source::packed_weight_name(&ck.tensors[idx].name).is_some() {
        return Ok(packed_source(ck, cfg, idx)?.0);
    }
    source::float_or_fp8(ck, idx, cfg.fp8_block())
}

/// A `X.weight_packed` tensor's source and logical shape; an error when `config.json` declares
/// no compressed-tensors quantization.
fn packed_source(ck: &Checkpoint, cfg: &DeepseekConfig, idx: usize) -> Result<(Source, Vec<u64>)> {
    let t = &ck.tensors[idx];
    match cfg.packed_int() {
        Some(q) => source::packed_int(ck, idx, q),
        None => Err(Error::bad_tensor(
            &ck.shards[t.shard].path,
            &t.name,
            "is a compressed-tensors packed weight, but config.json's quantization_config does \
             not declare quant_method 'compressed-tensors'",
        )),
    }
}

/// The table name of a checkpoint tensor (some exports put the head under `model.`).
fn canonical(name: &str) -> &str {
    if name == "model.lm_head.weight" {
        "lm_head.weight"
    } else {
        name
    }
}

/// True for a tensor of a layer the conversion leaves out.
fn skipped_layer(cfg: &DeepseekConfig, layers: Layers, name: &str) -> bool {
    let layer = name
        .strip_prefix("model.layers.")
        .and_then(|r| r.split_once('.'))
        .and_then(|(n, _)| n.parse::<u64>().ok());
    match layers {
        Layers::Trunk => layer.is_some_and(|l| l >= cfg.n_layer),
        Layers::All => false,
        Layers::MtpOnly => layer.is_some_and(|l| l < cfg.n_layer),
    }
}

/// `attn_k_b` and `attn_v_b` from `kv_b_proj` `[H·(nope+v), r]` (MLA), or `attn_kv_b` whole.
fn kv_b(cfg: &DeepseekConfig, layer: u64, src: Source, layout: Layout) -> Vec<MappedTensor> {
    let (h, nope, v, r) = (cfg.n_head_kv, cfg.qk_nope, cfg.v_head, cfg.kv_lora_rank);
    match layout {
        Layout::Mla => vec![
            MappedTensor {
                name: format!("blk.{layer}.attn_k_b.weight"),
                ne: vec![nope, r, h],
                recipe: Recipe::TransposeGroups {
                    src: src.clone(),
                    period: nope + v,
                    offset: 0,
                    take: nope,
                    cols: r,
                },
            },
            MappedTensor {
                name: format!("blk.{layer}.attn_v_b.weight"),
                ne: vec![r, v, h],
                recipe: Recipe::GatherRows {
                    src,
                    period: nope + v,
                    offset: nope,
                    take: v,
                },
            },
        ],
        Layout::Legacy => vec![MappedTensor {
            name: format!("blk.{layer}.attn_kv_b.weight"),
            ne: vec![r, h * (nope + v)],
            recipe: Recipe::Rows(src),
        }],
    }
}

/// The three stacked expert tensors of `layer` (down, gate, up), from its expert slots.
fn stack_experts(
    ck: &Checkpoint,
    cfg: &DeepseekConfig,
    layer: u64,
    slots: &[[Option<usize>; 3]],
) -> Result<Vec<MappedTensor>> {
    let n_expert = slots.len() as u64;
    let mut out = Vec::with_capacity(3);
    for (p, pname) in EXPERT_PROJ.iter().enumerate() {
        let refs = slots
            .iter()
            .map(|s| {
                let i = s[p].ok_or_else(|| {
                    Error::bad_tensor(
                        &ck.dir,
                        &format!("model.layers.{layer}.mlp.experts"),
                        "expert set incomplete",
                    )
                })?;
                weight_source(ck, cfg, i)
            })
            .collect::<Result<Vec<_>>>()?;
        let (rows, cols) = if p == 0 {
            (cfg.n_embd, cfg.n_ff_exp)
        } else {
            (cfg.n_ff_exp, cfg.n_embd)
        };
        out.push(MappedTensor {
            name: format!("blk.{layer}.ffn_{pname}_exps.weight"),
            ne: vec![cols, rows, n_expert],
            recipe: Recipe::Stack(refs),
        });
    }
    Ok(out)
}

/// Why a tensor name is not in the table: as specific as the name allows.
fn diagnose(cfg: &DeepseekConfig, name: &str) -> String {
    const GENERIC: &str =
        "unexpected tensor: not part of a DeepSeek V2/V3 checkpoint as config.json describes it";
    let Some((layer, rest)) = name
        .strip_prefix("model.layers.")
        .and_then(|r| r.split_once('.'))
        .and_then(|(n, rest)| Some((n.parse::<u64>().ok()?, rest)))
    else {
        return GENERIC.into();
    };
    let dense = cfg.is_dense_layer(layer);
    let kind = if dense { "dense" } else { "MoE" };
    let layer_kind = format!(
        "layer {layer} is {kind} per config.json (first_k_dense_replace = {})",
        cfg.n_dense_lead
    );
    if let Some(ex) = rest.strip_prefix("mlp.experts.") {
        let Some((e, proj)) = ex.split_once('.') else {
            return GENERIC.into();
        };
        if !matches!(
            proj,
            "down_proj.weight" | "gate_proj.weight" | "up_proj.weight"
        ) {
            return GENERIC.into();
        }
        if dense {
            return layer_kind;
        }
        let n_expert = cfg.n_expert.unwrap_or(0);
        if e.parse::<u64>().is_ok_and(|e| e >= n_expert) {
            return format!(
                "expert {e} is out of range: config.json says n_routed_experts = {n_expert}"
            );
        }
        return GENERIC.into();
    }
    let dense_name = matches!(
        rest,
        "mlp.gate_proj.weight" | "mlp.up_proj.weight" | "mlp.down_proj.weight"
    );
    let moe_name = rest.starts_with("mlp.shared_experts.") || rest.starts_with("mlp.gate.");
    if (dense_name && !dense) || (moe_name && dense) {
        return layer_kind;
    }
    if rest.starts_with("self_attn.")
        || rest.ends_with("layernorm.weight")
        || rest.starts_with("mlp.")
    {
        return "unexpected tensor for this config.json (e.g. q_proj with q_lora_rank set)".into();
    }
    GENERIC.into()
}
