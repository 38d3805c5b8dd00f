//! sigupdate's library: fetch new virus signatures (updater or private mirror), find out how old
//! the newest ones are, have clamd reload them, and tell the admin when something is wrong.
#![forbid(unsafe_code)]

pub mod error;
pub mod mirror;
pub mod updater;

use chrono::{DateTime, Local};
use clamav::client::{self, Clamd};
use clamav::database::{self, Newest, Source};
use spool::config::Scanner;
use spool::notice::{self, Notice};
use spool::{Config, Spool};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{Error, Result};

/// The alert's built-in text: the shipped template, used when etc/ has none.
pub const ALERT_TEMPLATE: &str = include_str!("../../../etc/sigupdate-alert.tmpl");
pub const ALERT_TEMPLATE_NAME: &str = "sigupdate-alert.tmpl";

/// Exit status for signatures older than the limit (the contract: 0 fresh, 75 update
/// failed but still fresh, 1 stale).
pub const EXIT_STALE: u8 = 1;

/// Where the signatures come from this run.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// Run this command line (freshclam by default).
    Updater(Vec<String>),
    /// Copy from a private mirror directory.
    MirrorDir(PathBuf),
    /// Give the updater a private mirror URL.
    MirrorUrl(Vec<String>, String),
}

impl Origin {
    /// `--mirror`/`--updater` win over update.mirror/update.updater.
    pub fn choose(cfg: &Config, mirror: Option<&str>, updater: Option<&str>) -> Origin {
        let argv = updater::split_command(updater.unwrap_or(&cfg.update.updater));
        let mirror = mirror.unwrap_or(&cfg.update.mirror).trim();
        if mirror.is_empty() {
            Origin::Updater(argv)
        } else if let Some(p) = mirror.strip_prefix("file://") {
            Origin::MirrorDir(PathBuf::from(p))
        } else if mirror.contains("://") {
            Origin::MirrorUrl(argv, mirror.to_string())
        } else {
            Origin::MirrorDir(PathBuf::from(mirror))
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Origin::Updater(a) => a.join(" "),
            Origin::MirrorDir(d) => format!("mirror {}", d.display()),
            Origin::MirrorUrl(a, u) => format!("{} (private mirror {u})", a.join(" ")),
        }
    }
}

/// How the update step went.
#[derive(Debug)]
pub struct Update {
    /// None: it worked; Some: why it failed.
    pub failure: Option<String>,
    /// What it did, for the log line (`3 copied, 1 unchanged, 0 rejected`, `freshclam ok`).
    pub summary: String,
    /// The updater's last output lines, or the mirror's rejections.
    pub output: Vec<String>,
}

