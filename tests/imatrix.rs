//! `--imatrix`: both file formats, per-expert weights, the keys llama-quantize writes, the
//! plan's coverage report and the errors, on checkpoints and imatrix files written here.

mod common;

use common::*;
use ds2gguf::gguf::{GgmlType, Value};
use ds2gguf::imatrix::{Imatrix, RawEntry, encode_gguf, encode_legacy};
use ds2gguf::synth::SynthSpec;
use std::path::Path;

const SKIPPED: &str = "blk.1.attn_q_a.weight";
const EMPTY_EXPERT: u64 = 3;

/// Importance values for tensor `t` of `ne`: deterministic, positive, varied; expert
/// `EMPTY_EXPERT` of stacked tensors has none (weights 1).
fn values(t: usize, ne: &[u64]) -> (Vec<f32>, Vec<f32>) {
    let ne0 = ne[0] as usize;
    let nexp = if ne.len() >= 3 { ne[2] as usize } else { 1 };
    let mut v = Vec::with_capacity(ne0 * nexp);
    let mut counts = Vec::new();
    for e in 0..nexp {
        let empty = nexp > 1 && e as u64 == EMPTY_EXPERT;
        counts.push(if empty { 0.0 } else { 4.0 });
        for i in 0..ne0 {
            v.push(if empty {
                1.0
            } else {
                ((i * 7 + t * 3 + e * 5) % 23) as f32 * 0.25 + 0.01
            });
        }
    }
    (v, counts)
}

/// Entries for every matrix of `bf16` except [`SKIPPED`], in both formats.
fn imatrix_files(bf16: &Path, dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let f = read(bf16);
    let mut raw = Vec::new();
    let mut legacy = Vec::new();
    for (t, info) in f.tensors.iter().enumerate() {
        if info.ne.len() < 2 || info.name == SKIPPED {
            continue;
        }
        let (v, counts) = values(t, &info.ne);
        raw.push(RawEntry {
            name: info.name.clone(),
            sums: v.iter().map(|x| x * 4.0).collect(),
            counts,
        });
        legacy.push((info.name.clone(), 1, v));
    }
    let g = dir.join("m.imatrix.gguf");
    std::fs::write(&g, encode_gguf(&raw, &["corpus.txt"], 12, 512)).unwrap();
    let l = dir.join("m.imatrix.dat");
    let lref: Vec<(&str, i32, Vec<f32>)> = legacy
        .iter()
        .map(|(n, c, v)| (n.as_str(), *c, v.clone()))
        .collect();
    std::fs::write(&l, encode_legacy(&lref, Some((12, "corpus.txt")))).unwrap();
    (g, l)
}

fn tensor_bytes(f: &ds2gguf::gguf::reader::GgufFile, name: &str) -> Vec<u8> {
    let i = f.tensors.iter().position(|t| t.name == name).unwrap();
    f.read_tensor_bytes(i).unwrap()
}

