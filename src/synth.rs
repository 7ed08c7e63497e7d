//! A generator of DeepSeek-shaped checkpoints (any width, depth and expert count; BF16, F16,
//! F32 or block-FP8; random or sparse), laid out as the published repositories are:
//! per-expert tensors, interleaved shards with an index, an MTP layer, a byte-level BPE
//! tokenizer with DeepSeek-V3's pre-tokenizer. Used by `ds2gguf synth`, the tests and the
//! benchmarks, so nobody needs a 700 GB download to try the converter.

use crate::arch::{self, TensorKind};
use crate::checkpoint::config::RawConfig;
use crate::checkpoint::tokenizer::pre_tokenizer_json;
use crate::checkpoint::tokenizer::vocab::byte_to_unicode;
use crate::{Error, Result};
use serde_json::{Value as Json, json};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Storage type of the synthetic weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynthDtype {
    /// bfloat16 everywhere (1-D routing bias in F32), as V2/V3 BF16 releases.
    Bf16,
    /// IEEE half.
    F16,
    /// f32.
    F32,
    /// Linear weights in F8_E4M3 with F32 `weight_scale_inv` blocks, the rest BF16, as V3/R1.
    Fp8,
    /// Routed experts as compressed-tensors `pack-quantized` INT4 (group 32, BF16 scales), the
    /// rest BF16, as Kimi-K2-Thinking.
    Int4,
}

/// The model family a synthetic checkpoint imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynthFamily {
    /// `DeepseekV2ForCausalLM`: softmax routing, no routing bias.
    DeepseekV2,
    /// `DeepseekV3ForCausalLM`: sigmoid routing with groups and a routing bias.
    DeepseekV3,
    /// `DeepseekV32ForCausalLM`: V3 plus the DSA indexer in every layer (MTP layer included).
    DeepseekV32,
    /// Kimi-K2: `DeepseekV3ForCausalLM` with `model_type: kimi_k2`, YaRN β 1/1, one expert
    /// group, no MTP layer, and a tiktoken tokenizer (`tiktoken.model` + tokenizer_config.json).
    KimiK2,
    /// Moonlight-16B-A3B: DeepSeek-V3 routing, no `q_lora_rank`, 27 layers, no rope scaling,
    /// Kimi's tiktoken tokenizer.
    Moonlight,
    /// `DeepseekV4ForCausalLM`: FP4 routed experts with E8M0 scales, FP8 (with `fp8`) linear
    /// weights with E8M0 128×128 scales, hash routing, hyper-connections, compressors
    /// (shape in [`SynthSpec::v4`]).
    DeepseekV4,
}

impl SynthFamily {
    /// Every family.
    pub const ALL: [SynthFamily; 6] = [
        SynthFamily::DeepseekV2,
        SynthFamily::DeepseekV3,
        SynthFamily::DeepseekV32,
        SynthFamily::KimiK2,
        SynthFamily::Moonlight,
        SynthFamily::DeepseekV4,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SynthFamily::DeepseekV2 => "v2",
            SynthFamily::DeepseekV3 => "v3",
            SynthFamily::DeepseekV32 => "deepseek-v32",
            SynthFamily::KimiK2 => "kimi-k2",
            SynthFamily::Moonlight => "moonlight",
            SynthFamily::DeepseekV4 => "deepseek-v4",
        }
    }

    /// Other names accepted on the command line.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            SynthFamily::DeepseekV32 => &["v32"],
            _ => &[],
        }
    }

    /// True for the families with Kimi's tiktoken tokenizer.
    pub fn is_tiktoken(self) -> bool {
        matches!(self, SynthFamily::KimiK2 | SynthFamily::Moonlight)
    }

    /// Sets what the family fixes in `spec`: no MTP layer for Kimi and Moonlight, and
    /// Moonlight's plain `q_proj` with 27 layers (the only depth llama.cpp loads without
    /// `q_lora_rank`). Call it before applying explicit sizes.
    pub fn adjust(self, spec: &mut SynthSpec) {
        spec.family = self;
        match self {
            SynthFamily::KimiK2 => spec.mtp = false,
            SynthFamily::Moonlight => {
                spec.mtp = false;
                spec.q_lora = None;
                spec.layers = 27;
            }
            _ => {}
        }
    }
}

