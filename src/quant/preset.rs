//! Output-type presets (`--outtype`) and the per-tensor type choice that llama.cpp's
//! `llama-quantize` makes for a `deepseek2` model.
//!
//! llama.cpp makes a K-quant file in two steps: its converter writes a BF16 GGUF, then
//! `llama-quantize` reads that file and picks a type for every tensor from the preset
//! (the "ftype"), the tensor's name, its shape, and a few counters it keeps while walking
//! the tensors. This module reproduces that choice (without an importance matrix) so that
//! ds2gguf can write the same types in one pass.
//!
//! The rules, in the order llama-quantize applies them to one tensor:
//!
//! 1. **Is it quantized at all?** Only tensors with at least two dimensions (counting the
//!    highest dimension whose extent is above 1), whose name ends in `weight`, that are not a
//!    `*_norm.weight` and not an expert router (`ffn_gate_inp.weight`). Every other tensor
//!    keeps the type it has in the BF16 file (F32 for norms, routers and biases).
//! 2. If the preset's base type is not a quantized type (F32/F16/BF16), every quantizable
//!    tensor simply gets the base type; nothing else below happens.
//! 3. A `--tensor-type` override whose regex finds the name takes precedence (first match
//!    wins) and skips step 4 entirely: in particular the counters of step 4 are not advanced.
//! 4. The mixture rules for the preset (see `mix_rules`), which look at a coarse category of
//!    the name (`output`, `token_embd`, attention V-like, `attn_output`, `ffn_down`, ...).
//! 5. A shape fallback when the row length `ne[0]` is not a whole number of blocks of the
//!    chosen type: 256-wide K-quants drop to a 32-wide legacy type (Q2_K/Q3_K → Q4_0,
//!    Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0), and if even that does not divide `ne[0]` (or the
//!    type already was 32-wide) the tensor becomes F16. Only `ne[0]` is looked at, whatever
//!    the number of dimensions, and the source type plays no part.
//!
//! llama-quantize does not walk the tensors in file order: it walks them sorted by layer
//! number (tensors outside `blk.N.` first), then by name (see [`llama_quantize_order`]). The
//! counters of step 4 advance in that order, which is why [`assign_types`] sorts internally;
//! its result is still indexed like its input. The quantized file is also *written* in that
//! order.
//!
//! What matters for DeepSeek (MLA layout): `attn_k_b`/`attn_v_b` match none of the named
//! categories (they are not `attn_k.weight`/`attn_v.weight`), so they get the base type and
//! then the shape fallback (`attn_k_b`, whose rows are `qk_nope_head_dim` = 128 wide, becomes
//! Q5_0 under Q4_K_M). Legacy files with a fused `attn_kv_b` get the "attention V" treatment
//! for it. `ffn_down`, `ffn_down_exps` and `ffn_down_shexp` all count as `ffn_down`, with the
//! layer taken from the name (the model has more than one expert).

use crate::gguf::GgmlType;

/// What the user asked for with --outtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum OutType {
    /// BF16 if the checkpoint's first 2-D tensor is bf16, F16 if it is f16, else F16
    /// (llama.cpp's converter `--outtype auto`).
    Auto,
    /// Everything in F32.
    F32,
    /// Mostly F16 (norms, routers and 1-D tensors stay F32).
    F16,
    /// Mostly BF16 (norms, routers and 1-D tensors stay F32).
    BF16,
    /// Mostly Q8_0.
    Q8_0,
    /// llama-quantize `Q4_0` (INT4 group-32 checkpoint tensors are repacked into it losslessly).
    Q4_0,
    /// llama-quantize `Q2_K`.
    Q2_K,
    /// llama-quantize `Q3_K_S`.
    Q3_K_S,
    /// llama-quantize `Q3_K_M` (alias `Q3_K`).
    Q3_K_M,
    /// llama-quantize `Q3_K_L`.
    Q3_K_L,
    /// llama-quantize `Q4_K_S`.
    Q4_K_S,
    /// llama-quantize `Q4_K_M` (alias `Q4_K`).
    Q4_K_M,
    /// llama-quantize `Q5_K_S`.
    Q5_K_S,
    /// llama-quantize `Q5_K_M` (alias `Q5_K`).
    Q5_K_M,
    /// llama-quantize `Q6_K`.
    Q6_K,
    /// llama-quantize `IQ1_S` (needs an importance matrix).
    IQ1_S,
    /// llama-quantize `IQ1_M` (needs an importance matrix).
    IQ1_M,
    /// llama-quantize `IQ2_XXS` (needs an importance matrix).
    IQ2_XXS,
    /// llama-quantize `IQ2_XS` (needs an importance matrix).
    IQ2_XS,
    /// llama-quantize `IQ2_S` (needs an importance matrix).
    IQ2_S,
    /// llama-quantize `IQ2_M` (needs an importance matrix).
    IQ2_M,
    /// llama-quantize `IQ3_XXS` (needs an importance matrix for most tensors).
    IQ3_XXS,
    /// llama-quantize `IQ3_XS` (its IQ3_XXS tensors need an importance matrix).
    IQ3_XS,
    /// llama-quantize `IQ3_S`.
    IQ3_S,
    /// llama-quantize `IQ3_M`.
    IQ3_M,
    /// llama-quantize `IQ4_NL`.
    IQ4_NL,
    /// llama-quantize `IQ4_XS`.
    IQ4_XS,
}

impl OutType {
    /// Every output type, in the order of this enum.
    pub const ALL: [OutType; 27] = [
        OutType::Auto,
        OutType::F32,
        OutType::F16,
        OutType::BF16,
        OutType::Q8_0,
        OutType::Q4_0,
        OutType::Q2_K,
        OutType::Q3_K_S,
        OutType::Q3_K_M,
        OutType::Q3_K_L,
        OutType::Q4_K_S,
        OutType::Q4_K_M,
        OutType::Q5_K_S,
        OutType::Q5_K_M,
        OutType::Q6_K,
        OutType::IQ1_S,
        OutType::IQ1_M,
        OutType::IQ2_XXS,
        OutType::IQ2_XS,
        OutType::IQ2_S,
        OutType::IQ2_M,
        OutType::IQ3_XXS,
        OutType::IQ3_XS,
        OutType::IQ3_S,
        OutType::IQ3_M,
        OutType::IQ4_NL,
        OutType::IQ4_XS,
    ];

    /// Parses an output type name, case-insensitively (`"q4_k_m"`, `"BF16"`, `"auto"`).
    /// llama-quantize's aliases `q3_k`, `q4_k` and `q5_k` mean the `_m` presets.
    pub fn parse(s: &str) -> Option<OutType> {
        let s = s.trim();
        if let Some(t) = OutType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
        {
            return Some(t);
        }
        match s.to_ascii_lowercase().as_str() {
            "q3_k" => Some(OutType::Q3_K_M),
            "q4_k" => Some(OutType::Q4_K_M),
            "q5_k" => Some(OutType::Q5_K_M),
            _ => None,
        }
    }

