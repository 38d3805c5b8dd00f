//! Delivering one message of `outgoing/`: lock it, read its envelope, send to the recipients still
//! pending, record what happened, and let the file go only when nothing is left to do.
//!
//! The rules (never lose, never send twice):
//! - a recipient the next server accepted (2xx after the final dot, or sendmail exit 0) is marked
//!   `SENT` in the file at once (new version renamed over it), so a retry never sends it again;
//! - a recipient refused with 5xx (or sendmail 67 and other permanent statuses) is bounced: the DSN
//!   is written into outgoing first, then the recipient is dropped from the file;
//! - a message with 8-bit bytes for a server without 8BITMIME is bounced (5.6.3), one with a
//!   non-ASCII address for a server without SMTPUTF8 too (5.6.7), and an MX host
//!   left with no global address is bounced (5.4.4);
//! - anything else (4xx, a 3xx where 250 was due, refused connection, timeout, connection dropped
//!   mid-DATA, DNS trouble, a route that is the gateway's own smtpd) keeps the recipient; the
//!   next try waits 1 minute, doubling up to 1 hour (the base can be shortened for tests), kept
//!   in `.<id>.state`; after `[forward] max_age` the recipient is bounced;
//! - the file is removed only when no `RCPT` line is left;
//! - a file that cannot be parsed, and mail from `<>` that cannot be delivered, go to quarantine
//!   with an admin alert: never sent, never bounced, never silently deleted.
//!
//! One file per step of [`deliver_known`]: `context` (what every delivery shares), `reading`
//! (the locked file), `routing` (where each recipient goes, the groups), `send` (SMTP or
//! `-s PROG`, `SENT` at once), `classify` (the rules, no I/O), `settle` (bounce, removal, retry
//! state), `quarantine` (malformed files, undeliverable mail from `<>`), `record` (day-file
//! lines, log lines, counters).

mod classify;
mod context;
mod quarantine;
mod reading;
mod record;
mod routing;
mod send;
mod settle;
#[cfg(test)]
mod tests;

