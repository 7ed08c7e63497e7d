//! Tests of the parent module.

use super::*;
use crate::gguf::writer::{assign_offsets, header_bytes};

fn p() -> &'static Path {
    Path::new("t.gguf")
}

/// A valid file: header from the writer, then the data section filled with a pattern.
fn sample() -> (Vec<(String, Value)>, Vec<TensorInfo>, Vec<u8>) {
    let kvs = vec![
        (
            "general.architecture".to_string(),
            Value::String("deepseek2".into()),
        ),
        ("a.u8".to_string(), Value::U8(7)),
        ("a.i8".to_string(), Value::I8(-7)),
        ("a.u16".to_string(), Value::U16(65000)),
        ("a.i16".to_string(), Value::I16(-32000)),
        ("a.u32".to_string(), Value::U32(4_000_000_000)),
        ("a.i32".to_string(), Value::I32(-2_000_000_000)),
        ("a.f32".to_string(), Value::F32(1.5)),
        ("a.bool".to_string(), Value::Bool(true)),
        ("a.u64".to_string(), Value::U64(u64::MAX)),
        ("a.i64".to_string(), Value::I64(i64::MIN)),
        ("a.f64".to_string(), Value::F64(-0.25)),
        ("arr.u8".to_string(), Value::Array(Array::U8(vec![1, 2, 3]))),
        ("arr.i32".to_string(), Value::Array(Array::I32(vec![-1, 2]))),
        (
            "arr.u32".to_string(),
            Value::Array(Array::U32(vec![3, 4, 5])),
        ),
        (
            "arr.f32".to_string(),
            Value::Array(Array::F32(vec![0.5, -2.0])),
        ),
        (
            "arr.bool".to_string(),
            Value::Array(Array::Bool(vec![true, false])),
        ),
        (
            "arr.str".to_string(),
            Value::Array(Array::String(vec!["x".into(), "".into(), "ü".into()])),
        ),
        (
            "arr.raw".to_string(),
            Value::Array(Array::Raw {
                elem: ValueType::U16,
                count: 2,
                bytes: vec![1, 0, 2, 0],
            }),
        ),
        ("arr.empty".to_string(), Value::Array(Array::String(vec![]))),
    ];
    let mut ts = vec![
        TensorInfo {
            name: "token_embd.weight".into(),
            ne: vec![4, 3],
            ty: GgmlType::F32,
            offset: 0,
        },
        TensorInfo {
            name: "blk.0.ffn_down.weight".into(),
            ne: vec![64, 2],
            ty: GgmlType::Q8_0,
            offset: 0,
        },
        TensorInfo {
            name: "blk.0.x".into(),
            ne: vec![3, 1, 1, 2],
            ty: GgmlType::BF16,
            offset: 0,
        },
    ];
    let data_len = assign_offsets(&mut ts);
    let mut bytes = header_bytes(&kvs, &ts);
    bytes.extend((0..data_len).map(|i| (i % 251) as u8));
    (kvs, ts, bytes)
}

