//! Safetensors shards: header parsing with full validation, the shard index, and positioned
//! reads of tensor bytes. No file is mapped: data is read with `pread` into caller buffers.

use crate::fsutil::FileId;
use crate::{Error, Result};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Largest header ds2gguf accepts (the safetensors format's own limit).
pub const MAX_HEADER_LEN: u64 = 100 * 1024 * 1024;

/// A tensor element type as safetensors names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// IEEE single precision.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// FP8 e4m3fn (no infinities).
    F8E4M3,
    /// E8M0 power-of-two scales (MX formats, some FP8 checkpoints).
    F8E8M0,
    /// Any other dtype: readable in the header, refused if a tensor of it must be converted.
    Other(String),
}

impl Dtype {
    fn parse(s: &str) -> Dtype {
        match s {
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "F8_E4M3" => Dtype::F8E4M3,
            "F8_E8M0" => Dtype::F8E8M0,
            other => Dtype::Other(other.to_string()),
        }
    }

    /// Bits per element, when known.
    pub fn bits(&self) -> Option<u64> {
        Some(match self {
            Dtype::F32 => 32,
            Dtype::F16 | Dtype::BF16 => 16,
            Dtype::F8E4M3 | Dtype::F8E8M0 => 8,
            Dtype::Other(s) => match s.as_str() {
                "F64" | "I64" | "U64" => 64,
                "I32" | "U32" => 32,
                "I16" | "U16" => 16,
                "I8" | "U8" | "BOOL" | "F8_E5M2" | "F8_E4M3FNUZ" | "F8_E5M2FNUZ" => 8,
                "F4" => 4,
                "F6_E2M3" | "F6_E3M2" => 6,
                _ => return None,
            },
        })
    }

    /// The name safetensors uses.
    pub fn name(&self) -> &str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::F8E4M3 => "F8_E4M3",
            Dtype::F8E8M0 => "F8_E8M0",
            Dtype::Other(s) => s,
        }
    }
}

/// One tensor's description in a shard.
#[derive(Clone, Debug)]
pub struct TensorEntry {
    /// Name in the checkpoint.
    pub name: String,
    /// Index of its shard in [`Checkpoint::shards`].
    pub shard: usize,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, outermost first (row-major).
    pub shape: Vec<u64>,
    /// Absolute byte offset of the data in the shard file.
    pub start: u64,
    /// Byte length of the data.
    pub len: u64,
}

impl TensorEntry {
    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// One open shard file.
#[derive(Debug)]
pub struct Shard {
    /// Path of the file.
    pub path: PathBuf,
    /// The open file, read with positioned reads from any thread.
    pub file: File,
    /// File length in bytes.
    pub len: u64,
    /// Identity of the file when it was opened.
    pub id: FileId,
    /// Modification time (seconds and nanoseconds) when it was opened.
    pub mtime: (i64, i64),
}

impl Shard {
    /// Opens the shard at `path`, refusing anything but a regular file, and records its size,
    /// identity and modification time.
    pub fn open(path: PathBuf) -> Result<Shard> {
        let (file, m) = crate::fsutil::open_regular(&path)?;
        Ok(Shard {
            len: m.len(),
            id: FileId::of(&m),
            mtime: (m.mtime(), m.mtime_nsec()),
            path,
            file,
        })
    }

    /// Reads exactly `buf.len()` bytes at absolute offset `pos`.
    pub fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<()> {
        self.read_tensor_at(None, buf, pos)
    }

    /// Reads exactly `buf.len()` bytes at `pos` for `tensor`; a short read says how much was
    /// there and how long the file is now.
    pub fn read_tensor_at(&self, tensor: Option<&str>, buf: &mut [u8], pos: u64) -> Result<()> {
        self.file.read_exact_at(buf, pos).map_err(|e| {
            if e.kind() != std::io::ErrorKind::UnexpectedEof {
                return Error::io(&self.path, e);
            }
            let now = self.file.metadata().map(|m| m.len()).unwrap_or(0);
            let msg = format!(
                "short read: wanted {} bytes at offset {pos}, but the file is now {now} bytes \
                 (it was {} when the conversion was planned: changed or truncated meanwhile?)",
                buf.len(),
                self.len
            );
            match tensor {
                Some(t) => Error::bad_tensor(&self.path, t, msg),
                None => Error::bad_file(&self.path, msg),
            }
        })
    }

