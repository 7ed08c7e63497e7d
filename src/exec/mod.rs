//! The executor: fills the planned byte ranges with bounded memory on all cores.
//!
//! The plan is cut into work items (a whole small tensor, or a band of rows of a large one).
//! Worker threads take items in order, read their source bytes with positioned reads into
//! reused buffers, decode to f32, and encode to the output type. A single writer puts the
//! results out strictly in file order, so the same code writes a file, a split set, or a
//! pipe. At most a fixed window of items is in flight, so memory does not grow with the
//! model.

mod decode;
mod direct;
mod ops;
pub mod packed;

use crate::gguf::{DEFAULT_ALIGNMENT, pad_to};
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
        let quantum = t.recipe.row_quantum();
        // a transposed group is made in one piece
        let band = ((ITEM_ELEMENTS / ne0.max(1)).max(1) / quantum).max(1) * quantum;
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
pub(crate) struct Scratch {
    pub(crate) bytes: Vec<u8>,
    pub(crate) scale_bytes: Vec<u8>,
    pub(crate) scales: Vec<f32>,
    pub(crate) values: Vec<f32>,
    pub(crate) tmp: Vec<f32>,
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

/// Resizes `v` to `n` elements, reporting an allocation failure as an error instead of aborting.
pub(crate) fn grow<T: Clone>(v: &mut Vec<T>, n: usize, fill: T, what: &'static str) -> Result<()> {
    if n > v.len() {
        v.try_reserve(n - v.len()).map_err(|_| Error::OutOfMemory {
            bytes: (n * std::mem::size_of::<T>()) as u64,
            what,
        })?;
    }
    v.resize(n, fill);
    Ok(())
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
        for n in 0..threads {
            let tx = tx.clone();
            let (items, next, written, cv, stop, pool) =
                (&items, &next, &written, &cv, &stop, &pool);
            let spawned = std::thread::Builder::new()
                .name(format!("ds2gguf-{n}"))
                .spawn_scoped(s, move || {
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
            if let Err(e) = spawned {
                if n == 0 {
                    stop.store(true, Ordering::SeqCst);
                    return Err(Error::io("<threads>", e));
                }
                break; // fewer workers than asked for
            }
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
    if packed::repack_rows(
        &plan.checkpoint,
        t,
        it.row0,
        it.nrows,
        out,
        sc,
        drop_cache,
        &plan.scale_loss,
    )? || direct::direct_rows(&plan.checkpoint, t, it.row0, it.nrows, out, sc, drop_cache)?
    {
        return Ok(());
    }
    if ops::copy_raw_rows(&plan.checkpoint, t, it.row0, it.nrows, out, drop_cache)? {
        return Ok(());
    }
    let ne0 = t.info.ne[0];
    let n = (it.nrows * ne0) as usize;
    let mut values = std::mem::take(&mut sc.values);
    grow(&mut values, n, 0.0, "decoded rows")?;
    ops::fill_rows(
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
    grow(out, row_bytes * it.nrows as usize, 0, "encoded rows")?;
    if ne0 > 0 {
        for (k, (x, o)) in values
            .chunks_exact(ne0 as usize)
            .zip(out.chunks_exact_mut(row_bytes))
            .enumerate()
        {
            // importance weights of this row's expert (`--imatrix`)
            let qw = plan.imatrix.as_ref().and_then(|ip| {
                ip.row_weights(it.tensor, &t.info.name, &t.info.ne, it.row0 + k as u64)
            });
            quant::quantize_row_weighted(t.info.ty, x, qw, o);
        }
    }
    sc.values = values;
    Ok(())
}

#[cfg(test)]
mod tests;