fn err(bytes: &[u8]) -> String {
    match GgufFile::parse(bytes, p()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Builds raw headers by hand.
#[derive(Default)]
struct B(Vec<u8>);
impl B {
    fn start(n_tensors: u64, n_kv: u64) -> B {
        let mut b = B::default();
        b.0.extend_from_slice(b"GGUF");
        b.u32(3).u64(n_tensors).u64(n_kv);
        b
    }
    fn u32(&mut self, v: u32) -> &mut B {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut B {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn s(&mut self, s: &str) -> &mut B {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn tensor(&mut self, name: &str, ne: &[u64], ty: u32, off: u64) -> &mut B {
        self.s(name).u32(ne.len() as u32);
        for &d in ne {
            self.u64(d);
        }
        self.u32(ty).u64(off)
    }
    fn pad(&mut self, n: usize) -> Vec<u8> {
        let mut v = self.0.clone();
        v.resize(v.len() + n, 0);
        v
    }
}

#[test]
fn round_trip_with_writer() {
    let (kvs, ts, bytes) = sample();
    let f = GgufFile::parse(&bytes, p()).unwrap();
    assert_eq!(f.version, 3);
    assert_eq!(f.kvs, kvs);
    assert_eq!(f.tensors, ts);
    assert_eq!(f.alignment, 32);
    assert_eq!(f.data_offset, header_bytes(&kvs, &ts).len() as u64);
    assert_eq!(f.file_len, bytes.len() as u64);
    assert_eq!(f.get("a.u16"), Some(&Value::U16(65000)));
    assert_eq!(f.get("nope"), None);
    let (s, e) = f.tensor_data_range(1);
    assert_eq!(s, f.data_offset + ts[1].offset);
    assert_eq!(e - s, 2 * 2 * 34);
    assert_eq!(e - s, ts[1].n_bytes());

    // and from disk, including tensor data
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    std::fs::write(&path, &bytes).unwrap();
    let g = GgufFile::open(&path).unwrap();
    assert_eq!(g.kvs, f.kvs);
    assert_eq!(g.tensors, f.tensors);
    assert_eq!(g.data_offset, f.data_offset);
    for i in 0..ts.len() {
        let (s, e) = g.tensor_data_range(i);
        assert_eq!(
            g.read_tensor_bytes(i).unwrap(),
            &bytes[s as usize..e as usize]
        );
    }
    assert!(
        g.read_tensor_bytes(9)
            .unwrap_err()
            .to_string()
            .contains("no tensor #9")
    );
}

#[test]
fn version_2_and_custom_alignment() {
    let mut b = B::default();
    b.0.extend_from_slice(b"GGUF");
    b.u32(2).u64(1).u64(1).s(ALIGNMENT_KEY).u32(4).u32(64);
    b.tensor("w", &[2], 0, 0);
    let hdr = b.0.len();
    let bytes = b.pad(64 - hdr % 64 + 8);
    let f = GgufFile::parse(&bytes, p()).unwrap();
    assert_eq!(f.version, 2);
    assert_eq!(f.alignment, 64);
    assert_eq!(f.data_offset % 64, 0);
    assert_eq!(f.tensor_data_range(0), (f.data_offset, f.data_offset + 8));
}

#[test]
fn zero_sized_dimension_is_accepted() {
    let bytes = B::start(1, 0).tensor("e", &[0, 5], 0, 0).pad(64);
    let f = GgufFile::parse(&bytes, p()).unwrap();
    assert_eq!(f.tensors[0].n_bytes(), 0);
}

#[test]
fn rejects_truncated_header() {
    let (_, _, bytes) = sample();
    let hdr_len = GgufFile::parse(&bytes, p()).unwrap().data_offset as usize;
    // Cut in the middle of a u32 value.
    let mut b = B::start(0, 1);
    b.s("k").u32(4).0.extend_from_slice(&[1, 2]);
    let e = err(&b.0);
    assert!(
        e.contains("truncated header: expected 4 bytes of the value of key 'k' at byte offset 37, but the file ends at byte 39"),
        "{e}"
    );
    // So short that the counts alone are impossible.
    let e = err(&bytes[..100]);
    assert!(
        e.contains("tensor count 3") && e.contains("impossible"),
        "{e}"
    );
    let e = err(&bytes[..2]);
    assert!(
        e.contains("not a GGUF file") && e.contains("2 bytes"),
        "{e}"
    );
    let e = err(&bytes[..10]);
    assert!(e.contains("truncated") && e.contains("tensor count"), "{e}");
    // Cut inside the tensor infos.
    let e = err(&bytes[..hdr_len - 40]);
    assert!(
        e.contains("truncated header") || e.contains("runs past"),
        "{e}"
    );
}

#[test]
fn rejects_bad_magic_and_version() {
    let (_, _, mut bytes) = sample();
    bytes[0] = b'X';
    let e = err(&bytes);
    assert!(
        e.contains("expected magic \"GGUF\"") && e.contains("XGUF"),
        "{e}"
    );
    let (_, _, mut bytes) = sample();
    bytes[4] = 1;
    let e = err(&bytes);
    assert!(e.contains("version 1 is not supported"), "{e}");
    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert!(err(&bytes).contains("big-endian"));
    bytes[4..8].copy_from_slice(&9u32.to_le_bytes());
    assert!(err(&bytes).contains("unsupported GGUF version 9"));
}

#[test]
fn rejects_huge_string_length() {
    let bytes = B::start(0, 1).u64(u64::MAX).pad(64);
    let e = err(&bytes);
    assert!(
        e.contains("key of KV pair #0")
            && e.contains("exceeds the limit")
            && e.contains("offset 24"),
        "{e}"
    );
    // Under the 64 MiB cap but past the end of the file.
    let bytes = B::start(0, 1).s("k").u32(8).u64(1000).pad(64);
    let e = err(&bytes);
    assert!(
        e.contains("value of key 'k'") && e.contains("runs past the end"),
        "{e}"
    );
}

#[test]
fn rejects_huge_array_count() {
    let bytes = B::start(0, 1).s("arr").u32(9).u32(4).u64(1 << 60).pad(64);
    let e = err(&bytes);
    assert!(
        e.contains("key 'arr'") && e.contains("array of 1152921504606846976 u32"),
        "{e}"
    );
    let bytes = B::start(0, 1)
        .s("arr")
        .u32(9)
        .u32(8)
        .u64(u64::MAX / 2)
        .pad(64);
    let e = err(&bytes);
    assert!(
        e.contains("string elements") && e.contains("only 64 bytes remain"),
        "{e}"
    );
}

#[test]
fn rejects_nested_arrays_and_bad_value_types() {
    let bytes = B::start(0, 1).s("n").u32(9).u32(9).u64(1).pad(64);
    assert!(err(&bytes).contains("nested arrays"));
    let bytes = B::start(0, 1).s("v").u32(13).pad(64);
    let e = err(&bytes);
    assert!(e.contains("key 'v': unknown value type id 13"), "{e}");
    let bytes = B::start(0, 1).s("v").u32(9).u32(77).pad(64);
    assert!(err(&bytes).contains("unknown array element type id 77"));
}

#[test]
fn rejects_duplicate_keys() {
    let bytes = B::start(0, 2)
        .s("k")
        .u32(4)
        .u32(1)
        .s("k")
        .u32(4)
        .u32(2)
        .pad(8);
    assert!(err(&bytes).contains("duplicate key 'k'"));
}

#[test]
fn rejects_huge_counts() {
    let e = err(&B::start(u64::MAX, 0).pad(100));
    assert!(
        e.contains("tensor count 18446744073709551615") && e.contains("impossible"),
        "{e}"
    );
    let e = err(&B::start(0, 1 << 40).pad(100));
    assert!(
        e.contains("KV count 1099511627776") && e.contains("impossible"),
        "{e}"
    );
    let e = err(&B::start(3, 4).pad(100));
    assert!(e.contains("4 KV pairs and 3 tensor infos"), "{e}");
}

#[test]
fn rejects_bad_type_id() {
    let bytes = B::start(1, 0).tensor("blk.0.w", &[32], 9, 0).pad(128);
    let e = err(&bytes);
    assert!(
        e.contains("tensor 'blk.0.w'") && e.contains("ggml type id 9"),
        "{e}"
    );
}

#[test]
fn rejects_bad_dims() {
    let bytes = B::start(1, 0).tensor("w", &[1, 1, 1, 1, 1], 0, 0).pad(128);
    let e = err(&bytes);
    assert!(e.contains("tensor 'w'") && e.contains("found 5"), "{e}");
    let bytes = B::start(1, 0).tensor("w", &[], 0, 0).pad(128);
    assert!(err(&bytes).contains("found 0"));
    let bytes = B::start(1, 0).tensor("w", &[u64::MAX], 0, 0).pad(128);
    assert!(err(&bytes).contains("negative"));
    let bytes = B::start(1, 0)
        .tensor("w", &[1 << 40, 1 << 40], 0, 0)
        .pad(128);
    assert!(err(&bytes).contains("more elements than an int64"));
    let bytes = B::start(1, 0)
        .tensor("w", &[0, 1 << 40, 1 << 40], 0, 0)
        .pad(128);
    assert!(err(&bytes).contains("more elements than an int64"));
    let bytes = B::start(1, 0).tensor("q", &[33], 8, 0).pad(128);
    let e = err(&bytes);
    assert!(
        e.contains("tensor 'q'") && e.contains("multiple of 32, found 33"),
        "{e}"
    );
    // Elements fit in an int64 but bytes of F32 do not fit in a u64? (2^62 * 4 = 2^64)
    let bytes = B::start(1, 0).tensor("big", &[1 << 62], 0, 0).pad(128);
    assert!(err(&bytes).contains("overflows 64 bits"));
}

#[test]
fn rejects_bad_names() {
    let bytes = B::start(2, 0)
        .tensor("w", &[1], 0, 0)
        .tensor("w", &[1], 0, 32)
        .pad(128);
    let e = err(&bytes);
    assert!(
        e.contains("duplicate tensor name 'w'") && e.contains("#0 and #1"),
        "{e}"
    );
    let long = "x".repeat(64);
    let bytes = B::start(1, 0).tensor(&long, &[1], 0, 0).pad(128);
    assert!(err(&bytes).contains("64 bytes long, expected fewer than 64"));
    let mut b = B::start(1, 0);
    b.u64(2);
    b.0.extend_from_slice(&[0xff, 0xfe]);
    b.u32(1).u64(1).u32(0).u64(0);
    assert!(err(&b.pad(64)).contains("not valid UTF-8"));
}

#[test]
fn rejects_data_past_eof() {
    let (_, _, bytes) = sample();
    let end = GgufFile::parse(&bytes, p()).unwrap().tensor_data_range(2).1 as usize;
    assert!(GgufFile::parse(&bytes[..end], p()).is_ok());
    let e = err(&bytes[..end - 1]);
    assert!(
        e.contains("tensor 'blk.0.x'") && e.contains("past the end of the file"),
        "{e}"
    );
    let bytes = B::start(1, 0).tensor("w", &[4], 0, u64::MAX - 31).pad(128);
    let e = err(&bytes);
    assert!(
        e.contains("tensor 'w'") && e.contains("2^64 or more"),
        "{e}"
    );
}

#[test]
fn rejects_misaligned_offset() {
    let bytes = B::start(1, 0).tensor("w", &[4], 0, 16).pad(128);
    let e = err(&bytes);
    assert!(
        e.contains("tensor 'w'") && e.contains("offset 16") && e.contains("alignment 32"),
        "{e}"
    );
}

#[test]
fn rejects_bad_alignment_value() {
    let bytes = B::start(0, 1).s(ALIGNMENT_KEY).u32(4).u32(48).pad(8);
    assert!(err(&bytes).contains("power of two, found 48"));
    let bytes = B::start(0, 1).s(ALIGNMENT_KEY).u32(4).u32(0).pad(8);
    assert!(err(&bytes).contains("power of two, found 0"));
    let bytes = B::start(0, 1).s(ALIGNMENT_KEY).u32(10).u64(32).pad(8);
    let e = err(&bytes);
    assert!(
        e.contains("must be a u32, found a value of type u64"),
        "{e}"
    );
}

/// Deterministic fuzzing: truncations and single-byte mutations never panic.
#[test]
fn fuzz_truncations_and_mutations_never_panic() {
    let (_, _, bytes) = sample();
    let hdr = GgufFile::parse(&bytes, p()).unwrap().data_offset as usize;
    for n in 0..=bytes.len() {
        let _ = GgufFile::parse(&bytes[..n], p());
    }
    // xorshift for reproducible pseudo-random choices
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let interesting = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x09, 0x08, 0x40];
    let mut ok = 0;
    for pos in 0..hdr {
        for &b in &interesting {
            let mut m = bytes.clone();
            m[pos] = b;
            ok += GgufFile::parse(&m, p()).is_ok() as usize;
        }
    }
    for _ in 0..20_000 {
        let mut m = bytes.clone();
        let pos = (next() % hdr as u64) as usize;
        m[pos] = next() as u8;
        let cut = (next() % (m.len() as u64 + 1)) as usize;
        let _ = GgufFile::parse(&m, p());
        let _ = GgufFile::parse(&m[..cut], p());
    }
    assert!(ok > 0);
}
