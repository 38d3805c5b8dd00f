//! Typed errors of daysumm.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad --date {0:?}: use YYYY-MM-DD, today or yesterday")]
    BadDate(String),
    #[error(transparent)]
    Spool(#[from] spool::Error),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::BadDate(_) => spool::exit::USAGE,
            Error::Spool(e) => e.exit_code(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
