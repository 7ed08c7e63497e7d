//! Special token ids, add_* flags and chat templates.

use super::*;
use serde_json::json;

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