/// True when this process may write into the database directory. In the default layout it may
/// not: the signatures belong to clamav (a uucp compromise must not be able to add an `.ign2`
/// that silences detections), and the system's freshclam updates them from root's crontab.
pub fn database_writable(db: &Path) -> bool {
    nix::unistd::access(db, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// Run the update step; nothing is fetched into a database this process cannot write.
pub fn update(origin: &Origin, cfg: &Config) -> Update {
    let db = Path::new(&cfg.update.database_dir);
    if !database_writable(db) {
        return Update {
            failure: None,
            summary: format!(
                "not updated: {} is not writable by uid {} (clamav's own freshclam, run from \
                 root's crontab, keeps it up to date)",
                db.display(),
                nix::unistd::geteuid()
            ),
            output: Vec::new(),
        };
    }
    match origin {
        Origin::MirrorDir(dir) => match mirror::sync(dir, db, &cfg.update.sigtool) {
            Ok(s) => Update {
                failure: (!s.rejected.is_empty())
                    .then(|| format!("the mirror offered {} refused file(s)", s.rejected.len())),
                summary: format!("mirror {}: {}", dir.display(), s.summary()),
                output: s
                    .rejected
                    .iter()
                    .map(ToString::to_string)
                    .chain(s.copied.iter().map(|n| format!("copied {n}")))
                    .collect(),
            },
            Err(e) => Update {
                failure: Some(e.to_string()),
                summary: format!("mirror {}: failed", dir.display()),
                output: vec![e.to_string()],
            },
        },
        Origin::Updater(argv) => run_updater(argv, &[]),
        Origin::MirrorUrl(argv, url) => {
            let dir = match tempfile::tempdir() {
                Ok(d) => d,
                Err(e) => {
                    return Update {
                        failure: Some(format!("cannot create a temp directory: {e}")),
                        summary: "updater not run".into(),
                        output: Vec::new(),
                    }
                }
            };
            match updater::private_mirror_config(dir.path(), url, db) {
                Ok(conf) => run_updater(argv, &[format!("--config-file={}", conf.display())]),
                Err(e) => Update {
                    failure: Some(e.to_string()),
                    summary: "updater not run".into(),
                    output: Vec::new(),
                },
            }
        }
    }
}

fn run_updater(argv: &[String], extra: &[String]) -> Update {
    let name = argv.first().cloned().unwrap_or_default();
    match updater::run(argv, extra, updater::TIMEOUT) {
        Ok(out) => Update {
            failure: None,
            summary: format!("{name} ok"),
            output: out.tail,
        },
        Err((e, out)) => Update {
            failure: Some(e.to_string()),
            summary: format!("{name} failed"),
            output: out.tail,
        },
    }
}

/// What clamd said this run.
#[derive(Debug)]
pub struct ClamdState {
    /// Where clamd was asked (scan.clamd_socket).
    pub addr: String,
    /// The scanner is clamd (or clamdscan): clamd not answering means mail is not scanned.
    pub expected: bool,
    /// Ok: clamd answered PING with PONG; Err: why not.
    pub ping: std::result::Result<(), String>,
    pub version: Option<client::Version>,
    /// Ok: reload requested; Err: why not (unreachable, odd reply).
    pub reload: std::result::Result<(), String>,
}

impl ClamdState {
    pub fn describe(&self) -> String {
        if let Err(e) = &self.ping {
            return format!("does not answer ({e})");
        }
        match (&self.version, &self.reload) {
            (Some(v), Ok(())) => format!("{} reloaded", v.engine),
            (Some(v), Err(e)) => format!("{}, reload failed: {e}", v.engine),
            (None, Ok(())) => "reloaded".into(),
            (None, Err(e)) => format!("not reloaded: {e}"),
        }
    }

    /// The scanner needs clamd and clamd did not answer PING.
    pub fn down(&self) -> bool {
        self.expected && self.ping.is_err()
    }
}

fn reason(e: clamav::Error) -> String {
    match e {
        clamav::Error::Clamd { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// How long one exchange with clamd may take (RELOAD is answered at once, the load itself
/// happens in the background).
const CLAMD_TIMEOUT: Duration = Duration::from_secs(10);

/// PING clamd; when it answers, ask for its version and have it reload the database directory.
/// `expected`: the configured scanner is clamd or clamdscan.
pub fn talk_to_clamd(addr: &str, expected: bool) -> ClamdState {
    let clamd = Clamd::new(addr, CLAMD_TIMEOUT);
    if let Err(e) = clamd.ping() {
        return ClamdState {
            addr: addr.to_string(),
            expected,
            ping: Err(reason(e)),
            version: None,
            reload: Err("not asked: no answer to PING".into()),
        };
    }
    let version = match clamd.version() {
        Ok(v) => Some(v),
        Err(e) => {
            log::debug!("{e}");
            None
        }
    };
    let reload = clamd.reload().map_err(reason);
    ClamdState {
        addr: addr.to_string(),
        expected,
        ping: Ok(()),
        version,
        reload,
    }
}

/// The newest signatures: the later of what clamd reports and what the signed files on disk
/// say (clamd is told to reload right after, so the disk is what it will use); the files'
/// modification time when neither knows a build date.
pub fn newest(cfg: &Config, clamd: &ClamdState) -> Result<Option<Newest>> {
    let from_clamd = clamd.version.as_ref().and_then(|v| {
        v.built.map(|built| Newest {
            version: v.database,
            built,
            source: Source::Clamd,
        })
    });
    // A database directory that is missing or unreadable holds no signatures we can vouch
    // for: that is "stale (or missing)", alerted with exit 1, not an internal error.
    let on_disk =
        match database::newest_on_disk(&cfg.update.sigtool, Path::new(&cfg.update.database_dir)) {
            Ok(d) => d,
            Err(e) => {
                log::warn!("{e}");
                None
            }
        };
    Ok(match (from_clamd, on_disk) {
        (Some(c), Some(d)) if d.source == Source::Sigtool && d.built > c.built => Some(d),
        (Some(c), _) => Some(c),
        (None, d) => d,
    })
}

pub use spool::clock::human_age;

/// The outcome of one run.
#[derive(Debug)]
pub struct Report {
    pub origin: Origin,
    pub update: Update,
    pub clamd: ClamdState,
    pub newest: Option<Newest>,
    pub now: DateTime<Local>,
    pub max_age_days: u64,
}

impl Report {
    pub fn age_secs(&self) -> Option<i64> {
        self.newest
            .as_ref()
            .map(|n| (self.now - n.built).num_seconds())
    }

    /// No signatures at all count as stale.
    pub fn stale(&self) -> bool {
        self.age_secs()
            .is_none_or(|a| a > self.max_age_days as i64 * 86_400)
    }

    pub fn exit_code(&self) -> u8 {
        if self.stale() {
            EXIT_STALE
        } else if self.clamd.down() {
            spool::exit::UNAVAILABLE
        } else if self.update.failure.is_some() {
            spool::exit::TEMPFAIL
        } else {
            spool::exit::OK
        }
    }

    pub fn needs_alert(&self) -> bool {
        self.stale() || self.clamd.down() || self.update.failure.is_some()
    }

    /// What is wrong, in a few words (the alert's subject).
    pub fn problem(&self) -> String {
        let mut p = Vec::new();
        if let (true, Err(e)) = (self.clamd.down(), &self.clamd.ping) {
            p.push(format!(
                "clamd does not answer at {} ({e}): mail waits in incoming/ unscanned",
                self.clamd.addr
            ));
        }
        if let Some(f) = &self.update.failure {
            p.push(format!("signature update failed ({f})"));
        }
        if self.stale() {
            p.push(match self.age_secs() {
                Some(a) => format!(
                    "virus signatures are {} old (limit {} days)",
                    human_age(a),
                    self.max_age_days
                ),
                None => "no virus signatures found".into(),
            });
        }
        if p.is_empty() {
            "signatures are fresh".into()
        } else {
            p.join("; ")
        }
    }

    fn version_text(&self) -> String {
        match self.newest.as_ref().and_then(|n| n.version) {
            Some(v) => v.to_string(),
            None => "unknown (no signed database)".into(),
        }
    }

    /// The one log line of the run.
    pub fn log_line(&self) -> String {
        let sigs = match &self.newest {
            Some(n) => format!(
                "signatures version {} built {} ({} old, from {})",
                n.version.map_or("-".to_string(), |v| v.to_string()),
                n.built.format("%Y-%m-%d %H:%M"),
                human_age(self.age_secs().unwrap_or(0)),
                n.source.as_str()
            ),
            None => "no signatures found".into(),
        };
        let verdict = match self.exit_code() {
            EXIT_STALE => "STALE",
            spool::exit::UNAVAILABLE => "CLAMD DOES NOT ANSWER",
            spool::exit::TEMPFAIL => "update failed, still fresh",
            _ => "fresh",
        };
        let failure = self
            .update
            .failure
            .as_ref()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        format!(
            "update: {}{failure}; {sigs}; clamd {}; {verdict}",
            self.update.summary,
            self.clamd.describe()
        )
    }

    /// The admin's alert, from etc/sigupdate-alert.tmpl.
    pub fn alert(&self, spool: &Spool, cfg: &Config) -> Notice {
        let template = notice::load_template(spool, ALERT_TEMPLATE_NAME, ALERT_TEMPLATE);
        let problem = self.problem();
        let update_result = match &self.update.failure {
            Some(f) => format!("FAILED: {f}"),
            None => self.update.summary.clone(),
        };
        let build_date = self.newest.as_ref().map_or("unknown".into(), |n| {
            n.built.format("%Y-%m-%d %H:%M %z").to_string()
        });
        let age = self.age_secs().map_or("unknown".into(), human_age);
        let source = self
            .newest
            .as_ref()
            .map_or("nothing", |n| n.source.as_str());
        let output = if self.update.output.is_empty() {
            "  (none)".to_string()
        } else {
            self.update
                .output
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let text = notice::render(
            &template,
            &[
                ("hostname", &cfg.hostname),
                ("problem", &problem),
                ("updater", &self.origin.describe()),
                ("update_result", &update_result),
                ("version", &self.version_text()),
                ("build_date", &build_date),
                ("age", &age),
                ("max_age_days", &self.max_age_days.to_string()),
                ("source", source),
                ("database_dir", &cfg.update.database_dir),
                (
                    "clamd",
                    &format!("{} ({})", cfg.scan.clamd_socket, self.clamd.describe()),
                ),
                ("output", &output),
                ("spool", &spool.root().display().to_string()),
            ],
        );
        let (subject, body) = notice::split_template(&text);
        Notice {
            envelope_from: "<>".into(),
            to: vec![cfg.admin.clone()],
            from_header: format!("\"Virus firewall\" <MAILER-DAEMON@{}>", cfg.hostname),
            subject,
            body,
            extra_headers: vec![("X-Gateway-Alert".into(), "sigupdate".into())],
        }
    }
}

/// One whole run: update, clamd, freshness. The caller logs, alerts and exits.
pub fn check(cfg: &Config, origin: Origin) -> Result<Report> {
    let update = update(&origin, cfg);
    let expected = matches!(cfg.scan.scanner, Scanner::Clamd | Scanner::Clamdscan);
    // With a pool of clamd hosts, the first endpoint is this host's (the database sigupdate
    // looks after); the pool's other hosts keep their own signatures.
    let local = client::endpoints(&cfg.scan.clamd_socket)
        .into_iter()
        .next()
        .unwrap_or_else(|| cfg.scan.clamd_socket.clone());
    let clamd = talk_to_clamd(&local, expected);
    let newest = newest(cfg, &clamd)?;
    Ok(Report {
        origin,
        update,
        clamd,
        newest,
        now: spool::clock::now(),
        max_age_days: cfg.update.max_signature_age_days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_choice() {
        let mut cfg = Config::default();
        assert_eq!(
            Origin::choose(&cfg, None, None),
            Origin::Updater(vec!["freshclam".into()])
        );
        assert_eq!(
            Origin::choose(&cfg, Some("/srv/mirror"), None),
            Origin::MirrorDir("/srv/mirror".into())
        );
        cfg.update.mirror = "http://mirror.internal/clamav".into();
        assert_eq!(
            Origin::choose(&cfg, None, Some("freshclam --quiet")),
            Origin::MirrorUrl(
                vec!["freshclam".into(), "--quiet".into()],
                "http://mirror.internal/clamav".into()
            )
        );
        assert_eq!(
            Origin::choose(&cfg, Some("file:///srv/m"), None),
            Origin::MirrorDir("/srv/m".into())
        );
    }

    #[test]
    fn ages() {
        assert_eq!(human_age(90), "1 minute");
        assert_eq!(human_age(3 * 3600 + 5), "3 hours");
        assert_eq!(human_age(8 * 86_400 + 3600), "8 days 1 hour");
    }

    #[test]
    fn the_alert_template_has_a_subject() {
        let (s, b) = notice::split_template(ALERT_TEMPLATE);
        assert!(s.contains("{problem}"), "{s}");
        assert!(b.contains("{output}"), "{b}");
    }
}
