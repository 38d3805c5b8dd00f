//! Live metrics for node_exporter's textfile collector.
//!
//! Each program that moves mail keeps its counters in the spool, in a dot-file of the queue it
//! writes (`incoming/.smtpd.metrics`, `incoming/.scanmail.metrics`, `outgoing/.smtpfwdd.metrics`;
//! never read as mail), so they are monotonic across restarts and reachable from smtpd's chroot
//! (and, in the hardened layout, where only the queues are writable). A program adds to its
//! counters when it finishes a pass, a scan or a session ([`update`]), under a lock so that
//! smtpd's session processes never lose each other's increments.
//!
//! `[report] metrics_dir` names the collector's directory; [`write_textfile`] writes a file there
//! under a temp name and renames it, so the collector never reads half a file. Counters are
//! stored in the exposition format itself, one `name{labels} value` line each.
//!
//! Every metric name lives in [`FAMILIES`], with its type and help text: the programs, the
//! renderer and the alert rules in `etc/prometheus/` use these names and no others.

use crate::error::{Error, IoContext, Result};
use crate::layout::{Queue, Spool};
use nix::fcntl::{Flock, FlockArg};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Counter or gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// Every metric the gateway exports: name, type, help.
pub const FAMILIES: &[(&str, Kind, &str)] = &[
    (
        "mailwall_smtpd_messages_received_total",
        Kind::Counter,
        "Messages smtpd accepted (250 after DATA) into incoming/.",
    ),
    (
        "mailwall_smtpd_messages_refused_total",
        Kind::Counter,
        "Transactions or commands smtpd refused, by reason.",
    ),
    (
        "mailwall_smtpd_sessions_total",
        Kind::Counter,
        "SMTP sessions smtpd served.",
    ),
    (
        "mailwall_scanmail_messages_judged_total",
        Kind::Counter,
        "Messages scanmail judged, by verdict.",
    ),
    (
        "mailwall_scanmail_viruses_total",
        Kind::Counter,
        "Viruses found, by name.",
    ),
    (
        "mailwall_scanmail_banned_total",
        Kind::Counter,
        "Messages banned, by the matches.bad pattern that matched.",
    ),
    (
        "mailwall_scanmail_scanner_failures_total",
        Kind::Counter,
        "Messages left in incoming/ because the scanner failed.",
    ),
    (
        "mailwall_scanmail_last_success_timestamp_seconds",
        Kind::Gauge,
        "When scanmail last finished a pass with a working scanner (Unix time).",
    ),
    (
        "mailwall_clamd_up",
        Kind::Gauge,
        "1 when clamd answered on the last pass, 0 when it did not.",
    ),
    (
        "mailwall_smtpfwdd_recipients_total",
        Kind::Counter,
        "Recipients smtpfwdd handled, by result (delivered, deferred, bounced).",
    ),
    (
        "mailwall_queue_messages",
        Kind::Gauge,
        "Messages waiting in a queue.",
    ),
    (
        "mailwall_queue_oldest_age_seconds",
        Kind::Gauge,
        "Age of the oldest message in a queue (0 when empty).",
    ),
    (
        "mailwall_quarantine_bytes",
        Kind::Gauge,
        "Bytes of mail held in quarantine/.",
    ),
    (
        "mailwall_signatures_age_seconds",
        Kind::Gauge,
        "Age of the newest file of the virus signature database.",
    ),
];

fn family(name: &str) -> Option<(Kind, &'static str)> {
    FAMILIES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, k, h)| (*k, *h))
}

/// Labels, sorted by name.
pub type Labels = Vec<(String, String)>;

/// A set of samples: name and labels → value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples(BTreeMap<(String, Labels), f64>);

impl Samples {
    /// Add to a counter (or set a gauge with [`Samples::set`]).
    pub fn add(&mut self, name: &str, labels: &[(&str, &str)], by: f64) {
        *self.0.entry(key(name, labels)).or_insert(0.0) += by;
    }

    pub fn set(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.insert(key(name, labels), value);
    }

    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0.get(&key(name, labels)).copied().unwrap_or(0.0)
    }

    /// Every sample: (name, labels) and value.
    pub fn iter(&self) -> impl Iterator<Item = (&(String, Labels), f64)> {
        self.0.iter().map(|(k, v)| (k, *v))
    }

    pub fn merge(&mut self, other: &Samples) {
        for (k, v) in &other.0 {
            self.0.insert(k.clone(), *v);
        }
    }

    /// Parse our own exposition lines; lines that do not parse are dropped (a damaged file
    /// costs counts, never a program's run).
    pub fn parse(text: &str) -> Samples {
        let mut s = Samples::default();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = parse_line(line) {
                s.0.insert(k, v);
            }
        }
        s
    }

    /// The exposition text: `# HELP` and `# TYPE` once per family, then its samples.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut last = "";
        for ((name, labels), v) in &self.0 {
            if name != last {
                if let Some((kind, help)) = family(name) {
                    let _ = writeln!(out, "# HELP {name} {help}");
                    let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
                }
                last = name;
            }
            out.push_str(name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, val)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape(val));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", fmt_value(*v));
        }
        out
    }
}

