//! Tokenizer files → `tokenizer.*` GGUF metadata (and the `general.sampling.*` keys that llama.cpp's
//! converter takes from `generation_config.json`).
//!
//! What is reproduced, and from where in llama.cpp's converter (described, not copied):
//! - the token list and token types of `TextModel.get_vocab_base` (byte-level BPE read through
//!   transformers): every id below `vocab_size`, missing ids as `[PAD{i}]` (UNUSED), added tokens as
//!   CONTROL when special or when they look special, otherwise USER_DEFINED with U+2581 turned into a
//!   space, the rest NORMAL;
//! - `tokenizer.ggml.pre`, which the converter finds by hashing an encoding; here it is decided from
//!   the structure of `tokenizer.json`'s `pre_tokenizer` (regexes, Digits, ByteLevel) compared with
//!   the known DeepSeek ones;
//! - gguf-py's `SpecialVocab` (merges, special token ids, `add_*_token`, chat templates, normalizer
//!   flags), including its quirks (the crude TemplateProcessing reading, the first id found wins,
//!   `tokenizer_config.json` before `config.json`, empty strings and arrays never written);
//! - gguf-py's `Metadata` reading of `generation_config.json` into `general.sampling.*`.

mod hf;
mod json;
mod pre;
mod sampling;
mod special;
mod template;
pub mod tiktoken;
pub mod vocab;

pub use pre::{KNOWN_PRE, pre_tokenizer_json};
pub use template::check_chat_template;

use crate::fsutil::is_present_file;
use crate::gguf::{Array, Value};
use crate::{Error, Result};
use json::{as_object, describe, put};
use serde_json::{Map, Value as Json};
use std::path::Path;

/// Tokenizer metadata read from a checkpoint directory.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenizerMeta {
    /// GGUF key/value pairs in llama.cpp's converter order. The `general.sampling.*` keys (from
    /// `generation_config.json`) come first: the converter writes them in its general section, right
    /// after `general.type` and before `general.name` (see [`TokenizerMeta::general_kvs`]). All the
    /// `tokenizer.*` keys follow; the converter writes them last, after `general.quantization_version`
    /// (see [`TokenizerMeta::tokenizer_kvs`]).
    pub kvs: Vec<(String, Value)>,
    /// The `tokenizer.ggml.pre` value (detected or given with `--pre`).
    pub pre: String,
    /// Number of entries of `tokenizer.ggml.tokens` (config.json's `vocab_size`).
    pub n_tokens: usize,
    /// Things worth telling the user that do not stop the conversion.
    pub warnings: Vec<String>,
}

impl TokenizerMeta {
    /// The `general.*` keys (`general.sampling.*`), which belong right after `general.type`.
    pub fn general_kvs(&self) -> &[(String, Value)] {
        &self.kvs[..self.n_general()]
    }

    /// The `tokenizer.*` keys, which belong after `general.quantization_version`.
    pub fn tokenizer_kvs(&self) -> &[(String, Value)] {
        &self.kvs[self.n_general()..]
    }

    /// The value of `key`, if written.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.kvs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn n_general(&self) -> usize {
        self.kvs
            .iter()
            .take_while(|(k, _)| k.starts_with("general."))
            .count()
    }

    /// The text of token `id` in `tokenizer.ggml.tokens`.
    fn token_text(&self, id: u32) -> Option<&str> {
        match self.get(KEY_TOKENS) {
            Some(Value::Array(Array::String(toks))) => toks.get(id as usize).map(String::as_str),
            _ => None,
        }
    }
}

const KEY_TOKENS: &str = "tokenizer.ggml.tokens";

/// Reads the tokenizer files (tokenizer.json, tokenizer_config.json, chat_template.jinja /
/// chat_template.json, generation_config.json) and config.json (already parsed, passed in) and
/// returns the GGUF keys llama.cpp's converter writes, in the converter's order. `vocab_size` is
/// the number of token ids; `pre_override` is `--pre NAME`.
pub fn read_tokenizer(
    dir: &Path,
    config: &serde_json::Value,
    vocab_size: u32,
    pre_override: Option<&str>,
) -> Result<TokenizerMeta> {
    let tj_path = dir.join("tokenizer.json");
    let tiktoken = if is_present_file(&tj_path)? {
        false
    } else if is_present_file(&dir.join(tiktoken::TIKTOKEN_FILE))? {
        true
    } else {
        return Err(Error::bad_file(
            &tj_path,
            format!(
                "not found, and no {} either: expected a Hugging Face byte-level BPE tokenizer.json \
                 (or a tiktoken {} with tokenizer_config.json, as Kimi-K2 ships) next to config.json",
                tiktoken::TIKTOKEN_FILE,
                tiktoken::TIKTOKEN_FILE
            ),
        ));
    };
    let tj = if tiktoken {
        None
    } else {
        Some(super::read_json(&tj_path)?)
    };
    let tj = match &tj {
        Some(v) => Some(as_object(v, &tj_path, "the top level")?),
        None => None,
    };

    let tc_path = dir.join("tokenizer_config.json");
    let tc: Option<Map<String, Json>> = if is_present_file(&tc_path)? {
        match super::read_json(&tc_path)? {
            Json::Object(m) => Some(m),
            other => {
                return Err(Error::bad_file(
                    &tc_path,
                    format!(
                        "expected a JSON object at the top level, found {}",
                        describe(&other)
                    ),
                ));
            }
        }
    } else {
        None
    };
    let config = match config {
        Json::Object(m) => m,
        other => {
            return Err(Error::bad_file(
                dir.join("config.json"),
                format!(
                    "expected a JSON object at the top level, found {}",
                    describe(other)
                ),
            ));
        }
    };
    if let Some(name) = pre_override
        && !KNOWN_PRE.contains(&name)
    {
        return Err(Error::Usage(format!(
            "--pre {name:?}: not a pre-tokenizer llama.cpp knows; known names: {}",
            KNOWN_PRE.join(", ")
        )));
    }

    let mut warnings = Vec::new();
    let vocab = match tj {
        Some(tj) => hf::read_vocabulary(
            dir,
            &tj_path,
            tj,
            tc.as_ref(),
            vocab_size as usize,
            pre_override,
            &mut warnings,
        )?,
        None => tiktoken::read_vocabulary(
            dir,
            &tc_path,
            tc.as_ref(),
            vocab_size as usize,
            pre_override,
            &mut warnings,
        )?,
    };
    let pre = vocab.pre.clone();
    let n_tokens = vocab.tokens.len();

    let mut kvs: Vec<(String, Value)> = Vec::new();
    for (k, v) in sampling::read_sampling(dir, &mut warnings)? {
        put(&mut kvs, &k, v);
    }
    for (k, v) in vocab.kvs() {
        put(&mut kvs, &k, v);
    }
    let sv = special::SpecialVocab::load(
        dir,
        tj.map(|tj| (tj_path.as_path(), tj)),
        tc,
        &tc_path,
        config,
        &mut warnings,
    )?;
    sv.add_to(&mut kvs, &mut warnings)?;

    Ok(TokenizerMeta {
        kvs,
        pre,
        n_tokens,
        warnings,
    })
}

#[cfg(test)]
mod tests;
