//! Reader tests on imatrix files written here, in both formats.

use super::*;

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn sample_gguf() -> Vec<u8> {
    encode_gguf(
        &[
            RawEntry {
                name: "blk.0.attn_q.weight".into(),
                sums: vec![2.0, 4.0, 6.0, 8.0],
                counts: vec![2.0],
            },
            RawEntry {
                name: "blk.1.ffn_down_exps.weight".into(),
                sums: vec![3.0, 6.0, 5.0, 7.0, 9.0, 9.0],
                counts: vec![3.0, 0.0, 2.6],
            },
        ],
        &["corpus.txt", "other.txt"],
        7,
        512,
    )
}

#[test]
fn gguf_values_are_normalised_per_expert() {
    let d = tempfile::tempdir().unwrap();
    let p = write(&d, "m.gguf", &sample_gguf());
    let m = Imatrix::load(&p, "m.gguf").unwrap();
    assert!(!m.legacy);
    assert_eq!(m.datasets, ["corpus.txt", "other.txt"]);
    assert_eq!(m.chunk_count, 7);
    let q = &m.entries["blk.0.attn_q.weight"];
    assert_eq!(q.values, [1.0, 2.0, 3.0, 4.0]);
    assert_eq!((q.slices, q.empty_slices), (1, 0));
    let e = &m.entries["blk.1.ffn_down_exps.weight"];
    // counts are rounded (2.6 -> 3); an expert with count 0 gets weights 1
    assert_eq!(e.values, [1.0, 2.0, 1.0, 1.0, 3.0, 3.0]);
    assert_eq!((e.slices, e.empty_slices), (3, 1));
    assert_eq!(
        m.quantize_kvs(),
        vec![
            (KEY_FILE.to_string(), Value::String("m.gguf".into())),
            (KEY_DATASET.to_string(), Value::String("corpus.txt".into())),
            (KEY_ENTRIES.to_string(), Value::U32(2)),
            (KEY_CHUNKS.to_string(), Value::U32(7)),
        ]
    );
}

#[test]
fn lookup_follows_llama_quantize() {
    let d = tempfile::tempdir().unwrap();
    let p = write(&d, "m.gguf", &sample_gguf());
    let m = Imatrix::load(&p, "m.gguf").unwrap();
    let (bf, q4) = (GgmlType::BF16, GgmlType::Q4_K);
    assert_eq!(
        m.lookup("blk.0.attn_q.weight", &[4, 8], bf, q4).unwrap(),
        TensorImportance::Full
    );
    assert_eq!(
        m.lookup("blk.0.attn_q.weight", &[4, 8], bf, bf).unwrap(),
        TensorImportance::NotQuantized
    );
    assert_eq!(
        m.lookup("blk.1.ffn_down_exps.weight", &[2, 5, 3], bf, q4)
            .unwrap(),
        TensorImportance::Partial {
            empty: 1,
            slices: 3
        }
    );
    assert_eq!(
        m.lookup("blk.9.attn_q.weight", &[4, 8], bf, q4).unwrap(),
        TensorImportance::NoEntry
    );
    let err = m
        .lookup("blk.0.attn_q.weight", &[8, 8], bf, q4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("m.gguf"), "{err}");
    assert!(err.contains("blk.0.attn_q.weight"), "{err}");
    assert!(
        err.contains("imatrix size 4 is different from tensor size 8"),
        "{err}"
    );
    // expert slices: rows 0..5 use expert 0, rows 10..15 expert 2
    assert_eq!(
        m.row_weights("blk.1.ffn_down_exps.weight", 2, 5, 4),
        Some(&[1.0f32, 2.0][..])
    );
    assert_eq!(
        m.row_weights("blk.1.ffn_down_exps.weight", 2, 5, 12),
        Some(&[3.0f32, 3.0][..])
    );
}

#[test]
fn token_embd_size_mismatch_is_ignored() {
    let d = tempfile::tempdir().unwrap();
    let bytes = encode_gguf(
        &[RawEntry {
            name: "token_embd.weight".into(),
            sums: vec![1.0; 3],
            counts: vec![1.0],
        }],
        &["c"],
        1,
        1,
    );
    let p = write(&d, "t.gguf", &bytes);
    let m = Imatrix::load(&p, "t.gguf").unwrap();
    assert_eq!(
        m.lookup("token_embd.weight", &[8, 4], GgmlType::BF16, GgmlType::Q4_K)
            .unwrap(),
        TensorImportance::SizeMismatchIgnored {
            found: 3,
            expected: 8
        }
    );
}

