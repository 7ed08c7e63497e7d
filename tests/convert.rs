//! End-to-end conversions of synthetic checkpoints, read back with the project's reader.

mod common;
use common::*;
use ds2gguf::gguf::{GgmlType, Value};
use ds2gguf::quant::float;
use ds2gguf::synth::{SynthDtype, SynthSpec};

const FULL: ds2gguf::gguf::reader::Limits = ds2gguf::gguf::reader::Limits::FULL;

fn u32_of(f: &ds2gguf::gguf::reader::GgufFile, k: &str) -> u32 {
    match kv(f, k) {
        Value::U32(v) => *v,
        v => panic!("{k}: {v:?}"),
    }
}

#[test]
fn v3_bf16_layout_metadata_and_values() {
    let spec = SynthSpec::default(); // 3 layers (1 dense), 8 experts, MTP layer, 3 shards
    let dir = synth(&spec);
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "bf16", &[]);
    let f = read(&out);
    // 3 globals + dense layer (13: 5 norms/q-a... ) + MoE layers
    let names: Vec<&str> = f.tensors.iter().map(|t| t.name.as_str()).collect();
    assert!(
        !names.iter().any(|n| n.starts_with("blk.3.")),
        "MTP layer must be left out"
    );
    assert!(!names.iter().any(|n| n.contains("attn_kv_b")));
    // dense: attn_norm, q_a, q_a_norm, q_b, kv_a_mqa, kv_a_norm, k_b, v_b, output, ffn_norm, gate, up, down = 13
    // moe: 13 - 3 + gate_inp + exp_probs_b + 3 exps + 3 shexp = 18
    assert_eq!(f.tensors.len(), 3 + 13 + 2 * 18);
    assert_eq!(u32_of(&f, "deepseek2.block_count"), 3);
    assert_eq!(u32_of(&f, "deepseek2.attention.head_count_kv"), 1);
    assert_eq!(u32_of(&f, "deepseek2.attention.key_length"), 64 + 32);
    assert_eq!(u32_of(&f, "deepseek2.attention.value_length"), 64);
    assert_eq!(u32_of(&f, "deepseek2.attention.key_length_mla"), 64);
    assert_eq!(u32_of(&f, "deepseek2.attention.value_length_mla"), 32);
    assert_eq!(u32_of(&f, "general.file_type"), 32);
    assert_eq!(u32_of(&f, "deepseek2.expert_gating_func"), 2);
    assert_eq!(
        kv(&f, "deepseek2.rope.scaling.yarn_log_multiplier"),
        &Value::F32(0.1)
    );
    assert_eq!(
        kv(&f, "tokenizer.ggml.pre"),
        &Value::String("deepseek-v3".into())
    );
    let ty = |n: &str| f.tensors.iter().find(|t| t.name == n).unwrap().ty;
    assert_eq!(ty("blk.1.ffn_gate_inp.weight"), GgmlType::F32);
    assert_eq!(ty("blk.1.exp_probs_b.bias"), GgmlType::F32);
    assert_eq!(ty("blk.0.attn_norm.weight"), GgmlType::F32);
    assert_eq!(ty("blk.1.ffn_up_exps.weight"), GgmlType::BF16);
    assert_eq!(ty("token_embd.weight"), GgmlType::BF16);

    // attn_k_b: out[h][c][d] = W[h*(nope+v)+d][c]; attn_v_b: out[h][j][c] = W[h*(nope+v)+nope+j][c]
    let (wshape, w) = source_f32(dir.path(), "model.layers.1.self_attn.kv_b_proj.weight");
    let r = wshape[1] as usize;
    let (nope, v, heads) = (32usize, 32usize, 4usize);
    let (kne, k) = tensor_f32(&f, "blk.1.attn_k_b.weight");
    assert_eq!(kne, vec![32, 64, 4]);
    let (vne, vb) = tensor_f32(&f, "blk.1.attn_v_b.weight");
    assert_eq!(vne, vec![64, 32, 4]);
    for h in 0..heads {
        for c in 0..r {
            for d in 0..nope {
                assert_eq!(k[(h * r + c) * nope + d], w[(h * (nope + v) + d) * r + c]);
            }
        }
        for j in 0..v {
            for c in 0..r {
                assert_eq!(
                    vb[(h * v + j) * r + c],
                    w[(h * (nope + v) + nope + j) * r + c]
                );
            }
        }
    }
    // experts stacked in id order: ffn_down_exps[e] = experts.e.down_proj
    let (ne, down) = tensor_f32(&f, "blk.2.ffn_down_exps.weight");
    assert_eq!(ne, vec![128, 256, 8]);
    for e in [0usize, 3, 7] {
        let (_, src) = source_f32(
            dir.path(),
            &format!("model.layers.2.mlp.experts.{e}.down_proj.weight"),
        );
        assert_eq!(
            &down[e * src.len()..(e + 1) * src.len()],
            &src[..],
            "expert {e}"
        );
    }
    // the routing bias comes through exactly, in F32
    let (_, b) = tensor_f32(&f, "blk.1.exp_probs_b.bias");
    let (_, sb) = source_f32(
        dir.path(),
        "model.layers.1.mlp.gate.e_score_correction_bias",
    );
    assert_eq!(b, sb);
}