/// The shape and storage of a synthetic checkpoint.
#[derive(Clone, Debug)]
pub struct SynthSpec {
    /// Which model family's `config.json`, tensors and tokenizer to write.
    pub family: SynthFamily,
    /// `hidden_size`.
    pub hidden: u64,
    /// `num_hidden_layers`.
    pub layers: u64,
    /// `first_k_dense_replace`.
    pub dense_layers: u64,
    /// `n_routed_experts`.
    pub experts: u64,
    /// `num_experts_per_tok`.
    pub experts_used: u64,
    /// `n_shared_experts`.
    pub shared: u64,
    /// `num_attention_heads` (= `num_key_value_heads`).
    pub heads: u64,
    /// `q_lora_rank`; `None` gives a V2-Lite-style `q_proj`.
    pub q_lora: Option<u64>,
    /// `kv_lora_rank`.
    pub kv_lora: u64,
    /// `qk_nope_head_dim`.
    pub nope: u64,
    /// `qk_rope_head_dim`.
    pub rope: u64,
    /// `v_head_dim`.
    pub v: u64,
    /// `intermediate_size` (dense layers).
    pub ff: u64,
    /// `moe_intermediate_size`.
    pub moe_ff: u64,
    /// `vocab_size` (the tokenizer has fewer tokens; the rest are padding).
    pub vocab: u64,
    /// Weight storage.
    pub dtype: SynthDtype,
    /// Number of shards (1 writes `model.safetensors` without an index).
    pub shards: usize,
    /// Store one multi-token-prediction layer after the trunk, as V3 does.
    pub mtp: bool,
    /// Seed of the pseudo-random data.
    pub seed: u64,
    /// Write headers only: the data is a hole that reads as zeros and takes no disk.
    pub sparse: bool,
    /// Write into a directory that is not empty (files of the same names are replaced).
    pub force: bool,
    /// DeepSeek-V4's own shape (used by [`SynthFamily::DeepseekV4`] only).
    pub v4: crate::arch::deepseek4::synth::V4Shape,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            family: SynthFamily::DeepseekV3,
            hidden: 256,
            layers: 3,
            dense_layers: 1,
            experts: 8,
            experts_used: 2,
            shared: 1,
            heads: 4,
            q_lora: Some(128),
            kv_lora: 64,
            nope: 32,
            rope: 32,
            v: 32,
            ff: 512,
            moe_ff: 128,
            vocab: 1024,
            dtype: SynthDtype::Bf16,
            shards: 3,
            mtp: true,
            seed: 1,
            sparse: false,
            force: false,
            v4: Default::default(),
        }
    }
}

/// The named shapes of `ds2gguf synth --preset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynthPreset {
    /// A few MB: 3 layers, 8 experts, hidden 256 (the default).
    Tiny,
    /// 4 layers, 16 experts, hidden 512.
    Small,
    /// About 7 GB of BF16, like the conformance lab's `medium`.
    Medium,
    /// DeepSeek-V3's real widths with one MoE layer of 256 experts.
    V3Slice,
    /// All of DeepSeek-V3 671B (use `sparse`).
    V3Full,
    /// All of DeepSeek-V4-Flash (284B; use `sparse`).
    V4Flash,
    /// All of DeepSeek-V4-Pro (use `sparse`).
    V4Pro,
}

