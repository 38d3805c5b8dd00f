//! smtpd's SMTP session: the client's bytes in, the replies out, through the real session engine
//! (`smtpd::session::Session`) over an in-memory client stream, storing into a real spool in a
//! temporary directory (on /dev/shm when there is one: thousands of sessions a second).
//!
//! Checks, besides "no panic": the replies pass the test kit's strict parser
//! (`testkit::smtp`: RFC 5321 syntax, CRLF, one code per reply, 512 bytes a line) and are
//! printable ASCII; exactly one complete spool file per `250 ... queued as`, and
//! no temporary file left when the session is over (smtpd's dot-file counters aside). The full
//! reply walk (one reply per command, the stored body equal to the data sent) is the bounded test
//! crates/smtpd/tests/fuzz_session.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpd::address::RelayPolicy;
use smtpd::session::{Context, Session, Settings};
use smtpd::stream::MemStream;
use spool::rules::{Client, Rules};
use spool::{Queue, Spool};
use std::sync::LazyLock;
use std::time::Duration;

/// Rules with every kind of reply (the bounded test crates/smtpd/tests/fuzz_session.rs reads the
/// same file).
const RULES: &str = include_str!("../../tests/data/smtpd/fuzz_check_rules");

struct World {
    _dir: tempfile::TempDir,
    ctx: Context,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let spool = Spool::new(dir.path());
    spool.create().unwrap();
    let ctx = Context {
        settings: Settings {
            hostname: "gw.example.com".into(),
            max_size: 100_000,
            max_recipients: 3,
            command_timeout: Duration::from_secs(5),
            data_timeout: Duration::from_secs(5),
            data_deadline: Duration::from_secs(60),
            session_deadline: Duration::from_secs(120),
            min_free_bytes: 0,
            domains: vec!["example.com".into()],
            delay: Duration::ZERO,
            quiet: true,
            relay_policy: RelayPolicy::default(),
            max_hops: 50,
        },
        spool,
        queue: Queue::Incoming,
        rules: Rules::parse(RULES, "rules").unwrap(),
        tls: None,
    };
    World { _dir: dir, ctx }
});

/// The replies, by the tests' strict parser (RFC 5321 syntax, CRLF, one code per reply, 512
/// bytes a line) and printable ASCII only; the number of `250 ... queued as` replies.
fn check_replies(out: &[u8]) -> usize {
    let replies = testkit::smtp::parse_replies(out).unwrap_or_else(|e| panic!("{e}"));
    let mut queued = 0;
    for r in &replies {
        for l in &r.lines {
            assert!(!l.contains('\t'), "reply not printable ASCII: {l:?}");
        }
        let last = r.lines.last().map(String::as_str).unwrap_or("");
        if last.starts_with("250 ") && last.contains("queued as ") {
            queued += 1;
        }
    }
    queued
}

fuzz_target!(|data: &[u8]| {
    let w = &*WORLD;
    let t = MemStream::new(data);
    let output = t.output.clone();
    let client = Client {
        name: Some("client.example.net".into()),
        ip: Some("192.0.2.7".parse().unwrap()),
    };
    Session::new(&w.ctx, t, client).run();
    let out = output.lock().unwrap().clone();
    let queued = check_replies(&out);
    let incoming = w.ctx.spool.queue(Queue::Incoming);
    let mut stored = 0;
    for e in std::fs::read_dir(&incoming).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".tmp."), "temp file left: {name}");
        // smtpd's counters (`.smtpd.metrics` and its lock) live in incoming/ too.
        if name.starts_with('.') {
            continue;
        }
        stored += 1;
        std::fs::remove_file(e.path()).unwrap();
    }
    assert_eq!(stored, queued, "files stored vs `250 queued as` replies");
});