#[test]
fn fp8_dequantizes_exactly() {
    let spec = SynthSpec {
        dtype: SynthDtype::Fp8,
        hidden: 320,
        ..SynthSpec::default()
    }; // 320: ragged 128-blocks
    let dir = synth(&spec);
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "f32", &[]);
    let f = read(&out);
    assert!(!f.tensors.iter().any(|t| t.name.contains("scale")));
    for (gguf, hf) in [
        (
            "blk.0.attn_q_a.weight",
            "model.layers.0.self_attn.q_a_proj.weight",
        ),
        (
            "blk.0.ffn_down.weight",
            "model.layers.0.mlp.down_proj.weight",
        ),
        (
            "blk.1.attn_output.weight",
            "model.layers.1.self_attn.o_proj.weight",
        ),
    ] {
        let (_, got) = tensor_f32(&f, gguf);
        let (_, want) = source_f32(dir.path(), hf);
        assert_eq!(got, want, "{gguf}");
    }
    // bf16 output = f32 value rounded once
    let (_t2, out2) = out_path("m16.gguf");
    convert(dir.path(), &out2, "auto", &[]);
    let f2 = read(&out2);
    assert_eq!(
        kv(&f2, "general.file_type"),
        &Value::U32(32),
        "auto on FP8 gives bf16"
    );
    let (_, got) = tensor_f32(&f2, "blk.0.attn_q_a.weight");
    let (_, want) = source_f32(dir.path(), "model.layers.0.self_attn.q_a_proj.weight");
    let want: Vec<f32> = want.iter().map(|x| float::round_to_bf16(*x)).collect();
    assert_eq!(got, want);
}

#[test]
fn q8_0_blocks_and_fallback() {
    let spec = SynthSpec {
        hidden: 256,
        nope: 48,
        rope: 16,
        kv_lora: 80,
        ..SynthSpec::default()
    };
    let dir = synth(&spec);
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "q8_0", &[]);
    let f = read(&out);
    assert_eq!(kv(&f, "general.file_type"), &Value::U32(7));
    let ty = |n: &str| f.tensors.iter().find(|t| t.name == n).unwrap().ty;
    assert_eq!(ty("blk.0.attn_q_a.weight"), GgmlType::Q8_0);
    assert_eq!(
        ty("blk.0.attn_k_b.weight"),
        GgmlType::F16,
        "rows of 48 are not whole Q8_0 blocks"
    );
    assert_eq!(
        ty("blk.0.attn_v_b.weight"),
        GgmlType::F16,
        "rows of 80 are not whole Q8_0 blocks"
    );
    // Q8_0 round trip close to the source
    let (_, got) = tensor_f32(&f, "blk.0.ffn_up.weight");
    let (_, src) = source_f32(dir.path(), "model.layers.0.mlp.up_proj.weight");
    for (blk_g, blk_s) in got.chunks(32).zip(src.chunks(32)) {
        let amax = blk_s.iter().fold(0f32, |a, x| a.max(x.abs()));
        for (g, s) in blk_g.iter().zip(blk_s) {
            assert!(
                (g - s).abs() <= amax / 127.0 * 0.5 + 1e-3 * amax,
                "{g} vs {s}"
            );
        }
    }
}

