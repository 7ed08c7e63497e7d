//! The conversion plan: every KV pair, tensor name, type, shape and byte offset of the
//! output, computed from `config.json`, the tokenizer files and the safetensors headers
//! alone, before any tensor data is read.

pub mod files;
pub mod preflight;
pub mod repack;
pub mod report;
pub mod types;

pub use files::{output_paths, parse_size};

use crate::arch::{self, ArchOptions, MappedTensor, Model, Recipe};
use crate::checkpoint::safetensors::{Checkpoint, Dtype};
use crate::checkpoint::tokenizer::{self, TokenizerMeta};
use crate::gguf::writer::TensorInfo;
use crate::gguf::{QUANT_VERSION, Value};
use crate::quant::preset::{OutType, TensorTypeOverride, llama_quantize_order};
use crate::{Error, Result};
use std::ops::Range;
use std::path::Path;

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// `--outtype`.
    pub outtype: OutType,
    /// Choices the architecture interprets (`--layout`).
    pub arch: ArchOptions,
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
    /// `--imatrix FILE`: an importance matrix (llama-imatrix GGUF or legacy `.dat`) for the
    /// llama-quantize presets.
    pub imatrix: Option<std::path::PathBuf>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            outtype: OutType::Auto,
            arch: ArchOptions::default(),
            pre: None,
            tensor_types: Vec::new(),
            split_max_size: None,
            split_max_tensors: None,
            name: None,
            imatrix: None,
        }
    }
}

impl ConvertOptions {
    /// True when the output is a split set.
    pub fn is_split(&self) -> bool {
        self.split_max_size.is_some() || self.split_max_tensors.is_some()
    }
}

/// One output tensor: where it goes and where it comes from.
#[derive(Clone, Debug)]
pub struct PlannedTensor {
    /// Name, shape, type and offset within its file's data section.
    pub info: TensorInfo,
    /// How to produce its rows.
    pub recipe: Recipe,
    /// Round values to bf16 before encoding: the reference writes a BF16 GGUF first and
    /// quantizes that (K-quant presets).
    pub round_bf16: bool,
    /// Q4_0 was asked for explicitly (`--outtype q4_0`, or a `--tensor-type` override), so an
    /// INT4 group-32 source is repacked into it losslessly instead of re-quantized (a preset's
    /// shape fallback to Q4_0 keeps the reference's re-quantization).
    pub explicit_q4_0: bool,
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
    /// The model, as its architecture understood `config.json`.
    pub model: Box<dyn Model>,
    /// The open shards.
    pub checkpoint: Checkpoint,
    /// The options the plan was made with.
    pub options: ConvertOptions,
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
    /// The importance matrix and what it gives each tensor (`--imatrix`).
    pub imatrix: Option<crate::imatrix::ImatrixPlan>,
    /// Scales of INT4 groups repacked into Q4_0 that f16 does not hold exactly, tallied while
    /// converting.
    pub scale_loss: std::sync::Mutex<crate::exec::packed::ScaleLoss>,
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
        if t.shape.len() == 2 && !arch::source::is_aux_name(&t.name) {
            match t.dtype {
                Dtype::BF16 => return OutType::BF16,
                Dtype::F16 => return OutType::F16,
                _ => {}
            }
        }
    }
    OutType::F16
}

