//! DeepSeek-V3.2 (`deepseek32`) conversions and the multi-token-prediction modes of both
//! DeepSeek architectures, on synthetic checkpoints the tests write.

mod common;
use common::*;
use ds2gguf::gguf::reader::GgufFile;
use ds2gguf::gguf::{GgmlType, Value};
use ds2gguf::quant::float;
use ds2gguf::synth::{SynthDtype, SynthFamily, SynthSpec};
use std::path::Path;

fn v32() -> SynthSpec {
    SynthSpec {
        family: SynthFamily::DeepseekV32,
        ..SynthSpec::default()
    }
}

fn u32_of(f: &GgufFile, k: &str) -> u32 {
    match kv(f, k) {
        Value::U32(v) => *v,
        v => panic!("{k}: {v:?}"),
    }
}

fn names(f: &GgufFile) -> Vec<&str> {
    f.tensors.iter().map(|t| t.name.as_str()).collect()
}

fn ty(f: &GgufFile, n: &str) -> GgmlType {
    f.tensors
        .iter()
        .find(|t| t.name == n)
        .unwrap_or_else(|| panic!("no tensor {n}"))
        .ty
}

/// The keys of `f` that start with `prefix`, in file order.
fn keys_with<'a>(f: &'a GgufFile, prefix: &str) -> Vec<&'a str> {
    f.kvs
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with(prefix))
        .collect()
}

fn fails(dir: &Path, extra: &[&str]) -> String {
    let (_t, out) = out_path("x.gguf");
    let o = bin()
        .arg("convert")
        .arg(dir)
        .arg("-o")
        .arg(&out)
        .args(["--quiet"])
        .args(extra)
        .output()
        .unwrap();
    assert!(!o.status.success(), "expected a failure with {extra:?}");
    assert!(!out.exists(), "a failed conversion leaves no output");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// Tensor counts of the default synthetic shape (3 layers, 1 dense, 8 experts, 1 shared):
// deepseek2 trunk 3 + 13 + 2·18 = 52; V3.2 adds 5 indexer tensors per layer (67); the MTP
// block is an MoE layer (18) + indexer (5) + 6 NextN tensors = 29.

#[test]
fn v32_keeps_mtp_by_default_with_indexer_tensors_and_keys() {
    let dir = synth(&v32());
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "bf16", &[]);
    let f = read(&out);
    assert_eq!(
        kv(&f, "general.architecture"),
        &Value::String("deepseek32".into())
    );
    assert_eq!(f.tensors.len(), 96);
    assert_eq!(u32_of(&f, "deepseek32.block_count"), 4);
    assert_eq!(u32_of(&f, "deepseek32.nextn_predict_layers"), 1);
    assert_eq!(u32_of(&f, "deepseek32.attention.indexer.head_count"), 4);
    assert_eq!(u32_of(&f, "deepseek32.attention.indexer.key_length"), 64);
    assert_eq!(u32_of(&f, "deepseek32.attention.indexer.top_k"), 2048);
    assert_eq!(u32_of(&f, "deepseek32.attention.head_count_kv"), 1);
    // the four V3.2 keys close the architecture keys, in the reference's order
    let keys = keys_with(&f, "deepseek32.");
    assert_eq!(
        &keys[keys.len() - 5..],
        &[
            "deepseek32.rope.scaling.yarn_log_multiplier",
            "deepseek32.nextn_predict_layers",
            "deepseek32.attention.indexer.head_count",
            "deepseek32.attention.indexer.key_length",
            "deepseek32.attention.indexer.top_k",
        ]
    );
    for l in 0..4 {
        assert_eq!(
            ty(&f, &format!("blk.{l}.indexer.proj.weight")),
            GgmlType::F32
        );
        assert_eq!(
            ty(&f, &format!("blk.{l}.indexer.k_norm.weight")),
            GgmlType::F32
        );
        assert_eq!(
            ty(&f, &format!("blk.{l}.indexer.k_norm.bias")),
            GgmlType::F32
        );
        assert_eq!(
            ty(&f, &format!("blk.{l}.indexer.attn_k.weight")),
            GgmlType::BF16
        );
        assert_eq!(
            ty(&f, &format!("blk.{l}.indexer.attn_q_b.weight")),
            GgmlType::BF16
        );
    }
    // the MTP block: a full MoE layer plus the NextN tensors
    for n in [
        "blk.3.ffn_gate_exps.weight",
        "blk.3.attn_k_b.weight",
        "blk.3.nextn.eh_proj.weight",
        "blk.3.nextn.enorm.weight",
        "blk.3.nextn.hnorm.weight",
        "blk.3.nextn.embed_tokens.weight",
        "blk.3.nextn.shared_head_head.weight",
        "blk.3.nextn.shared_head_norm.weight",
    ] {
        assert!(names(&f).contains(&n), "{n}");
    }
    let eh = f
        .tensors
        .iter()
        .find(|t| t.name == "blk.3.nextn.eh_proj.weight")
        .unwrap();
    assert_eq!(eh.ne, vec![512, 256]); // {2H, H}
    assert_eq!(ty(&f, "blk.3.nextn.enorm.weight"), GgmlType::F32);
    // values: the indexer's weights projection exactly (F32 of BF16), wq_b rounded to bf16
    let (ne, got) = tensor_f32(&f, "blk.1.indexer.proj.weight");
    assert_eq!(ne, vec![256, 4]);
    let (_, want) = source_f32(
        dir.path(),
        "model.layers.1.self_attn.indexer.weights_proj.weight",
    );
    assert_eq!(got, want);
    let (ne, got) = tensor_f32(&f, "blk.3.indexer.attn_q_b.weight");
    assert_eq!(ne, vec![128, 256]); // {q_lora, heads·dim}
    let (_, want) = source_f32(dir.path(), "model.layers.3.self_attn.indexer.wq_b.weight");
    assert_eq!(got, want);
    let (_, got) = tensor_f32(&f, "blk.0.indexer.k_norm.bias");
    let (_, want) = source_f32(dir.path(), "model.layers.0.self_attn.indexer.k_norm.bias");
    assert_eq!(got, want);
}

