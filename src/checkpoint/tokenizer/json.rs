//! JSON helpers with Python's semantics (truthiness, `==`, `int`), typed accessors with errors
//! that name the file, and gguf-py's writer rules for keys (`put`, empty strings and arrays
//! never written).

use crate::gguf::{Array, Value};
use crate::{Error, Result};
use serde_json::{Map, Value as Json};
use std::path::Path;

/// A short description of a JSON value for error messages.
pub(super) fn describe(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("the boolean {b}"),
        Json::Number(n) => format!("the number {n}"),
        Json::String(s) => {
            let mut t: String = s.chars().take(40).collect();
            if t.len() < s.len() {
                t.push('…');
            }
            format!("the string {t:?}")
        }
        Json::Array(a) => format!("an array of {} elements", a.len()),
        Json::Object(_) => "an object".into(),
    }
}

pub(super) fn as_object<'a>(v: &'a Json, path: &Path, what: &str) -> Result<&'a Map<String, Json>> {
    v.as_object().ok_or_else(|| {
        Error::bad_file(
            path,
            format!("{what}: expected a JSON object, found {}", describe(v)),
        )
    })
}

pub(super) fn as_array<'a>(v: &'a Json, path: &Path, what: &str) -> Result<&'a Vec<Json>> {
    v.as_array().ok_or_else(|| {
        Error::bad_file(
            path,
            format!("{what}: expected a JSON array, found {}", describe(v)),
        )
    })
}

/// Python truthiness of a JSON value (`None`, `False`, `0`, `""`, `[]`, `{}` are false).
pub(super) fn truthy(v: Option<&Json>) -> bool {
    match v {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        Some(Json::String(s)) => !s.is_empty(),
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(o)) => !o.is_empty(),
    }
}

/// Python `==` between two optional JSON values (`None` is JSON null; numbers compare by value and
/// `True == 1`).
pub(super) fn py_eq(a: Option<&Json>, b: Option<&Json>) -> bool {
    let a = a.unwrap_or(&Json::Null);
    let b = b.unwrap_or(&Json::Null);
    let num = |v: &Json| match v {
        Json::Number(n) => n.as_f64(),
        Json::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A Python `int` (bools included, as `isinstance(True, int)` holds) from a JSON value.
pub(super) fn py_int(v: &Json) -> Option<i128> {
    match v {
        Json::Bool(b) => Some(*b as i128),
        Json::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

/// Sets `key` like gguf-py's writer: a key written twice keeps its first position and takes the
/// new value.
pub(super) fn put(kvs: &mut Vec<(String, Value)>, key: &str, value: Value) {
    if let Some(slot) = kvs.iter_mut().find(|(k, _)| k == key) {
        slot.1 = value;
    } else {
        kvs.push((key.to_string(), value));
    }
}

/// gguf-py's `add_string`: an empty string is not written.
pub(super) fn put_string(kvs: &mut Vec<(String, Value)>, key: &str, value: &str) {
    if !value.is_empty() {
        put(kvs, key, Value::String(value.to_string()));
    }
}

/// gguf-py's `add_array`: an empty array is not written.
pub(super) fn put_array(kvs: &mut Vec<(String, Value)>, key: &str, value: Array) {
    let empty = match &value {
        Array::U8(v) => v.is_empty(),
        Array::I32(v) => v.is_empty(),
        Array::U32(v) => v.is_empty(),
        Array::F32(v) => v.is_empty(),
        Array::Bool(v) => v.is_empty(),
        Array::String(v) => v.is_empty(),
        Array::Raw { count, .. } => *count == 0,
    };
    if !empty {
        put(kvs, key, Value::Array(value));
    }
}

/// The text of a `tokenizer_config.json` token entry: a string, or an AddedToken object's `content`.
pub(super) fn entry_content(v: Option<&Json>) -> Option<&str> {
    match v? {
        Json::String(s) => Some(s),
        Json::Object(o) => o.get("content")?.as_str(),
        _ => None,
    }
}

/// Reads a text file as Python's text mode does (UTF-8, universal newlines).
pub(super) fn read_text(path: &Path) -> Result<String> {
    let bytes = crate::fsutil::read_capped(path, crate::fsutil::JSON_MAX)?;
    let s = String::from_utf8(bytes).map_err(|e| {
        Error::bad_file(
            path,
            format!(
                "expected UTF-8 text, found invalid bytes at offset {}",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    Ok(if s.contains('\r') {
        s.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        s
    })
}
