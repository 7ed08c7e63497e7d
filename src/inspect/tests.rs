//! Tests of the parent module.

use super::*;
use crate::gguf::GgmlType;
use crate::gguf::writer::{TensorInfo, assign_offsets, header_bytes};

fn write_gguf(path: &Path, kvs: &[(String, Value)], tensors: &[TensorInfo]) {
    let mut ts = tensors.to_vec();
    let data = assign_offsets(&mut ts);
    let mut bytes = header_bytes(kvs, &ts);
    bytes.resize(bytes.len() + data as usize, 0);
    fs::write(path, bytes).unwrap();
}

fn t(name: &str, ne: &[u64], ty: GgmlType) -> TensorInfo {
    TensorInfo {
        name: name.into(),
        ne: ne.to_vec(),
        ty,
        offset: 0,
    }
}

fn kv(k: &str, v: Value) -> (String, Value) {
    (k.to_string(), v)
}

fn sample(dir: &Path) -> PathBuf {
    let path = dir.join("model.gguf");
    let kvs = vec![
        kv("general.architecture", Value::String("deepseek2".into())),
        kv("general.name", Value::String("x".repeat(300))),
        kv("deepseek2.block_count", Value::U32(61)),
        kv("deepseek2.rope.freq_base", Value::F32(0.1)),
        kv("deepseek2.bad", Value::F64(f64::NAN)),
        kv("deepseek2.expert_weights_norm", Value::Bool(true)),
        kv(
            "tokenizer.ggml.token_type",
            Value::Array(Array::I32((0..100).collect())),
        ),
        kv(
            "tokenizer.ggml.tokens",
            Value::Array(Array::String(vec!["<s>".into(), "a\"b".into()])),
        ),
        kv(
            "raw.u16",
            Value::Array(Array::Raw {
                elem: ValueType::U16,
                count: 2,
                bytes: vec![1, 0, 0, 1],
            }),
        ),
    ];
    let tensors = vec![
        t("token_embd.weight", &[4, 3], GgmlType::F32),
        t("blk.0.ffn_down.weight", &[64, 2], GgmlType::Q8_0),
    ];
    write_gguf(&path, &kvs, &tensors);
    path
}

#[test]
fn text_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let files = open_set(&path, Limits::FULL).unwrap();
    assert_eq!(files.len(), 1);
    let f = &files[0];
    let s = render_text(&files);
    assert!(s.contains(&format!("file: {}", path.display())), "{s}");
    assert!(
        s.contains(&format!(
            "GGUF version 3, 2 tensors, 9 KV pairs, alignment 32, data offset {}, file size {}",
            f.data_offset, f.file_len
        )),
        "{s}"
    );
    assert!(
        s.contains("general.architecture          = \"deepseek2\"\n"),
        "{s}"
    );
    assert!(
        s.contains(&format!("= \"{}\"… (300 bytes)\n", "x".repeat(120))),
        "{s}"
    );
    assert!(
        s.contains("= 61\n")
            && s.contains("= 0.1\n")
            && s.contains("= NaN\n")
            && s.contains("= true\n")
    );
    assert!(
        s.contains("= [i32; 100] 0, 1, 2, 3, 4, 5, 6, 7, …\n"),
        "{s}"
    );
    assert!(s.contains("= [string; 2] \"<s>\", \"a\\\"b\"\n"), "{s}");
    assert!(s.contains("= [u16; 2] 1, 256\n"), "{s}");
    let (s0, _) = f.tensor_data_range(0);
    let (s1, _) = f.tensor_data_range(1);
    let row0 = s.lines().find(|l| l.contains("token_embd.weight")).unwrap();
    let cells: Vec<&str> = row0.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "token_embd.weight",
            "F32",
            "[4,",
            "3]",
            &s0.to_string(),
            "48"
        ]
    );
    let row1 = s
        .lines()
        .find(|l| l.contains("blk.0.ffn_down.weight"))
        .unwrap();
    let cells: Vec<&str> = row1.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "blk.0.ffn_down.weight",
            "Q8_0",
            "[64,",
            "2]",
            &s1.to_string(),
            "136"
        ]
    );
    assert!(
        s.contains("total: 2 tensors, 140 elements, 184 bytes (184 B)"),
        "{s}"
    );
    assert!(!s.contains("set total"));
}

