//! The `ds2gguf` command line: convert, plan, inspect, synth.

use clap::{Parser, Subcommand, ValueEnum};
use ds2gguf::arch::deepseek2::Layout;
use ds2gguf::exec::{self, ExecOptions, Sink};
use ds2gguf::plan::{self, ConvertOptions, Plan};
use ds2gguf::quant::preset::{OutType, TensorTypeOverride};
use ds2gguf::synth::{SynthDtype, SynthSpec};
use ds2gguf::{Error, Result, inspect};
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "ds2gguf",
    version,
    about = "Convert DeepSeek V2/V3-family Hugging Face checkpoints (BF16/F16/F32/FP8) to GGUF in one pass"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LayoutArg {
    /// llama.cpp's MLA layout (attn_k_b + attn_v_b)
    Mla,
    /// Ollama's layout (attn_kv_b whole, per-head KV metadata)
    Legacy,
}

#[derive(clap::Args, Clone)]
struct PlanArgs {
    /// Checkpoint directory (config.json, tokenizer files, *.safetensors)
    model_dir: PathBuf,
    /// Output type: f32, f16, bf16, q8_0, auto, or a llama-quantize preset (q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k)
    #[arg(long, default_value = "auto")]
    outtype: String,
    /// Attention layout
    #[arg(long, value_enum, default_value = "mla")]
    layout: LayoutArg,
    /// Pre-tokenizer name, when the tokenizer's is not recognised (e.g. deepseek-v3, deepseek-llm)
    #[arg(long)]
    pre: Option<String>,
    /// Per-tensor type override REGEX=TYPE (repeatable; first match wins)
    #[arg(long = "tensor-type", value_name = "REGEX=TYPE")]
    tensor_type: Vec<String>,
    /// Split output: at most this many bytes of tensor data per file (K/M/G/T, decimal)
    #[arg(long)]
    split_max_size: Option<String>,
    /// Split output: at most this many tensors per file
    #[arg(long)]
    split_max_tensors: Option<u64>,
    /// general.name (default: the model directory's name)
    #[arg(long)]
    name: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Convert a checkpoint to GGUF
    Convert {
        #[command(flatten)]
        args: PlanArgs,
        /// Output file, or - for standard output
        #[arg(short, long)]
        output: PathBuf,
        /// Worker threads (default: all cores)
        #[arg(long)]
        threads: Option<usize>,
        /// No progress bar or summary
        #[arg(short, long)]
        quiet: bool,
    },
    /// Check a checkpoint and show what convert would write, reading no tensor data
    Plan {
        #[command(flatten)]
        args: PlanArgs,
        /// Where the output would go (to check the directory and free space)
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
        /// List every output tensor
        #[arg(long)]
        tensors: bool,
    },
    /// Show a GGUF file's (or split set's) metadata and tensors
    Inspect {
        /// A .gguf file, or the first file of a split set
        file: PathBuf,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Write a synthetic DeepSeek-shaped checkpoint (for trying, testing, benchmarking)
    Synth {
        /// Directory to write
        dir: PathBuf,
        /// Preset shape: tiny (default), small, medium (≈7 GB, like the lab's), v3-slice (DeepSeek-V3 widths, 1 MoE layer), v3-full (all of DeepSeek-V3; use --sparse)
        #[arg(long, default_value = "tiny")]
        preset: String,
        /// V2-style model (softmax routing, no routing bias)
        #[arg(long)]
        v2: bool,
        /// V2-Lite-style attention (q_proj, no q_lora_rank)
        #[arg(long)]
        no_q_lora: bool,
        /// Storage: bf16, f16, f32, fp8
        #[arg(long, default_value = "bf16")]
        dtype: String,
        #[arg(long)]
        hidden: Option<u64>,
        #[arg(long)]
        layers: Option<u64>,
        #[arg(long)]
        dense_layers: Option<u64>,
        #[arg(long)]
        experts: Option<u64>,
        #[arg(long)]
        heads: Option<u64>,
        #[arg(long)]
        moe_ff: Option<u64>,
        #[arg(long)]
        vocab: Option<u64>,
        #[arg(long)]
        shards: Option<usize>,
        /// Leave out the MTP layer
        #[arg(long)]
        no_mtp: bool,
        /// Headers only: data is a hole that reads as zeros
        #[arg(long)]
        sparse: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    install_signal_handlers();
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Convert {
            args,
            output,
            threads,
            quiet,
        } => convert(&args, &output, threads, quiet),
        Cmd::Plan {
            args,
            output,
            json,
            tensors,
        } => plan_cmd(&args, output.as_deref(), json, tensors),
        Cmd::Inspect { file, json } => {
            let files = inspect::open_set(&file)?;
            let mut out = std::io::stdout().lock();
            let text = if json {
                serde_json::to_string_pretty(&inspect::render_json(&files)).unwrap_or_default()
                    + "\n"
            } else {
                inspect::render_text(&files)
            };
            out.write_all(text.as_bytes())
                .map_err(|e| Error::io("<stdout>", e))
        }
        Cmd::Synth {
            dir,
            preset,
            v2,
            no_q_lora,
            dtype,
            hidden,
            layers,
            dense_layers,
            experts,
            heads,
            moe_ff,
            vocab,
            shards,
            no_mtp,
            sparse,
            seed,
        } => {
            let mut s = synth_preset(&preset)?;
            s.v3 = !v2;
            if no_q_lora {
                s.q_lora = None;
            }
            s.dtype = match dtype.to_ascii_lowercase().as_str() {
                "bf16" => SynthDtype::Bf16,
                "f16" => SynthDtype::F16,
                "f32" => SynthDtype::F32,
                "fp8" => SynthDtype::Fp8,
                o => {
                    return Err(Error::Usage(format!(
                        "--dtype {o}: expected bf16, f16, f32 or fp8"
                    )));
                }
            };
            s.hidden = hidden.unwrap_or(s.hidden);
            s.layers = layers.unwrap_or(s.layers);
            s.dense_layers = dense_layers.unwrap_or(s.dense_layers).min(s.layers);
            s.experts = experts.unwrap_or(s.experts);
            s.experts_used = s.experts_used.min(s.experts.max(1));
            s.heads = heads.unwrap_or(s.heads);
            s.moe_ff = moe_ff.unwrap_or(s.moe_ff);
            s.vocab = vocab.unwrap_or(s.vocab);
            s.shards = shards.unwrap_or(s.shards);
            s.mtp = !no_mtp;
            s.sparse = sparse;
            s.seed = seed;
            let sum = ds2gguf::synth::write_checkpoint(&dir, &s)?;
            eprintln!(
                "wrote {} ({} tensors, {} of tensor data{})",
                dir.display(),
                sum.tensors,
                human(sum.data_bytes),
                if sparse { ", sparse" } else { "" }
            );
            Ok(())
        }
    }
}

fn synth_preset(name: &str) -> Result<SynthSpec> {
    let d = SynthSpec::default();
    // DeepSeek-V3's attention widths and vocabulary, shared by the large presets
    let v3_widths = SynthSpec {
        q_lora: Some(1536),
        kv_lora: 512,
        nope: 128,
        rope: 64,
        v: 128,
        vocab: 129280,
        ..SynthSpec::default()
    };
    Ok(match name {
        "tiny" => d,
        "small" => SynthSpec {
            hidden: 512,
            layers: 4,
            experts: 16,
            experts_used: 4,
            moe_ff: 256,
            ff: 1024,
            heads: 8,
            q_lora: Some(256),
            kv_lora: 128,
            nope: 64,
            rope: 32,
            v: 64,
            vocab: 4096,
            ..d
        },
        "medium" => SynthSpec {
            hidden: 2048,
            layers: 4,
            dense_layers: 1,
            experts: 64,
            experts_used: 6,
            moe_ff: 1408,
            ff: 10944,
            heads: 16,
            shards: 4,
            ..v3_widths
        },
        "v3-slice" => SynthSpec {
            hidden: 7168,
            layers: 2,
            dense_layers: 1,
            experts: 256,
            experts_used: 8,
            moe_ff: 2048,
            ff: 18432,
            heads: 128,
            shards: 8,
            ..v3_widths
        },
        "v3-full" => SynthSpec {
            layers: 61,
            dense_layers: 3,
            shards: 163,
            ..synth_preset("v3-slice")?
        },
        o => {
            return Err(Error::Usage(format!(
                "--preset {o}: expected tiny, small, medium, v3-slice or v3-full"
            )));
        }
    })
}

fn convert_options(a: &PlanArgs) -> Result<ConvertOptions> {
    let outtype = OutType::parse(&a.outtype).ok_or_else(|| {
        Error::Usage(format!(
            "--outtype {}: expected f32, f16, bf16, q8_0, auto, q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m or q6_k",
            a.outtype
        ))
    })?;
    let tensor_types = a
        .tensor_type
        .iter()
        .map(|s| {
            TensorTypeOverride::parse(s).map_err(|e| Error::Usage(format!("--tensor-type: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let split_max_size = match &a.split_max_size {
        Some(s) => Some(plan::parse_size(s).ok_or_else(|| {
            Error::Usage(format!(
                "--split-max-size {s}: expected a positive size such as 50G, 500M or 2000K"
            ))
        })?),
        None => None,
    };
    if a.split_max_tensors == Some(0) {
        return Err(Error::Usage(
            "--split-max-tensors must be at least 1".into(),
        ));
    }
    Ok(ConvertOptions {
        outtype,
        layout: match a.layout {
            LayoutArg::Mla => Layout::Mla,
            LayoutArg::Legacy => Layout::Legacy,
        },
        pre: a.pre.clone(),
        tensor_types,
        split_max_size,
        split_max_tensors: a.split_max_tensors,
        name: a.name.clone(),
    })
}

fn is_split(o: &ConvertOptions) -> bool {
    o.split_max_size.is_some() || o.split_max_tensors.is_some()
}

/// Checks that the output paths can be written: directory exists and is writable, no
/// output is one of the input files, there is room for the output.
fn check_destination(plan: &Plan, paths: &[PathBuf]) -> Result<()> {
    let mut inputs: Vec<PathBuf> = plan
        .checkpoint
        .shards
        .iter()
        .map(|s| s.path.clone())
        .collect();
    if let Ok(rd) = std::fs::read_dir(&plan.checkpoint.dir) {
        inputs.extend(rd.flatten().map(|e| e.path()));
    }
    let inputs: Vec<PathBuf> = inputs
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    for p in paths {
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let meta = std::fs::metadata(&parent)
            .map_err(|_| Error::bad_file(&parent, "output directory does not exist"))?;
        if !meta.is_dir() {
            return Err(Error::bad_file(
                &parent,
                "output directory is not a directory",
            ));
        }
        let cp = parent
            .canonicalize()
            .map_err(|e| Error::io(&parent, e))?
            .join(p.file_name().unwrap_or_default());
        if inputs.contains(&cp) {
            return Err(Error::bad_file(
                p,
                "output path is one of the input files; choose another name",
            ));
        }
        if p.is_dir() {
            return Err(Error::bad_file(p, "output path is a directory"));
        }
        // writable?
        let probe = parent.join(format!(".ds2gguf-probe-{}", std::process::id()));
        match File::create(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => {
                return Err(Error::bad_file(
                    &parent,
                    format!("output directory is not writable: {e}"),
                ));
            }
        }
    }
    if let Some(first) = paths.first() {
        let parent = first
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let Some(free) = free_space(parent) {
            let need = plan.output_bytes();
            if free < need {
                return Err(Error::bad_file(
                    parent,
                    format!(
                        "not enough free space: the output needs {} but only {} is free",
                        human(need),
                        human(free)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn free_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and st a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Writes each planned file under a temporary name, renamed into place only when all are complete.
struct FileSink {
    paths: Vec<PathBuf>,
    temps: Vec<PathBuf>,
    cur: Option<(File, usize)>,
}

impl FileSink {
    fn new(paths: Vec<PathBuf>) -> FileSink {
        let temps = paths
            .iter()
            .map(|p| {
                let mut s = p.as_os_str().to_owned();
                s.push(".partial");
                PathBuf::from(s)
            })
            .collect();
        FileSink {
            paths,
            temps,
            cur: None,
        }
    }
    fn commit(&mut self) -> Result<()> {
        for (t, p) in self.temps.iter().zip(&self.paths) {
            std::fs::rename(t, p).map_err(|e| Error::io(p, e))?;
        }
        Ok(())
    }
    fn abort(&mut self) {
        self.cur = None;
        for t in &self.temps {
            let _ = std::fs::remove_file(t);
        }
    }
}

impl Sink for FileSink {
    fn begin_file(&mut self, index: usize) -> Result<()> {
        let p = &self.temps[index];
        let f = File::create(p).map_err(|e| Error::io(p, e))?;
        self.cur = Some((f, index));
        Ok(())
    }
    fn write(&mut self, buf: &[u8]) -> Result<()> {
        if let Some((f, i)) = &mut self.cur {
            f.write_all(buf)
                .map_err(|e| Error::io(&self.paths[*i], e))?;
        }
        Ok(())
    }
    fn end_file(&mut self, _index: usize) -> Result<()> {
        self.cur = None;
        Ok(())
    }
}

struct StdoutSink(std::io::BufWriter<std::io::Stdout>);

impl Sink for StdoutSink {
    fn begin_file(&mut self, _: usize) -> Result<()> {
        Ok(())
    }
    fn write(&mut self, buf: &[u8]) -> Result<()> {
        self.0.write_all(buf).map_err(|e| Error::io("<stdout>", e))
    }
    fn end_file(&mut self, _: usize) -> Result<()> {
        self.0.flush().map_err(|e| Error::io("<stdout>", e))
    }
}

fn convert(args: &PlanArgs, output: &Path, threads: Option<usize>, quiet: bool) -> Result<()> {
    let t0 = Instant::now();
    let opts = convert_options(args)?;
    let to_stdout = output.as_os_str() == "-";
    if to_stdout && is_split(&opts) {
        return Err(Error::Usage(
            "split output cannot go to standard output (-o -)".into(),
        ));
    }
    if to_stdout && std::io::stdout().is_terminal() {
        return Err(Error::Usage(
            "refusing to write a binary GGUF to a terminal; redirect standard output".into(),
        ));
    }
    let plan = plan::make_plan(&args.model_dir, &opts)?;
    for w in &plan.warnings {
        if !quiet {
            eprintln!("warning: {w}");
        }
    }
    let paths = plan::output_paths(output, plan.files.len(), is_split(&opts));
    if !to_stdout {
        check_destination(&plan, &paths)?;
    }
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let total = plan.output_bytes();
    let bar = if !quiet && std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let progress = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    };
    let drop_input_cache = plan.input_bytes() > total_memory() / 2;
    let eopts = ExecOptions {
        threads,
        drop_input_cache,
        progress: &progress,
    };
    let res = if to_stdout {
        let mut sink = StdoutSink(std::io::BufWriter::with_capacity(
            1 << 20,
            std::io::stdout(),
        ));
        exec::execute(&plan, &mut sink, &eopts)
    } else {
        let mut sink = FileSink::new(paths.clone());
        let r = exec::execute(&plan, &mut sink, &eopts).and_then(|_| {
            if exec::CANCEL.load(Ordering::SeqCst) {
                Err(Error::Interrupted)
            } else {
                sink.commit()
            }
        });
        if r.is_err() {
            sink.abort();
        }
        r
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    res?;
    if !quiet {
        let secs = t0.elapsed().as_secs_f64();
        eprintln!(
            "wrote {} ({} file{}, {} tensors, {}) from {} of tensor data in {:.1}s ({}/s), peak memory {}",
            if to_stdout {
                "<stdout>".to_string()
            } else {
                paths[0].display().to_string()
            },
            plan.files.len(),
            if plan.files.len() == 1 { "" } else { "s" },
            plan.tensors.len(),
            human(total),
            human(plan.input_bytes()),
            secs,
            human((total as f64 / secs.max(1e-9)) as u64),
            human(peak_rss()),
        );
    }
    Ok(())
}

fn plan_cmd(args: &PlanArgs, output: Option<&Path>, json: bool, list: bool) -> Result<()> {
    let opts = convert_options(args)?;
    let t0 = Instant::now();
    let plan = match plan::make_plan(&args.model_dir, &opts) {
        Ok(p) => p,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string()})
                );
            }
            return Err(e);
        }
    };
    let mut problems: Vec<String> = Vec::new();
    let paths = output.map(|o| plan::output_paths(o, plan.files.len(), is_split(&opts)));
    if let Some(p) = &paths
        && let Err(e) = check_destination(&plan, p)
    {
        problems.push(e.to_string());
    }
    let mut warnings = plan.warnings.clone();
    if let Err(e) = ds2gguf::checkpoint::tokenizer::check_chat_template(&plan.tokenizer) {
        warnings.push(format!(
            "chat template does not render a sample conversation: {e}"
        ));
    }
    let mut by_type: std::collections::BTreeMap<&str, (usize, u64)> = Default::default();
    for t in &plan.tensors {
        let e = by_type.entry(t.info.ty.name()).or_default();
        e.0 += 1;
        e.1 += t.info.n_bytes();
    }
    let c = &plan.config;
    if json {
        let v = serde_json::json!({
            "ok": problems.is_empty(),
            "problems": problems,
            "warnings": warnings,
            "architecture": c.architecture,
            "outtype": plan.outtype.name(),
            "layers": c.n_layer, "experts": c.n_expert, "fp8": c.fp8.is_some(),
            "pre_tokenizer": plan.tokenizer.pre, "tokens": plan.tokenizer.n_tokens,
            "input_bytes": plan.input_bytes(), "output_bytes": plan.output_bytes(),
            "files": plan.files.iter().enumerate().map(|(i, f)| serde_json::json!({
                "path": paths.as_ref().map(|p| p[i].display().to_string()),
                "tensors": f.tensors.len(), "bytes": f.len()})).collect::<Vec<_>>(),
            "types": by_type.iter().map(|(k, (n, b))| serde_json::json!({"type": k, "tensors": n, "bytes": b})).collect::<Vec<_>>(),
            "tensors": if list { plan.tensors.iter().map(|t| serde_json::json!({"name": t.info.name, "type": t.info.ty.name(), "shape": t.info.ne, "file": t.file, "offset": t.info.offset, "bytes": t.info.n_bytes()})).collect::<Vec<_>>() } else { vec![] },
            "seconds": t0.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        let mut o = String::new();
        use std::fmt::Write as _;
        let _ = writeln!(
            o,
            "model       {} ({}, {} layers{}, {})",
            args.model_dir.display(),
            c.architecture,
            c.n_layer,
            c.n_expert
                .map(|e| format!(", {e} experts"))
                .unwrap_or_default(),
            if c.fp8.is_some() {
                "FP8 weights"
            } else {
                "unquantized weights"
            }
        );
        let _ = writeln!(
            o,
            "tokenizer   pre-tokenizer {}, {} tokens",
            plan.tokenizer.pre, plan.tokenizer.n_tokens
        );
        let _ = writeln!(
            o,
            "input       {} in {} shard(s), {} tensors",
            human(plan.input_bytes()),
            plan.checkpoint.shards.len(),
            plan.checkpoint.tensors.len()
        );
        let _ = writeln!(
            o,
            "output      {} as {}, {} tensors, {} file(s)",
            human(plan.output_bytes()),
            plan.outtype.name(),
            plan.tensors.len(),
            plan.files.len()
        );
        for (i, f) in plan.files.iter().enumerate() {
            let name = paths
                .as_ref()
                .map(|p| p[i].display().to_string())
                .unwrap_or_else(|| format!("file {}", i + 1));
            let _ = writeln!(
                o,
                "  {name}: {} tensors, {}",
                f.tensors.len(),
                human(f.len())
            );
        }
        let _ = writeln!(o, "types");
        for (k, (n, b)) in &by_type {
            let _ = writeln!(o, "  {k:<6} {n:>6} tensors {:>12}", human(*b));
        }
        if list {
            let _ = writeln!(o, "tensors");
            for t in &plan.tensors {
                let _ = writeln!(
                    o,
                    "  {:<40} {:<5} {:?}",
                    t.info.name,
                    t.info.ty.name(),
                    t.info.ne
                );
            }
        }
        for w in &warnings {
            let _ = writeln!(o, "warning     {w}");
        }
        for p in &problems {
            let _ = writeln!(o, "problem     {p}");
        }
        let _ = writeln!(
            o,
            "{}",
            if problems.is_empty() {
                "ok: convert would proceed"
            } else {
                "convert would stop"
            }
        );
        print!("{o}");
    }
    if let Some(p) = problems.into_iter().next() {
        return Err(Error::Usage(p));
    }
    Ok(())
}

fn human(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

fn total_memory() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGE_SIZE),
        )
    };
    (pages.max(0) as u64) * (size.max(0) as u64)
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

extern "C" fn on_signal(_: libc::c_int) {
    exec::CANCEL.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        // a file-size limit then shows up as a write error (EFBIG), cleaned up like a full disk
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
