//! The Kimi-style parts of `ds2gguf synth --family kimi-k2|moonlight`: a small tiktoken
//! vocabulary (`tiktoken.model`: the 256 single bytes in GPT-2's byte order, then byte-pair
//! merges learned on a built-in multilingual text), Kimi's `tokenizer_config.json` (named
//! special tokens at Kimi-K2's offsets after the ranks) and the `config.json` keys that differ.

use crate::Result;
use crate::synth::{SynthFamily, SynthSpec};
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Merges learned for the synthetic vocabulary.
pub const N_MERGES: usize = 200;

/// The text the merges are learned on (also a handy tokenization corpus).
pub const SAMPLE_TEXT: &str = "The quick brown fox jumps over the lazy dog. I've been told he's there; you're sure? We'll see, they'd know.\n\
In 2026 the model was trained on 15.5 trillion tokens: 1,000,000 steps.\r\n\
def tokenize(text: str) -> list[int]:\n    return [ord(c) for c in text]\n\
我想在apple工作1314151天 你好，世界！这是一个测试。人工智能正在改变世界。\n\
日本語のテキストとカタカナ、ひらがな。 한국어 문장도 포함합니다.\n\
Русский текст: съешь же ещё этих мягких французских булок. Привет, мир!\n\
العربية لغة جميلة. مرحبا بالعالم\n\
🚀 rockets 😶‍🌫️ emoji ✅ 🦙🦙 3 33 333 3333 33333 ------======= \t\t  spaces   and\n\n\nnewlines";

/// Special-token names at their offsets after the ranks (Kimi-K2's first slots).
pub const SPECIALS: [(usize, &str); 12] = [
    (0, "[BOS]"),
    (1, "[EOS]"),
    (2, "<|im_end|>"),
    (3, "<|im_user|>"),
    (4, "<|im_assistant|>"),
    (6, "<|start_header_id|>"),
    (7, "<|end_header_id|>"),
    (9, "[EOT]"),
    (10, "<|im_system|>"),
    (17, "<|im_middle|>"),
    (254, "[UNK]"),
    (255, "[PAD]"),
];

/// The 256 bytes in GPT-2's byte-to-unicode order (printable Latin-1 first), as cl100k-style
/// tiktoken files rank them.
pub fn byte_order() -> Vec<u8> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut v: Vec<u8> = (0..=255u32)
        .filter(|&b| printable(b))
        .map(|b| b as u8)
        .collect();
    v.extend((0..=255u32).filter(|&b| !printable(b)).map(|b| b as u8));
    v
}

/// Cuts text into words for learning merges: an optional space and a run of letters or digits,
/// a run of other non-space characters, or a run of whitespace.
fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let cs: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < cs.len() {
        let start = cs[i].0;
        let mut j = i;
        let class = |c: char| {
            if c.is_alphanumeric() {
                0
            } else if c.is_whitespace() {
                1
            } else {
                2
            }
        };
        if cs[j].1 == ' ' && j + 1 < cs.len() && class(cs[j + 1].1) != 1 {
            j += 1;
        }
        let k = class(cs[j].1);
        while j < cs.len() && class(cs[j].1) == k {
            j += 1;
        }
        let end = cs.get(j).map_or(text.len(), |c| c.0);
        out.push(&text[start..end]);
        i = j;
    }
    out
}

/// The ranks of the synthetic vocabulary, in rank order: single bytes, then `n_merges` merges
/// (most frequent pair first, ties by byte order) learned on `text`.
pub fn learn_ranks(text: &str, n_merges: usize) -> Vec<Vec<u8>> {
    let mut ranks: Vec<Vec<u8>> = byte_order().into_iter().map(|b| vec![b]).collect();
    let mut known: std::collections::HashSet<Vec<u8>> = ranks.iter().cloned().collect();
    let mut ws: Vec<Vec<Vec<u8>>> = words(text)
        .iter()
        .map(|w| w.bytes().map(|b| vec![b]).collect())
        .collect();
    for _ in 0..n_merges {
        let mut counts: HashMap<(Vec<u8>, Vec<u8>), usize> = HashMap::new();
        for w in &ws {
            for p in w.windows(2) {
                if !known.contains(&[p[0].clone(), p[1].clone()].concat()) {
                    *counts.entry((p[0].clone(), p[1].clone())).or_default() += 1;
                }
            }
        }
        let Some(((a, b), _)) = counts
            .into_iter()
            .max_by(|x, y| x.1.cmp(&y.1).then_with(|| y.0.cmp(&x.0)))
        else {
            break;
        };
        let ab = [a.clone(), b.clone()].concat();
        known.insert(ab.clone());
        ranks.push(ab.clone());
        for w in ws.iter_mut() {
            let mut out = Vec::with_capacity(w.len());
            let mut i = 0;
            while i < w.len() {
                if i + 1 < w.len() && w[i] == a && w[i + 1] == b {
                    out.push(ab.clone());
                    i += 2;
                } else {
                    out.push(std::mem::take(&mut w[i]));
                    i += 1;
                }
            }
            *w = out;
        }
    }
    ranks
}