    /// The lower-case canonical name (`"q4_k_m"`, `"bf16"`, `"auto"`).
    pub fn name(self) -> &'static str {
        match self {
            OutType::Auto => "auto",
            OutType::F32 => "f32",
            OutType::F16 => "f16",
            OutType::BF16 => "bf16",
            OutType::Q8_0 => "q8_0",
            OutType::Q4_0 => "q4_0",
            OutType::Q2_K => "q2_k",
            OutType::Q3_K_S => "q3_k_s",
            OutType::Q3_K_M => "q3_k_m",
            OutType::Q3_K_L => "q3_k_l",
            OutType::Q4_K_S => "q4_k_s",
            OutType::Q4_K_M => "q4_k_m",
            OutType::Q5_K_S => "q5_k_s",
            OutType::Q5_K_M => "q5_k_m",
            OutType::Q6_K => "q6_k",
            OutType::IQ1_S => "iq1_s",
            OutType::IQ1_M => "iq1_m",
            OutType::IQ2_XXS => "iq2_xxs",
            OutType::IQ2_XS => "iq2_xs",
            OutType::IQ2_S => "iq2_s",
            OutType::IQ2_M => "iq2_m",
            OutType::IQ3_XXS => "iq3_xxs",
            OutType::IQ3_XS => "iq3_xs",
            OutType::IQ3_S => "iq3_s",
            OutType::IQ3_M => "iq3_m",
            OutType::IQ4_NL => "iq4_nl",
            OutType::IQ4_XS => "iq4_xs",
        }
    }

    /// True for the presets llama.cpp only makes with `llama-quantize` (so [`assign_types`]
    /// decides their tensor types): Q4_0, the K-quant presets Q2_K..Q6_K and the IQ presets.
    pub fn is_kquant_preset(self) -> bool {
        self.is_iq_preset()
            || matches!(
                self,
                OutType::Q4_0
                    | OutType::Q2_K
                    | OutType::Q3_K_S
                    | OutType::Q3_K_M
                    | OutType::Q3_K_L
                    | OutType::Q4_K_S
                    | OutType::Q4_K_M
                    | OutType::Q5_K_S
                    | OutType::Q5_K_M
                    | OutType::Q6_K
            )
    }

    /// True for the twelve IQ presets (IQ1_S..IQ4_XS).
    pub fn is_iq_preset(self) -> bool {
        matches!(
            self,
            OutType::IQ1_S
                | OutType::IQ1_M
                | OutType::IQ2_XXS
                | OutType::IQ2_XS
                | OutType::IQ2_S
                | OutType::IQ2_M
                | OutType::IQ3_XXS
                | OutType::IQ3_XS
                | OutType::IQ3_S
                | OutType::IQ3_M
                | OutType::IQ4_NL
                | OutType::IQ4_XS
        )
    }

    /// The `general.file_type` value (llama.h `LLAMA_FTYPE_*`). `Auto` has no file type of
    /// its own: it reports MOSTLY_F16 (1), the converter's choice when no bf16 tensor is
    /// found; resolve it first with [`OutType::resolve_auto`] when the source is known.
    pub fn file_type(self) -> u32 {
        match self {
            OutType::F32 => 0,
            OutType::Auto | OutType::F16 => 1,
            OutType::Q8_0 => 7,
            OutType::Q4_0 => 2,
            OutType::Q2_K => 10,
            OutType::Q3_K_S => 11,
            OutType::Q3_K_M => 12,
            OutType::Q3_K_L => 13,
            OutType::Q4_K_S => 14,
            OutType::Q4_K_M => 15,
            OutType::Q5_K_S => 16,
            OutType::Q5_K_M => 17,
            OutType::Q6_K => 18,
            OutType::IQ2_XXS => 19,
            OutType::IQ2_XS => 20,
            OutType::IQ3_XS => 22,
            OutType::IQ3_XXS => 23,
            OutType::IQ1_S => 24,
            OutType::IQ4_NL => 25,
            OutType::IQ3_S => 26,
            OutType::IQ3_M => 27,
            OutType::IQ2_S => 28,
            OutType::IQ2_M => 29,
            OutType::IQ4_XS => 30,
            OutType::IQ1_M => 31,
            OutType::BF16 => 32,
        }
    }

    /// The preset's base tensor type (llama.cpp's `llama_ftype_get_default_type`): the type a
    /// quantizable tensor gets when no mixture rule applies. `None` for `Auto`.
    pub fn base_type(self) -> Option<GgmlType> {
        Some(match self {
            OutType::Auto => return None,
            OutType::F32 => GgmlType::F32,
            OutType::F16 => GgmlType::F16,
            OutType::BF16 => GgmlType::BF16,
            OutType::Q8_0 => GgmlType::Q8_0,
            OutType::Q4_0 => GgmlType::Q4_0,
            OutType::Q2_K => GgmlType::Q2_K,
            OutType::Q3_K_S | OutType::Q3_K_M | OutType::Q3_K_L => GgmlType::Q3_K,
            OutType::Q4_K_S | OutType::Q4_K_M => GgmlType::Q4_K,
            OutType::Q5_K_S | OutType::Q5_K_M => GgmlType::Q5_K,
            OutType::Q6_K => GgmlType::Q6_K,
            OutType::IQ1_S => GgmlType::IQ1_S,
            OutType::IQ1_M => GgmlType::IQ1_M,
            OutType::IQ2_XXS => GgmlType::IQ2_XXS,
            // IQ2_S files are mostly IQ2_XS, IQ2_M files mostly IQ2_S (llama.cpp's table)
            OutType::IQ2_XS | OutType::IQ2_S => GgmlType::IQ2_XS,
            OutType::IQ2_M => GgmlType::IQ2_S,
            OutType::IQ3_XXS => GgmlType::IQ3_XXS,
            OutType::IQ3_XS | OutType::IQ3_S | OutType::IQ3_M => GgmlType::IQ3_S,
            OutType::IQ4_NL => GgmlType::IQ4_NL,
            OutType::IQ4_XS => GgmlType::IQ4_XS,
        })
    }

    /// Resolves `Auto` the way llama.cpp's converter does: BF16 when the first 2-D source
    /// tensor in bf16 or f16 is bf16, F16 otherwise. Other values are returned unchanged.
    pub fn resolve_auto(self, first_16bit_is_bf16: bool) -> OutType {
        match self {
            OutType::Auto if first_16bit_is_bf16 => OutType::BF16,
            OutType::Auto => OutType::F16,
            t => t,
        }
    }
}

impl std::fmt::Display for OutType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A tensor as llama-quantize sees it in the BF16 GGUF that llama.cpp's converter writes.
#[derive(Clone, Copy, Debug)]
pub struct QuantTensor<'a> {
    /// GGUF tensor name, e.g. `blk.3.ffn_down_exps.weight`.
    pub name: &'a str,
    /// Extents in ggml order (`ne[0]` is the row length).
    pub ne: &'a [u64],
    /// The tensor's type in that BF16 file (BF16, or F32 for norms, routers and biases).
    pub src_type: GgmlType,
}

/// Model facts the rules need (from the GGUF metadata llama-quantize reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantModel {
    /// `deepseek2.block_count` (llama.cpp's `n_layer_all`; MTP layers are not in it for deepseek2).
    pub n_layer: u32,
    /// `deepseek2.expert_count`, 0 when absent (dense model).
    pub n_expert: u32,
    /// `deepseek2.attention.head_count` (of layer 0).
    pub n_head: u32,
    /// `deepseek2.attention.head_count_kv` (of layer 0): 1 for the MLA layout ds2gguf and
    /// llama.cpp write, H for legacy `attn_kv_b` files. When the key is absent, pass `n_head`.
    pub n_head_kv: u32,
}

impl QuantModel {
    /// Heads per KV head, as llama.cpp's `n_gqa()` (0 when `n_head_kv` is 0).
    pub fn n_gqa(&self) -> u32 {
        self.n_head.checked_div(self.n_head_kv).unwrap_or(0)
    }
}

/// A `--tensor-type REGEX=TYPE` override (first match wins).
#[derive(Clone, Debug)]
pub struct TensorTypeOverride {
    /// The pattern, searched anywhere in the tensor name (not anchored). As in llama-quantize,
    /// it was lower-cased before compiling.
    pub pattern: regex::Regex,
    /// The type to use for every matching tensor (still subject to the shape fallback).
    pub ty: GgmlType,
}

impl TensorTypeOverride {
    /// Parses `PATTERN=TYPE` as llama-quantize's `--tensor-type` does: split at the first `=`,
    /// lower-case the pattern, type name case-insensitive (`q8_0`, `Q6_K`, `f16`, `bf16`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (pat, ty) = s.split_once('=').ok_or_else(|| {
            format!("malformed tensor type override '{s}' (expected PATTERN=TYPE)")
        })?;
        if pat.is_empty() {
            return Err(format!("missing tensor name pattern in '{s}'"));
        }
        if ty.is_empty() {
            return Err(format!("missing quantization type in '{s}'"));
        }
        let ty = GgmlType::from_name(ty)
            .ok_or_else(|| format!("invalid or unsupported tensor type '{ty}' in '{s}'"))?;
        let pat = pat.to_lowercase();
        let pattern = regex::Regex::new(&pat)
            .map_err(|e| format!("invalid tensor name pattern '{pat}': {e}"))?;
        Ok(TensorTypeOverride { pattern, ty })
    }
}

/// The less common llama-quantize switches, with the CLI's defaults in `Default`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantParams {
    /// `--pure`: no mixture rules, every quantizable tensor gets the base type (shape fallback
    /// still applies). Default false.
    pub pure: bool,
    /// False with `--leave-output-tensor` (output.weight keeps its source type). Default true.
    pub quantize_output_tensor: bool,
    /// `--output-tensor-type`. Default none.
    pub output_tensor_type: Option<GgmlType>,
    /// `--token-embedding-type`. Default none.
    pub token_embedding_type: Option<GgmlType>,
    /// An importance matrix with entries was given (llama-quantize's `has_imatrix`, which a
    /// few preset rules read). Default false.
    pub has_imatrix: bool,
}

impl Default for QuantParams {
    fn default() -> Self {
        QuantParams {
            pure: false,
            quantize_output_tensor: true,
            output_tensor_type: None,
            token_embedding_type: None,
            has_imatrix: false,
        }
    }
}

