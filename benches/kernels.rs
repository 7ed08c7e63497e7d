//! Per-core speed of the quantizers and decoders, portable scalar code against every vectorised
//! instruction set the CPU supports.
//!
//!     cargo bench --bench kernels [-- FILTER...] [--time SECONDS] [--reps N] [--isa NAME] [--wall]
//!
//! One thread. Each line is the median of `--reps` runs (default 5) of at least `--time`
//! seconds (default 0.3) each, over 32 rows of 7168 elements (DeepSeek-V3's hidden size) of
//! normally distributed weights, in elements (input values) per second of the thread's own
//! CPU time (`CLOCK_THREAD_CPUTIME_ID`), so that other processes on a shared machine do not
//! count; `--wall` uses wall-clock time instead.

use ds2gguf::gguf::GgmlType;
use ds2gguf::quant::{self, Isa, float};
use std::hint::black_box;

/// Seconds of CPU time of the calling thread, or of wall-clock time with `wall`.
fn now(wall: bool) -> f64 {
    if wall {
        static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        return T0
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs_f64();
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

const NE0: usize = 7168;
const ROWS: usize = 32;

fn gaussian(n: usize, seed: u64, sigma: f32) -> Vec<f32> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        ((s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let u1 = next().max(1e-300);
            let u2 = next();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32 * sigma
        })
        .collect()
}

struct Opts {
    filters: Vec<String>,
    time: f64,
    reps: usize,
    wall: bool,
    isa: Option<Isa>,
}

fn opts() -> Opts {
    let mut o = Opts {
        filters: Vec::new(),
        time: 0.3,
        reps: 5,
        wall: false,
        isa: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--time" => o.time = args.next().and_then(|v| v.parse().ok()).unwrap_or(o.time),
            "--reps" => o.reps = args.next().and_then(|v| v.parse().ok()).unwrap_or(o.reps),
            "--wall" => o.wall = true,
            "--isa" => o.isa = args.next().and_then(|v| Isa::from_name(&v)),
            "--bench" => {}
            s if s.starts_with("--") => {}
            s => o.filters.push(s.to_lowercase()),
        }
    }
    o
}

/// Median elements per second of `f`, which processes `elems` elements per call.
fn measure(o: &Opts, elems: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let mut rates = Vec::new();
    for _ in 0..o.reps {
        let t = now(o.wall);
        let mut calls = 0u64;
        while now(o.wall) - t < o.time {
            f();
            calls += 1;
        }
        rates.push(calls as f64 * elems as f64 / (now(o.wall) - t));
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    rates[rates.len() / 2]
}

fn report(name: &str, isa: &str, rate: f64, scalar: f64) {
    println!(
        "{name:<12} {isa:<8} {:>9.1} M elem/s  {:>6.2}x",
        rate / 1e6,
        rate / scalar
    );
}

fn main() {
    let o = opts();
    let wanted = |name: &str| o.filters.is_empty() || o.filters.iter().any(|f| name.contains(f));
    let isas: Vec<Isa> = Isa::supported()
        .into_iter()
        .filter(|i| o.isa.is_none_or(|only| only == *i || *i == Isa::Scalar))
        .collect();
    println!(
        "kernels: {} rows x {NE0}, one thread, median of {} x {:.1} s of {} time; ISAs {:?}",
        ROWS,
        o.reps,
        o.time,
        if o.wall { "wall-clock" } else { "thread CPU" },
        isas.iter().map(|i| i.name()).collect::<Vec<_>>()
    );
    let x = gaussian(NE0 * ROWS, 0x5eed, 0.02);
    for ty in [
        GgmlType::Q8_0,
        GgmlType::Q6_K,
        GgmlType::Q5_K,
        GgmlType::Q4_K,
        GgmlType::Q3_K,
        GgmlType::Q2_K,
    ] {
        let name = ty.to_string().to_lowercase();
        if !wanted(&name) {
            continue;
        }
        let rb = ty.row_bytes(NE0 as u64).unwrap() as usize;
        let mut out = vec![0u8; rb * ROWS];
        let mut scalar = 0.0;
        for &isa in &isas {
            let rate = measure(&o, x.len(), || {
                for (xr, or) in x.chunks_exact(NE0).zip(out.chunks_exact_mut(rb)) {
                    quant::quantize_row_isa(isa, ty, black_box(xr), or);
                }
                black_box(&out);
            });
            if isa == Isa::Scalar {
                scalar = rate;
            }
            report(&name, isa.name(), rate, scalar);
        }
    }

    if wanted("fp8") {
        // FP8 e4m3fn codes with 128-column block scales, as in DeepSeek-V3's checkpoints
        let codes: Vec<u8> = (0..NE0 * ROWS)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8 & 0xfe)
            .collect();
        let scales = gaussian(NE0 / 128, 7, 1e-3);
        let mut out = vec![0f32; NE0 * ROWS];
        let mut scalar = 0.0;
        for &isa in &isas {
            let rate = measure(&o, codes.len(), || {
                for (c, y) in codes.chunks_exact(NE0).zip(out.chunks_exact_mut(NE0)) {
                    if isa == Isa::Scalar {
                        float::fp8_block_row_scalar(black_box(c), &scales, 128, y);
                    } else {
                        float::fp8_block_row_isa(isa, black_box(c), &scales, 128, y);
                    }
                }
                black_box(&out);
            });
            if isa == Isa::Scalar {
                scalar = rate;
            }
            report("fp8->f32", isa.name(), rate, scalar);
        }
    }

    if wanted("bf16") {
        let data: Vec<u8> = x
            .iter()
            .flat_map(|v| float::f32_to_bf16_bits(*v).to_le_bytes())
            .collect();
        let mut out = vec![0f32; x.len()];
        let mut scalar = 0.0;
        for &isa in &isas {
            let rate = measure(&o, x.len(), || {
                if isa == Isa::Scalar {
                    float::bf16_bytes_to_f32_scalar(black_box(&data), &mut out);
                } else {
                    float::bf16_bytes_to_f32_isa(isa, black_box(&data), &mut out);
                }
                black_box(&out);
            });
            if isa == Isa::Scalar {
                scalar = rate;
            }
            report("bf16->f32", isa.name(), rate, scalar);
        }
    }
}
