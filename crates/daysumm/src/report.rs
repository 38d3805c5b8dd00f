//! The nightly summary as text (etc/summary.tmpl) and as the admin's mail.

use crate::stats::top;
use crate::Summary;
use spool::clock::human_age;
use spool::notice::{self, Notice};
use spool::verdict::Verdict;
use spool::{Config, Spool};
use std::collections::BTreeMap;

/// The built-in text: the shipped template, used when etc/ has none.
pub const TEMPLATE: &str = include_str!("../../../etc/summary.tmpl");
pub const TEMPLATE_NAME: &str = "summary.tmpl";

/// How many names the tables list.
pub const TOP: usize = 10;

fn table(map: &BTreeMap<String, u64>) -> String {
    let rows = top(map, TOP);
    if rows.is_empty() {
        return "  (none)".into();
    }
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(30);
    let mut out: Vec<String> = rows
        .iter()
        .map(|(k, n)| format!("  {k:<width$}  {n:>6}"))
        .collect();
    if map.len() > TOP {
        out.push(format!("  ... and {} more", map.len() - TOP));
    }
    out.join("\n")
}

/// Bytes as `12.3 MB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn oldest(secs: Option<i64>) -> String {
    secs.map_or("-".into(), human_age)
}

/// The report text: `Subject: ...`, a blank line, the body.
pub fn render(s: &Summary, spool: &Spool, cfg: &Config) -> String {
    let template = notice::load_template(spool, TEMPLATE_NAME, TEMPLATE);
    let d = &s.day;
    let mut warnings = Vec::new();
    if d.bad_lines > 0 {
        warnings.push(format!(
            "Warning: {} line(s) of the day files could not be read.",
            d.bad_lines
        ));
    }
    match s.signature_age {
        None => warnings.push(format!(
            "Warning: no virus signature files found in {}.",
            cfg.update.database_dir
        )),
        Some(a) if a > cfg.update.max_signature_age_days as i64 * 86_400 => warnings.push(format!(
            "Warning: the virus signatures are older than {} days: check sigupdate.",
            cfg.update.max_signature_age_days
        )),
        _ => {}
    }
    let warnings = if warnings.is_empty() {
        String::new()
    } else {
        format!("\n{}\n", warnings.join("\n"))
    };
    let n = |v: u64| v.to_string();
    notice::render(
        &template,
        &[
            ("hostname", &cfg.hostname),
            ("date", &s.date.format("%Y-%m-%d (%A)").to_string()),
            ("received", &n(d.received)),
            ("clean", &n(d.verdict(Verdict::Clean))),
            ("volume", &human_bytes(d.bytes)),
            ("delivered", &n(d.delivered)),
            ("bounced", &n(d.bounced)),
            ("quarantined", &n(d.quarantined())),
            ("virus_mails", &n(d.verdict(Verdict::Virus))),
            ("banned_mails", &n(d.verdict(Verdict::Banned))),
            ("unscannable", &n(d.verdict(Verdict::Unscannable))),
            (
                "too_complex",
                &n(d.verdict(Verdict::TooComplex) + d.verdict(Verdict::Malformed)),
            ),
            ("released", &n(d.verdict(Verdict::Released))),
            ("viruses", &table(&d.viruses)),
            ("banned", &table(&d.banned)),
            ("top_senders", &table(&d.quarantined_senders)),
            ("incoming", &s.queues.incoming.messages.to_string()),
            ("incoming_oldest", &oldest(s.queues.incoming.oldest_secs)),
            ("outgoing", &s.queues.outgoing.messages.to_string()),
            ("outgoing_oldest", &oldest(s.queues.outgoing.oldest_secs)),
            ("quarantine", &s.queues.quarantine.messages.to_string()),
            (
                "signature_age",
                &s.signature_age.map_or("unknown".into(), human_age),
            ),
            ("database_dir", &cfg.update.database_dir),
            ("warnings", &warnings),
            ("spool", &spool.root().display().to_string()),
        ],
    )
}

/// The report as a notice to the admin.
pub fn notice(text: &str, cfg: &Config) -> Notice {
    let (subject, body) = notice::split_template(text);
    Notice {
        envelope_from: "<>".into(),
        to: vec![cfg.admin.clone()],
        from_header: format!("\"Virus firewall\" <MAILER-DAEMON@{}>", cfg.hostname),
        subject,
        body,
        extra_headers: vec![("X-Gateway-Report".into(), "daysumm".into())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(999), "999 bytes");
        assert_eq!(human_bytes(12_345_678), "12.3 MB");
    }

    #[test]
    fn template_has_a_subject() {
        let (s, b) = notice::split_template(TEMPLATE);
        assert!(s.contains("{date}"));
        assert!(b.contains("{received}"));
    }
}
