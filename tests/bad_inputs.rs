//! Every bad input ends with exit status 1, a message naming the file (and tensor) with what
//! was expected and found, no panic, and nothing left at the output path.

mod common;
use common::*;
use ds2gguf::synth::{SynthDtype, SynthSpec};
use serde_json::{Value as Json, json};
use std::path::Path;

/// Runs convert expecting failure; returns stderr. Checks exit 1, no panic, no output files.
fn fails(dir: &Path, extra: &[&str]) -> String {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.gguf");
    let o = bin()
        .arg("convert")
        .arg(dir)
        .arg("-o")
        .arg(&out)
        .args(["--quiet"])
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "expected exit 1, stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        ls(out_dir.path()).is_empty(),
        "left files behind: {:?}",
        ls(out_dir.path())
    );
    err
}

fn edit_json(path: &Path, f: impl FnOnce(&mut Json)) {
    let mut v: Json = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn tiny() -> tempfile::TempDir {
    synth(&SynthSpec::default())
}

/// Rewrites one shard's header with `f`, keeping the data bytes.
fn edit_header(path: &Path, f: impl FnOnce(&mut serde_json::Map<String, Json>)) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut h: Json = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    f(h.as_object_mut().unwrap());
    let hb = serde_json::to_vec(&h).unwrap();
    let mut out = (hb.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&hb);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(path, out).unwrap();
}

fn shard_with(dir: &Path, tensor: &str) -> std::path::PathBuf {
    let idx: Json =
        serde_json::from_slice(&std::fs::read(dir.join("model.safetensors.index.json")).unwrap())
            .unwrap();
    dir.join(idx["weight_map"][tensor].as_str().unwrap())
}

#[test]
fn missing_config() {
    let d = tiny();
    std::fs::remove_file(d.path().join("config.json")).unwrap();
    let e = fails(d.path(), &[]);
    assert!(
        e.contains("config.json") && e.contains("No such file"),
        "{e}"
    );
}

#[test]
fn missing_tokenizer() {
    let d = tiny();
    std::fs::remove_file(d.path().join("tokenizer.json")).unwrap();
    let e = fails(d.path(), &[]);
    assert!(e.contains("tokenizer"), "{e}");
}

#[test]
fn malformed_json() {
    let d = tiny();
    std::fs::write(d.path().join("config.json"), "{\"architectures\": [").unwrap();
    let e = fails(d.path(), &[]);
    assert!(e.contains("config.json") && e.contains("JSON"), "{e}");
    let d = tiny();
    std::fs::write(d.path().join("model.safetensors.index.json"), "nope").unwrap();
    let e = fails(d.path(), &[]);
    assert!(e.contains("model.safetensors.index.json"), "{e}");
}

#[test]
fn unknown_architecture() {
    let d = tiny();
    edit_json(&d.path().join("config.json"), |v| {
        v["architectures"] = json!(["MixtralForCausalLM"])
    });
    let e = fails(d.path(), &[]);
    assert!(
        e.contains("MixtralForCausalLM") && e.contains("DeepseekV3ForCausalLM"),
        "{e}"
    );
}

#[test]
fn shard_missing() {
    let d = tiny();
    std::fs::remove_file(d.path().join("model-00002-of-00003.safetensors")).unwrap();
    let e = fails(d.path(), &[]);
    assert!(
        e.contains("model-00002-of-00003.safetensors") && e.contains("missing"),
        "{e}"
    );
}

#[test]
fn shard_truncated() {
    let d = tiny();
    let p = d.path().join("model-00001-of-00003.safetensors");
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    let e = fails(d.path(), &[]);
    assert!(
        e.contains("model-00001-of-00003.safetensors") && e.contains("truncated"),
        "{e}"
    );
}

#[test]
fn header_length_beyond_file() {
    let d = tiny();
    let p = d.path().join("model-00003-of-00003.safetensors");
    let mut b = std::fs::read(&p).unwrap();
    let n = b.len() as u64;
    b[..8].copy_from_slice(&n.to_le_bytes());
    std::fs::write(&p, b).unwrap();
    let e = fails(d.path(), &[]);
    assert!(
        e.contains("model-00003-of-00003.safetensors") && e.contains("past the end"),
        "{e}"
    );
}

