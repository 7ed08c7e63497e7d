//! Kimi-K2 / Moonlight: the tiktoken tokenizer, INT4 compressed-tensors experts, the Q4_0
//! output type and the lossless INT4 → Q4_0 repack, on checkpoints the tests write.

mod common;
use common::*;
use ds2gguf::gguf::reader::GgufFile;
use ds2gguf::gguf::{Array, GgmlType, Value};
use ds2gguf::quant::float;
use ds2gguf::synth::{SynthDtype, SynthFamily, SynthSpec};
use std::path::Path;

fn kimi(dtype: SynthDtype) -> tempfile::TempDir {
    let mut s = SynthSpec {
        dtype,
        ..SynthSpec::default()
    };
    SynthFamily::KimiK2.adjust(&mut s);
    synth(&s)
}

fn raw(dir: &Path, name: &str) -> (Vec<u64>, Vec<u8>) {
    let ck = ds2gguf::checkpoint::safetensors::Checkpoint::open(dir).unwrap();
    let t = ck.get(name).unwrap_or_else(|| panic!("no {name}"));
    let mut b = vec![0u8; t.len as usize];
    ck.shard_of(t).read_at(&mut b, t.start).unwrap();
    (t.shape.clone(), b)
}

/// The INT4 checkpoint's dequantized weight, written out by hand from the stored words:
/// value k of word j is bits 4k..4k+4, minus 8, times the group's bf16 scale.
fn int4_dequant(dir: &Path, base: &str) -> (Vec<u64>, Vec<f32>, Vec<u8>) {
    let (pshape, words) = raw(dir, &format!("{base}_packed"));
    let (_, scales) = raw(dir, &format!("{base}_scale"));
    let (_, shape) = raw(dir, &format!("{base}_shape"));
    let rows = i64::from_le_bytes(shape[0..8].try_into().unwrap()) as usize;
    let cols = i64::from_le_bytes(shape[8..16].try_into().unwrap()) as usize;
    assert_eq!(pshape, vec![rows as u64, cols.div_ceil(8) as u64]);
    let mut vals = Vec::with_capacity(rows * cols);
    let mut codes = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let w = (r * cols / 8 + c / 8) * 4;
            let word = u32::from_le_bytes(words[w..w + 4].try_into().unwrap());
            let u = ((word >> (4 * (c % 8))) & 15) as u8;
            let si = (r * cols / 32 + c / 32) * 2;
            let s = float::bf16_bits_to_f32(u16::from_le_bytes([scales[si], scales[si + 1]]));
            vals.push((u as i32 - 8) as f32 * s);
            codes.push(u);
        }
    }
    (vec![rows as u64, cols as u64], vals, codes)
}

fn strings<'a>(f: &'a GgufFile, k: &str) -> &'a [String] {
    match kv(f, k) {
        Value::Array(Array::String(v)) => v,
        v => panic!("{k}: {v:?}"),
    }
}

#[test]
fn kimi_tiktoken_vocabulary_and_keys() {
    let dir = kimi(SynthDtype::Bf16);
    let (_t, out) = out_path("k.gguf");
    convert(dir.path(), &out, "bf16", &[]);
    let f = read(&out);
    let n_base = ds2gguf::synth_kimi::ranks().len();
    assert_eq!(
        kv(&f, "tokenizer.ggml.model"),
        &Value::String("gpt2".into())
    );
    assert_eq!(
        kv(&f, "tokenizer.ggml.pre"),
        &Value::String("kimi-k2".into())
    );
    let toks = strings(&f, "tokenizer.ggml.tokens");
    assert_eq!(toks.len(), 1024);
    assert_eq!(toks[0], "!"); // GPT-2 byte order: printable bytes first
    assert_eq!(toks[n_base], "[BOS]");
    assert_eq!(
        toks[n_base + 5],
        format!("<|reserved_token_{}|>", n_base + 5)
    );
    assert_eq!(toks[n_base + 255], "[PAD]");
    assert_eq!(toks[n_base + 256], format!("[PAD{}]", n_base + 256));
    let types = match kv(&f, "tokenizer.ggml.token_type") {
        Value::Array(Array::I32(v)) => v.clone(),
        v => panic!("{v:?}"),
    };
    assert_eq!(types[0], 1);
    assert_eq!(types[n_base], 3);
    assert_eq!(types[n_base + 5], 3);
    assert_eq!(types[1023], 5);
    assert_eq!(
        kv(&f, "tokenizer.ggml.bos_token_id"),
        &Value::U32(n_base as u32)
    );
    assert_eq!(
        kv(&f, "tokenizer.ggml.eos_token_id"),
        &Value::U32(n_base as u32 + 1)
    );
    assert!(f.get("tokenizer.ggml.add_bos_token").is_none());
    assert!(f.get("tokenizer.chat_template").is_some());
    // every learned token of two or more bytes gives one merge here
    assert_eq!(strings(&f, "tokenizer.ggml.merges").len(), n_base - 256);
    assert_eq!(
        kv(&f, "deepseek2.rope.scaling.yarn_beta_fast"),
        &Value::F32(1.0)
    );
    assert_eq!(
        kv(&f, "deepseek2.rope.scaling.yarn_beta_slow"),
        &Value::F32(1.0)
    );
    assert_eq!(kv(&f, "deepseek2.expert_weights_scale"), &Value::F32(2.827));
}

