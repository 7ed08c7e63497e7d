//! The `tokenizer.json` reader (Hugging Face byte-level BPE): the token list and types of the
//! reference converter's `get_vocab_base` (through the `tokenizers` library's added-token id rule
//! and transformers' special tokens from `tokenizer_config.json`), and the merges.

use super::json::{as_array, as_object, describe, truthy};
use super::pre::detect_pre;
use super::vocab::{
    TT_CONTROL, TT_NORMAL, TT_UNUSED, TT_USER_DEFINED, Vocabulary, byte_to_unicode,
};
use crate::{Error, Result};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::path::Path;

/// Upper bound on `vocab_size`, so a corrupt config cannot make us allocate without limit.
pub(super) const MAX_VOCAB: usize = 1 << 24;

/// `U+2581` (SentencePiece's word marker).
pub(super) const SPM_SPACE: char = '\u{2581}';

/// llama.cpp's converter's `does_token_look_special`: tokens some models forget to mark special.
pub(super) fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<\u{ff5c}") && t.ends_with("\u{ff5c}>"))
        || (t.starts_with("<unused") && t.ends_with('>'))
}

/// An added token as the `tokenizers` library holds it (its equality covers every flag).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct AddedTok {
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
pub(super) struct AddedVocab<'m> {
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
pub(super) fn byte_level_char_to_byte() -> HashMap<char, u8> {
    byte_to_unicode()
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect()
}

/// The `ByteLevel` decoder on one token: a token made only of byte-level characters becomes the
/// UTF-8 (lossy) text of those bytes; any other token is left as it is.
pub(super) fn byte_level_decode(t: &str, table: &HashMap<char, u8>) -> String {
    let bytes: Option<Vec<u8>> = t.chars().map(|c| table.get(&c).copied()).collect();
    match bytes {
        Some(b) => String::from_utf8_lossy(&b).into_owned(),
        None => t.to_string(),
    }
}

/// The special tokens transformers registers from `tokenizer_config.json` (and, when it has no
/// `added_tokens_decoder`, `special_tokens_map.json`), as the AddedTokens it adds with
/// `add_special_tokens`.
pub(super) fn named_special_tokens(
    dir: &Path,
    tc: &Map<String, Json>,
    warnings: &mut Vec<String>,
) -> Result<Vec<AddedTok>> {
    let mut kw: Map<String, Json> = tc.clone();
    let stm_path = dir.join("special_tokens_map.json");
    if !tc.contains_key("added_tokens_decoder") && crate::fsutil::is_present_file(&stm_path)? {
        match crate::checkpoint::read_json(&stm_path) {
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

/// Reads the vocabulary of `tokenizer.json` (`tj`, read from `path`): the pre-tokenizer (detected
/// unless `pre` names it), the tokens and types padded to `vocab_size`, and the merges.
pub(super) fn read_vocabulary(
    dir: &Path,
    path: &Path,
    tj: &Map<String, Json>,
    tc: Option<&Map<String, Json>>,
    vocab_size: usize,
    pre: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Vocabulary> {
    let pre = match pre {
        Some(p) => p.to_string(),
        None => detect_pre(path, tj)?.to_string(),
    };
    let (tokens, types) = build_vocab(dir, path, tj, tc, vocab_size, warnings)?;
    let merges = read_merges(path, tj)?;
    if merges.is_empty() {
        warnings.push(format!(
            "{}: no merges found; the GGUF may not tokenize",
            path.display()
        ));
    }
    Ok(Vocabulary {
        pre,
        tokens,
        types,
        merges,
    })
}

/// The token list and types of `get_vocab_base`, padded to `vocab_size`.
pub(super) fn build_vocab(
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

/// `model.merges` as gguf-py writes them: "a b" strings as they are; `["a", "b"]` pairs joined by a
/// space, a space inside a part becoming U+0120.
pub(super) fn read_merges(path: &Path, tj: &Map<String, Json>) -> Result<Vec<String>> {
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
