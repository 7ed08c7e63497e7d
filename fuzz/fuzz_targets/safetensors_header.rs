//! `checkpoint::safetensors::parse_header` on arbitrary bytes.
//!
//! Input layout: the first 8 bytes (little-endian u64, zero-padded if shorter) give the
//! distance from the end of the header to the end of the file (the data-section length),
//! capped at 1 TiB; everything after them is the header JSON. `file_len` is then
//! `8 + header.len() + data_len`, as `read_header` would pass it. The parser must return
//! Ok or Err, never panic (including arithmetic overflow, checked in fuzz builds).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let (head, hdr) = data.split_at(data.len().min(8));
    let mut n8 = [0u8; 8];
    n8[..head.len()].copy_from_slice(head);
    let raw = u64::from_le_bytes(n8);
    // Mostly a plausible data length; a top bit set means "use the raw value as file_len"
    // so too-short and huge file lengths are also exercised.
    let file_len = if raw >> 63 == 1 {
        raw & !(1 << 63)
    } else {
        8 + hdr.len() as u64 + (raw % (1 << 40))
    };
    let _ = ds2gguf::checkpoint::safetensors::parse_header(hdr, file_len, Path::new("x"), 0);
});
