//! The tiktoken reader (Kimi-K2, Moonlight): `tiktoken.model` (one `base64(token) rank` per
//! line) plus the special tokens of Kimi's tokenizer, turned into the same [`Vocabulary`] the
//! `tokenizer.json` reader produces, as llama.cpp's converter does on its `kimi-k2` path:
//!
//! - every base token as its GPT-2 byte-to-unicode string, indexed by its rank;
//! - one merge per token of two or more bytes whose rank-capped byte-pair merge (the merge
//!   that never forms a token of the token's own rank or above) ends in exactly two parts;
//! - the 256 special ids that follow the base ranks, named from `tokenizer_config.json`'s
//!   `added_tokens_decoder`, the others `<|reserved_token_{id}|>` (Kimi's convention), written
//!   verbatim as CONTROL; a special whose text equals a base token's takes that text's place;
//! - `[PAD{i}]` (UNUSED) for every id below `vocab_size` that has no text.
//!
//! Nothing is run and nothing is hashed: the format is recognised by its file name.

use super::json::describe;
use super::vocab::{TT_CONTROL, TT_NORMAL, TT_UNUSED, Vocabulary, byte_to_unicode};
use crate::{Error, Result};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::path::Path;

/// The file holding the ranks.
pub const TIKTOKEN_FILE: &str = "tiktoken.model";

/// Special ids Kimi's tokenizer reserves after the base ranks.
pub const N_RESERVED_SPECIAL: usize = 256;

/// Largest `tiktoken.model` read (Kimi-K2's is about 2.8 MB).
const TIKTOKEN_MAX: u64 = 512 << 20;

/// Base tokens in file order, with their ranks (a token listed twice keeps its first position
/// and its last rank, as a Python dict built from the lines would).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ranks {
    /// `(token bytes, rank)` in first-seen order.
    pub entries: Vec<(Vec<u8>, i64)>,
    /// Token bytes → position in `entries`.
    index: HashMap<Vec<u8>, usize>,
}

impl Ranks {
    /// Adds or updates a token.
    pub fn insert(&mut self, token: Vec<u8>, rank: i64) {
        match self.index.get(&token) {
            Some(&i) => self.entries[i].1 = rank,
            None => {
                self.index.insert(token.clone(), self.entries.len());
                self.entries.push((token, rank));
            }
        }
    }

    /// The rank of `token`, if it is a base token.
    pub fn get(&self, token: &[u8]) -> Option<i64> {
        self.index.get(token).map(|&i| self.entries[i].1)
    }

    /// Number of distinct base tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no base token.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Parses the text of a `tiktoken.model` file (lines `base64 rank`; empty lines skipped).
pub fn parse_ranks(path: &Path, data: &[u8]) -> Result<Ranks> {
    let mut ranks = Ranks::default();
    let mut lineno = 0usize;
    for line in split_lines(data) {
        lineno += 1;
        if line.is_empty() {
            continue;
        }
        let mut parts = line
            .split(|b| b.is_ascii_whitespace() || *b == 0x0b)
            .filter(|p| !p.is_empty());
        let (Some(tok), Some(rank), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::bad_file(
                path,
                format!("line {lineno}: expected 'base64-token rank'"),
            ));
        };
        let token = decode_base64(tok).ok_or_else(|| {
            Error::bad_file(
                path,
                format!(
                    "line {lineno}: {:?} is not base64",
                    String::from_utf8_lossy(tok)
                ),
            )
        })?;
        let rank = std::str::from_utf8(rank)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| {
                Error::bad_file(
                    path,
                    format!(
                        "line {lineno}: rank {:?} is not an integer",
                        String::from_utf8_lossy(rank)
                    ),
                )
            })?;
        if token.is_empty() {
            return Err(Error::bad_file(path, format!("line {lineno}: empty token")));
        }
        ranks.insert(token, rank);
    }
    if ranks.is_empty() {
        return Err(Error::bad_file(path, "no tokens"));
    }
    Ok(ranks)
}

