//! Tests of the tokenizer readers on tokenizer files the tests write.

use super::hf::*;
use super::pre::*;
use super::template::*;
use super::*;
use crate::gguf::{Array, Value};
use serde_json::json;
use std::fs;
use std::path::PathBuf;

/// Writes a kv list as JSON lines `[key, type, value]` (the lab's comparison format).
pub(super) fn dump(kvs: &[(String, Value)]) -> String {
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
pub(super) fn real_tokenizer_dir() {
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

pub(super) fn added(id: u64, content: &str, special: bool, normalized: bool) -> Json {
    json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
           "normalized": normalized, "special": special})
}

const BOS: &str = "<\u{ff5c}begin\u{2581}of\u{2581}sentence\u{ff5c}>";
const EOS: &str = "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>";

/// A small DeepSeek-V3-shaped tokenizer.json: BOS/EOS at 0/1, byte-level vocab 2..=7,
/// and the BOS TemplateProcessing post-processor of the published repos.
pub(super) fn base_tj() -> Json {
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

pub(super) fn base_tc() -> Json {
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

pub(super) fn base_config() -> Json {
    json!({"architectures": ["DeepseekV3ForCausalLM"], "bos_token_id": 0, "eos_token_id": 1, "vocab_size": 16})
}

/// Writes `files` (name, JSON or text) into a fresh directory.
pub(super) fn dir_with(files: &[(&str, Json)]) -> tempfile::TempDir {
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

pub(super) fn standard(tj: Json, tc: Json) -> tempfile::TempDir {
    dir_with(&[("tokenizer.json", tj), ("tokenizer_config.json", tc)])
}

pub(super) fn read(d: &tempfile::TempDir) -> Result<TokenizerMeta> {
    read_tokenizer(d.path(), &base_config(), 16, None)
}

pub(super) fn tokens(m: &TokenizerMeta) -> Vec<String> {
    match m.get(KEY_TOKENS) {
        Some(Value::Array(Array::String(t))) => t.clone(),
        other => panic!("no token list: {other:?}"),
    }
}

pub(super) fn types(m: &TokenizerMeta) -> Vec<i32> {
    match m.get("tokenizer.ggml.token_type") {
        Some(Value::Array(Array::I32(t))) => t.clone(),
        other => panic!("no token types: {other:?}"),
    }
}

pub(super) fn strings(m: &TokenizerMeta, key: &str) -> Vec<String> {
    match m.get(key) {
        Some(Value::Array(Array::String(t))) => t.clone(),
        other => panic!("{key}: {other:?}"),
    }
}

pub(super) fn keys(m: &TokenizerMeta) -> Vec<&str> {
    m.kvs.iter().map(|(k, _)| k.as_str()).collect()
}

pub(super) fn err_text(e: Error) -> String {
    e.to_string()
}

mod special_vocab;
mod vocabulary;

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
    // the file is written as a JSON string here, so its line is not "base64 rank"
    let e = err_text(read(&d).unwrap_err());
    assert!(e.contains("tiktoken.model") && e.contains("line 1"), "{e}");
    let d = dir_with(&[("tokenizer_config.json", base_tc())]);
    let e = err_text(read(&d).unwrap_err());
    assert!(e.contains("tiktoken.model"), "{e}");
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
        let e = check_chat_template(&m).unwrap_err().to_string();
        assert!(
            e.contains("tokenizer.chat_template") && (e.contains(what) || what == "syntax"),
            "{e}"
        );
    }
    // a runaway loop runs out of fuel, a huge rendering hits the size cap: errors, not hangs
    for (bad, what) in [
        (
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "fuel",
        ),
        (
            "{% for a in range(3000) %}{{ 'x' * 1000 }}{% endfor %}",
            "exceeds",
        ),
    ] {
        let mut tc = base_tc();
        tc["chat_template"] = json!(bad);
        let m = read(&standard(base_tj(), tc)).unwrap();
        let t0 = std::time::Instant::now();
        let e = check_chat_template(&m).unwrap_err().to_string();
        assert!(e.contains(what), "{e}");
        assert!(t0.elapsed().as_secs() < 20);
    }
    // no template at all is fine
    let mut tc = base_tc();
    tc.as_object_mut().unwrap().remove("chat_template");
    check_chat_template(&read(&standard(base_tj(), tc)).unwrap()).unwrap();
}