#[test]
fn v2_lite_shape_has_attn_q_and_no_q_lora() {
    let spec = SynthSpec {
        family: ds2gguf::synth::SynthFamily::DeepseekV2,
        q_lora: None,
        mtp: false,
        shards: 1,
        ..SynthSpec::default()
    };
    let dir = synth(&spec);
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "f16", &[]);
    let f = read(&out);
    assert!(f.get("deepseek2.attention.q_lora_rank").is_none());
    assert!(f.tensors.iter().any(|t| t.name == "blk.0.attn_q.weight"));
    assert!(!f.tensors.iter().any(|t| t.name.contains("attn_q_a")));
    assert!(!f.tensors.iter().any(|t| t.name.contains("exp_probs_b")));
    assert_eq!(kv(&f, "deepseek2.expert_gating_func"), &Value::U32(1));
    assert!(f.get("deepseek2.expert_weights_norm").is_none());
    let (_, q) = tensor_f32(&f, "blk.0.attn_q.weight");
    let (_, src) = source_f32(dir.path(), "model.layers.0.self_attn.q_proj.weight");
    let want: Vec<f32> = src
        .iter()
        .map(|x| float::f16_bits_to_f32(float::f32_to_f16_bits(*x)))
        .collect();
    assert_eq!(q, want);
}

#[test]
fn legacy_layout_keeps_kv_b_whole() {
    let dir = synth(&SynthSpec::default());
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "bf16", &["--layout", "legacy"]);
    let f = read(&out);
    assert!(f.tensors.iter().any(|t| t.name == "blk.0.attn_kv_b.weight"));
    assert!(
        !f.tensors
            .iter()
            .any(|t| t.name.contains("attn_k_b") || t.name.contains("attn_v_b"))
    );
    assert_eq!(kv(&f, "deepseek2.attention.head_count_kv"), &Value::U32(4));
    assert_eq!(kv(&f, "deepseek2.attention.key_length"), &Value::U32(64));
    assert_eq!(kv(&f, "deepseek2.attention.value_length"), &Value::U32(32));
    assert!(f.get("deepseek2.attention.key_length_mla").is_none());
    let (ne, kvb) = tensor_f32(&f, "blk.0.attn_kv_b.weight");
    assert_eq!(ne, vec![64, 4 * 64]);
    let (_, src) = source_f32(dir.path(), "model.layers.0.self_attn.kv_b_proj.weight");
    assert_eq!(kvb, src);
}