impl SynthPreset {
    /// Every preset, in size order.
    pub const ALL: [SynthPreset; 7] = [
        SynthPreset::Tiny,
        SynthPreset::Small,
        SynthPreset::Medium,
        SynthPreset::V3Slice,
        SynthPreset::V3Full,
        SynthPreset::V4Flash,
        SynthPreset::V4Pro,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SynthPreset::Tiny => "tiny",
            SynthPreset::Small => "small",
            SynthPreset::Medium => "medium",
            SynthPreset::V3Slice => "v3-slice",
            SynthPreset::V3Full => "v3-full",
            SynthPreset::V4Flash => "v4-flash",
            SynthPreset::V4Pro => "v4-pro",
        }
    }

    /// One line on what the preset is.
    pub fn help(self) -> &'static str {
        match self {
            SynthPreset::Tiny => "a few MB: 3 layers, 8 experts, hidden 256",
            SynthPreset::Small => "4 layers, 16 experts, hidden 512",
            SynthPreset::Medium => "about 7 GB of BF16 (like the lab's medium)",
            SynthPreset::V3Slice => "DeepSeek-V3 widths, one 256-expert MoE layer",
            SynthPreset::V3Full => "all of DeepSeek-V3 671B (use --sparse)",
            SynthPreset::V4Flash => "all of DeepSeek-V4-Flash 284B, FP8 + FP4 (use --sparse)",
            SynthPreset::V4Pro => "all of DeepSeek-V4-Pro, FP8 + FP4 (use --sparse)",
        }
    }

    /// The spec of this preset.
    pub fn spec(self) -> SynthSpec {
        let d = SynthSpec::default();
        // DeepSeek-V3's attention widths and vocabulary, shared by the large presets
        let v3_widths = SynthSpec {
            q_lora: Some(1536),
            kv_lora: 512,
            nope: 128,
            rope: 64,
            v: 128,
            vocab: 129280,
            ..SynthSpec::default()
        };
        match self {
            SynthPreset::Tiny => d,
            SynthPreset::Small => SynthSpec {
                hidden: 512,
                layers: 4,
                experts: 16,
                experts_used: 4,
                moe_ff: 256,
                ff: 1024,
                heads: 8,
                q_lora: Some(256),
                kv_lora: 128,
                nope: 64,
                rope: 32,
                v: 64,
                vocab: 4096,
                ..d
            },
            SynthPreset::Medium => SynthSpec {
                hidden: 2048,
                layers: 4,
                dense_layers: 1,
                experts: 64,
                experts_used: 6,
                moe_ff: 1408,
                ff: 10944,
                heads: 16,
                shards: 4,
                ..v3_widths
            },
            SynthPreset::V3Slice => SynthSpec {
                hidden: 7168,
                layers: 2,
                dense_layers: 1,
                experts: 256,
                experts_used: 8,
                moe_ff: 2048,
                ff: 18432,
                heads: 128,
                shards: 8,
                ..v3_widths
            },
            SynthPreset::V3Full => SynthSpec {
                layers: 61,
                dense_layers: 3,
                shards: 163,
                ..SynthPreset::V3Slice.spec()
            },
            SynthPreset::V4Flash => crate::arch::deepseek4::synth::flash_spec(),
            SynthPreset::V4Pro => crate::arch::deepseek4::synth::pro_spec(),
        }
    }
}

impl SynthDtype {
    /// Every storage type.
    pub const ALL: [SynthDtype; 5] = [
        SynthDtype::Bf16,
        SynthDtype::F16,
        SynthDtype::F32,
        SynthDtype::Fp8,
        SynthDtype::Int4,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SynthDtype::Bf16 => "bf16",
            SynthDtype::F16 => "f16",
            SynthDtype::F32 => "f32",
            SynthDtype::Fp8 => "fp8",
            SynthDtype::Int4 => "int4",
        }
    }
}

/// A stored tensor: name, safetensors dtype, shape, and how to fill it.
struct Stored {
    name: String,
    dtype: &'static str,
    shape: Vec<u64>,
    fill: Fill,
}

#[derive(Clone, Copy)]
enum Fill {
    /// Values around 1 (norm weights).
    One,
    /// Small values of this magnitude.
    Small(f32),
    /// Random e4m3 codes.
    Fp8,
    /// Positive FP8 block scales.
    Scale,
    /// Random 32-bit words (packed INT4 values).
    Words,
    /// Positive INT4 group scales (exact in f16).
    GroupScale,
    /// A weight shape `[rows, cols]` as I64.
    Shape([u64; 2]),
    /// Random FP4 e2m1 code pairs.
    Fp4,
    /// E8M0 power-of-two scales near 2^-7.
    E8m0,
    /// Integer ids below this bound (I32).
    Ids(u64),
}

