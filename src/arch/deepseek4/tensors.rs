//! DeepSeek-V4's tensors: the table of a complete checkpoint (published names and shapes), the
//! mapping to llama.cpp's `deepseek4` names, and the output order llama.cpp's converter writes:
//! the hash-routing tables, then each layer's stacked experts (gate, down, up), then the MTP
//! `eh_proj` (draft files), then every other tensor in checkpoint index order.

use super::config::V4Config;
use crate::arch::{CheckpointTensor, Decoder, MappedTensor, Recipe, Source, TensorKind};
use crate::checkpoint::safetensors::{Checkpoint, Dtype};
use crate::{Error, Result};
use std::collections::{HashMap, HashSet};

fn ct(name: String, shape: Vec<u64>, kind: TensorKind) -> CheckpointTensor {
    CheckpointTensor { name, shape, kind }
}

/// The tensors of one layer stored under `p` (`layers.N.` or `mtp.J.`), logical shapes (FP4
/// experts unpacked: `[rows, cols]`).
fn layer_tensors(c: &V4Config, p: &str, ratio: i64, hash: bool, out: &mut Vec<CheckpointTensor>) {
    use TensorKind::*;
    let (h, hc, nh, hd) = (c.hidden, c.hc, c.n_head, c.head_dim);
    let mix = (2 + hc) * hc;
    out.push(ct(format!("{p}attn_norm.weight"), vec![h], Norm));
    out.push(ct(format!("{p}ffn_norm.weight"), vec![h], Norm));
    for s in ["attn", "ffn"] {
        out.push(ct(format!("{p}hc_{s}_fn"), vec![mix, hc * h], F32Param));
        out.push(ct(format!("{p}hc_{s}_base"), vec![mix], F32Param));
        out.push(ct(format!("{p}hc_{s}_scale"), vec![3], F32Param));
    }
    let a = format!("{p}attn.");
    out.push(ct(format!("{a}attn_sink"), vec![nh], F32Param));
    out.push(ct(format!("{a}wq_a.weight"), vec![c.q_lora, h], Linear));
    out.push(ct(format!("{a}q_norm.weight"), vec![c.q_lora], Norm));
    out.push(ct(
        format!("{a}wq_b.weight"),
        vec![nh * hd, c.q_lora],
        Linear,
    ));
    out.push(ct(format!("{a}wkv.weight"), vec![hd, h], Linear));
    out.push(ct(format!("{a}kv_norm.weight"), vec![hd], Norm));
    out.push(ct(
        format!("{a}wo_a.weight"),
        vec![c.o_groups * c.o_lora, nh * hd / c.o_groups],
        Linear,
    ));
    out.push(ct(
        format!("{a}wo_b.weight"),
        vec![h, c.o_groups * c.o_lora],
        Linear,
    ));
    if ratio != 0 {
        let rows = c.compressor_rows(ratio);
        out.push(ct(
            format!("{a}compressor.wkv.weight"),
            vec![rows, h],
            Linear,
        ));
        out.push(ct(
            format!("{a}compressor.wgate.weight"),
            vec![rows, h],
            Linear,
        ));
        out.push(ct(
            format!("{a}compressor.ape"),
            vec![ratio as u64, rows],
            F32Param,
        ));
        out.push(ct(format!("{a}compressor.norm.weight"), vec![hd], Norm));
        if ratio == 4 {
            let (ih, id) = (c.index_heads, c.index_dim);
            out.push(ct(
                format!("{a}indexer.wq_b.weight"),
                vec![ih * id, c.q_lora],
                Linear,
            ));
            out.push(ct(
                format!("{a}indexer.weights_proj.weight"),
                vec![ih, h],
                Linear,
            ));
            out.push(ct(
                format!("{a}indexer.compressor.wkv.weight"),
                vec![2 * id, h],
                Linear,
            ));
            out.push(ct(
                format!("{a}indexer.compressor.wgate.weight"),
                vec![2 * id, h],
                Linear,
            ));
            out.push(ct(
                format!("{a}indexer.compressor.ape"),
                vec![4, 2 * id],
                F32Param,
            ));
            out.push(ct(
                format!("{a}indexer.compressor.norm.weight"),
                vec![id],
                Norm,
            ));
        }
    }
    let m = format!("{p}ffn.");
    out.push(ct(format!("{m}gate.weight"), vec![c.n_expert, h], Router));
    if hash {
        out.push(ct(
            format!("{m}gate.tid2eid"),
            vec![c.vocab, c.n_used],
            HashTable,
        ));
    } else {
        out.push(ct(format!("{m}gate.bias"), vec![c.n_expert], Bias));
    }
    for e in 0..c.n_expert {
        out.push(ct(
            format!("{m}experts.{e}.w1.weight"),
            vec![c.moe_ff, h],
            Fp4Expert,
        ));
        out.push(ct(
            format!("{m}experts.{e}.w2.weight"),
            vec![h, c.moe_ff],
            Fp4Expert,
        ));
        out.push(ct(
            format!("{m}experts.{e}.w3.weight"),
            vec![c.moe_ff, h],
            Fp4Expert,
        ));
    }
    let f = c.moe_ff * c.n_shared;
    out.push(ct(
        format!("{m}shared_experts.w1.weight"),
        vec![f, h],
        Linear,
    ));
    out.push(ct(
        format!("{m}shared_experts.w2.weight"),
        vec![h, f],
        Linear,
    ));
    out.push(ct(
        format!("{m}shared_experts.w3.weight"),
        vec![f, h],
        Linear,
    ));
}

