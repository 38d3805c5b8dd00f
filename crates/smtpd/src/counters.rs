//! smtpd's live counters on their way to the spool (`.smtpd.metrics`, see `spool::metrics`).
//!
//! Every session adds its figures here when it ends (and a long one every few seconds). From
//! inetd, one process per session, they are written at once. In the daemon, where sessions are
//! threads of one process, they are written at most once a second — by the session that finds a
//! second gone by, or by the accept loop, which looks twice a second — and at shutdown: a locked
//! read-modify-rename per session made ten busy clients queue on the lock after their 221
//! (tests/bench/peers found it). A failure costs the figures, never mail.

use spool::{Queue, Spool};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long figures may wait in the daemon before they are written.
const EVERY: Duration = Duration::from_secs(1);

/// Set by the daemon's accept loop: figures may wait for the next write.
static DAEMON: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct Pending {
    sessions: u64,
    received: u64,
    /// Reply code (and enhanced code) → count.
    refused: BTreeMap<String, u64>,
    written: Option<Instant>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.sessions == 0 && self.received == 0 && self.refused.is_empty()
    }

    fn due(&self) -> bool {
        !DAEMON.load(Ordering::Relaxed) || self.written.is_none_or(|at| at.elapsed() >= EVERY)
    }

    /// Take the figures to write (leaving the moment of writing behind).
    fn take(&mut self) -> Pending {
        self.written = Some(Instant::now());
        Pending {
            sessions: std::mem::take(&mut self.sessions),
            received: std::mem::take(&mut self.received),
            refused: std::mem::take(&mut self.refused),
            written: None,
        }
    }
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    sessions: 0,
    received: 0,
    refused: BTreeMap::new(),
    written: None,
});

fn pending() -> std::sync::MutexGuard<'static, Pending> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// The daemon's accept loop calls this once, before its first session.
pub fn daemon_mode() {
    DAEMON.store(true, Ordering::Relaxed);
}

/// Add a session's figures (`sessions` is 1 when it ended, 0 for a long session's interim
/// figures) and write what is pending when it is due.
pub fn add(spool: &Spool, q: Queue, sessions: u64, received: u64, refused: BTreeMap<String, u64>) {
    let out = {
        let mut p = pending();
        p.sessions += sessions;
        p.received += received;
        for (k, n) in refused {
            *p.refused.entry(k).or_insert(0) += n;
        }
        if !p.due() {
            return;
        }
        p.take()
    };
    write(spool, q, &out);
}

/// Write what is pending if a second has gone by since the last write (the accept loop).
pub fn flush_if_due(spool: &Spool, q: Queue) {
    let out = {
        let mut p = pending();
        if p.is_empty() || !p.due() {
            return;
        }
        p.take()
    };
    write(spool, q, &out);
}

/// Write what is pending now (shutdown).
pub fn flush(spool: &Spool, q: Queue) {
    let out = pending().take();
    write(spool, q, &out);
}

fn write(spool: &Spool, q: Queue, p: &Pending) {
    if p.is_empty() {
        return;
    }
    let r = spool::metrics::update(spool, q, "smtpd", |s| {
        if p.sessions > 0 {
            s.add("mailwall_smtpd_sessions_total", &[], p.sessions as f64);
        }
        if p.received > 0 {
            s.add(
                "mailwall_smtpd_messages_received_total",
                &[],
                p.received as f64,
            );
        }
        for (reason, n) in &p.refused {
            s.add(
                "mailwall_smtpd_messages_refused_total",
                &[("reason", reason)],
                *n as f64,
            );
        }
    });
    if let Err(e) = r {
        log::warn!("cannot update the metrics: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &Spool) -> spool::metrics::Samples {
        spool::metrics::load(s, Queue::Incoming, "smtpd")
    }

    // One test for the whole module: the figures are process-wide.
    #[test]
    fn daemon_figures_wait_at_most_a_second_and_none_are_lost() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let q = Queue::Incoming;
        let refused = |k: &str| BTreeMap::from([(k.to_string(), 1)]);
        // inetd: every session is written at once.
        add(&s, q, 1, 1, BTreeMap::new());
        add(&s, q, 1, 0, refused("550 5.7.1"));
        assert_eq!(read(&s).get("mailwall_smtpd_sessions_total", &[]), 2.0);
        // The daemon: a write is due a second after the last one; the next ones wait.
        daemon_mode();
        std::thread::sleep(EVERY + Duration::from_millis(50));
        add(&s, q, 1, 2, BTreeMap::new());
        assert_eq!(
            read(&s).get("mailwall_smtpd_messages_received_total", &[]),
            3.0
        );
        add(&s, q, 1, 1, refused("550 5.7.1"));
        add(&s, q, 0, 1, BTreeMap::new());
        flush_if_due(&s, q);
        let r = read(&s);
        assert_eq!(r.get("mailwall_smtpd_sessions_total", &[]), 3.0, "waiting");
        std::thread::sleep(EVERY + Duration::from_millis(50));
        flush_if_due(&s, q);
        let r = read(&s);
        assert_eq!(r.get("mailwall_smtpd_sessions_total", &[]), 4.0);
        assert_eq!(r.get("mailwall_smtpd_messages_received_total", &[]), 5.0);
        assert_eq!(
            r.get(
                "mailwall_smtpd_messages_refused_total",
                &[("reason", "550 5.7.1")]
            ),
            2.0
        );
        add(&s, q, 1, 0, BTreeMap::new());
        flush(&s, q);
        assert_eq!(read(&s).get("mailwall_smtpd_sessions_total", &[]), 5.0);
    }
}
