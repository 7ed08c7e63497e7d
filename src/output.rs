//! Where converted bytes go: a file set written under temporary names and renamed into place
//! only when every file is complete, or standard output. Either way the executor writes
//! strictly in order through the [`Sink`] interface.

use crate::exec::{self, ExecOptions, Sink};
use crate::plan::Plan;
use crate::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// Writes each planned file under a temporary name (`NAME.partial`); [`FileSink::commit`]
/// renames them into place, [`FileSink::abort`] removes them.
pub struct FileSink {
    paths: Vec<PathBuf>,
    temps: Vec<PathBuf>,
    cur: Option<(File, usize)>,
}

impl FileSink {
    /// A sink for the output files `paths` (one per planned file).
    pub fn new(paths: Vec<PathBuf>) -> FileSink {
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

    /// Renames every temporary file to its final name.
    pub fn commit(&mut self) -> Result<()> {
        for (t, p) in self.temps.iter().zip(&self.paths) {
            std::fs::rename(t, p).map_err(|e| Error::io(p, e))?;
        }
        Ok(())
    }

    /// Removes every temporary file.
    pub fn abort(&mut self) {
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

/// Writes the whole output to standard output, buffered, with sequential writes only.
pub struct StdoutSink(std::io::BufWriter<std::io::Stdout>);

impl StdoutSink {
    /// A sink on this process's standard output.
    pub fn new() -> StdoutSink {
        StdoutSink(std::io::BufWriter::with_capacity(
            1 << 20,
            std::io::stdout(),
        ))
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        StdoutSink::new()
    }
}

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

/// Where a conversion's output goes.
#[derive(Clone, Debug)]
pub enum Destination {
    /// Standard output (a single file).
    Stdout,
    /// These files, one per planned file.
    Files(Vec<PathBuf>),
}

/// Runs the plan into `dest`. Files are complete and in place only if this returns Ok; on
/// any error or cancellation nothing is left at the output paths.
pub fn write(plan: &Plan, dest: &Destination, opts: &ExecOptions) -> Result<()> {
    match dest {
        Destination::Stdout => exec::execute(plan, &mut StdoutSink::new(), opts),
        Destination::Files(paths) => {
            let mut sink = FileSink::new(paths.clone());
            let r = exec::execute(plan, &mut sink, opts).and_then(|_| {
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
        }
    }
}
