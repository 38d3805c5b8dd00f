//! sigupdate end to end: the real binary with a fake freshclam (succeeding, failing), a private
//! mirror directory (a real .ndb, a bogus .cvd) and a real clamd that must really reload.

use spool::Queue;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};
use testkit::{Clamd, Conf, TestSpool};

const ADMIN: &str = "admin@example.com";

/// A shell script standing in for freshclam: prints a line, leaves a mark, exits with `code`.
fn fake_freshclam(dir: &Path, code: i32) -> (PathBuf, PathBuf) {
    let script = dir.join("freshclam");
    let mark = dir.join("freshclam.ran");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho 'ClamAV update process started'\necho 'fake mirror says {code}' >&2\n\
             touch '{}'\nexit {code}\n",
            mark.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (script, mark)
}

fn run(ts: &TestSpool, extra: &[&str]) -> Output {
    ts.run("sigupdate", extra)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The alerts in outgoing/: (recipients, message text).
fn alerts(ts: &TestSpool) -> Vec<(Vec<String>, String)> {
    ts.ids(Queue::Outgoing)
        .iter()
        .map(|id| {
            let (env, body) = spool::Envelope::read_body(
                &ts.spool
                    .message(Queue::Outgoing, &spool::MessageId::parse(id).unwrap()),
            )
            .unwrap();
            (
                env.recipients.into_iter().map(|r| r.addr).collect(),
                String::from_utf8(body).unwrap(),
            )
        })
        .collect()
}

fn set_mtime(path: &Path, age: Duration) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

/// A database directory beside the spool holding the EICAR test signature.
fn database(ts: &TestSpool) -> PathBuf {
    let db = ts.scratch("db");
    testkit::write_eicar_db(&db);
    ts.chown_all();
    db
}

#[test]
fn freshclam_succeeds_fresh_signatures_exit_0_no_alert() {
    let ts = TestSpool::new("");
    let clamd = Clamd::start();
    let tools = ts.scratch("tools");
    let (script, mark) = fake_freshclam(&tools, 0);
    let db = database(&ts);
    ts.write_conf(&Conf::update(&clamd.socket, &script, &db));
    let o = run(&ts, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(mark.exists(), "the updater did not run");
    assert!(err.contains("freshclam ok"), "{err}");
    assert!(err.contains("file modification time"), "{err}");
    assert!(err.contains("; fresh"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("sigupdate:")).count(),
        1,
        "one log line per run: {err}"
    );
    assert!(alerts(&ts).is_empty());
}

#[test]
fn freshclam_fails_still_fresh_exit_75_and_alert() {
    let ts = TestSpool::new("");
    let clamd = Clamd::start();
    let tools = ts.scratch("tools");
    let (script, mark) = fake_freshclam(&tools, 1);
    let db = database(&ts);
    ts.write_conf(&Conf::update(&clamd.socket, &script, &db));
    let o = run(&ts, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(75), "{err}");
    assert!(mark.exists());
    assert!(err.contains("update failed, still fresh"), "{err}");
    let a = alerts(&ts);
    assert_eq!(a.len(), 1, "{err}");
    assert_eq!(a[0].0, [format!("<{ADMIN}>")]);
    assert!(
        a[0].1
            .contains("Subject: Virus firewall gw.example.com: signature update failed"),
        "{}",
        a[0].1
    );
    assert!(a[0].1.contains("fake mirror says 1"), "{}", a[0].1);
    assert!(a[0].1.contains(&format!("To: {ADMIN}")), "{}", a[0].1);
}

#[test]
fn stale_signatures_exit_1_and_alert_to_admin() {
    let ts = TestSpool::new("");
    let tools = ts.scratch("tools");
    let (script, _) = fake_freshclam(&tools, 0);
    let db = database(&ts);
    set_mtime(&db.join("test.ndb"), Duration::from_secs(10 * 86_400));
    ts.write_conf(&Conf::update(&tools.join("no-clamd.sock"), &script, &db));
    let o = run(&ts, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("STALE"), "{err}");
    let a = alerts(&ts);
    assert_eq!(a.len(), 1, "{err}");
    assert_eq!(a[0].0, [format!("<{ADMIN}>")]);
    assert!(
        a[0].1.contains("virus signatures are 10 days"),
        "{}",
        a[0].1
    );
    assert!(a[0].1.contains("limit 7 days"), "{}", a[0].1);

    // Failed update and stale: still 1, the alert names both.
    let (failing, _) = fake_freshclam(&ts.scratch("tools2"), 2);
    let o = run(&ts, &["--updater", failing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let a = alerts(&ts);
    assert_eq!(a.len(), 2);
    assert!(
        a.iter()
            .any(|(_, m)| m.contains("update failed") && m.contains("10 days")),
        "{a:?}"
    );
}

#[test]
fn no_signatures_at_all_is_stale() {
    let ts = TestSpool::new("");
    let tools = ts.scratch("tools");
    let (script, _) = fake_freshclam(&tools, 0);
    let db = ts.scratch("emptydb");
    ts.write_conf(&Conf::update(&tools.join("no-clamd.sock"), &script, &db));
    let o = run(&ts, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(alerts(&ts)[0].1.contains("no virus signatures found"));
}

#[test]
fn a_missing_database_directory_is_stale_and_alerted_not_an_internal_error() {
    let ts = TestSpool::new("");
    let tools = ts.scratch("tools");
    let (script, _) = fake_freshclam(&tools, 0);
    let db = ts.root().join("no-such-database");
    ts.write_conf(&Conf::update(&tools.join("no-clamd.sock"), &script, &db));
    let o = run(&ts, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let a = alerts(&ts);
    assert_eq!(a.len(), 1, "{}", stderr(&o));
    assert!(a[0].1.contains("no virus signatures found"), "{a:?}");
}

/// zINSTREAM `data` to clamd; its reply.
fn scan(socket: &Path, data: &[u8]) -> String {
    testkit::clamd_command(socket, b"zINSTREAM\0", Some(data))
}

#[test]
fn private_mirror_checks_files_copies_and_clamd_reloads() {
    let ts = TestSpool::new("");
    let clamd = Clamd::start();
    let db = clamd.dir.path().to_path_buf();
    if let Some((u, g)) = ts.owner {
        // sigupdate runs as the spool's owner: it must be able to write clamd's database.
        nix::unistd::chown(&db, Some(u.into()), Some(g.into())).unwrap();
    }
    let tools = ts.scratch("tools");
    let (script, mark) = fake_freshclam(&tools, 0);
    let mirror = ts.scratch("mirror");
    let marker = b"GATEWAY-SIGUPDATE-TEST-STRING-4711 not a virus, a test of the reload";
    testkit::write_ndb(
        &mirror.join("gateway.ndb"),
        "Gateway-Sigupdate-Test",
        marker,
    );
    fs::write(
        mirror.join("daily.cvd"),
        b"ClamAV-VDB: this is not a signed database\n",
    )
    .unwrap();
    fs::write(mirror.join("README.txt"), b"not a signature file\n").unwrap();
    ts.chown_all();
    ts.write_conf(&Conf::update(&clamd.socket, &script, &db));

    assert!(
        scan(&clamd.socket, marker).ends_with("OK"),
        "before the update"
    );

    let o = run(&ts, &["--mirror", mirror.to_str().unwrap()]);
    let err = stderr(&o);
    // The good file arrived, the bogus one was refused: an update failure, signatures fresh.
    assert_eq!(o.status.code(), Some(75), "{err}");
    assert!(!mark.exists(), "with a mirror the updater is not run");
    assert!(err.contains("1 copied, 0 unchanged, 1 rejected"), "{err}");
    assert!(
        err.contains("ClamAV"),
        "clamd's VERSION in the log line: {err}"
    );
    assert!(err.contains("reloaded"), "{err}");
    assert_eq!(
        fs::read(db.join("gateway.ndb")).unwrap(),
        fs::read(mirror.join("gateway.ndb")).unwrap()
    );
    assert!(!db.join("daily.cvd").exists(), "the bogus .cvd was copied");
    assert!(!db.join("README.txt").exists());
    assert!(!db.join(".sigupdate.tmp").exists(), "staging left behind");
    let a = alerts(&ts);
    assert_eq!(a.len(), 1);
    assert!(a[0].1.contains("daily.cvd: rejected"), "{}", a[0].1);

    // clamd really reloaded: the new signature detects the marker.
    let found = testkit::wait_for(Duration::from_secs(30), || {
        let r = scan(&clamd.socket, marker);
        r.contains("Gateway-Sigupdate-Test").then_some(r)
    });
    assert!(
        found.is_some(),
        "clamd did not pick up the new signature; log:\n{}",
        fs::read_to_string(db.join("clamd.log")).unwrap_or_default()
    );
    let log = fs::read_to_string(db.join("clamd.log")).unwrap();
    assert!(
        log.contains("Database correctly reloaded (2 signatures)"),
        "{log}"
    );
    assert!(scan(&clamd.socket, testkit::EICAR).contains("Eicar-Test-Signature"));

    // A second run with the good file only: nothing to copy, fresh, exit 0.
    fs::remove_file(mirror.join("daily.cvd")).unwrap();
    let o = run(&ts, &["--mirror", mirror.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("0 copied, 1 unchanged, 0 rejected"), "{err}");
}

#[test]
fn mirror_refuses_a_malformed_text_database() {
    let ts = TestSpool::new("");
    let tools = ts.scratch("tools");
    let (script, _) = fake_freshclam(&tools, 0);
    let db = database(&ts);
    let mirror = ts.scratch("mirror");
    fs::write(mirror.join("broken.ndb"), b"this line is not a signature\n").unwrap();
    ts.chown_all();
    let clamd = Clamd::start();
    ts.write_conf(&Conf::update(&clamd.socket, &script, &db));
    let o = run(&ts, &["--mirror", mirror.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(75), "{}", stderr(&o));
    assert!(!db.join("broken.ndb").exists());
    assert!(alerts(&ts)[0].1.contains("broken.ndb: rejected"));
}

#[test]
fn bad_config_exits_78() {
    let ts = TestSpool::new("[update]\nmax_signature_age = 7\n");
    let o = run(&ts, &[]);
    assert_eq!(o.status.code(), Some(78), "{}", stderr(&o));
    assert!(stderr(&o).contains("max_signature_age"), "{}", stderr(&o));
}

/// clamd's log lines that say it loaded (or reloaded) its database.
fn loads(clamd: &Clamd) -> usize {
    fs::read_to_string(clamd.dir.path().join("clamd.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("Database correctly reloaded") || l.contains("Reading databases"))
        .count()
}

#[test]
fn a_database_it_cannot_write_is_not_updated_but_checked_and_reloaded() {
    // The signatures stay writable only by clamav (the system's freshclam updates them from
    // root's crontab); sigupdate, as the spool's owner, checks their age and reloads clamd.
    let ts = TestSpool::new("");
    let clamd = Clamd::start();
    let tools = ts.scratch("tools");
    let (script, mark) = fake_freshclam(&tools, 0);
    let db = ts.scratch("clamav-db");
    testkit::write_eicar_db(&db);
    ts.chown_all();
    // Read-only for everyone but root (as /var/lib/clamav is for uucp: owner clamav, 0755).
    nix::unistd::chown(&db, Some(0.into()), Some(0.into())).unwrap();
    fs::set_permissions(&db, fs::Permissions::from_mode(0o555)).unwrap();
    ts.write_conf(&Conf::update(&clamd.socket, &script, &db));
    let mirror = ts.scratch("mirror");
    fs::write(mirror.join("evil.ign2"), b"Eicar-Test-Signature\n").unwrap();
    ts.chown_all();

    let before = loads(&clamd);
    let o = run(&ts, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        !mark.exists(),
        "the updater ran on a database it cannot write"
    );
    assert!(err.contains("not writable"), "{err}");
    assert!(err.contains("reloaded"), "{err}");
    assert!(alerts(&ts).is_empty(), "fresh signatures: no alert");
    let reloaded = testkit::wait_for(Duration::from_secs(30), || {
        (loads(&clamd) > before).then_some(())
    });
    assert!(reloaded.is_some(), "clamd was not told to reload");

    // A mirror is not copied either: nothing lands in the database.
    let o = run(&ts, &["--mirror", mirror.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!db.join("evil.ign2").exists());

    // Stale: exit 1 and an alert that says who updates the database.
    set_mtime(&db.join("test.ndb"), Duration::from_secs(10 * 86_400));
    let o = run(&ts, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!mark.exists());
    let a = alerts(&ts);
    assert_eq!(a.len(), 1, "{err}");
    assert!(
        a[0].1.contains("virus signatures are 10 days"),
        "{}",
        a[0].1
    );
    assert!(a[0].1.contains("not writable"), "{}", a[0].1);
    assert!(a[0].1.contains("freshclam"), "{}", a[0].1);
}

#[test]
fn clamd_not_answering_ping_alerts_the_admin() {
    let ts = TestSpool::new("");
    let tools = ts.scratch("tools");
    let (script, _) = fake_freshclam(&tools, 0);
    let db = database(&ts);
    // A socket file that nobody answers on (clamd died and left it), then a live clamd.
    let dead = tools.join("dead-clamd.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    ts.write_conf(&Conf::update(&dead, &script, &db));
    let o = run(&ts, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(69), "{err}");
    let a = alerts(&ts);
    assert_eq!(a.len(), 1, "{err}");
    assert_eq!(a[0].0, [format!("<{ADMIN}>")]);
    assert!(a[0].1.contains("clamd does not answer"), "{}", a[0].1);
    assert!(a[0].1.contains(&dead.display().to_string()), "{}", a[0].1);

    let clamd = Clamd::start();
    ts.write_conf(&Conf::update(&clamd.socket, &script, &db));
    let o = run(&ts, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(alerts(&ts).len(), 1, "no new alert once clamd answers");

    // A stopped clamd: its socket file is gone.
    drop(clamd);
    let o = run(&ts, &[]);
    assert_eq!(o.status.code(), Some(69), "{}", stderr(&o));
    assert_eq!(alerts(&ts).len(), 2);
}

#[test]
fn no_ping_alert_when_the_scanner_is_not_clamd() {
    let ts = TestSpool::new("");
    let tools = ts.scratch("tools");
    let (script, _) = fake_freshclam(&tools, 0);
    let db = database(&ts);
    ts.write_conf(
        &Conf::update(&tools.join("no-clamd.sock"), &script, &db)
            .set("scan", "scanner", "clamscan"),
    );
    let o = run(&ts, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(alerts(&ts).is_empty());
}