/// The tensors to store: the architecture's table for the config we write, FP8 linear weights
/// with their scales.
fn stored_list(s: &SynthSpec) -> Result<Vec<Stored>> {
    let raw = RawConfig::from_json(Path::new("config.json"), config_json(s))?;
    let model = arch::model_from_config(raw)?;
    let float_dtype = match s.dtype {
        SynthDtype::Bf16 | SynthDtype::Fp8 | SynthDtype::Int4 => "BF16",
        SynthDtype::F16 => "F16",
        SynthDtype::F32 => "F32",
    };
    let v4 = s.family == SynthFamily::DeepseekV4;
    let mut out = Vec::new();
    for t in model.tensor_table() {
        match t.kind {
            TensorKind::Norm => out.push(Stored {
                name: t.name,
                dtype: if v4 { "F32" } else { float_dtype },
                shape: t.shape,
                fill: Fill::One,
            }),
            TensorKind::Bias => out.push(Stored {
                name: t.name,
                dtype: "F32",
                shape: t.shape,
                fill: Fill::Small(0.05),
            }),
            TensorKind::Router | TensorKind::Embed | TensorKind::Float => out.push(Stored {
                name: t.name,
                dtype: float_dtype,
                shape: t.shape,
                fill: Fill::Small(0.06),
            }),
            TensorKind::F32Param => out.push(Stored {
                name: t.name,
                dtype: "F32",
                shape: t.shape,
                fill: Fill::Small(0.05),
            }),
            TensorKind::Fp4Expert => {
                let base = t
                    .name
                    .strip_suffix(".weight")
                    .unwrap_or(&t.name)
                    .to_string();
                out.push(Stored {
                    name: format!("{base}.scale"),
                    dtype: "F8_E8M0",
                    shape: vec![t.shape[0], t.shape[1] / 32],
                    fill: Fill::E8m0,
                });
                out.push(Stored {
                    name: t.name,
                    dtype: "I8",
                    shape: vec![t.shape[0], t.shape[1] / 2],
                    fill: Fill::Fp4,
                });
            }
            TensorKind::HashTable => out.push(Stored {
                name: t.name,
                dtype: "I32",
                shape: t.shape,
                fill: Fill::Ids(s.experts.max(1)),
            }),
            TensorKind::Linear if s.dtype == SynthDtype::Fp8 && v4 => {
                let base = t
                    .name
                    .strip_suffix(".weight")
                    .unwrap_or(&t.name)
                    .to_string();
                let grid = vec![t.shape[0].div_ceil(128), t.shape[1].div_ceil(128)];
                out.push(Stored {
                    name: format!("{base}.scale"),
                    dtype: "F8_E8M0",
                    shape: grid,
                    fill: Fill::E8m0,
                });
                out.push(Stored {
                    name: t.name,
                    dtype: "F8_E4M3",
                    shape: t.shape,
                    fill: Fill::Fp8,
                });
            }
            TensorKind::Linear if s.dtype == SynthDtype::Fp8 => {
                let grid = vec![t.shape[0].div_ceil(128), t.shape[1].div_ceil(128)];
                out.push(Stored {
                    name: format!("{}_scale_inv", t.name),
                    dtype: "F32",
                    shape: grid,
                    fill: Fill::Scale,
                });
                out.push(Stored {
                    name: t.name,
                    dtype: "F8_E4M3",
                    shape: t.shape,
                    fill: Fill::Fp8,
                });
            }
            TensorKind::Linear
                if s.dtype == SynthDtype::Int4 && t.name.contains(".mlp.experts.") =>
            {
                let (rows, cols) = (t.shape[0], t.shape[1]);
                out.push(Stored {
                    name: format!("{}_packed", t.name),
                    dtype: "I32",
                    shape: vec![rows, cols.div_ceil(8)],
                    fill: Fill::Words,
                });
                out.push(Stored {
                    name: format!("{}_scale", t.name),
                    dtype: "BF16",
                    shape: vec![rows, cols / 32],
                    fill: Fill::GroupScale,
                });
                out.push(Stored {
                    name: format!("{}_shape", t.name),
                    dtype: "I64",
                    shape: vec![2],
                    fill: Fill::Shape([rows, cols]),
                });
            }
            TensorKind::Linear => out.push(Stored {
                name: t.name,
                dtype: float_dtype,
                shape: t.shape,
                fill: Fill::Small(0.06),
            }),
        }
    }
    Ok(out)
}

fn dtype_size(d: &str) -> u64 {
    match d {
        "F32" | "I32" => 4,
        "I64" => 8,
        "BF16" | "F16" => 2,
        _ => 1,
    }
}

