//! Typed errors of the spool crate. Every error that concerns a file names its path.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A spool file that does not follow the format: never forwarded, never deleted, quarantined.
    #[error("{path}: malformed spool file: {reason}")]
    Malformed { path: PathBuf, reason: String },
    /// A name that is not a message id (`smtpd` + 6 of `[A-Za-z0-9]`).
    #[error("not a message id: {0:?}")]
    BadId(String),
    /// The spool directory tree is missing a directory or has unsafe owner or mode.
    #[error("{path}: {reason}")]
    Layout { path: PathBuf, reason: String },
    /// A configuration file error, with the line and the key when known.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Config {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// Someone else holds the lock on this file.
    #[error("{0}: locked by another process")]
    Locked(PathBuf),
    /// The target of a move or commit already exists (never overwritten).
    #[error("{0}: already exists")]
    Exists(PathBuf),
    /// Dropping privileges failed: the program must stop.
    #[error("cannot switch user: {0}")]
    Privileges(String),
    /// An envelope address or header value that would break the format.
    #[error("invalid {what}: {value:?}")]
    Invalid { what: &'static str, value: String },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the underlying cause is a full disk or quota (smtpd answers 452, not 451).
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Io { source, .. } => matches!(source.raw_os_error(), Some(28) | Some(122)),
            _ => false,
        }
    }

    /// This error as an `io::Error` of the same kind, for a caller whose interface speaks io (a
    /// `Write`, a sink of decoded parts); the error itself (with its path) is kept inside.
    pub fn into_io(self) -> io::Error {
        let kind = match &self {
            Error::Io { source, .. } => source.kind(),
            Error::Exists(_) => io::ErrorKind::AlreadyExists,
            Error::Invalid { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }

    /// The sysexits code that fits this error.
    pub fn exit_code(&self) -> u8 {
        use crate::exit;
        match self {
            Error::Io { .. } => exit::IOERR,
            Error::Malformed { .. } | Error::BadId(_) | Error::Invalid { .. } => exit::DATAERR,
            Error::Layout { .. } | Error::Config { .. } => exit::CONFIG,
            Error::Locked(_) => exit::TEMPFAIL,
            Error::Exists(_) => exit::CANTCREAT,
            Error::Privileges(_) => exit::OSERR,
        }
    }
}

/// Attach a path to an io::Result.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