/// Python's `bytes.splitlines()`: lines end at `\n`, `\r\n` or `\r`.
fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\n' => {
                out.push(&data[start..i]);
                start = i + 1;
            }
            b'\r' => {
                out.push(&data[start..i]);
                if data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < data.len() {
        out.push(&data[start..]);
    }
    out
}

/// Standard base64 (with `=` padding, as `tiktoken.model` files use).
fn decode_base64(s: &[u8]) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (n, chunk) in s.chunks_exact(4).enumerate() {
        let last = n + 1 == s.len() / 4;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut acc = 0u32;
        for &c in &chunk[..4 - pad] {
            acc = (acc << 6) | val(c)?;
        }
        acc <<= 6 * pad as u32;
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// GPT-2's byte-to-unicode string of `b`.
pub fn byte_string(table: &[char; 256], b: &[u8]) -> String {
    b.iter().map(|&x| table[x as usize]).collect()
}

/// The byte-pair merge of `token` over `ranks`, stopping before forming a piece whose rank is
/// `max_rank` or more: returns the boundaries of the parts (`parts[i]..parts[i+1]`).
/// Among adjacent pairs present in `ranks` the smallest rank is merged first, the leftmost on a
/// tie.
pub fn rank_capped_bpe(ranks: &Ranks, token: &[u8], max_rank: Option<i64>) -> Vec<usize> {
    let mut bounds: Vec<usize> = (0..=token.len()).collect();
    loop {
        let mut best: Option<(usize, i64)> = None;
        for i in 0..bounds.len().saturating_sub(2) {
            if let Some(r) = ranks.get(&token[bounds[i]..bounds[i + 2]])
                && best.is_none_or(|(_, b)| r < b)
            {
                best = Some((i, r));
            }
        }
        match best {
            Some((i, r)) if max_rank.is_none_or(|m| r < m) => {
                bounds.remove(i + 1);
            }
            _ => break,
        }
    }
    bounds
}

/// Kimi's special tokens: `text → id` in insertion order for ids `n_base..n_base+256` (named
/// by `added_tokens_decoder`, else `<|reserved_token_{id}|>`); a text given twice keeps its
/// first position and its last id, as the tokenizer's dict comprehension does.
pub fn kimi_special_tokens(
    tc_path: &Path,
    tc: Option<&Map<String, Json>>,
    n_base: usize,
) -> Result<Vec<(String, usize)>> {
    let mut names: HashMap<usize, String> = HashMap::new();
    if let Some(atd) = tc.and_then(|m| m.get("added_tokens_decoder")) {
        let Json::Object(atd) = atd else {
            return Err(Error::bad_file(
                tc_path,
                format!(
                    "added_tokens_decoder: expected an object, found {}",
                    describe(atd)
                ),
            ));
        };
        for (k, v) in atd {
            let id: usize = k.trim().parse().map_err(|_| {
                Error::bad_file(
                    tc_path,
                    format!("added_tokens_decoder: key {k:?} is not a token id"),
                )
            })?;
            let content = match v {
                Json::Object(o) => o.get("content"),
                _ => None,
            };
            let Some(Json::String(content)) = content else {
                return Err(Error::bad_file(
                    tc_path,
                    format!("added_tokens_decoder[{k:?}].content: expected a string"),
                ));
            };
            names.insert(id, content.clone());
        }
    }
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut pos: HashMap<String, usize> = HashMap::new();
    for id in n_base..n_base + N_RESERVED_SPECIAL {
        let text = names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("<|reserved_token_{id}|>"));
        match pos.get(&text) {
            Some(&p) => out[p].1 = id,
            None => {
                pos.insert(text.clone(), out.len());
                out.push((text, id));
            }
        }
    }
    Ok(out)
}

