//! Issue 6, faults: each test breaks something on purpose and counts the messages lost (must be 0).
#![allow(clippy::too_many_lines)] // a test reads best as one story

mod common;

use common::*;
use nix::sys::signal::Signal;
use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::spool::Queue;
use testkit::text::crlf_to_lf;
use testkit::*;

fn mail(n: usize) -> Vec<u8> {
    format!("From: a@example.org\r\nTo: b@example.com\r\nSubject: msg-{n}\r\n\r\nbody {n}\r\n")
        .into_bytes()
}

/// Subjects of the messages the relay received, with counts.
fn delivered_subjects(g: &Gateway) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in g.relay.messages() {
        let t = String::from_utf8_lossy(&r.data).into_owned();
        if let Some(s) = t.lines().find(|l| l.starts_with("Subject: msg-")) {
            *m.entry(s.trim_start_matches("Subject: ").to_string())
                .or_insert(0) += 1;
        }
    }
    m
}

#[test]
fn smtpd_killed_mid_data_leaves_no_file_and_no_250() {
    let ts = TestSpool::new(&Conf::new().remove("smtpd", "min_free_bytes"));
    // inetd mode: the session on stdin/stdout of one process.
    let (mut p, mut c) = testkit::smtpd::inetd(&ts, &[]);
    assert!(c.reply().starts_with("220 "));
    let mut seen = String::new();
    let mut last = String::new();
    for cmd in [
        "HELO client.example.org",
        "MAIL FROM:<a@example.org>",
        "RCPT TO:<b@example.com>",
        "DATA",
    ] {
        last = c.cmd(cmd);
        seen.push_str(&last);
    }
    assert!(last.starts_with("354"), "{seen}");
    let (stdin, out) = (&mut c.w, &mut c.r);
    stdin
        .write_all(b"Subject: half\r\n\r\nhalf a message")
        .unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    p.signal(Signal::SIGKILL);
    p.wait_timeout(Duration::from_secs(5)).expect("smtpd died");
    let mut rest = String::new();
    let _ = out.read_to_string(&mut rest);
    assert!(!rest.contains("250"), "client never got 250: {rest}");
    assert!(
        ts.ids(Queue::Incoming).is_empty(),
        "no visible file: {:?}",
        ts.all_names(Queue::Incoming)
    );
}

#[test]
fn scanmail_killed_mid_batch_then_rerun_loses_nothing_and_passes_nothing_unscanned() {
    let g = Gateway::start();
    let mut ids = Vec::new();
    for i in 0..300 {
        let body = if i % 6 == 0 {
            with_attachment(&format!("msg-{i}"), "x.doc", "application/msword", EICAR)
        } else {
            mail(i)
        };
        ids.push(g.ts.inject(
            Queue::Incoming,
            "<a@example.org>",
            &["<b@example.com>"],
            &crlf_to_lf(&body),
        ));
    }
    let mut child = Proc::spawn(
        "scanmail",
        g.ts.command("scanmail", &[]).stderr(Stdio::null()),
    );
    // Kill it as soon as it has judged something: in the middle of the batch.
    let started = wait_for(Duration::from_secs(30), || {
        (!g.ids(Queue::Outgoing).is_empty() || !g.ids(Queue::Quarantine).is_empty()).then_some(())
    });
    child.signal(Signal::SIGKILL);
    child.wait_timeout(Duration::from_secs(5));
    assert!(started.is_some(), "scanmail judged nothing");
    let left = g.ids(Queue::Incoming).len();
    assert!(left > 0, "killed mid-batch: {left} left");
    let out = g.scanmail();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outgoing = g.ids(Queue::Outgoing);
    let quarantine = g.ids(Queue::Quarantine);
    let mut lost = 0;
    for (i, id) in ids.iter().enumerate() {
        let o = outgoing.contains(id);
        let q = quarantine.contains(id);
        assert!(!(o && q), "{id} in both queues");
        if !o && !q {
            lost += 1;
        }
        if i % 6 == 0 {
            assert!(q, "infected {id} must be in quarantine");
        } else {
            assert!(o, "clean {id} must be in outgoing");
        }
    }
    assert_eq!(lost, 0);
}