    /// Checks that the file at the shard's path is still the one opened, with the same size and
    /// modification time.
    pub fn verify_unchanged(&self) -> Result<()> {
        let open = self.file.metadata().map_err(|e| Error::io(&self.path, e))?;
        let at_path = std::fs::metadata(&self.path).ok();
        let changed = if open.len() != self.len {
            Some(format!(
                "its size went from {} to {} bytes",
                self.len,
                open.len()
            ))
        } else if (open.mtime(), open.mtime_nsec()) != self.mtime {
            Some("it was modified".to_string())
        } else if at_path.as_ref().map(FileId::of) != Some(self.id) {
            Some("it was replaced or removed".to_string())
        } else {
            None
        };
        match changed {
            Some(what) => Err(Error::bad_file(
                &self.path,
                format!(
                    "the shard changed while it was being converted ({what}); output discarded"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Tells the kernel that `len` bytes at `pos` will not be read again (page cache hint).
    pub fn dont_need(&self, pos: u64, len: u64) {
        use std::os::fd::AsRawFd;
        // SAFETY: posix_fadvise only reads its integer arguments; a failure is harmless.
        unsafe {
            libc::posix_fadvise(
                self.file.as_raw_fd(),
                pos as libc::off_t,
                len as libc::off_t,
                libc::POSIX_FADV_DONTNEED,
            );
        }
    }
}

/// All shards of a checkpoint and every tensor in them.
#[derive(Debug)]
pub struct Checkpoint {
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// Shards in llama.cpp's order (sorted file names).
    pub shards: Vec<Shard>,
    /// Tensors in llama.cpp's indexing order: shard by shard, names sorted within a shard.
    pub tensors: Vec<TensorEntry>,
    by_name: HashMap<String, usize>,
}

impl Checkpoint {
    /// Opens every shard of the checkpoint in `dir`: those named by
    /// `model.safetensors.index.json`, or else every `model*.safetensors` file.
    /// Validates headers, file lengths and the index against the shards.
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        let index_path = dir.join("model.safetensors.index.json");
        let mut weight_map: Option<BTreeMap<String, String>> = None;
        let shard_names: Vec<String> = if crate::fsutil::is_present_file(&index_path)? {
            let json = super::read_json(&index_path)?;
            let map = json
                .get("weight_map")
                .and_then(Json::as_object)
                .ok_or_else(|| {
                    Error::bad_file(
                        &index_path,
                        "expected an object 'weight_map' {tensor name: shard file}",
                    )
                })?;
            let mut wm = BTreeMap::new();
            for (k, v) in map {
                let f = v.as_str().ok_or_else(|| {
                    Error::bad_file(
                        &index_path,
                        format!("weight_map['{k}'] must be a file name, found {v}"),
                    )
                })?;
                if f.contains('/') || f.contains('\\') || f == ".." {
                    return Err(Error::bad_file(
                        &index_path,
                        format!("weight_map['{k}'] = '{f}' is not a plain file name"),
                    ));
                }
                wm.insert(k.clone(), f.to_string());
            }
            if wm.is_empty() {
                return Err(Error::bad_file(&index_path, "weight_map is empty"));
            }
            let names: BTreeSet<String> = wm.values().cloned().collect();
            weight_map = Some(wm);
            names.into_iter().collect()
        } else {
            let mut names = Vec::new();
            let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
            for ent in rd {
                let ent = ent.map_err(|e| Error::io(dir, e))?;
                let n = ent.file_name().to_string_lossy().into_owned();
                if n.starts_with("model") && n.ends_with(".safetensors") {
                    names.push(n);
                }
            }
            names.sort();
            if names.is_empty() {
                return Err(Error::bad_file(
                    dir,
                    "no weights found: expected model.safetensors.index.json or model*.safetensors files",
                ));
            }
            names
        };

        let mut shards = Vec::with_capacity(shard_names.len());
        let mut tensors = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (si, sn) in shard_names.iter().enumerate() {
            let path = dir.join(sn);
            if weight_map.is_some()
                && matches!(crate::fsutil::kind(&path)?, crate::fsutil::Kind::Missing)
            {
                return Err(Error::bad_file(
                    &path,
                    "shard named by model.safetensors.index.json is missing (incomplete download?)",
                ));
            }
            let shard = Shard::open(path)?;
            let mut entries = read_header(&shard, si)?;
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            for e in entries {
                if let Some(&prev) = by_name.get(&e.name) {
                    let other: &TensorEntry = &tensors[prev];
                    return Err(Error::bad_tensor(
                        &shard.path,
                        &e.name,
                        format!(
                            "also present in {}: a tensor must be stored once",
                            shards_path(&shards, other.shard, &shard).display()
                        ),
                    ));
                }
                if let Some(wm) = &weight_map {
                    match wm.get(&e.name) {
                        Some(f) if f == sn => {}
                        Some(f) => {
                            return Err(Error::bad_tensor(
                                &shard.path,
                                &e.name,
                                format!("model.safetensors.index.json says it is in {f}"),
                            ));
                        }
                        None => {
                            return Err(Error::bad_tensor(
                                &shard.path,
                                &e.name,
                                "not listed in model.safetensors.index.json",
                            ));
                        }
                    }
                }
                by_name.insert(e.name.clone(), tensors.len());
                tensors.push(e);
            }
            shards.push(shard);
        }
        if let Some(wm) = &weight_map {
            for (name, f) in wm {
                if !by_name.contains_key(name) {
                    return Err(Error::bad_tensor(
                        dir.join(f),
                        name,
                        "listed in model.safetensors.index.json but not present in the shard",
                    ));
                }
            }
        }
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            shards,
            tensors,
            by_name,
        })
    }

    /// The tensor called `name`, if present.
    pub fn get(&self, name: &str) -> Option<&TensorEntry> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// The index in [`Checkpoint::tensors`] of the tensor called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The shard holding `t`.
    pub fn shard_of(&self, t: &TensorEntry) -> &Shard {
        &self.shards[t.shard]
    }

    /// Total bytes of tensor data in all shards.
    pub fn data_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.len).sum()
    }