#[test]
fn legacy_format_is_read() {
    let d = tempfile::tempdir().unwrap();
    let bytes = encode_legacy(
        &[
            ("blk.0.attn_q.weight", 4, vec![4.0, 8.0]),
            ("blk.0.attn_kv_a_mqa.weight", 0, vec![5.0, 6.0]),
        ],
        Some((10, "wiki.txt")),
    );
    let p = write(&d, "m.dat", &bytes);
    let m = Imatrix::load(&p, "m.dat").unwrap();
    assert!(m.legacy);
    assert_eq!(m.entries["blk.0.attn_q.weight"].values, [1.0, 2.0]);
    // ncall 0: the values are used as stored
    assert_eq!(m.entries["blk.0.attn_kv_a_mqa.weight"].values, [5.0, 6.0]);
    assert_eq!(m.datasets, ["wiki.txt"]);
    assert_eq!(m.chunk_count, 10);
    // without the trailer: no dataset, no chunk count key
    let bytes = encode_legacy(&[("a.weight", 1, vec![1.0])], None);
    let p = write(&d, "n.dat", &bytes);
    let m = Imatrix::load(&p, "n.dat").unwrap();
    assert!(m.datasets.is_empty());
    assert_eq!(m.chunk_count, 0);
    let keys: Vec<String> = m.quantize_kvs().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [KEY_FILE, KEY_ENTRIES]);
}

fn load_err(name: &str, bytes: &[u8]) -> String {
    let d = tempfile::tempdir().unwrap();
    let p = write(&d, name, bytes);
    let e = Imatrix::load(&p, name).unwrap_err().to_string();
    assert!(e.contains(name), "error does not name the file: {e}");
    e
}

#[test]
fn bad_files_are_reported() {
    assert!(load_err("empty.dat", b"").contains("no data"));
    assert!(load_err("zero.dat", &0i32.to_le_bytes()).contains("entry count 0"));
    let good = encode_legacy(&[("blk.0.attn_q.weight", 1, vec![1.0, 2.0])], None);
    for cut in [6, 20, 30, good.len() - 1] {
        let e = load_err("cut.dat", &good[..cut]);
        assert!(e.contains("failed reading"), "{cut}: {e}");
    }
    let mut neg = 1i32.to_le_bytes().to_vec();
    neg.extend_from_slice(&(-5i32).to_le_bytes());
    assert!(load_err("neg.dat", &neg).contains("name for entry 1"));
    let nan = encode_legacy(&[("x.weight", 1, vec![1.0, f32::NAN])], None);
    let e = load_err("nan.dat", &nan);
    assert!(e.contains("non-finite") && e.contains("x.weight"), "{e}");

    // GGUF: missing metadata, lone sums, wrong type
    use crate::gguf::writer::{TensorInfo, assign_offsets, header_bytes};
    let mk = |kvs: Vec<(String, Value)>, tensors: Vec<TensorInfo>| {
        let mut t = tensors;
        let n = assign_offsets(&mut t);
        let mut b = header_bytes(&kvs, &t);
        b.resize(b.len() + n as usize, 0);
        b
    };
    let t = |name: &str, ty: GgmlType| TensorInfo {
        name: name.into(),
        ne: vec![4],
        ty,
        offset: 0,
    };
    let meta = vec![
        (
            "imatrix.datasets".to_string(),
            Value::Array(Array::String(vec!["c".into()])),
        ),
        ("imatrix.chunk_count".to_string(), Value::U32(1)),
        ("imatrix.chunk_size".to_string(), Value::U32(1)),
    ];
    let e = load_err(
        "nometa.gguf",
        &mk(vec![], vec![t("a.in_sum2", GgmlType::F32)]),
    );
    assert!(e.contains("missing imatrix metadata"), "{e}");
    let e = load_err("none.gguf", &mk(meta.clone(), vec![]));
    assert!(e.contains("no data"), "{e}");
    let e = load_err(
        "lone.gguf",
        &mk(meta.clone(), vec![t("a.in_sum2", GgmlType::F32)]),
    );
    assert!(
        e.contains("mismatched sums and counts") && e.contains("'a'"),
        "{e}"
    );
    let e = load_err(
        "f16.gguf",
        &mk(
            meta.clone(),
            vec![t("a.in_sum2", GgmlType::F16), t("a.counts", GgmlType::F32)],
        ),
    );
    assert!(e.contains("must be F32, found F16"), "{e}");
    let mut bad_meta = meta.clone();
    bad_meta[1].1 = Value::String("x".into());
    let e = load_err(
        "type.gguf",
        &mk(
            bad_meta,
            vec![t("a.in_sum2", GgmlType::F32), t("a.counts", GgmlType::F32)],
        ),
    );
    assert!(
        e.contains("imatrix.chunk_count: expected a u32, found string"),
        "{e}"
    );
    // truncated GGUF
    let good = sample_gguf();
    let e = load_err("trunc.gguf", &good[..good.len() / 2]);
    assert!(!e.is_empty());
}

#[test]
fn requires_imatrix_rules() {
    assert!(!requires_imatrix("blk.0.attn_q.weight", GgmlType::Q2_K, 10));
    assert!(requires_imatrix("blk.0.attn_q.weight", GgmlType::Q2_K, 21));
    assert!(!requires_imatrix("output.weight", GgmlType::Q2_K, 21));
    assert!(!requires_imatrix("token_embd.weight", GgmlType::Q2_K, 21));
    assert!(!requires_imatrix("blk.0.attn_q.weight", GgmlType::Q4_K, 21));
}

#[test]
fn long_strings_are_cut_like_llama_quantize() {
    let long = "é".repeat(100); // 200 bytes
    let c = cut127(&long);
    assert_eq!(c.len(), 126);
    assert_eq!(cut127("abc"), "abc");
}