/// Every tensor of a complete V4 checkpoint: root, trunk layers, MTP layers (logical shapes).
pub fn table(c: &V4Config) -> Vec<CheckpointTensor> {
    use TensorKind::*;
    let (h, hc) = (c.hidden, c.hc);
    let mut out = vec![
        ct("embed.weight".into(), vec![c.vocab, h], Embed),
        ct("head.weight".into(), vec![c.vocab, h], Embed),
        ct("norm.weight".into(), vec![h], Norm),
        ct("hc_head_fn".into(), vec![hc, hc * h], F32Param),
        ct("hc_head_base".into(), vec![hc], F32Param),
        ct("hc_head_scale".into(), vec![1], F32Param),
    ];
    for l in 0..c.n_layer {
        layer_tensors(
            c,
            &format!("layers.{l}."),
            c.ratio(l),
            l < c.hash_layers,
            &mut out,
        );
    }
    for j in 0..c.n_nextn {
        let p = format!("mtp.{j}.");
        layer_tensors(c, &p, c.ratio(c.n_layer + j), false, &mut out);
        out.push(ct(format!("{p}e_proj.weight"), vec![h, h], Linear));
        out.push(ct(format!("{p}h_proj.weight"), vec![h, h], Linear));
        out.push(ct(format!("{p}enorm.weight"), vec![h], Norm));
        out.push(ct(format!("{p}hnorm.weight"), vec![h], Norm));
        out.push(ct(format!("{p}norm.weight"), vec![h], Norm));
        out.push(ct(format!("{p}hc_head_fn"), vec![hc, hc * h], F32Param));
        out.push(ct(format!("{p}hc_head_base"), vec![hc], F32Param));
        out.push(ct(format!("{p}hc_head_scale"), vec![1], F32Param));
    }
    out
}

