//! Per-message state kept beside a queue file as the dot-file `.<id>.state` (never read as mail):
//! scanmail's scanner-failure count, the reason a message is in quarantine, smtpfwdd's attempts
//! and next-try time. `key=value` lines; written to a temp name, fsynced and renamed, so a crash
//! leaves the old state or the new one. A missing or damaged file reads as empty state: it is
//! never a reason to stop handling the message.

use crate::error::{IoContext, Result};
use crate::id::MessageId;
use crate::layout::{Queue, Spool};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub BTreeMap<String, String>);

impl State {
    /// The state of a message (empty when there is none).
    pub fn load(spool: &Spool, q: Queue, id: &MessageId) -> State {
        let text = std::fs::read_to_string(spool.state_file(q, id)).unwrap_or_default();
        State(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// A number, 0 when absent or damaged.
    pub fn num(&self, k: &str) -> i64 {
        self.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Set a value; control characters become spaces so a value stays on its line.
    pub fn set(&mut self, k: &str, v: impl ToString) {
        let v: String = v
            .to_string()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        self.0.insert(k.to_string(), v);
    }

    /// Write the state of a message: temp file, fsync, rename.
    pub fn save(&self, spool: &Spool, q: Queue, id: &MessageId) -> Result<()> {
        let path = spool.state_file(q, id);
        let tmp = spool.queue(q).join(format!(".tmp.{id}.state"));
        let mut text = String::new();
        for (k, v) in &self.0 {
            text.push_str(&format!("{k}={v}\n"));
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .at(&tmp)?;
        f.write_all(text.as_bytes()).at(&tmp)?;
        f.sync_all().at(&tmp)?;
        std::fs::rename(&tmp, &path).at(&path)
    }

    /// Forget the state of a message.
    pub fn remove(spool: &Spool, q: Queue, id: &MessageId) {
        let _ = std::fs::remove_file(spool.state_file(q, id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let id = MessageId::parse("smtpdAb3xYz").unwrap();
        assert_eq!(State::load(&s, Queue::Incoming, &id), State::default());
        let mut st = State::default();
        st.set("tries", 2);
        st.set("why", "bad\nline");
        st.save(&s, Queue::Incoming, &id).unwrap();
        let back = State::load(&s, Queue::Incoming, &id);
        assert_eq!(back.num("tries"), 2);
        assert_eq!(back.get("why"), Some("bad line"));
        std::fs::write(s.state_file(Queue::Incoming, &id), b"\xff\xfe garbage").unwrap();
        assert_eq!(State::load(&s, Queue::Incoming, &id).num("tries"), 0);
        State::remove(&s, Queue::Incoming, &id);
        assert!(!s.state_file(Queue::Incoming, &id).exists());
        assert!(crate::store::list(&s, Queue::Incoming).unwrap().is_empty());
    }
}