#[test]
fn v32_no_mtp_and_mtp_only() {
    let dir = synth(&v32());
    let (_t, all) = out_path("all.gguf");
    convert(dir.path(), &all, "bf16", &[]);
    let all = read(&all);

    let (_t1, trunk) = out_path("trunk.gguf");
    convert(dir.path(), &trunk, "bf16", &["--no-mtp"]);
    let trunk = read(&trunk);
    assert_eq!(trunk.tensors.len(), 67);
    assert_eq!(u32_of(&trunk, "deepseek32.block_count"), 3);
    assert!(trunk.get("deepseek32.nextn_predict_layers").is_none());
    assert!(!names(&trunk).iter().any(|n| n.starts_with("blk.3.")));
    assert!(trunk.get("deepseek32.attention.indexer.top_k").is_some());

    let (_t2, draft) = out_path("draft.gguf");
    convert(dir.path(), &draft, "bf16", &["--mtp"]);
    let draft = read(&draft);
    assert_eq!(draft.tensors.len(), 32);
    assert_eq!(u32_of(&draft, "deepseek32.block_count"), 4);
    assert_eq!(u32_of(&draft, "deepseek32.nextn_predict_layers"), 1);
    let n = names(&draft);
    assert!(n.contains(&"token_embd.weight") && n.contains(&"output_norm.weight"));
    assert!(n.contains(&"output.weight"));
    assert!(
        n.iter()
            .filter(|n| n.starts_with("blk."))
            .all(|n| n.starts_with("blk.3."))
    );
    // the same tensors as in the combined file, byte for byte
    for (i, t) in draft.tensors.iter().enumerate() {
        let j = all.tensors.iter().position(|u| u.name == t.name).unwrap();
        assert_eq!(
            draft.read_tensor_bytes(i).unwrap(),
            all.read_tensor_bytes(j).unwrap(),
            "{}",
            t.name
        );
    }
    // --mtp drop is --no-mtp
    let (_t3, drop) = out_path("drop.gguf");
    convert(dir.path(), &drop, "bf16", &["--mtp", "drop"]);
    assert_eq!(read(&drop).tensors.len(), 67);
}