/// The GGUF name of a layer tensor (name after `layers.N.`), as the reference's map.
fn layer_gguf_suffix(rest: &str) -> Option<&'static str> {
    Some(match rest {
        "hc_attn_fn" => "hc_attn_fn.weight",
        "hc_attn_base" => "hc_attn_base.weight",
        "hc_attn_scale" => "hc_attn_scale.weight",
        "hc_ffn_fn" => "hc_ffn_fn.weight",
        "hc_ffn_base" => "hc_ffn_base.weight",
        "hc_ffn_scale" => "hc_ffn_scale.weight",
        "attn.attn_sink" => "attn_sinks.weight",
        "attn.wq_a.weight" => "attn_q_a.weight",
        "attn.wq_b.weight" => "attn_q_b.weight",
        "attn.q_norm.weight" => "attn_q_a_norm.weight",
        "attn.wkv.weight" => "attn_kv.weight",
        "attn.kv_norm.weight" => "attn_kv_a_norm.weight",
        "attn.wo_a.weight" => "attn_output_a.weight",
        "attn.wo_b.weight" => "attn_output_b.weight",
        "attn.compressor.ape" => "attn_compressor_ape.weight",
        "attn.compressor.wkv.weight" => "attn_compressor_kv.weight",
        "attn.compressor.wgate.weight" => "attn_compressor_gate.weight",
        "attn.compressor.norm.weight" => "attn_compressor_norm.weight",
        "attn.indexer.wq_b.weight" => "indexer.attn_q_b.weight",
        "attn.indexer.weights_proj.weight" => "indexer.proj.weight",
        "attn.indexer.compressor.ape" => "indexer_compressor_ape.weight",
        "attn.indexer.compressor.wkv.weight" => "indexer_compressor_kv.weight",
        "attn.indexer.compressor.wgate.weight" => "indexer_compressor_gate.weight",
        "attn.indexer.compressor.norm.weight" => "indexer_compressor_norm.weight",
        "attn_norm.weight" => "attn_norm.weight",
        "ffn_norm.weight" => "ffn_norm.weight",
        "ffn.gate.weight" => "ffn_gate_inp.weight",
        "ffn.gate.bias" => "exp_probs_b.bias",
        "ffn.gate.bias_vl" => "exp_probs_b_vl.bias",
        "ffn.shared_experts.w1.weight" => "ffn_gate_shexp.weight",
        "ffn.shared_experts.w2.weight" => "ffn_down_shexp.weight",
        "ffn.shared_experts.w3.weight" => "ffn_up_shexp.weight",
        "nextn.enorm.weight" => "nextn.enorm.weight",
        "nextn.hnorm.weight" => "nextn.hnorm.weight",
        "nextn.shared_head_norm.weight" => "nextn.shared_head_norm.weight",
        "nextn.embed_tokens.weight" => "nextn.embed_tokens.weight",
        "nextn.shared_head_head.weight" => "nextn.shared_head_head.weight",
        _ => return None,
    })
}

fn root_gguf(name: &str) -> Option<&'static str> {
    Some(match name {
        "embed.weight" => "token_embd.weight",
        "norm.weight" => "output_norm.weight",
        "head.weight" => "output.weight",
        "hc_head_fn" => "output_hc_fn.weight",
        "hc_head_base" => "output_hc_base.weight",
        "hc_head_scale" => "output_hc_scale.weight",
        _ => return None,
    })
}

/// Splits `layers.N.rest` / `mtp.J.rest` into (N or J, rest).
fn split_layer<'a>(name: &'a str, prefix: &str) -> Option<(u64, &'a str)> {
    let s = name.strip_prefix(prefix)?;
    let (n, rest) = s.split_once('.')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((n.parse().ok()?, rest))
}

/// True for `ffn.experts.E.wK.weight|scale`.
fn is_expert(rest: &str) -> bool {
    let Some(r) = rest.strip_prefix("ffn.experts.") else {
        return false;
    };
    let Some((e, t)) = r.split_once('.') else {
        return false;
    };
    !e.is_empty()
        && e.bytes().all(|b| b.is_ascii_digit())
        && matches!(
            t,
            "w1.weight" | "w2.weight" | "w3.weight" | "w1.scale" | "w2.scale" | "w3.scale"
        )
}

/// The `.scale` companion of a `.weight` name.
fn scale_name(weight: &str) -> String {
    format!("{}.scale", weight.strip_suffix(".weight").unwrap_or(weight))
}

