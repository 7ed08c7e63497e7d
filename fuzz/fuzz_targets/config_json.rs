//! `checkpoint::config::ModelConfig::from_json` on arbitrary JSON, then `arch_kvs` for both
//! layouts on every config it accepts. Neither may panic.
#![no_main]

use ds2gguf::arch::deepseek2::{Layout, arch_kvs};
use ds2gguf::checkpoint::config::ModelConfig;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(cfg) = ModelConfig::from_json(Path::new("config.json"), json) {
        let _ = arch_kvs(&cfg, 1, Layout::Mla);
        let _ = arch_kvs(&cfg, 1, Layout::Legacy);
    }
});
