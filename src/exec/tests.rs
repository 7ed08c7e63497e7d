//! The recipe operations on a checkpoint the tests write: every output element lands where the
//! recipe says, whether the rows are copied, decoded, gathered, transposed or joined.

use super::Scratch;
use super::ops::{copy_raw_rows, fill_rows};
use crate::arch::{Decoder, Recipe, Source};
use crate::checkpoint::safetensors::Checkpoint;
use crate::gguf::GgmlType;
use crate::gguf::writer::TensorInfo;
use crate::plan::PlannedTensor;
use serde_json::json;

/// A one-shard checkpoint of F32 tensors `(name, shape)` whose element `i` is `base + i`,
/// with `base` = 1000 × the tensor's position.
fn checkpoint(tensors: &[(&str, Vec<u64>)]) -> (tempfile::TempDir, Checkpoint) {
    let d = tempfile::tempdir().unwrap();
    let mut hdr = serde_json::Map::new();
    let mut data = Vec::new();
    for (k, (name, shape)) in tensors.iter().enumerate() {
        let n: u64 = shape.iter().product();
        let start = data.len();
        for i in 0..n {
            data.extend_from_slice(&((1000 * k as u64 + i) as f32).to_le_bytes());
        }
        hdr.insert(
            name.to_string(),
            json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut h = serde_json::to_vec(&hdr).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut file = (h.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&h);
    file.extend_from_slice(&data);
    std::fs::write(d.path().join("model.safetensors"), file).unwrap();
    let ck = Checkpoint::open(d.path()).unwrap();
    (d, ck)
}

fn src(ck: &Checkpoint, name: &str) -> Source {
    Source {
        tensor: ck.index_of(name).unwrap(),
        decoder: Decoder::Float,
    }
}

fn planned(ne: Vec<u64>, recipe: Recipe, ty: GgmlType) -> PlannedTensor {
    PlannedTensor {
        info: TensorInfo {
            name: "t".into(),
            ne,
            ty,
            offset: 0,
        },
        recipe,
        round_bf16: false,
        explicit_q4_0: false,
        file: 0,
    }
}

/// All rows of `t`, decoded, in output order.
fn rows(ck: &Checkpoint, t: &PlannedTensor) -> Vec<f32> {
    let n: u64 = t.info.ne.iter().product();
    let nrows = n / t.info.ne[0];
    let mut out = vec![f32::NAN; n as usize];
    fill_rows(ck, t, 0, nrows, &mut out, &mut Scratch::default(), false).unwrap();
    out
}

#[test]
fn transpose_groups_and_gather_rows_split_kv_b_per_head() {
    // kv_b [H·(nope+v), r] with H 2, nope 3, v 2, r 4: element (row, c) = 4·row + c
    let (_d, ck) = checkpoint(&[("kv_b", vec![10, 4])]);
    let k = planned(
        vec![3, 4, 2],
        Recipe::TransposeGroups {
            src: src(&ck, "kv_b"),
            period: 5,
            offset: 0,
            take: 3,
            cols: 4,
        },
        GgmlType::F32,
    );
    let kb = rows(&ck, &k);
    // out[h][c][d] = W[h·5 + d][c]
    for h in 0..2 {
        for c in 0..4 {
            for d in 0..3 {
                assert_eq!(kb[h * 12 + c * 3 + d], ((h * 5 + d) * 4 + c) as f32);
            }
        }
    }
    let v = planned(
        vec![4, 2, 2],
        Recipe::GatherRows {
            src: src(&ck, "kv_b"),
            period: 5,
            offset: 3,
            take: 2,
        },
        GgmlType::F32,
    );
    let vb = rows(&ck, &v);
    // out row h·2 + j = W row h·5 + 3 + j
    for h in 0..2 {
        for j in 0..2 {
            for c in 0..4 {
                assert_eq!(vb[(h * 2 + j) * 4 + c], ((h * 5 + 3 + j) * 4 + c) as f32);
            }
        }
    }
    // gathered float rows of the source's own type are copied, and equal the decoded ones
    let mut raw = Vec::new();
    assert!(copy_raw_rows(&ck, &v, 1, 2, &mut raw, false).unwrap());
    let copied: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(copied, vb[4..12]);
}

#[test]
fn stack_puts_sources_on_a_new_outer_axis() {
    let (_d, ck) = checkpoint(&[("e0", vec![2, 3]), ("e1", vec![2, 3])]);
    let t = planned(
        vec![3, 2, 2],
        Recipe::Stack(vec![src(&ck, "e0"), src(&ck, "e1")]),
        GgmlType::F32,
    );
    let want: Vec<f32> = (0..6).chain(1000..1006).map(|x| x as f32).collect();
    assert_eq!(rows(&ck, &t), want);
    // a band crossing the boundary between sources
    let mut out = vec![0f32; 6];
    fill_rows(&ck, &t, 1, 2, &mut out, &mut Scratch::default(), false).unwrap();
    assert_eq!(out, want[3..9]);
}

#[test]
fn concat_joins_rows_of_every_source() {
    let (_d, ck) = checkpoint(&[("a", vec![2, 3]), ("b", vec![2, 2])]);
    let t = planned(
        vec![5, 2],
        Recipe::Concat(vec![src(&ck, "a"), src(&ck, "b")]),
        GgmlType::F32,
    );
    assert_eq!(
        rows(&ck, &t),
        [0., 1., 2., 1000., 1001., 3., 4., 5., 1002., 1003.]
    );
    let mut raw = Vec::new();
    assert!(!copy_raw_rows(&ck, &t, 0, 2, &mut raw, false).unwrap());
}