/// Builds the GGUF vocabulary from the ranks and the special tokens (see the module
/// documentation); `vocab_size` entries.
pub fn build_vocabulary(
    ranks: &Ranks,
    specials: &[(String, usize)],
    vocab_size: usize,
    pre: String,
) -> Vocabulary {
    let table = byte_to_unicode();
    // {**vocab, **special_tokens}: text → id, in insertion order, later values win
    let mut merged: Vec<(String, i64)> = Vec::with_capacity(ranks.len() + specials.len());
    let mut pos: HashMap<String, usize> = HashMap::with_capacity(ranks.len() + specials.len());
    let mut merges = Vec::new();
    for (tok, rank) in &ranks.entries {
        let text = byte_string(&table, tok);
        // S is injective on byte strings, so every base text is new
        pos.insert(text.clone(), merged.len());
        merged.push((text, *rank));
        if tok.len() > 1 {
            let b = rank_capped_bpe(ranks, tok, Some(*rank));
            if b.len() == 3 {
                merges.push(format!(
                    "{} {}",
                    byte_string(&table, &tok[b[0]..b[1]]),
                    byte_string(&table, &tok[b[1]..b[2]])
                ));
            }
        }
    }
    for (text, id) in specials {
        match pos.get(text) {
            Some(&p) => merged[p].1 = *id as i64,
            None => {
                pos.insert(text.clone(), merged.len());
                merged.push((text.clone(), *id as i64));
            }
        }
    }
    let mut reverse: Vec<Option<usize>> = vec![None; vocab_size];
    for (i, (_, id)) in merged.iter().enumerate() {
        if let Ok(id) = usize::try_from(*id)
            && id < vocab_size
        {
            reverse[id] = Some(i);
        }
    }
    let special_ids: std::collections::HashSet<usize> = specials.iter().map(|s| s.1).collect();
    let mut tokens = Vec::with_capacity(vocab_size);
    let mut types = Vec::with_capacity(vocab_size);
    for (i, slot) in reverse.iter().enumerate() {
        match slot {
            None => {
                tokens.push(format!("[PAD{i}]"));
                types.push(TT_UNUSED);
            }
            Some(m) => {
                tokens.push(merged[*m].0.clone());
                types.push(if special_ids.contains(&i) {
                    TT_CONTROL
                } else {
                    TT_NORMAL
                });
            }
        }
    }
    Vocabulary {
        pre,
        tokens,
        types,
        merges,
    }
}

/// Reads `dir/tiktoken.model` and the special tokens named in `tokenizer_config.json` (`tc`)
/// into the vocabulary llama.cpp's converter writes for Kimi-K2 (pre-tokenizer `kimi-k2`
/// unless `pre` overrides it).
pub(super) fn read_vocabulary(
    dir: &Path,
    tc_path: &Path,
    tc: Option<&Map<String, Json>>,
    vocab_size: usize,
    pre: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Vocabulary> {
    let path = dir.join(TIKTOKEN_FILE);
    if vocab_size > super::hf::MAX_VOCAB {
        return Err(Error::bad_file(
            dir.join("config.json"),
            format!(
                "vocab_size {vocab_size} is larger than ds2gguf accepts ({})",
                super::hf::MAX_VOCAB
            ),
        ));
    }
    let data = crate::fsutil::read_capped(&path, TIKTOKEN_MAX)?;
    let ranks = parse_ranks(&path, &data)?;
    let specials = kimi_special_tokens(tc_path, tc, ranks.len())?;
    let vocab = build_vocabulary(
        &ranks,
        &specials,
        vocab_size,
        pre.unwrap_or("kimi-k2").to_string(),
    );
    let n_text = ranks.len() + N_RESERVED_SPECIAL;
    if n_text > vocab_size {
        warnings.push(format!(
            "{}: {} base tokens + {N_RESERVED_SPECIAL} special ids exceed config.json's vocab_size \
             {vocab_size}; the ids above it are left out",
            path.display(),
            ranks.len()
        ));
    }
    if vocab.merges.is_empty() {
        warnings.push(format!(
            "{}: no merges derived; the GGUF may not tokenize",
            path.display()
        ));
    }
    Ok(vocab)
}

#[cfg(test)]
mod tests;
