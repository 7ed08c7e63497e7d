//! Where converted bytes go, and the guarantees about output files.
//!
//! - Each output file is written under a temporary name of its own in the destination directory,
//!   created exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600, a random part in the name,
//!   never longer than the filesystem allows), and registered for removal on a signal.
//! - Data is fsynced; only when every file of the set is complete (and the input is unchanged)
//!   are they renamed into place, under an exclusive lock on the directory so that two
//!   conversions into the same place commit one after the other (the last complete one wins).
//!   Replaced files keep their permission bits; a failure half-way through the renames puts the
//!   previous files back (from hard-link backups) and removes the new ones. The directory is
//!   fsynced after the renames.
//! - On any error nothing is left at the output paths and no temporary file remains.
//! - A character device or a FIFO given as the output (`/dev/null`, a named pipe) is written into
//!   directly, in order, like standard output; any other non-regular file is refused.

use crate::exec::{self, ExecOptions, Sink};
use crate::fsutil::FileId;
use crate::plan::Plan;
use crate::{Error, Result, signals};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Where a conversion's output goes.
#[derive(Clone, Debug)]
pub enum Destination {
    /// Standard output (a single file).
    Stdout,
    /// A character device or FIFO written into in place (a single file).
    Stream(PathBuf),
    /// Regular files, one per planned file, each written under a temporary name and renamed.
    Files(Vec<Target>),
}

/// One output file and what was at its path when the conversion was planned.
#[derive(Clone, Debug)]
pub struct Target {
    /// The final path.
    pub path: PathBuf,
    /// The file that was there (identity and modification time), if any.
    pub before: Option<(FileId, i64)>,
}

/// The parent directory of an output path (`.` for a bare name).
pub fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The temporary name for `final_name` with random part `r`: `.NAME.XXXXXXXX.partial`, the
/// name cut (at a character boundary) so the whole fits in `name_max` bytes.
pub fn temp_name(final_name: &str, r: u32, name_max: usize) -> String {
    let suffix = format!(".{r:08x}.partial");
    let room = name_max.saturating_sub(suffix.len() + 1);
    let mut cut = final_name.len().min(room);
    while !final_name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}{suffix}", &final_name[..cut])
}

fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish() as u32
}

/// Creates a new temporary file beside `path`, exclusively, never through a symlink, mode
/// 0600, registered for removal on a signal.
pub fn create_temp(path: &Path) -> Result<(File, PathBuf)> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let max = crate::fsutil::name_max(&dir);
    let mut last = None;
    for _ in 0..32 {
        let tmp = dir.join(temp_name(&name, random_u32(), max));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => {
                signals::register_temp(&tmp);
                return Ok((f, tmp));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(Error::io(&tmp, e)),
        }
    }
    Err(Error::io(
        dir,
        last.unwrap_or_else(|| std::io::Error::other("cannot create a temporary file")),
    ))
}

/// The permission bits a new file gets from this process's umask.
pub fn default_mode() -> u32 {
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022);
    0o666 & !umask
}

/// Writes each planned file under a temporary name; [`FileSink::commit`] renames them into
/// place, [`FileSink::abort`] removes them.
pub struct FileSink {
    targets: Vec<Target>,
    temps: Vec<Option<PathBuf>>,
    cur: Option<(File, usize)>,
    /// Things worth telling the user about the commit.
    pub notes: Vec<String>,
}

impl FileSink {
    /// A sink for the output files `targets` (one per planned file).
    pub fn new(targets: Vec<Target>) -> FileSink {
        let n = targets.len();
        FileSink {
            targets,
            temps: vec![None; n],
            cur: None,
            notes: Vec::new(),
        }
    }

