//! `generation_config.json` → `general.sampling.*`, as gguf-py's `Metadata` reads it.

use super::json::{as_object, describe, py_int, truthy};
use crate::gguf::Value;
use crate::{Error, Result};
use serde_json::Value as Json;
use std::path::Path;

/// gguf-py's `Metadata` reading of `generation_config.json`, in its write order.
pub(super) fn read_sampling(
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, Value)>> {
    let path = dir.join("generation_config.json");
    if !crate::fsutil::is_present_file(&path)? {
        return Ok(Vec::new());
    }
    // The converter silently ignores a generation_config.json it cannot read or parse.
    let gc = match crate::fsutil::read_capped(&path, crate::fsutil::JSON_MAX)
        .ok()
        .and_then(|b| serde_json::from_slice::<Json>(&b).ok())
    {
        Some(v) => v,
        None => {
            warnings.push(format!(
                "{}: not readable JSON; ignored, as llama.cpp's converter does",
                path.display()
            ));
            return Ok(Vec::new());
        }
    };
    if !truthy(Some(&gc)) {
        return Ok(Vec::new());
    }
    let gc = as_object(&gc, &path, "the top level")?;

    #[derive(Clone, Copy)]
    enum Kind {
        Str,
        I32,
        F32,
    }
    let fields: [(&str, &str, Kind); 12] = [
        ("sequence", "general.sampling.sequence", Kind::Str),
        ("top_k", "general.sampling.top_k", Kind::I32),
        ("top_p", "general.sampling.top_p", Kind::F32),
        ("min_p", "general.sampling.min_p", Kind::F32),
        (
            "xtc_probability",
            "general.sampling.xtc_probability",
            Kind::F32,
        ),
        ("xtc_threshold", "general.sampling.xtc_threshold", Kind::F32),
        ("temperature", "general.sampling.temp", Kind::F32),
        (
            "penalty_last_n",
            "general.sampling.penalty_last_n",
            Kind::I32,
        ),
        (
            "penalty_repeat",
            "general.sampling.penalty_repeat",
            Kind::F32,
        ),
        ("mirostat", "general.sampling.mirostat", Kind::I32),
        ("mirostat_tau", "general.sampling.mirostat_tau", Kind::F32),
        ("mirostat_eta", "general.sampling.mirostat_eta", Kind::F32),
    ];
    let mut out = Vec::new();
    for (src, key, kind) in fields {
        let v = if src == "penalty_repeat" && !gc.contains_key(src) {
            gc.get("repetition_penalty")
        } else {
            gc.get(src)
        };
        let src = if src == "penalty_repeat" && !gc.contains_key(src) {
            "repetition_penalty"
        } else {
            src
        };
        let Some(v) = v.filter(|v| !v.is_null()) else {
            continue;
        };
        let bad = |want: &str| {
            Error::bad_file(
                &path,
                format!("\"{src}\": expected {want}, found {}", describe(v)),
            )
        };
        let value = match kind {
            Kind::Str => match v {
                Json::String(s) if s.is_empty() => continue,
                Json::String(s) => Value::String(s.clone()),
                _ => return Err(bad("a string")),
            },
            Kind::I32 => match py_int(v).map(i32::try_from) {
                Some(Ok(i)) => Value::I32(i),
                _ => return Err(bad("an integer that fits in 32 bits")),
            },
            Kind::F32 => match v {
                Json::Number(n) => match n.as_f64() {
                    Some(x) => Value::F32(x as f32),
                    None => return Err(bad("a number")),
                },
                Json::Bool(b) => Value::F32(if *b { 1.0 } else { 0.0 }),
                _ => return Err(bad("a number")),
            },
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}