fn key(name: &str, labels: &[(&str, &str)]) -> (String, Labels) {
    let mut l: Labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), clean_value(v)))
        .collect();
    l.sort();
    (name.to_string(), l)
}

/// Label values come from mail (virus names, patterns): bounded length, no control characters.
fn clean_value(v: &str) -> String {
    v.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn parse_line(line: &str) -> Option<((String, Labels), f64)> {
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        None => (head, Vec::new()),
        Some((n, rest)) => (n, parse_labels(rest.strip_suffix('}')?)?),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some(((name.to_string(), labels), value))
}

fn parse_labels(s: &str) -> Option<Labels> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut k = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            k.push(c);
        }
        if k.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            return None;
        }
        let mut v = String::new();
        loop {
            match chars.next()? {
                '\\' => v.push(chars.next()?),
                '"' => break,
                c => v.push(c),
            }
        }
        out.push((k, v));
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(_) => return None,
        }
    }
    out.sort();
    Some(out)
}

/// True for the name of a counters file, its lock or its temp file: program state in a queue
/// directory, never mail (for listings that show everything else).
pub fn is_metrics_file(name: &str) -> bool {
    name.starts_with('.') && (name.ends_with(".metrics") || name.ends_with(".metrics.lock"))
}

/// The counters file of a program, in the queue it writes.
pub fn counters_path(spool: &Spool, q: Queue, program: &str) -> PathBuf {
    spool.queue(q).join(format!(".{program}.metrics"))
}

/// Add to a program's persisted counters: lock, read, apply `f`, write a temp file, rename.
/// Returns the counters after the change.
pub fn update(
    spool: &Spool,
    q: Queue,
    program: &str,
    f: impl FnOnce(&mut Samples),
) -> Result<Samples> {
    let path = counters_path(spool, q, program);
    let lock_path = spool.queue(q).join(format!(".{program}.metrics.lock"));
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&lock_path)
        .at(&lock_path)?;
    // Blocking: a session process waits the few microseconds another one holds it.
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::io(&lock_path, std::io::Error::from(e)))?;
    let mut s = Samples::parse(&fs::read_to_string(&path).unwrap_or_default());
    f(&mut s);
    let tmp = spool.queue(q).join(format!(".tmp.{program}.metrics"));
    write_replace(&tmp, &path, s.render().as_bytes(), 0o600)?;
    Ok(s)
}

/// A program's persisted counters (empty when none yet).
pub fn load(spool: &Spool, q: Queue, program: &str) -> Samples {
    Samples::parse(&fs::read_to_string(counters_path(spool, q, program)).unwrap_or_default())
}

/// The programs whose counters are exported, and the queue each keeps them in.
pub const PROGRAMS: &[(&str, Queue)] = &[
    ("smtpd", Queue::Incoming),
    ("scanmail", Queue::Incoming),
    ("smtpfwdd", Queue::Outgoing),
];

/// The file written into `[report] metrics_dir`.
pub const TEXTFILE: &str = "mailwall.prom";

/// Every program's counters and the queue gauges, now.
pub fn gather(spool: &Spool, now: std::time::SystemTime) -> Result<Samples> {
    let mut s = Samples::default();
    for (program, q) in PROGRAMS {
        s.merge(&load(spool, *q, program));
    }
    for q in [Queue::Incoming, Queue::Outgoing, Queue::Quarantine] {
        let entries = crate::store::list(spool, q)?;
        let name = q.dir_name();
        s.set(
            "mailwall_queue_messages",
            &[("queue", name)],
            entries.len() as f64,
        );
        let oldest = entries
            .iter()
            .map(|e| now.duration_since(e.mtime).map_or(0, |d| d.as_secs()))
            .max()
            .unwrap_or(0);
        s.set(
            "mailwall_queue_oldest_age_seconds",
            &[("queue", name)],
            oldest as f64,
        );
        if q == Queue::Quarantine {
            let bytes: u64 = entries.iter().map(|e| e.size).sum();
            s.set("mailwall_quarantine_bytes", &[], bytes as f64);
        }
    }
    Ok(s)
}

