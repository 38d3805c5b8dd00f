//! What the smtpd tests share: starting the real binary (daemon on a loopback port, or inetd mode
//! over pipes), a raw SMTP client for exact reply codes, and Python smtplib scripts.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::spool::Queue;
use testkit::{free_port, wait_for, Proc, TestSpool, PYTHON};

pub const SMTPD: &str = env!("CARGO_BIN_EXE_smtpd");
pub const BANNER: &str = "220 gw.example.com SMTP ready, Who are you gonna pretend to be today?";

/// gateway.conf for the tests: no DNS, no free-space floor, plus `extra` lines in [smtpd].
pub fn conf(extra: &str) -> String {
    format!(
        "hostname = \"gw.example.com\"\ndomains = [\"example.com\"]\n[smtpd]\n\
         dns_lookups = false\nmin_free_bytes = 0\n{extra}\n"
    )
}

pub struct Daemon {
    pub proc: Proc,
    pub port: u16,
    pub log: PathBuf,
}

impl Daemon {
    /// `smtpd -D` on 127.0.0.1 and a free port, logging to a file beside the spool.
    pub fn start(ts: &TestSpool, extra: &[&str]) -> Daemon {
        for _ in 0..20 {
            let port = free_port();
            let log = ts.dir.path().join(format!("smtpd-{port}.log"));
            let proc = Proc::spawn(
                "smtpd",
                Command::new(SMTPD)
                    .args(["-D", "-H", "-l", "127.0.0.1", "-p", &port.to_string()])
                    .arg("--spool")
                    .arg(ts.root())
                    .args(extra)
                    .env("GATEWAY_LOG", "stderr")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(File::create(&log).unwrap()),
            );
            let mut d = Daemon { proc, port, log };
            let up = wait_for(Duration::from_secs(10), || {
                if d.proc.child.try_wait().ok().flatten().is_some() {
                    return Some(false);
                }
                TcpStream::connect(("127.0.0.1", port)).ok().map(|_| true)
            });
            if up == Some(true) {
                // The probe's session counts against max_clients until it has ended.
                wait_for(Duration::from_secs(10), || {
                    d.log_text().contains("session: ").then_some(())
                });
                return d;
            }
            let log = d.log_text();
            assert!(log.contains("cannot listen"), "smtpd did not start: {log}");
        }
        panic!("no free port for smtpd");
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn connect(&self) -> Raw<TcpStream, TcpStream> {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Raw::new(s.try_clone().unwrap(), s)
    }

    /// The pid of the process serving connections (the daemon itself: threads, not forks).
    pub fn pid(&self) -> i32 {
        self.proc.pid()
    }
}

/// A raw SMTP client: exact bytes out, whole replies (multi-line joined with \n) back.
pub struct Raw<R: Read, W: Write> {
    pub r: BufReader<R>,
    pub w: W,
}

impl<R: Read, W: Write> Raw<R, W> {
    pub fn new(r: R, w: W) -> Self {
        Raw {
            r: BufReader::new(r),
            w,
        }
    }

    /// One reply; "" at end of stream.
    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match self.r.read_line(&mut line) {
                Ok(0) | Err(_) => return all,
                Ok(_) => {}
            }
            let done = line.len() < 4 || line.as_bytes()[3] != b'-';
            all.push_str(line.trim_end_matches(['\r', '\n']));
            if done {
                return all;
            }
            all.push('\n');
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
        self.w.flush().unwrap();
    }

    /// Send one command line (CRLF added) and return its reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// The three-digit code of the reply to `line`.
    pub fn code(&mut self, line: &str) -> String {
        let r = self.cmd(line);
        r.get(..3).unwrap_or("").to_string()
    }
}

/// smtpd in inetd mode: the session is the child's stdin/stdout.
pub fn inetd(
    ts: &TestSpool,
    extra: &[&str],
) -> (
    Proc,
    Raw<std::process::ChildStdout, std::process::ChildStdin>,
) {
    let mut p = Proc::spawn(
        "smtpd",
        Command::new(SMTPD)
            .arg("-H")
            .arg("--spool")
            .arg(ts.root())
            .args(extra)
            .env("GATEWAY_LOG", "stderr")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let w = p.child.stdin.take().unwrap();
    let r = p.child.stdout.take().unwrap();
    (p, Raw::new(r, w))
}

/// Run a Python script with Debian's python3; returns stdout, panics with stderr on failure.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(PYTHON)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The complete messages in incoming/.
pub fn messages(ts: &TestSpool) -> Vec<PathBuf> {
    ts.ids(Queue::Incoming)
        .into_iter()
        .map(|id| ts.spool.queue(Queue::Incoming).join(id))
        .collect()
}

/// A stored message split into (envelope lines, Received: header, the rest).
pub fn split_stored(path: &Path) -> (String, String, Vec<u8>) {
    let bytes = fs::read(path).unwrap();
    let body_at = bytes
        .windows(6)
        .position(|w| w == b"\nBODY\n")
        .expect("BODY line")
        + 6;
    let env = String::from_utf8(bytes[..body_at].to_vec()).unwrap();
    // The Received: header is three lines.
    let mut idx = body_at;
    for _ in 0..3 {
        idx += bytes[idx..].iter().position(|&b| b == b'\n').unwrap() + 1;
    }
    let received = String::from_utf8(bytes[body_at..idx].to_vec()).unwrap();
    (env, received, bytes[idx..].to_vec())
}

/// CRLF → LF, as smtpd stores messages.
pub fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

/// Wait until incoming/ holds exactly `n` complete messages.
pub fn wait_messages(ts: &TestSpool, n: usize) -> Vec<PathBuf> {
    wait_for(Duration::from_secs(20), || {
        let m = messages(ts);
        (m.len() == n).then_some(m)
    })
    .unwrap_or_else(|| {
        panic!(
            "expected {n} messages, have {:?}",
            ts.all_names(Queue::Incoming)
        )
    })
}
