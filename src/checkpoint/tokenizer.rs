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

use crate::gguf::{Array, Value};
use crate::{Error, Result};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

/// Every `tokenizer.ggml.pre` value llama.cpp's loader (`src/llama-vocab.cpp`, 0c1e57098) accepts
/// for a BPE vocabulary.
pub const KNOWN_PRE: &[&str] = &[
    "default",
    "minicpm5",
    "llama3",
    "llama-v3",
    "llama-bpe",
    "falcon3",
    "falcon-h1",
    "pixtral",
    "midm-2.0",
    "lfm2",
    "jina-v5-nano",
    "deepseek-llm",
    "deepseek-coder",
    "deepseek-v3",
    "spark2_5",
    "youtu",
    "falcon",
    "mpt",
    "starcoder",
    "gpt-2",
    "phi-2",
    "jina-es",
    "jina-de",
    "gigachat",
    "jina-v2-es",
    "jina-v2-de",
    "a.x-4.0",
    "mellum",
    "modern-bert",
    "jais-2",
    "gemma4",
    "granite-embed-multi-311m",
    "sarvam-moe",
    "jina-v1-en",
    "jina-v2-code",
    "roberta-bpe",
    "whitespace",
    "refact",
    "command-r",
    "qwen2",
    "deepseek-r1-qwen",
    "kormo",
    "f2llmv2",
    "qwen35",
    "stablelm2",
    "olmo",
    "dbrx",
    "smaug-bpe",
    "poro-chat",
    "chatglm-bpe",
    "glm4",
    "glm5",
    "viking",
    "jais",
    "tekken",
    "smollm",
    "codeshell",
    "bloom",
    "gpt3-finnish",
    "exaone",
    "exaone4",
    "exaone-moe",
    "chameleon",
    "minerva-7b",
    "megrez",
    "gpt-4o",
    "llama4",
    "kanana2",
    "talkie",
    "granite-embed-multi-97m",
    "tiny_aya",
    "cohere2moe",
    "superbpe",
    "trillion",
    "granite-docling",
    "bailingmoe",
    "bailingmoe2",
    "llada-moe",
    "seed-coder",
    "hunyuan",
    "hunyuan-dense",
    "hy_v4",
    "joyai-llm",
    "kimi-k2",
    "ufakzeka",
    "grok-2",
    "afmoe",
    "laguna",
    "minimax-m2",
    "solar-open",
    "mellum2",
];

const KEY_TOKENS: &str = "tokenizer.ggml.tokens";

/// gguf-py `TokenType` values.
const TT_NORMAL: i32 = 1;
const TT_CONTROL: i32 = 3;
const TT_USER_DEFINED: i32 = 4;
const TT_UNUSED: i32 = 5;

/// Upper bound on `vocab_size`, so a corrupt config cannot make us allocate without limit.
const MAX_VOCAB: usize = 1 << 24;

/// Reads tokenizer.json, tokenizer_config.json, chat_template.jinja / chat_template.json, generation_config.json
/// and config.json (already parsed, passed in) and returns the GGUF keys llama.cpp's converter writes for a
/// deepseek2 model, in the converter's order. `vocab_size` is config.json's vocab_size. `pre_override` is --pre NAME.
pub fn read_tokenizer(
    dir: &Path,
    config: &serde_json::Value,
    vocab_size: u32,
    pre_override: Option<&str>,
) -> Result<TokenizerMeta> {
    let tj_path = dir.join("tokenizer.json");
    if !tj_path.is_file() {
        for name in ["tiktoken.model", "tokenization_kimi.py"] {
            if dir.join(name).is_file() {
                return Err(Error::Unsupported(format!(
                    "{}: tiktoken tokenizers (Kimi-K2, Moonlight) are not supported yet: found {name} \
                     and no tokenizer.json",
                    dir.display()
                )));
            }
        }
        return Err(Error::bad_file(
            &tj_path,
            "not found: expected a Hugging Face byte-level BPE tokenizer.json next to config.json",
        ));
    }
    let tj = super::read_json(&tj_path)?;
    let tj = as_object(&tj, &tj_path, "the top level")?;

    let tc_path = dir.join("tokenizer_config.json");
    let tc: Option<Map<String, Json>> = if tc_path.is_file() {
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

    let mut warnings = Vec::new();

    let pre = match pre_override {
        Some(name) => {
            if !KNOWN_PRE.contains(&name) {
                return Err(Error::Usage(format!(
                    "--pre {name:?}: not a pre-tokenizer llama.cpp knows; known names: {}",
                    KNOWN_PRE.join(", ")
                )));
            }
            name.to_string()
        }
        None => detect_pre(&tj_path, tj)?.to_string(),
    };

    let (tokens, types) = build_vocab(
        dir,
        &tj_path,
        tj,
        tc.as_ref(),
        vocab_size as usize,
        &mut warnings,
    )?;
    let n_tokens = tokens.len();

    let mut kvs: Vec<(String, Value)> = Vec::new();
    for (k, v) in read_sampling(dir, &mut warnings)? {
        put(&mut kvs, &k, v);
    }
    put(
        &mut kvs,
        "tokenizer.ggml.model",
        Value::String("gpt2".into()),
    );
    put(&mut kvs, "tokenizer.ggml.pre", Value::String(pre.clone()));
    put_array(&mut kvs, KEY_TOKENS, Array::String(tokens));
    put_array(&mut kvs, "tokenizer.ggml.token_type", Array::I32(types));

    let sv = SpecialVocab::load(dir, &tj_path, tj, tc, &tc_path, config, &mut warnings)?;
    sv.add_to(&mut kvs, &mut warnings)?;

    Ok(TokenizerMeta {
        kvs,
        pre,
        n_tokens,
        warnings,
    })
}

/// Renders the chat template on a sample conversation (for the preflight): Ok(()) or a message.
pub fn check_chat_template(meta: &TokenizerMeta) -> std::result::Result<(), String> {
    let token_of = |key: &str| -> String {
        match meta.get(key) {
            Some(Value::U32(id)) => meta.token_text(*id).unwrap_or("").to_string(),
            _ => String::new(),
        }
    };
    let bos = token_of("tokenizer.ggml.bos_token_id");
    let eos = token_of("tokenizer.ggml.eos_token_id");
    for (key, value) in &meta.kvs {
        let name = if key == "tokenizer.chat_template" {
            "default".to_string()
        } else if let Some(n) = key.strip_prefix("tokenizer.chat_template.") {
            n.to_string()
        } else {
            continue;
        };
        let Value::String(src) = value else {
            return Err(format!("{key}: expected a string value"));
        };
        render_sample(src, &bos, &eos)
            .map_err(|e| format!("chat template '{name}' ({key}) does not render: {e}"))?;
    }
    Ok(())
}

fn render_sample(src: &str, bos: &str, eos: &str) -> std::result::Result<String, String> {
    use minijinja::{Environment, ErrorKind, Value as J};
    let mut env = Environment::new();
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    // transformers renders chat templates with trim_blocks and lstrip_blocks
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    minijinja_contrib::add_to_environment(&mut env);
    env.add_function(
        "raise_exception",
        |msg: String| -> std::result::Result<J, minijinja::Error> {
            Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("raise_exception: {msg}"),
            ))
        },
    );
    env.add_function("strftime_now", |_fmt: Option<String>| -> String {
        "01 Jan 2025".to_string()
    });
    let tmpl = env.template_from_str(src).map_err(|e| e.to_string())?;
    let msg = |role: &str, content: &str| minijinja::context! { role => role, content => content };
    let messages: Vec<J> = vec![
        msg("system", "You are a helpful assistant."),
        msg("user", "Hello! What is 2 + 2?"),
        msg("assistant", "2 + 2 = 4."),
    ];
    let ctx = minijinja::context! {
        messages => messages,
        add_generation_prompt => true,
        bos_token => bos,
        eos_token => eos,
    };
    tmpl.render(ctx).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// small helpers

/// A short description of a JSON value for error messages.
fn describe(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("the boolean {b}"),
        Json::Number(n) => format!("the number {n}"),
        Json::String(s) => {
            let mut t: String = s.chars().take(40).collect();
            if t.len() < s.len() {
                t.push('…');
            }
            format!("the string {t:?}")
        }
        Json::Array(a) => format!("an array of {} elements", a.len()),
        Json::Object(_) => "an object".into(),
    }
}

fn as_object<'a>(v: &'a Json, path: &Path, what: &str) -> Result<&'a Map<String, Json>> {
    v.as_object().ok_or_else(|| {
        Error::bad_file(
            path,
            format!("{what}: expected a JSON object, found {}", describe(v)),
        )
    })
}

fn as_array<'a>(v: &'a Json, path: &Path, what: &str) -> Result<&'a Vec<Json>> {
    v.as_array().ok_or_else(|| {
        Error::bad_file(
            path,
            format!("{what}: expected a JSON array, found {}", describe(v)),
        )
    })
}

/// Python truthiness of a JSON value (`None`, `False`, `0`, `""`, `[]`, `{}` are false).
fn truthy(v: Option<&Json>) -> bool {
    match v {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        Some(Json::String(s)) => !s.is_empty(),
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(o)) => !o.is_empty(),
    }
}

