//! Virus scanners. `clamd` is spoken directly over its socket, one connection per scanned object;
//! the others are programs run once per batch of messages over their `_d` directories (clamscan
//! with the full database takes 10-20 s just to start).
//!
//! A scanner's answer is clean, a virus, or one of two certain answers about what it could not
//! read: its own limits (`Heuristics.Limits.Exceeded*`: unscannable) and encrypted content
//! (`Heuristics.Encrypted*`). Those depend only on the message and are given at once. Every
//! other answer is a [`ScanReport::Error`], a transient fault: the message waits and is retried
//! (fail closed).

pub mod clamd;
pub mod command;

use spool::config::{ScanConfig, Scanner as Kind};
use spool::MessageId;
use std::path::PathBuf;
use std::sync::Arc;

/// One thing to scan.
#[derive(Clone, Debug)]
pub enum Object {
    /// A decoded part in `_d/`, and which part of the message it is.
    File(PathBuf, String),
    /// A part shown inline, kept in memory from the walk, and which part it is.
    Mem(Arc<[u8]>, String),
    /// The message itself: a spool file from the body offset on. Small bodies are kept in
    /// memory from the walk (`data`), so the scan does not read the file a second time.
    Raw {
        path: PathBuf,
        offset: u64,
        data: Option<Arc<[u8]>>,
    },
}

impl Object {
    pub fn describe(&self) -> String {
        match self {
            Object::File(_, desc) | Object::Mem(_, desc) => desc.clone(),
            Object::Raw { .. } => "the whole message".into(),
        }
    }
}

/// What one message needs scanned.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: MessageId,
    /// For clamd: each object is streamed.
    pub objects: Vec<Object>,
    /// For command scanners: the `_d` directory (holding a copy of the message when needed).
    pub dir: PathBuf,
}

/// What the scanner reported about one message (one [`Job`]): the judge turns it into a
/// decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanReport {
    Clean,
    /// The virus name and the object it was found in.
    Virus {
        name: String,
        object: String,
    },
    /// The scanner stopped at one of its limits (size, recursion, files): it did not read
    /// everything, so the message is unscannable. Certain: a retry reads no more.
    Unscannable {
        reason: String,
        object: String,
    },
    /// The scanner met encrypted content it cannot read.
    Encrypted {
        name: String,
        object: String,
    },
    /// Could not decide (scanner down, timeout, odd answer): the message waits.
    Error(String),
}

/// What a scanner's detection name means: ClamAV reports its limits and encrypted content as
/// heuristic "detections", which are neither viruses nor clean.
pub fn detection(name: String, object: String) -> ScanReport {
    if name.starts_with("Heuristics.Limits.Exceeded") {
        ScanReport::Unscannable {
            reason: format!("the scanner stopped at a limit: {name}"),
            object,
        }
    } else if name.starts_with("Heuristics.Encrypted") {
        ScanReport::Encrypted { name, object }
    } else {
        ScanReport::Virus { name, object }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("scan.virus_name_regex: {0}")]
    Regex(String),
    #[error("scan.command: {0}")]
    Command(String),
}

/// A scanner judges a batch of jobs; the result has one outcome per job, in order. It runs in a
/// thread of its own while the next batch is being decoded (see [`crate::pass`]).
pub trait Scanner: Send {
    fn scan(&mut self, jobs: &[Job]) -> Vec<ScanReport>;
    /// Command scanners read directories: the raw message must be copied into `_d`.
    fn wants_dir(&self) -> bool;
    fn name(&self) -> String;
}

/// The scanner named in the configuration.
pub fn from_config(cfg: &ScanConfig) -> Result<Box<dyn Scanner>, ScanError> {
    let timeout = std::time::Duration::from_secs(cfg.timeout.max(1));
    Ok(match cfg.scanner {
        Kind::Clamd => Box::new(clamd::Clamd::new(
            &cfg.clamd_socket,
            timeout,
            cfg.clamd_fdpass,
        )),
        Kind::Clamdscan | Kind::Clamscan | Kind::Uvscan | Kind::Command => {
            Box::new(command::CommandScanner::from_config(cfg, timeout)?)
        }
    })
}