/// The output type of every tensor, in file order, as llama-quantize (no imatrix) would write
/// for `preset` on the given tensor list (order matters: llama-quantize keeps counters).
///
/// The result is indexed like `tensors`; internally the tensors are visited in llama-quantize's
/// order ([`llama_quantize_order`]), whatever order they are given in. For the non-K-quant
/// presets this is still what `llama-quantize <F32|F16|BF16|Q8_0>` would do; `Auto` keeps every
/// source type (like llama-quantize's `COPY`).
///
/// Panics where llama-quantize stops with an error: an `ffn_down`/`ffn_gate`/`ffn_up` tensor of
/// an MoE model without a valid `blk.N.` layer. Use [`try_assign_types`] to get that error.
pub fn assign_types(
    preset: OutType,
    model: &QuantModel,
    tensors: &[QuantTensor],
    overrides: &[TensorTypeOverride],
) -> Vec<GgmlType> {
    match try_assign_types(preset, model, tensors, overrides, &QuantParams::default()) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// [`assign_types`] with explicit llama-quantize switches, returning llama-quantize's errors.
pub fn try_assign_types(
    preset: OutType,
    model: &QuantModel,
    tensors: &[QuantTensor],
    overrides: &[TensorTypeOverride],
    params: &QuantParams,
) -> Result<Vec<GgmlType>, String> {
    let mut out: Vec<GgmlType> = tensors.iter().map(|t| t.src_type).collect();
    let Some(base) = preset.base_type() else {
        return Ok(out);
    };

    let cats: Vec<Category> = tensors.iter().map(|t| Category::of(t.name)).collect();
    let mut st = MixState {
        model,
        preset,
        params,
        n_attn_v: cats.iter().filter(|c| c.is_attn_v_like()).count() as i64,
        i_attn_v: 0,
        i_ffn_down: 0,
        i_ffn_gate: 0,
        i_ffn_up: 0,
        tied_embeddings: !cats.contains(&Category::Output),
    };

    let names: Vec<&str> = tensors.iter().map(|t| t.name).collect();
    for idx in llama_quantize_order(&names) {
        let t = &tensors[idx];
        if !allows_quantization(t.name, t.ne, params) {
            continue;
        }
        out[idx] = st.tensor_type(base, t, cats[idx], overrides)?;
    }
    Ok(out)
}

/// Whether llama-quantize quantizes this tensor at all (for the names a deepseek2 model can
/// have): at least 2 dimensions, name ending in `weight`, not a norm, not the expert router,
/// and not `output.weight` under `--leave-output-tensor`. Tensors for which this is false keep
/// their source type.
pub fn allows_quantization(name: &str, ne: &[u64], params: &QuantParams) -> bool {
    if n_dims(ne) < 2 || !name.ends_with("weight") {
        return false;
    }
    if !params.quantize_output_tensor && name == "output.weight" {
        return false;
    }
    // Name fragments llama-quantize never quantizes. For deepseek2 only the last two matter
    // (norms and the expert router); the others belong to other architectures and are listed
    // so that an unexpected tensor is treated as llama-quantize would treat it.
    const NEVER: [&str; 35] = [
        "ffn_gate_tid2eid.weight",
        "altup",
        "laurel",
        "per_layer_model_proj",
        "ssm_conv1d",
        "shortconv.conv.weight",
        "indexer.k_proj.weight",
        "indexer.q_proj.weight",
        "time_mix_first.weight",
        "time_mix_w0.weight",
        "time_mix_w1.weight",
        "time_mix_w2.weight",
        "time_mix_v0.weight",
        "time_mix_v1.weight",
        "time_mix_v2.weight",
        "time_mix_a0.weight",
        "time_mix_a1.weight",
        "time_mix_a2.weight",
        "time_mix_g1.weight",
        "time_mix_g2.weight",
        "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight",
        "attn_rel_b.weight",
        ".position_embd",
        "sam.pos_embd",
        "sam.neck.",
        "sam.net_",
        ".rel_pos",
        ".patch_embd",
        ".patch_merger",
        "a.rvq.codebook",
        "mm.a.code_embd",
        "ffn_gate_inp.weight",
        "_norm.weight",
    ];
    if NEVER.iter().any(|p| name.contains(p)) {
        return false;
    }
    name != "position_embd.weight" && name != "token_types.weight"
}

/// llama-quantize's `tensor_requires_imatrix`: true when a tensor planned as `ty` cannot be
/// made without an importance matrix (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS; never
/// `token_embd.weight`, `per_layer_token_embd.weight` or `output.weight`). (Its Q2_K case
/// belongs to the Q2_K_S preset, which ds2gguf does not offer.)
pub fn tensor_requires_imatrix(name: &str, ty: GgmlType) -> bool {
    if matches!(
        name,
        "token_embd.weight" | "per_layer_token_embd.weight" | "output.weight"
    ) {
        return false;
    }
    matches!(
        ty,
        GgmlType::IQ3_XXS
            | GgmlType::IQ2_XXS
            | GgmlType::IQ2_XS
            | GgmlType::IQ2_S
            | GgmlType::IQ1_M
            | GgmlType::IQ1_S
    )
}

/// What llama-quantize does without `--imatrix` once the types are planned: it stops at the
/// first quantized tensor (in its visiting order) whose type requires an importance matrix.
/// `types` is indexed like `tensors` (as [`try_assign_types`] returns it). The error names
/// the tensor and its type, as llama-quantize's message does.
pub fn check_imatrix_requirement(
    tensors: &[QuantTensor],
    types: &[GgmlType],
    params: &QuantParams,
) -> Result<(), String> {
    if params.has_imatrix {
        return Ok(());
    }
    let names: Vec<&str> = tensors.iter().map(|t| t.name).collect();
    for i in llama_quantize_order(&names) {
        let t = &tensors[i];
        if allows_quantization(t.name, t.ne, params) && tensor_requires_imatrix(t.name, types[i]) {
            return Err(format!(
                "this quantization requires an importance matrix (--imatrix): tensor {} would be {}",
                t.name, types[i]
            ));
        }
    }
    Ok(())
}

/// The order in which llama-quantize visits, and writes, the tensors: by the layer number that
/// follows `blk.` (tensors without one count as layer -1, so they come first), then by name
/// (byte order, so `attn_k_b` < `attn_kv_a_mqa` < `attn_norm`). Returns indices into `names`.
pub fn llama_quantize_order(names: &[&str]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..names.len()).collect();
    idx.sort_by(|&a, &b| {
        let la = block_index(names[a]).unwrap_or(-1);
        let lb = block_index(names[b]).unwrap_or(-1);
        la.cmp(&lb)
            .then_with(|| names[a].as_bytes().cmp(names[b].as_bytes()))
    });
    idx
}

/// The shape fallback of llama-quantize: the type actually used when `ty` is wanted for rows of
/// `ne0` elements. Types whose blocks divide `ne0` are kept; 256-wide K-quants fall back to a
/// 32-wide type (Q2_K/Q3_K → Q4_0, Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0); when that does not
/// divide `ne0` either, or `ty` was already 32-wide, the result is F16.
pub fn shape_fallback(ty: GgmlType, ne0: u64) -> GgmlType {
    if ne0.is_multiple_of(ty.block_size()) {
        return ty;
    }
    let second = match ty {
        GgmlType::Q2_K | GgmlType::Q3_K => GgmlType::Q4_0,
        GgmlType::Q4_K => GgmlType::Q5_0,
        GgmlType::Q5_K => GgmlType::Q5_1,
        GgmlType::Q6_K => GgmlType::Q8_0,
        GgmlType::IQ1_S
        | GgmlType::IQ1_M
        | GgmlType::IQ2_XXS
        | GgmlType::IQ2_XS
        | GgmlType::IQ2_S
        | GgmlType::IQ3_XXS
        | GgmlType::IQ3_S
        | GgmlType::IQ4_XS => GgmlType::IQ4_NL,
        // 32-wide types: nothing narrower to try.
        other => other,
    };
    if ne0.is_multiple_of(second.block_size()) {
        second
    } else {
        GgmlType::F16
    }
}

/// ggml's dimension count: one more than the highest axis whose extent exceeds 1 (at least 1).
fn n_dims(ne: &[u64]) -> usize {
    ne.iter().rposition(|&n| n > 1).map_or(1, |i| i + 1)
}

/// The layer number in a `blk.N.` prefix, read the way C's `sscanf("blk.%d.")` does
/// (optional leading blanks and sign before the digits; what follows the digits is not checked).
fn block_index(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("blk.")?;
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let len = digits.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 {
        return None;
    }
    // A C int: absurdly long numbers saturate here instead of wrapping; no real name has them.
    let v: i64 = digits[..len]
        .parse::<i64>()
        .unwrap_or(i64::MAX)
        .min(i32::MAX as i64);
    Some(if neg { -v } else { v })
}

/// The coarse name categories llama-quantize's rules look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    AttnQ,
    AttnV,
    AttnK,
    AttnQkv,
    AttnKvB,
    AttnOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Output,
    Other,
}

impl Category {
    /// First matching test wins, in this order (so `ffn_up*` is checked before `ffn_gate*`).
    fn of(name: &str) -> Category {
        if name == "output.weight" {
            Category::Output
        } else if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
            Category::TokenEmbd
        } else if name.contains("attn_qkv.weight") {
            Category::AttnQkv
        } else if name.contains("attn_kv_b.weight") {
            Category::AttnKvB
        } else if name.contains("attn_v.weight") {
            Category::AttnV
        } else if name.contains("attn_k.weight") {
            Category::AttnK
        } else if name.contains("attn_q.weight") {
            Category::AttnQ
        } else if name.contains("attn_output.weight") {
            Category::AttnOutput
        } else if name.contains("ffn_up") {
            Category::FfnUp
        } else if name.contains("ffn_gate") {
            Category::FfnGate
        } else if name.contains("ffn_down") {
            Category::FfnDown
        } else {
            Category::Other
        }
    }

    /// The tensors that get the "attention V" treatment (V itself, fused QKV, MLA's fused KV_B).
    fn is_attn_v_like(self) -> bool {
        matches!(
            self,
            Category::AttnV | Category::AttnQkv | Category::AttnKvB
        )
    }
}

/// llama-quantize's "give this layer more bits" pattern: the first and last eighth of the
/// layers, and every third layer in between.
fn use_more_bits(i_layer: i64, n_layer: i64) -> bool {
    i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2
}

/// The counters and facts llama-quantize carries from one tensor to the next.
struct MixState<'m> {
    model: &'m QuantModel,
    preset: OutType,
    params: &'m QuantParams,
    /// Number of attention-V-like tensors in the whole file.
    n_attn_v: i64,
    /// How many attention-V-like tensors went through the mixture rules so far.
    i_attn_v: i64,
    i_ffn_down: i64,
    i_ffn_gate: i64,
    i_ffn_up: i64,
    /// True when the file has no `output.weight` (token_embd then doubles as the output).
    tied_embeddings: bool,
}

