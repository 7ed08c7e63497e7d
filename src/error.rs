//! The library's error type: every variant says which file (and tensor) is at fault and
//! what was expected, so the CLI can print it as is.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while planning or converting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file that exists but whose contents are not what they must be.
    #[error("{}: {msg}", path.display())]
    BadFile {
        /// The offending file.
        path: PathBuf,
        /// What was expected and what was found.
        msg: String,
    },
    /// A problem with one tensor of the checkpoint.
    #[error("{}: tensor '{tensor}': {msg}", path.display())]
    BadTensor {
        /// The file holding (or expected to hold) the tensor.
        path: PathBuf,
        /// The tensor's name in the checkpoint.
        tensor: String,
        /// What was expected and what was found.
        msg: String,
    },
    /// A checkpoint ds2gguf does not convert (architecture, dtype, tokenizer kind).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A bad command-line request (unknown type, conflicting options).
    #[error("{0}")]
    Usage(String),
    /// Several independent problems, all found before stopping.
    #[error("{} problems:\n{}", .0.len(), .0.iter().take(50).map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
    /// A chat template that does not render a sample conversation.
    #[error("chat template '{name}' ({key}): {msg}")]
    ChatTemplate {
        /// The template's name (`default` for `tokenizer.chat_template`).
        name: String,
        /// Its GGUF key.
        key: String,
        /// What went wrong.
        msg: String,
    },
    /// An allocation that could not be made.
    #[error("out of memory: cannot allocate {bytes} bytes for {what}")]
    OutOfMemory {
        /// How many bytes were asked for.
        bytes: u64,
        /// What for.
        what: &'static str,
    },
    /// The conversion was cancelled by a signal.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Error {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A content problem in `path`.
    pub fn bad_file(path: impl AsRef<Path>, msg: impl Into<String>) -> Error {
        Error::BadFile {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }

    /// One error for a list of problems (the error itself when there is only one).
    pub fn many(mut problems: Vec<Error>) -> Error {
        if problems.len() == 1 {
            return problems.remove(0);
        }
        Error::Many(problems)
    }

    /// A problem with `tensor` in `path`.
    pub fn bad_tensor(path: impl AsRef<Path>, tensor: &str, msg: impl Into<String>) -> Error {
        Error::BadTensor {
            path: path.as_ref().to_path_buf(),
            tensor: tensor.to_string(),
            msg: msg.into(),
        }
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
