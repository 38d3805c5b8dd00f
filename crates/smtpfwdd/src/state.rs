//! The retry state of a message waiting in `outgoing/`: `.<id>.state` beside it (a dot-file, never
//! taken for mail). It keeps the next-try time so a restarted daemon honours the backoff, the
//! number of attempts, and when the message was first seen (for `[forward] max_age`).
//!
//! Format: `key value` lines (`queued`, `attempts`, `next_try`; times in Unix seconds). A damaged
//! state file is ignored (the message is tried now), never a reason to stop delivering.

use spool::{MessageId, Queue, Spool};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetryState {
    /// When the message was first seen in outgoing (Unix seconds).
    pub queued: i64,
    pub attempts: u32,
    /// Not before this time (Unix seconds).
    pub next_try: i64,
}

impl RetryState {
    pub fn load(spool: &Spool, id: &MessageId) -> Option<RetryState> {
        let text = std::fs::read_to_string(spool.state_file(Queue::Outgoing, id)).ok()?;
        let mut st = RetryState::default();
        for line in text.lines() {
            let (k, v) = line.split_once(' ')?;
            match k {
                "queued" => st.queued = v.trim().parse().ok()?,
                "attempts" => st.attempts = v.trim().parse().ok()?,
                "next_try" => st.next_try = v.trim().parse().ok()?,
                _ => {}
            }
        }
        Some(st)
    }

    /// Write the state durably enough: temp file + rename (a crash leaves the old or new state).
    pub fn save(&self, spool: &Spool, id: &MessageId) -> std::io::Result<()> {
        let path = spool.state_file(Queue::Outgoing, id);
        let tmp = spool
            .queue(Queue::Outgoing)
            .join(format!(".{id}.state.new"));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        write!(
            f,
            "queued {}\nattempts {}\nnext_try {}\n",
            self.queued, self.attempts, self.next_try
        )?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    }
}

/// The wait after the `attempts`-th failed attempt: `base`, doubling, at most 60 × `base`
/// (1 minute to 1 hour with the default base).
pub fn backoff(attempts: u32, base: Duration) -> Duration {
    let cap = base * 60;
    let shift = attempts.saturating_sub(1).min(16);
    (base * (1u32 << shift)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubling_capped() {
        let m = Duration::from_secs(60);
        assert_eq!(backoff(1, m), m);
        assert_eq!(backoff(2, m), m * 2);
        assert_eq!(backoff(6, m), m * 32);
        assert_eq!(backoff(7, m), Duration::from_secs(3600));
        assert_eq!(backoff(100, m), Duration::from_secs(3600));
    }

    #[test]
    fn round_trip() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let id = MessageId::parse("smtpdAb3xYz").unwrap();
        assert_eq!(RetryState::load(&s, &id), None);
        let st = RetryState {
            queued: 10,
            attempts: 2,
            next_try: 99,
        };
        st.save(&s, &id).unwrap();
        assert_eq!(RetryState::load(&s, &id), Some(st));
    }
}
