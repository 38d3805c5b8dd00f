//! What the smtpd tests share besides the test kit (whose smtpd starters, SMTP client and config
//! builder are re-exported here): Python smtplib scripts and the stored messages.
#![allow(dead_code, unused_imports)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use testkit::spool::Queue;
use testkit::{wait_for, TestSpool, PYTHON};

pub use testkit::smtp::Client;
pub use testkit::smtpd::{command, inetd, inetd_tcp, Daemon, BANNER};
pub use testkit::text::crlf_to_lf;
pub use testkit::Conf;

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