#[test]
fn stdout_stream_equals_file() {
    let dir = synth(&SynthSpec {
        dtype: SynthDtype::Fp8,
        ..SynthSpec::default()
    });
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "q8_0", &["--threads", "2"]);
    let o = bin()
        .arg("convert")
        .arg(dir.path())
        .args(["-o", "-", "--outtype", "q8_0", "--quiet", "--threads", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file = std::fs::read(&out).unwrap();
    assert_eq!(o.stdout.len(), file.len());
    assert!(o.stdout == file, "stdout bytes differ from the file");
}

#[test]
fn split_output_matches_unsplit() {
    let dir = synth(&SynthSpec::default());
    let (t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "bf16", &[]);
    let whole = read(&out);
    let split_base = t.path().join("s.gguf");
    convert(
        dir.path(),
        &split_base,
        "bf16",
        &["--split-max-tensors", "20"],
    );
    let names = ls(t.path());
    assert!(
        names.contains(&"s-00001-of-00003.gguf".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"s-00003-of-00003.gguf".to_string()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("partial")));
    let files = ds2gguf::inspect::open_set(&t.path().join("s-00001-of-00003.gguf"), FULL).unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0].get("split.count"), Some(&Value::U16(3)));
    assert_eq!(files[2].get("split.no"), Some(&Value::U16(2)));
    assert_eq!(
        files[1].get("split.tensors.count"),
        Some(&Value::I32(whole.tensors.len() as i32))
    );
    assert_eq!(
        files[1].kvs.len(),
        3,
        "only split keys after the first file"
    );
    assert!(files[0].get("tokenizer.ggml.tokens").is_some());
    let mut n = 0;
    for f in &files {
        assert!(f.tensors.len() <= 20);
        for (i, t) in f.tensors.iter().enumerate() {
            let j = whole.tensors.iter().position(|w| w.name == t.name).unwrap();
            assert_eq!(
                f.read_tensor_bytes(i).unwrap(),
                whole.read_tensor_bytes(j).unwrap(),
                "{}",
                t.name
            );
            n += 1;
        }
    }
    assert_eq!(n, whole.tensors.len());
    // size-based split
    let sz = t.path().join("z.gguf");
    convert(dir.path(), &sz, "bf16", &["--split-max-size", "500K"]);
    let files = ds2gguf::inspect::open_set(&t.path().join("z-00001-of-00002.gguf"), FULL)
        .unwrap_or_else(|_| {
            let first = ls(t.path())
                .into_iter()
                .find(|n| n.starts_with("z-00001"))
                .unwrap();
            ds2gguf::inspect::open_set(&t.path().join(first), FULL).unwrap()
        });
    assert!(files.len() > 1);
    for f in &files {
        let data: u64 = f.tensors.iter().map(|t| t.n_bytes()).sum();
        assert!(data <= 500_000 || f.tensors.len() == 1, "{data}");
    }
}

#[test]
fn plan_reports_without_reading_data() {
    // a sparse checkpoint has no data at all; plan must still answer from headers
    let dir = synth(&SynthSpec {
        sparse: true,
        dtype: SynthDtype::Fp8,
        ..SynthSpec::default()
    });
    let o = bin()
        .arg("plan")
        .arg(dir.path())
        .args(["--outtype", "q4_k_m", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["outtype"], "q4_k_m");
    assert_eq!(v["pre_tokenizer"], "deepseek-v3");
    assert_eq!(v["fp8"], true);
    // the planned size is the size convert writes
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "q4_k_m", &[]);
    assert_eq!(
        v["output_bytes"].as_u64().unwrap(),
        std::fs::metadata(&out).unwrap().len()
    );
}

#[test]
fn bf16_copy_path_keeps_llama_nan_quieting() {
    // a signalling bf16 NaN in the source: llama.cpp goes through f32 and quiets it (| 0x40)
    let dir = synth(&SynthSpec {
        shards: 1,
        mtp: false,
        ..SynthSpec::default()
    });
    let shard = dir.path().join("model.safetensors");
    let ck = ds2gguf::checkpoint::safetensors::Checkpoint::open(dir.path()).unwrap();
    let t = ck.get("model.layers.0.mlp.up_proj.weight").unwrap();
    let pos = t.start as usize + 2 * 5;
    drop(ck);
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes[pos..pos + 2].copy_from_slice(&0x7f81u16.to_le_bytes());
    std::fs::write(&shard, bytes).unwrap();
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "bf16", &[]);
    let f = read(&out);
    let i = f
        .tensors
        .iter()
        .position(|t| t.name == "blk.0.ffn_up.weight")
        .unwrap();
    let data = f.read_tensor_bytes(i).unwrap();
    assert_eq!(u16::from_le_bytes([data[10], data[11]]), 0x7fc1);
    // and the rest of the tensor is the source bytes unchanged
    let (_, src) = source_f32(dir.path(), "model.layers.0.mlp.up_proj.weight");
    let (_, got) = tensor_f32(&f, "blk.0.ffn_up.weight");
    for (k, (a, b)) in got.iter().zip(&src).enumerate() {
        if k != 5 {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }
}