/// A small, fast, deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    #[inline]
    fn unit(&mut self) -> f32 {
        ((self.next() >> 40) as f32) * (2.0 / (1u64 << 24) as f32) - 1.0
    }
}

fn name_seed(seed: u64, name: &str) -> u64 {
    name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn write_tensor(w: &mut impl Write, t: &Stored, seed: u64) -> std::io::Result<()> {
    let n: u64 = t.shape.iter().product();
    let mut rng = Rng::new(name_seed(seed, &t.name));
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut left = n;
    while left > 0 {
        let k = left.min(1 << 18);
        buf.clear();
        for _ in 0..k {
            let x = match t.fill {
                Fill::One => 1.0 + 0.2 * rng.unit(),
                Fill::Small(a) => a * rng.unit(),
                Fill::Scale => 2e-4 * (1.0 + 0.5 * rng.unit()),
                Fill::GroupScale => 2e-3 * (1.0 + 0.5 * rng.unit()),
                Fill::Words => {
                    buf.extend_from_slice(&(rng.next() as u32).to_le_bytes());
                    continue;
                }
                Fill::Shape(v) => {
                    buf.extend_from_slice(&v[(n - left) as usize + buf.len() / 8].to_le_bytes());
                    continue;
                }
                Fill::Fp4 => {
                    buf.push((rng.next() >> 56) as u8);
                    continue;
                }
                Fill::E8m0 => {
                    buf.push(118 + (rng.next() >> 61) as u8);
                    continue;
                }
                Fill::Ids(k) => {
                    buf.extend_from_slice(&((rng.next() % k) as i32).to_le_bytes());
                    continue;
                }
                Fill::Fp8 => {
                    let mut b = (rng.next() >> 56) as u8;
                    if b & 0x7f == 0x7f {
                        b &= 0xfe; // never NaN
                    }
                    buf.push(b);
                    continue;
                }
            };
            match t.dtype {
                "F32" => buf.extend_from_slice(&x.to_le_bytes()),
                "F16" => buf.extend_from_slice(&half::f16::from_f32(x).to_bits().to_le_bytes()),
                _ => buf.extend_from_slice(&crate::quant::float::f32_to_bf16_bits(x).to_le_bytes()),
            }
        }
        w.write_all(&buf)?;
        left -= k;
    }
    Ok(())
}

/// Summary of what [`write_checkpoint`] wrote.
#[derive(Debug)]
pub struct SynthSummary {
    /// Tensors stored (scales included).
    pub tensors: usize,
    /// Bytes of tensor data.
    pub data_bytes: u64,
}

/// Writes a synthetic checkpoint into `dir` (created if needed).
pub fn write_checkpoint(dir: &Path, s: &SynthSpec) -> Result<SynthSummary> {
    validate(s)?;
    prepare_dir(dir, s.force)?;
    let stored = stored_list(s)?;
    let nsh = s.shards.max(1);
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); nsh];
    let mut sorted: Vec<usize> = (0..stored.len()).collect();
    sorted.sort_by(|a, b| stored[*a].name.cmp(&stored[*b].name));
    for (i, &ti) in sorted.iter().enumerate() {
        groups[(i * 7) % nsh].push(ti);
    }
    let mut weight_map = serde_json::Map::new();
    let mut total = 0u64;
    for (si, g) in groups.iter().enumerate() {
        let fname = if nsh == 1 {
            "model.safetensors".to_string()
        } else {
            format!("model-{:05}-of-{:05}.safetensors", si + 1, nsh)
        };
        let mut hdr = serde_json::Map::new();
        hdr.insert("__metadata__".into(), json!({"format": "pt"}));
        let mut off = 0u64;
        for &ti in g {
            let t = &stored[ti];
            let len = t.shape.iter().product::<u64>() * dtype_size(t.dtype);
            hdr.insert(
                t.name.clone(),
                json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [off, off + len]}),
            );
            weight_map.insert(t.name.clone(), Json::String(fname.clone()));
            off += len;
        }
        total += off;
        let mut h =
            serde_json::to_vec(&Json::Object(hdr)).map_err(|e| Error::Usage(e.to_string()))?;
        while h.len() % 8 != 0 {
            h.push(b' ');
        }
        put_file(dir, &fname, |w| {
            w.write_all(&(h.len() as u64).to_le_bytes())?;
            w.write_all(&h)?;
            if s.sparse {
                w.flush()?;
                w.get_ref().set_len(8 + h.len() as u64 + off)?;
            } else {
                for &ti in g {
                    write_tensor(w, &stored[ti], s.seed)?;
                }
            }
            Ok(())
        })?;
    }
    if nsh > 1 {
        let idx =
            json!({"metadata": {"total_size": total}, "weight_map": Json::Object(weight_map)});
        write_json(&dir.join("model.safetensors.index.json"), &idx)?;
    }
    write_json(&dir.join("config.json"), &config_json(s))?;
    let (bos, eos) = if s.family.is_tiktoken() {
        crate::synth_kimi::write_tokenizer(dir)?
    } else {
        write_tokenizer(dir)?;
        (0, 1)
    };
    write_json(
        &dir.join("generation_config.json"),
        &json!({"_from_model_config": true, "bos_token_id": bos, "eos_token_id": eos, "do_sample": true, "temperature": 0.6, "top_p": 0.95}),
    )?;
    Ok(SynthSummary {
        tensors: stored.len(),
        data_bytes: total,
    })
}

