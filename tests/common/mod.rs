//! Shared helpers for the integration tests: synthetic checkpoints, running the binary,
//! reading outputs back.
#![allow(dead_code)]

use ds2gguf::checkpoint::safetensors::Checkpoint;
use ds2gguf::gguf::Value;
use ds2gguf::gguf::reader::GgufFile;
use ds2gguf::synth::{SynthSpec, write_checkpoint};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The built `ds2gguf` binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ds2gguf"))
}

/// Writes a synthetic checkpoint into a fresh temp dir.
pub fn synth(spec: &SynthSpec) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_checkpoint(d.path(), spec).unwrap();
    d
}

/// Runs `ds2gguf convert dir -o out --outtype t [extra]`; panics with stderr on failure.
pub fn convert(dir: &Path, out: &Path, outtype: &str, extra: &[&str]) -> Output {
    let o = bin()
        .arg("convert")
        .arg(dir)
        .arg("-o")
        .arg(out)
        .args(["--outtype", outtype, "--quiet"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "convert failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Opens a GGUF output.
pub fn read(path: &Path) -> GgufFile {
    GgufFile::open(path).unwrap_or_else(|e| panic!("{e}"))
}

/// A KV value by key.
pub fn kv<'a>(f: &'a GgufFile, key: &str) -> &'a Value {
    f.get(key).unwrap_or_else(|| panic!("missing key {key}"))
}

/// Decodes a tensor of the output to f32.
pub fn tensor_f32(f: &GgufFile, name: &str) -> (Vec<u64>, Vec<f32>) {
    let i = f
        .tensors
        .iter()
        .position(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tensor {name}"));
    let t = &f.tensors[i];
    let bytes = f.read_tensor_bytes(i).unwrap();
    let ne0 = t.ne[0] as usize;
    let n = t.n_elements() as usize;
    let mut out = vec![0f32; n];
    let rb = t.ty.row_bytes(t.ne[0]).unwrap() as usize;
    for (o, b) in out.chunks_exact_mut(ne0).zip(bytes.chunks_exact(rb)) {
        ds2gguf::quant::dequantize_row(t.ty, b, o);
    }
    (t.ne.clone(), out)
}

/// Decodes a checkpoint tensor to f32 (applying an FP8 scale if it has one), row-major.
pub fn source_f32(dir: &Path, name: &str) -> (Vec<u64>, Vec<f32>) {
    let ck = Checkpoint::open(dir).unwrap();
    let t = ck
        .get(name)
        .unwrap_or_else(|| panic!("no source tensor {name}"));
    let mut bytes = vec![0u8; t.len as usize];
    ck.shard_of(t).read_at(&mut bytes, t.start).unwrap();
    use ds2gguf::checkpoint::safetensors::Dtype;
    use ds2gguf::quant::float;
    let vals: Vec<f32> = match t.dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| float::bf16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| float::f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        Dtype::F8E4M3 => {
            let (sshape, s) = source_f32(dir, &format!("{name}_scale_inv"));
            let cols = t.shape[1] as usize;
            bytes
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let (r, c) = (i / cols, i % cols);
                    float::E4M3FN_LUT[*b as usize] * s[(r / 128) * sshape[1] as usize + c / 128]
                })
                .collect()
        }
        ref d => panic!("dtype {d:?}"),
    };
    (t.shape.clone(), vals)
}

/// A checkpoint big enough that converting it to q6_k on one thread takes a few seconds (for
/// tests that act while a conversion runs).
pub fn slow() -> tempfile::TempDir {
    synth(&SynthSpec {
        hidden: 1024,
        ff: 4096,
        moe_ff: 512,
        experts: 16,
        layers: 4,
        ..SynthSpec::default()
    })
}

/// A temp dir plus a path inside it.
pub fn out_path(name: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(name);
    (d, p)
}

/// Lists the file names in a directory.
pub fn ls(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// One tensor of a shard being rewritten: name, dtype, shape, data bytes.
pub type RawTensor = (String, String, Vec<u64>, Vec<u8>);

/// Rewrites the shard at `path`: `f` receives every tensor and returns what to store instead
/// (nothing, itself, or several). The index beside it, if any, is updated to match.
pub fn rewrite_shard(path: &Path, mut f: impl FnMut(RawTensor) -> Vec<RawTensor>) {
    use serde_json::{Value as Json, json};
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let h: Json = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut old_names = Vec::new();
    let mut out: Vec<RawTensor> = Vec::new();
    for (name, v) in h.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        old_names.push(name.clone());
        let b = v["data_offsets"][0].as_u64().unwrap() as usize;
        let e = v["data_offsets"][1].as_u64().unwrap() as usize;
        let shape = v["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        out.extend(f((
            name.clone(),
            v["dtype"].as_str().unwrap().to_string(),
            shape,
            data[b..e].to_vec(),
        )));
    }
    let mut hdr = serde_json::Map::new();
    let mut body = Vec::new();
    for (name, dtype, shape, d) in &out {
        hdr.insert(name.clone(), json!({"dtype": dtype, "shape": shape, "data_offsets": [body.len(), body.len() + d.len()]}));
        body.extend_from_slice(d);
    }
    let hb = serde_json::to_vec(&Json::Object(hdr)).unwrap();
    let mut file = (hb.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&hb);
    file.extend_from_slice(&body);
    std::fs::write(path, file).unwrap();
    let idx = path.parent().unwrap().join("model.safetensors.index.json");
    if idx.exists() {
        let mut v: Json = serde_json::from_slice(&std::fs::read(&idx).unwrap()).unwrap();
        let fname = path.file_name().unwrap().to_string_lossy().into_owned();
        let wm = v["weight_map"].as_object_mut().unwrap();
        for n in old_names {
            wm.remove(&n);
        }
        for (name, ..) in &out {
            wm.insert(name.clone(), Json::String(fname.clone()));
        }
        std::fs::write(&idx, serde_json::to_vec(&v).unwrap()).unwrap();
    }
}
