//! Tests of the llama-quantize type choices, against tables from the real tool.

#![allow(clippy::nonminimal_bool, clippy::manual_range_contains)]

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
            1, 0, 1, 32, 7, 2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 24, 31, 19, 20, 28, 29, 23, 22,
            26, 27, 25, 30
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
    let e = try_assign_types(OutType::Q4_K_M, &m, &t, &[], &QuantParams::default()).unwrap_err();
    assert!(e.contains("Bad layer 4"), "{e}");
    let t = [QuantTensor {
        name: "mtp.ffn_up.weight",
        ne: &ne,
        src_type: G::BF16,
    }];
    assert!(try_assign_types(OutType::Q4_K_M, &m, &t, &[], &QuantParams::default()).is_err());
    // Dense models use the running counter instead of the name.
    let dense = QuantModel { n_expert: 0, ..m };
    assert!(try_assign_types(OutType::Q4_K_M, &dense, &t, &[], &QuantParams::default()).is_ok());
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
    (
        "iq_v3",
        include_str!("../../../tests/data/preset/iq_v3.txt"),
    ),
    (
        "iq_mla20",
        include_str!("../../../tests/data/preset/iq_mla20.txt"),
    ),
    (
        "iq_legacy20",
        include_str!("../../../tests/data/preset/iq_legacy20.txt"),
    ),
    (
        "iq_e8tied12",
        include_str!("../../../tests/data/preset/iq_e8tied12.txt"),
    ),
    (
        "iq_lite27",
        include_str!("../../../tests/data/preset/iq_lite27.txt"),
    ),
    (
        "iq_dense10",
        include_str!("../../../tests/data/preset/iq_dense10.txt"),
    ),
    ("v3", include_str!("../../../tests/data/preset/v3.txt")),
    (
        "mla20",
        include_str!("../../../tests/data/preset/mla20.txt"),
    ),
    (
        "legacy20",
        include_str!("../../../tests/data/preset/legacy20.txt"),
    ),
    (
        "e8tied12",
        include_str!("../../../tests/data/preset/e8tied12.txt"),
    ),
    (
        "lite27",
        include_str!("../../../tests/data/preset/lite27.txt"),
    ),
    (
        "dense10",
        include_str!("../../../tests/data/preset/dense10.txt"),
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