use crate::dsn::{self, FailedRecipient};
use crate::mx::{self, Host, Resolver, RouteError, TransportMap};
use crate::sendmail::{self, RunResult};
use crate::smtp_client::{self, Client, ClientOptions, SmtpError, Timeouts, TlsPolicy};
use crate::state::{self, RetryState};
use classify::*;
pub use classify::{decide, is_expired, lands, Disposition, Fate, Lands};
pub use context::{check_route_config, Context};
use quarantine::*;
use reading::*;
use record::*;
pub use record::{Tally, TALLY};
use routing::*;
pub use send::Worker;
use send::*;
use settle::*;
use spool::config::TlsMode;
use spool::daylog::SentLine;
use spool::{store, Config, Envelope, MessageId, Queue, Spool};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What the command line adds to the configuration.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--relay` (overrides `[forward] relay`).
    pub relay: Option<String>,
    /// `-s PROG`: deliver through a sendmail-compatible program instead of SMTP.
    pub sendmail: Option<PathBuf>,
    /// First retry delay (1 minute; `--retry-base-secs` for tests).
    pub retry_base: Duration,
    /// Port of MX hosts (25; `--mx-port` for tests).
    pub mx_port: u16,
    /// `-q`: one log line per message instead of one per recipient.
    pub quiet: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            relay: None,
            sendmail: None,
            retry_base: Duration::from_secs(60),
            mx_port: 25,
            quiet: false,
        }
    }
}

/// What one delivery attempt of a message came to (the daemon counts them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Every recipient delivered or bounced: the file is gone.
    Done,
    /// Some recipients wait for a later try.
    Deferred,
    /// Gone, or not due yet: nothing was done.
    Skipped,
    /// Moved to quarantine (malformed, or an undeliverable message from `<>`).
    Quarantined,
    /// A local error (disk, permissions): logged, tried again on the next scan.
    Failed,
    /// Locked by another program: nothing was done. scanmail holds a clean message's lock
    /// from before its rename into outgoing/ until its verdict is recorded, so the arrival
    /// can be seen inside that moment; the daemon looks again shortly (no event will come).
    Busy,
}

pub(super) fn now_secs() -> i64 {
    spool::clock::now().timestamp()
}

/// What the daemon's scan of the directory already knows about a message (saves the system calls
/// that would look for files the listing showed absent).
#[derive(Clone, Debug, Default)]
pub struct Known {
    /// The retry state read during the scan (None: the listing had no `.<id>.state`).
    pub prior: Option<RetryState>,
    /// Whether the listing had a `.<id>.state` (even a damaged one: it goes with the message)
    /// and a `<id>_d` directory beside the file.
    pub beside: store::Beside,
}

/// Deliver one message. Never panics on bad input; every outcome is logged.
pub fn deliver(ctx: &Context, w: &mut Worker, id: &MessageId) -> Attempt {
    let known = Known {
        prior: RetryState::load(&ctx.spool, id),
        beside: store::Beside {
            state_file: ctx.spool.state_file(Queue::Outgoing, id).exists(),
            decoded_dir: ctx.spool.decoded_dir(Queue::Outgoing, id).exists(),
        },
    };
    deliver_known(ctx, w, id, &known)
}

/// [`deliver`] with what the directory scan already found out (the retry state, a decoded
/// directory), so no system call looks for files that are not there.
///
/// The steps: `read_message` (the locked file), `group` (the pending recipients by where they
/// go), `send_groups` (each group, marking `SENT` at once), `classify` (every reply into a
/// [`Fate`]), [`decide`] (the [`Disposition`]) and `settle` (bounce, quarantine, remove, or a
/// retry state). `classify` and `decide` hold the rules and do no I/O.
pub fn deliver_known(ctx: &Context, w: &mut Worker, id: &MessageId, known: &Known) -> Attempt {
    let path = ctx.spool.message(Queue::Outgoing, id);
    let prior = known.prior.clone();
    if prior.as_ref().is_some_and(|s| s.next_try > now_secs()) {
        return Attempt::Skipped;
    }
    let lock = match store::lock_message(&ctx.spool, Queue::Outgoing, id) {
        Ok(Some(l)) => l,
        Ok(None) if path.exists() => return Attempt::Busy,
        Ok(None) => return Attempt::Skipped,
        Err(e) => {
            log::error!("{id}: cannot lock: {e}");
            return Attempt::Failed;
        }
    };
    // Read through the locked descriptor itself: it is the inode we hold the lock on.
    let meta = lock.metadata();
    let mut reader = match Spooled::open(lock.file(), meta.len()) {
        Ok(r) => r,
        Err(e) => {
            log::error!("{id}: cannot read: {}: {e}", path.display());
            return Attempt::Failed;
        }
    };
    let mut msg = match read_message(ctx, id, &mut reader, meta, prior.as_ref()) {
        Ok(m) => m,
        Err(o) => return o,
    };
    let groups = group(ctx, &msg.env);
    let results = match send_groups(ctx, w, id, &mut msg, groups, &mut reader) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let delay = now_secs() - msg.queued;
    let expired = is_expired(delay, ctx.cfg.forward.max_age);
    let classified: Vec<(usize, Fate, Classified)> = results
        .into_iter()
        .map(|(i, r, relay)| {
            let addr = &msg.env.recipients[i].addr;
            let (fate, c) = classify(&r, &relay, addr, expired, ctx.cfg.forward.max_age);
            (i, fate, c)
        })
        .collect();
    let fates: Vec<Fate> = classified.iter().map(|(_, f, _)| *f).collect();
    let disposition = decide(true, &fates, msg.env.is_null_sender());
    let tried = Tried {
        classified,
        disposition,
        delay,
    };
    settle(ctx, w, id, known, &mut msg, tried, &mut reader)
}

/// A locked message being delivered.
pub(super) struct Message {
    pub(super) env: Envelope,
    pub(super) body_off: u64,
    pub(super) body_size: u64,
    pub(super) eight_bit: bool,
    /// When it entered the queue (the first try's mtime, kept in the retry state).
    pub(super) queued: i64,
    /// This try's number, from 1.
    pub(super) attempts: u32,
}
