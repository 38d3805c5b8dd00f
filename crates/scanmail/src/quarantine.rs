//! The admin's tools for `quarantine/`: list, show, release (to outgoing, optionally to another
//! address; the release is the admin's decision, so no re-scan), delete, purge old messages.

use spool::daylog::EmailLine;
use spool::state::State;
use spool::store::{self, FileLock};
use spool::verdict::Verdict;
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
/// One quarantined message, as `--list` and `--show` report it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Held {
    pub id: String,
    /// When it was quarantined (RFC 3339).
    pub time: String,
    /// The envelope sender; "(unreadable)" when the file cannot be parsed.
    pub sender: String,
    pub recipients: Vec<String>,
    pub verdict: String,
    pub detail: String,
    /// The part that matched or was infected.
    pub part: String,
    pub size_bytes: u64,
}

/// What `--show` adds: the decoded parts' index lines and the header lines (control characters
/// replaced).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Shown {
    #[serde(flatten)]
    pub held: Held,
    pub decoded_parts: Vec<String>,
    pub headers: Vec<String>,
}

fn held(spool: &Spool, id: &MessageId, mtime: std::time::SystemTime, size: u64) -> Held {
    let st = State::load(spool, Queue::Quarantine, id);
    let (sender, recipients) = match Envelope::open(&spool.message(Queue::Quarantine, id)) {
        Ok((env, _)) => (
            env.from.clone(),
            env.recipients.iter().map(|r| r.addr.clone()).collect(),
        ),
        Err(_) => ("(unreadable)".into(), Vec::new()),
    };
    let get = |k: &str| st.get(k).unwrap_or("").to_string();
    Held {
        id: id.to_string(),
        time: st
            .get("time")
            .map(String::from)
            .unwrap_or_else(|| chrono::DateTime::<chrono::Local>::from(mtime).to_rfc3339()),
        sender,
        recipients,
        verdict: st.get("verdict").unwrap_or("?").to_string(),
        detail: get("detail"),
        part: get("part"),
        size_bytes: size,
    }
}

/// Every quarantined message, oldest first.
pub fn held_all(spool: &Spool) -> Result<Vec<Held>, ToolError> {
    Ok(store::list(spool, Queue::Quarantine)?
        .into_iter()
        .map(|e| held(spool, &e.id, e.mtime, e.size))
        .collect())
}

/// `--list`: id, date, sender, reason; one line each.
pub fn list(spool: &Spool) -> Result<String, ToolError> {
    let mut out = String::new();
    for h in held_all(spool)? {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}: {}",
            h.id, h.time, h.sender, h.verdict, h.detail
        );
    }
    Ok(out)
}

/// One quarantined message with its decoded parts' index and its headers.
pub fn shown(spool: &Spool, id: &MessageId) -> Result<Shown, ToolError> {
    let p = spool.message(Queue::Quarantine, id);
    let md = fs::metadata(&p).map_err(|_| ToolError::NotFound(id.clone()))?;
    let mut held = held(
        spool,
        id,
        md.modified().unwrap_or(std::time::UNIX_EPOCH),
        md.len(),
    );
    let mut headers = Vec::new();
    if let Ok((_, body)) = Envelope::read_body(&p) {
        held.size_bytes = body.len() as u64;
        let end = body
            .windows(2)
            .position(|w| w == b"\n\n")
            .unwrap_or(body.len());
        headers = String::from_utf8_lossy(&body[..end])
            .lines()
            .map(|l| {
                l.chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect()
            })
            .collect();
    }
    let idx = spool
        .decoded_dir(Queue::Quarantine, id)
        .join(crate::decode::INDEX);
    let decoded_parts = fs::read_to_string(idx)
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default();
    Ok(Shown {
        held,
        decoded_parts,
        headers,
    })
}

/// `--show`: the reason, the envelope, the decoded parts' index and the message's headers.
pub fn show(spool: &Spool, id: &MessageId) -> Result<String, ToolError> {
    let s = shown(spool, id)?;
    let h = &s.held;
    let mut out = String::new();
    for (k, v) in [
        ("time", &h.time),
        ("verdict", &h.verdict),
        ("detail", &h.detail),
        ("part", &h.part),
        ("sender", &h.sender),
    ] {
        let _ = writeln!(out, "{k}: {v}");
    }
    for r in &h.recipients {
        let _ = writeln!(out, "recipient: {r}");
    }
    let _ = writeln!(out, "size: {}", h.size_bytes);
    if !s.decoded_parts.is_empty() {
        let _ = writeln!(out, "decoded parts:");
        for l in &s.decoded_parts {
            let _ = writeln!(out, "  {l}");
        }
    }
    let _ = writeln!(out, "headers:");
    for l in &s.headers {
        let _ = writeln!(out, "  {l}");
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
    store::remove_decoded(spool, Queue::Quarantine, id)?;
    // A new queue life: smtpfwdd counts the bounce age from the file's time, so a message held
    // for days would be bounced at its first temporary failure.
    store::touch_now(spool, Queue::Quarantine, id)?;
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
