//! `gguf::reader::GgufFile::parse` on arbitrary bytes (the whole "file"), then
//! `inspect::render_text` and `inspect::render_json` on every header it accepts.
//! None of them may panic; the reader must not allocate beyond what the input justifies.
#![no_main]

use ds2gguf::gguf::reader::GgufFile;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = GgufFile::parse(data, Path::new("x.gguf")) {
        let files = [file];
        let _ = ds2gguf::inspect::render_text(&files);
        let _ = ds2gguf::inspect::render_json(&files);
    }
});