fn validate(s: &SynthSpec) -> Result<()> {
    let bad = |m: &str| Err(Error::Usage(format!("synth: {m}")));
    if s.hidden == 0
        || s.layers == 0
        || s.heads == 0
        || s.kv_lora == 0
        || s.rope == 0
        || s.v == 0
        || s.vocab == 0
    {
        return bad("hidden, layers, heads, kv-lora, rope, v and vocab must be positive");
    }
    if s.dense_layers > s.layers {
        return bad("dense layers exceed layers");
    }
    if s.dense_layers < s.layers
        && (s.experts == 0 || s.experts_used == 0 || s.experts_used > s.experts)
    {
        return bad("MoE layers need experts ≥ experts-used ≥ 1");
    }
    if s.vocab < 300 {
        return bad("vocab must be at least 300 (the synthetic tokenizer has about 290 tokens)");
    }
    if s.family.is_tiktoken() && s.vocab < crate::synth_kimi::n_tokens() {
        return bad(&format!(
            "vocab must be at least {} for the Kimi tokenizer ({} ranks + 256 special ids)",
            crate::synth_kimi::n_tokens(),
            crate::synth_kimi::n_tokens() - 256
        ));
    }
    if s.dtype == SynthDtype::Int4 && (!s.hidden.is_multiple_of(32) || !s.moe_ff.is_multiple_of(32))
    {
        return bad("int4 experts need hidden and moe-ff to be multiples of 32 (the group size)");
    }
    Ok(())
}

