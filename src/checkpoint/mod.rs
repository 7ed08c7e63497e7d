//! Reading a Hugging Face checkpoint directory: `config.json`, safetensors shards and their
//! index, and the tokenizer files.

pub mod config;
pub mod safetensors;
pub mod tokenizer;

use crate::{Error, Result};
use std::path::Path;

/// Reads and parses a JSON file, with errors that name the file.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let bytes = crate::fsutil::read_capped(path, crate::fsutil::JSON_MAX)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::bad_file(path, format!("not valid JSON: {e}")))
}
