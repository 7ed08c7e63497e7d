//! `ds2gguf inspect FILE.gguf [--json]`: what a GGUF file (or split set) contains.
//!
//! [`open_set`] reads the headers (never the tensor data) through the validating
//! [`GgufFile`] reader; [`render_text`] and [`render_json`] turn them into a report.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Number, json};

use crate::gguf::reader::{GgufFile, Limits, value_type_name};
use crate::gguf::{Array, SPLIT_COUNT, SPLIT_NO, SPLIT_TENSORS_COUNT, Value, ValueType};
use crate::util::human_bytes;
use crate::{Error, Result};

/// Strings longer than this many characters are truncated in the text report.
const TEXT_STRING_MAX: usize = 120;
/// String array elements are truncated to this many characters in the text report.
const TEXT_ELEM_STRING_MAX: usize = 40;
/// Array elements shown in the text report.
const TEXT_ARRAY_HEAD: usize = 8;
/// Arrays longer than this are summarised in the JSON report.
const JSON_ARRAY_MAX: usize = 64;
/// Elements kept in a summarised JSON array.
const JSON_ARRAY_HEAD: usize = 8;

/// What the text report needs of each value: the head of strings and arrays.
pub const TEXT_LIMITS: Limits = Limits {
    string_bytes: 4 * TEXT_STRING_MAX as u64 + 8,
    array_elems: TEXT_ARRAY_HEAD as u64,
};

/// What the JSON report needs: whole strings, and arrays up to the length it prints whole.
pub const JSON_LIMITS: Limits = Limits {
    string_bytes: u64::MAX,
    array_elems: JSON_ARRAY_MAX as u64,
};

/// The parts of a llama.cpp split-shard file name `PREFIX-00001-of-00003.gguf`.
struct SplitName {
    prefix: String,
    no: u64,
    count: u64,
    no_width: usize,
    count_str: String,
}

fn parse_split_name(path: &Path) -> Option<SplitName> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".gguf")?;
    let (left, count_str) = stem.rsplit_once("-of-")?;
    let (prefix, no_str) = left.rsplit_once('-')?;
    let digits = |s: &str| s.len() >= 5 && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit());
    if prefix.is_empty() || !digits(no_str) || !digits(count_str) {
        return None;
    }
    Some(SplitName {
        prefix: prefix.to_string(),
        no: no_str.parse().ok()?,
        count: count_str.parse().ok()?,
        no_width: no_str.len(),
        count_str: count_str.to_string(),
    })
}

/// A non-negative integer metadata value of any integer type.
fn as_u64(v: &Value) -> Option<u64> {
    match *v {
        Value::U8(x) => Some(x.into()),
        Value::U16(x) => Some(x.into()),
        Value::U32(x) => Some(x.into()),
        Value::U64(x) => Some(x),
        Value::I8(x) => u64::try_from(x).ok(),
        Value::I16(x) => u64::try_from(x).ok(),
        Value::I32(x) => u64::try_from(x).ok(),
        Value::I64(x) => u64::try_from(x).ok(),
        _ => None,
    }
}

/// Reads integer key `key` of `f`, failing with a message naming the key when it is absent
/// or not a non-negative integer.
fn split_int(f: &GgufFile, key: &str) -> Result<u64> {
    match f.get(key) {
        None => Err(Error::bad_file(
            &f.path,
            format!("split shard without the '{key}' key"),
        )),
        Some(v) => as_u64(v).ok_or_else(|| {
            Error::bad_file(
                &f.path,
                format!(
                    "'{key}' must be a non-negative integer, found {}",
                    text_value(v)
                ),
            )
        }),
    }
}

