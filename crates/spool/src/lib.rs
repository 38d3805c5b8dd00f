//! The spool of the e-mail virus firewall: the one place that knows where mail lives and how it
//! moves.
//!
//! Every program of the gateway (smtpd, scanmail, smtpfwdd, sigupdate, daysumm) reaches the spool
//! through this crate only: its layout ([`Spool`]), message ids ([`MessageId`]), the Obtuse smtpd
//! 2.0 file format ([`envelope`]), the durable write and the moves between queues ([`store`]),
//! per-file locks, the configuration ([`config`]), logging ([`logging`]), notices written into
//! `outgoing/` ([`notice`]), the day files that `daysumm` reads ([`daylog`]) and the verdicts
//! they record ([`verdict`]), privilege dropping ([`privs`]), the pattern files ([`patterns`])
//! and smtpd's rules file ([`rules`]), and the root-safe set-up of a tree (`mailwall init`:
//! [`tree`]).
//!
//! The queue rules (DESIGN.md): a file becomes visible under its final name only by one rename of
//! a fully written, fsynced temp file whose mode is then 0750; readers take only such files; a
//! message leaves a queue only by one rename (or, in `outgoing/`, by deletion after delivery).
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod daylog;
pub mod envelope;
pub mod error;
pub mod exit;
pub mod id;
pub mod layout;
pub mod logging;
pub mod metrics;
pub mod notice;
pub mod patterns;
pub mod privs;
pub mod rules;
pub mod signals;
pub mod state;
pub mod store;
pub mod tree;
pub mod verdict;

pub use config::Config;
pub use envelope::{Envelope, Recipient};
pub use error::{Error, IoContext, Result};
pub use id::MessageId;
pub use layout::{Queue, Spool};
pub use store::{FileLock, Staged};
