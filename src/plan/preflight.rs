//! Checks on where the output goes, made before anything is written: the directory exists and
//! is writable, no output path is one of the inputs, and there is room for the output.

use super::Plan;
use crate::util::{free_space, human_bytes};
use crate::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Checks that the output paths can be written: directory exists and is writable, no
/// output is one of the input files, there is room for the output.
pub fn check_destination(plan: &Plan, paths: &[PathBuf]) -> Result<()> {
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
                        human_bytes(need),
                        human_bytes(free)
                    ),
                ));
            }
        }
    }
    Ok(())
}