#[test]
fn v32_fp8_indexer_is_dequantized() {
    let spec = SynthSpec {
        dtype: SynthDtype::Fp8,
        hidden: 320, // ragged 128-blocks
        ..v32()
    };
    let dir = synth(&spec);
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "f32", &[]);
    let f = read(&out);
    assert!(!f.tensors.iter().any(|t| t.name.contains("scale")));
    for (gguf, hf) in [
        (
            "blk.1.indexer.attn_q_b.weight",
            "model.layers.1.self_attn.indexer.wq_b.weight",
        ),
        (
            "blk.3.indexer.attn_k.weight",
            "model.layers.3.self_attn.indexer.wk.weight",
        ),
        (
            "blk.3.nextn.eh_proj.weight",
            "model.layers.3.eh_proj.weight",
        ),
        (
            "blk.2.indexer.proj.weight",
            "model.layers.2.self_attn.indexer.weights_proj.weight",
        ),
    ] {
        let (_, got) = tensor_f32(&f, gguf);
        let (_, want) = source_f32(dir.path(), hf);
        assert_eq!(got, want, "{gguf}");
    }
    // the indexer's FP8 weights have scales; weights_proj is BF16 without one
    let ck = ds2gguf::checkpoint::safetensors::Checkpoint::open(dir.path()).unwrap();
    assert!(
        ck.get("model.layers.0.self_attn.indexer.wk.weight_scale_inv")
            .is_some()
    );
    assert!(
        ck.get("model.layers.0.self_attn.indexer.weights_proj.weight_scale_inv")
            .is_none()
    );
    // q8_0: indexer.proj stays F32, wq_b becomes Q8_0
    let (_t2, out2) = out_path("q8.gguf");
    convert(dir.path(), &out2, "q8_0", &[]);
    let f2 = read(&out2);
    assert_eq!(ty(&f2, "blk.0.indexer.proj.weight"), GgmlType::F32);
    assert_eq!(ty(&f2, "blk.0.indexer.attn_q_b.weight"), GgmlType::Q8_0);
    let (_, got) = tensor_f32(&f2, "blk.0.indexer.proj.weight");
    let (_, want) = source_f32(
        dir.path(),
        "model.layers.0.self_attn.indexer.weights_proj.weight",
    );
    assert_eq!(got, want);
}

#[test]
fn v32_kquant_counts_the_mtp_block() {
    // llama-quantize quantizes the F32 indexer.proj too, and its layer rules see block_count
    let dir = synth(&v32());
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "q4_k_m", &[]);
    let f = read(&out);
    assert_eq!(ty(&f, "blk.0.indexer.proj.weight"), GgmlType::Q4_K);
    assert_eq!(ty(&f, "blk.0.indexer.k_norm.weight"), GgmlType::F32);
    assert_eq!(ty(&f, "blk.3.nextn.eh_proj.weight"), GgmlType::Q4_K);
    assert_eq!(ty(&f, "output.weight"), GgmlType::Q6_K);
    // with 4 blocks, ffn_down of layers 2 and 3 gets more bits (Q6_K, whose fallback for the
    // 128-wide rows is Q8_0), layer 1 the base Q4_K (fallback Q5_0)
    assert_eq!(ty(&f, "blk.3.ffn_down_exps.weight"), GgmlType::Q8_0);
    assert_eq!(ty(&f, "blk.2.ffn_down_exps.weight"), GgmlType::Q8_0);
    assert_eq!(ty(&f, "blk.1.ffn_down_exps.weight"), GgmlType::Q5_0);
}