/// The `config.json` of a synthetic checkpoint.
pub fn config_json(s: &SynthSpec) -> Json {
    if s.family == SynthFamily::DeepseekV4 {
        return crate::arch::deepseek4::synth::config_json(s);
    }
    let mut c = json!({
        "architectures": [match s.family {
            SynthFamily::DeepseekV2 => "DeepseekV2ForCausalLM",
            SynthFamily::DeepseekV3 | SynthFamily::KimiK2 | SynthFamily::Moonlight => {
                "DeepseekV3ForCausalLM"
            }
            SynthFamily::DeepseekV32 => "DeepseekV32ForCausalLM",
            SynthFamily::DeepseekV4 => "DeepseekV4ForCausalLM",
        }],
        "model_type": match s.family {
            SynthFamily::DeepseekV2 => "deepseek_v2",
            SynthFamily::DeepseekV3 | SynthFamily::Moonlight => "deepseek_v3",
            SynthFamily::DeepseekV32 => "deepseek_v32",
            SynthFamily::KimiK2 => "kimi_k2",
            SynthFamily::DeepseekV4 => "deepseek_v4",
        },
        "attention_bias": false, "bos_token_id": 0, "eos_token_id": 1, "hidden_act": "silu",
        "hidden_size": s.hidden, "intermediate_size": s.ff, "kv_lora_rank": s.kv_lora,
        "max_position_embeddings": 4096, "moe_intermediate_size": s.moe_ff, "moe_layer_freq": 1,
        "n_shared_experts": s.shared, "num_attention_heads": s.heads,
        "num_hidden_layers": s.layers, "num_key_value_heads": s.heads,
        "first_k_dense_replace": s.dense_layers,
        "q_lora_rank": s.q_lora, "qk_nope_head_dim": s.nope, "qk_rope_head_dim": s.rope, "v_head_dim": s.v,
        "rms_norm_eps": 1e-6, "rope_theta": 10000,
        "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 4, "mscale": 1.0, "mscale_all_dim": 1.0,
                         "original_max_position_embeddings": 1024, "type": "yarn"},
        "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": s.vocab,
    });
    let o = c.as_object_mut().expect("object literal");
    if s.experts > 0 {
        o.insert("n_routed_experts".into(), json!(s.experts));
        o.insert("num_experts_per_tok".into(), json!(s.experts_used));
    }
    if s.mtp {
        o.insert("num_nextn_predict_layers".into(), json!(1));
    }
    if s.family == SynthFamily::DeepseekV32 {
        // V3.2's indexer: the published 64 heads × 128 scaled down, its top-k as published
        o.insert("index_n_heads".into(), json!(4));
        o.insert("index_head_dim".into(), json!(64));
        o.insert("index_topk".into(), json!(2048));
    }
    if s.family != SynthFamily::DeepseekV2 {
        let groups = if matches!(s.family, SynthFamily::DeepseekV3 | SynthFamily::DeepseekV32)
            && s.experts.is_multiple_of(4)
            && s.experts >= 8
        {
            4
        } else {
            1
        };
        o.insert("n_group".into(), json!(groups));
        o.insert("topk_group".into(), json!(if groups > 1 { 2 } else { 1 }));
        o.insert("norm_topk_prob".into(), json!(true));
        o.insert("routed_scaling_factor".into(), json!(2.5));
        o.insert("scoring_func".into(), json!("sigmoid"));
        o.insert("topk_method".into(), json!("noaux_tc"));
    } else {
        o.insert("n_group".into(), json!(1));
        o.insert("topk_group".into(), json!(1));
        o.insert("norm_topk_prob".into(), json!(false));
        o.insert("routed_scaling_factor".into(), json!(1.0));
        o.insert("scoring_func".into(), json!("softmax"));
        o.insert("topk_method".into(), json!("greedy"));
    }
    if s.family.is_tiktoken() {
        crate::synth_kimi::adjust_config(s, o);
    }
    if s.dtype == SynthDtype::Int4 {
        o.insert(
            "quantization_config".into(),
            json!({"config_groups": {"group_0": {"input_activations": null, "output_activations": null,
                "targets": ["Linear"], "weights": {"actorder": null, "block_structure": null, "dynamic": false,
                "group_size": 32, "num_bits": 4, "observer": "minmax", "observer_kwargs": {},
                "strategy": "group", "symmetric": true, "type": "int"}}},
                "format": "pack-quantized",
                "ignore": ["lm_head", "re:.*self_attn.*", "re:.*shared_experts.*", "re:.*mlp\\.(gate|up|gate_up|down)_proj.*"],
                "kv_cache_scheme": null, "quant_method": "compressed-tensors", "quantization_status": "compressed"}),
        );
    }
    if s.dtype == SynthDtype::Fp8 {
        o.insert(
            "quantization_config".into(),
            json!({"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]}),
        );
    }
    c
}

fn write_json(path: &Path, v: &Json) -> Result<()> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Error::Usage(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    put_file(dir, &name, |w| w.write_all(s.as_bytes()))
}

/// Makes sure `dir` can be written: created if missing; refused when it is a symbolic link,
/// not a directory, or (unless `force`) not empty.
fn prepare_dir(dir: &Path, force: bool) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(_) => std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e)),
        Ok(m) if m.file_type().is_symlink() => Err(Error::bad_file(
            dir,
            "is a symbolic link; synth writes only into a real directory",
        )),
        Ok(m) if !m.is_dir() => Err(Error::bad_file(dir, "exists and is not a directory")),
        Ok(_) => {
            let mut rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
            if !force && rd.next().is_some() {
                return Err(Error::bad_file(
                    dir,
                    "is not empty; pass --force to write into it anyway",
                ));
            }
            Ok(())
        }
    }
}