impl MixState<'_> {
    /// Steps 2 to 5 of the module documentation for one quantizable tensor.
    fn tensor_type(
        &mut self,
        base: GgmlType,
        t: &QuantTensor,
        cat: Category,
        overrides: &[TensorTypeOverride],
    ) -> Result<GgmlType, String> {
        if let Some(ty) = self.params.token_embedding_type
            && cat == Category::TokenEmbd
        {
            // per_layer_token_embd may still be claimed by an explicit override.
            let named = t.name == "per_layer_token_embd.weight"
                && overrides.iter().any(|o| o.pattern.is_match(t.name));
            if !named {
                return Ok(ty);
            }
        }
        if let Some(ty) = self.params.output_tensor_type
            && cat == Category::Output
        {
            return Ok(ty);
        }
        if !is_quantized(base) {
            return Ok(base);
        }
        let manual = overrides
            .iter()
            .find(|o| o.pattern.is_match(t.name))
            .map(|o| o.ty);
        let ty = match manual {
            Some(ty) => ty,
            None if self.params.pure => base,
            None => self.mix_rules(base, t, cat)?,
        };
        Ok(shape_fallback(ty, t.ne.first().copied().unwrap_or(1)))
    }

    /// The layer index and count used by the `ffn_*` rules: with more than one expert the
    /// layer comes from the name (and must be valid), otherwise from the running counter.
    fn layer_info(&self, counter: i64, name: &str) -> Result<(i64, i64), String> {
        let n_layer = self.model.n_layer as i64;
        if self.model.n_expert.max(1) > 1 {
            let i = block_index(name)
                .ok_or_else(|| format!("Failed to determine layer for tensor {name}"))?;
            if i < 0 || i >= n_layer {
                return Err(format!(
                    "Bad layer {i} for tensor {name}. Must be in [0, {n_layer})"
                ));
            }
            Ok((i, n_layer))
        } else {
            Ok((counter, n_layer))
        }
    }

    /// The preset's mixture: the type for a tensor of category `cat`, starting from `ty`.
    /// Only the branches reachable with the presets of [`OutType`] are kept (the TQ*, MXFP4,
    /// Q2_K_S and Q4_0/Q5_0 branches cannot fire), and the architecture is never Falcon nor a
    /// "70B" model (deepseek2 models are 16B/30B/236B/671B or unknown).
    fn mix_rules(
        &mut self,
        mut ty: GgmlType,
        t: &QuantTensor,
        cat: Category,
    ) -> Result<GgmlType, String> {
        use GgmlType as G;
        use OutType as P;
        let p = self.preset;
        let eight_experts = self.model.n_expert == 8;
        let gqa4 = self.model.n_gqa() >= 4;
        let imatrix = self.params.has_imatrix;
        // the presets llama-quantize treats as "very low bit"
        let low = matches!(
            p,
            P::IQ2_XXS | P::IQ2_XS | P::IQ1_S | P::IQ2_S | P::IQ2_M | P::IQ1_M
        );
        let iq2sm = matches!(p, P::IQ2_S | P::IQ2_M);

        if cat == Category::Output || (self.tied_embeddings && cat == Category::TokenEmbd) {
            // The output projection (or the embedding standing in for it) gets 6 bits unless the
            // preset is Q8_0 (5 bits for the lowest IQ presets); a row length the base type
            // cannot hold means Q8_0.
            if let Some(o) = self.params.output_tensor_type {
                ty = o;
            } else if t.ne.first().copied().unwrap_or(1) % ty.block_size() != 0 {
                ty = G::Q8_0;
            } else if low || p == P::IQ3_XXS {
                ty = G::Q5_K;
            } else if ty != G::Q8_0 {
                ty = G::Q6_K;
            }
        } else if cat == Category::TokenEmbd {
            if let Some(e) = self.params.token_embedding_type {
                ty = e;
            } else if matches!(p, P::IQ2_XXS | P::IQ2_XS | P::IQ1_S | P::IQ1_M) {
                ty = G::Q2_K;
            } else if iq2sm || p == P::IQ3_XXS {
                ty = G::IQ3_S;
            }
        } else if low {
            if cat.is_attn_v_like() {
                ty = if gqa4 || self.model.n_expert >= 4 {
                    G::Q4_K
                } else if iq2sm {
                    G::IQ3_S
                } else {
                    G::Q2_K
                };
                self.i_attn_v += 1;
            } else if eight_experts && cat == Category::AttnK {
                ty = G::Q4_K;
            } else if cat == Category::FfnDown {
                // the running counter against n_layer, not the layer of the name
                if self.i_ffn_down < self.model.n_layer as i64 / 8 {
                    ty = if iq2sm { G::IQ3_S } else { G::Q2_K };
                }
                self.i_ffn_down += 1;
            } else if cat == Category::AttnOutput {
                if eight_experts {
                    ty = G::Q5_K;
                } else if matches!(p, P::IQ1_S | P::IQ1_M) {
                    ty = G::IQ2_XXS;
                } else if iq2sm {
                    ty = G::IQ3_S;
                }
            }
        } else if cat.is_attn_v_like() {
            let i = self.i_attn_v;
            match p {
                P::Q2_K => ty = if gqa4 { G::Q4_K } else { G::Q3_K },
                P::IQ3_XXS => {
                    ty = if gqa4 {
                        G::Q4_K
                    } else if !imatrix {
                        G::IQ3_S
                    } else {
                        G::IQ3_XXS
                    }
                }
                P::IQ3_XS | P::IQ3_S if gqa4 => ty = G::Q4_K,
                P::IQ3_M => ty = G::Q4_K,
                P::Q3_K_M => ty = if i < 2 { G::Q5_K } else { G::Q4_K },
                P::Q3_K_L => ty = G::Q5_K,
                P::IQ4_NL | P::IQ4_XS if gqa4 => ty = G::Q5_K,
                P::Q4_K_M | P::Q5_K_M if use_more_bits(i, self.n_attn_v) => ty = G::Q6_K,
                P::Q4_K_S if i < 4 => ty = G::Q5_K,
                _ => {}
            }
            if eight_experts {
                ty = G::Q8_0;
            }
            self.i_attn_v += 1;
        } else if cat == Category::AttnK {
            if eight_experts {
                ty = G::Q8_0;
            } else if p == P::IQ3_XS {
                ty = G::IQ3_XXS;
            } else if p == P::IQ3_XXS {
                ty = G::IQ2_S;
            }
        } else if cat == Category::AttnQ {
            // (llama-quantize also has an attn_qkv rule after attn_output, but attn_qkv never
            // reaches it: it is attention-V-like, see above.)
            if p == P::IQ3_XS {
                ty = G::IQ3_XXS;
            } else if p == P::IQ3_XXS {
                ty = G::IQ2_S;
            }
        } else if cat == Category::FfnDown {
            let (i, n) = self.layer_info(self.i_ffn_down, t.name)?;
            match p {
                P::Q2_K => ty = G::Q3_K,
                P::IQ3_XXS if !imatrix => ty = if i < n / 8 { G::Q4_K } else { G::Q3_K },
                // Non-Falcon: Q4_K everywhere past the first sixteenth.
                P::Q3_K_M => ty = if i < n / 16 { G::Q5_K } else { G::Q4_K },
                P::IQ3_M if i < n / 8 || (eight_experts && use_more_bits(i, n)) => ty = G::Q4_K,
                P::Q3_K_L => ty = G::Q5_K,
                P::Q4_K_M if use_more_bits(i, n) => ty = G::Q6_K,
                P::IQ4_NL | P::IQ4_XS if i < n / 8 && !imatrix => ty = G::Q5_K,
                P::Q5_K_M if use_more_bits(i, n) => ty = G::Q6_K,
                P::Q4_K_S if i < n / 8 => ty = G::Q5_K,
                _ => {}
            }
            self.i_ffn_down += 1;
        } else if cat == Category::AttnOutput {
            if eight_experts {
                if matches!(
                    p,
                    P::Q2_K
                        | P::IQ3_XS
                        | P::IQ3_XXS
                        | P::Q3_K_S
                        | P::Q3_K_M
                        | P::IQ4_NL
                        | P::Q4_K_S
                        | P::Q4_K_M
                        | P::IQ3_S
                        | P::IQ3_M
                        | P::IQ4_XS
                ) {
                    ty = G::Q5_K;
                }
            } else {
                match p {
                    P::Q2_K => ty = G::Q3_K,
                    P::IQ3_XXS => ty = G::IQ3_S,
                    P::Q3_K_M | P::IQ3_M => ty = G::Q4_K,
                    P::Q3_K_L => ty = G::Q5_K,
                    _ => {}
                }
            }
        } else if cat == Category::FfnGate || cat == Category::FfnUp {
            let counter = if cat == Category::FfnGate {
                self.i_ffn_gate
            } else {
                self.i_ffn_up
            };
            let (i, n) = self.layer_info(counter, t.name)?;
            if p == P::IQ3_XS && i >= n / 8 && i < 7 * n / 8 {
                ty = G::IQ3_XXS;
            }
            if cat == Category::FfnGate {
                self.i_ffn_gate += 1;
            } else {
                self.i_ffn_up += 1;
            }
        }
        Ok(ty)
    }
}

/// ggml's `ggml_is_quantized`: block-quantized, as opposed to the plain float types.
fn is_quantized(ty: GgmlType) -> bool {
    !matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
}

#[cfg(test)]
#[allow(clippy::nonminimal_bool, clippy::manual_range_contains)]
mod tests {
    use super::*;
    use GgmlType as G;

    /// Shape of a DeepSeek-style model, enough to list its GGUF tensors.
    #[derive(Clone, Copy)]
    struct Shape {
        e: u64,
        vocab: u64,
        n_layer: u32,
        n_dense: u32,
        heads: u64,
        q_lora: Option<u64>,
        kv_lora: u64,
        rope: u64,
        nope: u64,
        v: u64,
        n_expert: u64,
        moe_ff: u64,
        dense_ff: u64,
        n_shared: u64,
        legacy: bool,
        tied: bool,
    }

    const V3: Shape = Shape {
        e: 7168,
        vocab: 129280,
        n_layer: 61,
        n_dense: 3,
        heads: 128,
        q_lora: Some(1536),
        kv_lora: 512,
        rope: 64,
        nope: 128,
        v: 128,
        n_expert: 256,
        moe_ff: 2048,
        dense_ff: 18432,
        n_shared: 1,
        legacy: false,
        tied: false,
    };

