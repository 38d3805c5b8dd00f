//! Small per-message state files kept beside queue files (dot-files, never read as mail):
//! retry counts in `incoming/.<id>.state`, the reason for a quarantine in
//! `quarantine/.<id>.state`. Both are `key=value` lines, written to a temp name and renamed.

use spool::{MessageId, Queue, Spool};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// `key=value` lines; values are kept on one line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub BTreeMap<String, String>);

impl State {
    pub fn load(path: &Path) -> State {
        let text = std::fs::read_to_string(path).unwrap_or_default();
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

    pub fn num(&self, k: &str) -> i64 {
        self.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    pub fn set(&mut self, k: &str, v: impl ToString) {
        let v: String = v
            .to_string()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        self.0.insert(k.to_string(), v);
    }

    /// Write the state for a message in a queue (temp file + rename).
    pub fn save(&self, spool: &Spool, q: Queue, id: &MessageId) -> io::Result<()> {
        let path = spool.state_file(q, id);
        let tmp = spool.queue(q).join(format!(".tmp.{id}.state"));
        let mut text = String::new();
        for (k, v) in &self.0 {
            text.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    }
}

pub fn remove(spool: &Spool, q: Queue, id: &MessageId) {
    let _ = std::fs::remove_file(spool.state_file(q, id));
}
