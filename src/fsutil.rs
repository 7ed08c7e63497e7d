//! Opening input files safely: every file ds2gguf reads must be a regular file (a FIFO, device,
//! socket or directory in its place is refused before a read can block), JSON files are read
//! with a size cap, and file identity (device and inode) is what "the same file" means.

use crate::{Error, Result};
use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Largest JSON file read into memory (tokenizer.json of large vocabularies is tens of MB).
pub const JSON_MAX: u64 = 256 << 20;

/// What a path names, following symlinks.
#[derive(Debug)]
pub enum Kind {
    /// Nothing (or a dangling symlink).
    Missing,
    /// A regular file.
    Regular(Metadata),
    /// A directory.
    Dir,
    /// Something else: a FIFO, socket or device (described).
    Other(&'static str),
}

/// Describes a file type for messages ("a FIFO", "a directory", ...).
pub fn describe(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// What `path` names (following symlinks), without opening it.
pub fn kind(path: &Path) -> Result<Kind> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Kind::Regular(m)),
        Ok(m) if m.is_dir() => Ok(Kind::Dir),
        Ok(m) => Ok(Kind::Other(describe(m.file_type()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Kind::Missing),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// True when `path` is a regular file, false when nothing is there; an error when something
/// that is not a regular file is there (a FIFO named `tokenizer.json` must not be opened).
pub fn is_present_file(path: &Path) -> Result<bool> {
    match kind(path)? {
        Kind::Missing => Ok(false),
        Kind::Regular(_) => Ok(true),
        Kind::Dir => Err(not_regular(path, "a directory")),
        Kind::Other(what) => Err(not_regular(path, what)),
    }
}

fn not_regular(path: &Path, what: &str) -> Error {
    Error::bad_file(path, format!("is {what}, not a regular file"))
}

/// Opens `path` for reading, refusing anything but a regular file. The open itself cannot block
/// (`O_NONBLOCK`, so a FIFO swapped in after a check does not hang us), and the type is checked
/// on the open descriptor.
pub fn open_regular(path: &Path) -> Result<(File, Metadata)> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let m = f.metadata().map_err(|e| Error::io(path, e))?;
    if !m.is_file() {
        return Err(not_regular(path, describe(m.file_type())));
    }
    Ok((f, m))
}

/// Reads a whole regular file of at most `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let (f, m) = open_regular(path)?;
    if m.len() > cap {
        return Err(Error::bad_file(
            path,
            format!(
                "is {} bytes; ds2gguf reads at most {} of such a file",
                m.len(),
                cap
            ),
        ));
    }
    let mut buf = Vec::new();
    buf.try_reserve_exact(m.len() as usize)
        .map_err(|_| Error::bad_file(path, format!("cannot allocate {} bytes", m.len())))?;
    // the file may grow after the check: read at most cap + 1 bytes to notice
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    if buf.len() as u64 > cap {
        return Err(Error::bad_file(
            path,
            format!("grew past {cap} bytes while being read"),
        ));
    }
    Ok(buf)
}

/// The identity of a file: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    /// The identity of what `m` describes.
    pub fn of(m: &Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

/// The longest file name the filesystem holding `dir` allows (255 when unknown).
pub fn name_max(dir: &Path) -> usize {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 255;
    };
    // SAFETY: c is a valid NUL-terminated path.
    let n = unsafe { libc::pathconf(c.as_ptr(), libc::_PC_NAME_MAX) };
    if n > 0 { n as usize } else { 255 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_and_directories_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("tokenizer.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: valid path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_regular(&fifo).unwrap_err().to_string();
        assert!(e.contains("FIFO") && e.contains("tokenizer.json"), "{e}");
        assert!(is_present_file(&fifo).is_err());
        let e = read_capped(d.path(), 10).unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
        assert!(!is_present_file(&d.path().join("none")).unwrap());
    }

    #[test]
    fn read_capped_refuses_big_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(&p, vec![b' '; 100]).unwrap();
        assert_eq!(read_capped(&p, 100).unwrap().len(), 100);
        let e = read_capped(&p, 99).unwrap_err().to_string();
        assert!(e.contains("100 bytes") && e.contains("99"), "{e}");
    }
}