#[test]
fn smtpfwdd_killed_mid_delivery_then_restarted_delivers_everything() {
    let g = Gateway::start();
    for i in 0..80 {
        g.ts.inject(
            Queue::Outgoing,
            "<a@example.org>",
            &["<b@example.com>"],
            &crlf_to_lf(&mail(i)),
        );
    }
    let mut child = Proc::spawn(
        "smtpfwdd",
        g.ts.command("smtpfwdd", &["--foreground"])
            .stderr(Stdio::null()),
    );
    wait_for(Duration::from_secs(20), || {
        (!g.relay.messages().is_empty()).then_some(())
    });
    child.signal(Signal::SIGKILL);
    child.wait_timeout(Duration::from_secs(5));
    let first = g.relay.messages().len();
    assert!(first < 80, "killed before the end ({first} delivered)");
    for _ in 0..5 {
        g.smtpfwdd_once();
        if g.ids(Queue::Outgoing).is_empty() {
            break;
        }
    }
    let got = delivered_subjects(&g);
    let lost = (0..80)
        .filter(|i| !got.contains_key(&format!("msg-{i}")))
        .count();
    let dups: usize = got.values().map(|n| n - 1).sum();
    eprintln!(
        "smtpfwdd kill -9: delivered {} distinct, lost {lost}, duplicates {dups}",
        got.len()
    );
    assert_eq!(lost, 0);
    assert!(
        dups <= 10,
        "at most the deliveries in flight are repeated: {dups}"
    );
    assert!(g.ids(Queue::Outgoing).is_empty());
}

#[test]
fn clamd_stopped_mail_waits_then_is_judged_when_it_is_back() {
    let mut g = Gateway::start();
    let clamd = g.clamd.take().unwrap();
    drop(clamd); // killed; its socket file and database are gone with it
    let id_virus = g.ts.inject(
        Queue::Incoming,
        "<m@example.org>",
        &["<b@example.com>"],
        &crlf_to_lf(&with_attachment("v", "v.doc", "application/msword", EICAR)),
    );
    let id_clean = g.ts.inject(
        Queue::Incoming,
        "<a@example.org>",
        &["<b@example.com>"],
        &crlf_to_lf(&with_attachment(
            "c",
            "c.doc",
            "application/msword",
            b"harmless",
        )),
    );
    let out = g.scanmail();
    assert_eq!(
        out.status.code(),
        Some(75),
        "some left for retry: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut waiting = g.ids(Queue::Incoming);
    waiting.sort();
    let mut want = vec![id_virus.clone(), id_clean.clone()];
    want.sort();
    assert_eq!(waiting, want, "both wait in incoming");
    assert!(g
        .ids(Queue::Outgoing)
        .iter()
        .all(|i| i != &id_clean && i != &id_virus));

    // A new clamd on a new socket; point the config at it.
    let c2 = Clamd::start();
    g.ts.write_conf(
        &Conf::gateway(&c2.socket.display().to_string(), &g.relay.addr()).section("scan", ""),
    );
    let out = g.scanmail();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(g.ids(Queue::Quarantine).contains(&id_virus));
    assert!(g.ids(Queue::Outgoing).contains(&id_clean));
}

/// A fake clamd: answers every connection with garbage (`garbage = true`) or never answers.
fn stub_clamd(path: &std::path::Path, garbage: bool) -> std::thread::JoinHandle<()> {
    let l = UnixListener::bind(path).unwrap();
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            if garbage {
                let mut buf = [0u8; 4096];
                let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"\x01\x02 WHAT? 42\0");
            } else {
                held.push(s); // hang: accept, never answer
            }
        }
    })
}

fn stub_case(garbage: bool) {
    let ts_dir = tempfile::Builder::new().prefix("stub-").tempdir().unwrap();
    fs::set_permissions(
        ts_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let sock = ts_dir.path().join("clamd.sock");
    let _t = stub_clamd(&sock, garbage);
    let g = Gateway::without_clamd(&sock.display().to_string(), "max_tries = 2\ntimeout = 2");
    let id = g.ts.inject(
        Queue::Incoming,
        "<a@example.org>",
        &["<b@example.com>"],
        &crlf_to_lf(&with_attachment("x", "x.doc", "application/msword", b"doc")),
    );
    let out = g.scanmail();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        g.ids(Queue::Incoming),
        vec![id.clone()],
        "waits after the first failure"
    );
    assert!(g.ids(Queue::Outgoing).is_empty(), "never passed");
    g.scanmail();
    assert_eq!(
        g.ids(Queue::Quarantine),
        vec![id.clone()],
        "unscannable after max_tries"
    );
    assert!(!g.ids(Queue::Outgoing).contains(&id));
    // The admin was told.
    let alerts = g.ids(Queue::Outgoing);
    assert!(!alerts.is_empty(), "an admin alert was written");
}

#[test]
fn clamd_answering_garbage_never_lets_mail_through() {
    stub_case(true);
}

