//! ds2gguf: convert DeepSeek-family Hugging Face checkpoints to GGUF.
//!
//! The conversion is planned first ([`plan`]), from `config.json`, the tokenizer files and the
//! safetensors headers alone; then an executor ([`exec`]) fills the planned byte ranges with
//! bounded memory on all cores.

pub mod arch;
pub mod checkpoint;
pub mod error;
pub mod exec;
pub mod gguf;
pub mod inspect;
pub mod plan;
pub mod quant;
pub mod synth;

pub use error::{Error, Result};
