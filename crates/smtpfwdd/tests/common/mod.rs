//! Shared helpers of smtpfwdd's end-to-end tests: run the real binary on a test spool.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::spool::Queue;
use testkit::{Proc, TestSpool};

pub use testkit::text::lf_to_crlf;
pub use testkit::Conf;

pub const SENDER: &str = "<sender@example.org>";

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_smtpfwdd"))
}

pub fn command(ts: &TestSpool, args: &[&str]) -> Command {
    ts.command("smtpfwdd", &[&["--retry-base-secs", "1"], args].concat())
}

/// One `--once` pass; returns the exit code and the log (stderr).
pub fn once(ts: &TestSpool, args: &[&str]) -> (i32, String) {
    let out = command(ts, &[&["--once"], args].concat())
        .output()
        .expect("run smtpfwdd");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("--- smtpfwdd {args:?} → {:?}\n{log}", out.status.code());
    (out.status.code().unwrap_or(-1), log)
}

/// The daemon in the foreground, polling every second.
pub fn daemon(ts: &TestSpool, args: &[&str]) -> Proc {
    let log = ts.dir.path().join("daemon.log");
    let f = std::fs::File::create(&log).unwrap();
    let p = Proc::spawn(
        "smtpfwdd",
        command(ts, &[&["--foreground", "-P", "1"], args].concat()).stderr(f),
    );
    // Ready once it holds the lock and logged its start.
    let up = testkit::wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|l| l.contains("started"))
    });
    assert!(
        up.is_some(),
        "smtpfwdd did not start: {:?}",
        std::fs::read_to_string(&log)
    );
    p
}

pub fn daemon_log(ts: &TestSpool) -> String {
    std::fs::read_to_string(ts.dir.path().join("daemon.log")).unwrap_or_default()
}

pub fn outgoing(ts: &TestSpool) -> Vec<String> {
    ts.ids(Queue::Outgoing)
}

pub fn exists(ts: &TestSpool, q: Queue, id: &str) -> bool {
    ts.spool
        .message(q, &testkit::spool::MessageId::parse(id).unwrap())
        .exists()
}

pub fn state_file(ts: &TestSpool, id: &str) -> PathBuf {
    ts.spool.state_file(
        Queue::Outgoing,
        &testkit::spool::MessageId::parse(id).unwrap(),
    )
}

/// The spool file of a message (envelope and body) as text.
pub fn read(ts: &TestSpool, q: Queue, id: &str) -> String {
    String::from_utf8_lossy(
        &std::fs::read(
            ts.spool
                .message(q, &testkit::spool::MessageId::parse(id).unwrap()),
        )
        .unwrap(),
    )
    .into_owned()
}

/// Today's sent.* day file.
pub fn sent_lines(ts: &TestSpool) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(ts.spool.day_dir()).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("sent.") {
            all.push_str(&std::fs::read_to_string(e.path()).unwrap());
        }
    }
    all
}

/// Run a shell command line in `dir`, panicking on failure.
pub fn sh(dir: &Path, script: &str) {
    let st = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{script}");
}

/// A scripted SMTP server on loopback for the error paths a real server will not produce (a 3xx
/// reply to RCPT, a reply text full of control characters). `rcpt` answers each `RCPT TO:` with
/// the reply line it returns; everything else gets the usual positive reply. Every byte the client
/// sent is kept in `wire`. The thread serves connections until the test process ends.
pub struct StubRelay {
    pub port: u16,
    pub wire: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl StubRelay {
    pub fn start(ehlo: &'static str, rcpt: fn(&str) -> String) -> StubRelay {
        use std::io::{BufRead, BufReader, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let wire = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let w = wire.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { return };
                let mut out = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                let _ = out.write_all(b"220 stub ESMTP\r\n");
                let mut in_data = false;
                loop {
                    let mut line = Vec::new();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    w.lock().unwrap().extend_from_slice(&line);
                    if in_data {
                        if line == b".\r\n" {
                            in_data = false;
                            let _ = out.write_all(b"250 2.0.0 queued\r\n");
                        }
                        continue;
                    }
                    let text = String::from_utf8_lossy(&line).trim_end().to_string();
                    let up = text.to_ascii_uppercase();
                    let reply = if up.starts_with("EHLO") {
                        format!("250-stub\r\n{ehlo}250 HELP")
                    } else if up.starts_with("RCPT") {
                        rcpt(&text)
                    } else if up == "DATA" {
                        in_data = true;
                        "354 go ahead".into()
                    } else if up == "QUIT" {
                        let _ = out.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        "250 OK".into()
                    };
                    let _ = out.write_all(format!("{reply}\r\n").as_bytes());
                }
            }
        });
        StubRelay { port, wire }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn wire(&self) -> String {
        String::from_utf8_lossy(&self.wire.lock().unwrap()).into_owned()
    }
}