#[test]
fn v32_refusals() {
    // --mtp keep / only without MTP layers
    let dir = synth(&SynthSpec {
        mtp: false,
        ..v32()
    });
    for args in [
        &["--mtp", "keep"][..],
        &["--mtp"][..],
        &["--mtp", "only"][..],
    ] {
        let e = fails(dir.path(), args);
        assert!(e.contains("num_nextn_predict_layers"), "{args:?}: {e}");
        assert!(e.contains("config.json"), "{e}");
    }
    // without MTP layers the default is the trunk, with no nextn key
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "bf16", &[]);
    let f = read(&out);
    assert_eq!(f.tensors.len(), 67);
    assert!(f.get("deepseek32.nextn_predict_layers").is_none());
    // the legacy layout: llama.cpp's deepseek32 needs MLA
    let e = fails(dir.path(), &["--layout", "legacy"]);
    assert!(e.contains("MLA"), "{e}");
    // a missing indexer key names the key and the file
    let cfg = dir.path().join("config.json");
    let mut j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    j.as_object_mut().unwrap().remove("index_topk");
    std::fs::write(&cfg, serde_json::to_string(&j).unwrap()).unwrap();
    let e = fails(dir.path(), &[]);
    assert!(e.contains("index_topk") && e.contains("config.json"), "{e}");
}

#[test]
fn v32_missing_mtp_tensors_are_reported() {
    let dir = synth(&v32());
    // drop the MTP block's eh_proj from its shard and the index
    let idx_path = dir.path().join("model.safetensors.index.json");
    let mut idx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&idx_path).unwrap()).unwrap();
    let name = "model.layers.3.eh_proj.weight";
    let shard = idx["weight_map"][name].as_str().unwrap().to_string();
    idx["weight_map"].as_object_mut().unwrap().remove(name);
    std::fs::write(&idx_path, serde_json::to_string(&idx).unwrap()).unwrap();
    rewrite_without(&dir.path().join(shard), name);
    let e = fails(dir.path(), &["--outtype", "bf16"]);
    assert!(e.contains(name) && e.contains("missing"), "{e}");
    // --no-mtp does not need the MTP block
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "bf16", &["--no-mtp"]);
}

/// Rewrites a safetensors shard without tensor `name` (header entry only; its bytes stay as
/// an unreferenced hole, which the reader accepts as long as offsets are consistent).
fn rewrite_without(shard: &Path, name: &str) {
    let bytes = std::fs::read(shard).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut hdr: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let removed = hdr.remove(name).unwrap();
    let [a, b] = [0, 1].map(|i| removed["data_offsets"][i].as_u64().unwrap());
    let data = &bytes[8 + n..];
    let mut new_data = Vec::new();
    new_data.extend_from_slice(&data[..a as usize]);
    new_data.extend_from_slice(&data[b as usize..]);
    for (_, v) in hdr.iter_mut() {
        if let Some(o) = v.get_mut("data_offsets") {
            let [x, y] = [0, 1].map(|i| o[i].as_u64().unwrap());
            if x >= b {
                *o = serde_json::json!([x - (b - a), y - (b - a)]);
            }
        }
    }
    let mut h = serde_json::to_vec(&hdr).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&new_data);
    std::fs::write(shard, out).unwrap();
}

