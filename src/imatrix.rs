//! Importance matrices (`--imatrix`), read and applied as `llama-quantize` does.
//!
//! Two formats are read, chosen like llama.cpp's `common_imatrix_load`: a GGUF file as
//! `llama-imatrix` writes it (per tensor `NAME.in_sum2` with the sums of squared activations and
//! `NAME.counts` with the number of tokens per expert, plus `imatrix.datasets`,
//! `imatrix.chunk_count` and `imatrix.chunk_size`), and anything else as the legacy `.dat`
//! (entry count; per entry name, call count, values; an optional chunk count and dataset name).
//!
//! The values are normalised as `llama-quantize` normalises them: GGUF sums are divided by
//! their expert's count (an expert that saw no token gets weights 1), legacy values by the call
//! count. Entries map to output tensors by name; a stacked-expert tensor `[ne0, ne1, n_expert]`
//! takes an entry of `ne0 * n_expert` values, expert `e`'s rows using values `e*ne0..`.
//! A tensor with no entry is quantized without weights; an entry of the wrong size is an
//! error, except for `token_embd.weight`, which is then quantized without weights.

use crate::gguf::reader::GgufFile;
use crate::gguf::{Array, GgmlType, Value};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `quantize.imatrix.file`.
pub const KEY_FILE: &str = "quantize.imatrix.file";
/// `quantize.imatrix.dataset`.
pub const KEY_DATASET: &str = "quantize.imatrix.dataset";
/// `quantize.imatrix.entries_count`.
pub const KEY_ENTRIES: &str = "quantize.imatrix.entries_count";
/// `quantize.imatrix.chunks_count`.
pub const KEY_CHUNKS: &str = "quantize.imatrix.chunks_count";

/// One entry: normalised importance values (`ne0` per expert, experts one after another) and,
/// for the GGUF format, which experts saw no token.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The values `llama-quantize` hands to the quantizer.
    pub values: Vec<f32>,
    /// Number of count slices (experts; 1 for a dense tensor or a legacy entry).
    pub slices: usize,
    /// Slices whose count was zero (weights set to 1): partial data.
    pub empty_slices: usize,
}

/// A loaded importance matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Imatrix {
    /// The file it was read from.
    pub path: PathBuf,
    /// The file name as given on the command line (written to `quantize.imatrix.file`).
    pub given_name: String,
    /// True for the legacy `.dat` format.
    pub legacy: bool,
    /// Entries by tensor name.
    pub entries: BTreeMap<String, Entry>,
    /// Dataset names (`imatrix.datasets`, or the legacy trailer's).
    pub datasets: Vec<String>,
    /// Chunks the matrix was computed on (`imatrix.chunk_count`, or the legacy trailer's).
    pub chunk_count: i32,
}