#[test]
fn clamd_hanging_never_lets_mail_through() {
    stub_case(false);
}

#[test]
fn relay_down_then_up_delivers_everything_once() {
    let g = Gateway::start();
    let port: u16 = g.relay.port;
    let dir = g.relay.outdir.clone();
    for i in 0..20 {
        g.ts.inject(
            Queue::Outgoing,
            "<a@example.org>",
            &["<b@example.com>"],
            &crlf_to_lf(&mail(i)),
        );
    }
    // Take the relay down: smtpfwdd keeps everything.
    let Gateway { relay, .. } = &g;
    relay.proc.signal(Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(300));
    let out =
        g.ts.command("smtpfwdd", &["--once", "--retry-base-secs", "1"])
            .output()
            .unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        g.ids(Queue::Outgoing).len(),
        20,
        "nothing dropped while the relay is down"
    );
    // Up again on the same port; the retry time is honoured only by the daemon: --once with
    // the retry wait elapsed is what cron-like operation gives, so run the daemon for a while.
    let up = Relay::start_on(&dir, port, &[]);
    let mut d = Proc::spawn(
        "smtpfwdd",
        g.ts.command("smtpfwdd", &["--foreground", "--retry-base-secs", "1"])
            .stderr(Stdio::null()),
    );
    let done = wait_for(Duration::from_secs(60), || {
        g.ids(Queue::Outgoing).is_empty().then_some(())
    });
    d.signal(Signal::SIGTERM);
    d.wait_timeout(Duration::from_secs(10));
    assert!(done.is_some(), "outgoing drained after the relay came back");
    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in up.messages() {
        let t = String::from_utf8_lossy(&r.data).into_owned();
        if let Some(s) = t.lines().find(|l| l.starts_with("Subject: msg-")) {
            *counts.entry(s.to_string()).or_insert(0) += 1;
        }
    }
    assert_eq!(counts.len(), 20, "all delivered");
    assert!(counts.values().all(|&n| n == 1), "each once");
}

