//! Inputs that made a parser panic, found with the fuzz targets in `fuzz/` (see fuzz/README.md).
//! Each test feeds the minimised input to the same function as its fuzz target and only asserts
//! that it returns (Ok or Err) instead of panicking. Test builds keep overflow checks on, so an
//! unchecked `a + b` that overflows is a panic here, as in the fuzz build.

use ds2gguf::arch::{ArchOptions, Layout, model_from_config};
use ds2gguf::checkpoint::config::RawConfig;
use ds2gguf::checkpoint::safetensors::parse_header;
use std::path::Path;

/// The `safetensors_header` fuzz target's input layout: an 8-byte little-endian data length,
/// then the header JSON; `file_len` is 8 + header + data length.
fn safetensors_header(input: &[u8]) {
    let (head, hdr) = input.split_at(8);
    let data_len = u64::from_le_bytes(head.try_into().unwrap());
    let file_len = 8 + hdr.len() as u64 + data_len;
    let _ = parse_header(hdr, file_len, Path::new("x"), 0);
}

/// The `config_json` fuzz target: `from_json` and the architecture's parse, then its metadata
/// for `layout` when they are Ok.
fn config_json(input: &[u8], layout: Layout) {
    let json: serde_json::Value = serde_json::from_slice(input).unwrap();
    if let Ok(model) =
        RawConfig::from_json(Path::new("config.json"), json).and_then(model_from_config)
    {
        let _ = model.metadata(
            1,
            &ArchOptions {
                layout,
                ..Default::default()
            },
        );
    }
}

/// A tensor whose data_offsets begin near u64::MAX (unknown dtype, so no size check applies):
/// `data_start + b` in `parse_header` overflowed ("attempt to add with overflow").
#[test]
fn safetensors_data_offsets_near_u64_max() {
    let mut input = 0u64.to_le_bytes().to_vec();
    input.extend_from_slice(
        br#"{"a":{"dtype":"X","shape":[],"data_offsets":[18446744073709551615,18446744073709551615]}}"#,
    );
    safetensors_header(&input);
}

/// Same overflow with a known dtype whose size check passes (U8 × [1], one byte).
#[test]
fn safetensors_data_offsets_near_u64_max_known_dtype() {
    let mut input = 0u64.to_le_bytes().to_vec();
    input.extend_from_slice(
        br#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}}"#,
    );
    safetensors_header(&input);
}

const MIN_CONFIG: &str = r#""architectures":["DeepseekV3ForCausalLM"],"num_hidden_layers":1,"num_attention_heads":1,"intermediate_size":1,"hidden_size":1,"vocab_size":1,"qk_rope_head_dim":1,"v_head_dim":1"#;

/// kv_lora_rank = u64::MAX: `cfg.kv_lora_rank + cfg.qk_rope` (attention.key_length, MLA layout)
/// in `arch_kvs` overflowed.
#[test]
fn config_kv_lora_rank_u64_max_mla() {
    let input =
        format!(r#"{{{MIN_CONFIG},"qk_nope_head_dim":1,"kv_lora_rank":18446744073709551615}}"#);
    config_json(input.as_bytes(), Layout::Mla);
}

/// The same config through the legacy layout (must keep working once the MLA path is fixed).
#[test]
fn config_kv_lora_rank_u64_max_legacy() {
    let input =
        format!(r#"{{{MIN_CONFIG},"qk_nope_head_dim":1,"kv_lora_rank":18446744073709551615}}"#);
    config_json(input.as_bytes(), Layout::Legacy);
}

/// qk_nope_head_dim = u64::MAX: `cfg.qk_nope + cfg.qk_rope` (attention.key_length_mla) in
/// `arch_kvs` overflowed.
#[test]
fn config_qk_nope_head_dim_u64_max_mla() {
    let input = format!(r#"{{{MIN_CONFIG},"qk_nope_head_dim":18446744073709551615}}"#);
    config_json(input.as_bytes(), Layout::Mla);
}

/// qk_nope_head_dim = u64::MAX, legacy layout: `cfg.qk_nope + cfg.qk_rope`
/// (attention.key_length) in `arch_kvs` overflowed.
#[test]
fn config_qk_nope_head_dim_u64_max_legacy() {
    let input = format!(r#"{{{MIN_CONFIG},"qk_nope_head_dim":18446744073709551615}}"#);
    config_json(input.as_bytes(), Layout::Legacy);
}