#[test]
fn json_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let files = open_set(&path, Limits::FULL).unwrap();
    let j = render_json(&files);
    let f = &j["files"][0];
    assert_eq!(f["path"], path.display().to_string());
    assert_eq!(f["version"], 3);
    assert_eq!(f["alignment"], 32);
    assert_eq!(f["data_offset"], files[0].data_offset);
    assert_eq!(f["file_size"], files[0].file_len);
    let md = &f["metadata"];
    assert_eq!(md["general.architecture"], "deepseek2");
    assert_eq!(md["general.name"].as_str().unwrap().len(), 300);
    assert_eq!(md["deepseek2.block_count"], 61);
    assert_eq!(md["deepseek2.rope.freq_base"], 0.1);
    assert_eq!(md["deepseek2.bad"], "NaN");
    assert_eq!(md["deepseek2.expert_weights_norm"], true);
    assert_eq!(
        md["tokenizer.ggml.token_type"],
        json!({"type": "i32", "len": 100, "head": [0, 1, 2, 3, 4, 5, 6, 7]})
    );
    assert_eq!(md["tokenizer.ggml.tokens"], json!(["<s>", "a\"b"]));
    assert_eq!(md["raw.u16"], json!([1, 256]));
    let keys: Vec<&String> = md.as_object().unwrap().keys().collect();
    assert_eq!(keys[0], "general.architecture");
    assert_eq!(keys.len(), 9);
    let t1 = &f["tensors"][1];
    assert_eq!(t1["name"], "blk.0.ffn_down.weight");
    assert_eq!(t1["type"], "Q8_0");
    assert_eq!(t1["shape"], json!([64, 2]));
    assert_eq!(t1["offset"], files[0].tensor_data_range(1).0);
    assert_eq!(t1["size"], 136);
    // serialisable as is
    let text = serde_json::to_string_pretty(&j).unwrap();
    assert!(text.contains("\"blk.0.ffn_down.weight\""));
}

fn write_shard(dir: &Path, k: u16, n: u16, total: i32, tensors: &[TensorInfo]) -> PathBuf {
    let path = dir.join(format!("ds-{k:05}-of-{n:05}.gguf"));
    let mut kvs = vec![
        kv(SPLIT_NO, Value::U16(k - 1)),
        kv(SPLIT_COUNT, Value::U16(n)),
        kv(SPLIT_TENSORS_COUNT, Value::I32(total)),
    ];
    if k == 1 {
        kvs.insert(
            0,
            kv("general.architecture", Value::String("deepseek2".into())),
        );
    }
    write_gguf(&path, &kvs, tensors);
    path
}

#[test]
fn split_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = write_shard(
        d,
        1,
        2,
        3,
        &[t("a", &[4], GgmlType::F32), t("b", &[8], GgmlType::F16)],
    );
    let second = write_shard(d, 2, 2, 3, &[t("c", &[32], GgmlType::Q8_0)]);
    let files = open_set(&first, Limits::FULL).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].path, first);
    assert_eq!(files[1].path, second);
    let s = render_text(&files);
    assert!(s.contains(&format!("file: {}", first.display())));
    assert!(s.contains(&format!("file: {}", second.display())));
    assert!(s.contains("split.count          = 2"), "{s}");
    assert!(
        s.contains("set total: 2 files, 3 tensors, 44 elements, 66 bytes"),
        "{s}"
    );
    let j = render_json(&files);
    assert_eq!(j["files"].as_array().unwrap().len(), 2);
    assert_eq!(j["files"][1]["tensors"][0]["name"], "c");
    // A later shard opens alone.
    assert_eq!(open_set(&second, Limits::FULL).unwrap().len(), 1);

    // Incomplete set: the error names the missing file.
    fs::remove_file(&second).unwrap();
    let e = open_set(&first, Limits::FULL).unwrap_err().to_string();
    assert!(
        e.contains("ds-00002-of-00002.gguf") && e.contains("shard 2 of 2 is missing"),
        "{e}"
    );
}