/// Builds the whole plan for converting the checkpoint in `dir`.
pub fn make_plan(dir: &Path, opts: &ConvertOptions) -> Result<Plan> {
    if !matches!(crate::fsutil::kind(dir)?, crate::fsutil::Kind::Dir) {
        return Err(Error::bad_file(
            dir,
            "model directory does not exist or is not a directory",
        ));
    }
    let model = arch::load_model(dir)?;
    let tokenizer = tokenizer::read_tokenizer(
        dir,
        &serde_json::Value::Object(model.config().raw.clone()),
        model.vocab_size() as u32,
        opts.pre.as_deref(),
    )?;
    let checkpoint = Checkpoint::open(dir)?;
    let mut mapped = model.map_tensors(&checkpoint, &opts.arch)?;
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
    let matrix = load_imatrix(opts, outtype)?;
    let (types, round) = types::choose_types(model.as_ref(), &checkpoint, &mapped, outtype, opts)?;
    let imatrix = if outtype.is_kquant_preset() {
        let pts: Vec<crate::imatrix::PlanTensor> = mapped
            .iter()
            .zip(&types)
            .zip(&round)
            .map(|((m, &dst), &r)| crate::imatrix::PlanTensor {
                name: &m.name,
                ne: &m.ne,
                src: if r {
                    crate::gguf::GgmlType::BF16
                } else {
                    crate::gguf::GgmlType::F32
                },
                dst,
            })
            .collect();
        crate::imatrix::plan_imatrix(matrix, outtype.file_type(), &pts)?
    } else {
        None
    };
    warnings.extend(model.warnings(&opts.arch));

    // metadata
    let name = opts.name.clone().unwrap_or_else(|| {
        dir.canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default()
    });
    let mut kvs = general_kvs(model.arch(), &name, tokenizer.general_kvs());
    kvs.extend(model.metadata(outtype.file_type(), &opts.arch)?);
    kvs.push((
        "general.quantization_version".into(),
        Value::U32(QUANT_VERSION),
    ));
    let mut tok_kvs = tokenizer.tokenizer_kvs().to_vec();
    if let Some(bundled) = model.bundled_chat_template() {
        // the reference writes its bundled template as the second key; a template from the
        // tokenizer files only replaces its value
        let key = "tokenizer.chat_template";
        let v = match tok_kvs.iter().position(|(k, _)| k == key) {
            Some(i) => tok_kvs.remove(i).1,
            None => Value::String(bundled.to_string()),
        };
        kvs.insert(1, (key.to_string(), v));
    }
    kvs.extend(tok_kvs);
    if let Some(ip) = &imatrix {
        // llama-quantize adds its keys after the converter's
        kvs.extend(ip.matrix.quantize_kvs());
    }

    let mut tensors: Vec<PlannedTensor> = mapped
        .into_iter()
        .zip(types)
        .zip(round)
        .map(|((m, ty), round_bf16)| {
            let explicit_q4_0 = ty == crate::gguf::GgmlType::Q4_0
                && (outtype == OutType::Q4_0
                    || opts
                        .tensor_types
                        .iter()
                        .find(|o| o.pattern.is_match(&m.name))
                        .is_some_and(|o| o.ty == crate::gguf::GgmlType::Q4_0));
            PlannedTensor {
                info: TensorInfo {
                    name: m.name,
                    ne: m.ne,
                    ty,
                    offset: 0,
                },
                explicit_q4_0,
                recipe: m.recipe,
                round_bf16,
                file: 0,
            }
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
    let files = files::layout_files(&mut tensors, kvs, opts)?;
    Ok(Plan {
        model,
        checkpoint,
        options: opts.clone(),
        outtype,
        tokenizer,
        tensors,
        files,
        warnings,
        imatrix,
        scale_loss: Default::default(),
    })
}

/// Reads `--imatrix`, which only the llama-quantize presets use.
fn load_imatrix(
    opts: &ConvertOptions,
    outtype: OutType,
) -> Result<Option<crate::imatrix::Imatrix>> {
    let Some(p) = &opts.imatrix else {
        return Ok(None);
    };
    if !outtype.is_kquant_preset() {
        return Err(Error::Usage(format!(
            "--imatrix applies to the llama-quantize presets (q2_k … q6_k and their mixtures), \
             not to --outtype {} (made as llama.cpp's converter makes it)",
            outtype.name()
        )));
    }
    crate::imatrix::Imatrix::load(p, &p.to_string_lossy()).map(Some)
}

/// `general.*` keys written before the architecture keys, in llama.cpp's order: architecture,
/// type, the sampling defaults from `generation_config.json`, then the name.
pub fn general_kvs(arch: &str, name: &str, sampling: &[(String, Value)]) -> Vec<(String, Value)> {
    let mut kv = vec![
        (
            "general.architecture".to_string(),
            Value::String(arch.into()),
        ),
        ("general.type".to_string(), Value::String("model".into())),
    ];
    kv.extend(sampling.iter().cloned());
    if !name.is_empty() {
        kv.push(("general.name".to_string(), Value::String(name.to_string())));
    }
    kv
}
