//! The conversion plan: every KV pair, tensor name, type, shape and byte offset of the
//! output, computed from `config.json`, the tokenizer files and the safetensors headers
//! alone, before any tensor data is read.

use crate::arch::deepseek2::{self, Layout, MappedTensor, Source};
use crate::checkpoint::config::ModelConfig;
use crate::checkpoint::safetensors::{Checkpoint, Dtype};
use crate::checkpoint::tokenizer::{self, TokenizerMeta};
use crate::gguf::writer::{TensorInfo, assign_offsets, header_bytes};
use crate::gguf::{DEFAULT_ALIGNMENT, GgmlType, QUANT_VERSION, Value, pad_to};
use crate::quant::preset::{
    OutType, QuantModel, QuantParams, QuantTensor, TensorTypeOverride, llama_quantize_order,
    try_assign_types,
};
use crate::{Error, Result};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// `--outtype`.
    pub outtype: OutType,
    /// `--layout`.
    pub layout: Layout,
    /// `--pre NAME`: the pre-tokenizer name, overriding detection.
    pub pre: Option<String>,
    /// `--tensor-type REGEX=TYPE` overrides, first match wins.
    pub tensor_types: Vec<TensorTypeOverride>,
    /// `--split-max-size` in bytes of tensor data per file.
    pub split_max_size: Option<u64>,
    /// `--split-max-tensors`.
    pub split_max_tensors: Option<u64>,
    /// `general.name` (defaults to the model directory's name).
    pub name: Option<String>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            outtype: OutType::Auto,
            layout: Layout::Mla,
            pre: None,
            tensor_types: Vec::new(),
            split_max_size: None,
            split_max_tensors: None,
            name: None,
        }
    }
}

/// One output tensor: where it goes and where it comes from.
#[derive(Clone, Debug)]
pub struct PlannedTensor {
    /// Name, shape, type and offset within its file's data section.
    pub info: TensorInfo,
    /// How to produce its rows.
    pub source: Source,
    /// Round values to bf16 before encoding: the reference writes a BF16 GGUF first and
    /// quantizes that (K-quant presets).
    pub round_bf16: bool,
    /// Index of the output file (0 unless split).
    pub file: usize,
}

/// One output file.
#[derive(Clone, Debug)]
pub struct PlannedFile {
    /// Its KV pairs (all metadata in the first file; only `split.*` in the others).
    pub kvs: Vec<(String, Value)>,
    /// Its tensors, as a range of [`Plan::tensors`].
    pub tensors: Range<usize>,
    /// The serialised header, padded to the data section.
    pub header: Vec<u8>,
    /// Bytes of the data section, padding included.
    pub data_len: u64,
}

impl PlannedFile {
    /// Total file length.
    pub fn len(&self) -> u64 {
        self.header.len() as u64 + self.data_len
    }

    /// True when the file would be empty (never the case for a planned file).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything the executor needs, and everything `plan` reports.
#[derive(Debug)]
pub struct Plan {
    /// The parsed config.json.
    pub config: ModelConfig,
    /// The open shards.
    pub checkpoint: Checkpoint,
    /// The output type after `auto` was resolved.
    pub outtype: OutType,
    /// Tokenizer facts (pre-tokenizer, token count).
    pub tokenizer: TokenizerMeta,
    /// All output tensors, file by file.
    pub tensors: Vec<PlannedTensor>,
    /// The output files (one unless split).
    pub files: Vec<PlannedFile>,
    /// Things worth saying that do not stop the conversion.
    pub warnings: Vec<String>,
}

impl Plan {
    /// Total bytes that will be written.
    pub fn output_bytes(&self) -> u64 {
        self.files.iter().map(PlannedFile::len).sum()
    }