    /// Renames every temporary file to its final name, all or nothing as far as the
    /// filesystem allows, under a lock on each destination directory.
    pub fn commit(&mut self) -> Result<()> {
        self.cur = None;
        let _deferred = signals::Deferred::new();
        let mut dirs: Vec<PathBuf> = self.targets.iter().map(|t| parent_dir(&t.path)).collect();
        dirs.sort();
        dirs.dedup();
        let locks = dirs
            .iter()
            .map(|d| lock_dir(d))
            .collect::<Result<Vec<_>>>()?;
        let mut done: Vec<(usize, Option<PathBuf>)> = Vec::new();
        let mut result = Ok(());
        for i in 0..self.targets.len() {
            if let Err(e) = self.commit_one(i).map(|backup| done.push((i, backup))) {
                result = Err(e);
                break;
            }
        }
        if result.is_err() {
            // put back what was there
            for (i, backup) in done.into_iter().rev() {
                let p = &self.targets[i].path;
                match backup {
                    Some(b) => {
                        let _ = std::fs::rename(&b, p);
                        signals::unregister_temp(&b);
                    }
                    None => {
                        let _ = std::fs::remove_file(p);
                    }
                }
            }
            self.abort();
            return result;
        }
        for (_, backup) in done {
            if let Some(b) = backup {
                let _ = std::fs::remove_file(&b);
                signals::unregister_temp(&b);
            }
        }
        for (d, lock) in dirs.iter().zip(&locks) {
            lock.sync_all().map_err(|e| Error::io(d, e))?;
        }
        Ok(())
    }

    /// Renames file `i` into place; returns the backup of the file it replaced, if any.
    fn commit_one(&mut self, i: usize) -> Result<Option<PathBuf>> {
        let t = &self.targets[i];
        let Some(tmp) = self.temps[i].clone() else {
            return Err(Error::bad_file(&t.path, "was never written"));
        };
        let now = std::fs::symlink_metadata(&t.path).ok();
        let mut backup = None;
        let mode = match &now {
            Some(m) if m.is_file() => {
                let here = (FileId::of(m), m.mtime());
                if t.before.is_some_and(|b| b != here) || t.before.is_none() {
                    self.notes.push(format!(
                        "{} was written by someone else during this conversion; it is replaced \
                         (the last conversion to finish wins)",
                        t.path.display()
                    ));
                }
                // a hard link keeps the old file until the whole set is in place
                let b = parent_dir(&t.path).join(temp_name(
                    &t.path.file_name().unwrap_or_default().to_string_lossy(),
                    random_u32(),
                    crate::fsutil::name_max(&parent_dir(&t.path)),
                ));
                if std::fs::hard_link(&t.path, &b).is_ok() {
                    signals::register_temp(&b);
                    backup = Some(b);
                }
                m.permissions().mode() & 0o7777
            }
            Some(m) if m.file_type().is_symlink() => match std::fs::metadata(&t.path) {
                Ok(tm) if tm.is_file() => tm.permissions().mode() & 0o7777,
                _ => default_mode(),
            },
            Some(m) => {
                return Err(Error::bad_file(
                    &t.path,
                    format!(
                        "became {} during the conversion; not replaced",
                        crate::fsutil::describe(m.file_type())
                    ),
                ));
            }
            None => default_mode(),
        };
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &t.path).map_err(|e| Error::io(&t.path, e))?;
        signals::unregister_temp(&tmp);
        self.temps[i] = None;
        Ok(backup)
    }

    /// Removes every temporary file.
    pub fn abort(&mut self) {
        self.cur = None;
        for t in self.temps.iter_mut() {
            if let Some(p) = t.take() {
                let _ = std::fs::remove_file(&p);
                signals::unregister_temp(&p);
            }
        }
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        self.abort();
    }
}

/// An exclusive `flock` on directory `d`, held while the returned handle lives.
fn lock_dir(d: &Path) -> Result<File> {
    use std::os::fd::AsRawFd;
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(d)
        .map_err(|e| Error::io(d, e))?;
    // SAFETY: flock on a valid descriptor.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::io(d, std::io::Error::last_os_error()));
    }
    Ok(f)
}