#[test]
fn header_not_json() {
    let d = tiny();
    let p = d.path().join("model-00003-of-00003.safetensors");
    let mut b = std::fs::read(&p).unwrap();
    b[8] = b'#';
    std::fs::write(&p, b).unwrap();
    let e = fails(d.path(), &[]);
    assert!(
        e.contains("model-00003-of-00003.safetensors") && e.contains("not valid JSON"),
        "{e}"
    );
}

#[test]
fn overlapping_and_holes_and_overrun() {
    let name = "model.layers.0.mlp.up_proj.weight";
    for (case, want) in [
        ("overlap", "overlaps"),
        ("hole", "hole"),
        ("overrun", "truncated"),
    ] {
        let d = tiny();
        let p = shard_with(d.path(), name);
        edit_header(&p, |h| {
            let offs = h[name]["data_offsets"].as_array().unwrap().clone();
            let (b, e) = (offs[0].as_u64().unwrap(), offs[1].as_u64().unwrap());
            match case {
                "overlap" => {
                    // another tensor claims this one's bytes
                    let other = h
                        .keys()
                        .find(|k| {
                            *k != name
                                && *k != "__metadata__"
                                && h[*k]["data_offsets"][0] == json!(e)
                        })
                        .cloned();
                    if let Some(o) = other {
                        let oe = h[&o]["data_offsets"][1].as_u64().unwrap();
                        let len = oe - e;
                        h.get_mut(&o).unwrap()["data_offsets"] = json!([e - 2, e - 2 + len]);
                    } else {
                        h.get_mut(name).unwrap()["data_offsets"] =
                            json!([b.saturating_sub(2), e - 2]);
                    }
                }
                "hole" => {
                    // shrink this tensor's shape so a gap opens after it
                    let shape = h[name]["shape"].as_array().unwrap().clone();
                    let rows = shape[0].as_u64().unwrap();
                    let cols = shape[1].as_u64().unwrap();
                    let t = h.get_mut(name).unwrap();
                    t["shape"] = json!([rows - 1, cols]);
                    t["data_offsets"] = json!([b, e - cols * 2]);
                }
                _ => {
                    // the last tensor of the shard grows one row past the end of the file
                    let last = h
                        .keys()
                        .filter(|k| *k != "__metadata__")
                        .max_by_key(|k| h[*k]["data_offsets"][1].as_u64().unwrap())
                        .cloned()
                        .unwrap();
                    let t = h.get_mut(&last).unwrap();
                    let shape: Vec<u64> = t["shape"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_u64().unwrap())
                        .collect();
                    let row: u64 = shape[1..].iter().product::<u64>() * 2;
                    let (b, e) = (
                        t["data_offsets"][0].as_u64().unwrap(),
                        t["data_offsets"][1].as_u64().unwrap(),
                    );
                    let mut ns = shape.clone();
                    ns[0] += 1;
                    t["shape"] = json!(ns);
                    t["data_offsets"] = json!([b, e + row]);
                }
            }
        });
        let e = fails(d.path(), &[]);
        assert!(e.contains(".safetensors"), "{case}: {e}");
        assert!(e.contains(want), "{case}: {e}");
    }
}

#[test]
fn tensor_size_mismatch() {
    let d = tiny();
    let name = "model.layers.0.mlp.up_proj.weight";
    let p = shard_with(d.path(), name);
    edit_header(&p, |h| h.get_mut(name).unwrap()["dtype"] = json!("F32"));
    let e = fails(d.path(), &[]);
    assert!(
        e.contains(name) && e.contains("needs") && e.contains("bytes"),
        "{e}"
    );
}

