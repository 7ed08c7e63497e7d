//! Architectures: the one interface ([`Model`]) through which planning, execution, `inspect` and
//! the command line see a model, and the registry of implementations ([`REGISTRY`]).
//!
//! An architecture is detected from `config.json`'s `architectures[0]`, parses its own typed
//! configuration, and answers for its metadata keys, its tensor table and mapping (as
//! model-neutral [`Recipe`]s), its llama-quantize parameters and its tokenizer needs. Adding
//! one is a new module here and one line in [`REGISTRY`].

pub mod deepseek;
pub mod deepseek2;
pub mod deepseek32;
pub mod deepseek4;
pub mod recipe;
pub mod source;

pub use recipe::{Decoder, MappedTensor, Recipe, Source};

use crate::checkpoint::config::RawConfig;
use crate::checkpoint::safetensors::Checkpoint;
use crate::gguf::{GgmlType, Value};
use crate::quant::preset::QuantModel;
use crate::{Error, Result};
use std::path::Path;

/// How an MLA architecture writes attention's `kv_b_proj`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layout {
    /// llama.cpp's MLA layout: `attn_k_b` and `attn_v_b`, `head_count_kv` 1, `*_mla` keys.
    #[default]
    Mla,
    /// Ollama's (pre-MLA) layout: `attn_kv_b` whole, `head_count_kv` = heads, no `*_mla` keys.
    Legacy,
}

/// What happens to a checkpoint's multi-token-prediction (NextN) layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mtp {
    /// What the architecture's reference converter does.
    #[default]
    Default,
    /// The trunk only (`--no-mtp`).
    Drop,
    /// Trunk and MTP layers in one file (`--mtp keep`).
    Keep,
    /// The MTP layers and the tensors they share with the trunk: a draft file (`--mtp`).
    Only,
}

/// The conversion choices an architecture interprets.
#[derive(Clone, Debug, Default)]
pub struct ArchOptions {
    /// `--layout`.
    pub layout: Layout,
    /// `--mtp` / `--no-mtp`.
    pub mtp: Mtp,
}

/// What a checkpoint tensor holds: decides how `synth` stores and fills it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    /// A normalisation weight (values around 1).
    Norm,
    /// A bias kept in F32 (e.g. DeepSeek-V3's routing correction bias).
    Bias,
    /// An expert router.
    Router,
    /// A token embedding or output head.
    Embed,
    /// A linear projection (block-FP8 in FP8 releases).
    Linear,
    /// A small weight or bias kept in the 16-bit float type even in FP8 releases (V3.2's
    /// indexer `weights_proj` and `k_norm.bias`).
    Float,
    /// A small F32 parameter kept in F32 (DeepSeek-V4's hyper-connection mixers, attention
    /// sinks, compressor position biases).
    F32Param,
    /// Routed-expert weights stored as FP4 e2m1 (two per byte) with E8M0 scales per 32
    /// elements; the table lists the unpacked shape `[rows, cols]`.
    Fp4Expert,
    /// A token-id → expert-id routing table (integers below the expert count).
    HashTable,
}

/// One tensor of a complete checkpoint, as an architecture's tensor table lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointTensor {
    /// Name in the checkpoint.
    pub name: String,
    /// Shape, outermost first.
    pub shape: Vec<u64>,
    /// What it holds.
    pub kind: TensorKind,
}

/// A fact about a model or a GGUF file, for `plan` and `inspect`: a short key and a value.
pub type Fact = (&'static str, serde_json::Value);

/// One model, as an architecture understood its `config.json`.
pub trait Model: std::fmt::Debug + Send + Sync {
    /// The GGUF `general.architecture` value.
    fn arch(&self) -> &'static str;
    /// The parsed `config.json`.
    fn config(&self) -> &RawConfig;
    /// The number of token ids (`tokenizer.ggml.tokens` has this many entries).
    fn vocab_size(&self) -> u64;
    /// The architecture keys, in the order llama.cpp's converter writes them (between
    /// `general.name` and `general.quantization_version`), including `general.file_type`.
    fn metadata(&self, file_type: u32, opts: &ArchOptions) -> Result<Vec<(String, Value)>>;
    /// The tensors of a complete checkpoint for this configuration (trunk and extra layers).
    fn tensor_table(&self) -> Vec<CheckpointTensor>;
    /// Maps the checkpoint's tensors to output tensors, in llama.cpp's converter order, checking
    /// names, dtypes, shapes and completeness against the configuration.
    fn map_tensors(&self, ck: &Checkpoint, opts: &ArchOptions) -> Result<Vec<MappedTensor>>;
    /// What llama-quantize's type rules need to know about the model.
    fn quant_model(&self, opts: &ArchOptions) -> QuantModel;
    /// True for the tensors llama.cpp's converter always stores as F32.
    fn forced_f32(&self, name: &str, n_dims: usize) -> bool {
        base_forced_f32(name, n_dims)
    }
    /// The type llama.cpp's converter gives this output tensor whatever `--outtype` says
    /// (source-dtype rules, direct writes), if the architecture has such a rule for it.
    /// `None` leaves it to [`Model::forced_f32`] and the output type.
    fn converter_type(&self, _ck: &Checkpoint, _tensor: &MappedTensor) -> Option<GgmlType> {
        None
    }
    /// The chat template llama.cpp's converter bundles for this model, written right after
    /// `general.architecture` (a template from the tokenizer files takes its value), if any.
    fn bundled_chat_template(&self) -> Option<&'static str> {
        None
    }
    /// Facts for `plan` (layers, experts, attention kind, …).
    fn facts(&self) -> Vec<Fact>;
    /// Things worth saying that do not stop the conversion.
    fn warnings(&self, opts: &ArchOptions) -> Vec<String>;
}

