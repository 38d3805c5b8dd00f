//! One row per message waiting in `incoming/` (not yet judged) or `outgoing/` (not yet
//! delivered): id, age, size, sender, the recipients still pending, tries, the last error and
//! the next try. The facts come from the spool file's envelope and the message's state file
//! (`spool::state`), which scanmail and smtpfwdd keep; a damaged file is shown as such, never a
//! reason to stop listing.

use serde::Serialize;
use spool::state::State;
use spool::{store, Envelope, Queue, Spool};
use std::time::SystemTime;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    pub queue: &'static str,
    pub id: String,
    /// Seconds since the file was last committed.
    pub age_seconds: u64,
    pub size_bytes: u64,
    /// The envelope sender as stored (`<>` for bounces); "" when the file cannot be read.
    pub sender: String,
    /// Recipients not yet delivered.
    pub pending: Vec<String>,
    /// Scanner failures (incoming) or delivery attempts (outgoing).
    pub tries: i64,
    pub last_error: String,
    /// Unix seconds of the next delivery attempt (outgoing), when one is planned.
    pub next_try: Option<i64>,
}

/// The rows of the queues that hold waiting mail, oldest first within each queue.
pub fn rows(spool: &Spool, now: SystemTime) -> spool::Result<Vec<Row>> {
    let mut out = Vec::new();
    for q in [Queue::Incoming, Queue::Outgoing] {
        for e in store::list(spool, q)? {
            let st = State::load(spool, q, &e.id);
            let (sender, pending, damaged) = match Envelope::open(&e.path) {
                Ok((env, _)) => (
                    env.from.clone(),
                    env.pending().map(|r| r.addr.clone()).collect(),
                    None,
                ),
                Err(err) => (String::new(), Vec::new(), Some(err.to_string())),
            };
            let tries = match q {
                Queue::Outgoing => st.num("attempts"),
                _ => st.num("tries"),
            };
            let next_try = st.get("next_try").and_then(|v| v.trim().parse().ok());
            out.push(Row {
                queue: q.dir_name(),
                id: e.id.to_string(),
                age_seconds: now
                    .duration_since(e.mtime)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                size_bytes: e.size,
                sender,
                pending,
                tries,
                last_error: damaged
                    .or_else(|| st.get("last_error").map(String::from))
                    .unwrap_or_default(),
                next_try,
            });
        }
    }
    Ok(out)
}

/// The rows as `mailq` prints them: a header line per message, then its pending recipients.
pub fn render_text(rows: &[Row], now_unix: i64) -> String {
    if rows.is_empty() {
        return "Mail queue is empty\n".into();
    }
    let mut s = String::new();
    s.push_str("-Queue ID-  --Queue--  -Size- ---Age--- Tries Sender/Recipient-------\n");
    for r in rows {
        s.push_str(&format!(
            "{:<11} {:<10} {:>6} {:>9} {:>5} {}\n",
            r.id,
            r.queue,
            r.size_bytes,
            spool_age(r.age_seconds),
            r.tries,
            if r.sender.is_empty() { "?" } else { &r.sender }
        ));
        if !r.last_error.is_empty() {
            s.push_str(&format!("      ({})\n", r.last_error));
        }
        if let Some(t) = r.next_try {
            let wait = t - now_unix;
            if wait > 0 {
                s.push_str(&format!("      next try in {}\n", spool_age(wait as u64)));
            }
        }
        for p in &r.pending {
            s.push_str(&format!("                                         {p}\n"));
        }
    }
    let bytes: u64 = rows.iter().map(|r| r.size_bytes).sum();
    s.push_str(&format!(
        "-- {} Kbytes in {} Request{}.\n",
        bytes.div_ceil(1024),
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    s
}

fn spool_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rows_from_envelope_and_state() {
        let t = tempfile::tempdir().unwrap();
        let sp = Spool::new(t.path());
        sp.create().unwrap();
        let env = Envelope::new(
            "<a@example.org>",
            ["<b@example.com>".to_string(), "<c@example.com>".to_string()],
        );
        let id = store::write_message(&sp, Queue::Outgoing, &env, b"Subject: x\n\nhi\n").unwrap();
        let mut st = State::default();
        st.set("attempts", 3);
        st.set("next_try", 2_000_000_000i64);
        st.set("last_error", "451 4.3.0 try later");
        st.save(&sp, Queue::Outgoing, &id).unwrap();
        let now = SystemTime::now() + Duration::from_secs(90);
        let r = rows(&sp, now).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].queue, "outgoing");
        assert_eq!(r[0].sender, "<a@example.org>");
        assert_eq!(r[0].pending, vec!["<b@example.com>", "<c@example.com>"]);
        assert_eq!(r[0].tries, 3);
        assert_eq!(r[0].last_error, "451 4.3.0 try later");
        assert!((89..=91).contains(&r[0].age_seconds), "{:?}", r[0]);
        let text = render_text(&r, 1_999_999_000);
        assert!(text.contains(&format!("{id} outgoing")), "{text}");
        assert!(text.contains("next try in 16m"), "{text}");
        assert!(text.ends_with("in 1 Request.\n"), "{text}");
        assert_eq!(render_text(&[], 0), "Mail queue is empty\n");
    }
}