#[test]
fn tensor_missing() {
    let d = tiny();
    let name = "model.layers.1.mlp.experts.5.gate_proj.weight";
    let p = shard_with(d.path(), name);
    edit_header(&p, |h| {
        // turn the tensor into an unrelated, ignorable name is not possible: rename to a
        // scale-like name so the slot stays valid but the expert is gone
        let v = h.remove(name).unwrap();
        h.insert(
            "model.layers.1.mlp.experts.5.gate_proj.input_scale".into(),
            v,
        );
    });
    edit_json(&d.path().join("model.safetensors.index.json"), |v| {
        let f = v["weight_map"][name].take();
        v["weight_map"].as_object_mut().unwrap().remove(name);
        v["weight_map"]["model.layers.1.mlp.experts.5.gate_proj.input_scale"] = f;
    });
    let e = fails(d.path(), &[]);
    assert!(e.contains(name) && e.contains("missing"), "{e}");
}

#[test]
fn tensor_in_two_shards() {
    let d = tiny();
    let name = "model.norm.weight";
    let p = shard_with(d.path(), name);
    let other = [
        "model-00001-of-00003.safetensors",
        "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors",
    ]
    .iter()
    .map(|f| d.path().join(f))
    .find(|f| *f != p)
    .unwrap();
    // rename some 1-D tensor of the same size in the other shard to model.norm.weight
    edit_header(&other, |h| {
        let k = h
            .keys()
            .find(|k| {
                k.ends_with("input_layernorm.weight")
                    || k.ends_with("post_attention_layernorm.weight")
            })
            .cloned()
            .unwrap();
        let v = h.remove(&k).unwrap();
        h.insert(name.into(), v);
    });
    let e = fails(d.path(), &[]);
    assert!(e.contains(name), "{e}");
}

#[test]
fn unsupported_dtype() {
    let d = tiny();
    let name = "model.layers.0.mlp.up_proj.weight";
    let p = shard_with(d.path(), name);
    edit_header(&p, |h| h.get_mut(name).unwrap()["dtype"] = json!("I16"));
    let e = fails(d.path(), &[]);
    assert!(e.contains(name) && e.contains("I16"), "{e}");
}

#[test]
fn shape_contradicts_config() {
    let d = tiny();
    edit_json(&d.path().join("config.json"), |v| {
        v["intermediate_size"] = json!(640)
    });
    let e = fails(d.path(), &[]);
    assert!(
        e.contains("contradicts config.json") && e.contains("640") && e.contains("_proj.weight"),
        "{e}"
    );
}

#[test]
fn fp8_scale_problems() {
    let d = synth(&SynthSpec {
        dtype: SynthDtype::Fp8,
        ..SynthSpec::default()
    });
    let name = "model.layers.0.mlp.up_proj.weight_scale_inv";
    let p = shard_with(d.path(), name);
    edit_header(&p, |h| {
        let v = h.remove(name).unwrap();
        h.insert("model.layers.0.mlp.up_proj.weight_scale_xx".into(), v);
    });
    edit_json(&d.path().join("model.safetensors.index.json"), |v| {
        let f = v["weight_map"][name].take();
        v["weight_map"].as_object_mut().unwrap().remove(name);
        v["weight_map"]["model.layers.0.mlp.up_proj.weight_scale_xx"] = f;
    });
    let e = fails(d.path(), &[]);
    // the renamed scale is an unknown tensor, or the weight lacks its scale: either names it
    assert!(e.contains("model.layers.0.mlp.up_proj.weight"), "{e}");

    let d = synth(&SynthSpec {
        dtype: SynthDtype::Fp8,
        hidden: 300,
        ..SynthSpec::default()
    });
    let p = shard_with(d.path(), name);
    edit_header(&p, |h| {
        let t = h.get_mut(name).unwrap();
        t["shape"] = json!([2, 6]); // 512×300 needs [4, 3]; same byte size
    });
    let e = fails(d.path(), &[]);
    assert!(
        e.contains(name) && e.contains("does not match") && e.contains("[4, 3]"),
        "{e}"
    );
}

