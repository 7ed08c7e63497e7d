//! gguf-py's `SpecialVocab`: special token ids, `add_*_token` flags, chat templates and
//! normalizer flags, from `tokenizer.json` (when there is one), `tokenizer_config.json`, the chat
//! template files and `config.json`, with its quirks (the crude TemplateProcessing reading, the
//! first id found wins, `tokenizer_config.json` before `config.json`).

use super::json::{
    as_array, as_object, describe, entry_content, put, put_array, put_string, py_eq, py_int,
    read_text, truthy,
};
use crate::fsutil::is_present_file;
use crate::gguf::{Array, Value};
use crate::{Error, Result};
use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};

/// A chat template as SpecialVocab holds it: one string, or a list of named templates.
pub(super) enum ChatTemplate {
    One(String),
    Named(Vec<Json>),
}

pub(super) struct SpecialVocab {
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

pub(super) fn set_add(add: &mut Vec<(String, bool)>, typ: &str, v: bool) {
    match add.iter_mut().find(|(t, _)| t == typ) {
        Some(slot) => slot.1 = v,
        None => add.push((typ.to_string(), v)),
    }
}

pub(super) fn setdefault_add(add: &mut Vec<(String, bool)>, typ: &str, v: bool) {
    if !add.iter().any(|(t, _)| t == typ) {
        add.push((typ.to_string(), v));
    }
}

/// `elem.get(key, {}).get('id')` on a template element, with Python's failure modes as errors.
pub(super) fn template_id<'a>(
    elem: &'a Json,
    key: &str,
    path: &Path,
    what: &str,
) -> Result<Option<&'a Json>> {
    let o = as_object(elem, path, what)?;
    match o.get(key) {
        None => Ok(None),
        Some(inner) => Ok(as_object(inner, path, &format!("{what}.{key}"))?.get("id")),
    }
}

impl SpecialVocab {
    /// Loads what gguf-py's `SpecialVocab` would, from `tj` (tokenizer.json and its path, when
    /// the checkpoint has one), `tc` (tokenizer_config.json) and `config` (config.json).
    pub(super) fn load<'a>(
        dir: &Path,
        tj: Option<(&'a Path, &'a Map<String, Json>)>,
        tc: Option<Map<String, Json>>,
        tc_path: &Path,
        config: &Map<String, Json>,
        warnings: &mut Vec<String>,
    ) -> Result<SpecialVocab> {
        let mut sv = SpecialVocab {
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

        static NO_TOKENIZER_JSON: std::sync::LazyLock<Map<String, Json>> =
            std::sync::LazyLock::new(Map::new);
        let (tj_path, tj): (&Path, &Map<String, Json>) = match tj {
            Some(t) => t,
            None => (Path::new("tokenizer.json"), &NO_TOKENIZER_JSON),
        };

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
        if is_present_file(&jinja)? {
            let text = read_text(&jinja)?;
            let extra_dir = dir.join("additional_chat_templates");
            let mut extra: Vec<PathBuf> = match std::fs::read_dir(&extra_dir) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "jinja") && !p.is_dir())
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
        } else if is_present_file(&json_file)? {
            let v = crate::checkpoint::read_json(&json_file)?;
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

    /// `add_to_gguf`, in its order (the merges are the vocabulary's, written with it).
    pub(super) fn add_to(
        &self,
        kvs: &mut Vec<(String, Value)>,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
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