/// Checks one checkpoint tensor against its table entry and chooses its decoder.
fn resolve(ck: &Checkpoint, want: &CheckpointTensor) -> Result<Source> {
    let dir = &ck.dir;
    let Some(idx) = ck.index_of(&want.name) else {
        let what = match want.kind {
            TensorKind::Fp4Expert => format!(
                "FP4 (I8 [{}, {}] + F8_E8M0 scale)",
                want.shape[0],
                want.shape[1] / 2
            ),
            _ => format!("shape {:?}", want.shape),
        };
        return Err(Error::bad_tensor(
            dir,
            &want.name,
            format!("missing from the checkpoint (expected {what}; found nothing)"),
        ));
    };
    let t = &ck.tensors[idx];
    let path = &ck.shards[t.shard].path;
    let shape_err = |want_shape: &[u64], what: &str| {
        Error::bad_tensor(
            path,
            &t.name,
            format!(
                "wrong {what}shape: expected {:?}, found {:?}",
                want_shape, t.shape
            ),
        )
    };
    match want.kind {
        TensorKind::Fp4Expert => {
            let (rows, cols) = (want.shape[0], want.shape[1]);
            if !matches!(t.dtype.name(), "I8" | "U8") {
                return Err(Error::bad_tensor(
                    path,
                    &t.name,
                    format!(
                        "routed experts must be FP4 e2m1 packed two per byte (I8 or U8), found {}",
                        t.dtype.name()
                    ),
                ));
            }
            let packed = [rows, cols / 2];
            if t.shape != packed {
                return Err(shape_err(&packed, "FP4 (packed) "));
            }
            let sname = scale_name(&t.name);
            let Some(si) = ck.index_of(&sname) else {
                return Err(Error::bad_tensor(
                    path,
                    &t.name,
                    format!(
                        "FP4 weight without its scale '{sname}' (expected F8_E8M0 [{rows}, {}]; found nothing)",
                        cols / 32
                    ),
                ));
            };
            let s = &ck.tensors[si];
            let spath = &ck.shards[s.shard].path;
            if s.dtype != Dtype::F8E8M0 || s.shape != [rows, cols / 32] {
                return Err(Error::bad_tensor(
                    spath,
                    &s.name,
                    format!(
                        "FP4 block scale: expected F8_E8M0 [{rows}, {}], found {} {:?}",
                        cols / 32,
                        s.dtype.name(),
                        s.shape
                    ),
                ));
            }
            Ok(Source {
                tensor: idx,
                decoder: Decoder::Fp4Block { scale: si },
            })
        }
        TensorKind::HashTable => {
            if !matches!(t.dtype.name(), "I32" | "I64") {
                return Err(Error::bad_tensor(
                    path,
                    &t.name,
                    format!(
                        "hash routing table: expected I32 or I64, found {}",
                        t.dtype.name()
                    ),
                ));
            }
            if t.shape != want.shape {
                return Err(shape_err(&want.shape, ""));
            }
            Ok(Source {
                tensor: idx,
                decoder: Decoder::Int,
            })
        }
        _ => {
            if t.shape != want.shape {
                return Err(shape_err(&want.shape, ""));
            }
            match t.dtype {
                Dtype::F32 | Dtype::F16 | Dtype::BF16 => {
                    if let Some(si) = ck.index_of(&scale_name(&t.name))
                        && t.name.ends_with(".weight")
                    {
                        return Err(Error::bad_tensor(
                            &ck.shards[ck.tensors[si].shard].path,
                            &ck.tensors[si].name,
                            format!(
                                "a block scale for '{}', which is {} (expected F8_E4M3)",
                                t.name,
                                t.dtype.name()
                            ),
                        ));
                    }
                    Ok(Source {
                        tensor: idx,
                        decoder: Decoder::Float,
                    })
                }
                Dtype::F8E4M3 if t.shape.len() == 2 => {
                    let sname = scale_name(&t.name);
                    let want_s = [t.shape[0].div_ceil(128), t.shape[1].div_ceil(128)];
                    let Some(si) = ck.index_of(&sname) else {
                        return Err(Error::bad_tensor(
                            path,
                            &t.name,
                            format!(
                                "F8_E4M3 weight without its scale '{sname}' (expected F8_E8M0 {want_s:?}; found nothing)"
                            ),
                        ));
                    };
                    let s = &ck.tensors[si];
                    if s.dtype != Dtype::F8E8M0 || s.shape != want_s {
                        return Err(Error::bad_tensor(
                            &ck.shards[s.shard].path,
                            &s.name,
                            format!(
                                "FP8 block scale (128×128): expected F8_E8M0 {want_s:?}, found {} {:?}",
                                s.dtype.name(),
                                s.shape
                            ),
                        ));
                    }
                    Ok(Source {
                        tensor: idx,
                        decoder: Decoder::Fp8Block {
                            scale: si,
                            rows: 128,
                            cols: 128,
                        },
                    })
                }
                ref other => Err(Error::bad_tensor(
                    path,
                    &t.name,
                    format!(
                        "dtype {}: expected F32, BF16, F16 or F8_E4M3 (2-D, with a .scale)",
                        other.name()
                    ),
                )),
            }
        }
    }
}

