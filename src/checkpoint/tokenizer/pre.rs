//! `tokenizer.ggml.pre`: the pre-tokenizer names llama.cpp knows, and detection of DeepSeek's
//! from the structure of `tokenizer.json`'s `pre_tokenizer` (regexes, Digits, ByteLevel), where
//! the reference hashes an encoding.

use crate::{Error, Result};
use serde_json::{Map, Value as Json, json};
use std::path::Path;

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

/// One step of a `pre_tokenizer`, reduced to what changes the split.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum PreStep {
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

pub(super) fn split(regex: &str) -> PreStep {
    PreStep::Split {
        regex: regex.to_string(),
        behavior: "Isolated".into(),
        invert: false,
    }
}

pub(super) const BYTE_LEVEL_NO_REGEX: PreStep = PreStep::ByteLevel {
    add_prefix_space: false,
    use_regex: false,
};

/// DeepSeek-V3 / R1 / V3.1: numbers by up to three digits, CJK runs, then a GPT-4o-like split.
pub(super) fn v3_steps() -> Vec<PreStep> {
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
pub(super) const CJK_LLM: &str = "[\u{4e00}-\u{9fa5}\u{800}-\u{4e00}\u{ac00}-\u{d7ff}]+";

/// DeepSeek-LLM 7B/67B, DeepSeek-V2, V2-Lite, V2.5, Coder-V2.
pub(super) fn llm_steps() -> Vec<PreStep> {
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
pub(super) fn coder_steps() -> Vec<PreStep> {
    vec![
        split("[\r\n]"),
        split("\\s?\\p{L}+"),
        split("\\s?\\p{P}+"),
        split(CJK_LLM),
        PreStep::Digits { individual: true },
        BYTE_LEVEL_NO_REGEX,
    ]
}

pub(super) fn parse_pre_step(v: &Json) -> PreStep {
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

pub(super) fn summarize_steps(steps: &[PreStep]) -> String {
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
pub(super) fn detect_pre(path: &Path, tj: &Map<String, Json>) -> Result<&'static str> {
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

/// One step as `tokenizer.json` writes it.
pub(super) fn step_json(s: &PreStep) -> Json {
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
        PreStep::Other(t) => serde_json::from_str(t).unwrap_or(Json::Null),
    }
}

/// A `Sequence` pre-tokenizer of `steps`, as `tokenizer.json` writes it.
pub(super) fn pre_json(steps: &[PreStep]) -> Json {
    json!({"type": "Sequence", "pretokenizers": steps.iter().map(step_json).collect::<Vec<_>>()})
}

/// The `pre_tokenizer` of `tokenizer.json` that detection names `name`, for the DeepSeek ones
/// (`deepseek-v3`, `deepseek-llm`, `deepseek-coder`): what `synth` writes.
pub fn pre_tokenizer_json(name: &str) -> Option<Json> {
    Some(pre_json(&match name {
        "deepseek-v3" => v3_steps(),
        "deepseek-llm" => llm_steps(),
        "deepseek-coder" => coder_steps(),
        _ => return None,
    }))
}
