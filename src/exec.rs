//! The executor: fills the planned byte ranges with bounded memory on all cores.
//!
//! The plan is cut into work items (a whole small tensor, or a band of rows of a large one).
//! Worker threads take items in order, read their source bytes with positioned reads into
//! reused buffers, decode to f32, and encode to the output type. A single writer puts the
//! results out strictly in file order, so the same code writes a file, a split set, or a
//! pipe. At most a fixed window of items is in flight, so memory does not grow with the
//! model.

use crate::arch::deepseek2::{Source, SrcRef};
use crate::checkpoint::safetensors::{Checkpoint, Dtype};
use crate::gguf::{DEFAULT_ALIGNMENT, GgmlType, pad_to};
use crate::plan::{Plan, PlannedTensor};
use crate::quant::{self, float};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

/// Set by the SIGINT/SIGTERM handler (or by a caller) to stop the conversion.
pub static CANCEL: AtomicBool = AtomicBool::new(false);

/// Elements of f32 working space one item may use (8 MiB of f32).
const ITEM_ELEMENTS: u64 = 1 << 21;

/// One unit of work: rows `row0..row0+nrows` of tensor `tensor`.
#[derive(Clone, Copy, Debug)]
pub struct WorkItem {
    /// Index into [`Plan::tensors`].
    pub tensor: usize,
    /// First output row.
    pub row0: u64,
    /// Number of rows.
    pub nrows: u64,
    /// True for the tensor's last item (padding follows it).
    pub last: bool,
}

/// Cuts every tensor of the plan into work items, in output order.
pub fn work_items(plan: &Plan) -> Vec<WorkItem> {
    let mut items = Vec::new();
    for (ti, t) in plan.tensors.iter().enumerate() {
        let ne0 = t.info.ne[0];
        let nrows: u64 = t.info.ne.iter().skip(1).product();
        let mut band = (ITEM_ELEMENTS / ne0.max(1)).max(1);
        if let Source::KvbK { rank, .. } = &t.source {
            // whole heads: each head is a transpose of a nope×rank block
            band = (band / rank).max(1) * rank;
        }
        let mut r = 0;
        while r < nrows {
            let n = band.min(nrows - r);
            items.push(WorkItem {
                tensor: ti,
                row0: r,
                nrows: n,
                last: r + n == nrows,
            });
            r += n;
        }
        if nrows == 0 {
            items.push(WorkItem {
                tensor: ti,
                row0: 0,
                nrows: 0,
                last: true,
            });
        }
    }
    items
}

/// Where the output bytes go, strictly in order.
pub trait Sink {
    /// Starts output file `index` of the plan.
    fn begin_file(&mut self, index: usize) -> Result<()>;
    /// Appends bytes to the current file.
    fn write(&mut self, buf: &[u8]) -> Result<()>;
    /// Finishes the current file.
    fn end_file(&mut self, index: usize) -> Result<()>;
}

/// Per-thread reusable buffers.
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    scale_bytes: Vec<u8>,
    scales: Vec<f32>,
    values: Vec<f32>,
    tmp: Vec<f32>,
}

/// Options for [`execute`].
pub struct ExecOptions<'a> {
    /// Worker threads.
    pub threads: usize,
    /// Drop consumed input from the page cache (`posix_fadvise(DONTNEED)`).
    pub drop_input_cache: bool,
    /// Called with the number of output bytes just written.
    pub progress: &'a (dyn Fn(u64) + Sync),
}

fn cancelled() -> bool {
    CANCEL.load(Ordering::Relaxed)
}

