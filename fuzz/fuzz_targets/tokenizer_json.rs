//! `checkpoint::tokenizer::read_tokenizer` on an arbitrary `tokenizer.json`, then
//! `check_chat_template` on every result it accepts. Neither may panic.
//!
//! `tokenizer.rs` has no parse-from-bytes entry point (it reads files from a checkpoint
//! directory), so the input is written to `tokenizer.json` in a per-process temp directory
//! (created once, reused) that also holds a fixed small `tokenizer_config.json`.
//! Input layout: the first 2 bytes (little-endian u16) are `vocab_size`, the rest is
//! `tokenizer.json`.
#![no_main]

use ds2gguf::checkpoint::tokenizer::{check_chat_template, read_tokenizer};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

const TOKENIZER_CONFIG: &str = r#"{
  "add_bos_token": true,
  "add_eos_token": false,
  "bos_token": {"__type": "AddedToken", "content": "<｜begin▁of▁sentence｜>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
  "eos_token": {"__type": "AddedToken", "content": "<｜end▁of▁sentence｜>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
  "pad_token": "<｜end▁of▁sentence｜>",
  "unk_token": null,
  "legacy": true,
  "model_max_length": 131072,
  "tokenizer_class": "LlamaTokenizerFast",
  "chat_template": "{% for m in messages %}{% if m['role'] == 'user' %}<｜User｜>{{ m['content'] }}{% elif m['role'] == 'assistant' %}<｜Assistant｜>{{ m['content'] }}<｜end▁of▁sentence｜>{% else %}{{ m['content'] }}{% endif %}{% endfor %}{% if add_generation_prompt %}<｜Assistant｜>{% endif %}"
}"#;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let d = base.join(format!("ds2gguf-fuzz-tokenizer-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create fuzz temp dir");
        std::fs::write(d.join("tokenizer_config.json"), TOKENIZER_CONFIG).expect("write tokenizer_config.json");
        d
    })
}

fn config() -> &'static serde_json::Value {
    static CONFIG: OnceLock<serde_json::Value> = OnceLock::new();
    CONFIG.get_or_init(|| {
        serde_json::json!({
            "architectures": ["DeepseekV3ForCausalLM"],
            "model_type": "deepseek_v3",
            "bos_token_id": 0,
            "eos_token_id": 1,
            "vocab_size": 512
        })
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let vocab_size = u32::from(u16::from_le_bytes([data[0], data[1]]));
    let dir = dir();
    std::fs::write(dir.join("tokenizer.json"), &data[2..]).expect("write tokenizer.json");
    if let Ok(meta) = read_tokenizer(dir, config(), vocab_size, None) {
        let _ = check_chat_template(&meta);
    }
});