impl Imatrix {
    /// Reads `path` (GGUF if it starts with the GGUF magic, legacy `.dat` otherwise);
    /// `given_name` is the name to record in the output's `quantize.imatrix.file`.
    pub fn load(path: &Path, given_name: &str) -> Result<Imatrix> {
        let (mut f, meta) = crate::fsutil::open_regular(path)?;
        let mut magic = [0u8; 4];
        let is_gguf = meta.len() >= 4 && {
            use std::io::Read;
            f.read_exact(&mut magic).map_err(|e| Error::io(path, e))?;
            &magic == b"GGUF"
        };
        drop(f);
        let mut m = if is_gguf {
            load_gguf(path)?
        } else {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            parse_legacy(&bytes, path)?
        };
        m.given_name = given_name.to_string();
        for (name, e) in &m.entries {
            if let Some((i, v)) = e.values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "entry '{name}': imatrix contains non-finite value {v} at index {i}: \
                         expected finite importance values"
                    ),
                ));
            }
        }
        Ok(m)
    }

    /// The `quantize.imatrix.*` keys `llama-quantize` adds, in its order: file, first dataset
    /// (when there is one), entries count, chunks count (when positive). Strings are cut to
    /// 127 bytes as llama-quantize's fixed buffers cut them.
    pub fn quantize_kvs(&self) -> Vec<(String, Value)> {
        let mut kv = vec![(
            KEY_FILE.to_string(),
            Value::String(cut127(&self.given_name)),
        )];
        if let Some(d) = self.datasets.first() {
            kv.push((KEY_DATASET.to_string(), Value::String(cut127(d))));
        }
        kv.push((
            KEY_ENTRIES.to_string(),
            Value::U32(self.entries.len() as u32),
        ));
        if self.chunk_count > 0 {
            kv.push((KEY_CHUNKS.to_string(), Value::U32(self.chunk_count as u32)));
        }
        kv
    }

    /// What the matrix gives a tensor `name` of shape `ne` converted from `src` to `dst`, by
    /// llama-quantize's rules (see [`TensorImportance`]). `Err` for an entry whose size does
    /// not match (llama-quantize stops there), naming the file, tensor, expected and found.
    pub fn lookup(
        &self,
        name: &str,
        ne: &[u64],
        src: GgmlType,
        dst: GgmlType,
    ) -> Result<TensorImportance> {
        if src == dst {
            return Ok(TensorImportance::NotQuantized);
        }
        let Some(e) = self.entries.get(name) else {
            return Ok(TensorImportance::NoEntry);
        };
        let ne0 = ne.first().copied().unwrap_or(1);
        let ne2 = ne.get(2).copied().unwrap_or(1);
        let want = ne0.saturating_mul(ne2);
        if e.values.len() as u64 != want {
            if is_token_embd(name) {
                return Ok(TensorImportance::SizeMismatchIgnored {
                    found: e.values.len() as u64,
                    expected: want,
                });
            }
            return Err(Error::bad_tensor(
                &self.path,
                name,
                format!(
                    "imatrix size {} is different from tensor size {want}: expected {ne0} \
                     values per expert × {ne2} expert(s) for shape {ne:?}",
                    e.values.len()
                ),
            ));
        }
        Ok(if e.empty_slices == 0 {
            TensorImportance::Full
        } else {
            TensorImportance::Partial {
                empty: e.empty_slices,
                slices: e.slices,
            }
        })
    }

    /// The weights for row `row` (counted over all experts) of tensor `name` whose rows have
    /// `ne0` columns and whose experts have `rows_per_expert` rows; `None` when the tensor has
    /// no usable entry (call [`Imatrix::lookup`] first).
    pub fn row_weights(
        &self,
        name: &str,
        ne0: u64,
        rows_per_expert: u64,
        row: u64,
    ) -> Option<&[f32]> {
        let e = self.entries.get(name)?;
        let expert = row / rows_per_expert.max(1);
        let start = usize::try_from(expert.checked_mul(ne0)?).ok()?;
        let end = start.checked_add(usize::try_from(ne0).ok()?)?;
        e.values.get(start..end)
    }
}

/// What an importance matrix gives one output tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TensorImportance {
    /// The tensor keeps its type (copied, never quantized): no lookup.
    NotQuantized,
    /// An entry with data for every expert.
    Full,
    /// An entry in which some experts saw no token (their weights are 1).
    Partial {
        /// Experts with no data.
        empty: usize,
        /// All experts of the entry.
        slices: usize,
    },
    /// No entry: quantized without weights (llama-quantize: "did not find weights").
    NoEntry,
    /// `token_embd.weight` with an entry of the wrong size: quantized without weights.
    SizeMismatchIgnored {
        /// Values in the entry.
        found: u64,
        /// Values expected.
        expected: u64,
    },
}

impl TensorImportance {
    /// True when the tensor's rows are quantized with weights.
    pub fn has_weights(&self) -> bool {
        matches!(
            self,
            TensorImportance::Full | TensorImportance::Partial { .. }
        )
    }
}

/// `token_embd.weight` or `per_layer_token_embd.weight` (llama-quantize's test).
pub fn is_token_embd(name: &str) -> bool {
    name == "token_embd.weight" || name == "per_layer_token_embd.weight"
}

