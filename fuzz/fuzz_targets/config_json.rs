//! `RawConfig::from_json` and the architecture's parse on arbitrary JSON, then the metadata for
//! both layouts on every config they accept. None may panic.
#![no_main]

use ds2gguf::arch::{ArchOptions, Layout, model_from_config};
use ds2gguf::checkpoint::config::RawConfig;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(model) =
        RawConfig::from_json(Path::new("config.json"), json).and_then(model_from_config)
    {
        for layout in [Layout::Mla, Layout::Legacy] {
            let _ = model.metadata(1, &ArchOptions {
            layout,
            ..Default::default()
        });
        }
    }
});