    /// V2-Lite: no q_lora, 27 layers, 64 experts, 2 shared, first layer dense.
    const V2_LITE: Shape = Shape {
        e: 2048,
        vocab: 102400,
        n_layer: 27,
        n_dense: 1,
        heads: 16,
        q_lora: None,
        kv_lora: 512,
        rope: 64,
        nope: 128,
        v: 128,
        n_expert: 64,
        moe_ff: 1408,
        dense_ff: 10944,
        n_shared: 2,
        legacy: false,
        tied: false,
    };

    impl Shape {
        fn model(&self) -> QuantModel {
            QuantModel {
                n_layer: self.n_layer,
                n_expert: self.n_expert as u32,
                n_head: self.heads as u32,
                n_head_kv: if self.legacy { self.heads as u32 } else { 1 },
            }
        }

        /// (name, ne, src type) in the order llama.cpp's converter writes a published checkpoint
        /// (HF names sorted as strings, so layer 10 before layer 2).
        fn tensors(&self) -> Vec<(String, Vec<u64>, GgmlType)> {
            let mut out = vec![];
            let b = G::BF16;
            let f = G::F32;
            let mut layers: Vec<u32> = (0..self.n_layer).collect();
            layers.sort_by_key(|l| l.to_string());
            out.push(("token_embd.weight".into(), vec![self.e, self.vocab], b));
            for l in layers {
                let n = |s: &str| format!("blk.{l}.{s}");
                out.push((n("attn_norm.weight"), vec![self.e], f));
                if l >= self.n_dense {
                    out.push((
                        n("ffn_down_exps.weight"),
                        vec![self.moe_ff, self.e, self.n_expert],
                        b,
                    ));
                    out.push((
                        n("ffn_gate_exps.weight"),
                        vec![self.e, self.moe_ff, self.n_expert],
                        b,
                    ));
                    out.push((
                        n("ffn_up_exps.weight"),
                        vec![self.e, self.moe_ff, self.n_expert],
                        b,
                    ));
                    out.push((n("ffn_gate_inp.weight"), vec![self.e, self.n_expert], f));
                    out.push((n("exp_probs_b.bias"), vec![self.n_expert], f));
                    let sf = self.moe_ff * self.n_shared;
                    out.push((n("ffn_down_shexp.weight"), vec![sf, self.e], b));
                    out.push((n("ffn_gate_shexp.weight"), vec![self.e, sf], b));
                    out.push((n("ffn_up_shexp.weight"), vec![self.e, sf], b));
                } else {
                    out.push((n("ffn_down.weight"), vec![self.dense_ff, self.e], b));
                    out.push((n("ffn_gate.weight"), vec![self.e, self.dense_ff], b));
                    out.push((n("ffn_up.weight"), vec![self.e, self.dense_ff], b));
                }
                out.push((n("ffn_norm.weight"), vec![self.e], f));
                out.push((n("attn_kv_a_norm.weight"), vec![self.kv_lora], f));
                out.push((
                    n("attn_kv_a_mqa.weight"),
                    vec![self.e, self.kv_lora + self.rope],
                    b,
                ));
                if self.legacy {
                    out.push((
                        n("attn_kv_b.weight"),
                        vec![self.kv_lora, self.heads * (self.nope + self.v)],
                        b,
                    ));
                } else {
                    out.push((
                        n("attn_k_b.weight"),
                        vec![self.nope, self.kv_lora, self.heads],
                        b,
                    ));
                    out.push((
                        n("attn_v_b.weight"),
                        vec![self.kv_lora, self.v, self.heads],
                        b,
                    ));
                }
                out.push((
                    n("attn_output.weight"),
                    vec![self.heads * self.v, self.e],
                    b,
                ));
                let qw = self.heads * (self.nope + self.rope);
                match self.q_lora {
                    Some(r) => {
                        out.push((n("attn_q_a_norm.weight"), vec![r], f));
                        out.push((n("attn_q_a.weight"), vec![self.e, r], b));
                        out.push((n("attn_q_b.weight"), vec![r, qw], b));
                    }
                    None => out.push((n("attn_q.weight"), vec![self.e, qw], b)),
                }
            }
            out.push(("output_norm.weight".into(), vec![self.e], f));
            if !self.tied {
                out.push(("output.weight".into(), vec![self.e, self.vocab], b));
            }
            out
        }
    }

    /// Runs the rules on a tensor list and returns name → type.
    fn run(
        preset: OutType,
        model: &QuantModel,
        list: &[(String, Vec<u64>, GgmlType)],
        overrides: &[TensorTypeOverride],
    ) -> std::collections::HashMap<String, GgmlType> {
        let ts: Vec<QuantTensor> = list
            .iter()
            .map(|(n, ne, ty)| QuantTensor {
                name: n,
                ne,
                src_type: *ty,
            })
            .collect();
        let types = assign_types(preset, model, &ts, overrides);
        assert_eq!(types.len(), ts.len());
        list.iter().map(|(n, _, _)| n.clone()).zip(types).collect()
    }

    fn ov(s: &str) -> TensorTypeOverride {
        TensorTypeOverride::parse(s).unwrap()
    }

    #[test]
    fn outtype_names_and_file_types() {
        for t in OutType::ALL {
            assert_eq!(OutType::parse(t.name()), Some(t));
            assert_eq!(OutType::parse(&t.name().to_uppercase()), Some(t));
            assert_eq!(t.name(), t.name().to_lowercase());
        }
        assert_eq!(OutType::parse("Q4_K"), Some(OutType::Q4_K_M));
        assert_eq!(OutType::parse("q3_k"), Some(OutType::Q3_K_M));
        assert_eq!(OutType::parse("q5_K"), Some(OutType::Q5_K_M));
        assert_eq!(OutType::parse("q4_0"), Some(OutType::Q4_0));
        assert_eq!(OutType::parse("q2_k_s"), None);
        let ft: Vec<u32> = OutType::ALL.iter().map(|t| t.file_type()).collect();
        assert_eq!(
            ft,
            [
                1, 0, 1, 32, 7, 2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 24, 31, 19, 20, 28, 29, 23,
                22, 26, 27, 25, 30
            ]
        );
        let kq: Vec<bool> = OutType::ALL.iter().map(|t| t.is_kquant_preset()).collect();
        assert_eq!(
            kq,
            [
                false, false, false, false, false, true, true, true, true, true, true, true, true,
                true, true, true, true, true, true, true, true, true, true, true, true, true, true
            ]
        );
        assert_eq!(OutType::Q3_K_L.base_type(), Some(G::Q3_K));
        assert_eq!(OutType::Q4_K_S.base_type(), Some(G::Q4_K));
        assert_eq!(OutType::Q5_K_M.base_type(), Some(G::Q5_K));
        assert_eq!(OutType::Auto.base_type(), None);
        assert_eq!(OutType::Auto.resolve_auto(true), OutType::BF16);
        assert_eq!(OutType::Auto.resolve_auto(false), OutType::F16);
        assert_eq!(OutType::Q6_K.resolve_auto(true), OutType::Q6_K);
    }

    #[test]
    fn fallback_table() {
        assert_eq!(shape_fallback(G::Q4_K, 512), G::Q4_K);
        assert_eq!(shape_fallback(G::Q4_K, 128), G::Q5_0);
        assert_eq!(shape_fallback(G::Q5_K, 96), G::Q5_1);
        assert_eq!(shape_fallback(G::Q6_K, 192), G::Q8_0);
        assert_eq!(shape_fallback(G::Q2_K, 160), G::Q4_0);
        assert_eq!(shape_fallback(G::Q3_K, 32), G::Q4_0);
        assert_eq!(shape_fallback(G::Q6_K, 48), G::F16);
        assert_eq!(shape_fallback(G::Q8_0, 48), G::F16);
        assert_eq!(shape_fallback(G::Q8_0, 64), G::Q8_0);
        assert_eq!(shape_fallback(G::F16, 7), G::F16);
        assert_eq!(shape_fallback(G::F32, 7), G::F32);
    }

    #[test]
    fn quantize_order_is_layer_then_name() {
        let names = [
            "blk.10.attn_norm.weight",
            "token_embd.weight",
            "blk.2.ffn_up.weight",
            "output.weight",
            "blk.2.attn_k_b.weight",
            "output_norm.weight",
            "blk.2.attn_kv_a_mqa.weight",
        ];
        let order: Vec<&str> = llama_quantize_order(&names)
            .into_iter()
            .map(|i| names[i])
            .collect();
        assert_eq!(
            order,
            [
                "output.weight",
                "output_norm.weight",
                "token_embd.weight",
                "blk.2.attn_k_b.weight",
                "blk.2.attn_kv_a_mqa.weight",
                "blk.2.ffn_up.weight",
                "blk.10.attn_norm.weight",
            ]
        );
        assert_eq!(block_index("blk.17.ffn_down.weight"), Some(17));
        assert_eq!(block_index("blk.x.y"), None);
        assert_eq!(block_index("output.weight"), None);
        assert_eq!(n_dims(&[4096, 1]), 1);
        assert_eq!(n_dims(&[32, 1, 16]), 3);
        assert_eq!(n_dims(&[7]), 1);
    }

    /// Tensors that are never quantized keep their source type under every preset.
    #[test]
    fn unquantized_tensors_keep_source_type() {
        let list = V3.tensors();
        for p in OutType::ALL {
            let got = run(p, &V3.model(), &list, &[]);
            for (name, _, src) in &list {
                let keep = name.ends_with("_norm.weight")
                    || name.contains("ffn_gate_inp")
                    || name.ends_with(".bias");
                if keep || p == OutType::Auto {
                    assert_eq!(got[name], *src, "{p} {name}");
                } else if p != OutType::F32 {
                    assert_ne!(got[name], G::F32, "{p} {name}");
                }
            }
        }
    }