/// Opens a GGUF file, or the whole split set when given `NAME-00001-of-0000N.gguf` (all shards,
/// checked to be complete and consistent: split.count, split.no).
///
/// For a set, every shard `NAME-0000k-of-0000N.gguf` must exist next to the first (a missing
/// one is an error naming it), carry `split.count = N` and `split.no = k - 1` (0-based, as
/// llama.cpp's `gguf-split` writes it), agree on `split.tensors.count`, which must equal the
/// number of tensors in all shards together, and no tensor name may appear in two shards.
/// A later shard (`NAME-00002-of-0000N.gguf`) or any other file name opens that one file
/// alone. The shards are returned in order.
///
/// `limits` says how much of each value to keep: [`TEXT_LIMITS`] and [`JSON_LIMITS`] keep what
/// [`render_text`] and [`render_json`] print, so memory follows the report, not the file.
pub fn open_set(path: &Path, limits: Limits) -> Result<Vec<GgufFile>> {
    let Some(sn) = parse_split_name(path).filter(|s| s.no == 1) else {
        return Ok(vec![GgufFile::open_with(path, limits)?]);
    };
    if sn.count == 0 || sn.count > u16::MAX as u64 {
        return Err(Error::bad_file(
            path,
            format!(
                "split file name says the set has {} shards; a split set has 1 to 65535",
                sn.count
            ),
        ));
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    let paths: Vec<PathBuf> = (1..=sn.count)
        .map(|k| {
            dir.join(format!(
                "{}-{k:0w$}-of-{}.gguf",
                sn.prefix,
                sn.count_str,
                w = sn.no_width
            ))
        })
        .collect();
    // Report missing shards before spending time on the others.
    for (k, p) in paths.iter().enumerate() {
        match fs::metadata(p) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::bad_file(
                    p,
                    format!(
                        "split set incomplete: shard {} of {} is missing (set opened from {})",
                        k + 1,
                        sn.count,
                        path.display()
                    ),
                ));
            }
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    let files = paths
        .iter()
        .map(|p| GgufFile::open_with(p, limits))
        .collect::<Result<Vec<_>>>()?;

    let mut total_tensors = 0u64;
    let mut expected_tensors: Option<(u64, &Path)> = None;
    let mut seen: std::collections::HashMap<&str, &Path> = std::collections::HashMap::new();
    for (k, f) in files.iter().enumerate() {
        let count = split_int(f, SPLIT_COUNT)?;
        if count != sn.count {
            return Err(Error::bad_file(
                &f.path,
                format!(
                    "expected {SPLIT_COUNT} = {} (from the file names), found {count}",
                    sn.count
                ),
            ));
        }
        let no = split_int(f, SPLIT_NO)?;
        if no != k as u64 {
            return Err(Error::bad_file(
                &f.path,
                format!(
                    "expected {SPLIT_NO} = {k} for shard {} of {}, found {no}",
                    k + 1,
                    sn.count
                ),
            ));
        }
        let tc = split_int(f, SPLIT_TENSORS_COUNT)?;
        match expected_tensors {
            None => expected_tensors = Some((tc, &f.path)),
            Some((first, first_path)) if first != tc => {
                return Err(Error::bad_file(
                    &f.path,
                    format!(
                        "{SPLIT_TENSORS_COUNT} is {tc}, but {} says {first}",
                        first_path.display()
                    ),
                ));
            }
            Some(_) => {}
        }
        for t in &f.tensors {
            if let Some(other) = seen.insert(t.name.as_str(), &f.path) {
                return Err(Error::bad_file(
                    &f.path,
                    format!("tensor '{}' also appears in {}", t.name, other.display()),
                ));
            }
        }
        total_tensors += f.tensors.len() as u64;
    }
    if let Some((tc, _)) = expected_tensors
        && tc != total_tensors
    {
        return Err(Error::bad_file(
            path,
            format!(
                "{SPLIT_TENSORS_COUNT} = {tc}, but the {} shards hold {total_tensors} tensors together",
                sn.count
            ),
        ));
    }
    Ok(files)
}

/// Element `j` of `a` as a scalar [`Value`] (`None` past the end or for a malformed raw array).
fn array_elem(a: &Array, j: usize) -> Option<Value> {
    Some(match a {
        Array::U8(v) => Value::U8(*v.get(j)?),
        Array::I32(v) => Value::I32(*v.get(j)?),
        Array::U32(v) => Value::U32(*v.get(j)?),
        Array::F32(v) => Value::F32(*v.get(j)?),
        Array::Bool(v) => Value::Bool(*v.get(j)?),
        Array::String(v) => Value::String(v.get(j)?.clone()),
        Array::Raw { elem, count, bytes } => {
            if j as u64 >= *count {
                return None;
            }
            let size = match elem {
                ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
                ValueType::U16 | ValueType::I16 => 2,
                ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
                ValueType::U64 | ValueType::I64 | ValueType::F64 => 8,
                ValueType::String | ValueType::Array => return None,
            };
            let b = bytes.get(j.checked_mul(size)?..j.checked_mul(size)?.checked_add(size)?)?;
            let mut w = [0u8; 8];
            w[..size].copy_from_slice(b);
            let (b1, b2, b4) = ([w[0]], [w[0], w[1]], [w[0], w[1], w[2], w[3]]);
            match elem {
                ValueType::U8 => Value::U8(b1[0]),
                ValueType::I8 => Value::I8(i8::from_le_bytes(b1)),
                ValueType::Bool => Value::Bool(b1[0] != 0),
                ValueType::U16 => Value::U16(u16::from_le_bytes(b2)),
                ValueType::I16 => Value::I16(i16::from_le_bytes(b2)),
                ValueType::U32 => Value::U32(u32::from_le_bytes(b4)),
                ValueType::I32 => Value::I32(i32::from_le_bytes(b4)),
                ValueType::F32 => Value::F32(f32::from_le_bytes(b4)),
                ValueType::U64 => Value::U64(u64::from_le_bytes(w)),
                ValueType::I64 => Value::I64(i64::from_le_bytes(w)),
                ValueType::F64 => Value::F64(f64::from_le_bytes(w)),
                ValueType::String | ValueType::Array => return None,
            }
        }
    })
}