/// Writes `dir/name` under an exclusive temporary name (never through a symlink) and renames
/// it into place when complete; an error or a signal leaves no partial file.
fn put_file(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<()> {
    let path = dir.join(name);
    let (f, tmp) = crate::output::create_temp(&path)?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let done = write(&mut w)
        .and_then(|_| w.flush())
        .map_err(|e| Error::io(&path, e))
        .and_then(|_| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                &tmp,
                std::fs::Permissions::from_mode(crate::output::default_mode()),
            )
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::io(&path, e))
        });
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    crate::signals::unregister_temp(&tmp);
    done
}

/// Writes a small byte-level BPE tokenizer with DeepSeek-V3's special tokens and pre-tokenizer.
fn write_tokenizer(dir: &Path) -> Result<()> {
    let specials = [
        "<｜begin▁of▁sentence｜>",
        "<｜end▁of▁sentence｜>",
        "<｜▁pad▁｜>",
    ];
    let b2u = byte_to_unicode();
    let mut vocab = serde_json::Map::new();
    // the special tokens are in the model vocabulary too, as in DeepSeek's tokenizer.json
    for (i, sp) in specials.iter().enumerate() {
        vocab.insert(sp.to_string(), json!(i));
    }
    let mut id = specials.len() as u64;
    for c in b2u {
        vocab.insert(c.to_string(), json!(id));
        id += 1;
    }
    let merges = [
        ("Ġ", "t"),
        ("h", "e"),
        ("Ġt", "he"),
        ("i", "n"),
        ("Ġ", "a"),
        ("e", "r"),
        ("o", "n"),
        ("Ġ", "s"),
        ("r", "e"),
        ("Ġ", "the"),
    ];
    let mut merge_list = Vec::new();
    for (a, b) in merges {
        let m = format!("{a}{b}");
        if !vocab.contains_key(&m) {
            vocab.insert(m, json!(id));
            id += 1;
        }
        merge_list.push(Json::String(format!("{a} {b}")));
    }
    let added: Vec<Json> = specials
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"id": i, "content": c, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
        .collect();
    let bos = specials[0];
    let tok = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": []},
        "pre_tokenizer": pre_tokenizer_json("deepseek-v3"),
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [0], "tokens": [bos]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "vocab": Json::Object(vocab), "merges": merge_list}
    });
    write_json(&dir.join("tokenizer.json"), &tok)?;
    let template = "{% for m in messages %}{% if m['role'] == 'user' %}<｜User｜>{{ m['content'] }}{% elif m['role'] == 'assistant' %}<｜Assistant｜>{{ m['content'] }}<｜end▁of▁sentence｜>{% else %}{{ m['content'] }}{% endif %}{% endfor %}{% if add_generation_prompt %}<｜Assistant｜>{% endif %}";
    let cfg = json!({
        "add_bos_token": true, "add_eos_token": false,
        "bos_token": {"__type": "AddedToken", "content": specials[0], "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
        "eos_token": {"__type": "AddedToken", "content": specials[1], "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
        "pad_token": {"__type": "AddedToken", "content": specials[1], "lstrip": false, "normalized": true, "rstrip": false, "single_word": false},
        "unk_token": null, "clean_up_tokenization_spaces": false, "legacy": true, "model_max_length": 131072,
        "tokenizer_class": "LlamaTokenizerFast", "chat_template": template
    });
    write_json(&dir.join("tokenizer_config.json"), &cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_shards() {
        let d = tempfile::tempdir().unwrap();
        let spec = SynthSpec {
            dtype: SynthDtype::Fp8,
            hidden: 160,
            ..SynthSpec::default()
        };
        let sum = write_checkpoint(d.path(), &spec).unwrap();
        let ck = crate::checkpoint::safetensors::Checkpoint::open(d.path()).unwrap();
        assert_eq!(ck.tensors.len(), sum.tensors);
        assert_eq!(ck.data_bytes(), sum.data_bytes);
        let s = ck
            .get("model.layers.0.self_attn.q_a_proj.weight_scale_inv")
            .unwrap();
        assert_eq!(s.shape, vec![1, 2]); // 128×160 in 128×128 blocks
    }
}