/// Write the metrics file when `[report] metrics_dir` is set; `Ok(None)` when it is not.
pub fn export(spool: &Spool, cfg: &crate::Config) -> Result<Option<PathBuf>> {
    if cfg.report.metrics_dir.is_empty() {
        return Ok(None);
    }
    let s = gather(spool, std::time::SystemTime::now())?;
    write_textfile(Path::new(&cfg.report.metrics_dir), TEXTFILE, &s.render()).map(Some)
}

/// Write `<dir>/<name>` for the textfile collector: temp name in the same directory, rename.
/// Readable by the collector (0644): metrics hold counts and names, no mail.
pub fn write_textfile(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    write_replace(&tmp, &path, text.as_bytes(), 0o644)?;
    Ok(path)
}

fn write_replace(tmp: &Path, path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let _ = fs::remove_file(tmp);
    let mut f: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .at(tmp)?;
    f.write_all(data).at(tmp)?;
    drop(f);
    fs::rename(tmp, path).at(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_parse_round_trip_with_hostile_labels() {
        let mut s = Samples::default();
        s.add(
            "mailwall_scanmail_viruses_total",
            &[("name", "Eicar\"x\\y\nz")],
            2.0,
        );
        s.add(
            "mailwall_scanmail_messages_judged_total",
            &[("verdict", "clean")],
            5.0,
        );
        s.set("mailwall_clamd_up", &[], 1.0);
        let text = s.render();
        assert!(text.contains("# TYPE mailwall_clamd_up gauge\nmailwall_clamd_up 1\n"));
        assert!(text.contains("name=\"Eicar\\\"x\\\\y?z\"} 2\n"), "{text}");
        assert_eq!(Samples::parse(&text), s);
        // Help and type once per family.
        s.add(
            "mailwall_scanmail_messages_judged_total",
            &[("verdict", "virus")],
            1.0,
        );
        let text = s.render();
        assert_eq!(
            text.matches("# TYPE mailwall_scanmail_messages_judged_total")
                .count(),
            1
        );
    }

    #[test]
    fn counters_survive_restarts_and_concurrent_writers() {
        let t = tempfile::tempdir().unwrap();
        let sp = Spool::new(t.path());
        sp.create().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let sp = sp.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        update(&sp, Queue::Incoming, "smtpd", |s| {
                            s.add("mailwall_smtpd_messages_received_total", &[], 1.0)
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        let s = load(&sp, Queue::Incoming, "smtpd");
        assert_eq!(s.get("mailwall_smtpd_messages_received_total", &[]), 200.0);
        // Never visible as mail.
        assert!(crate::store::list(&sp, Queue::Incoming).unwrap().is_empty());
    }

    #[test]
    fn gather_counts_queues_and_merges_programs() {
        let t = tempfile::tempdir().unwrap();
        let sp = Spool::new(t.path());
        sp.create().unwrap();
        let env = crate::Envelope::new("<a@b.c>", ["<d@e.f>".to_string()]);
        crate::store::write_message(&sp, Queue::Quarantine, &env, b"x\n").unwrap();
        crate::store::write_message(&sp, Queue::Outgoing, &env, b"x\n").unwrap();
        crate::store::write_message(&sp, Queue::Outgoing, &env, b"x\n").unwrap();
        update(&sp, Queue::Outgoing, "smtpfwdd", |s| {
            s.add(
                "mailwall_smtpfwdd_recipients_total",
                &[("result", "delivered")],
                3.0,
            )
        })
        .unwrap();
        let s = gather(&sp, std::time::SystemTime::now()).unwrap();
        assert_eq!(
            s.get("mailwall_queue_messages", &[("queue", "outgoing")]),
            2.0
        );
        assert_eq!(
            s.get("mailwall_queue_messages", &[("queue", "incoming")]),
            0.0
        );
        assert!(s.get("mailwall_quarantine_bytes", &[]) > 0.0);
        assert_eq!(
            s.get(
                "mailwall_smtpfwdd_recipients_total",
                &[("result", "delivered")]
            ),
            3.0
        );
    }

    #[test]
    fn textfile_is_replaced_whole() {
        let t = tempfile::tempdir().unwrap();
        let p = write_textfile(t.path(), "x.prom", "a 1\n").unwrap();
        write_textfile(t.path(), "x.prom", "a 2\n").unwrap();
        assert_eq!(fs::read_to_string(p).unwrap(), "a 2\n");
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
    }
}