#[test]
fn inconsistent_split_sets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = write_shard(d, 1, 2, 2, &[t("a", &[4], GgmlType::F32)]);

    // split.no wrong in shard 2
    let p2 = d.join("ds-00002-of-00002.gguf");
    let kvs = vec![
        kv(SPLIT_NO, Value::U16(0)),
        kv(SPLIT_COUNT, Value::U16(2)),
        kv(SPLIT_TENSORS_COUNT, Value::I32(2)),
    ];
    write_gguf(&p2, &kvs, &[t("b", &[4], GgmlType::F32)]);
    let e = open_set(&first, Limits::FULL).unwrap_err().to_string();
    assert!(
        e.contains("ds-00002-of-00002.gguf")
            && e.contains("expected split.no = 1")
            && e.contains("found 0"),
        "{e}"
    );

    // split.count disagrees with the file names
    write_shard(d, 2, 3, 2, &[t("b", &[4], GgmlType::F32)]);
    fs::rename(d.join("ds-00002-of-00003.gguf"), &p2).unwrap();
    let e = open_set(&first, Limits::FULL).unwrap_err().to_string();
    assert!(
        e.contains("expected split.count = 2") && e.contains("found 3"),
        "{e}"
    );

    // split.tensors.count does not match the tensors present
    write_shard(
        d,
        2,
        2,
        2,
        &[t("b", &[4], GgmlType::F32), t("c", &[4], GgmlType::F32)],
    );
    let e = open_set(&first, Limits::FULL).unwrap_err().to_string();
    assert!(
        e.contains("split.tensors.count = 2") && e.contains("hold 3 tensors"),
        "{e}"
    );

    // split.tensors.count differs between shards
    write_shard(d, 2, 2, 5, &[t("b", &[4], GgmlType::F32)]);
    let e = open_set(&first, Limits::FULL).unwrap_err().to_string();
    assert!(
        e.contains("split.tensors.count is 5") && e.contains("ds-00001-of-00002.gguf says 2"),
        "{e}"
    );

    // the same tensor in two shards
    write_shard(d, 2, 2, 2, &[t("a", &[4], GgmlType::F32)]);
    let e = open_set(&first, Limits::FULL).unwrap_err().to_string();
    assert!(e.contains("tensor 'a' also appears in"), "{e}");

    // a shard without split keys
    write_gguf(&p2, &[], &[t("b", &[4], GgmlType::F32)]);
    let e = open_set(&first, Limits::FULL).unwrap_err().to_string();
    assert!(e.contains("without the 'split.count' key"), "{e}");

    // consistent again
    write_shard(d, 2, 2, 2, &[t("b", &[4], GgmlType::F32)]);
    assert_eq!(open_set(&first, Limits::FULL).unwrap().len(), 2);
}

#[test]
fn split_name_parsing() {
    let sn = parse_split_name(Path::new("/m/DeepSeek-V3-Q4_K-00003-of-00014.gguf")).unwrap();
    assert_eq!(
        (sn.prefix.as_str(), sn.no, sn.count),
        ("DeepSeek-V3-Q4_K", 3, 14)
    );
    assert!(parse_split_name(Path::new("model.gguf")).is_none());
    assert!(parse_split_name(Path::new("m-1-of-2.gguf")).is_none());
    assert!(parse_split_name(Path::new("-00001-of-00002.gguf")).is_none());
    // Not a GGUF at all: the reader's error comes through.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("junk-00001-of-00001.gguf");
    fs::write(&p, b"not gguf at all").unwrap();
    assert!(
        open_set(&p, Limits::FULL)
            .unwrap_err()
            .to_string()
            .contains("not a GGUF file")
    );
    let e = open_set(&dir.path().join("absent.gguf"), Limits::FULL).unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
}
