//! Serialising a GGUF header (KV pairs and tensor infos) whose layout is fixed in advance.
//!
//! The writer never sees tensor data: it turns a list of KV pairs and tensor descriptions
//! into the header bytes and computes where every tensor's data goes. The executor fills
//! those ranges afterwards, which is what lets ds2gguf stream to a pipe.

use super::{Array, DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, GgmlType, Value, pad_to};

/// One tensor as the header describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// GGUF tensor name (`blk.0.attn_q_a.weight`).
    pub name: String,
    /// Dimensions in ggml order: `ne[0]` is the row length.
    pub ne: Vec<u64>,
    /// Element type of the stored data.
    pub ty: GgmlType,
    /// Offset from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.ne.iter().product()
    }

    /// Bytes of data (without alignment padding).
    pub fn n_bytes(&self) -> u64 {
        let rows: u64 = self.ne.iter().skip(1).product();
        self.ty
            .row_bytes(self.ne[0])
            .expect("row length checked at plan time")
            * rows
    }
}

/// Assigns contiguous, 32-byte-aligned offsets to `tensors` in order and returns the
/// total size of the data section (including padding after the last tensor).
pub fn assign_offsets(tensors: &mut [TensorInfo]) -> u64 {
    let mut off = 0u64;
    for t in tensors {
        t.offset = off;
        off += pad_to(t.n_bytes(), DEFAULT_ALIGNMENT);
    }
    off
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => put_str(out, s),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Array(a) => {
            out.extend_from_slice(&(a.elem_type() as u32).to_le_bytes());
            out.extend_from_slice(&a.len().to_le_bytes());
            match a {
                Array::U8(v) => out.extend_from_slice(v),
                Array::I32(v) => v
                    .iter()
                    .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                Array::U32(v) => v
                    .iter()
                    .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                Array::F32(v) => v
                    .iter()
                    .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                Array::Bool(v) => v.iter().for_each(|x| out.push(*x as u8)),
                Array::String(v) => v.iter().for_each(|s| put_str(out, s)),
                Array::Raw { bytes, .. } => out.extend_from_slice(bytes),
            }
        }
    }
}

/// Serialises the header of one GGUF file: magic, version, counts, KV pairs, tensor infos,
/// and zero padding up to the start of the data section (a multiple of 32 bytes).
pub fn header_bytes(kvs: &[(String, Value)], tensors: &[TensorInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 16);
    out.extend_from_slice(&GGUF_MAGIC.to_le_bytes());
    out.extend_from_slice(&GGUF_VERSION.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
    for (k, v) in kvs {
        put_str(&mut out, k);
        out.extend_from_slice(&(v.value_type() as u32).to_le_bytes());
        put_value(&mut out, v);
    }
    for t in tensors {
        put_str(&mut out, &t.name);
        out.extend_from_slice(&(t.ne.len() as u32).to_le_bytes());
        for d in &t.ne {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.ty.id().to_le_bytes());
        out.extend_from_slice(&t.offset.to_le_bytes());
    }
    let padded = pad_to(out.len() as u64, DEFAULT_ALIGNMENT) as usize;
    out.resize(padded, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_hand_layout() {
        let kvs = vec![
            (
                "general.architecture".to_string(),
                Value::String("deepseek2".into()),
            ),
            (
                "deepseek2.expert_weights_norm".to_string(),
                Value::Bool(true),
            ),
            ("x".to_string(), Value::Array(Array::I32(vec![1, 3]))),
        ];
        let mut ts = vec![
            TensorInfo {
                name: "a".into(),
                ne: vec![3, 2],
                ty: GgmlType::F32,
                offset: 0,
            },
            TensorInfo {
                name: "b".into(),
                ne: vec![32],
                ty: GgmlType::Q8_0,
                offset: 0,
            },
        ];
        let data = assign_offsets(&mut ts);
        assert_eq!(ts[1].offset, 32);
        assert_eq!(data, 32 + 64);
        let h = header_bytes(&kvs, &ts);
        assert_eq!(&h[0..4], b"GGUF");
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 3);
        assert_eq!(u64::from_le_bytes(h[8..16].try_into().unwrap()), 2);
        assert_eq!(u64::from_le_bytes(h[16..24].try_into().unwrap()), 3);
        // first key: u64 length 20 then the name
        assert_eq!(u64::from_le_bytes(h[24..32].try_into().unwrap()), 20);
        assert_eq!(&h[32..52], b"general.architecture");
        assert_eq!(u32::from_le_bytes(h[52..56].try_into().unwrap()), 8);
        assert_eq!(h.len() % 32, 0);
        // bool is one byte
        let pos = h
            .windows(29)
            .position(|w| w == b"deepseek2.expert_weights_norm")
            .unwrap();
        assert_eq!(&h[pos + 29..pos + 34], &[7, 0, 0, 0, 1]);
    }
}