#[test]
fn plan_warns_about_yarn_beta_and_lists_repacks() {
    let dir = kimi(SynthDtype::Int4);
    let o = bin()
        .args(["plan"])
        .arg(dir.path())
        .args(["--outtype", "q8_0", "--tensor-type", "ffn_.*_exps=q4_0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("llama.cpp's deepseek2 loader ignores them and runs 32/1"),
        "{text}"
    );
    assert!(text.contains("repacked    6 tensor(s)"), "{text}");
    assert!(text.contains("blk.1.ffn_down_exps.weight"), "{text}");
    assert!(
        text.contains("INT4 group scales are exact in f16"),
        "{text}"
    );
}

#[test]
fn int4_experts_decode_exactly_and_go_last() {
    let dir = kimi(SynthDtype::Int4);
    let (_t, out) = out_path("k.gguf");
    convert(dir.path(), &out, "f32", &[]);
    let f = read(&out);
    let names: Vec<&str> = f.tensors.iter().map(|t| t.name.as_str()).collect();
    let first_exps = names.iter().position(|n| n.contains("_exps")).unwrap();
    assert!(names[first_exps..].iter().all(|n| n.contains("_exps")));
    assert_eq!(names.len() - first_exps, 6);
    assert_eq!(names[first_exps], "blk.1.ffn_down_exps.weight");
    let (ne, got) = tensor_f32(&f, "blk.2.ffn_gate_exps.weight");
    assert_eq!(ne, vec![256, 128, 8]);
    let per = (ne[0] * ne[1]) as usize;
    for e in 0..8 {
        let (shape, want, _) = int4_dequant(
            dir.path(),
            &format!("model.layers.2.mlp.experts.{e}.gate_proj.weight"),
        );
        assert_eq!(shape, vec![128, 256]);
        let g = &got[e * per..(e + 1) * per];
        assert!(
            g.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
            "expert {e}"
        );
    }
    // bf16: the f32 value rounded once
    let (_t2, out2) = out_path("k16.gguf");
    convert(dir.path(), &out2, "bf16", &[]);
    let (_, got16) = tensor_f32(&read(&out2), "blk.1.ffn_up_exps.weight");
    let (_, want, _) = int4_dequant(dir.path(), "model.layers.1.mlp.experts.0.up_proj.weight");
    for (a, b) in got16.iter().zip(&want) {
        assert_eq!(a.to_bits(), float::round_to_bf16(*b).to_bits());
    }
}

#[test]
fn int4_to_q4_0_is_a_lossless_repack() {
    let dir = kimi(SynthDtype::Int4);
    let (_t, out) = out_path("k.gguf");
    let o = bin()
        .arg("convert")
        .arg(dir.path())
        .arg("-o")
        .arg(&out)
        .args(["--outtype", "q8_0", "--tensor-type", "ffn_.*_exps=q4_0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("INT4 group scales are exact in f16"), "{err}");
    let f = read(&out);
    let i = f
        .tensors
        .iter()
        .position(|t| t.name == "blk.1.ffn_down_exps.weight")
        .unwrap();
    assert_eq!(f.tensors[i].ty, GgmlType::Q4_0);
    let bytes = f.read_tensor_bytes(i).unwrap();
    let (_, got) = tensor_f32(&f, "blk.1.ffn_down_exps.weight");
    let per = 128 * 256;
    for e in [0usize, 7] {
        let base = format!("model.layers.1.mlp.experts.{e}.down_proj.weight");
        let (shape, want, codes) = int4_dequant(dir.path(), &base);
        assert_eq!(shape, vec![256, 128]);
        let g = &got[e * per..(e + 1) * per];
        assert!(g.iter().zip(&want).all(|(a, b)| a == b), "expert {e}");
        // the first block: d = the group scale in f16, nibbles = the stored codes
        let blk = &bytes[e * per / 32 * 18..e * per / 32 * 18 + 18];
        let (_, sc) = raw(dir.path(), &format!("{base}_scale"));
        let s = float::bf16_bits_to_f32(u16::from_le_bytes([sc[0], sc[1]]));
        assert_eq!(
            u16::from_le_bytes([blk[0], blk[1]]),
            float::f32_to_f16_bits(s)
        );
        for j in 0..16 {
            assert_eq!(blk[2 + j], codes[j] | (codes[j + 16] << 4));
        }
    }
    // other tensors keep the requested type
    let ty = |n: &str| f.tensors.iter().find(|t| t.name == n).unwrap().ty;
    assert_eq!(ty("blk.1.ffn_down_shexp.weight"), GgmlType::Q8_0);
}

#[test]
fn q4_0_outtype_is_a_llama_quantize_preset() {
    let dir = kimi(SynthDtype::Bf16);
    let (_t, out) = out_path("k.gguf");
    convert(dir.path(), &out, "q4_0", &[]);
    let f = read(&out);
    assert_eq!(kv(&f, "general.file_type"), &Value::U32(2));
    let ty = |n: &str| f.tensors.iter().find(|t| t.name == n).unwrap().ty;
    assert_eq!(ty("blk.1.ffn_up_exps.weight"), GgmlType::Q4_0);
    assert_eq!(ty("output.weight"), GgmlType::Q6_K); // llama-quantize's output rule
    assert_eq!(ty("blk.1.ffn_norm.weight"), GgmlType::F32);
    // values are Q4_0 of the bf16 weights (the reference quantizes the BF16 file)
    let (_, got) = tensor_f32(&f, "blk.0.ffn_gate.weight");
    let (_, src) = source_f32(dir.path(), "model.layers.0.mlp.gate_proj.weight");
    let mut q = vec![0u8; src.len() / 32 * 18];
    ds2gguf::quant::quantize_row(GgmlType::Q4_0, &src, &mut q);
    let mut want = vec![0f32; src.len()];
    ds2gguf::quant::dequantize_row(GgmlType::Q4_0, &q, &mut want);
    assert_eq!(got, want);
}

#[test]
fn moonlight_converts_without_q_lora() {
    let mut s = SynthSpec::default();
    SynthFamily::Moonlight.adjust(&mut s);
    s.hidden = 128;
    s.moe_ff = 64;
    s.ff = 128;
    let dir = synth(&s);
    let (_t, out) = out_path("m.gguf");
    let o = convert(dir.path(), &out, "bf16", &[]);
    let f = read(&out);
    assert_eq!(kv(&f, "deepseek2.block_count"), &Value::U32(27));
    assert!(f.get("deepseek2.attention.q_lora_rank").is_none());
    assert!(f.get("deepseek2.rope.scaling.type").is_none());
    assert!(f.tensors.iter().any(|t| t.name == "blk.5.attn_q.weight"));
    assert_eq!(
        kv(&f, "tokenizer.ggml.pre"),
        &Value::String("kimi-k2".into())
    );
    assert!(String::from_utf8_lossy(&o.stderr).is_empty());
}

fn write_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let p = dir.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    edit(v.as_object_mut().unwrap());
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn plan_err(dir: &Path) -> String {
    let o = bin().arg("plan").arg(dir).output().unwrap();
    assert!(!o.status.success());
    String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout)
}

#[test]
fn unsupported_int4_configs_and_missing_tokenizers_are_clear_errors() {
    let dir = kimi(SynthDtype::Int4);
    let q = |d: &Path| {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
        v["quantization_config"].clone()
    };
    let orig = q(dir.path());
    write_config(dir.path(), |o| {
        let mut qc = orig.clone();
        let g = qc["config_groups"]["group_0"].clone();
        qc["config_groups"]["group_1"] = g;
        o.insert("quantization_config".into(), qc);
    });
    assert!(plan_err(dir.path()).contains("2 config groups"));
    write_config(dir.path(), |o| {
        let mut qc = orig.clone();
        qc["config_groups"]["group_0"]["weights"]["num_bits"] = 8.into();
        o.insert("quantization_config".into(), qc);
    });
    assert!(plan_err(dir.path()).contains("num_bits 8"));
    write_config(dir.path(), |o| {
        o.remove("quantization_config");
    });
    assert!(plan_err(dir.path()).contains("does not declare quant_method 'compressed-tensors'"));
    write_config(dir.path(), |o| {
        o.insert("quantization_config".into(), orig.clone());
    });
    std::fs::remove_file(dir.path().join("tiktoken.model")).unwrap();
    let e = plan_err(dir.path());
    assert!(
        e.contains("tokenizer.json") && e.contains("tiktoken.model"),
        "{e}"
    );
}

#[test]
fn int4_zero_points_are_unpacked_along_the_rows() {
    let mut spec = SynthSpec {
        dtype: SynthDtype::Int4,
        shards: 1,
        ..SynthSpec::default()
    };
    SynthFamily::KimiK2.adjust(&mut spec);
    let dir = synth(&spec);
    let base = "model.layers.1.mlp.experts.0.down_proj.weight";
    // [256, 128] weight: zero points [256 / 8, 128 / 32], 8 rows' 4-bit values per word
    let zwords: Vec<u32> = (0..32 * 4u32)
        .map(|i| i.wrapping_mul(0x9E37_79B9).rotate_left(7))
        .collect();
    let zp_name = format!("{base}_zero_point");
    rewrite_shard(&dir.path().join("model.safetensors"), |t| {
        if t.0 == format!("{base}_packed") {
            let z: Vec<u8> = zwords.iter().flat_map(|w| w.to_le_bytes()).collect();
            vec![t, (zp_name.clone(), "I32".into(), vec![32, 4], z)]
        } else {
            vec![t]
        }
    });
    let (_t, out) = out_path("z.gguf");
    convert(dir.path(), &out, "f32", &[]);
    let (_, got) = tensor_f32(&read(&out), "blk.1.ffn_down_exps.weight");
    let (_, sym, codes) = int4_dequant(dir.path(), base);
    let (_, scales) = raw(dir.path(), &format!("{base}_scale"));
    let mut differs = 0;
    for r in 0..256usize {
        for c in 0..128usize {
            let z = (zwords[(r / 8) * 4 + c / 32] >> (4 * (r % 8))) & 15;
            let si = (r * 4 + c / 32) * 2;
            let s = float::bf16_bits_to_f32(u16::from_le_bytes([scales[si], scales[si + 1]]));
            let want = (codes[r * 128 + c] as i32 - z as i32) as f32 * s;
            assert_eq!(got[r * 128 + c].to_bits(), want.to_bits(), "({r}, {c})");
            differs += (want != sym[r * 128 + c]) as usize;
        }
    }
    assert!(differs > 1000, "{differs}");
    // asymmetric groups are not Q4_0 blocks: that tensor is re-quantized, the others repacked
    let o = bin()
        .arg("plan")
        .arg(dir.path())
        .args(["--outtype", "q8_0", "--tensor-type", "ffn_.*_exps=q4_0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("repacked    5 tensor(s)"), "{text}");
    assert!(!text.contains("  blk.1.ffn_down_exps.weight\n"), "{text}");
    // a zero-point tensor of the wrong shape is refused, naming it
    rewrite_shard(&dir.path().join("model.safetensors"), |mut t| {
        if t.0 == zp_name {
            t.2 = vec![4, 32];
        }
        vec![t]
    });
    let e = plan_err(dir.path());
    assert!(e.contains(&zp_name) && e.contains("[32, 4]"), "{e}");
}
