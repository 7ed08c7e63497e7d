//! The `ds2gguf` command line: parses arguments and prints; everything else is the library.

use clap::{Parser, Subcommand};
use ds2gguf::arch::{ArchOptions, Layout, Mtp};
use ds2gguf::exec::ExecOptions;
use ds2gguf::output::{self, Destination};
use ds2gguf::plan::{self, ConvertOptions, preflight, report::Report};
use ds2gguf::quant::preset::{OutType, TensorTypeOverride};
use ds2gguf::synth::{SynthDtype, SynthFamily, SynthPreset};
use ds2gguf::util::{human_bytes, peak_rss, total_memory};
use ds2gguf::{Error, Result, inspect, signals};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "ds2gguf",
    version,
    about = "Convert DeepSeek-family Hugging Face checkpoints (BF16/F16/F32/FP8) to GGUF in one pass"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct PlanArgs {
    /// Checkpoint directory (config.json, tokenizer files, *.safetensors)
    model_dir: PathBuf,
    /// Output type: a float type, q8_0, auto (the source's 16-bit type), or a llama-quantize preset
    #[arg(long, default_value = "auto", ignore_case = true)]
    outtype: OutType,
    /// Attention layout
    #[arg(long, value_enum, default_value = "mla")]
    layout: Layout,
    /// Multi-token-prediction layers: keep (with the trunk), only (a draft file; `--mtp` alone),
    /// drop. Default: as llama.cpp's converter does for the architecture
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "only", value_name = "MODE")]
    mtp: Option<Mtp>,
    /// Leave MTP layers out (same as --mtp drop)
    #[arg(long, conflicts_with = "mtp")]
    no_mtp: bool,
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
    /// Importance matrix for the llama-quantize presets (llama-imatrix's GGUF or legacy .dat)
    #[arg(long, value_name = "FILE")]
    imatrix: Option<PathBuf>,
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
        /// Worker threads (default: all cores; at most 256)
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: Option<u16>,
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
    Synth(SynthArgs),
}

#[derive(clap::Args)]
struct SynthArgs {
    /// Directory to write
    dir: PathBuf,
    /// Preset shape
    #[arg(long, value_enum, default_value = "tiny")]
    preset: SynthPreset,
    /// Model family (default v3)
    #[arg(long, value_enum)]
    family: Option<SynthFamily>,
    /// Same as --family v2 (softmax routing, no routing bias)
    #[arg(long, conflicts_with = "family")]
    v2: bool,
    /// V2-Lite-style attention (q_proj, no q_lora_rank)
    #[arg(long)]
    no_q_lora: bool,
    /// Weight storage (default bf16; fp8 for the V4 presets)
    #[arg(long, value_enum, ignore_case = true)]
    dtype: Option<SynthDtype>,
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
    /// Write into a directory that is not empty (same-named files are replaced)
    #[arg(long)]
    force: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() {
    signals::install();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let text = e.render().to_string();
            let code = match e.kind() {
                // help and version go to stdout, and losing them is a failure
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => match out(&text) {
                    Ok(()) => 0,
                    Err(_) => 1,
                },
                _ => {
                    note(text.trim_end());
                    2
                }
            };
            std::process::exit(code);
        }
    };
    let code = match run(cli) {
        Ok(()) => 0,
        // the reader of our standard output went away (`… | head`): nothing more to say
        Err(Error::Io { path, source })
            if source.kind() == std::io::ErrorKind::BrokenPipe
                && path.as_os_str() == "<stdout>" =>
        {
            141
        }
        Err(e) => {
            note(&format!("error: {e}"));
            1
        }
    };
    std::process::exit(code);
}

/// Prints a line on standard error, best-effort: a closed or full stderr must not stop or fail
/// a conversion.
fn note(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{line}");
}

/// Writes `text` to standard output; an error (a closed pipe, a full disk) is reported as such.
fn out(text: &str) -> Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|_| o.flush())
        .map_err(|e| Error::io("<stdout>", e))
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
            let limits = if json {
                inspect::JSON_LIMITS
            } else {
                inspect::TEXT_LIMITS
            };
            let files = inspect::open_set(&file, limits)?;
            let text = if json {
                serde_json::to_string_pretty(&inspect::render_json(&files)).unwrap_or_default()
                    + "\n"
            } else {
                inspect::render_text(&files)
            };
            out(&text)
        }
        Cmd::Synth(a) => synth(a),
    }
}