/// True when llama-quantize refuses to make tensor `name` of type `ty` without an importance
/// matrix in a file of type `file_type` (`general.file_type`): the 1-2-bit IQ types, and
/// Q2_K in a Q2_K_S file (`LLAMA_FTYPE_MOSTLY_Q2_K_S` = 21); never the embeddings or output.
pub fn requires_imatrix(name: &str, ty: GgmlType, file_type: u32) -> bool {
    if is_token_embd(name) || name == "output.weight" {
        return false;
    }
    crate::quant::preset::tensor_requires_imatrix(name, ty)
        || (ty == GgmlType::Q2_K && file_type == 21)
}

fn cut127(s: &str) -> String {
    if s.len() <= 127 {
        return s.to_string();
    }
    let mut n = 127;
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    s[..n].to_string()
}

fn load_gguf(path: &Path) -> Result<Imatrix> {
    let g = GgufFile::open(path)?;
    if g.tensors.is_empty() {
        return Err(Error::bad_file(
            path,
            "no data in imatrix file: expected NAME.in_sum2 and NAME.counts tensors, found none",
        ));
    }
    let u32_key = |k: &str| -> Result<Option<u32>> {
        match g.get(k) {
            None => Ok(None),
            Some(Value::U32(v)) => Ok(Some(*v)),
            Some(v) => Err(Error::bad_file(
                path,
                format!(
                    "key {k}: expected a u32, found {}",
                    crate::gguf::reader::value_type_name(v.value_type())
                ),
            )),
        }
    };
    let chunk_count = u32_key("imatrix.chunk_count")?;
    let chunk_size = u32_key("imatrix.chunk_size")?;
    let ds = g.get("imatrix.datasets");
    let mut datasets = Vec::new();
    if let Some(Value::Array(Array::String(v))) = ds {
        datasets = v.clone();
    }
    if ds.is_none() || chunk_count.is_none() || chunk_size.is_none() {
        return Err(Error::bad_file(
            path,
            "missing imatrix metadata: expected the keys imatrix.datasets, imatrix.chunk_count \
             and imatrix.chunk_size (llama-imatrix writes them)",
        ));
    }
    // pair up NAME.in_sum2 and NAME.counts
    let mut pairs: BTreeMap<String, (Option<usize>, Option<usize>)> = BTreeMap::new();
    for (i, t) in g.tensors.iter().enumerate() {
        if let Some(n) = t.name.strip_suffix(".in_sum2") {
            pairs.entry(n.to_string()).or_default().0 = Some(i);
        } else if let Some(n) = t.name.strip_suffix(".counts") {
            pairs.entry(n.to_string()).or_default().1 = Some(i);
        }
    }
    let mut entries = BTreeMap::new();
    for (name, (s, c)) in pairs {
        let (Some(s), Some(c)) = (s, c) else {
            return Err(Error::bad_tensor(
                path,
                &name,
                format!(
                    "mismatched sums and counts: expected both {name}.in_sum2 and {name}.counts, \
                     found only {}",
                    if s.is_some() { "in_sum2" } else { "counts" }
                ),
            ));
        };
        for i in [s, c] {
            if g.tensors[i].ty != GgmlType::F32 {
                return Err(Error::bad_tensor(
                    path,
                    &g.tensors[i].name,
                    format!(
                        "sums and counts must be F32, found {}",
                        g.tensors[i].ty.name()
                    ),
                ));
            }
        }
        let sums = f32s(&g.read_tensor_bytes(s)?);
        let counts: Vec<f32> = f32s(&g.read_tensor_bytes(c)?);
        if counts.is_empty() || sums.is_empty() {
            return Err(Error::bad_tensor(
                path,
                &name,
                format!(
                    "expected at least one sum and one count, found {} sums and {} counts",
                    sums.len(),
                    counts.len()
                ),
            ));
        }
        let ne0 = sums.len() / counts.len();
        let mut values = vec![0f32; sums.len()];
        let mut empty = 0;
        for (j, &cf) in counts.iter().enumerate() {
            // llama.cpp rounds the stored count to an integer, then divides in float
            let count = lround(cf) as f32;
            let slice = j * ne0..(j + 1) * ne0;
            if count > 0.0 {
                for i in slice {
                    values[i] = sums[i] / count;
                }
            } else {
                empty += 1;
                values[slice].fill(1.0);
            }
        }
        entries.insert(
            name,
            Entry {
                values,
                slices: counts.len(),
                empty_slices: empty,
            },
        );
    }
    Ok(Imatrix {
        path: path.to_path_buf(),
        given_name: String::new(),
        legacy: false,
        entries,
        datasets,
        chunk_count: chunk_count.unwrap_or(0) as i32,
    })
}