/// `s` quoted and escaped, truncated to `max` characters (then followed by `…` and the
/// full length in bytes, `full` when the string was cut on reading).
fn quote(s: &str, max: usize, full: Option<u64>) -> String {
    let mut out = String::with_capacity(s.len().min(max * 2) + 2);
    out.push('"');
    for (n, c) in s.chars().enumerate() {
        if n == max {
            let _ = write!(out, "\"… ({} bytes)", full.unwrap_or(s.len() as u64));
            return out;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    if let Some(n) = full {
        let _ = write!(out, "… ({n} bytes)");
    }
    out
}

/// A key or tensor name for the text report: control characters and bidirectional overrides
/// escaped, so a hostile name cannot rewrite the terminal or hide text.
fn plain(s: &str) -> std::borrow::Cow<'_, str> {
    let bad =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// One value for the text report.
fn text_value(v: &Value) -> String {
    text_value_max(v, TEXT_STRING_MAX, None)
}

/// One value for the text report; `full` is its size when the reader cut it.
fn text_value_max(v: &Value, max: usize, full: Option<u64>) -> String {
    match v {
        Value::U8(x) => x.to_string(),
        Value::I8(x) => x.to_string(),
        Value::U16(x) => x.to_string(),
        Value::I16(x) => x.to_string(),
        Value::U32(x) => x.to_string(),
        Value::I32(x) => x.to_string(),
        Value::U64(x) => x.to_string(),
        Value::I64(x) => x.to_string(),
        Value::F32(x) => format!("{x:?}"),
        Value::F64(x) => format!("{x:?}"),
        Value::Bool(x) => x.to_string(),
        Value::String(s) => quote(s, max, full),
        Value::Array(a) => {
            let len = full.unwrap_or(a.len());
            let mut out = format!("[{}; {}]", value_type_name(a.elem_type()), len);
            let shown = a.len().min(TEXT_ARRAY_HEAD as u64) as usize;
            for j in 0..shown {
                out.push_str(if j == 0 { " " } else { ", " });
                match array_elem(a, j) {
                    Some(e) => out.push_str(&text_value_max(&e, TEXT_ELEM_STRING_MAX, None)),
                    None => out.push('?'),
                }
            }
            if len > shown as u64 {
                out.push_str(", …");
            }
            out
        }
    }
}

/// A float as JSON: its shortest decimal form, or a string for NaN and infinities.
fn json_float(shortest: String, x: f64) -> serde_json::Value {
    if !x.is_finite() {
        return serde_json::Value::String(shortest);
    }
    let parsed = shortest.parse::<f64>().unwrap_or(x);
    Number::from_f64(parsed).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// One value for the JSON report (arrays longer than 64 elements summarised); `full` is its
/// size when the reader cut it.
fn json_value(v: &Value, full: Option<u64>) -> serde_json::Value {
    match v {
        Value::U8(x) => json!(x),
        Value::I8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::I16(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::I32(x) => json!(x),
        Value::U64(x) => json!(x),
        Value::I64(x) => json!(x),
        Value::F32(x) => json_float(format!("{x:?}"), f64::from(*x)),
        Value::F64(x) => json_float(format!("{x:?}"), *x),
        Value::Bool(x) => json!(x),
        Value::String(s) => json!(s),
        Value::Array(a) => {
            let elems = |n: usize| -> Vec<serde_json::Value> {
                (0..n)
                    .map(|j| {
                        array_elem(a, j).map_or(serde_json::Value::Null, |e| json_value(&e, None))
                    })
                    .collect()
            };
            let len = full.unwrap_or(a.len());
            if len > JSON_ARRAY_MAX as u64 {
                json!({
                    "type": value_type_name(a.elem_type()),
                    "len": len,
                    "head": elems(JSON_ARRAY_HEAD),
                })
            } else {
                serde_json::Value::Array(elems(a.len() as usize))
            }
        }
    }
}

fn shape_text(ne: &[u64]) -> String {
    let dims: Vec<String> = ne.iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// What the architecture that writes `f`'s `general.architecture` says about it (nothing for
/// an architecture ds2gguf does not know, or a file without metadata).
fn model_facts(f: &GgufFile) -> Vec<crate::arch::Fact> {
    let arch = match f.get("general.architecture") {
        Some(Value::String(a)) => a,
        _ => return Vec::new(),
    };
    match crate::arch::registration_for(arch) {
        Some(r) => (r.describe)(&f.kvs),
        None => Vec::new(),
    }
}

/// Human-readable report: header (version, tensor/KV counts, alignment, data offset, file
/// size) per file, every KV (strings shown quoted and truncated past ~120 chars; arrays
/// summarised as `[type; N] first few…`), then a tensor table (name, type, shape in ggml
/// order, absolute offset, byte size) and a total; for several files, a total over the set.
pub fn render_text(files: &[GgufFile]) -> String {
    let mut out = String::new();
    let mut set_tensors = 0u64;
    let mut set_bytes = 0u64;
    let mut set_elems = 0u64;
    for (fi, f) in files.iter().enumerate() {
        if fi > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "file: {}", f.path.display());
        let _ = writeln!(
            out,
            "  GGUF version {}, {} tensors, {} KV pairs, alignment {}, data offset {}, file size {} ({})",
            f.version,
            f.tensors.len(),
            f.kvs.len(),
            f.alignment,
            f.data_offset,
            f.file_len,
            human_bytes(f.file_len)
        );

        let facts = model_facts(f);
        if !facts.is_empty() {
            let text: Vec<String> = facts
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => format!("{k} {s}"),
                    None => format!("{k} {v}"),
                })
                .collect();
            let _ = writeln!(out, "  model: {}", text.join(", "));
        }

        let _ = writeln!(out, "\nmetadata ({}):", f.kvs.len());
        let kw = f
            .kvs
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        for (k, v) in &f.kvs {
            let _ = writeln!(
                out,
                "  {:<kw$} = {}",
                plain(k),
                text_value_max(v, TEXT_STRING_MAX, f.full_len(k))
            );
        }

        let _ = writeln!(out, "\ntensors ({}):", f.tensors.len());
        let rows: Vec<[String; 5]> = (0..f.tensors.len())
            .map(|i| {
                let t = &f.tensors[i];
                let (start, end) = f.tensor_data_range(i);
                [
                    plain(&t.name).into_owned(),
                    t.ty.name().to_string(),
                    shape_text(&t.ne),
                    start.to_string(),
                    (end - start).to_string(),
                ]
            })
            .collect();
        let head = ["name", "type", "shape", "offset", "size"];
        let mut w = head.map(str::len);
        for r in &rows {
            for (c, cell) in r.iter().enumerate() {
                w[c] = w[c].max(cell.chars().count());
            }
        }
        let _ = writeln!(
            out,
            "  {:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {:>w4$}",
            head[0],
            head[1],
            head[2],
            head[3],
            head[4],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4]
        );
        for r in &rows {
            let _ = writeln!(
                out,
                "  {:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {:>w4$}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3],
                w4 = w[4]
            );
        }
        let bytes: u64 = (0..f.tensors.len())
            .map(|i| {
                let (s, e) = f.tensor_data_range(i);
                e - s
            })
            .fold(0u64, u64::saturating_add);
        let elems: u64 = f
            .tensors
            .iter()
            .map(|t| t.n_elements())
            .fold(0u64, u64::saturating_add);
        let _ = writeln!(
            out,
            "  total: {} tensors, {elems} elements, {bytes} bytes ({})",
            f.tensors.len(),
            human_bytes(bytes)
        );
        set_tensors += f.tensors.len() as u64;
        set_bytes = set_bytes.saturating_add(bytes);
        set_elems = set_elems.saturating_add(elems);
    }
    if files.len() > 1 {
        let _ = writeln!(
            out,
            "\nset total: {} files, {set_tensors} tensors, {set_elems} elements, {set_bytes} bytes ({})",
            files.len(),
            human_bytes(set_bytes)
        );
    }
    out
}

/// The same as JSON: `{"files":[{"path","version","alignment","data_offset","file_size",
/// "metadata":{key: value, or for arrays longer than 64 elements {"type","len","head":[first 8]}},
/// "tensors":[{"name","type","shape","offset","size"}]}]}`. Shapes are in ggml order, offsets
/// absolute in the file, sizes in bytes; NaN and infinite floats are given as strings.
pub fn render_json(files: &[GgufFile]) -> serde_json::Value {
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            let mut md = Map::new();
            for (k, v) in &f.kvs {
                md.insert(k.clone(), json_value(v, f.full_len(k)));
            }
            let tensors: Vec<serde_json::Value> = (0..f.tensors.len())
                .map(|i| {
                    let t = &f.tensors[i];
                    let (start, end) = f.tensor_data_range(i);
                    json!({
                        "name": t.name,
                        "type": t.ty.name(),
                        "shape": t.ne,
                        "offset": start,
                        "size": end - start,
                    })
                })
                .collect();
            json!({
                "path": f.path.display().to_string(),
                "version": f.version,
                "alignment": f.alignment,
                "data_offset": f.data_offset,
                "file_size": f.file_len,
                "metadata": md,
                "tensors": tensors,
                "model": model_facts(f).into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>(),
            })
        })
        .collect();
    json!({ "files": files })
}

#[cfg(test)]
mod tests;
