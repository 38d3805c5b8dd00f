//! ClamAV as the gateway uses it, in one place: the clamd protocol ([`client`]: one rule for
//! what `clamd_socket` names, PING, VERSION, RELOAD, INSTREAM and the reading of its replies)
//! and the facts of the signature database ([`database`]: which files are signatures, how one
//! is checked, how old the newest ones are). scanmail scans through it, sigupdate checks and
//! reloads through it, daysumm and the metrics ask it the signatures' age: one answer for all.
#![forbid(unsafe_code)]

pub mod client;
pub mod database;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file error (`spool::Error::Io`, naming the path), made with `spool::IoContext::at`.
    /// Not transparent: the chain holds the spool::Error itself, whose exit code it carries.
    #[error("{0}")]
    Spool(#[from] spool::Error),
    /// A helper program (sigtool, clamscan) could not be run.
    #[error("{program}: {reason}")]
    Tool { program: String, reason: String },
    /// A signature file that sigtool or clamscan refuses.
    #[error("{path}: rejected: {reason}")]
    Rejected { path: PathBuf, reason: String },
    /// clamd did not answer as expected.
    #[error("clamd at {addr}: {reason}")]
    Clamd { addr: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
