//! The `deepseek32` architecture: DeepSeek-V3.2 (V3.2-Exp, V3.2, V3.2-Speciale;
//! `DeepseekV32ForCausalLM`), written as llama.cpp's converter writes it: everything
//! `deepseek2` writes, under the `deepseek32.` prefix, plus the DSA indexer (five tensors in
//! every layer, three keys) and the multi-token-prediction block, kept by default
//! (`--no-mtp` writes the trunk only, `--mtp` a draft file with the MTP block, the embeddings,
//! the final norm and the head).

use super::deepseek::{self, DeepseekConfig, Layers, metadata, mtp_layers, tensors};
use super::{
    ArchOptions, CheckpointTensor, Fact, Kvs, Layout, MappedTensor, Model, Mtp, Registration,
};
use crate::checkpoint::config::RawConfig;
use crate::checkpoint::safetensors::Checkpoint;
use crate::gguf::Value;
use crate::quant::preset::QuantModel;
use crate::{Error, Result};

/// The GGUF architecture name.
pub const ARCH: &str = "deepseek32";

/// The registry entry.
pub static REGISTRATION: Registration = Registration {
    gguf_arch: ARCH,
    hf_architectures: &["DeepseekV32ForCausalLM"],
    load: |raw| Ok(Box::new(Deepseek32::new(raw)?)),
    describe: deepseek::metadata::describe,
};

/// The DSA indexer's hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Indexer {
    /// `index_n_heads`.
    pub heads: u64,
    /// `index_head_dim`.
    pub dim: u64,
    /// `index_topk`.
    pub top_k: u64,
}

/// A DeepSeek-V3.2 model.
#[derive(Debug)]
pub struct Deepseek32 {
    cfg: DeepseekConfig,
    indexer: Indexer,
}

impl Deepseek32 {
    /// Reads the DeepSeek and indexer hyper-parameters from `raw`. llama.cpp's `deepseek32`
    /// loader needs `q_lora_rank` and an expert gating function, so a configuration without
    /// them is refused here rather than written into a file nothing loads.
    pub fn new(raw: RawConfig) -> Result<Deepseek32> {
        let cfg = DeepseekConfig::from_raw(raw)?;
        let raw = &cfg.raw;
        let get = |key: &str| -> Result<u64> {
            let v = raw.opt_u64(key)?.ok_or_else(|| {
                Error::bad_file(
                    &raw.path,
                    format!("{key} is missing: DeepSeek-V3.2's indexer needs it"),
                )
            })?;
            if v > 1 << 24 {
                return Err(Error::bad_file(
                    &raw.path,
                    format!("{key} = {v} is implausibly large (more than 2^24)"),
                ));
            }
            Ok(v)
        };
        let indexer = Indexer {
            heads: get("index_n_heads")?,
            dim: get("index_head_dim")?,
            top_k: get("index_topk")?,
        };
        for (key, v) in [
            ("index_n_heads", indexer.heads),
            ("index_head_dim", indexer.dim),
        ] {
            if v == 0 {
                return Err(Error::bad_file(
                    &raw.path,
                    format!("{key} must be positive, found 0"),
                ));
            }
        }
        if cfg.q_lora_rank.is_none() {
            return Err(Error::Unsupported(format!(
                "{}: q_lora_rank is missing; llama.cpp's {ARCH} loader requires it",
                raw.path.display()
            )));
        }
        if cfg.n_expert.is_some() && raw.get("scoring_func").is_none() {
            return Err(Error::Unsupported(format!(
                "{}: scoring_func is missing; llama.cpp's {ARCH} loader requires the expert gating function",
                raw.path.display()
            )));
        }
        Ok(Deepseek32 { cfg, indexer })
    }

    /// The indexer's hyper-parameters.
    pub fn indexer(&self) -> Indexer {
        self.indexer
    }

    fn layers(&self, opts: &ArchOptions) -> Result<Layers> {
        if opts.layout == Layout::Legacy {
            return Err(Error::Usage(format!(
                "--layout legacy: llama.cpp's {ARCH} loader requires the MLA layout"
            )));
        }
        mtp_layers(&self.cfg, opts, true)
    }

    fn table(&self) -> tensors::Table {
        let mut t = tensors::deepseek_v2_table(&self.cfg);
        tensors::add_indexer(&mut t, &self.cfg, self.indexer.heads, self.indexer.dim);
        t
    }
}

impl Model for Deepseek32 {
    fn arch(&self) -> &'static str {
        ARCH
    }

    fn config(&self) -> &RawConfig {
        &self.cfg.raw
    }

    fn vocab_size(&self) -> u64 {
        self.cfg.vocab_size
    }

    fn metadata(&self, file_type: u32, opts: &ArchOptions) -> Result<Vec<(String, Value)>> {
        let layers = self.layers(opts)?;
        let mut kv = Kvs::new(ARCH);
        metadata::text_model_kvs(
            &mut kv,
            &self.cfg,
            layers.block_count(&self.cfg),
            opts.layout,
        )?;
        kv.put("general.file_type", Value::U32(file_type));
        metadata::deepseek_v2_kvs(&mut kv, &self.cfg, opts.layout);
        // written whenever the MTP block is not excluded and config.json states the count
        if layers != Layers::Trunk && self.cfg.raw.get("num_nextn_predict_layers").is_some() {
            metadata::nextn_kv(&mut kv, self.cfg.n_nextn);
        }
        let ix = self.indexer;
        metadata::indexer_kvs(&mut kv, ix.heads, ix.dim, ix.top_k);
        Ok(kv.into_vec())
    }

    fn tensor_table(&self) -> Vec<CheckpointTensor> {
        self.table().checkpoint_tensors()
    }

    fn map_tensors(&self, ck: &Checkpoint, opts: &ArchOptions) -> Result<Vec<MappedTensor>> {
        let layers = self.layers(opts)?;
        let want = tensors::table_len(&self.cfg) + tensors::indexer_len(&self.cfg);
        tensors::check_table_len(ck, &self.cfg, want)?;
        tensors::map_tensors(ck, &self.cfg, &self.table(), opts.layout, layers)
    }

    fn quant_model(&self, opts: &ArchOptions) -> QuantModel {
        let layers = self.layers(opts).unwrap_or(Layers::All);
        deepseek::quant_model_for(&self.cfg, opts, layers)
    }

    fn forced_f32(&self, name: &str, n_dims: usize) -> bool {
        // the converter's fixed list includes the DSA indexer's weights projection
        super::base_forced_f32(name, n_dims) || name.ends_with(".indexer.proj.weight")
    }

    fn facts(&self) -> Vec<Fact> {
        let mut f = deepseek::facts(&self.cfg);
        let ix = self.indexer;
        f.push((
            "indexer",
            format!("DSA, {} heads × {}, top-k {}", ix.heads, ix.dim, ix.top_k).into(),
        ));
        if self.cfg.n_nextn > 0 {
            f.push((
                "mtp",
                "kept by default (--no-mtp: trunk only; --mtp: draft file)".into(),
            ));
        }
        f
    }

    fn warnings(&self, opts: &ArchOptions) -> Vec<String> {
        let mut w = deepseek::rope_warnings(&self.cfg);
        if self.cfg.n_nextn > 1 && opts.mtp != Mtp::Drop {
            w.push(format!(
                "{} multi-token-prediction layers are written; llama.cpp's MTP graph uses one",
                self.cfg.n_nextn
            ));
        }
        w
    }
}
