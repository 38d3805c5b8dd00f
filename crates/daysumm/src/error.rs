//! Typed errors of daysumm.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad --date {0:?}: use YYYY-MM-DD, today or yesterday")]
    BadDate(String),
    #[error(transparent)]
    Spool(#[from] spool::Error),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Io { .. } => spool::exit::IOERR,
            Error::BadDate(_) => spool::exit::USAGE,
            Error::Spool(e) => e.exit_code(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) trait IoAt<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoAt<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}
