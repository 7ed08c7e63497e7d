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
mod tests;