/// The synthetic vocabulary's ranks.
pub fn ranks() -> Vec<Vec<u8>> {
    learn_ranks(SAMPLE_TEXT, N_MERGES)
}

/// Ids the synthetic tokenizer names: ranks plus 256 special ids.
pub fn n_tokens() -> u64 {
    ranks().len() as u64 + 256
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                s.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// `tiktoken.model` text for `ranks`.
pub fn tiktoken_text(ranks: &[Vec<u8>]) -> String {
    ranks
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{} {i}\n", base64(t)))
        .collect()
}

/// Kimi's `tokenizer_config.json` for `n_base` ranks.
pub fn tokenizer_config(n_base: usize) -> Json {
    let mut added = Map::new();
    for (i, c) in SPECIALS {
        added.insert(
            (n_base + i).to_string(),
            json!({"content": c, "lstrip": false, "normalized": false, "rstrip": false,
                   "single_word": false, "special": true}),
        );
    }
    let template = "{% for m in messages %}<|im_{{ m['role'] }}|>{{ m['role'] }}<|im_middle|>{{ m['content'] }}<|im_end|>{% endfor %}{% if add_generation_prompt %}<|im_assistant|>assistant<|im_middle|>{% endif %}";
    json!({
        "added_tokens_decoder": added,
        "additional_special_tokens": ["<|im_end|>", "<|im_user|>", "<|im_assistant|>", "<|start_header_id|>",
                                      "<|end_header_id|>", "[EOT]", "<|im_system|>", "<|im_middle|>"],
        "auto_map": {"AutoTokenizer": ["tokenization_kimi.TikTokenTokenizer", null]},
        "bos_token": "[BOS]", "eos_token": "[EOS]", "pad_token": "[PAD]", "unk_token": "[UNK]",
        "chat_template": template, "clean_up_tokenization_spaces": false,
        "model_max_length": 1_000_000, "tokenizer_class": "TikTokenTokenizer"
    })
}

/// Writes `tiktoken.model` and `tokenizer_config.json`; returns the BOS and EOS ids.
pub fn write_tokenizer(dir: &Path) -> Result<(u64, u64)> {
    let r = ranks();
    let n = r.len();
    let tm = dir.join("tiktoken.model");
    let mut f = std::fs::File::create(&tm).map_err(|e| crate::Error::io(&tm, e))?;
    f.write_all(tiktoken_text(&r).as_bytes())
        .map_err(|e| crate::Error::io(&tm, e))?;
    let tc = dir.join("tokenizer_config.json");
    let text = serde_json::to_string_pretty(&tokenizer_config(n))
        .map_err(|e| crate::Error::Usage(e.to_string()))?;
    std::fs::write(&tc, text).map_err(|e| crate::Error::io(&tc, e))?;
    Ok((n as u64, n as u64 + 1))
}

/// The `config.json` keys of Kimi-K2 and Moonlight that differ from the DeepSeek-V3 ones.
pub fn adjust_config(s: &SynthSpec, o: &mut Map<String, Json>) {
    let n = ranks().len() as u64;
    o.insert("bos_token_id".into(), json!(n));
    o.insert("eos_token_id".into(), json!(n + 1));
    o.insert("rope_theta".into(), json!(50000.0));
    o.insert("num_nextn_predict_layers".into(), json!(0));
    match s.family {
        SynthFamily::Moonlight => {
            o.remove("rope_scaling");
            o.insert("rms_norm_eps".into(), json!(1e-5));
        }
        _ => {
            o.insert("max_position_embeddings".into(), json!(131072));
            o.insert(
                "rope_scaling".into(),
                json!({"beta_fast": 1.0, "beta_slow": 1.0, "factor": 32.0, "mscale": 1.0,
                       "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096, "type": "yarn"}),
            );
            o.insert("routed_scaling_factor".into(), json!(2.827));
        }
    }
}
