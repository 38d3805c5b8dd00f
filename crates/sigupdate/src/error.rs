//! Typed errors of sigupdate. Each names the file, program or socket it concerns.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The updater could not be started, timed out, or exited with a failure.
    #[error("{program}: {reason}")]
    Updater { program: String, reason: String },
    /// A signature file the mirror offers that sigtool or clamscan refuses, a tool that cannot
    /// run, clamd not answering (see `clamav::Error`).
    #[error("{0}")]
    Clamav(#[from] clamav::Error),
    // Not transparent: the chain must hold the spool::Error itself, whose exit code it carries.
    #[error("{0}")]
    Spool(#[from] spool::Error),
}

impl Error {
    /// The exit status of a failure that stops sigupdate (sysexits).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Updater { .. } => spool::exit::TEMPFAIL,
            Error::Clamav(clamav::Error::Rejected { .. }) => spool::exit::DATAERR,
            Error::Clamav(clamav::Error::Clamd { .. }) => spool::exit::UNAVAILABLE,
            Error::Clamav(clamav::Error::Tool { .. }) => spool::exit::UNAVAILABLE,
            Error::Clamav(clamav::Error::Spool(e)) => e.exit_code(),
            Error::Spool(e) => e.exit_code(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