/// C's `lround` on a float count (half away from zero), saturating.
fn lround(v: f32) -> i64 {
    let r = (v as f64).round();
    if r.is_nan() { 0 } else { r as i64 }
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Text up to the first NUL, as `std::string(char*)` reads it.
fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Parses the legacy format: `i32 n_entries`, then per entry `i32 len`, `len` name bytes,
/// `i32 ncall`, `i32 nval`, `nval` f32; then optionally `i32 chunk_count`, `i32 len` and the
/// dataset name.
pub fn parse_legacy(bytes: &[u8], path: &Path) -> Result<Imatrix> {
    let mut pos = 0usize;
    let bad = |msg: String| Error::bad_file(path, msg);
    let take = |pos: &mut usize, n: usize| -> Option<&[u8]> {
        let end = pos.checked_add(n)?;
        let s = bytes.get(*pos..end)?;
        *pos = end;
        Some(s)
    };
    let i32_at = |pos: &mut usize| -> Option<i32> {
        take(pos, 4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let n_entries = match i32_at(&mut pos) {
        Some(n) if n >= 1 => n,
        found => {
            return Err(bad(format!(
                "no data in imatrix file: expected a GGUF imatrix, or a legacy imatrix starting \
                 with a positive entry count, found {}",
                match found {
                    Some(n) => format!("entry count {n}"),
                    None => format!("{} bytes", bytes.len()),
                }
            )));
        }
    };
    let mut entries = BTreeMap::new();
    for i in 0..n_entries {
        let at = pos;
        let len = i32_at(&mut pos).ok_or_else(|| {
            bad(format!(
                "failed reading name for entry {}: file ends at byte {at}",
                i + 1
            ))
        })?;
        let name = usize::try_from(len)
            .ok()
            .and_then(|l| take(&mut pos, l))
            .ok_or_else(|| {
                bad(format!(
                    "failed reading name for entry {}: expected {len} name bytes at byte {}, \
                     found {} bytes left",
                    i + 1,
                    at + 4,
                    bytes.len().saturating_sub(at + 4)
                ))
            })?;
        let name = c_string(name);
        let ncall = i32_at(&mut pos);
        let nval = i32_at(&mut pos);
        let (Some(ncall), Some(nval)) = (ncall, nval) else {
            return Err(bad(format!(
                "failed reading number of values for entry {i} ('{name}'): file ends at byte {}",
                bytes.len()
            )));
        };
        if nval < 1 {
            return Err(bad(format!(
                "failed reading number of values for entry {i} ('{name}'): expected a positive \
                 count, found {nval}"
            )));
        }
        let data = take(&mut pos, nval as usize * 4).ok_or_else(|| {
            bad(format!(
                "failed reading data for entry {i} ('{name}'): expected {nval} values ({} bytes), \
                 found {} bytes left",
                nval as u64 * 4,
                bytes.len().saturating_sub(pos)
            ))
        })?;
        let sums = f32s(data);
        let values = if ncall > 0 {
            sums.iter().map(|&s| s / ncall as f32).collect()
        } else {
            sums
        };
        entries.insert(
            name,
            Entry {
                values,
                slices: 1,
                empty_slices: 0,
            },
        );
    }
    let mut chunk_count = 0;
    let mut datasets = Vec::new();
    if pos < bytes.len() {
        // a short read keeps the bytes it got, as an istream read into an int does
        let rest = &bytes[pos..];
        let mut b = [0u8; 4];
        let n = rest.len().min(4);
        b[..n].copy_from_slice(&rest[..n]);
        chunk_count = i32::from_le_bytes(b);
        pos += n;
        if n == 4
            && let Some(len) = i32_at(&mut pos)
            && len > 0
            && let Some(d) = take(&mut pos, len as usize)
        {
            datasets.push(c_string(d));
        }
    }
    Ok(Imatrix {
        path: path.to_path_buf(),
        given_name: String::new(),
        legacy: true,
        entries,
        datasets,
        chunk_count,
    })
}

/// One output tensor as the imatrix planning sees it.
#[derive(Clone, Copy, Debug)]
pub struct PlanTensor<'a> {
    /// GGUF name.
    pub name: &'a str,
    /// Shape in ggml order.
    pub ne: &'a [u64],
    /// Its type in the file llama-quantize would read (BF16, or F32 for kept tensors).
    pub src: GgmlType,
    /// Its output type.
    pub dst: GgmlType,
}

/// An importance matrix applied to a plan: what it gives each output tensor.
#[derive(Clone, Debug)]
pub struct ImatrixPlan {
    /// The matrix.
    pub matrix: Imatrix,
    /// Per output tensor, in plan order.
    pub tensors: Vec<TensorImportance>,
}

/// Counts of [`TensorImportance`] over the quantized tensors of a plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Tensors with data for every expert.
    pub full: usize,
    /// Tensors with data for only some experts.
    pub partial: usize,
    /// Quantized tensors with no (usable) entry.
    pub none: usize,
    /// Entries of the matrix that name no tensor of the output.
    pub unused_entries: usize,
}

impl ImatrixPlan {
    /// Coverage of the quantized tensors.
    pub fn coverage(&self, names: &[&str]) -> Coverage {
        let mut c = Coverage::default();
        for t in &self.tensors {
            match t {
                TensorImportance::NotQuantized => {}
                TensorImportance::Full => c.full += 1,
                TensorImportance::Partial { .. } => c.partial += 1,
                TensorImportance::NoEntry | TensorImportance::SizeMismatchIgnored { .. } => {
                    c.none += 1
                }
            }
        }
        let known: std::collections::HashSet<&str> = names.iter().copied().collect();
        c.unused_entries = self
            .matrix
            .entries
            .keys()
            .filter(|k| !known.contains(k.as_str()))
            .count();
        c
    }

    /// The weights for row `row` (over all experts) of plan tensor `index`, whose shape is
    /// `ne`; `None` when that tensor is quantized without weights.
    pub fn row_weights(&self, index: usize, name: &str, ne: &[u64], row: u64) -> Option<&[f32]> {
        if !self.tensors.get(index)?.has_weights() {
            return None;
        }
        let ne0 = *ne.first()?;
        let per_expert = ne.get(1).copied().unwrap_or(1);
        self.matrix.row_weights(name, ne0, per_expert, row)
    }
}

/// Applies llama-quantize's imatrix rules to a plan of a llama-quantize preset (`file_type`
/// is its `general.file_type`): with a matrix, looks every tensor up (an entry of the wrong
/// size stops, as does a tensor that requires weights and has none); without one, refuses
/// types that require a matrix. `Ok(None)` when no matrix is given.
pub fn plan_imatrix(
    matrix: Option<Imatrix>,
    file_type: u32,
    tensors: &[PlanTensor],
) -> Result<Option<ImatrixPlan>> {
    let Some(matrix) = matrix else {
        for t in tensors {
            if t.src != t.dst && requires_imatrix(t.name, t.dst, file_type) {
                return Err(Error::Usage(format!(
                    "this quantization requires an importance matrix (--imatrix): tensor {},                      target type {}",
                    t.name,
                    t.dst.name()
                )));
            }
        }
        return Ok(None);
    };
    let mut out = Vec::with_capacity(tensors.len());
    for t in tensors {
        let imp = matrix.lookup(t.name, t.ne, t.src, t.dst)?;
        if t.src != t.dst && !imp.has_weights() && requires_imatrix(t.name, t.dst, file_type) {
            return Err(Error::bad_tensor(
                &matrix.path,
                t.name,
                format!(
                    "missing importance matrix for tensor {} in a very low-bit quantization                      ({}): expected an entry of {} values, found {}",
                    t.name,
                    t.dst.name(),
                    t.ne.first().copied().unwrap_or(1) * t.ne.get(2).copied().unwrap_or(1),
                    match imp {
                        TensorImportance::SizeMismatchIgnored { found, .. } =>
                            format!("{found} values"),
                        _ => "none".to_string(),
                    }
                ),
            ));
        }
        out.push(imp);
    }
    Ok(Some(ImatrixPlan {
        matrix,
        tensors: out,
    }))
}

/// One entry to write with [`encode_gguf`]: raw sums of squared activations (`ne0` per
/// expert) and one token count per expert.
#[derive(Clone, Debug)]
pub struct RawEntry {
    /// Tensor name (without the `.in_sum2` / `.counts` suffix).
    pub name: String,
    /// Sums, expert after expert.
    pub sums: Vec<f32>,
    /// Counts, one per expert.
    pub counts: Vec<f32>,
}

/// Serialises a GGUF imatrix laid out as `llama-imatrix` writes it (`general.type` =
/// `imatrix`, the three `imatrix.*` keys, `NAME.in_sum2` as `[ne0, n_expert]` and
/// `NAME.counts` as `[1, n_expert]` F32 tensors). For tests and synthetic checkpoints.
pub fn encode_gguf(
    entries: &[RawEntry],
    datasets: &[&str],
    chunk_count: u32,
    chunk_size: u32,
) -> Vec<u8> {
    use crate::gguf::writer::{TensorInfo, assign_offsets, header_bytes};
    let kvs = vec![
        ("general.type".to_string(), Value::String("imatrix".into())),
        (
            "imatrix.datasets".to_string(),
            Value::Array(Array::String(
                datasets.iter().map(|s| s.to_string()).collect(),
            )),
        ),
        ("imatrix.chunk_count".to_string(), Value::U32(chunk_count)),
        ("imatrix.chunk_size".to_string(), Value::U32(chunk_size)),
    ];
    let mut tensors = Vec::new();
    let mut data: Vec<&[f32]> = Vec::new();
    for e in entries {
        let n = e.counts.len().max(1) as u64;
        tensors.push(TensorInfo {
            name: format!("{}.in_sum2", e.name),
            ne: vec![e.sums.len() as u64 / n, n],
            ty: GgmlType::F32,
            offset: 0,
        });
        data.push(&e.sums);
        tensors.push(TensorInfo {
            name: format!("{}.counts", e.name),
            ne: vec![1, n],
            ty: GgmlType::F32,
            offset: 0,
        });
        data.push(&e.counts);
    }
    assign_offsets(&mut tensors);
    let mut out = header_bytes(&kvs, &tensors);
    let base = out.len();
    for (t, d) in tensors.iter().zip(data) {
        out.resize(base + t.offset as usize, 0);
        for v in d {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    let end = crate::gguf::pad_to(out.len() as u64, crate::gguf::DEFAULT_ALIGNMENT) as usize;
    out.resize(end, 0);
    out
}

/// Serialises a legacy `.dat` imatrix: per entry `(name, ncall, values)`, where the values
/// are stored as given (llama-imatrix stored `sum / count * ncall`); then the chunk count and
/// the dataset name when `trailer` is given. For tests.
pub fn encode_legacy(entries: &[(&str, i32, Vec<f32>)], trailer: Option<(i32, &str)>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(entries.len() as i32).to_le_bytes());
    for (name, ncall, vals) in entries {
        out.extend_from_slice(&(name.len() as i32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&ncall.to_le_bytes());
        out.extend_from_slice(&(vals.len() as i32).to_le_bytes());
        for v in vals {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    if let Some((chunks, ds)) = trailer {
        out.extend_from_slice(&chunks.to_le_bytes());
        out.extend_from_slice(&(ds.len() as i32).to_le_bytes());
        out.extend_from_slice(ds.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests;
