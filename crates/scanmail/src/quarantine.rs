//! The admin's tools for `quarantine/`: list, show, release (to outgoing, optionally to another
//! address; the release is the admin's decision, so no re-scan), delete, purge old messages.

use spool::daylog::{EmailLine, Verdict};
use spool::state::State;
use spool::store::{self, FileLock};
use spool::{Envelope, MessageId, Queue, Spool};
use std::fmt::Write as _;
use std::fs;
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{0}: not in quarantine")]
    NotFound(MessageId),
    #[error("{0}: in use by another process, try again")]
    Busy(MessageId),
    #[error("invalid address {0:?}")]
    Address(String),
    #[error(transparent)]
    Spool(#[from] spool::Error),
}

fn lock(spool: &Spool, id: &MessageId) -> Result<FileLock, ToolError> {
    let p = spool.message(Queue::Quarantine, id);
    if !p.exists() {
        return Err(ToolError::NotFound(id.clone()));
    }
    FileLock::try_acquire(&p)?.ok_or_else(|| ToolError::Busy(id.clone()))
}

/// One line per quarantined message: id, date, sender, reason.
pub fn list(spool: &Spool) -> Result<String, ToolError> {
    let mut out = String::new();
    for e in store::list(spool, Queue::Quarantine)? {
        let st = State::load(spool, Queue::Quarantine, &e.id);
        let from = Envelope::open(&e.path)
            .map(|(env, _)| env.from)
            .unwrap_or_else(|_| "(unreadable)".into());
        let date = st
            .get("time")
            .map(String::from)
            .unwrap_or_else(|| chrono::DateTime::<chrono::Local>::from(e.mtime).to_rfc3339());
        let reason = format!(
            "{}: {}",
            st.get("verdict").unwrap_or("?"),
            st.get("detail").unwrap_or("")
        );
        let _ = writeln!(out, "{}\t{date}\t{from}\t{reason}", e.id);
    }
    Ok(out)
}

/// The envelope, the reason, the decoded parts' index and the message's headers.
pub fn show(spool: &Spool, id: &MessageId) -> Result<String, ToolError> {
    let p = spool.message(Queue::Quarantine, id);
    if !p.exists() {
        return Err(ToolError::NotFound(id.clone()));
    }
    let mut out = String::new();
    let st = State::load(spool, Queue::Quarantine, id);
    for (k, v) in &st.0 {
        let _ = writeln!(out, "{k}: {v}");
    }
    match Envelope::read_body(&p) {
        Ok((env, body)) => {
            let _ = writeln!(out, "sender: {}", env.from);
            for r in &env.recipients {
                let _ = writeln!(out, "recipient: {}", r.addr);
            }
            let _ = writeln!(out, "size: {}", body.len());
            let idx = spool.decoded_dir(Queue::Quarantine, id).join("index");
            if let Ok(index) = fs::read_to_string(idx) {
                let _ = writeln!(out, "decoded parts:");
                for l in index.lines() {
                    let _ = writeln!(out, "  {l}");
                }
            }
            let _ = writeln!(out, "headers:");
            let end = body
                .windows(2)
                .position(|w| w == b"\n\n")
                .unwrap_or(body.len());
            for l in String::from_utf8_lossy(&body[..end]).lines() {
                let l: String = l
                    .chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect();
                let _ = writeln!(out, "  {l}");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "unreadable: {e}");
        }
    }
    Ok(out)
}

/// Release to outgoing (to `to` instead of the original recipients when given).
pub fn release(spool: &Spool, id: &MessageId, to: Option<&str>) -> Result<(), ToolError> {
    let _lock = lock(spool, id)?;
    let path = spool.message(Queue::Quarantine, id);
    let (mut env, mut body) = Envelope::open(&path)?;
    if let Some(addr) = to {
        let a = addr.trim().trim_matches(['<', '>']);
        if a.is_empty() || a.contains(['<', '>', ' ']) || a.chars().any(char::is_control) {
            return Err(ToolError::Address(addr.into()));
        }
        env = Envelope::new(env.from.clone(), [format!("<{a}>")]);
        env.validate()
            .map_err(|_| ToolError::Address(addr.into()))?;
        drop(body);
        store::rewrite_envelope(spool, Queue::Quarantine, id, &env)?;
        (env, body) = Envelope::open(&path)?;
    }
    drop(body);
    let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let ddir = spool.decoded_dir(Queue::Quarantine, id);
    if ddir.exists() {
        fs::remove_dir_all(&ddir).map_err(|e| spool::Error::io(&ddir, e))?;
    }
    store::move_message(spool, id, Queue::Quarantine, Queue::Outgoing)?;
    State::remove(spool, Queue::Quarantine, id);
    let detail = match to {
        Some(a) => format!("released by the admin to {a}"),
        None => "released by the admin".into(),
    };
    log::info!("{id}: {detail}");
    EmailLine {
        time: spool::clock::now(),
        id: id.to_string(),
        sender: env.from.clone(),
        recipients: env.recipients.iter().map(|r| r.addr.clone()).collect(),
        size,
        verdict: Verdict::Released,
        detail,
    }
    .append(spool)?;
    Ok(())
}

pub fn delete(spool: &Spool, id: &MessageId) -> Result<(), ToolError> {
    let _lock = lock(spool, id)?;
    store::remove_message(spool, Queue::Quarantine, id)?;
    log::info!("{id}: deleted from quarantine by the admin");
    Ok(())
}

/// Delete quarantined messages older than `days` (by the time they were quarantined).
pub fn purge_older(spool: &Spool, days: u64) -> Result<usize, ToolError> {
    let limit = Duration::from_secs(days * 86_400);
    let now = SystemTime::now();
    let mut n = 0;
    for e in store::list(spool, Queue::Quarantine)? {
        let sf = spool.state_file(Queue::Quarantine, &e.id);
        let when = fs::metadata(&sf)
            .and_then(|m| m.modified())
            .unwrap_or(e.mtime);
        if now.duration_since(when).unwrap_or(Duration::ZERO) < limit {
            continue;
        }
        match delete(spool, &e.id) {
            Ok(()) => n += 1,
            Err(err) => log::warn!("{}: not purged: {err}", e.id),
        }
    }
    Ok(n)
}