    /// Q4_K_M on DeepSeek-V3 (61 layers, real widths), from the rules as read in llama-quant.cpp.
    #[test]
    fn v3_q4_k_m() {
        let list = V3.tensors();
        let got = run(OutType::Q4_K_M, &V3.model(), &list, &[]);
        assert_eq!(got["output.weight"], G::Q6_K);
        assert_eq!(got["token_embd.weight"], G::Q4_K);
        assert_eq!(got["output_norm.weight"], G::F32);
        // n = 61: n/8 = 7, 7n/8 = 53; more bits for i < 7, i >= 53, and i = 9, 12, ..., 51.
        let more: Vec<u32> = (0..61)
            .filter(|&i| i < 7 || i >= 53 || (i >= 7 && (i - 7) % 3 == 2))
            .collect();
        assert_eq!(more.len(), 7 + 8 + 15);
        for l in 0..61u32 {
            let want_down = if more.contains(&l) { G::Q6_K } else { G::Q4_K };
            let g = |s: &str| got[&format!("blk.{l}.{s}")];
            if l < 3 {
                assert_eq!(g("ffn_down.weight"), want_down, "layer {l}");
                assert_eq!(g("ffn_gate.weight"), G::Q4_K);
                assert_eq!(g("ffn_up.weight"), G::Q4_K);
            } else {
                assert_eq!(g("ffn_down_exps.weight"), want_down, "layer {l}");
                assert_eq!(g("ffn_down_shexp.weight"), want_down, "layer {l}");
                assert_eq!(g("ffn_gate_exps.weight"), G::Q4_K);
                assert_eq!(g("ffn_up_exps.weight"), G::Q4_K);
                assert_eq!(g("ffn_gate_shexp.weight"), G::Q4_K);
                assert_eq!(g("ffn_up_shexp.weight"), G::Q4_K);
                assert_eq!(g("ffn_gate_inp.weight"), G::F32);
                assert_eq!(g("exp_probs_b.bias"), G::F32);
            }
            // attn_k_b rows are qk_nope (128) wide: Q4_K does not fit, Q5_0 does.
            assert_eq!(g("attn_k_b.weight"), G::Q5_0);
            assert_eq!(g("attn_v_b.weight"), G::Q4_K);
            assert_eq!(g("attn_q_a.weight"), G::Q4_K);
            assert_eq!(g("attn_q_b.weight"), G::Q4_K);
            assert_eq!(g("attn_kv_a_mqa.weight"), G::Q4_K);
            assert_eq!(g("attn_output.weight"), G::Q4_K);
            assert_eq!(g("attn_norm.weight"), G::F32);
            assert_eq!(g("attn_q_a_norm.weight"), G::F32);
            assert_eq!(g("attn_kv_a_norm.weight"), G::F32);
            assert_eq!(g("ffn_norm.weight"), G::F32);
        }
    }

    /// One spot check per preset on DeepSeek-V3, from the rules as read.
    #[test]
    fn v3_every_preset() {
        let list = V3.tensors();
        let m = V3.model();
        // (preset, default, output, ffn_down_exps L3, L9 (more bits), L10, L60, attn_output, attn_k_b)
        let rows = [
            (
                OutType::Q2_K,
                G::Q2_K,
                G::Q6_K,
                G::Q3_K,
                G::Q3_K,
                G::Q3_K,
                G::Q3_K,
                G::Q3_K,
                G::Q4_0,
            ),
            (
                OutType::Q3_K_S,
                G::Q3_K,
                G::Q6_K,
                G::Q3_K,
                G::Q3_K,
                G::Q3_K,
                G::Q3_K,
                G::Q3_K,
                G::Q4_0,
            ),
            (
                OutType::Q3_K_M,
                G::Q3_K,
                G::Q6_K,
                G::Q4_K,
                G::Q4_K,
                G::Q4_K,
                G::Q4_K,
                G::Q4_K,
                G::Q4_0,
            ),
            (
                OutType::Q3_K_L,
                G::Q3_K,
                G::Q6_K,
                G::Q5_K,
                G::Q5_K,
                G::Q5_K,
                G::Q5_K,
                G::Q5_K,
                G::Q4_0,
            ),
            (
                OutType::Q4_K_S,
                G::Q4_K,
                G::Q6_K,
                G::Q5_K,
                G::Q4_K,
                G::Q4_K,
                G::Q4_K,
                G::Q4_K,
                G::Q5_0,
            ),
            (
                OutType::Q4_K_M,
                G::Q4_K,
                G::Q6_K,
                G::Q6_K,
                G::Q6_K,
                G::Q4_K,
                G::Q6_K,
                G::Q4_K,
                G::Q5_0,
            ),
            (
                OutType::Q5_K_S,
                G::Q5_K,
                G::Q6_K,
                G::Q5_K,
                G::Q5_K,
                G::Q5_K,
                G::Q5_K,
                G::Q5_K,
                G::Q5_1,
            ),
            (
                OutType::Q5_K_M,
                G::Q5_K,
                G::Q6_K,
                G::Q6_K,
                G::Q6_K,
                G::Q5_K,
                G::Q6_K,
                G::Q5_K,
                G::Q5_1,
            ),
            (
                OutType::Q6_K,
                G::Q6_K,
                G::Q6_K,
                G::Q6_K,
                G::Q6_K,
                G::Q6_K,
                G::Q6_K,
                G::Q6_K,
                G::Q8_0,
            ),
            (
                OutType::Q8_0,
                G::Q8_0,
                G::Q8_0,
                G::Q8_0,
                G::Q8_0,
                G::Q8_0,
                G::Q8_0,
                G::Q8_0,
                G::Q8_0,
            ),
            (
                OutType::BF16,
                G::BF16,
                G::BF16,
                G::BF16,
                G::BF16,
                G::BF16,
                G::BF16,
                G::BF16,
                G::BF16,
            ),
            (
                OutType::F16,
                G::F16,
                G::F16,
                G::F16,
                G::F16,
                G::F16,
                G::F16,
                G::F16,
                G::F16,
            ),
            (
                OutType::F32,
                G::F32,
                G::F32,
                G::F32,
                G::F32,
                G::F32,
                G::F32,
                G::F32,
                G::F32,
            ),
        ];
        for (p, def, out, d3, d9, d10, d60, ao, kb) in rows {
            let got = run(p, &m, &list, &[]);
            assert_eq!(got["token_embd.weight"], def, "{p}");
            assert_eq!(got["blk.5.ffn_gate_exps.weight"], def, "{p}");
            assert_eq!(got["blk.5.attn_v_b.weight"], def, "{p}");
            assert_eq!(got["output.weight"], out, "{p}");
            assert_eq!(got["blk.3.ffn_down_exps.weight"], d3, "{p}");
            assert_eq!(got["blk.9.ffn_down_exps.weight"], d9, "{p}");
            assert_eq!(got["blk.10.ffn_down_exps.weight"], d10, "{p}");
            assert_eq!(got["blk.60.ffn_down_exps.weight"], d60, "{p}");
            assert_eq!(got["blk.30.attn_output.weight"], ao, "{p}");
            assert_eq!(got["blk.30.attn_k_b.weight"], kb, "{p}");
        }
        // Q3_K_M: ffn_down gets Q5_K only below n/16 = 3 (the dense layers here).
        let got = run(OutType::Q3_K_M, &m, &list, &[]);
        assert_eq!(got["blk.2.ffn_down.weight"], G::Q5_K);
        // Q4_K_S: Q5_K below n/8 = 7.
        let got = run(OutType::Q4_K_S, &m, &list, &[]);
        assert_eq!(got["blk.6.ffn_down_exps.weight"], G::Q5_K);
        assert_eq!(got["blk.7.ffn_down_exps.weight"], G::Q4_K);
    }

    /// V2-Lite (attn_q, no q_lora; 2 shared experts: shexp rows 2816 = 11 × 256).
    #[test]
    fn v2_lite_q4_k_m() {
        let list = V2_LITE.tensors();
        let got = run(OutType::Q4_K_M, &V2_LITE.model(), &list, &[]);
        // n = 27: n/8 = 3, 7n/8 = 23: more bits for 0..3, 23.., and 5, 8, ..., 20.
        for l in 1..27 {
            let more = l < 3 || l >= 23 || (l >= 3 && (l - 3) % 3 == 2);
            let want = if more { G::Q6_K } else { G::Q4_K };
            // moe_ff 1408 = 5.5 × 256: Q4_K and Q6_K both fall back.
            let want_exps = if more { G::Q8_0 } else { G::Q5_0 };
            assert_eq!(
                got[&format!("blk.{l}.ffn_down_exps.weight")],
                want_exps,
                "layer {l}"
            );
            assert_eq!(
                got[&format!("blk.{l}.ffn_down_shexp.weight")],
                want,
                "layer {l}"
            );
        }
        // Dense layer 0 gets more bits, but 10944 = 42.75 × 256: Q6_K falls back to Q8_0.
        assert_eq!(got["blk.0.ffn_down.weight"], G::Q8_0);
        assert_eq!(got["blk.0.ffn_up.weight"], G::Q4_K);
        assert_eq!(got["blk.4.attn_q.weight"], G::Q4_K);
    }

