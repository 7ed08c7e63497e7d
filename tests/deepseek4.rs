//! DeepSeek-V4 (`deepseek4`) on V4-shaped checkpoints the tests write: keys, tensor order and
//! types, the FP4 → MXFP4 repack and the FP8 × E8M0 decoding checked against independent
//! decodings of the source bytes, `--mtp`, K-quant presets, and the errors for incomplete or
//! inconsistent checkpoints.

mod common;

use common::*;
use ds2gguf::arch::deepseek4::synth::tiny_spec;
use ds2gguf::checkpoint::safetensors::Checkpoint;
use ds2gguf::gguf::{Array, GgmlType, Value};
use serde_json::Value as Json;
use std::path::Path;

fn raw_source(dir: &Path, name: &str) -> (Vec<u64>, Vec<u8>) {
    let ck = Checkpoint::open(dir).unwrap();
    let t = ck.get(name).unwrap_or_else(|| panic!("no source {name}"));
    let mut b = vec![0u8; t.len as usize];
    ck.shard_of(t).read_at(&mut b, t.start).unwrap();
    (t.shape.clone(), b)
}

/// e2m1 per the OCP MX specification.
fn e2m1(c: u8) -> f32 {
    const V: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
    let v = V[(c & 7) as usize];
    if c & 8 != 0 { -v } else { v }
}

fn e8m0(e: u8) -> f32 {
    2f32.powi(e as i32 - 127)
}

fn e4m3(b: u8) -> f32 {
    let s = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let e = ((b >> 3) & 0xf) as i32;
    let m = (b & 7) as f32;
    if e == 0 {
        s * m / 8.0 * 2f32.powi(-6)
    } else {
        s * (1.0 + m / 8.0) * 2f32.powi(e - 7)
    }
}

fn v4() -> tempfile::TempDir {
    synth(&tiny_spec())
}