/// Runs the plan, writing every file through `sink`.
pub fn execute(plan: &Plan, sink: &mut dyn Sink, opts: &ExecOptions) -> Result<()> {
    let items = work_items(plan);
    let threads = opts.threads.max(1);
    let window = threads * 3;
    let next = AtomicUsize::new(0);
    let written = Mutex::new(0usize);
    let cv = Condvar::new();
    let stop = AtomicBool::new(false);
    let pool: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    let (tx, rx) = mpsc::channel::<(usize, Result<Vec<u8>>)>();

    std::thread::scope(|s| -> Result<()> {
        for _ in 0..threads {
            let tx = tx.clone();
            let (items, next, written, cv, stop, pool) =
                (&items, &next, &written, &cv, &stop, &pool);
            s.spawn(move || {
                let mut scratch = Scratch::default();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= items.len() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    {
                        let mut w = written.lock().unwrap_or_else(|e| e.into_inner());
                        while i >= *w + window && !stop.load(Ordering::Relaxed) {
                            w = cv.wait(w).unwrap_or_else(|e| e.into_inner());
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut buf = pool
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .pop()
                        .unwrap_or_default();
                    let res = if cancelled() {
                        Err(Error::Interrupted)
                    } else {
                        produce(
                            plan,
                            &items[i],
                            &mut scratch,
                            &mut buf,
                            opts.drop_input_cache,
                        )
                        .map(|_| buf)
                    };
                    let failed = res.is_err();
                    if tx.send((i, res)).is_err() || failed {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let result = write_in_order(plan, &items, sink, &rx, &written, &cv, &pool, opts);
        if result.is_err() {
            stop.store(true, Ordering::SeqCst);
            cv.notify_all();
        }
        result
    })
}

#[allow(clippy::too_many_arguments)]
fn write_in_order(
    plan: &Plan,
    items: &[WorkItem],
    sink: &mut dyn Sink,
    rx: &mpsc::Receiver<(usize, Result<Vec<u8>>)>,
    written: &Mutex<usize>,
    cv: &Condvar,
    pool: &Mutex<Vec<Vec<u8>>>,
    opts: &ExecOptions,
) -> Result<()> {
    let zeros = [0u8; DEFAULT_ALIGNMENT as usize];
    let mut pending: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    let mut done = 0usize;
    let mut cur_file: Option<usize> = None;
    let start_file = |sink: &mut dyn Sink, f: usize| -> Result<()> {
        sink.begin_file(f)?;
        let h = &plan.files[f].header;
        sink.write(h)?;
        (opts.progress)(h.len() as u64);
        Ok(())
    };
    // files with no tensors still need a header
    let mut next_file_to_open = 0usize;
    while done < items.len() {
        let (i, res) = match rx.recv() {
            Ok(x) => x,
            Err(_) => return Err(Error::Interrupted),
        };
        pending.insert(i, res?);
        while let Some(buf) = pending.remove(&done) {
            if cancelled() {
                return Err(Error::Interrupted);
            }
            let it = items[done];
            let t = &plan.tensors[it.tensor];
            if cur_file != Some(t.file) {
                if let Some(f) = cur_file {
                    sink.end_file(f)?;
                }
                while next_file_to_open < t.file {
                    // empty files between (only with --split-max-tensors 0, never planned)
                    start_file(sink, next_file_to_open)?;
                    sink.end_file(next_file_to_open)?;
                    next_file_to_open += 1;
                }
                start_file(sink, t.file)?;
                next_file_to_open = t.file + 1;
                cur_file = Some(t.file);
            }
            sink.write(&buf)?;
            let mut n = buf.len() as u64;
            if it.last {
                let nb = t.info.n_bytes();
                let pad = (pad_to(nb, DEFAULT_ALIGNMENT) - nb) as usize;
                sink.write(&zeros[..pad])?;
                n += pad as u64;
            }
            (opts.progress)(n);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(buf);
            done += 1;
            *written.lock().unwrap_or_else(|e| e.into_inner()) = done;
            cv.notify_all();
        }
    }
    if let Some(f) = cur_file {
        sink.end_file(f)?;
    }
    while next_file_to_open < plan.files.len() {
        start_file(sink, next_file_to_open)?;
        sink.end_file(next_file_to_open)?;
        next_file_to_open += 1;
    }
    Ok(())
}

/// Computes one item's output bytes into `out`.
fn produce(
    plan: &Plan,
    it: &WorkItem,
    sc: &mut Scratch,
    out: &mut Vec<u8>,
    drop_cache: bool,
) -> Result<()> {
    let t: &PlannedTensor = &plan.tensors[it.tensor];
    if copy_raw_rows(&plan.checkpoint, t, it.row0, it.nrows, out, drop_cache)? {
        return Ok(());
    }
    let ne0 = t.info.ne[0];
    let n = (it.nrows * ne0) as usize;
    let mut values = std::mem::take(&mut sc.values);
    values.resize(n, 0.0);
    fill_rows(
        &plan.checkpoint,
        t,
        it.row0,
        it.nrows,
        &mut values,
        sc,
        drop_cache,
    )?;
    if t.round_bf16 {
        for v in values.iter_mut() {
            *v = float::round_to_bf16(*v);
        }
    }
    let row_bytes = t
        .info
        .ty
        .row_bytes(ne0)
        .expect("planned types fit their rows") as usize;
    out.clear();
    out.resize(row_bytes * it.nrows as usize, 0);
    if ne0 > 0 {
        for (x, o) in values
            .chunks_exact(ne0 as usize)
            .zip(out.chunks_exact_mut(row_bytes))
        {
            quant::quantize_row(t.info.ty, x, o);
        }
    }
    sc.values = values;
    Ok(())
}

/// Contiguous runs of source rows that make up output rows `row0..row0+nrows` of a tensor
/// whose rows are plain source rows (everything but `attn_k_b`, which is a transpose):
/// `(source, first source row, row count)` in output order.
fn row_segments(t: &PlannedTensor, row0: u64, nrows: u64) -> Vec<(&SrcRef, u64, u64)> {
    let mut segs = Vec::new();
    let end = row0 + nrows;
    let mut r = row0;
    match &t.source {
        Source::Rows(src) => segs.push((src, row0, nrows)),
        Source::Stack(refs) => {
            let rpe = t.info.ne[1];
            while r < end {
                let within = r % rpe;
                let n = (rpe - within).min(end - r);
                segs.push((&refs[(r / rpe) as usize], within, n));
                r += n;
            }
        }
        Source::KvbV { src, nope, v, .. } => {
            while r < end {
                let (h, j) = (r / v, r % v);
                let n = (v - j).min(end - r);
                segs.push((src, h * (nope + v) + nope + j, n));
                r += n;
            }
        }
        Source::KvbK { .. } => {}
    }
    segs
}

/// Copies output rows straight from the source bytes when the output type is the source's
/// own 16/32-bit type and no value changes (no FP8 scale, no bf16 rounding, no transpose).
/// bf16 NaNs are left to the decoding path, which quiets them as llama.cpp does. Returns
/// false when the fast path does not apply.
fn copy_raw_rows(
    ck: &Checkpoint,
    t: &PlannedTensor,
    row0: u64,
    nrows: u64,
    out: &mut Vec<u8>,
    drop_cache: bool,
) -> Result<bool> {
    if t.round_bf16 || matches!(t.source, Source::KvbK { .. }) {
        return Ok(false);
    }
    let segs = row_segments(t, row0, nrows);
    let same = |s: &SrcRef| {
        let e = &ck.tensors[s.tensor];
        s.scale.is_none()
            && matches!(
                (&e.dtype, t.info.ty),
                (Dtype::F32, GgmlType::F32)
                    | (Dtype::F16, GgmlType::F16)
                    | (Dtype::BF16, GgmlType::BF16)
            )
    };
    if !segs.iter().all(|(s, _, _)| same(s)) {
        return Ok(false);
    }
    let row_bytes = t.info.ty.row_bytes(t.info.ne[0]).unwrap_or(0) as usize;
    out.clear();
    out.resize(row_bytes * nrows as usize, 0);
    let mut o = 0usize;
    for (src, r, n) in segs {
        let e = &ck.tensors[src.tensor];
        let shard = ck.shard_of(e);
        let len = n as usize * row_bytes;
        let pos = e.start + r * row_bytes as u64;
        shard.read_at(&mut out[o..o + len], pos)?;
        if drop_cache {
            shard.dont_need(pos, len as u64);
        }
        o += len;
    }
    if t.info.ty == GgmlType::BF16
        && out
            .chunks_exact(2)
            .any(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7fff > 0x7f80)
    {
        return Ok(false);
    }
    Ok(true)
}

/// Decodes output rows `row0..row0+nrows` of `t` into `out` (f32, row-major).
fn fill_rows(
    ck: &Checkpoint,
    t: &PlannedTensor,
    row0: u64,
    nrows: u64,
    out: &mut [f32],
    sc: &mut Scratch,
    drop_cache: bool,
) -> Result<()> {
    let ne0 = t.info.ne[0] as usize;
    match &t.source {
        Source::Rows(_) | Source::Stack(_) | Source::KvbV { .. } => {
            let mut o = 0usize;
            for (src, r, n) in row_segments(t, row0, nrows) {
                let len = n as usize * ne0;
                read_rows(ck, src, r, n, &mut out[o..o + len], sc, drop_cache)?;
                o += len;
            }
            Ok(())
        }
        Source::KvbK {
            src, nope, v, rank, ..
        } => {
            let (nope_u, rank_u) = (*nope as usize, *rank as usize);
            debug_assert_eq!(row0 % rank, 0);
            let mut tmp = std::mem::take(&mut sc.tmp);
            tmp.resize(nope_u * rank_u, 0.0);
            for (k, h) in (row0 / rank..(row0 + nrows) / rank).enumerate() {
                read_rows(ck, src, h * (nope + v), *nope, &mut tmp, sc, drop_cache)?;
                let dst = &mut out[k * rank_u * nope_u..(k + 1) * rank_u * nope_u];
                for c in 0..rank_u {
                    for d in 0..nope_u {
                        dst[c * nope_u + d] = tmp[d * rank_u + c];
                    }
                }
            }
            sc.tmp = tmp;
            Ok(())
        }
    }
}

/// Reads rows `row0..row0+nrows` of a checkpoint tensor (row = its last dimension) and
/// decodes them to f32, applying the FP8 block scale when there is one.
fn read_rows(
    ck: &Checkpoint,
    src: &SrcRef,
    row0: u64,
    nrows: u64,
    out: &mut [f32],
    sc: &mut Scratch,
    drop_cache: bool,
) -> Result<()> {
    let t = &ck.tensors[src.tensor];
    let shard = ck.shard_of(t);
    let cols = if t.shape.len() <= 1 {
        t.n_elements()
    } else {
        *t.shape.last().unwrap_or(&1)
    };
    let bpe = t.dtype.bits().unwrap_or(8) / 8;
    let pos = t.start + row0 * cols * bpe;
    let len = (nrows * cols * bpe) as usize;
    sc.bytes.resize(len, 0);
    shard.read_at(&mut sc.bytes, pos)?;
    if drop_cache {
        shard.dont_need(pos, len as u64);
    }
    let b = &sc.bytes;
    debug_assert_eq!(out.len(), (nrows * cols) as usize);
    match t.dtype {
        Dtype::F32 | Dtype::BF16 | Dtype::F16 => {
            decode_floats(&t.dtype, b, out);
        }
        Dtype::F8E4M3 => {
            let Some(si) = src.scale else {
                return Err(Error::bad_tensor(
                    &shard.path,
                    &t.name,
                    "FP8 weight without a scale",
                ));
            };
            let s = &ck.tensors[si];
            let block = src.block;
            let scols = s.shape[1];
            let sr0 = row0 / block.0;
            let sr1 = (row0 + nrows).div_ceil(block.0);
            let sbpe = s.dtype.bits().unwrap_or(8) / 8;
            let slen = ((sr1 - sr0) * scols * sbpe) as usize;
            sc.scale_bytes.resize(slen, 0);
            ck.shard_of(s)
                .read_at(&mut sc.scale_bytes, s.start + sr0 * scols * sbpe)?;
            sc.scales.resize(((sr1 - sr0) * scols) as usize, 0.0);
            let sb = &sc.scale_bytes;
            if !decode_floats(&s.dtype, sb, &mut sc.scales) {
                return Err(Error::bad_tensor(
                    &ck.shard_of(s).path,
                    &s.name,
                    "unsupported scale dtype",
                ));
            }
            let cols_u = cols as usize;
            let bc = block.1 as usize;
            for (ri, (orow, brow)) in out
                .chunks_exact_mut(cols_u)
                .zip(b.chunks_exact(cols_u))
                .enumerate()
            {
                let srow = ((row0 + ri as u64) / block.0 - sr0) as usize;
                let scales = &sc.scales[srow * scols as usize..(srow + 1) * scols as usize];
                float::fp8_block_row(brow, scales, bc, orow);
            }
        }
        _ => {
            return Err(Error::bad_tensor(
                &shard.path,
                &t.name,
                format!("dtype {} cannot be converted", t.dtype.name()),
            ));
        }
    }
    Ok(())
}

/// Decodes little-endian F32, BF16, F16 or E8M0 values; false for any other dtype.
fn decode_floats(dtype: &Dtype, bytes: &[u8], out: &mut [f32]) -> bool {
    match dtype {
        Dtype::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Dtype::BF16 => float::bf16_bytes_to_f32(bytes, out),
        Dtype::F16 => float::f16_bytes_to_f32(bytes, out),
        Dtype::F8E8M0 => {
            for (o, c) in out.iter_mut().zip(bytes) {
                *o = float::e8m0_to_f32(*c);
            }
        }
        _ => return false,
    }
    true
}
