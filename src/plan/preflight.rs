//! Checks on where the output goes, made before anything is written (and by `plan`, which
//! writes nothing at all): the directory exists and is writable, the names fit the filesystem,
//! no output is one of the inputs (compared as files, after symlinks), what is at the output
//! path may be replaced, and there is room for the output.

use super::{Plan, output_paths};
use crate::fsutil::{FileId, name_max};
use crate::output::{Destination, Target, parent_dir};
use crate::util::{free_space, human_bytes};
use crate::{Error, Result};
use std::collections::HashSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Where `output` sends the plan's files, checked: `-` is standard output; a character device
/// or FIFO is written in place; otherwise regular files, one per planned file.
pub fn destination(plan: &Plan, output: &Path) -> Result<Destination> {
    if output.as_os_str() == "-" {
        return Ok(Destination::Stdout);
    }
    let split = plan.options.is_split();
    let paths = output_paths(output, plan.files.len(), split);
    if !split && let Ok(m) = std::fs::metadata(output) {
        let ft = m.file_type();
        if ft.is_char_device() || ft.is_fifo() {
            return Ok(Destination::Stream(output.to_path_buf()));
        }
    }
    let inputs = input_ids(plan);
    let mut targets = Vec::with_capacity(paths.len());
    for p in &paths {
        targets.push(check_target(p, &inputs)?);
    }
    let dir = parent_dir(&paths[0]);
    if let Some(free) = free_space(&dir) {
        let need = plan.output_bytes();
        if free < need {
            return Err(Error::bad_file(
                &dir,
                format!(
                    "not enough free space: the output needs {} but only {} is free",
                    human_bytes(need),
                    human_bytes(free)
                ),
            ));
        }
    }
    Ok(Destination::Files(targets))
}

/// The identities of every input file: the shards and the regular files of the model directory.
fn input_ids(plan: &Plan) -> HashSet<FileId> {
    let mut ids: HashSet<FileId> = plan.checkpoint.shards.iter().map(|s| s.id).collect();
    if let Ok(rd) = std::fs::read_dir(&plan.checkpoint.dir) {
        for e in rd.flatten() {
            if let Ok(m) = std::fs::metadata(e.path())
                && m.is_file()
            {
                ids.insert(FileId::of(&m));
            }
        }
    }
    ids
}

fn check_target(p: &Path, inputs: &HashSet<FileId>) -> Result<Target> {
    let dir = parent_dir(p);
    let dm = std::fs::metadata(&dir)
        .map_err(|_| Error::bad_file(&dir, "output directory does not exist"))?;
    if !dm.is_dir() {
        return Err(Error::bad_file(&dir, "output directory is not a directory"));
    }
    if !writable(&dir) {
        return Err(Error::bad_file(&dir, "output directory is not writable"));
    }
    let name = p.file_name().map(|n| n.len()).unwrap_or(0);
    let max = name_max(&dir);
    if name == 0 || name > max {
        return Err(Error::bad_file(
            p,
            format!("the file name is {name} bytes; this filesystem allows 1 to {max}"),
        ));
    }
    let before = match std::fs::symlink_metadata(p) {
        Err(_) => None,
        Ok(lm) => {
            // what the path leads to, if anything
            let m = std::fs::metadata(p).ok();
            if let Some(m) = &m {
                if inputs.contains(&FileId::of(m)) {
                    return Err(Error::bad_file(
                        p,
                        "output path is one of the input files; choose another name",
                    ));
                }
                if !m.is_file() {
                    return Err(Error::bad_file(
                        p,
                        format!(
                            "output path is {}; it is not replaced",
                            crate::fsutil::describe(m.file_type())
                        ),
                    ));
                }
            }
            if lm.file_type().is_symlink() {
                None
            } else {
                Some((FileId::of(&lm), lm.mtime()))
            }
        }
    };
    Ok(Target {
        path: p.to_path_buf(),
        before,
    })
}

/// True when this process may create files in `dir` (asks the kernel; creates nothing).
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// The output paths a destination writes (for messages).
pub fn paths(dest: &Destination) -> Vec<PathBuf> {
    match dest {
        Destination::Stdout => vec![PathBuf::from("<stdout>")],
        Destination::Stream(p) => vec![p.clone()],
        Destination::Files(t) => t.iter().map(|t| t.path.clone()).collect(),
    }
}
