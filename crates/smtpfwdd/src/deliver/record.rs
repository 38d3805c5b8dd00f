//! What a try leaves behind it: the `sent.YYYYMMDD` lines, the log lines, the counters.

use super::*;

fn line(id: &MessageId, rcpt: &str, outcome: &str, detail: &str) -> SentLine {
    SentLine {
        time: spool::clock::now(),
        id: id.to_string(),
        recipient: rcpt.to_string(),
        outcome: outcome.into(),
        detail: detail.into(),
    }
}

/// One `sent.YYYYMMDD` line through the worker's open day file (one write(2), O_APPEND).
pub(super) fn sent_line_w(
    ctx: &Context,
    w: &mut Worker,
    id: &MessageId,
    rcpt: &str,
    outcome: &str,
    detail: &str,
) {
    let l = line(id, rcpt, outcome, detail);
    if let Err(e) = l.append_to(&ctx.spool, &mut w.sent_day) {
        log::warn!("{id}: cannot append to the sent day file: {e}");
    }
}

pub(super) fn sent_line(ctx: &Context, id: &MessageId, rcpt: &str, outcome: &str, detail: &str) {
    let l = line(id, rcpt, outcome, detail);
    if let Err(e) = l.append(&ctx.spool) {
        log::warn!("{id}: cannot append to the sent day file: {e}");
    }
}

/// Recipients handled since the daemon last wrote its metrics: counted in memory by the
/// workers, added to the spool's counters once per scan (`daemon.rs`), so a delivery costs no
/// extra file write.
pub struct Tally {
    pub delivered: AtomicU64,
    pub deferred: AtomicU64,
    pub bounced: AtomicU64,
}

pub static TALLY: Tally = Tally {
    delivered: AtomicU64::new(0),
    deferred: AtomicU64::new(0),
    bounced: AtomicU64::new(0),
};

impl Tally {
    fn count(&self, status: &str) {
        let c = match status {
            "sent" => &self.delivered,
            "deferred" => &self.deferred,
            "bounced" => &self.bounced,
            _ => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far, reset to zero.
    pub fn take(&self) -> [(&'static str, u64); 3] {
        [
            ("delivered", self.delivered.swap(0, Ordering::Relaxed)),
            ("deferred", self.deferred.swap(0, Ordering::Relaxed)),
            ("bounced", self.bounced.swap(0, Ordering::Relaxed)),
        ]
    }
}

/// One recipient's line: address, status word, relay, reply or reason.
pub(super) type LogEntry = (String, &'static str, String, String);

pub(super) fn log_attempt(
    ctx: &Context,
    id: &MessageId,
    env: &Envelope,
    logs: &[LogEntry],
    delay: i64,
    next: Option<Duration>,
) {
    for l in logs {
        TALLY.count(l.1);
    }
    let next = next
        .map(|d| format!(", next try in {}s", d.as_secs()))
        .unwrap_or_default();
    if ctx.opts.quiet {
        let sent = logs.iter().filter(|l| l.1 == "sent").count();
        log::info!(
            "{id}: from={} rcpts={} sent={sent} delay={delay}s{next}",
            env.from,
            logs.len()
        );
        return;
    }
    for (to, status, relay, detail) in logs {
        log::info!(
            "{id}: from={} to={to} relay={relay} delay={delay}s status={status} ({detail}){}",
            env.from,
            if *status == "deferred" {
                next.as_str()
            } else {
                ""
            }
        );
    }
}