    /// Legacy `attn_kv_b` files: attention-V-like, counted in file (sorted) order.
    #[test]
    fn legacy_kv_b_counters() {
        let s = Shape { legacy: true, ..V3 };
        let list = s.tensors();
        let m = s.model();
        assert_eq!(m.n_gqa(), 1);
        let got = run(OutType::Q4_K_M, &m, &list, &[]);
        for l in 0..61u32 {
            let more = l < 7 || l >= 53 || (l >= 7 && (l - 7) % 3 == 2);
            let want = if more { G::Q6_K } else { G::Q4_K };
            assert_eq!(got[&format!("blk.{l}.attn_kv_b.weight")], want, "layer {l}");
        }
        let got = run(OutType::Q3_K_M, &m, &list, &[]);
        for l in 0..61u32 {
            let want = if l < 2 { G::Q5_K } else { G::Q4_K };
            assert_eq!(got[&format!("blk.{l}.attn_kv_b.weight")], want, "layer {l}");
        }
        let got = run(OutType::Q4_K_S, &m, &list, &[]);
        for l in 0..61u32 {
            let want = if l < 4 { G::Q5_K } else { G::Q4_K };
            assert_eq!(got[&format!("blk.{l}.attn_kv_b.weight")], want, "layer {l}");
        }
        // Q2_K: Q3_K with n_gqa 1 (legacy), Q4_K when n_gqa >= 4.
        let got = run(OutType::Q2_K, &m, &list, &[]);
        assert_eq!(got["blk.0.attn_kv_b.weight"], G::Q3_K);
        let mqa = QuantModel { n_head_kv: 1, ..m };
        let got = run(OutType::Q2_K, &mqa, &list, &[]);
        assert_eq!(got["blk.0.attn_kv_b.weight"], G::Q4_K);
        let got = run(OutType::Q3_K_L, &m, &list, &[]);
        assert_eq!(got["blk.33.attn_kv_b.weight"], G::Q5_K);
    }

    /// The answer does not depend on the order the tensors are given in.
    #[test]
    fn order_independent() {
        let s = Shape { legacy: true, ..V3 };
        let mut list = s.tensors();
        let a = run(OutType::Q3_K_M, &s.model(), &list, &[]);
        list.reverse();
        let b = run(OutType::Q3_K_M, &s.model(), &list, &[]);
        assert_eq!(a, b);
    }

    #[test]
    fn tied_embeddings_use_output_rule() {
        let s = Shape { tied: true, ..V3 };
        let got = run(OutType::Q4_K_M, &s.model(), &s.tensors(), &[]);
        assert_eq!(got["token_embd.weight"], G::Q6_K);
        let got = run(OutType::Q8_0, &s.model(), &s.tensors(), &[]);
        assert_eq!(got["token_embd.weight"], G::Q8_0);
        // A width no K-quant holds: Q8_0 for the output rule, F16 when even 32 does not divide.
        let s = Shape {
            tied: true,
            e: 288,
            ..V3
        };
        let got = run(OutType::Q4_K_M, &s.model(), &s.tensors(), &[]);
        assert_eq!(got["token_embd.weight"], G::Q8_0);
        let s = Shape { e: 280, ..V3 };
        let got = run(OutType::Q4_K_M, &s.model(), &s.tensors(), &[]);
        assert_eq!(got["output.weight"], G::F16);
        assert_eq!(got["token_embd.weight"], G::F16);
    }

    #[test]
    fn eight_experts() {
        let s = Shape {
            n_expert: 8,
            legacy: true,
            ..V3
        };
        let m = s.model();
        let got = run(OutType::Q4_K_M, &m, &s.tensors(), &[]);
        assert_eq!(got["blk.20.attn_kv_b.weight"], G::Q8_0);
        assert_eq!(got["blk.20.attn_output.weight"], G::Q5_K);
        let got = run(OutType::Q3_K_L, &m, &s.tensors(), &[]);
        assert_eq!(got["blk.20.attn_output.weight"], G::Q3_K);
        assert_eq!(got["blk.20.attn_kv_b.weight"], G::Q8_0);
        let got = run(OutType::Q6_K, &m, &s.tensors(), &[]);
        assert_eq!(got["blk.20.attn_kv_b.weight"], G::Q8_0);
        assert_eq!(got["blk.20.attn_output.weight"], G::Q6_K);
    }

    #[test]
    fn overrides() {
        assert!(TensorTypeOverride::parse("attn_k_b").is_err());
        assert!(TensorTypeOverride::parse("=q8_0").is_err());
        assert!(TensorTypeOverride::parse("attn_k_b=").is_err());
        assert!(TensorTypeOverride::parse("attn_k_b=q9_9").is_err());
        assert!(TensorTypeOverride::parse("attn_(k_b=q8_0").is_err());
        let o = ov("ATTN_K_B=Q8_0");
        assert_eq!(o.pattern.as_str(), "attn_k_b");
        assert_eq!(o.ty, G::Q8_0);

        let s = Shape { legacy: true, ..V3 };
        let m = s.model();
        let list = s.tensors();
        let rules = [
            ov(r"blk\.0\.attn_kv_b=q8_0"),
            ov("ffn_down_exps=q5_k"),
            ov("ffn_down=q2_k"),
            ov("attn_output=q6_k"),
            ov("output=bf16"),
        ];
        let got = run(OutType::Q3_K_M, &m, &list, &rules);
        assert_eq!(got["blk.0.attn_kv_b.weight"], G::Q8_0);
        // Overridden tensors do not advance the counter: blk.1 and blk.2 are the first two.
        assert_eq!(got["blk.1.attn_kv_b.weight"], G::Q5_K);
        assert_eq!(got["blk.2.attn_kv_b.weight"], G::Q5_K);
        assert_eq!(got["blk.3.attn_kv_b.weight"], G::Q4_K);
        // First match wins.
        assert_eq!(got["blk.9.ffn_down_exps.weight"], G::Q5_K);
        assert_eq!(got["blk.9.ffn_down_shexp.weight"], G::Q2_K);
        // Overrides reach output.weight and output_norm is still not quantized.
        assert_eq!(got["output.weight"], G::BF16);
        assert_eq!(got["output_norm.weight"], G::F32);
        // The fallback still applies after an override: 16384 % 256 == 0, fine; a narrow one is not.
        assert_eq!(got["blk.9.attn_output.weight"], G::Q6_K);
        let got = run(
            OutType::Q4_K_M,
            &V3.model(),
            &V3.tensors(),
            &[ov("attn_k_b=q6_k"), ov("gate_inp=q8_0")],
        );
        assert_eq!(got["blk.9.attn_k_b.weight"], G::Q8_0);
        assert_eq!(got["blk.9.ffn_gate_inp.weight"], G::F32);
        // Overrides are ignored for unquantized presets, as llama-quantize does.
        let got = run(
            OutType::BF16,
            &V3.model(),
            &V3.tensors(),
            &[ov("attn_k_b=q6_k")],
        );
        assert_eq!(got["blk.9.attn_k_b.weight"], G::BF16);
    }

    #[test]
    fn params_pure_and_leave_output() {
        let list = V3.tensors();
        let ts: Vec<QuantTensor> = list
            .iter()
            .map(|(n, ne, t)| QuantTensor {
                name: n,
                ne,
                src_type: *t,
            })
            .collect();
        let find = |types: &[GgmlType], name: &str| {
            types[list.iter().position(|(n, _, _)| n == name).unwrap()]
        };
        let pure = QuantParams {
            pure: true,
            ..QuantParams::default()
        };
        let got = try_assign_types(OutType::Q4_K_M, &V3.model(), &ts, &[], &pure).unwrap();
        assert_eq!(find(&got, "output.weight"), G::Q4_K);
        assert_eq!(find(&got, "blk.9.ffn_down_exps.weight"), G::Q4_K);
        assert_eq!(find(&got, "blk.9.attn_k_b.weight"), G::Q5_0);
        let leave = QuantParams {
            quantize_output_tensor: false,
            ..QuantParams::default()
        };
        let got = try_assign_types(OutType::Q4_K_M, &V3.model(), &ts, &[], &leave).unwrap();
        assert_eq!(find(&got, "output.weight"), G::BF16);
        let typed = QuantParams {
            output_tensor_type: Some(G::Q8_0),
            token_embedding_type: Some(G::Q6_K),
            ..QuantParams::default()
        };
        let got = try_assign_types(OutType::Q4_K_M, &V3.model(), &ts, &[], &typed).unwrap();
        assert_eq!(find(&got, "output.weight"), G::Q8_0);
        assert_eq!(find(&got, "token_embd.weight"), G::Q6_K);
    }

    #[test]
    fn bad_layer_is_an_error() {
        let ne = [256u64, 256, 16];
        let m = QuantModel {
            n_layer: 4,
            n_expert: 16,
            n_head: 4,
            n_head_kv: 1,
        };
        let t = [QuantTensor {
            name: "blk.4.ffn_down_exps.weight",
            ne: &ne,
            src_type: G::BF16,
        }];
        let e =
            try_assign_types(OutType::Q4_K_M, &m, &t, &[], &QuantParams::default()).unwrap_err();
        assert!(e.contains("Bad layer 4"), "{e}");
        let t = [QuantTensor {
            name: "mtp.ffn_up.weight",
            ne: &ne,
            src_type: G::BF16,
        }];
        assert!(try_assign_types(OutType::Q4_K_M, &m, &t, &[], &QuantParams::default()).is_err());
        // Dense models use the running counter instead of the name.
        let dense = QuantModel { n_expert: 0, ..m };
        assert!(
            try_assign_types(OutType::Q4_K_M, &dense, &t, &[], &QuantParams::default()).is_ok()
        );
    }

