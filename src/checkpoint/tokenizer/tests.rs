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
    let e = err_text(read_tokenizer(d.path(), &json!({"unk_token_id": -1}), 16, None).unwrap_err());
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