#[test]
fn fp8_scale_variants() {
    let spec = SynthSpec {
        dtype: SynthDtype::Fp8,
        shards: 1,
        mtp: false,
        hidden: 320,
        ..SynthSpec::default()
    };
    let base = synth(&spec);
    let (t, out) = out_path("base.gguf");
    convert(base.path(), &out, "f32", &[]);
    let want = read(&out);
    let weight = "model.layers.0.mlp.up_proj.weight";

    // 1. `weight_scale` instead of `weight_scale_inv`, an `input_scale` to ignore, scale_fmt ue8m0
    let d = synth(&spec);
    rewrite_shard(&d.path().join("model.safetensors"), |(n, dt, sh, b)| {
        if n.ends_with("_scale_inv") {
            vec![(n.replace("weight_scale_inv", "weight_scale"), dt, sh, b)]
        } else if n == weight {
            let is = (
                format!("{}.input_scale", n.trim_end_matches(".weight")),
                "F32".into(),
                vec![1],
                1f32.to_le_bytes().to_vec(),
            );
            vec![(n, dt, sh, b), is]
        } else {
            vec![(n, dt, sh, b)]
        }
    });
    let cfgp = d.path().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfgp).unwrap()).unwrap();
    cfg["quantization_config"]["scale_fmt"] = serde_json::json!("ue8m0");
    std::fs::write(&cfgp, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let o1 = t.path().join("v1.gguf");
    convert(d.path(), &o1, "f32", &[]);
    let got = read(&o1);
    for (i, w) in want.tensors.iter().enumerate() {
        let j = got.tensors.iter().position(|g| g.name == w.name).unwrap();
        assert_eq!(
            got.read_tensor_bytes(j).unwrap(),
            want.read_tensor_bytes(i).unwrap(),
            "{}",
            w.name
        );
    }

    // 2. scales stored as F8_E8M0 (powers of two): value = fp8 × 2^(b − 127)
    let d = synth(&spec);
    let mut codes: Vec<u8> = Vec::new();
    rewrite_shard(&d.path().join("model.safetensors"), |(n, dt, sh, b)| {
        if n == format!("{weight}_scale_inv") {
            codes = b
                .chunks_exact(4)
                .map(|c| {
                    (f32::from_le_bytes(c.try_into().unwrap()).log2().round() as i32 + 127) as u8
                })
                .collect();
            vec![(n, "F8_E8M0".into(), sh, codes.clone())]
        } else {
            vec![(n, dt, sh, b)]
        }
    });
    let o2 = t.path().join("v2.gguf");
    convert(d.path(), &o2, "f32", &[]);
    let got = read(&o2);
    let ck = ds2gguf::checkpoint::safetensors::Checkpoint::open(d.path()).unwrap();
    let w = ck.get(weight).unwrap();
    let mut raw = vec![0u8; w.len as usize];
    ck.shard_of(w).read_at(&mut raw, w.start).unwrap();
    let cols = w.shape[1] as usize;
    let scols = cols.div_ceil(128);
    let (_, vals) = tensor_f32(&got, "blk.0.ffn_up.weight");
    for (i, q) in raw.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let s = 2f32.powi(codes[(r / 128) * scols + c / 128] as i32 - 127);
        assert_eq!(vals[i], float::E4M3FN_LUT[*q as usize] * s, "element {i}");
    }
}

#[test]
fn synth_tokenizer_specials_are_control_tokens() {
    let dir = synth(&SynthSpec {
        shards: 1,
        ..SynthSpec::default()
    });
    let (_t, out) = out_path("m.gguf");
    convert(dir.path(), &out, "q8_0", &[]);
    let f = read(&out);
    let Value::Array(ds2gguf::gguf::Array::String(tokens)) = kv(&f, "tokenizer.ggml.tokens") else {
        panic!()
    };
    let Value::Array(ds2gguf::gguf::Array::I32(types)) = kv(&f, "tokenizer.ggml.token_type") else {
        panic!()
    };
    assert_eq!(tokens.len(), 1024);
    assert_eq!(tokens[0], "<｜begin▁of▁sentence｜>");
    assert_eq!(tokens[1], "<｜end▁of▁sentence｜>");
    assert_eq!(&types[..4], &[3, 3, 3, 1]);
    assert_eq!(tokens[1023], "[PAD1023]");
    assert_eq!(types[1023], 5);
    assert_eq!(kv(&f, "tokenizer.ggml.bos_token_id"), &Value::U32(0));
}