    /// Tables written by the real llama-quantize (llama.cpp 0c1e57098, the lab build) on BF16
    /// GGUFs from llama.cpp's converter: the tiny V3 fixture and variants of it (see the header
    /// of each file and `tests/data/preset/variants.py`).
    /// The IQ presets on DeepSeek-V3 (61 layers, real widths), from the rules as read in
    /// llama-quant.cpp.
    #[test]
    fn v3_iq_presets() {
        let list = V3.tensors();
        let m = V3.model();
        let got = run(OutType::IQ1_S, &m, &list, &[]);
        assert_eq!(got["output.weight"], G::Q5_K);
        assert_eq!(got["token_embd.weight"], G::Q2_K);
        // the first n_layer/8 = 7 ffn_down tensors in visiting order get Q2_K
        for n in [
            "blk.0.ffn_down.weight",
            "blk.2.ffn_down.weight",
            "blk.3.ffn_down_exps.weight",
            "blk.4.ffn_down_shexp.weight",
        ] {
            assert_eq!(got[n], G::Q2_K, "{n}");
        }
        assert_eq!(got["blk.5.ffn_down_exps.weight"], G::IQ1_S);
        assert_eq!(got["blk.9.attn_output.weight"], G::IQ2_XXS);
        assert_eq!(got["blk.9.attn_k_b.weight"], G::IQ4_NL); // 128-wide rows
        assert_eq!(got["blk.9.attn_v_b.weight"], G::IQ1_S);
        assert_eq!(got["blk.9.ffn_gate_exps.weight"], G::IQ1_S);
        let got = run(OutType::IQ2_M, &m, &list, &[]);
        assert_eq!(got["token_embd.weight"], G::IQ3_S);
        assert_eq!(got["blk.0.ffn_down.weight"], G::IQ3_S);
        assert_eq!(got["blk.9.attn_output.weight"], G::IQ3_S);
        assert_eq!(got["blk.9.ffn_up_exps.weight"], G::IQ2_S);
        let got = run(OutType::IQ2_S, &m, &list, &[]);
        assert_eq!(got["blk.9.ffn_up_exps.weight"], G::IQ2_XS);
        let got = run(OutType::IQ3_XS, &m, &list, &[]);
        assert_eq!(got["blk.9.ffn_gate_exps.weight"], IQ3_XXS_T);
        assert_eq!(got["blk.60.ffn_gate_exps.weight"], G::IQ3_S);
        let got = run(OutType::IQ4_XS, &m, &list, &[]);
        assert_eq!(got["output.weight"], G::Q6_K);
        assert_eq!(got["blk.3.ffn_down_exps.weight"], G::Q5_K); // layer < 61/8, no imatrix
        assert_eq!(got["blk.7.ffn_down_exps.weight"], G::IQ4_XS);
        let got = run(OutType::IQ3_M, &m, &list, &[]);
        assert_eq!(got["blk.9.attn_output.weight"], G::Q4_K);
        assert_eq!(got["blk.3.ffn_down_exps.weight"], G::Q4_K);
        assert_eq!(got["blk.9.ffn_down_exps.weight"], G::IQ3_S);
        // IQ3_XXS: with an imatrix, ffn_down keeps IQ3_XXS
        let ts: Vec<QuantTensor> = list
            .iter()
            .map(|(n, ne, ty)| QuantTensor {
                name: n,
                ne,
                src_type: *ty,
            })
            .collect();
        let idx = list
            .iter()
            .position(|(n, _, _)| n == "blk.9.ffn_down_exps.weight")
            .unwrap();
        let mut params = QuantParams::default();
        let plain = try_assign_types(OutType::IQ3_XXS, &m, &ts, &[], &params).unwrap();
        assert_eq!(plain[idx], G::Q3_K);
        params.has_imatrix = true;
        let with = try_assign_types(OutType::IQ3_XXS, &m, &ts, &[], &params).unwrap();
        assert_eq!(with[idx], IQ3_XXS_T);
    }

    const IQ3_XXS_T: GgmlType = GgmlType::IQ3_XXS;

    /// Which presets llama-quantize refuses without an imatrix on V3.
    #[test]
    fn imatrix_requirement() {
        let list = V3.tensors();
        let m = V3.model();
        let ts: Vec<QuantTensor> = list
            .iter()
            .map(|(n, ne, ty)| QuantTensor {
                name: n,
                ne,
                src_type: *ty,
            })
            .collect();
        let mut params = QuantParams::default();
        for p in OutType::ALL.into_iter().filter(|p| p.base_type().is_some()) {
            let types = try_assign_types(p, &m, &ts, &[], &params).unwrap();
            let refused = check_imatrix_requirement(&ts, &types, &params).is_err();
            let want = matches!(
                p,
                OutType::IQ1_S
                    | OutType::IQ1_M
                    | OutType::IQ2_XXS
                    | OutType::IQ2_XS
                    | OutType::IQ2_S
                    | OutType::IQ2_M
                    | OutType::IQ3_XXS
                    | OutType::IQ3_XS
            );
            assert_eq!(refused, want, "{p}");
        }
        let types = try_assign_types(OutType::IQ1_S, &m, &ts, &[], &params).unwrap();
        let e = check_imatrix_requirement(&ts, &types, &params).unwrap_err();
        assert!(e.contains("blk.0.") && e.contains("IQ"), "{e}");
        params.has_imatrix = true;
        assert!(check_imatrix_requirement(&ts, &types, &params).is_ok());
        assert!(!tensor_requires_imatrix("token_embd.weight", G::IQ2_XXS));
        assert!(tensor_requires_imatrix("blk.1.ffn_up.weight", G::IQ2_S));
        assert!(!tensor_requires_imatrix("blk.1.ffn_up.weight", G::IQ3_S));
        assert_eq!(shape_fallback(G::IQ2_XXS, 128), G::IQ4_NL);
        assert_eq!(shape_fallback(G::IQ4_XS, 48), G::F16);
        assert_eq!(shape_fallback(G::IQ4_NL, 48), G::F16);
    }

    const LAB_TABLES: [(&str, &str); 12] = [
        ("iq_v3", include_str!("../../tests/data/preset/iq_v3.txt")),
        (
            "iq_mla20",
            include_str!("../../tests/data/preset/iq_mla20.txt"),
        ),
        (
            "iq_legacy20",
            include_str!("../../tests/data/preset/iq_legacy20.txt"),
        ),
        (
            "iq_e8tied12",
            include_str!("../../tests/data/preset/iq_e8tied12.txt"),
        ),
        (
            "iq_lite27",
            include_str!("../../tests/data/preset/iq_lite27.txt"),
        ),
        (
            "iq_dense10",
            include_str!("../../tests/data/preset/iq_dense10.txt"),
        ),
        ("v3", include_str!("../../tests/data/preset/v3.txt")),
        ("mla20", include_str!("../../tests/data/preset/mla20.txt")),
        (
            "legacy20",
            include_str!("../../tests/data/preset/legacy20.txt"),
        ),
        (
            "e8tied12",
            include_str!("../../tests/data/preset/e8tied12.txt"),
        ),
        ("lite27", include_str!("../../tests/data/preset/lite27.txt")),
        (
            "dense10",
            include_str!("../../tests/data/preset/dense10.txt"),
        ),
    ];

    fn parse_kv(line: &str, key: &str) -> u32 {
        let tok = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .unwrap();
        tok.trim_end_matches(':').parse().unwrap()
    }

    #[test]
    fn matches_real_llama_quantize() {
        let mut checked = 0;
        for (label, text) in LAB_TABLES {
            let mut model = None;
            let mut runs: Vec<(u32, Vec<String>)> = vec![];
            let mut rows: Vec<Vec<&str>> = vec![];
            for line in text.lines() {
                if line.starts_with("# model ") {
                    model = Some(QuantModel {
                        n_layer: parse_kv(line, "n_layer"),
                        n_expert: parse_kv(line, "n_expert"),
                        n_head: parse_kv(line, "n_head"),
                        n_head_kv: parse_kv(line, "n_head_kv"),
                    });
                } else if let Some(r) = line.strip_prefix("# run ") {
                    let (head, args) = r.split_once(": ").unwrap();
                    let args = args.split(' ').map(str::to_string).collect();
                    runs.push((parse_kv(head, "file_type"), args));
                } else if !line.starts_with('#') && !line.starts_with("name ") && !line.is_empty() {
                    rows.push(line.split(' ').collect());
                }
            }
            let model = model.unwrap();
            let shapes: Vec<Vec<u64>> = rows
                .iter()
                .map(|r| r[2].split(',').map(|x| x.parse().unwrap()).collect())
                .collect();
            let tensors: Vec<QuantTensor> = rows
                .iter()
                .zip(&shapes)
                .map(|(r, ne)| QuantTensor {
                    name: r[0],
                    ne,
                    src_type: GgmlType::from_name(r[1]).unwrap(),
                })
                .collect();
            // llama-quantize writes the tensors in the order it visits them.
            let names: Vec<&str> = rows.iter().map(|r| r[0]).collect();
            let pos: Vec<usize> = rows.iter().map(|r| r[3].parse().unwrap()).collect();
            let order = llama_quantize_order(&names);
            for (k, &i) in order.iter().enumerate() {
                assert_eq!(pos[i], k, "{label}: output position of {}", names[i]);
            }
            for (col, (file_type, args)) in runs.iter().enumerate() {
                let preset = OutType::parse(&args[0]).unwrap();
                assert_eq!(preset.file_type(), *file_type, "{label} {args:?}");
                let mut params = QuantParams::default();
                let mut overrides = vec![];
                let mut it = args[1..].iter();
                while let Some(a) = it.next() {
                    match a.as_str() {
                        "--pure" => params.pure = true,
                        "--leave-output-tensor" => params.quantize_output_tensor = false,
                        "--tensor-type" => overrides.push(ov(it.next().unwrap())),
                        "--output-tensor-type" => {
                            params.output_tensor_type = GgmlType::from_name(it.next().unwrap())
                        }
                        "--token-embedding-type" => {
                            params.token_embedding_type = GgmlType::from_name(it.next().unwrap())
                        }
                        other => panic!("unknown flag {other}"),
                    }
                }
                let got = try_assign_types(preset, &model, &tensors, &overrides, &params).unwrap();
                for (i, r) in rows.iter().enumerate() {
                    let want = GgmlType::from_name(r[4 + col]).unwrap();
                    assert_eq!(got[i], want, "{label} {args:?}: {}", r[0]);
                    checked += 1;
                }
            }
        }
        assert!(checked > 5000, "{checked}");
    }
}
