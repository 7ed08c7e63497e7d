//! Reading GGUF v2/v3 headers, safely on hostile input.
//!
//! The reader parses the magic, version, metadata KV pairs and tensor infos, and checks
//! everything llama.cpp's `gguf.cpp` checks (and a little more) before trusting it:
//!
//! * every length and count is checked against the bytes actually left in the file
//!   *before* anything is allocated, so a 40-byte file cannot make the reader reserve
//!   gigabytes; strings are further capped at [`MAX_STRING_LEN`];
//! * all size arithmetic is checked, so hostile shapes cannot overflow;
//! * tensors must have a known [`GgmlType`], 1 to 4 dimensions, a row length that is a
//!   whole number of blocks, a unique name shorter than 64 bytes, an aligned offset and data
//!   that lies inside the file.
//!
//! Choices where the format leaves room: nested arrays (arrays whose element type is
//! `array`) are rejected, as llama.cpp rejects them; duplicate keys are rejected; string
//! *values* that are not valid UTF-8 are kept with U+FFFD replacements, while keys and tensor
//! names must be valid UTF-8; a zero-length dimension is accepted (as in ggml) but zero
//! dimensions (`n_dims = 0`) are not; arrays whose element type has no [`Array`] variant of
//! its own (`u16`, `i64`, ...) are returned as [`Array::Raw`].
//!
//! Every failure is an [`Error::BadFile`] saying what was expected, what was found and where
//! (byte offset, key or tensor). The reader never panics on any input.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::writer::TensorInfo;
use super::{Array, DEFAULT_ALIGNMENT, GGUF_MAGIC, GgmlType, Value, ValueType};
use crate::{Error, Result};

/// Longest string (key, value or tensor name) the reader accepts: 1 GiB (a string must also fit
/// in the file).
pub const MAX_STRING_LEN: u64 = 1 << 30;

/// How much of each metadata value a reader keeps in memory; the rest is read past, and the
/// value's full size recorded in [`GgufFile::cut`]. `inspect` keeps what it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes kept of a string value (cut at a character boundary).
    pub string_bytes: u64,
    /// Elements kept of an array value.
    pub array_elems: u64,
}

impl Limits {
    /// Everything is kept.
    pub const FULL: Limits = Limits {
        string_bytes: u64::MAX,
        array_elems: u64::MAX,
    };
}
/// `GGML_MAX_DIMS`: the most dimensions a tensor may have.
pub const MAX_DIMS: u32 = 4;
/// `GGML_MAX_NAME`: tensor names must be shorter than this many bytes.
pub const MAX_NAME_LEN: usize = 64;
/// The metadata key holding the data alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// Fewest bytes one KV pair can take: key length (8), value type (4), a one-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Fewest bytes one tensor info can take: name length (8), n_dims (4), one dimension (8),
/// type (4), offset (8).
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 8 + 4 + 8;

/// A parsed GGUF header.
#[derive(Clone, Debug, PartialEq)]
pub struct GgufFile {
    /// The file the header was read from (for in-memory parses, the name given).
    pub path: PathBuf,
    /// Container version: 2 or 3.
    pub version: u32,
    /// Metadata KV pairs in file order; keys are unique.
    pub kvs: Vec<(String, Value)>,
    /// Tensor infos in file order; `offset` is relative to [`GgufFile::data_offset`].
    pub tensors: Vec<TensorInfo>,
    /// Data alignment: `general.alignment`, or [`DEFAULT_ALIGNMENT`] when absent.
    pub alignment: u64,
    /// Absolute byte offset of the data section (end of the header, padded to `alignment`).
    pub data_offset: u64,
    /// Size of the file (or of the parsed buffer) in bytes.
    pub file_len: u64,
    /// Keys whose value was cut to the reader's [`Limits`], with the full size: bytes of a
    /// string, elements of an array.
    pub cut: Vec<(String, u64)>,
}

impl GgufFile {
    /// Opens `path` and reads its header (through a buffered reader; tensor data is not
    /// read), validating it as described in the [module documentation](self).
    pub fn open(path: &Path) -> Result<GgufFile> {
        GgufFile::open_with(path, Limits::FULL)
    }

