//! The `deepseek2` architecture: DeepSeek-V2, V2-Lite, V2.5, V3, V3.1 and R1
//! (`DeepseekV2ForCausalLM`, `DeepseekV3ForCausalLM`), written as llama.cpp's converter writes
//! them. Multi-token-prediction layers are left out by default, as the converter does;
//! `--mtp keep` and `--mtp only` write them in the shape llama.cpp's deepseek2 loader reads
//! (the shape of its own NextN exporters: `block_count` counting them, `nextn_predict_layers`
//! last among the architecture keys, `blk.N.nextn.*`).

use super::deepseek::{self, DeepseekConfig, Layers, metadata};
use super::{ArchOptions, CheckpointTensor, Fact, Kvs, MappedTensor, Model, Mtp, Registration};
use crate::Result;
use crate::arch::deepseek::mtp_layers;
use crate::checkpoint::config::RawConfig;
use crate::checkpoint::safetensors::Checkpoint;
use crate::gguf::Value;
use crate::quant::preset::QuantModel;

/// The GGUF architecture name.
pub const ARCH: &str = "deepseek2";

/// The registry entry.
pub static REGISTRATION: Registration = Registration {
    gguf_arch: ARCH,
    hf_architectures: &["DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"],
    load: |raw| Ok(Box::new(Deepseek2::new(raw)?)),
    describe: deepseek::metadata::describe,
};

/// A DeepSeek-V2/V3-family model.
#[derive(Debug)]
pub struct Deepseek2 {
    cfg: DeepseekConfig,
}

impl Deepseek2 {
    /// Reads the DeepSeek hyper-parameters from `raw`.
    pub fn new(raw: RawConfig) -> Result<Deepseek2> {
        Ok(Deepseek2 {
            cfg: DeepseekConfig::from_raw(raw)?,
        })
    }
}

impl Model for Deepseek2 {
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
        let layers = mtp_layers(&self.cfg, opts, false)?;
        let mut kv = Kvs::new(ARCH);
        metadata::text_model_kvs(
            &mut kv,
            &self.cfg,
            layers.block_count(&self.cfg),
            opts.layout,
        )?;
        kv.put("general.file_type", Value::U32(file_type));
        metadata::deepseek_v2_kvs(&mut kv, &self.cfg, opts.layout);
        if layers != Layers::Trunk {
            metadata::nextn_kv(&mut kv, self.cfg.n_nextn);
        }
        Ok(kv.into_vec())
    }

    fn tensor_table(&self) -> Vec<CheckpointTensor> {
        // callers bound the configuration first (synth validates its spec)
        deepseek::tensors::deepseek_v2_table(&self.cfg).checkpoint_tensors()
    }

    fn map_tensors(&self, ck: &Checkpoint, opts: &ArchOptions) -> Result<Vec<MappedTensor>> {
        let layers = mtp_layers(&self.cfg, opts, false)?;
        deepseek::tensors::check_table_size(ck, &self.cfg)?;
        let table = deepseek::tensors::deepseek_v2_table(&self.cfg);
        deepseek::tensors::map_tensors(ck, &self.cfg, &table, opts.layout, layers)
    }

    fn quant_model(&self, opts: &ArchOptions) -> QuantModel {
        let layers = mtp_layers(&self.cfg, opts, false).unwrap_or(Layers::Trunk);
        deepseek::quant_model_for(&self.cfg, opts, layers)
    }

    fn facts(&self) -> Vec<Fact> {
        deepseek::facts(&self.cfg)
    }

    fn warnings(&self, opts: &ArchOptions) -> Vec<String> {
        let mut w = deepseek::rope_warnings(&self.cfg);
        w.extend(deepseek::kimi::warnings(&self.cfg));
        if self.cfg.n_nextn > 0 && opts.mtp == Mtp::Default {
            w.push(format!(
                "{} multi-token-prediction layer(s) are left out, as llama.cpp's converter does",
                self.cfg.n_nextn
            ));
        }
        if self.cfg.n_nextn > 1 && matches!(opts.mtp, Mtp::Keep | Mtp::Only) {
            w.push(format!(
                "{} multi-token-prediction layers are written; llama.cpp's MTP graph uses one",
                self.cfg.n_nextn
            ));
        }
        w
    }
}