fn tensor_index(f: &ds2gguf::gguf::reader::GgufFile, name: &str) -> usize {
    f.tensors
        .iter()
        .position(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
}

#[test]
fn keys_order_and_types_match_the_reference_rules() {
    let d = v4();
    let (_o, out) = out_path("v4.gguf");
    convert(d.path(), &out, "auto", &[]);
    let f = read(&out);
    assert_eq!(f.kvs[0].0, "general.architecture");
    assert_eq!(f.kvs[1].0, "tokenizer.chat_template");
    assert_eq!(
        kv(&f, "general.architecture"),
        &Value::String("deepseek4".into())
    );
    assert_eq!(kv(&f, "general.file_type"), &Value::U32(38));
    assert_eq!(kv(&f, "deepseek4.expert_gating_func"), &Value::U32(4));
    assert_eq!(kv(&f, "deepseek4.block_count"), &Value::U32(3));
    assert_eq!(kv(&f, "deepseek4.attention.head_count_kv"), &Value::U32(1));
    assert_eq!(
        kv(&f, "deepseek4.attention.compress_ratios"),
        &Value::Array(Array::I32(vec![0, 4, 128, 0]))
    );
    assert_eq!(
        kv(&f, "deepseek4.swiglu_clamp_exp"),
        &Value::Array(Array::F32(vec![10.0; 3]))
    );
    assert_eq!(kv(&f, "deepseek4.embedding_length_out"), &Value::U32(1024));
    assert_eq!(kv(&f, "deepseek4.expert_weights_norm"), &Value::Bool(true));
    assert!(f.get("deepseek4.nextn_predict_layers").is_none());
    // the reference's key order between general.file_type and quantization_version
    let keys: Vec<&str> = f.kvs.iter().map(|(k, _)| k.as_str()).collect();
    let at = |k: &str| keys.iter().position(|x| *x == k).unwrap();
    let order = [
        "deepseek4.attention.key_length",
        "deepseek4.attention.value_length",
        "general.file_type",
        "deepseek4.rope.dimension_count",
        "deepseek4.attention.q_lora_rank",
        "deepseek4.attention.sliding_window",
        "deepseek4.expert_feed_forward_length",
        "deepseek4.expert_shared_count",
        "deepseek4.expert_weights_scale",
        "deepseek4.expert_weights_norm",
        "deepseek4.swiglu_clamp_exp",
        "deepseek4.swiglu_clamp_shexp",
        "deepseek4.attention.indexer.head_count",
        "deepseek4.attention.indexer.key_length",
        "deepseek4.attention.indexer.top_k",
        "deepseek4.attention.output_group_count",
        "deepseek4.attention.output_lora_rank",
        "deepseek4.attention.compress_ratios",
        "deepseek4.attention.compress_rope_freq_base",
        "deepseek4.hyper_connection.count",
        "deepseek4.hyper_connection.sinkhorn_iterations",
        "deepseek4.hyper_connection.epsilon",
        "deepseek4.hash_layer_count",
        "deepseek4.embedding_length_out",
        "general.quantization_version",
    ];
    for w in order.windows(2) {
        assert_eq!(at(w[0]) + 1, at(w[1]), "{} then {}", w[0], w[1]);
    }
    // order: tid2eid, then experts layer by layer (gate, down, up), then the rest
    let names: Vec<&str> = f.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names[0], "blk.0.ffn_gate_tid2eid.weight");
    let mut want = Vec::new();
    for b in 0..3 {
        for k in ["gate", "down", "up"] {
            want.push(format!("blk.{b}.ffn_{k}_exps.weight"));
        }
    }
    assert_eq!(
        &names[1..10],
        want.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(names.len(), 92);
    assert!(!names.iter().any(|n| n.contains("blk.3.")));
    assert!(!names.contains(&"blk.0.exp_probs_b.bias")); // hash layer
    assert!(names.contains(&"blk.1.exp_probs_b.bias"));
    // types by source dtype
    let ty = |n: &str| f.tensors[tensor_index(&f, n)].ty;
    assert_eq!(ty("blk.0.ffn_gate_tid2eid.weight"), GgmlType::I32);
    assert_eq!(ty("blk.1.ffn_up_exps.weight"), GgmlType::MXFP4);
    assert_eq!(ty("blk.1.attn_q_a.weight"), GgmlType::Q8_0); // FP8
    assert_eq!(ty("blk.1.attn_compressor_kv.weight"), GgmlType::Q8_0); // FP8 in synth
    assert_eq!(ty("blk.1.ffn_gate_inp.weight"), GgmlType::BF16);
    assert_eq!(ty("token_embd.weight"), GgmlType::BF16);
    assert_eq!(ty("blk.1.hc_attn_fn.weight"), GgmlType::F32);
    assert_eq!(ty("blk.1.attn_sinks.weight"), GgmlType::F32);
    let t = &f.tensors[tensor_index(&f, "blk.2.ffn_down_exps.weight")];
    assert_eq!(t.ne, vec![128, 256, 8]);
    let t = &f.tensors[tensor_index(&f, "blk.2.attn_compressor_ape.weight")];
    assert_eq!(t.ne, vec![64, 128]);
    let t = &f.tensors[tensor_index(&f, "blk.0.ffn_gate_tid2eid.weight")];
    assert_eq!(t.ne, vec![2, 1024]);
}

#[test]
fn outtypes_give_the_same_bytes() {
    let d = v4();
    let (_o, a) = out_path("a.gguf");
    let (_p, b) = out_path("b.gguf");
    let (_q, c) = out_path("c.gguf");
    convert(d.path(), &a, "auto", &[]);
    convert(d.path(), &b, "bf16", &[]);
    convert(d.path(), &c, "q8_0", &[]);
    let (a, b, c) = (
        std::fs::read(a).unwrap(),
        std::fs::read(b).unwrap(),
        std::fs::read(c).unwrap(),
    );
    assert!(a == b && b == c);
}

#[test]
fn fp4_experts_are_repacked_byte_for_byte_and_fp8_dequantized() {
    let d = v4();
    let (_o, out) = out_path("v4.gguf");
    convert(d.path(), &out, "auto", &[]);
    let f = read(&out);
    // MXFP4 bytes of expert 5's w3 (up) in layer 1: scale byte, then c[j] | c[j+16] << 4
    let i = tensor_index(&f, "blk.1.ffn_up_exps.weight");
    let bytes = f.read_tensor_bytes(i).unwrap();
    let (pshape, packed) = raw_source(d.path(), "layers.1.ffn.experts.5.w3.weight");
    let (_, scales) = raw_source(d.path(), "layers.1.ffn.experts.5.w3.scale");
    let (rows, cols) = (pshape[0] as usize, pshape[1] as usize * 2);
    let row_bytes = cols / 32 * 17;
    let expert = &bytes[5 * rows * row_bytes..6 * rows * row_bytes];
    let code = |r: usize, k: usize| (packed[r * cols / 2 + k / 2] >> ((k % 2) * 4)) & 15;
    for r in 0..rows {
        for g in 0..cols / 32 {
            let blk = &expert[r * row_bytes + g * 17..r * row_bytes + (g + 1) * 17];
            assert_eq!(blk[0], scales[r * cols / 32 + g]);
            for j in 0..16 {
                let want = code(r, g * 32 + j) | (code(r, g * 32 + j + 16) << 4);
                assert_eq!(blk[1 + j], want, "row {r} block {g} byte {j}");
            }
        }
    }
    // and the values it decodes to are e2m1 × 2^(e-127), exactly
    let (_, vals) = tensor_f32(&f, "blk.1.ffn_up_exps.weight");
    let ev = &vals[5 * rows * cols..6 * rows * cols];
    for r in [0, rows - 1] {
        for k in 0..cols {
            let want = e2m1(code(r, k)) * e8m0(scales[r * cols / 32 + k / 32]);
            assert_eq!(ev[r * cols + k].abs(), want.abs());
        }
    }
    // FP8 × E8M0: the Q8_0 file holds llama.cpp's Q8_0 of e4m3(q) · 2^(e-127)
    let (wshape, q) = raw_source(d.path(), "layers.2.attn.wq_b.weight");
    let (sshape, s) = raw_source(d.path(), "layers.2.attn.wq_b.scale");
    let (wr, wc) = (wshape[0] as usize, wshape[1] as usize);
    let dq: Vec<f32> = (0..wr * wc)
        .map(|i| e4m3(q[i]) * e8m0(s[(i / wc / 128) * sshape[1] as usize + (i % wc) / 128]))
        .collect();
    let mut want = vec![0u8; wr * wc / 32 * 34];
    for (x, o) in dq.chunks_exact(wc).zip(want.chunks_exact_mut(wc / 32 * 34)) {
        ds2gguf::quant::quantize_row_scalar(GgmlType::Q8_0, x, o);
    }
    let i = tensor_index(&f, "blk.2.attn_q_b.weight");
    assert_eq!(f.read_tensor_bytes(i).unwrap(), want);
    // tid2eid as int32
    let (_, ids) = raw_source(d.path(), "layers.0.ffn.gate.tid2eid");
    let i = tensor_index(&f, "blk.0.ffn_gate_tid2eid.weight");
    assert_eq!(f.read_tensor_bytes(i).unwrap(), ids);
    assert!(
        ids.chunks_exact(4)
            .all(|c| i32::from_le_bytes(c.try_into().unwrap()) < 8)
    );
}

#[test]
fn mtp_writes_the_draft_file() {
    let d = v4();
    let (_o, out) = out_path("mtp.gguf");
    convert(d.path(), &out, "auto", &["--mtp"]);
    let f = read(&out);
    assert_eq!(kv(&f, "deepseek4.block_count"), &Value::U32(4));
    assert_eq!(kv(&f, "deepseek4.nextn_predict_layers"), &Value::U32(1));
    assert_eq!(
        kv(&f, "deepseek4.swiglu_clamp_shexp"),
        &Value::Array(Array::F32(vec![10.0; 4]))
    );
    let names: Vec<&str> = f.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        &names[..4],
        [
            "blk.3.ffn_gate_exps.weight",
            "blk.3.ffn_down_exps.weight",
            "blk.3.ffn_up_exps.weight",
            "blk.3.nextn.eh_proj.weight"
        ]
    );
    for n in [
        "token_embd.weight",
        "output.weight",
        "output_norm.weight",
        "output_hc_fn.weight",
        "blk.3.nextn.shared_head_norm.weight",
        "blk.3.nextn.enorm.weight",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("blk.0.") || n.starts_with("blk.2."))
    );
    let i = tensor_index(&f, "blk.3.nextn.eh_proj.weight");
    assert_eq!(f.tensors[i].ne, vec![512, 256]);
    assert_eq!(f.tensors[i].ty, GgmlType::Q8_0);
    // the output hc head is the MTP layer's
    let (_, ours) = tensor_f32(&f, "output_hc_base.weight");
    let (_, src) = source_f32(d.path(), "mtp.0.hc_head_base");
    assert_eq!(ours, src);
    // eh_proj row 0 = e_proj row 0 ‖ h_proj row 0 (within Q8_0 error)
    let (_, eh) = tensor_f32(&f, "blk.3.nextn.eh_proj.weight");
    let (_, e) = raw_source(d.path(), "mtp.0.e_proj.weight");
    let (_, es) = raw_source(d.path(), "mtp.0.e_proj.scale");
    let (_, h) = raw_source(d.path(), "mtp.0.h_proj.weight");
    let (_, hs) = raw_source(d.path(), "mtp.0.h_proj.scale");
    let row: Vec<f32> = (0..256)
        .map(|k| e4m3(e[k]) * e8m0(es[k / 128]))
        .chain((0..256).map(|k| e4m3(h[k]) * e8m0(hs[k / 128])))
        .collect();
    for (b, (ours, want)) in eh[..512].chunks(32).zip(row.chunks(32)).enumerate() {
        let amax = want.iter().fold(0f32, |m, x| m.max(x.abs()));
        for (x, y) in ours.iter().zip(want) {
            assert!(
                (x - y).abs() <= amax / 127.0 + 1e-6,
                "block {b}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn kquant_presets_keep_mxfp4_experts_unless_retyped() {
    let d = v4();
    let (_o, out) = out_path("q4.gguf");
    convert(d.path(), &out, "q4_k_m", &[]);
    let f = read(&out);
    let ty = |n: &str| f.tensors[tensor_index(&f, n)].ty;
    assert_eq!(ty("blk.1.ffn_gate_exps.weight"), GgmlType::MXFP4);
    assert_eq!(ty("blk.0.ffn_gate_tid2eid.weight"), GgmlType::I32);
    assert!(ty("blk.1.attn_q_a.weight").is_quantized());
    assert_ne!(ty("blk.1.attn_q_a.weight"), GgmlType::Q8_0);
    assert_eq!(ty("blk.1.attn_norm.weight"), GgmlType::F32);
    assert_eq!(kv(&f, "general.file_type"), &Value::U32(15));
    let (_p, out2) = out_path("q4b.gguf");
    convert(
        d.path(),
        &out2,
        "q4_k_m",
        &["--tensor-type", "ffn_up_exps=q8_0"],
    );
    let g = read(&out2);
    let ty2 = |n: &str| g.tensors[tensor_index(&g, n)].ty;
    assert_eq!(ty2("blk.1.ffn_up_exps.weight"), GgmlType::Q8_0);
    assert_eq!(ty2("blk.1.ffn_gate_exps.weight"), GgmlType::MXFP4);
    // re-typed experts are quantized from the exact FP4 values
    let (_, a) = tensor_f32(&f, "blk.1.ffn_up_exps.weight");
    let (_, b) = tensor_f32(&g, "blk.1.ffn_up_exps.weight");
    let num: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f32 = a.iter().map(|x| x * x).sum();
    assert!(num / den < 1e-4, "rel² {}", num / den);
}

fn config_edit(dir: &Path, f: impl FnOnce(&mut serde_json::Map<String, Json>)) {
    let p = dir.join("config.json");
    let mut v: Json = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(v.as_object_mut().unwrap());
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn convert_err(dir: &Path, extra: &[&str]) -> String {
    let (_o, out) = out_path("x.gguf");
    let o = bin()
        .arg("convert")
        .arg(dir)
        .arg("-o")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!out.exists());
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn shard_holding(dir: &Path, name: &str) -> std::path::PathBuf {
    let idx: Json =
        serde_json::from_slice(&std::fs::read(dir.join("model.safetensors.index.json")).unwrap())
            .unwrap();
    dir.join(idx["weight_map"][name].as_str().unwrap())
}

#[test]
fn config_errors_name_the_key_expected_and_found() {
    let cases: [(&str, Json, &str); 4] = [
        ("scoring_func", Json::from("sigmoid"), "sqrtsoftplus"),
        ("hc_mult", Json::from(3), "found 3"),
        (
            "compress_ratios",
            serde_json::json!([0, 4, 64, 0]),
            "found 64",
        ),
        (
            "compress_ratios",
            serde_json::json!([0, 4]),
            "found 2 entries",
        ),
    ];
    for (k, v, want) in cases {
        let d = v4();
        config_edit(d.path(), |m| {
            m.insert(k.into(), v.clone());
        });
        let e = convert_err(d.path(), &[]);
        assert!(
            e.contains("config.json") && e.contains(k) && e.contains(want),
            "{k}: {e}"
        );
    }
}

#[test]
fn checkpoint_errors_name_file_tensor_expected_and_found() {
    // a missing FP8 scale
    let d = v4();
    let name = "layers.1.attn.wkv.scale";
    let shard = shard_holding(d.path(), name);
    rewrite_shard(&shard, |t| if t.0 == name { vec![] } else { vec![t] });
    let e = convert_err(d.path(), &[]);
    assert!(
        e.contains("layers.1.attn.wkv.weight") && e.contains(name) && e.contains("found nothing"),
        "{e}"
    );
    // an FP4 expert of the wrong packed shape
    let d = v4();
    let name = "layers.2.ffn.experts.3.w2.weight";
    let shard = shard_holding(d.path(), name);
    rewrite_shard(&shard, |mut t| {
        if t.0 == name {
            t.2 = vec![256, 128];
            t.3.resize(256 * 128, 0);
        }
        vec![t]
    });
    let e = convert_err(d.path(), &[]);
    assert!(
        e.contains(name) && e.contains("[256, 64]") && e.contains("[256, 128]"),
        "{e}"
    );
    assert!(
        e.contains(&*shard.file_name().unwrap().to_string_lossy()),
        "{e}"
    );
    // a missing expert
    let d = v4();
    let name = "layers.0.ffn.experts.7.w1.weight";
    let shard = shard_holding(d.path(), name);
    rewrite_shard(&shard, |t| if t.0 == name { vec![] } else { vec![t] });
    let e = convert_err(d.path(), &[]);
    assert!(e.contains(name) && e.contains("missing"), "{e}");
}

#[test]
fn plan_and_inspect_know_deepseek4() {
    let d = v4();
    let o = bin().arg("plan").arg(d.path()).output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(s.contains("deepseek4") && s.contains("hash_layers") && s.contains("[0,4,128]"));
    assert!(s.contains("MXFP4"), "{s}");
    let (_o, out) = out_path("v4.gguf");
    convert(d.path(), &out, "auto", &[]);
    let o = bin().arg("inspect").arg(&out).output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(
        s.contains("hash_layers 1") && s.contains("routed_experts MXFP4"),
        "{s}"
    );
    assert!(s.contains("compress_ratios [0,4,128,0]"), "{s}");
}

#[test]
fn bundled_template_unless_the_tokenizer_files_have_one() {
    let d = v4();
    let (_o, out) = out_path("with.gguf");
    convert(d.path(), &out, "auto", &[]);
    let f = read(&out);
    let tc: Json =
        serde_json::from_slice(&std::fs::read(d.path().join("tokenizer_config.json")).unwrap())
            .unwrap();
    let theirs = tc["chat_template"].as_str().unwrap().to_string();
    assert_eq!(kv(&f, "tokenizer.chat_template"), &Value::String(theirs));
    // without one, ours (rendering DeepSeek-V4's format) is written, still as the second key
    let mut tc = tc;
    tc.as_object_mut().unwrap().remove("chat_template");
    std::fs::write(
        d.path().join("tokenizer_config.json"),
        serde_json::to_vec(&tc).unwrap(),
    )
    .unwrap();
    let (_p, out2) = out_path("without.gguf");
    convert(d.path(), &out2, "auto", &[]);
    let g = read(&out2);
    assert_eq!(g.kvs[1].0, "tokenizer.chat_template");
    let Value::String(t) = kv(&g, "tokenizer.chat_template") else {
        panic!()
    };
    assert_eq!(t, ds2gguf::arch::deepseek4::template::bundled(false));
    assert!(t.contains("｜DSML｜") && !t.contains("Beyond maximum"));
}
