//! ds2gguf: convert DeepSeek-family Hugging Face checkpoints to GGUF.
//!
//! The pipeline: a checkpoint directory ([`checkpoint`]) is understood by its architecture
//! ([`arch`]); the conversion is planned first ([`plan`]), from `config.json`, the tokenizer
//! files and the safetensors headers alone; then an executor ([`exec`]) fills the planned byte
//! ranges with bounded memory on all cores, through the element kernels ([`quant`]), into a
//! [`output`] destination as GGUF ([`gguf`]). See ARCHITECTURE.md.
#![warn(missing_docs)]

pub mod arch;
pub mod checkpoint;
pub mod cli;
pub mod error;
pub mod exec;
pub mod fsutil;
pub mod gguf;
pub mod imatrix;
pub mod inspect;
pub mod output;
pub mod plan;
pub mod quant;
pub mod signals;
pub mod synth;
pub mod synth_kimi;
pub mod util;

pub use error::{Error, Result};
