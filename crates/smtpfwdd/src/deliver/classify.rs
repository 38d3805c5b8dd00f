//! The rules, with no I/O: one recipient's result into its [`Fate`], the fates into the
//! message's [`Disposition`].

use super::*;

#[derive(Clone, Debug)]
pub(super) enum RcptResult {
    Delivered(String),
    Transient(String),
    Permanent(FailedRecipient),
}

/// What becomes of one pending recipient after a try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Accepted (2xx after the final dot, or the program's exit 0): marked `SENT`.
    Delivered,
    /// A temporary failure within `max_age`: tried again later.
    Retry,
    /// Refused for good (5xx, a permanent program status, no such domain): bounced now.
    Bounce,
    /// A temporary failure past `max_age`: bounced as expired.
    Expired,
}

/// What becomes of the message after a try (the local I/O that carries it out is [`settle`]'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Not due yet: nothing is done.
    Keep,
    /// Nobody is left: the file is removed, after the bounce (if any) is written.
    Remove { bounce: bool },
    /// Some recipients wait: the file stays with a retry state, after the bounce (if any).
    RetryLater { bounce: bool },
    /// Mail from `<>` that failed for someone: quarantine and an alert, never a bounce (a bounce
    /// of a bounce can loop). Every recipient failed or is done: the file itself moves.
    Quarantine,
    /// Mail from `<>` that failed for some and waits for others: a copy for the failed ones goes
    /// to quarantine (with the alert); the file keeps the deferred ones for their next try.
    QuarantineFailed,
}

/// A message's age past `max_age` (seconds) turns temporary failures into bounces.
pub fn is_expired(age: i64, max_age: u64) -> bool {
    age > max_age as i64
}

/// The rule for one recipient.
pub(super) fn fate_of(r: &RcptResult, expired: bool) -> Fate {
    match r {
        RcptResult::Delivered(_) => Fate::Delivered,
        RcptResult::Permanent(_) => Fate::Bounce,
        RcptResult::Transient(_) if expired => Fate::Expired,
        RcptResult::Transient(_) => Fate::Retry,
    }
}

/// The rule for the message: `due` (its retry time has come), the fates of the recipients tried,
/// and whether the sender is `<>`.
pub fn decide(due: bool, fates: &[Fate], null_sender: bool) -> Disposition {
    if !due {
        return Disposition::Keep;
    }
    let bounce = fates
        .iter()
        .any(|f| matches!(f, Fate::Bounce | Fate::Expired));
    if bounce && null_sender {
        return if fates.contains(&Fate::Retry) {
            Disposition::QuarantineFailed
        } else {
            Disposition::Quarantine
        };
    }
    if fates.contains(&Fate::Retry) {
        Disposition::RetryLater { bounce }
    } else {
        Disposition::Remove { bounce }
    }
}

/// Where one tried recipient's line ends up once [`settle`](super::settle) has carried out the
/// disposition (every local write succeeding; a failed one keeps the line, see `settle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lands {
    /// Marked `SENT` (at once, in the send step): never sent again.
    Sent,
    /// In a bounce to the sender, then dropped from the file.
    Bounced,
    /// In quarantine (the whole file, or a copy for the failed recipients), then dropped.
    Quarantined,
    /// Still pending in the file, for the next try.
    Kept,
}

/// Where every tried recipient lands under `disposition` (one per fate, in order).
pub fn lands(fates: &[Fate], disposition: Disposition) -> Vec<Lands> {
    fates
        .iter()
        .map(|f| match (f, disposition) {
            (Fate::Delivered, _) => Lands::Sent,
            (_, Disposition::Keep) | (Fate::Retry, _) => Lands::Kept,
            (Fate::Bounce | Fate::Expired, Disposition::Quarantine)
            | (Fate::Bounce | Fate::Expired, Disposition::QuarantineFailed) => Lands::Quarantined,
            (Fate::Bounce | Fate::Expired, _) => Lands::Bounced,
        })
        .collect()
}

/// What [`classify`] found for one recipient: its log entry, its failure (for the DSN), the
/// detail of a delivery (for the day file).
pub(super) struct Classified {
    pub(super) log: LogEntry,
    pub(super) failure: Option<FailedRecipient>,
    pub(super) delivered: Option<String>,
}

/// Classify step: one recipient's result into its [`Fate`] and what settle needs to record it.
pub(super) fn classify(
    r: &RcptResult,
    relay: &str,
    addr: &str,
    expired: bool,
    max_age: u64,
) -> (Fate, Classified) {
    let fate = fate_of(r, expired);
    let entry = |status: &'static str, detail: &str| {
        (
            addr.to_string(),
            status,
            relay.to_string(),
            detail.to_string(),
        )
    };
    let c = match r {
        RcptResult::Delivered(d) => Classified {
            log: entry("sent", d),
            failure: None,
            delivered: Some(d.clone()),
        },
        RcptResult::Permanent(f) => {
            let mut f = f.clone();
            f.rcpt = addr.to_string();
            Classified {
                log: entry("bounced", &f.diagnostic),
                failure: Some(f),
                delivered: None,
            }
        }
        RcptResult::Transient(d) if expired => {
            let status = d
                .split_whitespace()
                .find(|w| w.starts_with("4.") && w.split('.').count() == 3)
                .unwrap_or("4.4.7")
                .to_string();
            let days = max_age as f64 / 86400.0;
            let diag =
                format!("x-gateway; delivery time expired after {days:.1} days; last error: {d}");
            Classified {
                log: entry("expired", &diag),
                failure: Some(FailedRecipient {
                    rcpt: addr.to_string(),
                    status,
                    diagnostic: diag,
                    remote_mta: None,
                }),
                delivered: None,
            }
        }
        RcptResult::Transient(d) => Classified {
            log: entry("deferred", d),
            failure: None,
            delivered: None,
        },
    };
    (fate, c)
}
