//! The token list, types and merges.

use super::*;
use serde_json::json;

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