fn synth(a: SynthArgs) -> Result<()> {
    let mut s = a.preset.spec();
    if a.v2 {
        s.family = SynthFamily::DeepseekV2;
    }
    if let Some(f) = a.family {
        f.adjust(&mut s);
    }
    if s.family == SynthFamily::DeepseekV4 && a.preset == SynthPreset::Tiny {
        s = ds2gguf::arch::deepseek4::synth::tiny_spec();
    }
    if a.no_q_lora {
        s.q_lora = None;
    }
    if let Some(d) = a.dtype {
        s.dtype = d;
    }
    s.hidden = a.hidden.unwrap_or(s.hidden);
    s.layers = a.layers.unwrap_or(s.layers);
    s.dense_layers = a.dense_layers.unwrap_or(s.dense_layers).min(s.layers);
    s.experts = a.experts.unwrap_or(s.experts);
    s.experts_used = s.experts_used.min(s.experts.max(1));
    s.heads = a.heads.unwrap_or(s.heads);
    s.moe_ff = a.moe_ff.unwrap_or(s.moe_ff);
    s.vocab = a.vocab.unwrap_or(s.vocab);
    s.shards = a.shards.unwrap_or(s.shards);
    if a.no_mtp {
        s.mtp = false;
    }
    s.sparse = a.sparse;
    s.force = a.force;
    s.seed = a.seed;
    let sum = ds2gguf::synth::write_checkpoint(&a.dir, &s)?;
    note(&format!(
        "wrote {} ({} tensors, {} of tensor data{})",
        a.dir.display(),
        sum.tensors,
        human_bytes(sum.data_bytes),
        if a.sparse { ", sparse" } else { "" }
    ));
    Ok(())
}

fn convert_options(a: &PlanArgs) -> Result<ConvertOptions> {
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
        outtype: a.outtype,
        arch: ArchOptions {
            layout: a.layout,
            mtp: match (a.no_mtp, a.mtp) {
                (true, _) => Mtp::Drop,
                (false, Some(m)) => m,
                (false, None) => Mtp::Default,
            },
        },
        pre: a.pre.clone(),
        tensor_types,
        split_max_size,
        split_max_tensors: a.split_max_tensors,
        name: a.name.clone(),
        imatrix: a.imatrix.clone(),
    })
}

fn convert(args: &PlanArgs, output: &Path, threads: Option<u16>, quiet: bool) -> Result<()> {
    let t0 = Instant::now();
    let opts = convert_options(args)?;
    let to_stdout = output.as_os_str() == "-";
    if to_stdout && opts.is_split() {
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
    if !quiet {
        for w in &plan.warnings {
            note(&format!("warning: {w}"));
        }
    }
    let dest = preflight::destination(&plan, output)?;
    if matches!(dest, Destination::Stream(_)) && opts.is_split() {
        return Err(Error::Usage(format!(
            "{}: split output needs regular files, not a device or FIFO",
            output.display()
        )));
    }
    let threads = threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get().min(256))
            .unwrap_or(1)
    });
    let total = plan.output_bytes();
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let progress = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    };
    let eopts = ExecOptions {
        threads,
        drop_input_cache: plan.input_bytes() > total_memory() / 2,
        progress: &progress,
    };
    let res = output::write(&plan, &dest, &eopts);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let notes = res?;
    if !quiet {
        for n in &notes {
            note(&format!("note: {n}"));
        }
        let loss = *plan.scale_loss.lock().unwrap_or_else(|e| e.into_inner());
        if loss.scales > 0 {
            note(&format!("note: {}", plan::repack::describe_loss(&loss)));
        }
        let secs = t0.elapsed().as_secs_f64();
        note(&format!(
            "wrote {} ({} file{}, {} tensors, {}) from {} of tensor data in {:.1}s ({}/s), peak memory {}",
            preflight::paths(&dest)[0].display(),
            plan.files.len(),
            if plan.files.len() == 1 { "" } else { "s" },
            plan.tensors.len(),
            human_bytes(total),
            human_bytes(plan.input_bytes()),
            secs,
            human_bytes((total as f64 / secs.max(1e-9)) as u64),
            human_bytes(peak_rss()),
        ));
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
                out(&format!(
                    "{}\n",
                    serde_json::json!({"ok": false, "error": e.to_string()})
                ))?;
            }
            return Err(e);
        }
    };
    let report = Report::new(&plan, output);
    if json {
        let v = report.to_json(list, t0.elapsed().as_secs_f64());
        out(&(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"))?;
    } else {
        out(&report.to_text(&args.model_dir, list))?;
    }
    if let Some(p) = report.problems.into_iter().next() {
        return Err(Error::Usage(p));
    }
    Ok(())
}
