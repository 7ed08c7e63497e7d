//! Model-neutral tensor recipes: how an output tensor's rows are made from checkpoint tensors.
//!
//! An architecture maps checkpoint tensors to [`MappedTensor`]s; the executor only knows the
//! operations below and the per-source [`Decoder`]s, never a model. Output rows are `ne[0]`
//! elements long; a tensor has `ne[1] × ne[2] × …` rows. Source "rows" are the checkpoint
//! tensor's last dimension (a 1-D tensor is one row).

/// How a checkpoint tensor's stored elements become f32 values.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoder {
    /// Plain F32, F16 or BF16 elements (the entry's dtype says which).
    Float,
    /// FP8 e4m3 codes times a block scale: element `(r, c)` is `e4m3(q[r][c]) ·
    /// scale[r / rows][c / cols]`, the scale tensor being F32, BF16, F16 or E8M0.
    Fp8Block {
        /// Index of the scale tensor in the checkpoint.
        scale: usize,
        /// Source rows covered by one scale.
        rows: u64,
        /// Columns covered by one scale.
        cols: u64,
    },
    /// compressed-tensors `pack-quantized` integers (the tensor is `X.weight_packed`, I32):
    /// value `k` of word `j` of row `r` is input `j·(32/bits) + k`, stored as
    /// `(w >> bits·k) & (2^bits − 1)`; element `(r, c)` is `(q − z) · f32(scale[r][c / group])`
    /// with `z = 2^(bits−1)`, or with a zero-point tensor `z = (zp[r / (32/bits)][c / group] >>
    /// bits·(r mod 32/bits)) & (2^bits − 1)` (zero points are packed along the rows). Rows are
    /// `cols` long (the checkpoint's `X.weight_shape[1]`).
    PackedInt {
        /// Index of the `X.weight_scale` tensor.
        scale: usize,
        /// Index of the `X.weight_zero_point` tensor (I32), for asymmetric groups.
        zero: Option<usize>,
        /// Bits per value.
        bits: u32,
        /// Inputs per scale.
        group: u64,
        /// Inputs per row (`weight_shape[1]`; the packed words may hold a few more).
        cols: u64,
    },
    /// FP4 e2m1 codes, two per byte (element `2i` in the low nibble), times one E8M0 scale
    /// per 32 elements of a row (`scale` is the index of that `[rows, cols/32]` tensor). The
    /// stored tensor's last dimension is half the row length. An MXFP4 output takes the bytes
    /// as they are (scale byte copied, nibbles rearranged).
    Fp4Block {
        /// Index of the scale tensor in the checkpoint.
        scale: usize,
    },
    /// Integers (I32 or I64): an I32 output gets them as int32 without a float round trip.
    Int,
}

/// One checkpoint tensor used as input, with the decoder for its elements.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    /// Index into the checkpoint's tensors.
    pub tensor: usize,
    /// How its elements decode.
    pub decoder: Decoder,
}

/// The operation that produces an output tensor's rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Recipe {
    /// Output row `i` is source row `i`.
    Rows(Source),
    /// Sources stacked on a new outermost axis: source `k`'s rows follow source `k-1`'s
    /// (expert tensors).
    Stack(Vec<Source>),
    /// Every output row is one source row: the source is cut into groups of `period` rows, and
    /// each group gives its rows `offset..offset+take`. Output row `g·take + j` is source row
    /// `g·period + offset + j`.
    GatherRows {
        /// The source.
        src: Source,
        /// Source rows per group.
        period: u64,
        /// First row taken in each group.
        offset: u64,
        /// Rows taken from each group.
        take: u64,
    },
    /// Per group, the `take × cols` block at rows `offset..offset+take` of each `period`-row
    /// group of the source, transposed: output `[group][c][d] = src[group·period + offset + d][c]`,
    /// so the output has `cols` rows of `take` elements per group.
    TransposeGroups {
        /// The source.
        src: Source,
        /// Source rows per group.
        period: u64,
        /// First row of the block in each group.
        offset: u64,
        /// Rows of the block (the output row length).
        take: u64,
        /// Columns of the source (output rows per group).
        cols: u64,
    },
    /// Sources joined along the row: output row `i` is row `i` of every source, in order
    /// (all sources have the same row count).
    Concat(Vec<Source>),
}

impl Recipe {
    /// Every source this recipe reads.
    pub fn sources(&self) -> Vec<&Source> {
        match self {
            Recipe::Rows(s) | Recipe::GatherRows { src: s, .. } => vec![s],
            Recipe::TransposeGroups { src, .. } => vec![src],
            Recipe::Stack(v) | Recipe::Concat(v) => v.iter().collect(),
        }
    }

    /// Output rows that must stay together in one work item (a transposed group is made in
    /// one piece).
    pub fn row_quantum(&self) -> u64 {
        match self {
            Recipe::TransposeGroups { cols, .. } => (*cols).max(1),
            _ => 1,
        }
    }
}

/// One output tensor before types and offsets are chosen.
#[derive(Clone, Debug)]
pub struct MappedTensor {
    /// GGUF name.
    pub name: String,
    /// Shape in ggml order (`ne[0]` = row length).
    pub ne: Vec<u64>,
    /// Where its data comes from.
    pub recipe: Recipe,
}

impl MappedTensor {
    /// Number of rows (`ne[1] × ne[2] × …`).
    pub fn n_rows(&self) -> u64 {
        self.ne.iter().skip(1).product()
    }
}