    /// Checks that no shard changed since it was opened (see [`Shard::verify_unchanged`]).
    pub fn verify_unchanged(&self) -> Result<()> {
        self.shards.iter().try_for_each(Shard::verify_unchanged)
    }
}

fn shards_path<'a>(shards: &'a [Shard], i: usize, cur: &'a Shard) -> &'a Path {
    shards.get(i).map(|s| s.path.as_path()).unwrap_or(&cur.path)
}

/// Reads and validates the header of `shard`.
pub fn read_header(shard: &Shard, shard_index: usize) -> Result<Vec<TensorEntry>> {
    let path = &shard.path;
    if shard.len < 8 {
        return Err(Error::bad_file(
            path,
            format!(
                "{} bytes long: too short for a safetensors header",
                shard.len
            ),
        ));
    }
    let mut n8 = [0u8; 8];
    shard.read_at(&mut n8, 0)?;
    let n = u64::from_le_bytes(n8);
    if n > MAX_HEADER_LEN {
        return Err(Error::bad_file(
            path,
            format!("header length {n} exceeds the 100 MB limit: not a safetensors file?"),
        ));
    }
    if 8 + n > shard.len {
        return Err(Error::bad_file(
            path,
            format!(
                "header length {n} runs past the end of the file ({} bytes): truncated download?",
                shard.len
            ),
        ));
    }
    let mut hdr = vec![0u8; n as usize];
    shard.read_at(&mut hdr, 8)?;
    parse_header(&hdr, shard.len, path, shard_index)
}

/// Parses a header (the JSON after the 8-byte length) for a file of `file_len` bytes.
/// Checks every tensor's dtype × shape against its byte range and that the ranges tile
/// the data section exactly, with no overlap, hole or overrun.
pub fn parse_header(
    hdr: &[u8],
    file_len: u64,
    path: &Path,
    shard_index: usize,
) -> Result<Vec<TensorEntry>> {
    let json: Json = serde_json::from_slice(hdr)
        .map_err(|e| Error::bad_file(path, format!("safetensors header is not valid JSON: {e}")))?;
    let obj = json
        .as_object()
        .ok_or_else(|| Error::bad_file(path, "safetensors header must be a JSON object"))?;
    let data_start = 8 + hdr.len() as u64;
    let data_len = file_len.saturating_sub(data_start);
    let mut out = Vec::with_capacity(obj.len());
    for (name, info) in obj {
        if name == "__metadata__" {
            continue;
        }
        let bad = |msg: String| Error::bad_tensor(path, name, msg);
        let dtype = info
            .get("dtype")
            .and_then(Json::as_str)
            .ok_or_else(|| bad("header entry has no string 'dtype'".into()))?;
        let dtype = Dtype::parse(dtype);
        let shape: Vec<u64> = match info.get("shape").and_then(Json::as_array) {
            Some(a) => a
                .iter()
                .map(|d| {
                    d.as_u64().ok_or_else(|| {
                        bad(format!(
                            "shape entries must be non-negative integers, found {d}"
                        ))
                    })
                })
                .collect::<Result<_>>()?,
            None => return Err(bad("header entry has no 'shape' list".into())),
        };
        if shape.len() > 8 {
            return Err(bad(format!(
                "{} dimensions: more than ds2gguf accepts (8)",
                shape.len()
            )));
        }
        let offs = info.get("data_offsets").and_then(Json::as_array);
        let (b, e) = match offs.map(|a| {
            (
                a.len(),
                a.first().and_then(Json::as_u64),
                a.get(1).and_then(Json::as_u64),
            )
        }) {
            Some((2, Some(b), Some(e))) => (b, e),
            _ => return Err(bad("'data_offsets' must be [begin, end] integers".into())),
        };
        if e < b {
            return Err(bad(format!(
                "data_offsets [{b}, {e}] end before they begin"
            )));
        }
        let numel = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
        if let Some(bits) = dtype.bits() {
            let want = numel.checked_mul(bits).map(|b| b.div_ceil(8));
            if want != Some(e - b) {
                return Err(bad(format!(
                    "{} × {shape:?} needs {} bytes but data_offsets [{b}, {e}] give {}",
                    dtype.name(),
                    want.map(|w| w.to_string())
                        .unwrap_or_else(|| "too many".into()),
                    e - b
                )));
            }
        }
        if e > data_len {
            return Err(bad(format!(
                "data_offsets [{b}, {e}] run past the {data_len} data bytes of the file (truncated download?)"
            )));
        }
        out.push(TensorEntry {
            name: name.clone(),
            shard: shard_index,
            dtype,
            shape,
            start: data_start + b,
            len: e - b,
        });
    }
    // the byte ranges must tile [0, data_len) exactly
    let mut ranges: Vec<(u64, u64, &str)> = out
        .iter()
        .map(|t| {
            (
                t.start - data_start,
                t.start - data_start + t.len,
                t.name.as_str(),
            )
        })
        .collect();
    ranges.sort();
    let mut pos = 0u64;
    for (b, e, name) in &ranges {
        if *b > pos {
            return Err(Error::bad_tensor(
                path,
                name,
                format!("data starts at {b}, leaving a hole after byte {pos} of the data section"),
            ));
        }
        if *b < pos {
            return Err(Error::bad_tensor(
                path,
                name,
                format!("data [{b}, {e}) overlaps the previous tensor (which ends at {pos})"),
            ));
        }
        pos = *e;
    }
    if pos > data_len {
        let name = ranges.last().map(|r| r.2).unwrap_or("?");
        return Err(Error::bad_tensor(
            path,
            name,
            format!(
                "data ends at byte {pos} of the data section, but the file has only {data_len} data bytes (truncated download?)"
            ),
        ));
    }
    if pos < data_len {
        return Err(Error::bad_file(
            path,
            format!(
                "{} bytes after the last tensor: the file is longer than its header says",
                data_len - pos
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn parses_valid_header() {
        let h = hdr(
            r#"{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[16,28]},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
        );
        let file_len = 8 + h.len() as u64 + 28;
        let t = parse_header(&h, file_len, Path::new("x.safetensors"), 0).unwrap();
        assert_eq!(t.len(), 2);
        let b = t.iter().find(|t| t.name == "b").unwrap();
        assert_eq!(b.dtype, Dtype::BF16);
        assert_eq!(b.start, 8 + h.len() as u64 + 16);
        assert_eq!(b.len, 12);
    }

    #[test]
    fn rejects_bad_layouts() {
        let p = Path::new("x.safetensors");
        let cases = [
            (
                r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}"#,
                12u64,
                "needs 16 bytes",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                8,
                "hole",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                8,
                "overlaps",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                4,
                "truncated",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                9,
                "longer than its header",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                4,
                "non-negative",
            ),
            (r#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, 4, "dtype"),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#,
                4,
                "end before",
            ),
            (r#"[1,2]"#, 0, "JSON object"),
            (r#"{"a":"#, 0, "not valid JSON"),
            (
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#,
                4,
                "overflows",
            ),
        ];
        for (h, data_len, want) in cases {
            let h = hdr(h);
            let e = parse_header(&h, 8 + h.len() as u64 + data_len, p, 0)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{h:?}: {e}");
            assert!(e.contains("x.safetensors"), "{e}");
        }
    }
}
