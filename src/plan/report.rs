//! The `plan` report: what convert would write and every problem found, as text or JSON.

use super::{Plan, output_paths, preflight};
use crate::checkpoint::config::Quantization;
use crate::checkpoint::tokenizer;
use crate::util::human_bytes;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A plan checked against its destination, ready to print.
pub struct Report<'p> {
    /// The plan.
    pub plan: &'p Plan,
    /// The output files, when a destination was given.
    pub paths: Option<Vec<PathBuf>>,
    /// What would stop convert.
    pub problems: Vec<String>,
    /// What convert would warn about.
    pub warnings: Vec<String>,
    /// The tensors repacked from INT4 groups into Q4_0.
    pub repack: super::repack::RepackSummary,
}

impl<'p> Report<'p> {
    /// Checks `plan` (and the destination `output`, if given) and collects its warnings.
    pub fn new(plan: &'p Plan, output: Option<&Path>) -> Report<'p> {
        let paths = output.map(|o| output_paths(o, plan.files.len(), plan.options.is_split()));
        let mut problems = Vec::new();
        if let Some(o) = output
            && let Err(e) = preflight::destination(plan, o)
        {
            problems.push(e.to_string());
        }
        let mut warnings = plan.warnings.clone();
        if let Err(e) = tokenizer::check_chat_template(&plan.tokenizer) {
            warnings.push(format!(
                "the chat template does not render a sample conversation: {e}"
            ));
        }
        let repack = match super::repack::summary(plan, super::repack::SCAN_LIMIT) {
            Ok(r) => r,
            Err(e) => {
                problems.push(e.to_string());
                Default::default()
            }
        };
        if let Some(l) = &repack.loss
            && l.inexact > 0
        {
            warnings.push(super::repack::describe_loss(l));
        }
        Report {
            plan,
            paths,
            problems,
            warnings,
            repack,
        }
    }

    /// True when convert would proceed.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Tensor count and bytes per output type.
    fn by_type(&self) -> BTreeMap<&'static str, (usize, u64)> {
        let mut by_type: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
        for t in &self.plan.tensors {
            let e = by_type.entry(t.info.ty.name()).or_default();
            e.0 += 1;
            e.1 += t.info.n_bytes();
        }
        by_type
    }

    fn file_name(&self, i: usize) -> Option<String> {
        self.paths.as_ref().map(|p| p[i].display().to_string())
    }

    /// The report as JSON; `list` adds every tensor, `seconds` is how long planning took.
    pub fn to_json(&self, list: bool, seconds: f64) -> serde_json::Value {
        let plan = self.plan;
        let model = plan.model.as_ref();
        let facts: serde_json::Map<String, serde_json::Value> = model
            .facts()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        json!({
            "ok": self.ok(),
            "problems": self.problems,
            "warnings": self.warnings,
            "repacked_q4_0": {
                "tensors": self.repack.tensors,
                "scales": self.repack.loss.map(|l| l.scales),
                "scales_inexact_f16": self.repack.loss.map(|l| l.inexact),
                "worst_relative_error": self.repack.loss.map(|l| l.worst_rel),
            },
            "architecture": model.config().architecture,
            "gguf_architecture": model.arch(),
            "outtype": plan.outtype.name(),
            "layers": facts.get("layers"),
            "experts": facts.get("experts"),
            "fp8": matches!(model.config().quantization, Quantization::Fp8(_)),
            "model": facts,
            "pre_tokenizer": plan.tokenizer.pre, "tokens": plan.tokenizer.n_tokens,
            "input_bytes": plan.input_bytes(), "output_bytes": plan.output_bytes(),
            "files": plan.files.iter().enumerate().map(|(i, f)| json!({
                "path": self.file_name(i),
                "tensors": f.tensors.len(), "bytes": f.len()})).collect::<Vec<_>>(),
            "types": self.by_type().iter().map(|(k, (n, b))| json!({"type": k, "tensors": n, "bytes": b})).collect::<Vec<_>>(),
            "tensors": if list {
                plan.tensors.iter().map(|t| json!({"name": t.info.name, "type": t.info.ty.name(), "shape": t.info.ne, "file": t.file, "offset": t.info.offset, "bytes": t.info.n_bytes()})).collect::<Vec<_>>()
            } else {
                vec![]
            },
            "imatrix": self.imatrix_json(),
            "seconds": seconds,
        })
    }

