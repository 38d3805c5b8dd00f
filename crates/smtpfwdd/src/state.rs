//! The retry state of a message waiting in `outgoing/`, kept in its spool state file
//! (`spool::state`): the next-try time so a restarted daemon honours the backoff, the number of
//! attempts, and when the message was first seen (for `[forward] max_age`); times in Unix
//! seconds. A damaged state file is ignored (the message is tried now), never a reason to stop
//! delivering.

use spool::state::State;
use spool::{MessageId, Queue, Spool};
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetryState {
    /// When the message was first seen in outgoing (Unix seconds).
    pub queued: i64,
    pub attempts: u32,
    /// Not before this time (Unix seconds).
    pub next_try: i64,
    /// Why the last attempt failed (the server's reply or the local reason), for `mailwall
    /// queue`.
    pub last_error: String,
}

impl RetryState {
    pub fn load(spool: &Spool, id: &MessageId) -> Option<RetryState> {
        let st = State::load(spool, Queue::Outgoing, id);
        let num = |k: &str| st.get(k)?.trim().parse::<i64>().ok();
        Some(RetryState {
            queued: num("queued")?,
            attempts: u32::try_from(num("attempts")?).ok()?,
            next_try: num("next_try")?,
            last_error: st.get("last_error").unwrap_or_default().to_string(),
        })
    }

    /// Write the state: temp file, fsync, rename (a crash leaves the old or the new state).
    pub fn save(&self, spool: &Spool, id: &MessageId) -> spool::Result<()> {
        let mut st = State::default();
        st.set("queued", self.queued);
        st.set("attempts", self.attempts);
        st.set("next_try", self.next_try);
        if !self.last_error.is_empty() {
            st.set("last_error", &self.last_error);
        }
        st.save(spool, Queue::Outgoing, id)
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
            last_error: "451 4.3.0 try later".into(),
        };
        st.save(&s, &id).unwrap();
        assert_eq!(RetryState::load(&s, &id), Some(st));
    }
}