#[test]
fn index_points_to_wrong_shard() {
    let d = tiny();
    let name = "model.norm.weight";
    let p = shard_with(d.path(), name);
    let wrong = if p.ends_with("model-00001-of-00003.safetensors") {
        "model-00002-of-00003.safetensors"
    } else {
        "model-00001-of-00003.safetensors"
    };
    edit_json(&d.path().join("model.safetensors.index.json"), |v| {
        v["weight_map"][name] = json!(wrong)
    });
    let e = fails(d.path(), &[]);
    assert!(e.contains(name) && e.contains(wrong), "{e}");
}

#[test]
fn output_dir_missing_or_unwritable() {
    let d = tiny();
    let o = bin()
        .arg("convert")
        .arg(d.path())
        .args(["-o", "/nonexistent-dir/x.gguf", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("/nonexistent-dir") && e.contains("does not exist"),
        "{e}"
    );
}

#[test]
fn output_is_an_input() {
    let d = tiny();
    let target = d.path().join("model-00001-of-00003.safetensors");
    let before = std::fs::read(&target).unwrap();
    let o = bin()
        .arg("convert")
        .arg(d.path())
        .arg("-o")
        .arg(&target)
        .arg("--quiet")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("one of the input files"), "{e}");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        before,
        "input must be untouched"
    );
}

#[test]
fn disk_full_during_write_leaves_nothing() {
    use std::os::unix::process::CommandExt;
    let d = synth(&SynthSpec {
        hidden: 512,
        ..SynthSpec::default()
    });
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.gguf");
    let mut cmd = bin();
    cmd.arg("convert")
        .arg(d.path())
        .arg("-o")
        .arg(&out)
        .args(["--outtype", "f32", "--quiet"]);
    // SAFETY: setrlimit is async-signal-safe; it only limits the child's file size.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1 << 20,
                rlim_max: 1 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("out.gguf") && e.contains("large"), "{e}");
    assert!(ls(out_dir.path()).is_empty(), "{:?}", ls(out_dir.path()));
}

#[test]
fn sigint_sigterm_and_sighup_leave_nothing_and_exit_128_plus_signal() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let d = slow();
        let out_dir = tempfile::tempdir().unwrap();
        let out = out_dir.path().join("out.gguf");
        let child = bin()
            .arg("convert")
            .arg(d.path())
            .arg("-o")
            .arg(&out)
            .args(["--outtype", "q6_k", "--quiet", "--threads", "1"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // wait until the temporary file exists: the conversion is under way
        let t0 = std::time::Instant::now();
        while !ls(out_dir.path()).iter().any(|n| n.ends_with(".partial"))
            && t0.elapsed().as_secs() < 20
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, sig) };
        let o = child.wait_with_output().unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(128 + sig), "signal {sig}: {e}");
        assert!(e.contains("interrupted"), "{e}");
        assert!(ls(out_dir.path()).is_empty(), "{:?}", ls(out_dir.path()));
    }
}

#[test]
fn malformed_tiktoken_model_is_refused_clearly() {
    let d = tiny();
    std::fs::remove_file(d.path().join("tokenizer.json")).unwrap();
    std::fs::write(d.path().join("tiktoken.model"), "IQ== 0\nnot-base64! 1\n").unwrap();
    let e = fails(d.path(), &[]);
    assert!(e.contains("tiktoken.model") && e.contains("line 2"), "{e}");
}

#[test]
fn plan_fails_with_same_message() {
    let d = tiny();
    std::fs::remove_file(d.path().join("model-00002-of-00003.safetensors")).unwrap();
    let o = bin().arg("plan").arg(d.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("model-00002-of-00003.safetensors"));
}

#[test]
fn plan_reports_every_tensor_problem_at_once() {
    let d = tiny();
    let (a, b) = (
        "model.layers.0.mlp.up_proj.weight",
        "model.layers.2.self_attn.o_proj.weight",
    );
    for name in [a, b] {
        let p = shard_with(d.path(), name);
        edit_header(&p, |h| h.get_mut(name).unwrap()["dtype"] = json!("I16"));
    }
    let o = bin().arg("plan").arg(d.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("2 problems") && e.contains(a) && e.contains(b),
        "{e}"
    );
}