    /// Like [`GgufFile::open`], keeping only as much of each value as `limits` says.
    pub fn open_with(path: &Path, limits: Limits) -> Result<GgufFile> {
        let (file, meta) = crate::fsutil::open_regular(path)?;
        let len = meta.len();
        parse_from(BufReader::with_capacity(1 << 16, file), len, path, limits)
    }

    /// The full size of `key`'s value when it was cut (bytes of a string, elements of an array).
    pub fn full_len(&self, key: &str) -> Option<u64> {
        self.cut.iter().find(|(k, _)| k == key).map(|(_, n)| *n)
    }

    /// Parses a header held in memory: `bytes` is the whole file (or a prefix of it, in which
    /// case tensors whose data lies past `bytes.len()` are reported as lying past the end).
    /// `file_len` is set to `bytes.len()`; `path` is only used in error messages and by
    /// [`GgufFile::read_tensor_bytes`].
    pub fn parse(bytes: &[u8], path: &Path) -> Result<GgufFile> {
        parse_from(bytes, bytes.len() as u64, path, Limits::FULL)
    }

    /// The value of metadata key `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.kvs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The absolute byte range `[start, end)` of tensor `i`'s data in the file.
    ///
    /// # Panics
    /// If `i >= self.tensors.len()`.
    pub fn tensor_data_range(&self, i: usize) -> (u64, u64) {
        let t = &self.tensors[i];
        let start = self.data_offset.saturating_add(t.offset);
        let len = tensor_nbytes(&t.ne, t.ty).unwrap_or(u64::MAX);
        (start, start.saturating_add(len))
    }

    /// Reads tensor `i`'s data from [`GgufFile::path`] (exactly its byte size, no padding).
    pub fn read_tensor_bytes(&self, i: usize) -> Result<Vec<u8>> {
        let Some(t) = self.tensors.get(i) else {
            return Err(Error::bad_file(
                &self.path,
                format!(
                    "no tensor #{i}: the file has {} tensors",
                    self.tensors.len()
                ),
            ));
        };
        let (start, end) = self.tensor_data_range(i);
        let n = usize::try_from(end - start).map_err(|_| {
            Error::bad_file(
                &self.path,
                format!(
                    "tensor '{}': {} bytes do not fit in memory",
                    t.name,
                    end - start
                ),
            )
        })?;
        let mut buf = alloc_zeroed(n).ok_or_else(|| {
            Error::bad_file(
                &self.path,
                format!(
                    "tensor '{}': cannot allocate {n} bytes for its data",
                    t.name
                ),
            )
        })?;
        let (mut f, _) = crate::fsutil::open_regular(&self.path)?;
        f.seek(SeekFrom::Start(start))
            .map_err(|e| Error::io(&self.path, e))?;
        f.read_exact(&mut buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Error::bad_file(
                    &self.path,
                    format!(
                        "tensor '{}': expected data at bytes {start}..{end}, but the file ends earlier \
                         (was it truncated after its header was read?)",
                        t.name
                    ),
                )
            } else {
                Error::io(&self.path, e)
            }
        })?;
        Ok(buf)
    }
}

/// The lower-case GGUF name of a value type (`u8`, `string`, `array`, ...).
pub fn value_type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::U8 => "u8",
        ValueType::I8 => "i8",
        ValueType::U16 => "u16",
        ValueType::I16 => "i16",
        ValueType::U32 => "u32",
        ValueType::I32 => "i32",
        ValueType::F32 => "f32",
        ValueType::Bool => "bool",
        ValueType::String => "string",
        ValueType::Array => "array",
        ValueType::U64 => "u64",
        ValueType::I64 => "i64",
        ValueType::F64 => "f64",
    }
}

/// Size in bytes of one element of a fixed-size value type, or the smallest possible
/// encoding (the 8-byte length) for strings. Arrays are never elements here.
fn min_elem_size(t: ValueType) -> u64 {
    match t {
        ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
        ValueType::U16 | ValueType::I16 => 2,
        ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
        ValueType::U64 | ValueType::I64 | ValueType::F64 | ValueType::String => 8,
        // 4-byte element type + 8-byte count
        ValueType::Array => 12,
    }
}

