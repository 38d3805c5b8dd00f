//! Logging: one line per event, naming the program and the message id (`smtpdAb3xYz: queued ...`).
//!
//! Run by hand (stderr is a terminal) lines go to stderr; run as a daemon or from cron they go to
//! syslog, facility mail, like Postfix and Obtuse smtpd. `GATEWAY_LOG=stderr` or `=syslog` forces
//! one. The syslog socket is connected at start-up, so it keeps working after a chroot; when a
//! send fails (syslogd restarted and bound a new socket) it is connected again by its path.
//!
//! Levels follow Postfix's grading: info, warning (odd but handled), error (counted, go on).

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::{IsTerminal, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// stderr when it is a terminal, else syslog (falling back to stderr without /dev/log).
    Auto,
    Stderr,
    Syslog,
    /// Syslog, and nothing at all without /dev/log: for smtpd run from inetd, whose stderr is
    /// the client's connection (a log line must never reach the client).
    SyslogOnly,
}

/// The syslog socket and the path it was connected to, for reconnecting.
struct Syslog {
    path: PathBuf,
    sock: Mutex<Option<UnixDatagram>>,
}

impl Syslog {
    fn connect(path: &Path) -> Option<Syslog> {
        let s = Syslog::dial(path)?;
        Some(Syslog {
            path: path.to_path_buf(),
            sock: Mutex::new(Some(s)),
        })
    }

    fn dial(path: &Path) -> Option<UnixDatagram> {
        let s = UnixDatagram::unbound().ok()?;
        s.connect(path).ok()?;
        Some(s)
    }

    /// Send one datagram; after a failure connect once more by path and try again. After a
    /// chroot the path is usually gone and the line falls back to stderr, as before.
    fn send(&self, line: &[u8]) -> bool {
        let Ok(mut guard) = self.sock.lock() else {
            return false;
        };
        if let Some(s) = guard.as_ref() {
            if s.send(line).is_ok() {
                return true;
            }
        }
        *guard = Syslog::dial(&self.path);
        guard.as_ref().is_some_and(|s| s.send(line).is_ok())
    }
}

struct Logger {
    program: &'static str,
    syslog: Option<Syslog>,
    /// Fall back to stderr when syslog is unavailable.
    stderr: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Install the logger once, at the start of `main`. `verbose` enables debug lines.
pub fn init(program: &'static str, target: Target, verbose: bool) {
    let target = match std::env::var("GATEWAY_LOG").as_deref() {
        Ok("stderr") => Target::Stderr,
        Ok("syslog") => Target::Syslog,
        _ => target,
    };
    let want_syslog = match target {
        Target::Stderr => false,
        Target::Syslog | Target::SyslogOnly => true,
        Target::Auto => !std::io::stderr().is_terminal(),
    };
    let stderr = target != Target::SyslogOnly;
    let syslog = if want_syslog {
        ["/dev/log", "/var/run/syslog"]
            .iter()
            .find_map(|p| Syslog::connect(Path::new(p)))
    } else {
        None
    };
    let logger = LOGGER.get_or_init(|| Logger {
        program,
        syslog,
        stderr,
    });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(if verbose {
            LevelFilter::Debug
        } else {
            LevelFilter::Info
        });
    }
}

/// True when log lines go to syslog and stderr is free to be written (not smtpd under inetd,
/// whose stderr is the client): a fatal error is then also worth a line on stderr.
pub fn stderr_is_quiet() -> bool {
    LOGGER.get().is_some_and(|l| l.syslog.is_some() && l.stderr)
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let prefix = match r.level() {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            _ => "",
        };
        let msg = format!("{prefix}{}", r.args());
        // A log line is one line: hostile bytes from the network never forge a second one.
        let msg: String = msg
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        if let Some(sock) = &self.syslog {
            // Facility mail (2); severities err 3, warning 4, info 6, debug 7.
            let sev = match r.level() {
                Level::Error => 3,
                Level::Warn => 4,
                Level::Info => 6,
                _ => 7,
            };
            let ts = chrono::Local::now().format("%b %e %H:%M:%S");
            let line = format!(
                "<{}>{ts} {}[{}]: {msg}",
                2 * 8 + sev,
                self.program,
                std::process::id()
            );
            if sock.send(line.as_bytes()) {
                return;
            }
        }
        if self.stderr {
            // One write per line: threads never interleave inside a line, and never queue on
            // stderr's lock for four small writes.
            let line = format!("{}: {msg}\n", self.program);
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_reconnects_after_the_daemon_restarts() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("log");
        let first = UnixDatagram::bind(&path).unwrap();
        let sys = Syslog::connect(&path).unwrap();
        assert!(sys.send(b"one"));
        let mut buf = [0u8; 16];
        let n = first.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        // syslogd restarts: the old socket goes, a new one is bound at the same path.
        drop(first);
        std::fs::remove_file(&path).unwrap();
        let second = UnixDatagram::bind(&path).unwrap();
        assert!(sys.send(b"two"));
        let n = second.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two");
    }
}