#[test]
fn deepseek2_mtp_modes() {
    let dir = synth(&SynthSpec::default()); // V3 with one MTP layer (layer 3)
    let (_t, base) = out_path("base.gguf");
    convert(dir.path(), &base, "bf16", &[]);
    let base_bytes = std::fs::read(&base).unwrap();
    let base = read(&base);
    assert_eq!(base.tensors.len(), 52);
    assert!(base.get("deepseek2.nextn_predict_layers").is_none());
    // --no-mtp and --mtp drop: the default, byte for byte
    for args in [&["--no-mtp"][..], &["--mtp", "drop"][..]] {
        let (_t, o) = out_path("o.gguf");
        convert(dir.path(), &o, "bf16", args);
        assert_eq!(std::fs::read(&o).unwrap(), base_bytes, "{args:?}");
    }
    // keep: trunk + MTP block (18 + 6 NextN tensors); nextn key last among the arch keys
    let (_t1, keep) = out_path("keep.gguf");
    convert(dir.path(), &keep, "bf16", &["--mtp", "keep"]);
    let keep = read(&keep);
    assert_eq!(keep.tensors.len(), 52 + 24);
    assert_eq!(u32_of(&keep, "deepseek2.block_count"), 4);
    assert_eq!(u32_of(&keep, "deepseek2.nextn_predict_layers"), 1);
    let keys = keys_with(&keep, "deepseek2.");
    assert_eq!(keys.last(), Some(&"deepseek2.nextn_predict_layers"));
    assert_eq!(
        keys.len(),
        keys_with(&base, "deepseek2.").len() + 1,
        "one key more than the trunk file"
    );
    let eh = keep
        .tensors
        .iter()
        .find(|t| t.name == "blk.3.nextn.eh_proj.weight")
        .unwrap();
    assert_eq!(eh.ne, vec![512, 256]);
    assert_eq!(ty(&keep, "blk.3.nextn.hnorm.weight"), GgmlType::F32);
    // the trunk tensors are the default file's, byte for byte
    for (i, t) in base.tensors.iter().enumerate() {
        let j = keep.tensors.iter().position(|u| u.name == t.name).unwrap();
        assert_eq!(
            base.read_tensor_bytes(i).unwrap(),
            keep.read_tensor_bytes(j).unwrap(),
            "{}",
            t.name
        );
    }
    let (_, got) = tensor_f32(&keep, "blk.3.nextn.eh_proj.weight");
    let (_, want) = source_f32(dir.path(), "model.layers.3.eh_proj.weight");
    assert_eq!(got, want);
    // only: the MTP block + token_embd, output_norm, output
    let (_t2, only) = out_path("only.gguf");
    convert(dir.path(), &only, "bf16", &["--mtp"]);
    let only = read(&only);
    assert_eq!(only.tensors.len(), 24 + 3);
    assert_eq!(u32_of(&only, "deepseek2.block_count"), 4);
    assert_eq!(u32_of(&only, "deepseek2.nextn_predict_layers"), 1);
    assert!(
        names(&only)
            .iter()
            .filter(|n| n.starts_with("blk."))
            .all(|n| n.starts_with("blk.3."))
    );
    // q8_0 keep: the NextN projection is quantized, its norms F32
    let (_t3, q8) = out_path("q8.gguf");
    convert(dir.path(), &q8, "q8_0", &["--mtp", "keep"]);
    let q8 = read(&q8);
    assert_eq!(ty(&q8, "blk.3.nextn.eh_proj.weight"), GgmlType::Q8_0);
    assert_eq!(ty(&q8, "blk.3.nextn.enorm.weight"), GgmlType::F32);
    let (_, got) = tensor_f32(&q8, "blk.3.nextn.enorm.weight");
    let (_, want) = source_f32(dir.path(), "model.layers.3.enorm.weight");
    assert_eq!(
        got,
        want.iter()
            .map(|x| float::round_to_bf16(*x))
            .collect::<Vec<_>>()
    );
}

#[test]
fn deepseek2_mtp_refusals() {
    let dir = synth(&SynthSpec {
        mtp: false,
        ..SynthSpec::default()
    });
    for args in [&["--mtp", "keep"][..], &["--mtp"][..]] {
        let e = fails(dir.path(), args);
        assert!(
            e.contains("num_nextn_predict_layers") && e.contains("absent"),
            "{args:?}: {e}"
        );
    }
    let dir = synth(&SynthSpec::default());
    let e = fails(dir.path(), &["--mtp", "keep", "--layout", "legacy"]);
    assert!(e.contains("MLA"), "{e}");
    let e = fails(dir.path(), &["--mtp", "keep", "--no-mtp"]);
    assert!(
        e.contains("--no-mtp") || e.contains("cannot be used"),
        "{e}"
    );
}

#[test]
fn plan_and_inspect_show_indexer_and_mtp() {
    let dir = synth(&v32());
    let o = bin()
        .args(["plan"])
        .arg(dir.path())
        .args(["--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["gguf_architecture"], "deepseek32");
    assert_eq!(j["model"]["indexer"], "DSA, 4 heads × 64, top-k 2048");
    assert_eq!(j["model"]["mtp_layers"], 1);
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "bf16", &[]);
    let o = bin().arg("inspect").arg(&out).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("DSA, 4 heads × 64, top-k 2048"), "{text}");
    assert!(text.contains("blk.3..blk.3"), "{text}");
}