impl Sink for FileSink {
    fn begin_file(&mut self, index: usize) -> Result<()> {
        let (f, tmp) = create_temp(&self.targets[index].path)?;
        self.temps[index] = Some(tmp);
        self.cur = Some((f, index));
        Ok(())
    }
    fn write(&mut self, buf: &[u8]) -> Result<()> {
        if let Some((f, i)) = &mut self.cur {
            f.write_all(buf)
                .map_err(|e| Error::io(&self.targets[*i].path, e))?;
        }
        Ok(())
    }
    fn end_file(&mut self, index: usize) -> Result<()> {
        if let Some((f, _)) = self.cur.take() {
            f.sync_all()
                .map_err(|e| Error::io(&self.targets[index].path, e))?;
        }
        Ok(())
    }
}

/// Writes the whole output to a stream (standard output, a character device, a FIFO),
/// buffered, with sequential writes only.
pub struct StreamSink {
    w: std::io::BufWriter<Box<dyn Write + Send>>,
    name: PathBuf,
}

impl StreamSink {
    /// A sink on this process's standard output.
    pub fn stdout() -> StreamSink {
        StreamSink {
            w: std::io::BufWriter::with_capacity(1 << 20, Box::new(std::io::stdout())),
            name: PathBuf::from("<stdout>"),
        }
    }

    /// A sink writing into the character device or FIFO at `path` (a FIFO must have a reader:
    /// the open does not wait for one).
    pub fn open(path: &Path) -> Result<StreamSink> {
        let f = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ENXIO) {
                    Error::bad_file(path, "is a FIFO with no reader")
                } else {
                    Error::io(path, e)
                }
            })?;
        let m = f.metadata().map_err(|e| Error::io(path, e))?;
        let ft = m.file_type();
        use std::os::unix::fs::FileTypeExt;
        if !(ft.is_char_device() || ft.is_fifo()) {
            return Err(Error::bad_file(
                path,
                format!(
                    "is {}; only character devices and FIFOs are written in place",
                    crate::fsutil::describe(ft)
                ),
            ));
        }
        // blocking writes from here on
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on a valid descriptor.
        unsafe {
            let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
        Ok(StreamSink {
            w: std::io::BufWriter::with_capacity(1 << 20, Box::new(f)),
            name: path.to_path_buf(),
        })
    }
}

impl Sink for StreamSink {
    fn begin_file(&mut self, _: usize) -> Result<()> {
        Ok(())
    }
    fn write(&mut self, buf: &[u8]) -> Result<()> {
        self.w.write_all(buf).map_err(|e| Error::io(&self.name, e))
    }
    fn end_file(&mut self, _: usize) -> Result<()> {
        self.w.flush().map_err(|e| Error::io(&self.name, e))
    }
}

/// Runs the plan into `dest`. Files are complete and in place only if this returns Ok (with
/// notes about the commit); on any error or cancellation nothing is left at the output paths.
pub fn write(plan: &Plan, dest: &Destination, opts: &ExecOptions) -> Result<Vec<String>> {
    match dest {
        Destination::Stdout => exec::execute(plan, &mut StreamSink::stdout(), opts).map(|_| vec![]),
        Destination::Stream(p) => {
            exec::execute(plan, &mut StreamSink::open(p)?, opts).map(|_| vec![])
        }
        Destination::Files(targets) => {
            let mut sink = FileSink::new(targets.clone());
            let r = exec::execute(plan, &mut sink, opts)
                .and_then(|_| {
                    if exec::CANCEL.load(Ordering::SeqCst) {
                        Err(Error::Interrupted)
                    } else {
                        plan.checkpoint.verify_unchanged()
                    }
                })
                .and_then(|_| sink.commit());
            if r.is_err() {
                sink.abort();
            }
            r.map(|_| std::mem::take(&mut sink.notes))
        }
    }
}