#[test]
fn damaged_spool_files_go_to_quarantine_and_the_rest_still_flows() {
    let g = Gateway::start();
    let inc = g.ts.spool.queue(Queue::Incoming);
    let damaged: [(&str, &[u8]); 3] = [
        ("smtpdTRUNC1", b"FROM <a@example.org>\nRCPT <b@exa"),
        (
            "smtpdNOBODY",
            b"FROM <a@example.org>\nRCPT <b@example.com>\nSubject: no body line\n\nhi\n",
        ),
        ("smtpdGARBG1", b"\x00\xff\xfe\x01garbage\x00\x00"),
    ];
    for (name, bytes) in damaged {
        let p = inc.join(name);
        fs::write(&p, bytes).unwrap();
        fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    }
    let good = g.ts.inject(
        Queue::Incoming,
        "<a@example.org>",
        &["<b@example.com>"],
        &crlf_to_lf(&mail(1)),
    );
    g.ts.chown_all();
    let out = g.scanmail();
    assert!(
        out.status.code() == Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let q = g.ids(Queue::Quarantine);
    for (name, _) in damaged {
        assert!(q.contains(&name.to_string()), "{name} quarantined: {q:?}");
    }
    assert!(g.ids(Queue::Outgoing).contains(&good));
    for _ in 0..3 {
        g.smtpfwdd_once();
    }
    assert_eq!(delivered_subjects(&g).get("msg-1"), Some(&1));
    // Alerts for the damaged files reached the admin.
    let alerts = g
        .relay
        .messages()
        .into_iter()
        .filter(|m| m.meta.contains(ADMIN))
        .count();
    assert!(alerts >= 3, "an alert per damaged file: {alerts}");
}

#[test]
fn day_files_follow_the_clock_across_midnight() {
    let g = Gateway::start();
    g.ts.inject(
        Queue::Incoming,
        "<a@example.org>",
        &["<b@example.com>"],
        &crlf_to_lf(&mail(1)),
    );
    let out =
        g.ts.command("scanmail", &[])
            .env("GATEWAY_NOW", "2026-11-27T23:59:58+00:00")
            .env("TZ", "UTC")
            .output()
            .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    g.ts.inject(
        Queue::Incoming,
        "<a@example.org>",
        &["<b@example.com>"],
        &crlf_to_lf(&mail(2)),
    );
    let out =
        g.ts.command("scanmail", &[])
            .env("GATEWAY_NOW", "2026-11-28T00:00:02+00:00")
            .env("TZ", "UTC")
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let etc = g.ts.spool.etc();
    let day1 = fs::read_to_string(etc.join("email.20261127")).unwrap();
    let day2 = fs::read_to_string(etc.join("email.20261128")).unwrap();
    assert_eq!(day1.lines().count(), 1, "{day1}");
    assert_eq!(day2.lines().count(), 1, "{day2}");
    // daysumm at 00:01 for yesterday reports the same as at 23:59.
    let summ = |now: &str, date: &str| {
        let o =
            g.ts.command("daysumm", &["--stdout", "--date", date])
                .env("GATEWAY_NOW", now)
                .env("TZ", "UTC")
                .output()
                .unwrap();
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| {
                !l.to_lowercase().contains("waiting")
                    && !l.to_lowercase().contains("oldest")
                    && !l.to_lowercase().contains("signature")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        summ("2026-11-27T23:59:00+00:00", "today"),
        summ("2026-11-28T00:01:00+00:00", "yesterday")
    );
}

/// A tmpfs mounted over the spool root for the life of the test (root only).
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn disk_full_scanmail_and_smtpfwdd_keep_their_files_and_recover() {
    if !nix::unistd::geteuid().is_root() {
        assert!(!in_ci(), "CI runs as root: this test must run there");
        eprintln!("disk-full test needs root to mount a tmpfs; run tests/run as root");
        return;
    }
    let mut g = Gateway::start();
    let root = g.ts.root().to_path_buf();
    // Stop smtpd (it would see the spool vanish under the mount), then put the spool on 3 MB.
    g.smtpd = None;
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs"])
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    let _mount = Tmpfs(root.clone());
    g.ts.spool.create().unwrap();
    g.ts.write_conf(
        &Conf::gateway(
            &g.clamd.as_ref().unwrap().socket.display().to_string(),
            &g.relay.addr(),
        )
        .section("scan", "timeout = 10"),
    );
    for f in ["matches.bad", "matches.doc"] {
        g.ts.install_etc(f);
    }
    let mut clean = Vec::new();
    let mut infected = Vec::new();
    for i in 0..4 {
        clean.push(g.ts.inject(
            Queue::Incoming,
            "<a@example.org>",
            &["<b@example.com>"],
            &crlf_to_lf(&mail(i)),
        ));
        infected.push(g.ts.inject(
            Queue::Incoming,
            "<m@example.org>",
            &["<b@example.com>"],
            &crlf_to_lf(&with_attachment(
                &format!("msg-v{i}"),
                "v.doc",
                "application/msword",
                EICAR,
            )),
        ));
    }
    // Fill the disk to the last byte.
    let filler = root.join("etc/filler");
    {
        let mut f = fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let one = [0u8; 1];
        while f.write_all(&one).is_ok() {}
    }
    let everything = |g: &Gateway| {
        let (i, o, q) = (
            g.ids(Queue::Incoming),
            g.ids(Queue::Outgoing),
            g.ids(Queue::Quarantine),
        );
        for id in clean.iter().chain(&infected) {
            let n = [&i, &o, &q].iter().filter(|v| v.contains(id)).count();
            assert!(n <= 1, "{id} in two queues");
        }
        for id in &infected {
            assert!(!o.contains(id), "infected {id} never in outgoing");
        }
        (i, o, q)
    };
    let out = g.scanmail();
    let (i, o, q) = everything(&g);
    let on_disk = clean
        .iter()
        .chain(&infected)
        .filter(|id| i.contains(id) || o.contains(id) || q.contains(id))
        .count();
    assert_eq!(
        on_disk,
        8,
        "disk full: nothing lost by scanmail ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    g.smtpfwdd_once();
    let (i, o, _q) = everything(&g);
    let delivered = delivered_subjects(&g);
    for (n, id) in clean.iter().enumerate() {
        assert!(
            i.contains(id) || o.contains(id) || delivered.contains_key(&format!("msg-{n}")),
            "{id} kept or delivered"
        );
    }

    // Space again: everything ends where it belongs.
    fs::remove_file(&filler).unwrap();
    g.scanmail();
    for _ in 0..3 {
        g.smtpfwdd_once();
    }
    let (i, o, q) = everything(&g);
    assert!(i.is_empty(), "incoming drained: {i:?}");
    assert!(o.is_empty(), "outgoing drained: {o:?}");
    for id in &infected {
        assert!(q.contains(id), "{id} quarantined");
    }
    let delivered = delivered_subjects(&g);
    for n in 0..4 {
        assert_eq!(
            delivered.get(&format!("msg-{n}")),
            Some(&1),
            "msg-{n} delivered once"
        );
    }
}