    /// Bytes of checkpoint tensor data that will be read.
    pub fn input_bytes(&self) -> u64 {
        self.checkpoint.data_bytes()
    }
}

/// The type `--outtype auto` picks, as llama.cpp does: the dtype of the first 2-D 16-bit
/// tensor in index order (FP8 and F32 tensors are passed over), F16 if there is none.
pub fn resolve_auto(ck: &Checkpoint) -> OutType {
    for t in &ck.tensors {
        if t.shape.len() == 2 && !deepseek2::is_aux_name(&t.name) {
            match t.dtype {
                Dtype::BF16 => return OutType::BF16,
                Dtype::F16 => return OutType::F16,
                _ => {}
            }
        }
    }
    OutType::F16
}

/// True for the tensors llama.cpp's converter always stores as F32.
pub fn is_forced_f32(name: &str, n_dims: usize) -> bool {
    n_dims <= 1
        || name.ends_with("_norm.weight")
        || name.ends_with("ffn_gate_inp.weight")
        || !name.ends_with(".weight")
}

/// Builds the whole plan for converting the checkpoint in `dir`.
pub fn make_plan(dir: &Path, opts: &ConvertOptions) -> Result<Plan> {
    if !dir.is_dir() {
        return Err(Error::bad_file(
            dir,
            "model directory does not exist or is not a directory",
        ));
    }
    let config = ModelConfig::read(dir)?;
    let tokenizer = tokenizer::read_tokenizer(
        dir,
        &serde_json::Value::Object(config.raw.clone()),
        config.vocab_size as u32,
        opts.pre.as_deref(),
    )?;
    let checkpoint = Checkpoint::open(dir)?;
    let mut mapped = deepseek2::map_tensors(&checkpoint, &config, opts.layout)?;
    let outtype = match opts.outtype {
        OutType::Auto => resolve_auto(&checkpoint),
        t => t,
    };
    if outtype.is_kquant_preset() {
        // llama-quantize writes tensors sorted by layer, then name: keep its file layout
        let names: Vec<&str> = mapped.iter().map(|m| m.name.as_str()).collect();
        let order = llama_quantize_order(&names);
        let mut slots: Vec<Option<MappedTensor>> = mapped.into_iter().map(Some).collect();
        mapped = order.into_iter().filter_map(|i| slots[i].take()).collect();
    }
    let mut warnings = tokenizer.warnings.clone();
    let (types, round) = choose_types(&config, &mapped, outtype, opts)?;
    if config.n_nextn > 0 {
        warnings.push(format!(
            "{} multi-token-prediction layer(s) are left out, as llama.cpp's converter does",
            config.n_nextn
        ));
    }

    // metadata
    let name = opts.name.clone().unwrap_or_else(|| {
        dir.canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default()
    });
    let mut kvs = deepseek2::general_kvs(&name, tokenizer.general_kvs());
    kvs.extend(deepseek2::arch_kvs(
        &config,
        outtype.file_type(),
        opts.layout,
    )?);
    kvs.push((
        "general.quantization_version".into(),
        Value::U32(QUANT_VERSION),
    ));
    kvs.extend(tokenizer.tokenizer_kvs().iter().cloned());

    let mut tensors: Vec<PlannedTensor> = mapped
        .into_iter()
        .zip(types)
        .zip(round)
        .map(|((m, ty), round_bf16)| PlannedTensor {
            info: TensorInfo {
                name: m.name,
                ne: m.ne,
                ty,
                offset: 0,
            },
            source: m.source,
            round_bf16,
            file: 0,
        })
        .collect();
    for t in &tensors {
        if t.info.name.len() >= 64 {
            return Err(Error::Usage(format!(
                "tensor name '{}' is 64 bytes or longer: llama.cpp cannot load it",
                t.info.name
            )));
        }
    }
    let files = layout_files(&mut tensors, kvs, opts)?;
    Ok(Plan {
        config,
        checkpoint,
        outtype,
        tokenizer,
        tensors,
        files,
        warnings,
    })
}

/// Chooses each tensor's output type; returns the types and whether each tensor's values are
/// rounded to bf16 first.
fn choose_types(
    cfg: &ModelConfig,
    mapped: &[MappedTensor],
    outtype: OutType,
    opts: &ConvertOptions,
) -> Result<(Vec<GgmlType>, Vec<bool>)> {
    let forced: Vec<bool> = mapped
        .iter()
        .map(|m| is_forced_f32(&m.name, m.ne.len()))
        .collect();
    if outtype.is_kquant_preset() {
        // the reference path: a BF16 GGUF from the converter, then llama-quantize
        let src: Vec<GgmlType> = forced
            .iter()
            .map(|&f| if f { GgmlType::F32 } else { GgmlType::BF16 })
            .collect();
        let qts: Vec<QuantTensor> = mapped
            .iter()
            .zip(&src)
            .map(|(m, &s)| QuantTensor {
                name: &m.name,
                ne: &m.ne,
                src_type: s,
            })
            .collect();
        let model = QuantModel {
            n_layer: cfg.n_layer as u32,
            n_expert: cfg.n_expert.unwrap_or(0) as u32,
            n_head: cfg.n_head as u32,
            n_head_kv: match opts.layout {
                Layout::Mla => 1,
                Layout::Legacy => cfg.n_head_kv as u32,
            },
        };
        let types = try_assign_types(
            outtype,
            &model,
            &qts,
            &opts.tensor_types,
            &QuantParams::default(),
        )
        .map_err(Error::Usage)?;
        let round = src.iter().map(|&s| s == GgmlType::BF16).collect();
        return Ok((types, round));
    }
    let base = outtype.base_type().unwrap_or(GgmlType::F16);
    let mut types = Vec::with_capacity(mapped.len());
    for (m, &f) in mapped.iter().zip(&forced) {
        let mut ty = if f { GgmlType::F32 } else { base };
        if !f
            && let Some(o) = opts
                .tensor_types
                .iter()
                .find(|o| o.pattern.is_match(&m.name))
        {
            ty = o.ty;
        }
        if ty.row_bytes(m.ne[0]).is_none() {
            // llama.cpp's converter falls back to F16 when a row is not whole blocks
            ty = GgmlType::F16;
        }
        types.push(ty);
    }
    Ok((types, vec![false; mapped.len()]))
}

/// Splits tensors into files, as llama.cpp's converter does, assigns offsets, and builds headers.
fn layout_files(
    tensors: &mut [PlannedTensor],
    kvs: Vec<(String, Value)>,
    opts: &ConvertOptions,
) -> Result<Vec<PlannedFile>> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut start = 0usize;
    let mut bytes = 0u64;
    for (i, t) in tensors.iter().enumerate() {
        let nb = t.info.n_bytes();
        let count = i - start;
        let over_tensors = opts.split_max_tensors.is_some_and(|m| count as u64 >= m);
        let over_size = opts.split_max_size.is_some_and(|m| bytes + nb > m);
        if count > 0 && (over_tensors || over_size) {
            ranges.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += nb;
    }
    ranges.push(start..tensors.len());
    let n = ranges.len();
    if n > u16::MAX as usize {
        return Err(Error::Usage(format!(
            "the split would make {n} files; GGUF split sets hold at most 65535"
        )));
    }
    let split = opts.split_max_size.is_some() || opts.split_max_tensors.is_some();
    let total = tensors.len();
    let mut files = Vec::with_capacity(n);
    for (fi, r) in ranges.into_iter().enumerate() {
        for t in &mut tensors[r.clone()] {
            t.file = fi;
        }
        let mut infos: Vec<TensorInfo> =
            tensors[r.clone()].iter().map(|t| t.info.clone()).collect();
        let data_len = assign_offsets(&mut infos);
        for (t, i) in tensors[r.clone()].iter_mut().zip(&infos) {
            t.info.offset = i.offset;
        }
        let mut fkvs = if fi == 0 { kvs.clone() } else { Vec::new() };
        if split {
            fkvs.push(("split.no".into(), Value::U16(fi as u16)));
            fkvs.push(("split.count".into(), Value::U16(n as u16)));
            fkvs.push(("split.tensors.count".into(), Value::I32(total as i32)));
        }
        let header = header_bytes(&fkvs, &infos);
        debug_assert_eq!(
            data_len,
            infos
                .iter()
                .map(|t| pad_to(t.n_bytes(), DEFAULT_ALIGNMENT))
                .sum::<u64>()
        );
        files.push(PlannedFile {
            kvs: fkvs,
            tensors: r,
            header,
            data_len,
        });
    }
    Ok(files)
}

/// The paths of the output files: `out` itself, or `STEM-00001-of-0000N.gguf` for a split set.
pub fn output_paths(out: &Path, n_files: usize, split: bool) -> Vec<PathBuf> {
    if !split {
        return vec![out.to_path_buf()];
    }
    let s = out.to_string_lossy();
    let stem = s.strip_suffix(".gguf").unwrap_or(&s);
    (1..=n_files)
        .map(|i| PathBuf::from(format!("{stem}-{i:05}-of-{n_files:05}.gguf")))
        .collect()
}

/// Parses a size like `50G`, `500M`, `2000K` or `1000` (decimal units, as llama.cpp).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last()? {
        (i, 'K' | 'k') => (&s[..i], 1_000u64),
        (i, 'M' | 'm') => (&s[..i], 1_000_000),
        (i, 'G' | 'g') => (&s[..i], 1_000_000_000),
        (i, 'T' | 't') => (&s[..i], 1_000_000_000_000),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul).filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("50G"), Some(50_000_000_000));
        assert_eq!(parse_size("1500m"), Some(1_500_000_000));
        assert_eq!(parse_size("7"), Some(7));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("G"), None);
        assert_eq!(parse_size("-1K"), None);
    }

    #[test]
    fn split_names() {
        let p = output_paths(Path::new("/x/m.gguf"), 3, true);
        assert_eq!(p[2], PathBuf::from("/x/m-00003-of-00003.gguf"));
        assert_eq!(
            output_paths(Path::new("m.gguf"), 1, false),
            vec![PathBuf::from("m.gguf")]
        );
    }

    #[test]
    fn forced_f32() {
        assert!(is_forced_f32("blk.0.attn_norm.weight", 1));
        assert!(is_forced_f32("blk.3.ffn_gate_inp.weight", 2));
        assert!(is_forced_f32("blk.3.exp_probs_b.bias", 1));
        assert!(!is_forced_f32("blk.3.ffn_up_exps.weight", 3));
    }
}