/// Bytes of data of a tensor with shape `ne` and type `ty`, computed exactly as
/// [`TensorInfo::n_bytes`] does but checked; `None` on overflow, an empty shape or a row
/// length that is not a whole number of blocks.
fn tensor_nbytes(ne: &[u64], ty: GgmlType) -> Option<u64> {
    let (&ne0, rest) = ne.split_first()?;
    let rows = rest.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
    ty.row_bytes(ne0)?.checked_mul(rows)
}

/// A zero-filled buffer of `n` bytes, or `None` if the allocator refuses.
fn alloc_zeroed(n: usize) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    v.resize(n, 0);
    Some(v)
}

/// Shows up to 16 bytes for an error message, escaping anything unprintable.
fn show_bytes(b: &[u8]) -> String {
    let shown: String = b
        .iter()
        .take(16)
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect();
    if b.len() > 16 {
        format!("\"{shown}\"...")
    } else {
        format!("\"{shown}\"")
    }
}

/// A position-tracking reader bounded by the known file length.
struct Rd<'p, R> {
    r: R,
    pos: u64,
    len: u64,
    path: &'p Path,
}

impl<R: Read> Rd<'_, R> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn bad(&self, msg: impl Into<String>) -> Error {
        Error::bad_file(self.path, msg)
    }

    /// Fails unless `n` more bytes exist.
    fn need(&self, n: u64, what: fmt::Arguments<'_>) -> Result<()> {
        if n > self.remaining() {
            return Err(self.bad(format!(
                "truncated header: expected {n} bytes of {what} at byte offset {}, but the file ends at byte {}",
                self.pos, self.len
            )));
        }
        Ok(())
    }

    fn fill(&mut self, buf: &mut [u8], what: fmt::Arguments<'_>) -> Result<()> {
        self.need(buf.len() as u64, what)?;
        match self.r.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(self.bad(format!(
                "truncated header: expected {} bytes of {what} at byte offset {}, but the data ended early \
                 (did the file shrink while being read?)",
                buf.len(),
                self.pos
            ))),
            Err(e) => Err(Error::io(self.path, e)),
        }
    }

    fn arr<const N: usize>(&mut self, what: fmt::Arguments<'_>) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.fill(&mut b, what)?;
        Ok(b)
    }

    fn u32(&mut self, what: fmt::Arguments<'_>) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }

    fn u64(&mut self, what: fmt::Arguments<'_>) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }

    /// `n` raw bytes; `n` is checked against the remaining file before allocating.
    fn bytes(&mut self, n: u64, what: fmt::Arguments<'_>) -> Result<Vec<u8>> {
        self.need(n, what)?;
        let n_usize = usize::try_from(n).map_err(|_| {
            self.bad(format!(
                "{what}: {n} bytes at byte offset {} do not fit in memory",
                self.pos
            ))
        })?;
        let mut buf = alloc_zeroed(n_usize).ok_or_else(|| {
            self.bad(format!(
                "{what}: cannot allocate {n} bytes (at byte offset {})",
                self.pos
            ))
        })?;
        self.fill(&mut buf, what)?;
        Ok(buf)
    }

    /// Reads past `n` bytes without keeping them.
    fn skip(&mut self, n: u64, what: fmt::Arguments<'_>) -> Result<()> {
        self.need(n, what)?;
        let got = io::copy(&mut (&mut self.r).take(n), &mut io::sink())
            .map_err(|e| Error::io(self.path, e))?;
        if got != n {
            return Err(self.bad(format!(
                "truncated header: expected {n} bytes of {what} at byte offset {}, but the data ended early",
                self.pos
            )));
        }
        self.pos += n;
        Ok(())
    }

    /// A GGUF string, keeping at most `keep` bytes; returns them and the full length.
    fn string_cut(&mut self, what: fmt::Arguments<'_>, keep: u64) -> Result<(Vec<u8>, u64)> {
        let at = self.pos;
        let n = self.u64(format_args!("the length of {what}"))?;
        if n > MAX_STRING_LEN {
            return Err(self.bad(format!(
                "{what}: string length {n} at byte offset {at} exceeds the limit of {MAX_STRING_LEN} bytes (1 GiB)"
            )));
        }
        if n > self.remaining() {
            return Err(self.bad(format!(
                "{what}: string length {n} at byte offset {at} runs past the end of the file \
                 (only {} bytes remain)",
                self.remaining()
            )));
        }
        let k = n.min(keep);
        let b = self.bytes(k, what)?;
        self.skip(n - k, what)?;
        Ok((b, n))
    }

    /// A GGUF string (u64 length + bytes), as raw bytes.
    fn string(&mut self, what: fmt::Arguments<'_>) -> Result<Vec<u8>> {
        Ok(self.string_cut(what, u64::MAX)?.0)
    }
}

/// Bytes to a `String`, replacing invalid UTF-8 sequences with U+FFFD.
fn lossy(v: Vec<u8>) -> String {
    String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Reads one value of type `vt` for key `key`.
///
/// String values that are not valid UTF-8 are kept with invalid sequences replaced by
/// U+FFFD (keys and tensor names must be valid UTF-8). Nested arrays (arrays whose element
/// type is `array`) are rejected, as llama.cpp rejects them.
fn read_value<R: Read>(
    rd: &mut Rd<'_, R>,
    vt: ValueType,
    key: &str,
    limits: Limits,
) -> Result<(Value, Option<u64>)> {
    let w = format_args!("the value of key '{key}'");
    let mut full = None;
    let v = match vt {
        ValueType::U8 => Value::U8(u8::from_le_bytes(rd.arr(w)?)),
        ValueType::I8 => Value::I8(i8::from_le_bytes(rd.arr(w)?)),
        ValueType::U16 => Value::U16(u16::from_le_bytes(rd.arr(w)?)),
        ValueType::I16 => Value::I16(i16::from_le_bytes(rd.arr(w)?)),
        ValueType::U32 => Value::U32(u32::from_le_bytes(rd.arr(w)?)),
        ValueType::I32 => Value::I32(i32::from_le_bytes(rd.arr(w)?)),
        ValueType::F32 => Value::F32(f32::from_le_bytes(rd.arr(w)?)),
        ValueType::Bool => Value::Bool(u8::from_le_bytes(rd.arr(w)?) != 0),
        ValueType::String => {
            let (b, n) = rd.string_cut(w, limits.string_bytes)?;
            if (b.len() as u64) < n {
                full = Some(n);
                Value::String(lossy_prefix(b))
            } else {
                Value::String(lossy(b))
            }
        }
        ValueType::U64 => Value::U64(u64::from_le_bytes(rd.arr(w)?)),
        ValueType::I64 => Value::I64(i64::from_le_bytes(rd.arr(w)?)),
        ValueType::F64 => Value::F64(f64::from_le_bytes(rd.arr(w)?)),
        ValueType::Array => {
            let at = rd.pos;
            let et_id = rd.u32(format_args!("the element type of array '{key}'"))?;
            let et = ValueType::from_id(et_id).ok_or_else(|| {
                rd.bad(format!(
                    "key '{key}': unknown array element type id {et_id} at byte offset {at} (expected 0 to 12)"
                ))
            })?;
            if et == ValueType::Array {
                return Err(rd.bad(format!(
                    "key '{key}': nested arrays (array of arrays, at byte offset {at}) are not supported"
                )));
            }
            let count_at = rd.pos;
            let count = rd.u64(format_args!("the element count of array '{key}'"))?;
            let min = min_elem_size(et);
            if count > rd.remaining() / min {
                return Err(rd.bad(format!(
                    "key '{key}': array of {count} {} elements (count at byte offset {count_at}) needs at least \
                     {} bytes, but only {} bytes remain in the file",
                    value_type_name(et),
                    count.saturating_mul(min),
                    rd.remaining()
                )));
            }
            let keep = count.min(limits.array_elems);
            if keep < count {
                full = Some(count);
            }
            let a = read_array(rd, et, keep, key)?;
            skip_array(rd, et, count - keep, key)?;
            Value::Array(a)
        }
    };
    Ok((v, full))
}

/// Reads past `count` elements of type `et`.
fn skip_array<R: Read>(rd: &mut Rd<'_, R>, et: ValueType, count: u64, key: &str) -> Result<()> {
    if et == ValueType::String {
        for j in 0..count {
            rd.string_cut(format_args!("element {j} of array '{key}'"), 0)?;
        }
        return Ok(());
    }
    rd.skip(
        count * min_elem_size(et),
        format_args!("the elements of array '{key}'"),
    )
}

/// A string from a prefix of a string's bytes: a character cut at the end is dropped, other
/// invalid sequences become U+FFFD.
fn lossy_prefix(mut v: Vec<u8>) -> String {
    if let Err(e) = std::str::from_utf8(&v)
        && e.error_len().is_none()
    {
        v.truncate(e.valid_up_to());
    }
    lossy(v)
}

/// Reads `count` elements of type `et` (already checked to fit in the remaining bytes).
fn read_array<R: Read>(rd: &mut Rd<'_, R>, et: ValueType, count: u64, key: &str) -> Result<Array> {
    if et == ValueType::String {
        // Grow as elements are actually read: the count alone does not justify 24 bytes
        // of `String` per 8 bytes of file.
        let mut v = Vec::with_capacity(count.min(4096) as usize);
        for j in 0..count {
            v.push(lossy(
                rd.string(format_args!("element {j} of array '{key}'"))?,
            ));
        }
        return Ok(Array::String(v));
    }
    // Fixed-size elements: count * size <= remaining, so this cannot overflow.
    let bytes = rd.bytes(
        count * min_elem_size(et),
        format_args!("the elements of array '{key}'"),
    )?;
    fn words<T>(b: &[u8], f: fn([u8; 4]) -> T) -> Vec<T> {
        b.chunks_exact(4)
            .map(|c| f([c[0], c[1], c[2], c[3]]))
            .collect()
    }
    Ok(match et {
        ValueType::U8 => Array::U8(bytes),
        ValueType::I32 => Array::I32(words(&bytes, i32::from_le_bytes)),
        ValueType::U32 => Array::U32(words(&bytes, u32::from_le_bytes)),
        ValueType::F32 => Array::F32(words(&bytes, f32::from_le_bytes)),
        ValueType::Bool => Array::Bool(bytes.iter().map(|&b| b != 0).collect()),
        _ => Array::Raw {
            elem: et,
            count,
            bytes,
        },
    })
}

/// Parses a header from `r`, whose underlying file is `len` bytes long.
fn parse_from<R: Read>(r: R, len: u64, path: &Path, limits: Limits) -> Result<GgufFile> {
    let mut rd = Rd {
        r,
        pos: 0,
        len,
        path,
    };
    let mut cut: Vec<(String, u64)> = Vec::new();

    if len < 4 {
        return Err(rd.bad(format!("not a GGUF file: expected at least the 4-byte magic \"GGUF\", but the file is {len} bytes long")));
    }
    let magic = rd.arr::<4>(format_args!("the magic"))?;
    if u32::from_le_bytes(magic) != GGUF_MAGIC {
        return Err(rd.bad(format!(
            "not a GGUF file: expected magic \"GGUF\" at byte offset 0, found {}",
            show_bytes(&magic)
        )));
    }
    let version = rd.u32(format_args!("the version"))?;
    match version {
        2 | 3 => {}
        1 => {
            return Err(rd.bad(
                "GGUF version 1 is not supported (expected version 2 or 3 at byte offset 4)",
            ));
        }
        v if matches!(v.swap_bytes(), 2 | 3) => {
            return Err(rd.bad(format!(
                "version field at byte offset 4 reads {v} (version {} byte-swapped): big-endian GGUF files are not supported",
                v.swap_bytes()
            )));
        }
        v => {
            return Err(rd.bad(format!(
                "unsupported GGUF version {v} at byte offset 4 (expected 2 or 3)"
            )));
        }
    }
    let n_tensors = rd.u64(format_args!("the tensor count"))?;
    let n_kv = rd.u64(format_args!("the KV count"))?;
    let rem = rd.remaining();
    if n_tensors > rem / MIN_TENSOR_INFO_BYTES {
        return Err(rd.bad(format!(
            "tensor count {n_tensors} at byte offset 8 is impossible: each tensor info takes at least \
             {MIN_TENSOR_INFO_BYTES} bytes and only {rem} bytes follow the header counts"
        )));
    }
    if n_kv > rem / MIN_KV_BYTES {
        return Err(rd.bad(format!(
            "KV count {n_kv} at byte offset 16 is impossible: each KV pair takes at least {MIN_KV_BYTES} bytes \
             and only {rem} bytes follow the header counts"
        )));
    }
    // Both fit individually, so these products cannot overflow; their sum is at most 2 * rem.
    if n_tensors * MIN_TENSOR_INFO_BYTES + n_kv * MIN_KV_BYTES > rem {
        return Err(rd.bad(format!(
            "{n_kv} KV pairs and {n_tensors} tensor infos need at least {} bytes, but only {rem} bytes follow \
             the header counts",
            n_tensors * MIN_TENSOR_INFO_BYTES + n_kv * MIN_KV_BYTES
        )));
    }

    // KV pairs. Capacities are capped: the counts are only bounded by the file size, and
    // each in-memory entry is larger than its smallest encoding.
    let mut kvs: Vec<(String, Value)> = Vec::with_capacity(n_kv.min(1024) as usize);
    let mut keys: HashSet<String> = HashSet::with_capacity(n_kv.min(1024) as usize);
    for i in 0..n_kv {
        let at = rd.pos;
        let key = rd.string(format_args!("the key of KV pair #{i}"))?;
        let key = String::from_utf8(key).map_err(|e| {
            rd.bad(format!(
                "the key of KV pair #{i} (at byte offset {at}) is not valid UTF-8: {}",
                show_bytes(e.as_bytes())
            ))
        })?;
        if !keys.insert(key.clone()) {
            return Err(rd.bad(format!(
                "duplicate key '{key}' (KV pair #{i} at byte offset {at})"
            )));
        }
        let ty_at = rd.pos;
        let ty = rd.u32(format_args!("the value type of key '{key}'"))?;
        let vt = ValueType::from_id(ty).ok_or_else(|| {
            rd.bad(format!(
                "key '{key}': unknown value type id {ty} at byte offset {ty_at} (expected 0 to 12)"
            ))
        })?;
        let (v, full) = read_value(&mut rd, vt, &key, limits)?;
        if let Some(n) = full {
            cut.push((key.clone(), n));
        }
        kvs.push((key, v));
    }

    let alignment = match kvs.iter().find(|(k, _)| k == ALIGNMENT_KEY).map(|(_, v)| v) {
        None => DEFAULT_ALIGNMENT,
        Some(Value::U32(a)) if a.is_power_of_two() => u64::from(*a),
        Some(Value::U32(a)) => {
            return Err(rd.bad(format!(
                "{ALIGNMENT_KEY} must be a non-zero power of two, found {a}"
            )));
        }
        Some(other) => {
            return Err(rd.bad(format!(
                "{ALIGNMENT_KEY} must be a u32, found a value of type {}",
                value_type_name(other.value_type())
            )));
        }
    };

    // Tensor infos, with the byte size and the position of the offset field of each.
    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(n_tensors.min(4096) as usize);
    let mut extra: Vec<(u64, u64)> = Vec::with_capacity(n_tensors.min(4096) as usize);
    let mut names: HashMap<String, u64> = HashMap::with_capacity(n_tensors.min(4096) as usize);
    for i in 0..n_tensors {
        let at = rd.pos;
        let name = rd.string(format_args!("the name of tensor #{i}"))?;
        let name = String::from_utf8(name).map_err(|e| {
            rd.bad(format!(
                "the name of tensor #{i} (at byte offset {at}) is not valid UTF-8: {}",
                show_bytes(e.as_bytes())
            ))
        })?;
        if name.len() >= MAX_NAME_LEN {
            return Err(rd.bad(format!(
                "tensor #{i} '{name}' (at byte offset {at}): name is {} bytes long, expected fewer than \
                 {MAX_NAME_LEN} (GGML_MAX_NAME)",
                name.len()
            )));
        }
        if let Some(j) = names.get(&name) {
            return Err(rd.bad(format!(
                "duplicate tensor name '{name}' (tensors #{j} and #{i}, the second at byte offset {at})"
            )));
        }
        names.insert(name.clone(), i);

        let dims_at = rd.pos;
        let n_dims = rd.u32(format_args!("the dimension count of tensor '{name}'"))?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(rd.bad(format!(
                "tensor '{name}': expected 1 to {MAX_DIMS} dimensions (GGML_MAX_DIMS), found {n_dims} \
                 at byte offset {dims_at}"
            )));
        }
        let mut ne = Vec::with_capacity(n_dims as usize);
        for d in 0..n_dims {
            let d_at = rd.pos;
            let v = rd.u64(format_args!("dimension {d} of tensor '{name}'"))?;
            if v > i64::MAX as u64 {
                return Err(rd.bad(format!(
                    "tensor '{name}': dimension {d} is {v} at byte offset {d_at}, which is negative as a ggml int64"
                )));
            }
            ne.push(v);
        }
        // Every partial product must fit in an int64, even when some dimension is zero.
        let fits = ne
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d.max(1)))
            .is_some_and(|n| n <= i64::MAX as u64);
        if !fits {
            return Err(rd.bad(format!(
                "tensor '{name}': shape {ne:?} has more elements than an int64 can count"
            )));
        }

        let ty_at = rd.pos;
        let ty_id = rd.u32(format_args!("the type of tensor '{name}'"))?;
        let ty = GgmlType::from_id(ty_id).ok_or_else(|| {
            rd.bad(format!(
                "tensor '{name}': unknown or unsupported ggml type id {ty_id} at byte offset {ty_at}"
            ))
        })?;
        if ne[0] % ty.block_size() != 0 {
            return Err(rd.bad(format!(
                "tensor '{name}': type {ty} needs a row length (ne[0]) that is a multiple of {}, found {}",
                ty.block_size(),
                ne[0]
            )));
        }
        let nbytes = tensor_nbytes(&ne, ty).ok_or_else(|| {
            rd.bad(format!(
                "tensor '{name}': the byte size of shape {ne:?} in type {ty} overflows 64 bits"
            ))
        })?;

        let off_at = rd.pos;
        let offset = rd.u64(format_args!("the data offset of tensor '{name}'"))?;
        if offset % alignment != 0 {
            return Err(rd.bad(format!(
                "tensor '{name}': data offset {offset} (at byte offset {off_at}) is not a multiple of the \
                 alignment {alignment}"
            )));
        }
        tensors.push(TensorInfo {
            name,
            ne,
            ty,
            offset,
        });
        extra.push((nbytes, off_at));
    }

    let header_end = rd.pos;
    let data_offset = header_end
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| {
            rd.bad(format!(
                "the header end {header_end} padded to {alignment} overflows 64 bits"
            ))
        })?;
    for (t, &(nbytes, off_at)) in tensors.iter().zip(&extra) {
        let start = data_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(nbytes));
        match end {
            Some(end) if end <= len => {}
            _ => {
                return Err(rd.bad(format!(
                    "tensor '{}': data ({nbytes} bytes at offset {} from the data section at byte {data_offset}, \
                     offset field at byte {off_at}) ends at byte {}, past the end of the file ({len} bytes)",
                    t.name,
                    t.offset,
                    end.map_or_else(|| "2^64 or more".to_string(), |e| e.to_string()),
                )));
            }
        }
    }

    Ok(GgufFile {
        cut,
        path: path.to_path_buf(),
        version,
        kvs,
        tensors,
        alignment,
        data_offset,
        file_len: len,
    })
}

#[cfg(test)]
mod tests;