/// Python `==` between two optional JSON values (`None` is JSON null; numbers compare by value and
/// `True == 1`).
fn py_eq(a: Option<&Json>, b: Option<&Json>) -> bool {
    let a = a.unwrap_or(&Json::Null);
    let b = b.unwrap_or(&Json::Null);
    let num = |v: &Json| match v {
        Json::Number(n) => n.as_f64(),
        Json::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A Python `int` (bools included, as `isinstance(True, int)` holds) from a JSON value.
fn py_int(v: &Json) -> Option<i128> {
    match v {
        Json::Bool(b) => Some(*b as i128),
        Json::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

/// Sets `key` like gguf-py's writer: a key written twice keeps its first position and takes the
/// new value.
fn put(kvs: &mut Vec<(String, Value)>, key: &str, value: Value) {
    if let Some(slot) = kvs.iter_mut().find(|(k, _)| k == key) {
        slot.1 = value;
    } else {
        kvs.push((key.to_string(), value));
    }
}

/// gguf-py's `add_string`: an empty string is not written.
fn put_string(kvs: &mut Vec<(String, Value)>, key: &str, value: &str) {
    if !value.is_empty() {
        put(kvs, key, Value::String(value.to_string()));
    }
}

/// gguf-py's `add_array`: an empty array is not written.
fn put_array(kvs: &mut Vec<(String, Value)>, key: &str, value: Array) {
    let empty = match &value {
        Array::U8(v) => v.is_empty(),
        Array::I32(v) => v.is_empty(),
        Array::U32(v) => v.is_empty(),
        Array::F32(v) => v.is_empty(),
        Array::Bool(v) => v.is_empty(),
        Array::String(v) => v.is_empty(),
        Array::Raw { count, .. } => *count == 0,
    };
    if !empty {
        put(kvs, key, Value::Array(value));
    }
}

/// The text of a `tokenizer_config.json` token entry: a string, or an AddedToken object's `content`.
fn entry_content(v: Option<&Json>) -> Option<&str> {
    match v? {
        Json::String(s) => Some(s),
        Json::Object(o) => o.get("content")?.as_str(),
        _ => None,
    }
}

/// Reads a text file as Python's text mode does (UTF-8, universal newlines).
fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let s = String::from_utf8(bytes).map_err(|e| {
        Error::bad_file(
            path,
            format!(
                "expected UTF-8 text, found invalid bytes at offset {}",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    Ok(if s.contains('\r') {
        s.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        s
    })
}

// ---------------------------------------------------------------------------------------------
// pre-tokenizer detection

/// One step of a `pre_tokenizer`, reduced to what changes the split.
#[derive(Clone, Debug, PartialEq)]
enum PreStep {
    /// `Split` with a regex pattern.
    Split {
        regex: String,
        behavior: String,
        invert: bool,
    },
    /// `Digits`.
    Digits { individual: bool },
    /// `ByteLevel`.
    ByteLevel {
        add_prefix_space: bool,
        use_regex: bool,
    },
    /// Anything else, by its JSON text.
    Other(String),
}

fn split(regex: &str) -> PreStep {
    PreStep::Split {
        regex: regex.to_string(),
        behavior: "Isolated".into(),
        invert: false,
    }
}

const BYTE_LEVEL_NO_REGEX: PreStep = PreStep::ByteLevel {
    add_prefix_space: false,
    use_regex: false,
};

/// DeepSeek-V3 / R1 / V3.1: numbers by up to three digits, CJK runs, then a GPT-4o-like split.
fn v3_steps() -> Vec<PreStep> {
    vec![
        split("\\p{N}{1,3}"),
        split("[\u{4e00}-\u{9fa5}\u{3040}-\u{309f}\u{30a0}-\u{30ff}]+"),
        split(
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
        ),
        BYTE_LEVEL_NO_REGEX,
    ]
}

/// The CJK run shared by DeepSeek-LLM and DeepSeek-Coder.
const CJK_LLM: &str = "[\u{4e00}-\u{9fa5}\u{800}-\u{4e00}\u{ac00}-\u{d7ff}]+";

/// DeepSeek-LLM 7B/67B, DeepSeek-V2, V2-Lite, V2.5, Coder-V2.
fn llm_steps() -> Vec<PreStep> {
    vec![
        split("[\r\n]"),
        split(
            "\\s?[A-Za-z\u{b5}\u{c0}-\u{d6}\u{d8}-\u{f6}\u{f8}-\u{1ba}\u{1bc}-\u{1bf}\u{1c4}-\u{293}\u{295}-\u{2af}\u{370}-\u{373}\u{376}\u{377}\u{37b}-\u{37d}\u{37f}\u{386}\u{388}-\u{38a}\u{38c}\u{38e}-\u{3a1}\u{3a3}-\u{3f5}\u{3f7}-\u{481}\u{48a}-\u{52f}\u{531}-\u{556}\u{10a0}-\u{10c5}\u{13a0}-\u{13f5}\u{13f8}-\u{13fd}\u{1c90}-\u{1cba}\u{1cbd}-\u{1cbf}\u{1d00}-\u{1d2b}\u{1d6b}-\u{1d77}\u{1d79}-\u{1d9a}\u{1e00}-\u{1f15}\u{1f18}-\u{1f1d}\u{1f20}-\u{1f45}\u{1f48}-\u{1f4d}\u{1f50}-\u{1f57}\u{1f59}\u{1f5b}\u{1f5d}\u{1f5f}-\u{1f7d}\u{1f80}-\u{1fb4}\u{1fb6}-\u{1fbc}\u{1fbe}\u{1fc2}-\u{1fc4}\u{1fc6}-\u{1fcc}\u{1fd0}-\u{1fd3}\u{1fd6}-\u{1fdb}\u{1fe0}-\u{1fec}\u{1ff2}-\u{1ff4}\u{1ff6}-\u{1ffc}\u{2102}\u{2107}\u{210a}-\u{2113}\u{2115}\u{2119}-\u{211d}\u{2124}\u{2126}\u{2128}\u{212a}-\u{212d}\u{212f}-\u{2134}\u{2139}\u{213c}-\u{213f}\u{2145}-\u{2149}\u{214e}\u{2183}\u{2184}\u{2c00}-\u{2c7b}\u{2c7e}-\u{2ce4}\u{2ceb}-\u{2cee}\u{2cf2}\u{2cf3}\u{a640}-\u{a66d}\u{a680}-\u{a69b}\u{a722}-\u{a76f}\u{a771}-\u{a787}\u{a78b}-\u{a78e}\u{ab70}-\u{abbf}\u{fb00}-\u{fb06}\u{fb13}-\u{fb17}\u{ff21}-\u{ff3a}\u{ff41}-\u{ff5a}\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}]+",
        ),
        split("\\s?[!-/:-~\u{ff01}-\u{ff0f}\u{ff1a}-\u{ff5e}\u{2018}-\u{201f}\u{3000}-\u{3002}]+"),
        split("\\s+$"),
        split(CJK_LLM),
        PreStep::Digits { individual: true },
        BYTE_LEVEL_NO_REGEX,
    ]
}

/// DeepSeek-Coder 1.3B/6.7B/33B (v1).
fn coder_steps() -> Vec<PreStep> {
    vec![
        split("[\r\n]"),
        split("\\s?\\p{L}+"),
        split("\\s?\\p{P}+"),
        split(CJK_LLM),
        PreStep::Digits { individual: true },
        BYTE_LEVEL_NO_REGEX,
    ]
}

fn parse_pre_step(v: &Json) -> PreStep {
    let Some(o) = v.as_object() else {
        return PreStep::Other(v.to_string());
    };
    let flag = |k: &str, default: bool| o.get(k).and_then(Json::as_bool).unwrap_or(default);
    match o.get("type").and_then(Json::as_str) {
        Some("Split") => {
            let regex = o
                .get("pattern")
                .and_then(|p| p.get("Regex"))
                .and_then(Json::as_str);
            let behavior = o.get("behavior").and_then(Json::as_str);
            match (regex, behavior) {
                (Some(r), Some(b)) => PreStep::Split {
                    regex: r.to_string(),
                    behavior: b.to_string(),
                    invert: flag("invert", false),
                },
                _ => PreStep::Other(v.to_string()),
            }
        }
        Some("Digits") => PreStep::Digits {
            individual: flag("individual_digits", false),
        },
        Some("ByteLevel") => PreStep::ByteLevel {
            add_prefix_space: flag("add_prefix_space", true),
            use_regex: flag("use_regex", true),
        },
        _ => PreStep::Other(v.to_string()),
    }
}

fn summarize_steps(steps: &[PreStep]) -> String {
    let parts: Vec<String> = steps
        .iter()
        .map(|s| match s {
            PreStep::Split {
                regex,
                behavior,
                invert,
            } => {
                let mut r: String = regex.chars().take(32).collect();
                if r.len() < regex.len() {
                    r.push('…');
                }
                format!(
                    "Split({r:?}, {behavior}{})",
                    if *invert { ", inverted" } else { "" }
                )
            }
            PreStep::Digits { individual } => format!("Digits(individual={individual})"),
            PreStep::ByteLevel {
                add_prefix_space,
                use_regex,
            } => {
                format!("ByteLevel(add_prefix_space={add_prefix_space}, use_regex={use_regex})")
            }
            PreStep::Other(t) => {
                let mut r: String = t.chars().take(48).collect();
                if r.len() < t.len() {
                    r.push('…');
                }
                r
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// `tokenizer.ggml.pre` from the structure of `tokenizer.json`'s `pre_tokenizer`.
fn detect_pre(path: &Path, tj: &Map<String, Json>) -> Result<&'static str> {
    let pt = tj.get("pre_tokenizer").unwrap_or(&Json::Null);
    let steps: Vec<PreStep> = match pt.get("type").and_then(Json::as_str) {
        Some("Sequence") => match pt.get("pretokenizers").and_then(Json::as_array) {
            Some(list) => list.iter().map(parse_pre_step).collect(),
            None => vec![PreStep::Other(pt.to_string())],
        },
        _ if pt.is_null() => Vec::new(),
        _ => vec![parse_pre_step(pt)],
    };
    for (name, known) in [
        ("deepseek-v3", v3_steps()),
        ("deepseek-llm", llm_steps()),
        ("deepseek-coder", coder_steps()),
    ] {
        if steps == known {
            return Ok(name);
        }
    }
    Err(Error::Unsupported(format!(
        "{}: the pre-tokenizer is not recognised: expected the pre_tokenizer of DeepSeek-V3/R1/V3.1 \
         (deepseek-v3), DeepSeek-LLM/V2/V2-Lite/Coder-V2 (deepseek-llm) or DeepSeek-Coder (deepseek-coder), \
         found {}. If you know which llama.cpp pre-tokenizer it is, pass it with --pre NAME",
        path.display(),
        if steps.is_empty() {
            "none".to_string()
        } else {
            summarize_steps(&steps)
        }
    )))
}

// ---------------------------------------------------------------------------------------------
// token list

/// `U+2581` (SentencePiece's word marker).
const SPM_SPACE: char = '\u{2581}';

/// llama.cpp's converter's `does_token_look_special`: tokens some models forget to mark special.
fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<\u{ff5c}") && t.ends_with("\u{ff5c}>"))
        || (t.starts_with("<unused") && t.ends_with('>'))
}

/// An added token as the `tokenizers` library holds it (its equality covers every flag).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AddedTok {
    content: String,
    single_word: bool,
    lstrip: bool,
    rstrip: bool,
    normalized: bool,
    special: bool,
}

impl AddedTok {
    /// A token given as a string to `add_special_tokens`.
    fn special_str(content: &str) -> AddedTok {
        AddedTok {
            content: content.to_string(),
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
            special: true,
        }
    }

    /// An AddedToken object (tokenizer.json `added_tokens` entry or transformers' dict form).
    fn from_json(o: &Map<String, Json>, path: &Path, what: &str) -> Result<AddedTok> {
        let content = match o.get("content") {
            Some(Json::String(s)) => s.clone(),
            other => {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "{what}.content: expected a string, found {}",
                        describe(other.unwrap_or(&Json::Null))
                    ),
                ));
            }
        };
        let flag = |k: &str, default: bool| -> Result<bool> {
            match o.get(k) {
                None => Ok(default),
                Some(Json::Bool(b)) => Ok(*b),
                Some(other) => Err(Error::bad_file(
                    path,
                    format!(
                        "{what}.{k} ({content:?}): expected true or false, found {}",
                        describe(other)
                    ),
                )),
            }
        };
        Ok(AddedTok {
            single_word: flag("single_word", false)?,
            lstrip: flag("lstrip", false)?,
            rstrip: flag("rstrip", false)?,
            normalized: flag("normalized", true)?,
            special: flag("special", false)?,
            content,
        })
    }
}

/// The added vocabulary of a `tokenizers` tokenizer: the ids it really gives added tokens. A token
/// whose text is in the model vocabulary (or already added) keeps that id; any other one gets the
/// next id after the model vocabulary and the tokens added so far, whatever id the file claims.
struct AddedVocab<'m> {
    model: &'m HashMap<&'m str, u64>,
    model_len: u64,
    by_content: HashMap<String, u64>,
    by_id: HashMap<u64, AddedTok>,
    present: std::collections::HashSet<AddedTok>,
    max_id: Option<u64>,
}

impl<'m> AddedVocab<'m> {
    fn new(model: &'m HashMap<&'m str, u64>) -> Self {
        AddedVocab {
            model,
            model_len: model.len() as u64,
            by_content: HashMap::new(),
            by_id: HashMap::new(),
            present: Default::default(),
            max_id: None,
        }
    }

    /// Adds `tok`; returns its id (None when ignored).
    fn add(&mut self, tok: AddedTok) -> Option<u64> {
        if tok.content.is_empty() || self.present.contains(&tok) {
            return None;
        }
        let id = match self
            .by_content
            .get(&tok.content)
            .or_else(|| self.model.get(tok.content.as_str()))
        {
            Some(&id) => id,
            None => match self.max_id {
                None => self.model_len,
                Some(max) if max >= self.model_len || self.model_len == 0 => max + 1,
                Some(_) => self.model_len,
            },
        };
        self.by_content.insert(tok.content.clone(), id);
        self.max_id = Some(self.max_id.map_or(id, |m| m.max(id)));
        if let Some(old) = self.by_id.insert(id, tok.clone()) {
            self.present.remove(&old);
        }
        self.present.insert(tok);
        Some(id)
    }
}

/// GPT-2's byte ↔ printable-character table, char → byte direction.
fn byte_level_char_to_byte() -> HashMap<char, u8> {
    let mut map = HashMap::with_capacity(256);
    let mut extra = 0u32;
    for b in 0u32..256 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let c = if printable {
            char::from_u32(b)
        } else {
            extra += 1;
            char::from_u32(255 + extra)
        };
        if let Some(c) = c {
            map.insert(c, b as u8);
        }
    }
    map
}

/// The `ByteLevel` decoder on one token: a token made only of byte-level characters becomes the
/// UTF-8 (lossy) text of those bytes; any other token is left as it is.
fn byte_level_decode(t: &str, table: &HashMap<char, u8>) -> String {
    let bytes: Option<Vec<u8>> = t.chars().map(|c| table.get(&c).copied()).collect();
    match bytes {
        Some(b) => String::from_utf8_lossy(&b).into_owned(),
        None => t.to_string(),
    }
}

/// The special tokens transformers registers from `tokenizer_config.json` (and, when it has no
/// `added_tokens_decoder`, `special_tokens_map.json`), as the AddedTokens it adds with
/// `add_special_tokens`.
fn named_special_tokens(
    dir: &Path,
    tc: &Map<String, Json>,
    warnings: &mut Vec<String>,
) -> Result<Vec<AddedTok>> {
    let mut kw: Map<String, Json> = tc.clone();
    let stm_path = dir.join("special_tokens_map.json");
    if !tc.contains_key("added_tokens_decoder") && stm_path.is_file() {
        match super::read_json(&stm_path) {
            Ok(Json::Object(stm)) => {
                for (k, v) in stm {
                    if k == "extra_special_tokens"
                        && let Json::Array(list) = v
                    {
                        let mut existing = match kw.get("extra_special_tokens") {
                            Some(Json::Array(a)) => a.clone(),
                            _ => Vec::new(),
                        };
                        for t in list {
                            if !existing.contains(&t) {
                                existing.push(t);
                            }
                        }
                        kw.insert(k, Json::Array(existing));
                        continue;
                    }
                    kw.insert(k, v);
                }
            }
            _ => warnings.push(format!(
                "{}: not a JSON object; ignored",
                stm_path.display()
            )),
        }
    }
    let to_tok = |v: &Json| -> Option<AddedTok> {
        match v {
            Json::String(s) if !s.is_empty() => Some(AddedTok::special_str(s)),
            Json::Object(o) => {
                let mut t = AddedTok::from_json(o, &stm_path, "special token").ok()?;
                t.special = true;
                Some(t)
            }
            _ => None,
        }
    };
    let mut out = Vec::new();
    for typ in ["bos", "eos", "unk", "sep", "pad", "cls", "mask"] {
        if let Some(t) = kw.get(&format!("{typ}_token")).and_then(to_tok) {
            out.push(t);
        }
    }
    let extra = match kw.get("extra_special_tokens") {
        Some(v) if truthy(Some(v)) => Some(v),
        _ => kw.get("additional_special_tokens"),
    };
    match extra {
        Some(Json::Array(list)) => out.extend(list.iter().filter_map(to_tok)),
        Some(Json::Object(map)) => out.extend(map.values().filter_map(to_tok)),
        _ => {}
    }
    Ok(out)
}

/// The token list and types of `get_vocab_base`, padded to `vocab_size`.
fn build_vocab(
    dir: &Path,
    path: &Path,
    tj: &Map<String, Json>,
    tc: Option<&Map<String, Json>>,
    vocab_size: usize,
    warnings: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<i32>)> {
    if vocab_size == 0 || vocab_size > MAX_VOCAB {
        return Err(Error::bad_file(
            path,
            format!("config.json vocab_size is {vocab_size}: expected between 1 and {MAX_VOCAB}"),
        ));
    }
    let model = as_object(tj.get("model").unwrap_or(&Json::Null), path, "\"model\"")?;
    match model.get("type") {
        None => {}
        Some(Json::String(t)) if t == "BPE" => {}
        Some(other) => {
            return Err(Error::Unsupported(format!(
                "{}: model.type is {}: only byte-level BPE tokenizers (\"BPE\") are supported",
                path.display(),
                describe(other)
            )));
        }
    }
    let vocab = as_object(
        model.get("vocab").unwrap_or(&Json::Null),
        path,
        "\"model.vocab\"",
    )?;
    let mut model_ids: HashMap<&str, u64> = HashMap::with_capacity(vocab.len());
    let mut model_rev: HashMap<u64, &str> = HashMap::with_capacity(vocab.len());
    for (tok, id) in vocab {
        let id = id.as_u64().ok_or_else(|| {
            Error::bad_file(
                path,
                format!(
                    "model.vocab[{tok:?}]: expected a non-negative integer id, found {}",
                    describe(id)
                ),
            )
        })?;
        if model_rev.insert(id, tok.as_str()).is_some() {
            warnings.push(format!(
                "{}: model.vocab has several tokens with id {id}; keeping {tok:?}",
                path.display()
            ));
        }
        model_ids.insert(tok.as_str(), id);
    }

    // tokenizer.json's added tokens, through the tokenizers library's id rule
    let mut added = AddedVocab::new(&model_ids);
    let empty = Vec::new();
    let list = match tj.get("added_tokens") {
        None | Some(Json::Null) => &empty,
        Some(v) => as_array(v, path, "\"added_tokens\"")?,
    };
    for (n, at) in list.iter().enumerate() {
        let what = format!("added_tokens[{n}]");
        let o = as_object(at, path, &what)?;
        let tok = AddedTok::from_json(o, path, &what)?;
        let claimed = o.get("id").and_then(Json::as_u64).ok_or_else(|| {
            Error::bad_file(
                path,
                format!(
                    "{what}.id ({:?}): expected a non-negative integer, found {}",
                    tok.content,
                    describe(o.get("id").unwrap_or(&Json::Null))
                ),
            )
        })?;
        let content = tok.content.clone();
        if let Some(id) = added.add(tok)
            && id != claimed
        {
            warnings.push(format!(
                "{}: added token {content:?} claims id {claimed}, but the tokenizers library gives it id {id} \
                 (the ids after the model vocabulary must be consecutive); using {id} as llama.cpp's converter does",
                path.display()
            ));
        }
    }
    // transformers then adds tokenizer_config.json's added_tokens_decoder entries (by text; the
    // index there is not used) and the named special tokens, as special.
    if let Some(tc) = tc {
        let tc_path = dir.join("tokenizer_config.json");
        if let Some(atd) = tc.get("added_tokens_decoder") {
            let atd = as_object(atd, &tc_path, "added_tokens_decoder")?;
            let mut entries: Vec<(i128, AddedTok)> = Vec::new();
            for (k, v) in atd {
                let what = format!("added_tokens_decoder[{k:?}]");
                let idx: i128 = k.parse().map_err(|_| {
                    Error::bad_file(&tc_path, format!("{what}: expected an integer key"))
                })?;
                entries.push((
                    idx,
                    AddedTok::from_json(as_object(v, &tc_path, &what)?, &tc_path, &what)?,
                ));
            }
            entries.sort_by_key(|(i, _)| *i);
            for (_, t) in entries {
                added.add(t);
            }
        }
        for t in named_special_tokens(dir, tc, warnings)? {
            let content = t.content.clone();
            let known =
                added.by_content.contains_key(&content) || model_ids.contains_key(content.as_str());
            if let Some(id) = added.add(t)
                && !known
            {
                warnings.push(format!(
                    "tokenizer_config.json names the special token {content:?}, which tokenizer.json does not have; \
                     it gets the new id {id}, as transformers gives it"
                ));
            }
        }
    }

    for (id, t) in &added.by_id {
        if *id >= vocab_size as u64 {
            return Err(Error::bad_file(
                path,
                format!(
                    "added token {:?} has id {id}, but config.json vocab_size is {vocab_size}: every id must be below it",
                    t.content
                ),
            ));
        }
    }
    if let Some((id, tok)) = model_rev.iter().find(|(id, _)| **id >= vocab_size as u64) {
        return Err(Error::bad_file(
            path,
            format!(
                "model.vocab token {tok:?} has id {id}, but config.json vocab_size is {vocab_size}: every id must be below it"
            ),
        ));
    }

    let byte_level = match tj
        .get("decoder")
        .and_then(|d| d.get("type"))
        .and_then(Json::as_str)
    {
        Some("ByteLevel") => Some(byte_level_char_to_byte()),
        _ => None,
    };
    let decoder_is_null = tj.get("decoder").is_none_or(Json::is_null);

    let mut tokens = Vec::with_capacity(vocab_size);
    let mut types = Vec::with_capacity(vocab_size);
    for i in 0..vocab_size as u64 {
        let text: Option<&str> = match added.by_id.get(&i) {
            Some(t) => Some(t.content.as_str()),
            None => model_rev.get(&i).copied(),
        };
        let Some(text) = text else {
            tokens.push(format!("[PAD{i}]"));
            types.push(TT_UNUSED);
            continue;
        };
        let added_tok = added.by_content.get(text).and_then(|_| added.by_id.get(&i));
        let Some(at) = added_tok else {
            tokens.push(text.to_string());
            types.push(TT_NORMAL);
            continue;
        };
        // transformers' round trip decode(encode(token)) for tokens that are not normalized
        let mut text = text.to_string();
        if !at.normalized {
            if let Some(table) = &byte_level {
                text = byte_level_decode(&text, table);
            } else if !decoder_is_null {
                warnings.push(format!(
                    "{}: the decoder is not ByteLevel; the non-normalized added token {text:?} is kept as it is",
                    path.display()
                ));
            }
        }
        if at.special || looks_special(&text) {
            tokens.push(text);
            types.push(TT_CONTROL);
        } else {
            tokens.push(text.replace(SPM_SPACE, " "));
            types.push(TT_USER_DEFINED);
        }
    }
    Ok((tokens, types))
}

// ---------------------------------------------------------------------------------------------
// generation_config.json → general.sampling.*

/// gguf-py's `Metadata` reading of `generation_config.json`, in its write order.
fn read_sampling(dir: &Path, warnings: &mut Vec<String>) -> Result<Vec<(String, Value)>> {
    let path = dir.join("generation_config.json");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    // The converter silently ignores a generation_config.json it cannot read or parse.
    let gc = match std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Json>(&b).ok())
    {
        Some(v) => v,
        None => {
            warnings.push(format!(
                "{}: not readable JSON; ignored, as llama.cpp's converter does",
                path.display()
            ));
            return Ok(Vec::new());
        }
    };
    if !truthy(Some(&gc)) {
        return Ok(Vec::new());
    }
    let gc = as_object(&gc, &path, "the top level")?;

    #[derive(Clone, Copy)]
    enum Kind {
        Str,
        I32,
        F32,
    }
    let fields: [(&str, &str, Kind); 12] = [
        ("sequence", "general.sampling.sequence", Kind::Str),
        ("top_k", "general.sampling.top_k", Kind::I32),
        ("top_p", "general.sampling.top_p", Kind::F32),
        ("min_p", "general.sampling.min_p", Kind::F32),
        (
            "xtc_probability",
            "general.sampling.xtc_probability",
            Kind::F32,
        ),
        ("xtc_threshold", "general.sampling.xtc_threshold", Kind::F32),
        ("temperature", "general.sampling.temp", Kind::F32),
        (
            "penalty_last_n",
            "general.sampling.penalty_last_n",
            Kind::I32,
        ),
        (
            "penalty_repeat",
            "general.sampling.penalty_repeat",
            Kind::F32,
        ),
        ("mirostat", "general.sampling.mirostat", Kind::I32),
        ("mirostat_tau", "general.sampling.mirostat_tau", Kind::F32),
        ("mirostat_eta", "general.sampling.mirostat_eta", Kind::F32),
    ];
    let mut out = Vec::new();
    for (src, key, kind) in fields {
        let v = if src == "penalty_repeat" && !gc.contains_key(src) {
            gc.get("repetition_penalty")
        } else {
            gc.get(src)
        };
        let src = if src == "penalty_repeat" && !gc.contains_key(src) {
            "repetition_penalty"
        } else {
            src
        };
        let Some(v) = v.filter(|v| !v.is_null()) else {
            continue;
        };
        let bad = |want: &str| {
            Error::bad_file(
                &path,
                format!("\"{src}\": expected {want}, found {}", describe(v)),
            )
        };
        let value = match kind {
            Kind::Str => match v {
                Json::String(s) if s.is_empty() => continue,
                Json::String(s) => Value::String(s.clone()),
                _ => return Err(bad("a string")),
            },
            Kind::I32 => match py_int(v).map(i32::try_from) {
                Some(Ok(i)) => Value::I32(i),
                _ => return Err(bad("an integer that fits in 32 bits")),
            },
            Kind::F32 => match v {
                Json::Number(n) => match n.as_f64() {
                    Some(x) => Value::F32(x as f32),
                    None => return Err(bad("a number")),
                },
                Json::Bool(b) => Value::F32(if *b { 1.0 } else { 0.0 }),
                _ => return Err(bad("a number")),
            },
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// gguf-py SpecialVocab

/// A chat template as SpecialVocab holds it: one string, or a list of named templates.
enum ChatTemplate {
    One(String),
    Named(Vec<Json>),
}

struct SpecialVocab {
    merges: Vec<String>,
    /// (type, id) in insertion order.
    ids: Vec<(String, i128)>,
    /// (type, add?) in insertion order.
    add: Vec<(String, bool)>,
    chat_template: Option<ChatTemplate>,
    /// Where the chat template came from, for error messages.
    chat_template_src: PathBuf,
    lowercase: Option<bool>,
    strip_accents: Option<bool>,
}

fn set_add(add: &mut Vec<(String, bool)>, typ: &str, v: bool) {
    match add.iter_mut().find(|(t, _)| t == typ) {
        Some(slot) => slot.1 = v,
        None => add.push((typ.to_string(), v)),
    }
}

fn setdefault_add(add: &mut Vec<(String, bool)>, typ: &str, v: bool) {
    if !add.iter().any(|(t, _)| t == typ) {
        add.push((typ.to_string(), v));
    }
}

/// `elem.get(key, {}).get('id')` on a template element, with Python's failure modes as errors.
fn template_id<'a>(elem: &'a Json, key: &str, path: &Path, what: &str) -> Result<Option<&'a Json>> {
    let o = as_object(elem, path, what)?;
    match o.get(key) {
        None => Ok(None),
        Some(inner) => Ok(as_object(inner, path, &format!("{what}.{key}"))?.get("id")),
    }
}

impl SpecialVocab {
    fn load<'a>(
        dir: &Path,
        tj_path: &Path,
        tj: &'a Map<String, Json>,
        tc: Option<Map<String, Json>>,
        tc_path: &Path,
        config: &Map<String, Json>,
        warnings: &mut Vec<String>,
    ) -> Result<SpecialVocab> {
        let mut sv = SpecialVocab {
            merges: Vec::new(),
            ids: Vec::new(),
            add: Vec::new(),
            chat_template: None,
            chat_template_src: tc_path.to_path_buf(),
            lowercase: None,
            strip_accents: None,
        };
        let mut types: Vec<String> = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"]
            .iter()
            .map(|s| s.to_string())
            .collect();

        // merges
        sv.merges = read_merges(tj_path, tj)?;
        if sv.merges.is_empty() {
            warnings.push(format!(
                "{}: no merges found; the GGUF may not tokenize",
                tj_path.display()
            ));
        }

        // normalizer flags
        if let Some(n) = tj.get("normalizer")
            && truthy(Some(n))
        {
            sv.parse_normalizer(n, tj_path)?;
        }

        let empty = Vec::new();
        let added_tokens = match tj.get("added_tokens") {
            None | Some(Json::Null) => &empty,
            Some(v) => as_array(v, tj_path, "\"added_tokens\"")?,
        };

        let mut tc = tc;
        let tc_truthy = |tc: &Option<Map<String, Json>>| tc.as_ref().is_some_and(|m| !m.is_empty());
        let tc_get =
            |tc: &Option<Map<String, Json>>, k: &str| tc.as_ref().and_then(|m| m.get(k)).cloned();
        let tc_set = |tc: &mut Option<Map<String, Json>>, k: &str, v: Option<Json>| {
            if let Some(m) = tc.as_mut() {
                m.insert(k.to_string(), v.unwrap_or(Json::Null));
            }
        };

        // the special tokens named by tokenizer_config.json, then what the post-processor implies
        let mut special_bos = tc_get(&tc, "bos_token");
        let mut special_cls = tc_get(&tc, "cls_token");
        let mut special_eos = tc_get(&tc, "eos_token");
        let mut special_sep = tc_get(&tc, "sep_token");
        if !truthy(special_bos.as_ref()) && truthy(special_cls.as_ref()) && tc_truthy(&tc) {
            special_bos = special_cls.clone();
            tc_set(&mut tc, "bos_token", special_bos.clone());
        }
        if !truthy(special_eos.as_ref()) && truthy(special_sep.as_ref()) && tc_truthy(&tc) {
            special_eos = special_sep.clone();
            tc_set(&mut tc, "eos_token", special_eos.clone());
        }
        if let Some(pp) = tj.get("post_processor").filter(|v| truthy(Some(v))) {
            let ppo = as_object(pp, tj_path, "\"post_processor\"")?;
            let processors: Vec<&Json> = match ppo.get("processors") {
                Some(list) => as_array(list, tj_path, "\"post_processor.processors\"")?
                    .iter()
                    .collect(),
                None => vec![pp],
            };
            for (pn, processor) in processors.into_iter().enumerate() {
                let what = format!("post_processor (processor {pn})");
                let po = as_object(processor, tj_path, &what)?;
                match po.get("type").and_then(Json::as_str) {
                    Some("ByteLevel") => {
                        setdefault_add(&mut sv.add, "bos", false);
                        setdefault_add(&mut sv.add, "eos", false);
                    }
                    Some("RobertaProcessing") => {
                        set_add(&mut sv.add, "bos", true);
                        set_add(&mut sv.add, "eos", true);
                        set_add(&mut sv.add, "sep", true);
                        let first = |key: &str, default: &Option<Json>| -> Result<Option<Json>> {
                            match po.get(key) {
                                None => Ok(default.clone()),
                                Some(Json::Array(a)) => Ok(a.first().cloned()),
                                Some(Json::String(s)) => {
                                    Ok(s.chars().next().map(|c| Json::String(c.to_string())))
                                }
                                Some(other) => Err(Error::bad_file(
                                    tj_path,
                                    format!(
                                        "{what}.{key}: expected a [token, id] pair, found {}",
                                        describe(other)
                                    ),
                                )),
                            }
                        };
                        if !truthy(special_cls.as_ref()) && tc_truthy(&tc) {
                            special_cls = first("cls", &special_bos)?;
                            tc_set(&mut tc, "cls_token", special_cls.clone());
                        }
                        if !truthy(special_sep.as_ref()) && tc_truthy(&tc) {
                            special_sep = first("sep", &special_eos)?;
                            tc_set(&mut tc, "sep_token", special_sep.clone());
                        }
                    }
                    Some("TemplateProcessing") => {
                        static EMPTY_LIST: Vec<Json> = Vec::new();
                        let single = match po.get("single") {
                            None => &EMPTY_LIST,
                            Some(v) => as_array(v, tj_path, &format!("{what}.single"))?,
                        };
                        let pair = match po.get("pair") {
                            None => &EMPTY_LIST,
                            Some(v) => as_array(v, tj_path, &format!("{what}.pair"))?,
                        };
                        let mut special_first: Option<Json> = None;
                        let mut special_last: Option<Json> = None;
                        if single.len() > 1 {
                            special_first = template_id(
                                &single[0],
                                "SpecialToken",
                                tj_path,
                                &format!("{what}.single[0]"),
                            )?
                            .cloned();
                            if truthy(special_first.as_ref()) {
                                let sf = special_first.as_ref();
                                if !tc_truthy(&tc) {
                                    special_bos = special_first.clone();
                                } else if !py_eq(sf, special_bos.as_ref())
                                    && !py_eq(sf, special_cls.as_ref())
                                {
                                    if !truthy(special_bos.as_ref()) {
                                        special_bos = special_first.clone();
                                        tc_set(&mut tc, "bos_token", special_bos.clone());
                                    }
                                    if !truthy(special_cls.as_ref()) {
                                        special_cls = special_first.clone();
                                        tc_set(&mut tc, "cls_token", special_cls.clone());
                                    }
                                }
                                let known = py_eq(sf, special_bos.as_ref())
                                    || py_eq(sf, special_cls.as_ref());
                                set_add(&mut sv.add, "bos", known);
                                if !known {
                                    warnings.push(format!(
                                        "{}: unknown leading special token {} in the TemplateProcessing post-processor",
                                        tj_path.display(),
                                        describe(sf.unwrap_or(&Json::Null))
                                    ));
                                }
                            }
                            let last_i = single.len() - 1;
                            special_last = template_id(
                                &single[last_i],
                                "SpecialToken",
                                tj_path,
                                &format!("{what}.single[{last_i}]"),
                            )?
                            .cloned();
                            if truthy(special_last.as_ref()) {
                                if !tc_truthy(&tc) {
                                    special_eos = special_last.clone();
                                } else if !py_eq(special_last.as_ref(), special_eos.as_ref()) {
                                    if !types.iter().any(|t| t == "eot") {
                                        types.push("eot".into());
                                        tc_set(&mut tc, "eot_token", special_eos.clone());
                                    } else if !types.iter().any(|t| t == "eom") {
                                        types.push("eom".into());
                                        tc_set(&mut tc, "eom_token", special_eos.clone());
                                    } else {
                                        warnings.push(format!(
                                            "{}: the post-processor overrides the EOS token with no EOT/EOM slot left",
                                            tj_path.display()
                                        ));
                                    }
                                    special_eos = special_last.clone();
                                    tc_set(&mut tc, "eos_token", special_eos.clone());
                                }
                                set_add(
                                    &mut sv.add,
                                    "eos",
                                    py_eq(special_last.as_ref(), special_eos.as_ref()),
                                );
                            }
                        }
                        if !pair.is_empty() {
                            let last_i = pair.len() - 1;
                            let seq_start = if truthy(special_first.as_ref())
                                && py_eq(
                                    template_id(
                                        &pair[0],
                                        "SpecialToken",
                                        tj_path,
                                        &format!("{what}.pair[0]"),
                                    )?,
                                    special_first.as_ref(),
                                ) {
                                1
                            } else {
                                0
                            };
                            let seq_stop_trim = truthy(special_last.as_ref())
                                && py_eq(
                                    template_id(
                                        &pair[last_i],
                                        "SpecialToken",
                                        tj_path,
                                        &format!("{what}.pair[{last_i}]"),
                                    )?,
                                    special_last.as_ref(),
                                );
                            let end = if seq_stop_trim {
                                pair.len() - 1
                            } else {
                                pair.len()
                            };
                            let mid: &[Json] = if seq_start < end {
                                &pair[seq_start..end]
                            } else {
                                &[]
                            };
                            if !mid.is_empty() {
                                let seq_id = |e: &'a Json, n: usize| {
                                    template_id(
                                        e,
                                        "Sequence",
                                        tj_path,
                                        &format!("{what}.pair[{n}]"),
                                    )
                                };
                                let tmpl_a = seq_id(&mid[0], seq_start)?;
                                let tmpl_b =
                                    seq_id(&mid[mid.len() - 1], seq_start + mid.len() - 1)?;
                                let is =
                                    |v: Option<&Json>, s: &str| v.and_then(Json::as_str) == Some(s);
                                let inner: &[Json] = if mid.len() > 2 {
                                    &mid[1..mid.len() - 1]
                                } else {
                                    &[]
                                };
                                if is(tmpl_a, "A") && is(tmpl_b, "B") && !inner.is_empty() {
                                    let mut add_sep = false;
                                    let in_sep_eos = |v: Option<&Json>| {
                                        py_eq(v, special_sep.as_ref())
                                            || py_eq(v, special_eos.as_ref())
                                    };
                                    let e0 = template_id(
                                        &inner[0],
                                        "SpecialToken",
                                        tj_path,
                                        &format!("{what}.pair[{}]", seq_start + 1),
                                    )?;
                                    if truthy(e0)
                                        && in_sep_eos(e0)
                                        && !truthy(special_last.as_ref())
                                    {
                                        add_sep = true;
                                    }
                                    if inner.len() == 2 {
                                        let e1 = template_id(
                                            &inner[1],
                                            "SpecialToken",
                                            tj_path,
                                            &format!("{what}.pair[{}]", seq_start + 2),
                                        )?;
                                        if truthy(e1) && in_sep_eos(e1) {
                                            add_sep = true;
                                        }
                                    }
                                    set_add(&mut sv.add, "sep", add_sep);
                                    if add_sep && !truthy(special_sep.as_ref()) && tc_truthy(&tc) {
                                        tc_set(&mut tc, "sep_token", special_eos.clone());
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }

        if !tc_truthy(&tc) {
            sv.ids_from_config(&types, config, &dir.join("config.json"))?;
            return Ok(sv);
        }
        let tc = tc.unwrap_or_default();

        // chat template: tokenizer_config.json's, else chat_template.jinja (plus
        // additional_chat_templates/*.jinja), else chat_template.json
        let jinja = dir.join("chat_template.jinja");
        let json_file = dir.join("chat_template.json");
        let mut alt: Option<(Json, PathBuf)> = None;
        if jinja.is_file() {
            let text = read_text(&jinja)?;
            let extra_dir = dir.join("additional_chat_templates");
            let mut extra: Vec<PathBuf> = match std::fs::read_dir(&extra_dir) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "jinja"))
                    .collect(),
                Err(_) => Vec::new(),
            };
            extra.sort();
            if extra.is_empty() {
                alt = Some((Json::String(text), jinja.clone()));
            } else {
                let mut list = vec![serde_json::json!({"name": "default", "template": text})];
                for p in &extra {
                    let stem = p
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    list.push(serde_json::json!({"name": stem, "template": read_text(p)?}));
                }
                alt = Some((Json::Array(list), jinja.clone()));
            }
        } else if json_file.is_file() {
            let v = super::read_json(&json_file)?;
            let o = as_object(&v, &json_file, "the top level")?;
            if let Some(t) = o.get("chat_template") {
                alt = Some((t.clone(), json_file.clone()));
            }
        }
        let (ct, src) = match tc.get("chat_template") {
            Some(v) => (Some(v.clone()), tc_path.to_path_buf()),
            None => match alt {
                Some((v, p)) => (Some(v), p),
                None => (None, tc_path.to_path_buf()),
            },
        };
        sv.chat_template_src = src.clone();
        match ct {
            None | Some(Json::Null) => {}
            Some(Json::String(s)) => sv.chat_template = Some(ChatTemplate::One(s)),
            Some(Json::Array(a)) => sv.chat_template = Some(ChatTemplate::Named(a)),
            Some(other) => warnings.push(format!(
                "{}: chat_template is {}, expected a string or a list of templates; ignored",
                src.display(),
                describe(&other)
            )),
        }

        // add_*_token and the token ids named in tokenizer_config.json
        let tl = types.clone();
        for typ in &tl {
            if let Some(Json::Bool(b)) = tc.get(&format!("add_{typ}_token")) {
                match sv.add.iter().find(|(t, _)| t == typ) {
                    None => sv.add.push((typ.clone(), *b)),
                    Some((_, v)) if v != b => warnings.push(format!(
                        "{}: add_{typ}_token is {b} but tokenizer.json's post-processor says {v}; using {v}, \
                         as llama.cpp's converter does",
                        tc_path.display()
                    )),
                    _ => {}
                }
            }
            let Some(content) = entry_content(tc.get(&format!("{typ}_token"))) else {
                continue;
            };
            let mut found: Option<&Json> = None;
            for at in added_tokens {
                if let Some(o) = at.as_object()
                    && o.get("content").and_then(Json::as_str) == Some(content)
                {
                    found = o.get("id");
                    break;
                }
            }
            if let Some(id) = found {
                sv.set_special(typ, id, tc_path)?;
            }
        }
        sv.ids_from_config(&types, config, &dir.join("config.json"))?;
        Ok(sv)
    }

    /// `_set_special_token`: integers only, negative is an error, the first value set wins.
    fn set_special(&mut self, typ: &str, v: &Json, path: &Path) -> Result<()> {
        let Some(id) = py_int(v) else { return Ok(()) };
        if id < 0 {
            return Err(Error::bad_file(
                path,
                format!("{typ} token id is {id}: expected a non-negative id"),
            ));
        }
        if !self.ids.iter().any(|(t, _)| t == typ) {
            self.ids.push((typ.to_string(), id));
        }
        Ok(())
    }

    /// `_try_load_from_config_json`: `{typ}_token_id` from config.json (or its `text_config`).
    fn ids_from_config(
        &mut self,
        types: &[String],
        config: &Map<String, Json>,
        path: &Path,
    ) -> Result<()> {
        for typ in types {
            let key = format!("{typ}_token_id");
            let mut v = config.get(&key).filter(|v| !v.is_null());
            if v.is_none()
                && let Some(tcfg) = config.get("text_config")
            {
                v = as_object(tcfg, path, "text_config")?
                    .get(&key)
                    .filter(|v| !v.is_null());
            }
            if let Some(v) = v {
                self.set_special(typ, v, path)?;
            }
        }
        Ok(())
    }

    fn parse_normalizer(&mut self, n: &Json, path: &Path) -> Result<()> {
        let o = as_object(n, path, "\"normalizer\"")?;
        match o.get("type").and_then(Json::as_str) {
            Some("Lowercase") => self.lowercase = Some(true),
            Some("StripAccents") => self.strip_accents = Some(true),
            Some("BertNormalizer") => {
                // gguf-py copies the values as they are: null clears the flag (nothing is
                // written), anything else is written as its truth value.
                if let Some(v) = o.get("lowercase") {
                    self.lowercase = (!v.is_null()).then(|| truthy(Some(v)));
                }
                if let Some(v) = o.get("strip_accents") {
                    self.strip_accents = (!v.is_null()).then(|| truthy(Some(v)));
                }
            }
            Some("Sequence") => {
                if let Some(list) = o.get("normalizers") {
                    for item in as_array(list, path, "\"normalizer.normalizers\"")? {
                        self.parse_normalizer(item, path)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `add_to_gguf`, in its order.
    fn add_to(&self, kvs: &mut Vec<(String, Value)>, warnings: &mut Vec<String>) -> Result<()> {
        put_array(
            kvs,
            "tokenizer.ggml.merges",
            Array::String(self.merges.clone()),
        );
        for (typ, id) in &self.ids {
            let key = match typ.as_str() {
                "bos" => "tokenizer.ggml.bos_token_id",
                "eos" => "tokenizer.ggml.eos_token_id",
                "unk" => "tokenizer.ggml.unknown_token_id",
                "sep" => "tokenizer.ggml.seperator_token_id",
                "pad" => "tokenizer.ggml.padding_token_id",
                "mask" => "tokenizer.ggml.mask_token_id",
                "eot" => "tokenizer.ggml.eot_token_id",
                "eom" => "tokenizer.ggml.eom_token_id",
                _ => continue, // cls: llama.cpp has no key for it
            };
            let id = u32::try_from(*id).map_err(|_| {
                Error::bad_file(
                    "config.json",
                    format!("{typ} token id {id} does not fit in 32 bits"),
                )
            })?;
            put(kvs, key, Value::U32(id));
        }
        for (typ, v) in &self.add {
            let key = match typ.as_str() {
                "bos" => "tokenizer.ggml.add_bos_token",
                "eos" => "tokenizer.ggml.add_eos_token",
                "sep" => "tokenizer.ggml.add_sep_token",
                _ => continue,
            };
            put(kvs, key, Value::Bool(*v));
        }
        match &self.chat_template {
            None => {}
            Some(ChatTemplate::One(s)) => put_string(kvs, "tokenizer.chat_template", s),
            Some(ChatTemplate::Named(list)) => {
                let src = &self.chat_template_src;
                let mut default: Option<String> = None;
                let mut names: Vec<String> = Vec::new();
                for (n, choice) in list.iter().enumerate() {
                    let o = as_object(choice, src, &format!("chat_template[{n}]"))?;
                    let name = match o.get("name") {
                        None => String::new(),
                        Some(Json::String(s)) => s.clone(),
                        Some(other) => {
                            return Err(Error::bad_file(
                                src,
                                format!(
                                    "chat_template[{n}].name: expected a string, found {}",
                                    describe(other)
                                ),
                            ));
                        }
                    };
                    let name: String = name
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                        .collect();
                    let template = match o.get("template") {
                        _ if name.is_empty() => continue,
                        None | Some(Json::Null) => continue,
                        Some(Json::String(s)) => s.clone(),
                        Some(other) => {
                            return Err(Error::bad_file(
                                src,
                                format!(
                                    "chat_template[{n}].template: expected a string, found {}",
                                    describe(other)
                                ),
                            ));
                        }
                    };
                    if name == "default" {
                        default = Some(template);
                    } else {
                        if !names.contains(&name) {
                            names.push(name.clone());
                        }
                        put_string(kvs, &format!("tokenizer.chat_template.{name}"), &template);
                    }
                }
                if !names.is_empty() {
                    if names.len() > 1 {
                        warnings.push(
                            "llama.cpp's converter writes tokenizer.chat_templates in Python set order (varies \
                             between runs); ds2gguf writes the names in file order"
                                .to_string(),
                        );
                    }
                    put_array(kvs, "tokenizer.chat_templates", Array::String(names));
                }
                if let Some(d) = default {
                    put_string(kvs, "tokenizer.chat_template", &d);
                }
            }
        }
        if let Some(b) = self.lowercase {
            put(kvs, "tokenizer.ggml.normalizer.lowercase", Value::Bool(b));
        }
        if let Some(b) = self.strip_accents {
            put(
                kvs,
                "tokenizer.ggml.normalizer.strip_accents",
                Value::Bool(b),
            );
        }
        Ok(())
    }
}

/// `model.merges` as gguf-py writes them: "a b" strings as they are; `["a", "b"]` pairs joined by a
/// space, a space inside a part becoming U+0120.
fn read_merges(path: &Path, tj: &Map<String, Json>) -> Result<Vec<String>> {
    let Some(merges) = tj.get("model").and_then(|m| m.get("merges")) else {
        return Ok(Vec::new());
    };
    let Some(list) = merges.as_array() else {
        return Ok(Vec::new()); // gguf-py ignores a non-list
    };
    let Some(first) = list.first() else {
        return Ok(Vec::new());
    };
    let pair_form = match first {
        Json::String(_) => false,
        Json::Array(p) if p.len() == 2 && p[0].is_string() => true,
        other => {
            return Err(Error::bad_file(
                path,
                format!(
                    "model.merges: expected \"a b\" strings or [\"a\", \"b\"] pairs, found {} as the first element",
                    describe(other)
                ),
            ));
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for (n, m) in list.iter().enumerate() {
        if !pair_form {
            match m {
                Json::String(s) => out.push(s.clone()),
                other => {
                    return Err(Error::bad_file(
                        path,
                        format!(
                            "model.merges[{n}]: expected a string like the first merge, found {}",
                            describe(other)
                        ),
                    ));
                }
            }
        } else {
            let parts = m.as_array().filter(|p| p.iter().all(Json::is_string)).ok_or_else(|| {
                Error::bad_file(
                    path,
                    format!("model.merges[{n}]: expected a pair of strings like the first merge, found {}", describe(m)),
                )
            })?;
            let joined: Vec<String> = parts
                .iter()
                .filter_map(Json::as_str)
                .map(|s| s.replace(' ', "\u{120}"))
                .collect();
            out.push(joined.join(" "));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    /// Writes a kv list as JSON lines `[key, type, value]` (the lab's comparison format).
    fn dump(kvs: &[(String, Value)]) -> String {
        let mut out = String::new();
        for (k, v) in kvs {
            let (t, j) = match v {
                Value::U32(x) => ("u32", json!(x)),
                Value::I32(x) => ("i32", json!(x)),
                Value::F32(x) => ("f32", json!(x.to_bits())),
                Value::Bool(x) => ("bool", json!(x)),
                Value::String(x) => ("str", json!(x)),
                Value::Array(Array::String(x)) => ("arr:str", json!(x)),
                Value::Array(Array::I32(x)) => ("arr:i32", json!(x)),
                other => ("other", json!(format!("{other:?}"))),
            };
            out.push_str(&serde_json::to_string(&json!([k, t, j])).unwrap());
            out.push('\n');
        }
        out
    }

    /// Runs on a real checkpoint or tokenizer directory when `DS2GGUF_REAL_TOKENIZER_DIR` is set;
    /// with `DS2GGUF_TOKENIZER_DUMP=FILE` it also writes the keys for the lab's comparison.
    #[test]
    fn real_tokenizer_dir() {
        let Ok(dir) = std::env::var("DS2GGUF_REAL_TOKENIZER_DIR") else {
            return;
        };
        let dir = PathBuf::from(dir);
        let cfg_path = dir.join("config.json");
        let config = if cfg_path.is_file() {
            crate::checkpoint::read_json(&cfg_path).unwrap()
        } else {
            json!({})
        };
        let vocab_size = config["vocab_size"]
            .as_u64()
            .map(|v| v as u32)
            .unwrap_or_else(|| {
                std::env::var("DS2GGUF_REAL_VOCAB_SIZE")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(129280)
            });
        let meta = read_tokenizer(&dir, &config, vocab_size, None).unwrap();
        assert!(meta.pre.starts_with("deepseek-"), "{}", meta.pre);
        assert_eq!(meta.n_tokens, vocab_size as usize);
        check_chat_template(&meta).unwrap();
        if let Ok(out) = std::env::var("DS2GGUF_TOKENIZER_DUMP") {
            fs::write(out, dump(&meta.kvs)).unwrap();
        }
        for w in &meta.warnings {
            eprintln!("warning: {w}");
        }
    }

    // ---- synthetic checkpoints -----------------------------------------------------------

    fn step_json(s: &PreStep) -> Json {
        match s {
            PreStep::Split {
                regex,
                behavior,
                invert,
            } => {
                json!({"type": "Split", "pattern": {"Regex": regex}, "behavior": behavior, "invert": invert})
            }
            PreStep::Digits { individual } => {
                json!({"type": "Digits", "individual_digits": individual})
            }
            PreStep::ByteLevel {
                add_prefix_space,
                use_regex,
            } => json!({
                "type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": true, "use_regex": use_regex
            }),
            PreStep::Other(t) => serde_json::from_str(t).unwrap(),
        }
    }

    fn pre_json(steps: &[PreStep]) -> Json {
        json!({"type": "Sequence", "pretokenizers": steps.iter().map(step_json).collect::<Vec<_>>()})
    }

    fn added(id: u64, content: &str, special: bool, normalized: bool) -> Json {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
               "normalized": normalized, "special": special})
    }

    const BOS: &str = "<\u{ff5c}begin\u{2581}of\u{2581}sentence\u{ff5c}>";
    const EOS: &str = "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>";

    /// A small DeepSeek-V3-shaped tokenizer.json: BOS/EOS at 0/1, byte-level vocab 2..=7,
    /// and the BOS TemplateProcessing post-processor of the published repos.
    fn base_tj() -> Json {
        json!({
            "version": "1.0",
            "added_tokens": [added(0, BOS, true, false), added(1, EOS, true, false)],
            "normalizer": {"type": "Sequence", "normalizers": []},
            "pre_tokenizer": pre_json(&v3_steps()),
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": BOS, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {}
            },
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {
                "type": "BPE",
                "vocab": {BOS: 0, EOS: 1, "a": 2, "b": 3, "ab": 4, "\u{120}": 5, "\u{120}a": 6, "\u{120}ab": 7},
                "merges": ["a b", "\u{120} a", "\u{120}a b"]
            }
        })
    }

    fn base_tc() -> Json {
        json!({
            "add_bos_token": true,
            "add_eos_token": false,
            "bos_token": {"__type": "AddedToken", "content": BOS, "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
            "eos_token": {"__type": "AddedToken", "content": EOS, "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
            "pad_token": EOS,
            "unk_token": null,
            "chat_template": "{{ bos_token }}{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
        })
    }

    fn base_config() -> Json {
        json!({"architectures": ["DeepseekV3ForCausalLM"], "bos_token_id": 0, "eos_token_id": 1, "vocab_size": 16})
    }

    /// Writes `files` (name, JSON or text) into a fresh directory.
    fn dir_with(files: &[(&str, Json)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let text = match content {
                Json::String(s) if !name.ends_with(".json") => s.clone(),
                other => serde_json::to_string_pretty(other).unwrap(),
            };
            if let Some(parent) = d.path().join(name).parent() {
                fs::create_dir_all(parent).unwrap();
            }
            fs::write(d.path().join(name), text).unwrap();
        }
        d
    }

    fn standard(tj: Json, tc: Json) -> tempfile::TempDir {
        dir_with(&[("tokenizer.json", tj), ("tokenizer_config.json", tc)])
    }

    fn read(d: &tempfile::TempDir) -> Result<TokenizerMeta> {
        read_tokenizer(d.path(), &base_config(), 16, None)
    }

    fn tokens(m: &TokenizerMeta) -> Vec<String> {
        match m.get(KEY_TOKENS) {
            Some(Value::Array(Array::String(t))) => t.clone(),
            other => panic!("no token list: {other:?}"),
        }
    }

    fn types(m: &TokenizerMeta) -> Vec<i32> {
        match m.get("tokenizer.ggml.token_type") {
            Some(Value::Array(Array::I32(t))) => t.clone(),
            other => panic!("no token types: {other:?}"),
        }
    }

    fn strings(m: &TokenizerMeta, key: &str) -> Vec<String> {
        match m.get(key) {
            Some(Value::Array(Array::String(t))) => t.clone(),
            other => panic!("{key}: {other:?}"),
        }
    }

    fn keys(m: &TokenizerMeta) -> Vec<&str> {
        m.kvs.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn err_text(e: Error) -> String {
        e.to_string()
    }

    #[test]
    fn v3_like_checkpoint_gives_the_converters_keys_in_order() {
        let d = standard(base_tj(), base_tc());
        let m = read(&d).unwrap();
        assert_eq!(
            keys(&m),
            [
                "tokenizer.ggml.model",
                "tokenizer.ggml.pre",
                "tokenizer.ggml.tokens",
                "tokenizer.ggml.token_type",
                "tokenizer.ggml.merges",
                "tokenizer.ggml.bos_token_id",
                "tokenizer.ggml.eos_token_id",
                "tokenizer.ggml.padding_token_id",
                "tokenizer.ggml.add_bos_token",
                "tokenizer.ggml.add_sep_token",
                "tokenizer.ggml.add_eos_token",
                "tokenizer.chat_template",
            ]
        );
        assert_eq!(
            m.get("tokenizer.ggml.model"),
            Some(&Value::String("gpt2".into()))
        );
        assert_eq!(m.pre, "deepseek-v3");
        assert_eq!(m.n_tokens, 16);
        let t = tokens(&m);
        assert_eq!(t.len(), 16);
        assert_eq!(&t[..3], [BOS, EOS, "a"]);
        assert_eq!(t[8], "[PAD8]");
        assert_eq!(t[15], "[PAD15]");
        assert_eq!(types(&m), [3, 3, 1, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5, 5, 5]);
        assert_eq!(
            strings(&m, "tokenizer.ggml.merges"),
            ["a b", "\u{120} a", "\u{120}a b"]
        );
        assert_eq!(m.get("tokenizer.ggml.bos_token_id"), Some(&Value::U32(0)));
        assert_eq!(m.get("tokenizer.ggml.eos_token_id"), Some(&Value::U32(1)));
        assert_eq!(
            m.get("tokenizer.ggml.padding_token_id"),
            Some(&Value::U32(1))
        );
        assert_eq!(
            m.get("tokenizer.ggml.add_bos_token"),
            Some(&Value::Bool(true))
        );
        assert_eq!(
            m.get("tokenizer.ggml.add_sep_token"),
            Some(&Value::Bool(false))
        );
        assert_eq!(
            m.get("tokenizer.ggml.add_eos_token"),
            Some(&Value::Bool(false))
        );
        assert!(m.general_kvs().is_empty());
        assert_eq!(m.tokenizer_kvs().len(), 12);
        check_chat_template(&m).unwrap();
    }

    #[test]
    fn merges_in_pair_form_are_joined_and_inner_spaces_become_g_dot() {
        let mut tj = base_tj();
        tj["model"]["merges"] = json!([["a", "b"], ["\u{120}", "a"], ["a b", "c d"]]);
        let m = read(&standard(tj, base_tc())).unwrap();
        assert_eq!(
            strings(&m, "tokenizer.ggml.merges"),
            ["a b", "\u{120} a", "a\u{120}b c\u{120}d"]
        );
    }

    #[test]
    fn malformed_merges_are_errors_and_empty_merges_are_not_written() {
        let mut tj = base_tj();
        tj["model"]["merges"] = json!([1, 2]);
        let e = err_text(read(&standard(tj, base_tc())).unwrap_err());
        assert!(
            e.contains("tokenizer.json") && e.contains("model.merges"),
            "{e}"
        );

        let mut tj = base_tj();
        tj["model"]["merges"] = json!(["a b", ["a", "b"]]);
        let e = err_text(read(&standard(tj, base_tc())).unwrap_err());
        assert!(e.contains("model.merges[1]"), "{e}");

        let mut tj = base_tj();
        tj["model"]["merges"] = json!([]);
        let m = read(&standard(tj, base_tc())).unwrap();
        assert!(m.get("tokenizer.ggml.merges").is_none());
        assert!(m.warnings.iter().any(|w| w.contains("no merges")));
    }

    #[test]
    fn added_token_types_follow_special_and_look_special() {
        let mut tj = base_tj();
        let list = tj["added_tokens"].as_array_mut().unwrap();
        list.push(added(8, "<|custom|>", false, true)); // looks special
        list.push(added(9, "<\u{ff5c}User\u{ff5c}>", false, true)); // fullwidth bars
        list.push(added(10, "hello\u{2581}world", false, true)); // user-defined, ▁ → space
        list.push(added(11, "<pad>", false, true));
        list.push(added(12, "<think>", false, true)); // plain user-defined
        list.push(added(13, "[SPECIAL]", true, true)); // special flag
        list.push(added(14, "<unused3>", false, true));
        let m = read(&standard(tj, base_tc())).unwrap();
        let t = tokens(&m);
        assert_eq!(
            &t[8..16],
            [
                "<|custom|>",
                "<\u{ff5c}User\u{ff5c}>",
                "hello world",
                "<pad>",
                "<think>",
                "[SPECIAL]",
                "<unused3>",
                "[PAD15]"
            ]
        );
        assert_eq!(&types(&m)[8..16], [3, 3, 4, 3, 4, 3, 3, 5]);
    }

    #[test]
    fn does_token_look_special_matches_the_converter() {
        for t in [
            "<pad>",
            "<mask>",
            "<2mass>",
            "[@BOS@]",
            "<|x|>",
            "<||>",
            "<\u{ff5c}a\u{ff5c}>",
            "<unused0>",
            "<unused>",
        ] {
            assert!(looks_special(t), "{t}");
        }
        for t in [
            "<|",
            "|>",
            "<|x",
            "pad",
            "<s>",
            "</s>",
            "<think>",
            "<\u{ff5c}a|>",
            "unused0>",
            "[BOS]",
        ] {
            assert!(!looks_special(t), "{t}");
        }
    }

    #[test]
    fn non_normalized_added_tokens_go_through_the_byte_level_decoder() {
        let mut tj = base_tj();
        tj["added_tokens"]
            .as_array_mut()
            .unwrap()
            .push(added(8, "\u{120}hi\u{10a}", false, false));
        let m = read(&standard(tj, base_tc())).unwrap();
        assert_eq!(tokens(&m)[8], " hi\n");
        assert_eq!(types(&m)[8], 4);
    }

    #[test]
    fn added_token_ids_follow_the_tokenizers_library() {
        // 8 model tokens; an added token claiming id 12 gets 8, the next one 9.
        let mut tj = base_tj();
        let list = tj["added_tokens"].as_array_mut().unwrap();
        list.push(added(12, "<|x|>", true, false));
        list.push(added(13, "<|y|>", true, false));
        let m = read(&standard(tj, base_tc())).unwrap();
        let t = tokens(&m);
        assert_eq!(&t[8..11], ["<|x|>", "<|y|>", "[PAD10]"]);
        assert!(
            m.warnings.iter().any(|w| w.contains("claims id 12")),
            "{:?}",
            m.warnings
        );
    }

    #[test]
    fn named_special_tokens_become_control_tokens() {
        let mut tj = base_tj();
        tj["added_tokens"]
            .as_array_mut()
            .unwrap()
            .push(added(8, "<think>", false, true));
        let mut tc = base_tc();
        tc["pad_token"] = json!("<think>");
        tc["additional_special_tokens"] = json!(["\u{120}ab"]);
        let m = read(&standard(tj, tc)).unwrap();
        let t = tokens(&m);
        let ty = types(&m);
        assert_eq!((t[8].as_str(), ty[8]), ("<think>", 3));
        // a model token named special becomes an added, non-normalized special token
        assert_eq!((t[7].as_str(), ty[7]), (" ab", 3));
        assert_eq!(
            m.get("tokenizer.ggml.padding_token_id"),
            Some(&Value::U32(8))
        );
    }

    #[test]
    fn ids_at_or_above_vocab_size_are_errors_naming_the_file() {
        let d = standard(base_tj(), base_tc());
        let e = err_text(read_tokenizer(d.path(), &base_config(), 6, None).unwrap_err());
        assert!(
            e.contains("tokenizer.json") && e.contains("vocab_size is 6"),
            "{e}"
        );

        let mut tj = base_tj();
        tj["added_tokens"]
            .as_array_mut()
            .unwrap()
            .push(added(8, "<|x|>", true, false));
        let d = standard(tj, base_tc());
        let e = err_text(read_tokenizer(d.path(), &base_config(), 8, None).unwrap_err());
        assert!(e.contains("<|x|>") && e.contains("id 8"), "{e}");

        let e = err_text(read_tokenizer(d.path(), &base_config(), 0, None).unwrap_err());
        assert!(e.contains("vocab_size is 0"), "{e}");
    }

    #[test]
    fn bos_from_the_post_processor_when_tokenizer_config_is_silent() {
        let mut tc = base_tc();
        tc.as_object_mut().unwrap().remove("add_bos_token");
        tc.as_object_mut().unwrap().remove("add_eos_token");
        let m = read(&standard(base_tj(), tc)).unwrap();
        assert_eq!(
            m.get("tokenizer.ggml.add_bos_token"),
            Some(&Value::Bool(true))
        );
        assert_eq!(
            m.get("tokenizer.ggml.add_sep_token"),
            Some(&Value::Bool(false))
        );
        assert_eq!(m.get("tokenizer.ggml.add_eos_token"), None);
    }

    #[test]
    fn bos_from_tokenizer_config_without_post_processor() {
        let mut tj = base_tj();
        tj.as_object_mut().unwrap().remove("post_processor");
        let m = read(&standard(tj, base_tc())).unwrap();
        let adds: Vec<_> = m.kvs.iter().filter(|(k, _)| k.contains(".add_")).collect();
        assert_eq!(
            adds,
            [
                &(
                    "tokenizer.ggml.add_bos_token".to_string(),
                    Value::Bool(true)
                ),
                &(
                    "tokenizer.ggml.add_eos_token".to_string(),
                    Value::Bool(false)
                )
            ]
        );
    }

    #[test]
    fn byte_level_post_processor_wins_over_tokenizer_config() {
        let mut tj = base_tj();
        tj["post_processor"] = json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true});
        let m = read(&standard(tj, base_tc())).unwrap();
        assert_eq!(
            m.get("tokenizer.ggml.add_bos_token"),
            Some(&Value::Bool(false))
        );
        assert_eq!(
            m.get("tokenizer.ggml.add_eos_token"),
            Some(&Value::Bool(false))
        );
        assert!(
            m.warnings
                .iter()
                .any(|w| w.contains("add_bos_token is true")),
            "{:?}",
            m.warnings
        );
    }

    #[test]
    fn trailing_eos_in_the_template_sets_add_eos_and_eot() {
        let mut tj = base_tj();
        tj["post_processor"]["single"]
            .as_array_mut()
            .unwrap()
            .push(json!({"SpecialToken": {"id": "<|EOT|>", "type_id": 0}}));
        tj["added_tokens"]
            .as_array_mut()
            .unwrap()
            .push(added(8, "<|EOT|>", true, true));
        let m = read(&standard(tj, base_tc())).unwrap();
        // the old EOS becomes EOT, the template's last token the EOS
        assert_eq!(m.get("tokenizer.ggml.eos_token_id"), Some(&Value::U32(8)));
        assert_eq!(m.get("tokenizer.ggml.eot_token_id"), Some(&Value::U32(1)));
        assert_eq!(
            m.get("tokenizer.ggml.add_eos_token"),
            Some(&Value::Bool(true))
        );
    }

    #[test]
    fn special_ids_tokenizer_config_first_then_config_json() {
        let mut tc = base_tc();
        for k in ["bos_token", "eos_token", "pad_token"] {
            tc.as_object_mut().unwrap().remove(k);
        }
        tc["eos_token"] = json!(EOS); // plain string form
        let mut tj = base_tj();
        tj.as_object_mut().unwrap().remove("post_processor"); // it would name the BOS itself
        let d = standard(tj, tc);
        let config = json!({"bos_token_id": 0, "eos_token_id": 5, "pad_token_id": [1, 2], "unk_token_id": 3,
                            "text_config": {"mask_token_id": 4}});
        let m = read_tokenizer(d.path(), &config, 16, None).unwrap();
        // eos from tokenizer_config (1, not config's 5); bos/unk/mask from config.json; pad list ignored
        let ids: Vec<_> = m
            .kvs
            .iter()
            .filter(|(k, _)| k.ends_with("_id"))
            .cloned()
            .collect();
        assert_eq!(
            ids,
            [
                ("tokenizer.ggml.eos_token_id".to_string(), Value::U32(1)),
                ("tokenizer.ggml.bos_token_id".to_string(), Value::U32(0)),
                ("tokenizer.ggml.unknown_token_id".to_string(), Value::U32(3)),
                ("tokenizer.ggml.mask_token_id".to_string(), Value::U32(4)),
            ]
        );
    }

    #[test]
    fn negative_special_id_is_an_error() {
        let d = standard(base_tj(), base_tc());
        let e =
            err_text(read_tokenizer(d.path(), &json!({"unk_token_id": -1}), 16, None).unwrap_err());
        assert!(e.contains("config.json") && e.contains("-1"), "{e}");
    }

    #[test]
    fn without_tokenizer_config_only_the_post_processor_and_config_json_count() {
        let d = dir_with(&[
            ("tokenizer.json", base_tj()),
            ("chat_template.jinja", json!("{{ 'x' }}")),
        ]);
        let m = read(&d).unwrap();
        assert_eq!(m.get("tokenizer.ggml.bos_token_id"), Some(&Value::U32(0)));
        assert_eq!(m.get("tokenizer.ggml.eos_token_id"), Some(&Value::U32(1)));
        assert_eq!(
            m.get("tokenizer.ggml.add_bos_token"),
            Some(&Value::Bool(true))
        );
        // the chat template files are only read when tokenizer_config.json exists
        assert_eq!(m.get("tokenizer.chat_template"), None);
    }

    #[test]
    fn chat_template_list_gives_named_keys_and_the_names_array() {
        let mut tc = base_tc();
        tc["chat_template"] = json!([
            {"name": "tool use", "template": "{{ 'tools' }}"},
            {"name": "default", "template": "{{ 'default' }}"},
            {"name": "rag", "template": ""},
            {"name": "", "template": "ignored"},
            {"name": "x", "template": null}
        ]);
        let m = read(&standard(base_tj(), tc)).unwrap();
        let tail: Vec<_> = m
            .kvs
            .iter()
            .skip_while(|(k, _)| !k.starts_with("tokenizer.chat"))
            .cloned()
            .collect();
        assert_eq!(
            tail,
            [
                (
                    "tokenizer.chat_template.tool_use".to_string(),
                    Value::String("{{ 'tools' }}".into())
                ),
                (
                    "tokenizer.chat_templates".to_string(),
                    Value::Array(Array::String(vec!["tool_use".into(), "rag".into()]))
                ),
                (
                    "tokenizer.chat_template".to_string(),
                    Value::String("{{ 'default' }}".into())
                ),
            ]
        );
        check_chat_template(&m).unwrap();
    }

    #[test]
    fn chat_template_files_and_their_precedence() {
        let mut tc = base_tc();
        tc.as_object_mut().unwrap().remove("chat_template");
        // .jinja (read with universal newlines) wins over .json
        let d = dir_with(&[
            ("tokenizer.json", base_tj()),
            ("tokenizer_config.json", tc.clone()),
            (
                "chat_template.jinja",
                json!("{{ bos_token }}\r\n{{ 'jinja' }}\r"),
            ),
            (
                "chat_template.json",
                json!({"chat_template": "{{ 'json' }}"}),
            ),
        ]);
        let m = read(&d).unwrap();
        assert_eq!(
            m.get("tokenizer.chat_template"),
            Some(&Value::String("{{ bos_token }}\n{{ 'jinja' }}\n".into()))
        );

        let d = dir_with(&[
            ("tokenizer.json", base_tj()),
            ("tokenizer_config.json", tc.clone()),
            (
                "chat_template.json",
                json!({"chat_template": "{{ 'json' }}"}),
            ),
        ]);
        assert_eq!(
            read(&d).unwrap().get("tokenizer.chat_template"),
            Some(&Value::String("{{ 'json' }}".into()))
        );

        // tokenizer_config.json's own template wins over the files
        let d = dir_with(&[
            ("tokenizer.json", base_tj()),
            ("tokenizer_config.json", base_tc()),
            ("chat_template.jinja", json!("{{ 'jinja' }}")),
        ]);
        let m = read(&d).unwrap();
        assert!(
            matches!(m.get("tokenizer.chat_template"), Some(Value::String(s)) if s.starts_with("{{ bos_token }}{% for"))
        );

        // additional_chat_templates/*.jinja turn the .jinja into a named list
        let d = dir_with(&[
            ("tokenizer.json", base_tj()),
            ("tokenizer_config.json", tc),
            ("chat_template.jinja", json!("{{ 'main' }}")),
            (
                "additional_chat_templates/tool-use.jinja",
                json!("{{ 'tool' }}"),
            ),
        ]);
        let m = read(&d).unwrap();
        assert_eq!(
            m.get("tokenizer.chat_template"),
            Some(&Value::String("{{ 'main' }}".into()))
        );
        assert_eq!(
            m.get("tokenizer.chat_template.tool_use"),
            Some(&Value::String("{{ 'tool' }}".into()))
        );
        assert_eq!(strings(&m, "tokenizer.chat_templates"), ["tool_use"]);
    }

    #[test]
    fn empty_or_bad_chat_templates_are_not_written() {
        let mut tc = base_tc();
        tc["chat_template"] = json!("");
        let m = read(&standard(base_tj(), tc)).unwrap();
        assert_eq!(m.get("tokenizer.chat_template"), None);

        let mut tc = base_tc();
        tc["chat_template"] = json!(42);
        let m = read(&standard(base_tj(), tc)).unwrap();
        assert_eq!(m.get("tokenizer.chat_template"), None);
        assert!(m.warnings.iter().any(|w| w.contains("chat_template")));
    }

    #[test]
    fn pre_tokenizer_structures() {
        for (steps, name) in [
            (llm_steps(), "deepseek-llm"),
            (coder_steps(), "deepseek-coder"),
            (v3_steps(), "deepseek-v3"),
        ] {
            let mut tj = base_tj();
            tj["pre_tokenizer"] = pre_json(&steps);
            assert_eq!(read(&standard(tj, base_tc())).unwrap().pre, name);
        }
        // one changed flag is enough to make it unknown
        let mut steps = v3_steps();
        steps[3] = PreStep::ByteLevel {
            add_prefix_space: true,
            use_regex: false,
        };
        let mut tj = base_tj();
        tj["pre_tokenizer"] = pre_json(&steps);
        let d = standard(tj, base_tc());
        match read(&d).unwrap_err() {
            Error::Unsupported(msg) => {
                assert!(
                    msg.contains("not recognised")
                        && msg.contains("--pre NAME")
                        && msg.contains("tokenizer.json"),
                    "{msg}"
                )
            }
            other => panic!("{other}"),
        }
        // --pre overrides, and is checked against the loader's names
        let m = read_tokenizer(d.path(), &base_config(), 16, Some("deepseek-llm")).unwrap();
        assert_eq!(m.pre, "deepseek-llm");
        assert_eq!(
            m.get("tokenizer.ggml.pre"),
            Some(&Value::String("deepseek-llm".into()))
        );
        assert!(matches!(
            read_tokenizer(d.path(), &base_config(), 16, Some("deepseek-v4")),
            Err(Error::Usage(_))
        ));

        // GPT-2's single ByteLevel pre-tokenizer and a missing one are unknown too
        let mut tj = base_tj();
        tj["pre_tokenizer"] = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
        assert!(matches!(
            read(&standard(tj, base_tc())),
            Err(Error::Unsupported(_))
        ));
        let mut tj = base_tj();
        tj["pre_tokenizer"] = Json::Null;
        assert!(
            matches!(read(&standard(tj, base_tc())), Err(Error::Unsupported(m)) if m.contains("found none"))
        );
    }

    #[test]
    fn tiktoken_and_missing_tokenizer() {
        let d = dir_with(&[
            ("tiktoken.model", json!("abc 0")),
            ("tokenizer_config.json", base_tc()),
        ]);
        match read(&d).unwrap_err() {
            Error::Unsupported(msg) => {
                assert!(msg.contains("tiktoken") && msg.contains("Kimi-K2"), "{msg}")
            }
            other => panic!("{other}"),
        }
        let d = dir_with(&[("tokenizer_config.json", base_tc())]);
        let e = err_text(read(&d).unwrap_err());
        assert!(
            e.contains("tokenizer.json") && e.contains("not found"),
            "{e}"
        );
    }

    #[test]
    fn malformed_json_types_are_errors_not_panics() {
        let bad_tj = [
            json!([]),
            json!({}),
            json!({"model": null}),
            json!({"model": {"type": "Unigram", "vocab": []}}),
            json!({"model": {"type": "BPE", "vocab": {"a": "0"}}}),
            json!({"model": {"type": "BPE", "vocab": {"a": -1}}}),
            json!({"model": {"type": "BPE", "vocab": {"a": 0}}, "added_tokens": {}}),
            json!({"model": {"type": "BPE", "vocab": {"a": 0}}, "added_tokens": [{"id": 1, "content": 5}]}),
            json!({"model": {"type": "BPE", "vocab": {"a": 0}}, "added_tokens": [{"id": "1", "content": "x"}]}),
            json!({"model": {"type": "BPE", "vocab": {"a": 0}}, "added_tokens": [{"id": 1, "content": "x", "special": "yes"}]}),
        ];
        for (n, tj) in bad_tj.into_iter().enumerate() {
            let mut tj = tj;
            if let Some(o) = tj.as_object_mut()
                && o.contains_key("model")
            {
                o.insert("pre_tokenizer".into(), pre_json(&v3_steps()));
            }
            let r = read(&standard(tj, base_tc()));
            let e = err_text(r.expect_err(&format!("case {n}")));
            assert!(e.contains("tokenizer.json"), "case {n}: {e}");
        }
        // tokenizer_config.json that is not an object
        let e = err_text(read(&standard(base_tj(), json!(["x"]))).unwrap_err());
        assert!(
            e.contains("tokenizer_config.json") && e.contains("expected a JSON object"),
            "{e}"
        );
        // post-processor pieces of the wrong type
        let mut tj = base_tj();
        tj["post_processor"]["single"] = json!(["x", "y"]);
        let e = err_text(read(&standard(tj, base_tc())).unwrap_err());
        assert!(e.contains("post_processor"), "{e}");
        // invalid JSON
        let d = dir_with(&[("tokenizer.json", json!("{not json"))]);
        fs::write(d.path().join("tokenizer.json"), "{not json").unwrap();
        let e = err_text(read(&d).unwrap_err());
        assert!(e.contains("not valid JSON"), "{e}");
    }

    #[test]
    fn generation_config_gives_sampling_keys_first() {
        let gen_cfg = json!({"do_sample": true, "temperature": 0.6, "top_p": 0.95, "top_k": 40, "min_p": 0,
                         "repetition_penalty": 1.1, "mirostat": 2, "sequence": "", "bos_token_id": 0});
        let d = dir_with(&[
            ("tokenizer.json", base_tj()),
            ("tokenizer_config.json", base_tc()),
            ("generation_config.json", gen_cfg),
        ]);
        let m = read(&d).unwrap();
        assert_eq!(
            m.general_kvs(),
            [
                ("general.sampling.top_k".to_string(), Value::I32(40)),
                ("general.sampling.top_p".to_string(), Value::F32(0.95)),
                ("general.sampling.min_p".to_string(), Value::F32(0.0)),
                ("general.sampling.temp".to_string(), Value::F32(0.6)),
                (
                    "general.sampling.penalty_repeat".to_string(),
                    Value::F32(1.1)
                ),
                ("general.sampling.mirostat".to_string(), Value::I32(2)),
            ]
        );
        assert_eq!(m.tokenizer_kvs()[0].0, "tokenizer.ggml.model");

        // penalty_repeat (even null) shadows repetition_penalty
        let gen_cfg = json!({"penalty_repeat": null, "repetition_penalty": 1.3});
        let d = dir_with(&[
            ("tokenizer.json", base_tj()),
            ("tokenizer_config.json", base_tc()),
            ("generation_config.json", gen_cfg),
        ]);
        assert!(read(&d).unwrap().general_kvs().is_empty());

        // unreadable JSON is ignored (with a warning); a wrong type is an error
        let d = dir_with(&[
            ("tokenizer.json", base_tj()),
            ("tokenizer_config.json", base_tc()),
        ]);
        fs::write(d.path().join("generation_config.json"), "{oops").unwrap();
        let m = read(&d).unwrap();
        assert!(
            m.general_kvs().is_empty()
                && m.warnings
                    .iter()
                    .any(|w| w.contains("generation_config.json"))
        );
        fs::write(d.path().join("generation_config.json"), r#"{"top_k": 1.5}"#).unwrap();
        let e = err_text(read(&d).unwrap_err());
        assert!(
            e.contains("generation_config.json") && e.contains("top_k"),
            "{e}"
        );
    }

    #[test]
    fn normalizer_flags() {
        let mut tj = base_tj();
        tj["normalizer"] = json!({"type": "Sequence", "normalizers": [
            {"type": "Lowercase"}, {"type": "NFC"}, {"type": "StripAccents"},
            {"type": "BertNormalizer", "lowercase": false, "strip_accents": null}]});
        let m = read(&standard(tj, base_tc())).unwrap();
        assert_eq!(
            m.get("tokenizer.ggml.normalizer.lowercase"),
            Some(&Value::Bool(false))
        );
        assert_eq!(m.get("tokenizer.ggml.normalizer.strip_accents"), None);
        assert_eq!(
            keys(&m).last(),
            Some(&"tokenizer.ggml.normalizer.lowercase")
        );
    }

    #[test]
    fn check_chat_template_renders_or_reports() {
        let v3ish = "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}\
            {% set ns = namespace(system_prompt='', is_tool=false) %}\
            {%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}{%- endif %}{%- endfor %}\
            {{ bos_token }}{{ ns.system_prompt }}\
            {%- for message in messages %}\
            {%- if message['role'] == 'user' %}{{ '<\u{ff5c}User\u{ff5c}>' + message['content'] }}{%- endif %}\
            {%- if message['role'] == 'assistant' and 'tool_calls' not in message %}{% set content = message['content'] %}\
            {% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}\
            {{ '<\u{ff5c}Assistant\u{ff5c}>' + content.strip() + eos_token }}{%- endif %}\
            {%- endfor -%}{% if add_generation_prompt and not ns.is_tool %}{{ '<\u{ff5c}Assistant\u{ff5c}>' }}{% endif %}";
        let mut tc = base_tc();
        tc["chat_template"] = json!(v3ish);
        let m = read(&standard(base_tj(), tc)).unwrap();
        check_chat_template(&m).unwrap();
        let out = render_sample(v3ish, BOS, EOS).unwrap();
        assert!(
            out.starts_with(BOS) && out.ends_with("<\u{ff5c}Assistant\u{ff5c}>"),
            "{out}"
        );
        assert!(out.contains(&format!("2 + 2 = 4.{EOS}")), "{out}");

        for (bad, what) in [
            ("{% for m in messages %}", "syntax"),
            ("{{ raise_exception('no system role') }}", "no system role"),
            (
                "{{ messages[0]['content'] | nosuchfilter }}",
                "nosuchfilter",
            ),
        ] {
            let mut tc = base_tc();
            tc["chat_template"] = json!(bad);
            let m = read(&standard(base_tj(), tc)).unwrap();
            let e = check_chat_template(&m).unwrap_err();
            assert!(
                e.contains("tokenizer.chat_template") && (e.contains(what) || what == "syntax"),
                "{e}"
            );
        }
        // no template at all is fine
        let mut tc = base_tc();
        tc.as_object_mut().unwrap().remove("chat_template");
        check_chat_template(&read(&standard(base_tj(), tc)).unwrap()).unwrap();
    }
}