/// llama.cpp's converter's own rule: 1-D tensors, norms, routers and anything not named
/// `*.weight` are F32.
pub fn base_forced_f32(name: &str, n_dims: usize) -> bool {
    n_dims <= 1
        || name.ends_with("_norm.weight")
        || name.ends_with("ffn_gate_inp.weight")
        || !name.ends_with(".weight")
}

/// A registered architecture.
pub struct Registration {
    /// The GGUF `general.architecture` it writes.
    pub gguf_arch: &'static str,
    /// The `config.json` `architectures[0]` values it converts.
    pub hf_architectures: &'static [&'static str],
    /// Parses a configuration into a model.
    pub load: fn(RawConfig) -> Result<Box<dyn Model>>,
    /// Facts about a GGUF file of this architecture, from its metadata (for `inspect`).
    pub describe: fn(&[(String, Value)]) -> Vec<Fact>,
}

/// Every architecture ds2gguf converts.
pub static REGISTRY: &[&Registration] = &[
    &deepseek2::REGISTRATION,
    &deepseek32::REGISTRATION,
    &deepseek4::REGISTRATION,
];

/// Architectures seen in the wild that are not converted, with a word on why.
const NOT_SUPPORTED: &[(&str, &str)] = &[(
    "DeepseekForCausalLM",
    " (DeepSeek-MoE 16B uses the older 'deepseek' architecture)",
)];

/// Reads `dir/config.json` and loads the model with the architecture that converts it.
pub fn load_model(dir: &Path) -> Result<Box<dyn Model>> {
    model_from_config(RawConfig::read(dir)?)
}

/// Loads a model from a parsed `config.json`.
pub fn model_from_config(raw: RawConfig) -> Result<Box<dyn Model>> {
    match REGISTRY
        .iter()
        .find(|r| r.hf_architectures.contains(&raw.architecture.as_str()))
    {
        Some(r) => (r.load)(raw),
        None => {
            let hint = NOT_SUPPORTED
                .iter()
                .find(|(a, _)| *a == raw.architecture)
                .map(|(_, h)| *h)
                .unwrap_or("");
            let known: Vec<&str> = REGISTRY
                .iter()
                .flat_map(|r| r.hf_architectures.iter().copied())
                .collect();
            Err(Error::Unsupported(format!(
                "{}: architecture '{}'{hint}; ds2gguf converts {}",
                raw.path.display(),
                raw.architecture,
                known.join(" and ")
            )))
        }
    }
}

/// The registration writing GGUF architecture `gguf_arch`, if any.
pub fn registration_for(gguf_arch: &str) -> Option<&'static Registration> {
    REGISTRY.iter().copied().find(|r| r.gguf_arch == gguf_arch)
}

/// GGUF key/value pairs under construction: keys without a `general.` prefix get the
/// architecture's prefix, and a key written twice keeps its first position with the new value,
/// as gguf-py's writer does.
#[derive(Debug)]
pub struct Kvs {
    prefix: &'static str,
    kvs: Vec<(String, Value)>,
}

impl Kvs {
    /// An empty list for architecture `prefix`.
    pub fn new(prefix: &'static str) -> Kvs {
        Kvs {
            prefix,
            kvs: Vec::new(),
        }
    }

    /// Sets `key` (relative to the architecture unless it starts with `general.`).
    pub fn put(&mut self, key: &str, v: Value) {
        let key = if key.starts_with("general.") {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        };
        if let Some(slot) = self.kvs.iter_mut().find(|(n, _)| *n == key) {
            slot.1 = v;
        } else {
            self.kvs.push((key, v));
        }
    }

    /// Sets a u32 key from a config value, refusing values that do not fit (`name` is the
    /// config key, for the message).
    pub fn put_u32(&mut self, cfg: &RawConfig, key: &str, name: &str, x: u64) -> Result<()> {
        let v = u32::try_from(x).map_err(|_| {
            Error::bad_file(
                &cfg.path,
                format!("{name} = {x} does not fit the 32 bits GGUF stores"),
            )
        })?;
        self.put(key, Value::U32(v));
        Ok(())
    }

    /// The pairs, in order.
    pub fn into_vec(self) -> Vec<(String, Value)> {
        self.kvs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_architectures_are_named_with_a_hint() {
        let raw = RawConfig::from_json(
            Path::new("m/config.json"),
            json!({"architectures": ["DeepseekForCausalLM"]}),
        )
        .unwrap();
        let e = model_from_config(raw).unwrap_err().to_string();
        assert!(e.contains("DeepseekForCausalLM") && e.contains("m/config.json"));
        assert!(e.contains("older 'deepseek' architecture"), "{e}");
        assert!(e.contains("DeepseekV3ForCausalLM"), "{e}");
    }

    #[test]
    fn duplicated_keys_keep_their_first_position() {
        let mut k = Kvs::new("x");
        k.put("a", Value::U32(1));
        k.put("general.file_type", Value::U32(7));
        k.put("a", Value::U32(2));
        let v = k.into_vec();
        assert_eq!(v[0], ("x.a".to_string(), Value::U32(2)));
        assert_eq!(v[1].0, "general.file_type");
    }

    #[test]
    fn forced_f32_rule() {
        assert!(base_forced_f32("blk.0.attn_norm.weight", 1));
        assert!(base_forced_f32("blk.3.ffn_gate_inp.weight", 2));
        assert!(base_forced_f32("blk.3.exp_probs_b.bias", 1));
        assert!(!base_forced_f32("blk.3.ffn_up_exps.weight", 3));
    }
}
