//! The tiktoken reader: file parsing, the vocabulary rules, and tokenization parity between a
//! tiktoken-style encoder over the ranks and llama.cpp-style BPE over the vocabulary and merges
//! the reader derives.

use super::*;
use std::collections::HashMap;

fn p() -> &'static Path {
    Path::new("tiktoken.model")
}

fn ranks_of(tokens: &[&[u8]]) -> Ranks {
    let mut r = Ranks::default();
    for (i, t) in tokens.iter().enumerate() {
        r.insert(t.to_vec(), i as i64);
    }
    r
}

#[test]
fn parses_base64_ranks_like_load_tiktoken_bpe() {
    let r = parse_ranks(p(), b"IQ== 0\r\nIg== 1\n\nISI= 2\rIQ== 7\n").unwrap();
    // "!" listed twice: first position, last rank
    assert_eq!(
        r.entries,
        vec![
            (b"!".to_vec(), 7),
            (b"\"".to_vec(), 1),
            (b"!\"".to_vec(), 2)
        ]
    );
    assert_eq!(r.get(b"!\""), Some(2));
    assert_eq!(decode_base64(b"AAECAwQ="), Some(vec![0, 1, 2, 3, 4]));
    assert_eq!(decode_base64(b"AA=A"), None);
    for bad in [
        &b"IQ==\n"[..],
        b"IQ== x\n",
        b"I@== 0\n",
        b"IQ== 0 1\n",
        b"\n\n",
    ] {
        let e = parse_ranks(p(), bad).unwrap_err().to_string();
        assert!(e.contains("tiktoken.model"), "{e}");
    }
}

#[test]
fn merges_come_from_rank_capped_bpe_with_two_parts() {
    // a b c ab bc abc: "abc" merges as ab+c (ab ranks before bc)
    let r = ranks_of(&[b"a", b"b", b"c", b"ab", b"bc", b"abc", b"cab"]);
    assert_eq!(rank_capped_bpe(&r, b"abc", Some(5)), vec![0, 2, 3]);
    // "cab" (rank 6): c + ab
    let v = build_vocabulary(&r, &[], 7, "kimi-k2".into());
    assert_eq!(v.merges, vec!["a b", "b c", "ab c", "c ab"]);
    // a token BPE cannot reach in two parts gives no merge
    let r = ranks_of(&[b"x", b"y", b"z", b"xyz"]);
    let v = build_vocabulary(&r, &[], 4, "kimi-k2".into());
    assert!(v.merges.is_empty());
    assert_eq!(rank_capped_bpe(&r, b"xyz", Some(3)).len(), 4);
}

#[test]
fn vocabulary_rules_pad_specials_and_collisions() {
    let r = ranks_of(&[b"a", b" ", b"\n", b"ab"]);
    let tc: Map<String, Json> = serde_json::from_value(serde_json::json!({
        "added_tokens_decoder": {
            "4": {"content": "[BOS]"},
            "6": {"content": "a"},        // collides with base token "a" (id 0)
            "7": {"content": "[BOS]"},    // the same text twice: the later id wins
        }
    }))
    .unwrap();
    let sp = kimi_special_tokens(Path::new("tokenizer_config.json"), Some(&tc), 4).unwrap();
    assert_eq!(sp[0], ("[BOS]".to_string(), 7));
    assert_eq!(sp[1], ("<|reserved_token_5|>".to_string(), 5));
    assert_eq!(sp[2], ("a".to_string(), 6));
    assert_eq!(sp.len(), 255);
    let v = build_vocabulary(&r, &sp, 300, "kimi-k2".into());
    assert_eq!(v.tokens.len(), 300);
    // base id 0 lost its text to special id 6; id 4 lost "[BOS]" to id 7
    assert_eq!(
        &v.tokens[..8],
        &[
            "[PAD0]",
            "Ġ",
            "Ċ",
            "ab",
            "[PAD4]",
            "<|reserved_token_5|>",
            "a",
            "[BOS]"
        ]
    );
    assert_eq!(&v.types[..8], &[5, 1, 1, 1, 5, 3, 3, 3]);
    assert_eq!(v.tokens[259], "<|reserved_token_259|>");
    assert_eq!(v.tokens[260], "[PAD260]");
    assert_eq!(v.types[299], TT_UNUSED);
    // a vocab_size below the specials drops the ids above it
    let v = build_vocabulary(&r, &sp, 6, "kimi-k2".into());
    assert_eq!(v.tokens.len(), 6);
    for bad in [
        serde_json::json!({"added_tokens_decoder": {"x": {"content": "a"}}}),
        serde_json::json!({"added_tokens_decoder": {"5": {"content": 3}}}),
        serde_json::json!({"added_tokens_decoder": []}),
    ] {
        let tc: Map<String, Json> = serde_json::from_value(bad).unwrap();
        let e = kimi_special_tokens(Path::new("tokenizer_config.json"), Some(&tc), 4).unwrap_err();
        assert!(e.to_string().contains("added_tokens_decoder"), "{e}");
    }
}

/// Kimi's split pattern, except for its two look-ahead branches (`\s+(?!\S)`, `\s+`), which
/// [`split`] handles by hand. The regex crate's leftmost-first alternation matches as
/// tiktoken's backtracking engine does for these branches.
const KIMI_HEAD: &str = r"^(?:[\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+)";