#[test]
fn imatrix_q4_k_m_uses_weighted_kernels_per_expert() {
    let dir = synth(&SynthSpec::default());
    let (t, bf16) = out_path("bf16.gguf");
    convert(dir.path(), &bf16, "bf16", &[]);
    let (gpath, lpath) = imatrix_files(&bf16, t.path());
    let gname = gpath.to_string_lossy().into_owned();

    let a = t.path().join("a.gguf");
    convert(dir.path(), &a, "q4_k_m", &["--imatrix", &gname]);
    let plain = t.path().join("plain.gguf");
    convert(dir.path(), &plain, "q4_k_m", &[]);
    let fa = read(&a);
    let fp = read(&plain);
    let fb = read(&bf16);
    assert_eq!(
        kv(&fa, "quantize.imatrix.file"),
        &Value::String(gname.clone())
    );
    assert_eq!(
        kv(&fa, "quantize.imatrix.dataset"),
        &Value::String("corpus.txt".into())
    );
    let n_entries = read(&bf16)
        .tensors
        .iter()
        .filter(|t| t.ne.len() >= 2 && t.name != SKIPPED)
        .count() as u32;
    assert_eq!(
        kv(&fa, "quantize.imatrix.entries_count"),
        &Value::U32(n_entries)
    );
    assert_eq!(kv(&fa, "quantize.imatrix.chunks_count"), &Value::U32(12));
    // the imatrix keys are the last ones, in llama-quantize's order
    let tail: Vec<&str> = fa.kvs[fa.kvs.len() - 4..]
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        tail,
        [
            "quantize.imatrix.file",
            "quantize.imatrix.dataset",
            "quantize.imatrix.entries_count",
            "quantize.imatrix.chunks_count"
        ]
    );
    assert!(fp.get("quantize.imatrix.file").is_none());

    let m = Imatrix::load(&gpath, &gname).unwrap();
    let mut weighted = 0;
    for info in &fa.tensors {
        let ty = info.ty;
        if !ty.is_quantized() {
            continue;
        }
        // recompute from the bf16 values with the entry's per-expert weights
        let (_, x) = tensor_f32(&fb, &info.name);
        let ne0 = info.ne[0] as usize;
        let rb = ty.row_bytes(info.ne[0]).unwrap() as usize;
        let mut want = vec![0u8; rb * (x.len() / ne0)];
        for (r, (xr, o)) in x
            .chunks_exact(ne0)
            .zip(want.chunks_exact_mut(rb))
            .enumerate()
        {
            let qw = m.row_weights(&info.name, info.ne[0], info.ne[1], r as u64);
            ds2gguf::quant::quantize_row_weighted(ty, xr, qw, o);
        }
        let got = tensor_bytes(&fa, &info.name);
        assert!(got == want, "{}", info.name);
        let plain_bytes = tensor_bytes(&fp, &info.name);
        if info.name == SKIPPED || ty == GgmlType::Q8_0 {
            assert!(got == plain_bytes, "{} has no weights", info.name);
        } else if m.entries.contains_key(&info.name) {
            assert!(got != plain_bytes, "{} ignored its weights", info.name);
            weighted += 1;
        }
    }
    assert!(weighted > 10, "{weighted}");
    // stacked experts: expert EMPTY_EXPERT had no data (weights 1), the others did
    assert!(m.entries["blk.1.ffn_down_exps.weight"].empty_slices == 1);

    // the legacy file with the same (normalised) values gives the same tensors
    let b = t.path().join("b.gguf");
    convert(
        dir.path(),
        &b,
        "q4_k_m",
        &["--imatrix", &lpath.to_string_lossy()],
    );
    let fl = read(&b);
    for info in &fa.tensors {
        assert!(
            tensor_bytes(&fa, &info.name) == tensor_bytes(&fl, &info.name),
            "{}",
            info.name
        );
    }
    assert_eq!(kv(&fl, "quantize.imatrix.chunks_count"), &Value::U32(12));
}

#[test]
fn plan_reports_coverage_and_errors() {
    let dir = synth(&SynthSpec::default());
    let (t, bf16) = out_path("bf16.gguf");
    convert(dir.path(), &bf16, "bf16", &[]);
    let (gpath, _) = imatrix_files(&bf16, t.path());
    let o = bin()
        .arg("plan")
        .arg(dir.path())
        .args(["--outtype", "q2_k", "--json", "--imatrix"])
        .arg(&gpath)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let im = &v["imatrix"];
    assert_eq!(im["format"], "gguf");
    assert_eq!(im["chunks"], 12);
    // stacked expert tensors of the two MoE layers (+ MTP layer has no entries: it is in the
    // bf16 file too, so it has them): gate, up, down per MoE layer
    assert!(im["partial"].as_u64().unwrap() >= 6, "{im}");
    assert!(im["full"].as_u64().unwrap() > 10, "{im}");
    assert_eq!(im["none"], 1, "{im}");
    assert_eq!(im["tensors_without_data"][0], SKIPPED);
    let text = bin()
        .arg("plan")
        .arg(dir.path())
        .args(["--outtype", "q2_k", "--imatrix"])
        .arg(&gpath)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("imatrix "), "{text}");
    assert!(text.contains("1 without"), "{text}");

    // --imatrix with a converter type
    let o = bin()
        .arg("plan")
        .arg(dir.path())
        .args(["--outtype", "q8_0", "--imatrix"])
        .arg(&gpath)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--imatrix applies to"));

    // an entry of the wrong size stops, naming file, tensor, expected and found
    let bad = t.path().join("bad.imatrix.gguf");
    std::fs::write(
        &bad,
        encode_gguf(
            &[RawEntry {
                name: "blk.0.ffn_up.weight".into(),
                sums: vec![1.0; 7],
                counts: vec![1.0],
            }],
            &["c"],
            1,
            1,
        ),
    )
    .unwrap();
    let o = bin()
        .arg("plan")
        .arg(dir.path())
        .args(["--outtype", "q4_k_m", "--imatrix"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("bad.imatrix.gguf")
            && e.contains("blk.0.ffn_up.weight")
            && e.contains("imatrix size 7 is different from tensor size 256"),
        "{e}"
    );
    // a file that is neither format
    let junk = t.path().join("junk.dat");
    std::fs::write(&junk, b"\xff\xff\xff\xffabc").unwrap();
    let o = bin()
        .arg("plan")
        .arg(dir.path())
        .args(["--outtype", "q4_k_m", "--imatrix"])
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("junk.dat") && e.contains("no data"), "{e}");
    // a missing file
    let o = bin()
        .arg("plan")
        .arg(dir.path())
        .args(["--outtype", "q4_k_m", "--imatrix", "/nonexistent/x.gguf"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/x.gguf"));
}
