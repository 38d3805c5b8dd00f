//! The figures in Prometheus text format, for node_exporter's textfile collector. The file is
//! written under a temp name and renamed, so the collector never reads half a file.

use crate::error::Result;
use crate::Summary;
use spool::verdict::Verdict;
use spool::IoContext;
use std::fmt::Write as _;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A label value with `\`, `"` and newlines escaped.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} gauge");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let labels = if labels.is_empty() {
            String::new()
        } else {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        };
        let _ = writeln!(self.0, "{name}{labels} {value}");
    }
}

/// The metrics text.
pub fn render(s: &Summary) -> String {
    let mut o = Out(String::new());
    day(&mut o, s);
    queues(&mut o, s);
    o.family(
        "gateway_daily_volume_average_messages",
        "Average messages judged per day over the last N days.",
    );
    for w in &s.windows {
        o.sample(
            "gateway_daily_volume_average_messages",
            &[("days", &w.days.to_string())],
            format!("{:.2}", w.average_volume()),
        );
    }
    o.0
}

/// The report day's figures.
fn day(o: &mut Out, s: &Summary) {
    let d = &s.day;
    o.family(
        "gateway_report_day_timestamp_seconds",
        "Start of the day the day_* figures are about (local time).",
    );
    let start = s
        .date
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(chrono::Local).earliest())
        .map_or(0, |t| t.timestamp());
    o.sample("gateway_report_day_timestamp_seconds", &[], start);
    o.family(
        "gateway_day_received_messages",
        "Messages judged by scanmail on the report day.",
    );
    o.sample("gateway_day_received_messages", &[], d.received);
    o.family(
        "gateway_day_received_bytes",
        "Bytes of the messages judged on the report day.",
    );
    o.sample("gateway_day_received_bytes", &[], d.bytes);
    o.family(
        "gateway_day_verdict_messages",
        "Messages judged on the report day, by verdict.",
    );
    for v in [
        Verdict::Clean,
        Verdict::Virus,
        Verdict::Banned,
        Verdict::Unscannable,
        Verdict::TooComplex,
        Verdict::Malformed,
        Verdict::Encrypted,
        Verdict::Released,
    ] {
        o.sample(
            "gateway_day_verdict_messages",
            &[("verdict", v.as_str())],
            d.verdict(v),
        );
    }
    o.family(
        "gateway_day_quarantined_messages",
        "Messages put into quarantine on the report day.",
    );
    o.sample("gateway_day_quarantined_messages", &[], d.quarantined());
    o.family(
        "gateway_day_delivered_recipients",
        "Recipients delivered by smtpfwdd on the report day.",
    );
    o.sample("gateway_day_delivered_recipients", &[], d.delivered);
    o.family(
        "gateway_day_bounced_recipients",
        "Recipients bounced by smtpfwdd on the report day.",
    );
    o.sample("gateway_day_bounced_recipients", &[], d.bounced);
    o.family(
        "gateway_day_virus_detections",
        "Virus detections on the report day, by virus name.",
    );
    for (name, n) in &d.viruses {
        o.sample("gateway_day_virus_detections", &[("name", name)], n);
    }
    o.family(
        "gateway_day_banned_detections",
        "Banned attachments on the report day, by pattern.",
    );
    for (pat, n) in &d.banned {
        o.sample("gateway_day_banned_detections", &[("pattern", pat)], n);
    }
}

/// The queues now and the signature age.
fn queues(o: &mut Out, s: &Summary) {
    o.family(
        "gateway_queue_messages",
        "Messages waiting in each queue now.",
    );
    let queues = [
        ("incoming", &s.queues.incoming),
        ("outgoing", &s.queues.outgoing),
        ("quarantine", &s.queues.quarantine),
    ];
    for (q, st) in queues {
        o.sample("gateway_queue_messages", &[("queue", q)], st.messages);
    }
    o.family("gateway_queue_bytes", "Bytes waiting in each queue now.");
    for (q, st) in queues {
        o.sample("gateway_queue_bytes", &[("queue", q)], st.bytes);
    }
    o.family(
        "gateway_queue_oldest_age_seconds",
        "Age of the oldest message in each queue (0 when empty).",
    );
    for (q, st) in queues {
        o.sample(
            "gateway_queue_oldest_age_seconds",
            &[("queue", q)],
            st.oldest_secs.unwrap_or(0),
        );
    }
    if let Some(age) = s.signature_age {
        o.family(
            "gateway_signature_age_seconds",
            "Age of the newest virus signature file.",
        );
        o.sample("gateway_signature_age_seconds", &[], age);
    }
}

/// Write the metrics file (or the page): a temp file in the same directory, fsync, rename.
///
/// The temp file gets a random name and is created with O_EXCL (`tempfile`), which never
/// follows a symlink: the directory may be shared with the web server or a metrics collector,
/// and a predictable name would let someone plant a symlink there that daysumm then wrote
/// through. The rename replaces whatever `path` was (a symlink included) without following it.
pub fn write(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metrics".into());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        // Readable by the web server or the collector, as the page and the metrics must be.
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .at(dir)?;
    tmp.write_all(text.as_bytes()).at(tmp.path())?;
    tmp.as_file().sync_all().at(tmp.path())?;
    // Dropping a temp file that was not persisted removes it.
    tmp.persist(path).map_err(|e| e.error).at(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