fn ne_of(shape: &[u64]) -> Vec<u64> {
    shape.iter().rev().copied().collect()
}

/// Maps the checkpoint to output tensors in the reference's order. `mtp_only`: the draft
/// file (`--mtp`): the MTP layers as blocks `L..L+n`, their hc head as the output's, and the
/// embedding, output norm and head from the trunk.
pub fn map(ck: &Checkpoint, c: &V4Config, mtp_only: bool) -> Result<Vec<MappedTensor>> {
    let all = table(c);
    let by_name: HashMap<&str, &CheckpointTensor> =
        all.iter().map(|t| (t.name.as_str(), t)).collect();
    if mtp_only && c.n_nextn == 0 {
        return Err(Error::Usage(format!(
            "{}: --mtp asks for the multi-token-prediction layers, but num_nextn_predict_layers is 0",
            c.raw.path.display()
        )));
    }
    // which table tensors this file needs
    let wanted = |name: &str| -> bool {
        if mtp_only {
            name.starts_with("mtp.")
                || matches!(name, "embed.weight" | "norm.weight" | "head.weight")
        } else {
            !name.starts_with("mtp.")
        }
    };
    let mut sources: HashMap<String, Source> = HashMap::new();
    for t in all.iter().filter(|t| wanted(&t.name)) {
        sources.insert(t.name.clone(), resolve(ck, t)?);
    }
    let l = c.n_layer;
    let mut out = Vec::new();
    // (1) hash routing tables
    if !mtp_only {
        for b in 0..c.hash_layers {
            let n = format!("layers.{b}.ffn.gate.tid2eid");
            let t = &ck.tensors[sources[&n].tensor];
            out.push(MappedTensor {
                name: format!("blk.{b}.ffn_gate_tid2eid.weight"),
                ne: ne_of(&t.shape),
                recipe: Recipe::Rows(sources[&n].clone()),
            });
        }
    }
    // (2) stacked experts, gate (w1), down (w2), up (w3)
    let blocks = if mtp_only { l..l + c.n_nextn } else { 0..l };
    for b in blocks.clone() {
        let p = if b < l {
            format!("layers.{b}.")
        } else {
            format!("mtp.{}.", b - l)
        };
        for (w, gg) in [
            ("w1", "ffn_gate_exps"),
            ("w2", "ffn_down_exps"),
            ("w3", "ffn_up_exps"),
        ] {
            let srcs: Vec<Source> = (0..c.n_expert)
                .map(|e| sources[&format!("{p}ffn.experts.{e}.{w}.weight")].clone())
                .collect();
            let shape = &by_name[format!("{p}ffn.experts.0.{w}.weight").as_str()].shape;
            out.push(MappedTensor {
                name: format!("blk.{b}.{gg}.weight"),
                ne: vec![shape[1], shape[0], c.n_expert],
                recipe: Recipe::Stack(srcs),
            });
        }
    }
    // (3) MTP eh_proj = e_proj ‖ h_proj along the input axis
    if mtp_only {
        for j in 0..c.n_nextn {
            let e = sources[&format!("mtp.{j}.e_proj.weight")].clone();
            let h = sources[&format!("mtp.{j}.h_proj.weight")].clone();
            out.push(MappedTensor {
                name: format!("blk.{}.nextn.eh_proj.weight", l + j),
                ne: vec![2 * c.hidden, c.hidden],
                recipe: Recipe::Concat(vec![e, h]),
            });
        }
    }
    // (4) everything else, in checkpoint index order
    let consumed_scales: HashSet<String> = sources
        .values()
        .filter_map(|s| match s.decoder {
            Decoder::Fp8Block { scale, .. } | Decoder::Fp4Block { scale } => {
                Some(ck.tensors[scale].name.clone())
            }
            _ => None,
        })
        .collect();
    let mut placed: HashMap<String, usize> = HashMap::new();
    for (idx, t) in ck.tensors.iter().enumerate() {
        let name = t.name.as_str();
        let path = &ck.shards[t.shard].path;
        if name.starts_with("aligner.") || name.starts_with("image_") {
            continue;
        }
        if consumed_scales.contains(name) {
            continue;
        }
        let unsupported = || {
            Error::bad_tensor(
                path,
                name,
                "not a DeepSeek-V4 tensor llama.cpp's converter knows (expected the published names: embed, head, norm, hc_head_*, layers.N.*, mtp.J.*)",
            )
        };
        // the GGUF name, or None when the tensor is not written to this file
        let gguf: Option<String> = if let Some(g) = root_gguf(name) {
            (!mtp_only || matches!(name, "embed.weight" | "norm.weight" | "head.weight"))
                .then(|| g.to_string())
        } else if let Some((n, rest)) = split_layer(name, "layers.") {
            if n >= l {
                return Err(Error::bad_tensor(
                    path,
                    name,
                    format!("layer {n}: expected layers 0..{l} (num_hidden_layers)"),
                ));
            }
            // experts and tid2eid are written first; hash layers route by token id, so their
            // gate bias is unused
            if mtp_only
                || is_expert(rest)
                || rest == "ffn.gate.tid2eid"
                || (rest == "ffn.gate.bias" && n < c.hash_layers)
            {
                None
            } else if let Some(s) = layer_gguf_suffix(rest) {
                Some(format!("blk.{n}.{s}"))
            } else {
                return Err(unsupported());
            }
        } else if let Some((j, rest)) = split_layer(name, "mtp.") {
            if j >= c.n_nextn {
                return Err(Error::bad_tensor(
                    path,
                    name,
                    format!(
                        "MTP layer {j}: expected 0..{} (num_nextn_predict_layers)",
                        c.n_nextn
                    ),
                ));
            }
            let b = l + j;
            if !mtp_only || is_expert(rest) || matches!(rest, "e_proj.weight" | "h_proj.weight") {
                None
            } else if let Some(g) = root_gguf(rest).filter(|_| rest.starts_with("hc_head_")) {
                Some(g.to_string())
            } else {
                let rest = match rest {
                    "enorm.weight" => "nextn.enorm.weight",
                    "hnorm.weight" => "nextn.hnorm.weight",
                    "norm.weight" => "nextn.shared_head_norm.weight",
                    r => r,
                };
                match layer_gguf_suffix(rest) {
                    Some(s) => Some(format!("blk.{b}.{s}")),
                    None => return Err(unsupported()),
                }
            }
        } else if name == "head.scale" {
            return Err(Error::bad_tensor(
                path,
                name,
                "a scale for 'head.weight', which is not F8_E4M3",
            ));
        } else {
            return Err(unsupported());
        };
        let Some(gguf) = gguf else { continue };
        let src = match sources.get(name) {
            Some(s) => s.clone(),
            None => {
                // optional tensors outside the table (vision routing bias, MTP extras)
                if name.ends_with(".scale") {
                    return Err(Error::bad_tensor(
                        path,
                        name,
                        "block scale without an F8_E4M3 weight of the same name",
                    ));
                }
                resolve(
                    ck,
                    &CheckpointTensor {
                        name: name.to_string(),
                        shape: t.shape.clone(),
                        kind: TensorKind::Linear,
                    },
                )?
            }
        };
        let _ = idx;
        let m = MappedTensor {
            name: gguf.clone(),
            ne: ne_of(&t.shape),
            recipe: Recipe::Rows(src),
        };
        // a name written twice keeps its first position and its last data, as the reference's
        // tensor dictionary does
        match placed.get(&gguf) {
            Some(&i) => out[i] = m,
            None => {
                placed.insert(gguf, out.len());
                out.push(m);
            }
        }
    }
    Ok(out)
}