    /// The `--imatrix` coverage: entries, and quantized tensors with full, partial or no data.
    fn imatrix_json(&self) -> serde_json::Value {
        let Some(ip) = &self.plan.imatrix else {
            return serde_json::Value::Null;
        };
        let names: Vec<&str> = self
            .plan
            .tensors
            .iter()
            .map(|t| t.info.name.as_str())
            .collect();
        let c = ip.coverage(&names);
        let m = &ip.matrix;
        json!({
            "file": m.path.display().to_string(),
            "format": if m.legacy { "legacy" } else { "gguf" },
            "entries": m.entries.len(), "datasets": m.datasets, "chunks": m.chunk_count,
            "full": c.full, "partial": c.partial, "none": c.none, "unused_entries": c.unused_entries,
            "partial_tensors": self.plan.tensors.iter().zip(&ip.tensors)
                .filter_map(|(t, i)| match i {
                    crate::imatrix::TensorImportance::Partial { empty, slices } =>
                        Some(json!({"name": t.info.name, "experts_without_data": empty, "experts": slices})),
                    _ => None,
                }).collect::<Vec<_>>(),
            "tensors_without_data": self.plan.tensors.iter().zip(&ip.tensors)
                .filter(|(_, i)| matches!(i, crate::imatrix::TensorImportance::NoEntry
                    | crate::imatrix::TensorImportance::SizeMismatchIgnored { .. }))
                .map(|(t, _)| t.info.name.clone()).collect::<Vec<_>>(),
        })
    }

    /// The report as text; `list` adds every tensor.
    pub fn to_text(&self, model_dir: &Path, list: bool) -> String {
        let plan = self.plan;
        let model = plan.model.as_ref();
        let mut o = String::new();
        let _ = writeln!(
            o,
            "model       {} ({} → {})",
            model_dir.display(),
            model.config().architecture,
            model.arch()
        );
        for (k, v) in model.facts() {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            let _ = writeln!(o, "  {k:<14} {v}");
        }
        let _ = writeln!(
            o,
            "tokenizer   pre-tokenizer {}, {} tokens",
            plan.tokenizer.pre, plan.tokenizer.n_tokens
        );
        let _ = writeln!(
            o,
            "input       {} in {} shard(s), {} tensors",
            human_bytes(plan.input_bytes()),
            plan.checkpoint.shards.len(),
            plan.checkpoint.tensors.len()
        );
        let _ = writeln!(
            o,
            "output      {} as {}, {} tensors, {} file(s)",
            human_bytes(plan.output_bytes()),
            plan.outtype.name(),
            plan.tensors.len(),
            plan.files.len()
        );
        for (i, f) in plan.files.iter().enumerate() {
            let name = self
                .file_name(i)
                .unwrap_or_else(|| format!("file {}", i + 1));
            let _ = writeln!(
                o,
                "  {name}: {} tensors, {}",
                f.tensors.len(),
                human_bytes(f.len())
            );
        }
        if let Some(ip) = &plan.imatrix {
            let names: Vec<&str> = plan.tensors.iter().map(|t| t.info.name.as_str()).collect();
            let c = ip.coverage(&names);
            let _ = writeln!(
                o,
                "imatrix     {} ({}, {} entries, {} chunks): {} tensors with full data, {} partial, {} without ({} entries unused)",
                ip.matrix.path.display(),
                if ip.matrix.legacy { "legacy" } else { "gguf" },
                ip.matrix.entries.len(),
                ip.matrix.chunk_count,
                c.full,
                c.partial,
                c.none,
                c.unused_entries
            );
        }
        let _ = writeln!(o, "types");
        for (k, (n, b)) in &self.by_type() {
            let _ = writeln!(o, "  {k:<6} {n:>6} tensors {:>12}", human_bytes(*b));
        }
        if !self.repack.tensors.is_empty() {
            let _ = writeln!(
                o,
                "repacked    {} tensor(s) written as Q4_0 straight from their INT4 groups (no rounding):",
                self.repack.tensors.len()
            );
            for n in &self.repack.tensors {
                let _ = writeln!(o, "  {n}");
            }
            let _ = match &self.repack.loss {
                Some(l) => writeln!(o, "  {}", super::repack::describe_loss(l)),
                None => writeln!(
                    o,
                    "  the f16 exactness of their scales is measured while converting"
                ),
            };
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
        for w in &self.warnings {
            let _ = writeln!(o, "warning     {w}");
        }
        for p in &self.problems {
            let _ = writeln!(o, "problem     {p}");
        }
        let _ = writeln!(
            o,
            "{}",
            if self.ok() {
                "ok: convert would proceed"
            } else {
                "convert would stop"
            }
        );
        o
    }
}