fn split(text: &str) -> Vec<&str> {
    let head = regex::Regex::new(KIMI_HEAD).unwrap();
    let mut out = Vec::new();
    let mut p = 0;
    while p < text.len() {
        let rest = &text[p..];
        let len = match head.find(rest) {
            Some(m) if m.end() > 0 => m.end(),
            _ => {
                // \s+(?!\S) then \s+
                let run: usize = rest
                    .chars()
                    .take_while(|c| c.is_whitespace())
                    .map(char::len_utf8)
                    .sum();
                let last = rest[..run].chars().last().map_or(0, char::len_utf8);
                if run == rest.len() || run == last {
                    run.max(rest.chars().next().map_or(1, char::len_utf8))
                } else {
                    run - last
                }
            }
        };
        out.push(&rest[..len]);
        p += len;
    }
    out
}

/// tiktoken's encoder: a chunk that is a token is that token; otherwise its bytes are merged
/// pair by pair, lowest rank first (leftmost on a tie), and each part is looked up.
fn tiktoken_encode(ranks: &Ranks, text: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    for chunk in split(text) {
        let b = chunk.as_bytes();
        if let Some(r) = ranks.get(b) {
            ids.push(r);
            continue;
        }
        let mut parts: Vec<Vec<u8>> = b.iter().map(|&x| vec![x]).collect();
        loop {
            let best = (0..parts.len().saturating_sub(1))
                .filter_map(|i| {
                    ranks
                        .get(&[parts[i].clone(), parts[i + 1].clone()].concat())
                        .map(|r| (r, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let merged = [parts[i].clone(), parts.remove(i + 1)].concat();
            parts[i] = merged;
        }
        ids.extend(parts.iter().map(|p| ranks.get(p).unwrap()));
    }
    ids
}

/// llama.cpp's BPE over a GGUF vocabulary: each chunk's byte-to-unicode characters are merged
/// by merge rank (the position in the merge list), lowest first, leftmost on a tie; the
/// resulting strings are looked up in the token list.
fn gguf_encode(v: &Vocabulary, text: &str) -> Vec<i64> {
    let table = byte_to_unicode();
    let merge_rank: HashMap<(&str, &str), usize> = v
        .merges
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (a, b) = m.split_once(' ').unwrap();
            ((a, b), i)
        })
        .collect();
    let id_of: HashMap<&str, i64> = v
        .tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| v.types[*i] == TT_NORMAL)
        .map(|(i, t)| (t.as_str(), i as i64))
        .collect();
    let mut ids = Vec::new();
    for chunk in split(text) {
        let mut syms: Vec<String> = chunk
            .bytes()
            .map(|b| table[b as usize].to_string())
            .collect();
        loop {
            let best = (0..syms.len().saturating_sub(1))
                .filter_map(|i| {
                    merge_rank
                        .get(&(syms[i].as_str(), syms[i + 1].as_str()))
                        .map(|r| (*r, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let right = syms.remove(i + 1);
            syms[i].push_str(&right);
        }
        ids.extend(syms.iter().map(|s| *id_of.get(s.as_str()).unwrap()));
    }
    ids
}

#[test]
fn tokenization_matches_tiktoken_on_a_multilingual_corpus() {
    let learned = crate::synth_kimi::learn_ranks(crate::synth_kimi::SAMPLE_TEXT, 300);
    let text = crate::synth_kimi::tiktoken_text(&learned);
    let ranks = parse_ranks(p(), text.as_bytes()).unwrap();
    assert_eq!(ranks.len(), 556);
    let sp = kimi_special_tokens(Path::new("tokenizer_config.json"), None, ranks.len()).unwrap();
    let v = build_vocabulary(&ranks, &sp, ranks.len() + 256, "kimi-k2".into());
    assert_eq!(v.merges.len(), 300);
    let corpus = [
        crate::synth_kimi::SAMPLE_TEXT,
        "Hello world! It's the fox's den; THEY'LL see. I'M here, we'd go",
        "中文测试：人工智能改变世界。漢字とかな交じり文、カタカナ。한국어 텍스트",
        "Съешь же ещё этих мягких французских булок, да выпей чаю. ПРИВЕТ мир",
        "مرحبا بالعالم، هذه جملة عربية للاختبار. שלום עולם",
        "emoji 🚀🚀 😶‍🌫️ 👨‍👩‍👧‍👦 ✅✅ flags 🇫🇷 and ❤️",
        "digits 1 12 123 1234 12345 3.14159 1,000,000 0x1F",
        "whitespace   runs\t\ttabs \n\n  \n   trailing   ",
        "CRLF line one\r\nline two\r\n\r\nend\r",
        "  leading spaces, mixed   \u{3000}ideographic space and\u{00a0}nbsp",
        "code: fn main() { println!(\"{}\", x >= 10 && y != 0); } // ok",
    ];
    let mut words = 0;
    for text in corpus {
        let want = tiktoken_encode(&ranks, text);
        let got = gguf_encode(&v, text);
        assert_eq!(got, want, "{text:?}");
        words += want.len();
    }
    assert!(words > 300, "{words}");
    // the merges are used: the sample text encodes in far fewer tokens than bytes
    let sample = tiktoken_encode(&ranks, crate::synth_kimi::SAMPLE_TEXT);
    assert!(sample.len() * 2 < crate::synth_kimi::SAMPLE_TEXT.len());
}
