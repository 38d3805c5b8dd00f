//! `mailwall init` and `mailwall check` on real trees: a fresh spool, a second init that keeps
//! the admin's edits, the keys really set, owners and modes of both layouts, links refused,
//! and check naming each bad line of the files the programs read.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mailwall(spool: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailwall"))
        .arg("--spool")
        .arg(spool)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    text(&o)
}

fn owner_mode(p: &Path) -> (u32, u32) {
    let md = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (md.uid(), md.permissions().mode() & 0o7777)
}

/// The spool owner init gives the tree: uucp as root (CI), else whoever runs the test.
fn owner() -> u32 {
    if nix::unistd::geteuid().is_root() {
        spool::privs::lookup("uucp", "uucp").unwrap().0.as_raw()
    } else {
        nix::unistd::geteuid().as_raw()
    }
}

const INSTALL: &[&str] = &[
    "init",
    "--domain",
    "example.com",
    "--domain",
    "example.net",
    "--relay",
    "mail.internal:2525",
    "--admin",
    "it@example.com",
    "--hostname",
    "gw.example.com",
];

fn fresh() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let spool = t.path().join("var/spool/smtpd");
    (t, spool)
}

#[test]
fn fresh_init_makes_the_tree_and_sets_the_keys() {
    let (_t, spool) = fresh();
    let out = ok(mailwall(&spool, INSTALL));
    assert!(out.contains("installed etc/gateway.conf"), "{out}");
    let uid = owner();
    for d in ["", "etc", "bin", "incoming", "outgoing", "quarantine"] {
        assert_eq!(owner_mode(&spool.join(d)), (uid, 0o700), "spool/{d}");
    }
    assert!(
        !spool.join("etc/days").exists(),
        "only the hardened layout has etc/days/"
    );
    for f in [
        "gateway.conf",
        "matches.bad",
        "matches.doc",
        "smtpd_check_rules",
        "transport",
        "alert.tmpl",
        "summary.tmpl",
    ] {
        assert_eq!(
            owner_mode(&spool.join("etc").join(f)),
            (uid, 0o600),
            "etc/{f}"
        );
    }
    let shipped = |f: &str| fs::read(testkit::repo_root().join("etc").join(f)).unwrap();
    assert_eq!(
        fs::read(spool.join("etc/matches.bad")).unwrap(),
        shipped("matches.bad")
    );
    // The keys, as every program reads them.
    let cfg = spool::Config::load(&spool.join("etc/gateway.conf")).unwrap();
    assert_eq!(cfg.hostname, "gw.example.com");
    assert_eq!(cfg.admin, "it@example.com");
    assert_eq!(cfg.domains, ["example.com", "example.net"]);
    assert_eq!(cfg.forward.relay, "mail.internal:2525");
    // Only those keys changed: every other line of the shipped file is still there, in order.
    let conf = fs::read_to_string(spool.join("etc/gateway.conf")).unwrap();
    let shipped_conf = String::from_utf8(shipped("gateway.conf")).unwrap();
    assert!(conf.contains("\nhostname = \"gw.example.com\"\n"), "{conf}");
    let without_hostname = conf.replacen("hostname = \"gw.example.com\"\n", "", 1);
    assert_eq!(
        without_hostname.lines().count(),
        shipped_conf.lines().count()
    );
    let differ: Vec<_> = shipped_conf
        .lines()
        .zip(without_hostname.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a)
        .collect();
    assert_eq!(
        differ,
        ["admin = \"postmaster\"", "domains = []", "relay = \"\"",],
        "hostname is added, the others replaced in place"
    );
    // The programs accept what init made.
    ok(mailwall(&spool, &["check"]));
    // No temporary file left behind.
    for e in fs::read_dir(spool.join("etc")).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        assert!(!n.starts_with('.'), "{n}");
    }
}

#[test]
fn second_init_keeps_the_admins_edits_and_says_so() {
    let (_t, spool) = fresh();
    ok(mailwall(&spool, INSTALL));
    let bad = spool.join("etc/matches.bad");
    let edited = format!("{}filename=.*\\.xyz\n", fs::read_to_string(&bad).unwrap());
    fs::write(&bad, &edited).unwrap();
    let conf_path = spool.join("etc/gateway.conf");
    let conf = fs::read_to_string(&conf_path)
        .unwrap()
        .replace(
            "admin = \"it@example.com\"",
            "admin = \"it@example.com\"   # the IT desk",
        )
        .replace("poll_seconds = 10", "poll_seconds = 30");
    fs::write(&conf_path, &conf).unwrap();

    let out = ok(mailwall(&spool, &["init"]));
    assert_eq!(
        fs::read_to_string(&bad).unwrap(),
        edited,
        "matches.bad kept"
    );
    assert!(
        out.contains("kept etc/matches.bad (edited); the shipped one is etc/matches.bad.dist"),
        "{out}"
    );
    assert_eq!(
        fs::read(spool.join("etc/matches.bad.dist")).unwrap(),
        fs::read(testkit::repo_root().join("etc/matches.bad")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(&conf_path).unwrap(),
        conf,
        "gateway.conf untouched"
    );
    // Idempotent: a third run changes nothing at all (not even a mode).
    let stamp = |p: &Path| fs::symlink_metadata(p).unwrap().ctime_nsec();
    let before: Vec<_> = fs::read_dir(spool.join("etc"))
        .unwrap()
        .map(|e| stamp(&e.unwrap().path()))
        .collect();
    let out = ok(mailwall(&spool, &["init"]));
    assert!(!out.contains("change(s)"), "{out}");
    let after: Vec<_> = fs::read_dir(spool.join("etc"))
        .unwrap()
        .map(|e| stamp(&e.unwrap().path()))
        .collect();
    assert_eq!(before, after);

    // A key asked for again changes only its value: the admin's comment and edits stay.
    ok(mailwall(
        &spool,
        &[
            "init",
            "--admin",
            "sec@example.com",
            "--set",
            "forward.tls=\"off\"",
        ],
    ));
    let now = fs::read_to_string(&conf_path).unwrap();
    assert!(
        now.contains("admin = \"sec@example.com\"   # the IT desk\n"),
        "{now}"
    );
    assert!(now.contains("poll_seconds = 30\n"), "{now}");
    let cfg = spool::Config::load(&conf_path).unwrap();
    assert_eq!(cfg.forward.tls, spool::config::TlsMode::Off);
    assert_eq!(cfg.forward.relay, "mail.internal:2525");
}

#[test]
fn a_bad_key_or_value_is_refused_and_nothing_written() {
    let (_t, spool) = fresh();
    ok(mailwall(&spool, INSTALL));
    let conf_path = spool.join("etc/gateway.conf");
    let before = fs::read(&conf_path).unwrap();
    let o = mailwall(&spool, &["init", "--set", "forward.rely=\"x\""]);
    assert_eq!(o.status.code(), Some(78), "{}", text(&o));
    assert!(
        text(&o).contains("gateway.conf") && text(&o).contains("rely"),
        "{}",
        text(&o)
    );
    let o = mailwall(&spool, &["init", "--set", "forward.poll_seconds=\"soon\""]);
    assert_eq!(o.status.code(), Some(78), "{}", text(&o));
    let o = mailwall(&spool, &["init", "--set", "forward.relay=mail:25"]);
    assert_eq!(
        o.status.code(),
        Some(64),
        "not TOML: a usage error\n{}",
        text(&o)
    );
    assert_eq!(fs::read(&conf_path).unwrap(), before);
}

#[test]
fn init_refuses_symlinks_and_hard_links_in_the_tree() {
    let (t, spool) = fresh();
    ok(mailwall(&spool, INSTALL));
    // What a compromised uucp would point root at.
    let victim = t.path().join("shadow");
    fs::write(&victim, "root:secret\n").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(spool.join("etc/gateway.conf")).unwrap();
    std::os::unix::fs::symlink(&victim, spool.join("etc/gateway.conf")).unwrap();
    let o = mailwall(&spool, &["init", "--admin", "x@example.com"]);
    assert_eq!(o.status.code(), Some(78), "{}", text(&o));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root:secret\n");
    assert_eq!(
        owner_mode(&victim),
        (nix::unistd::geteuid().as_raw(), 0o600)
    );
    fs::remove_file(spool.join("etc/gateway.conf")).unwrap();

    fs::remove_file(spool.join("etc/matches.bad")).unwrap();
    fs::hard_link(&victim, spool.join("etc/matches.bad")).unwrap();
    let o = mailwall(&spool, &["init"]);
    assert_eq!(o.status.code(), Some(78), "{}", text(&o));
    assert!(text(&o).contains("hard-linked"), "{}", text(&o));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root:secret\n");
    assert_eq!(
        owner_mode(&victim),
        (nix::unistd::geteuid().as_raw(), 0o600)
    );
    fs::remove_file(spool.join("etc/matches.bad")).unwrap();
    // In a queue (where a crash in the spool's link + unlink rename can leave one) it is left
    // alone, and said so.
    fs::hard_link(&victim, spool.join("incoming/smtpdAAAAAA")).unwrap();
    let out = ok(mailwall(&spool, &["init"]));
    assert!(
        out.contains("incoming/smtpdAAAAAA: more than one hard link"),
        "{out}"
    );
    assert_eq!(
        owner_mode(&victim),
        (nix::unistd::geteuid().as_raw(), 0o600)
    );
    fs::remove_file(spool.join("incoming/smtpdAAAAAA")).unwrap();
    // The tree itself a link.
    let elsewhere = t.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let linked = t.path().join("linked");
    std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
    let o = mailwall(&linked, &["init"]);
    assert_eq!(o.status.code(), Some(78), "{}", text(&o));
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn hardened_layout_and_back() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "owners can only be given as root (CI runs tests/run as root)"
    );
    let (_t, spool) = fresh();
    let uucp = owner();
    ok(mailwall(&spool, INSTALL));
    let day = spool.join("etc/email.20261127");
    fs::write(&day, "a day's lines\n").unwrap();
    ok(mailwall(&spool, &["init", "--hardened"]));
    for d in ["", "etc", "bin"] {
        assert_eq!(owner_mode(&spool.join(d)), (0, 0o750), "spool/{d}");
    }
    for f in [
        "gateway.conf",
        "matches.bad",
        "smtpd_check_rules",
        "alert.tmpl",
    ] {
        assert_eq!(
            owner_mode(&spool.join("etc").join(f)),
            (0, 0o640),
            "etc/{f}"
        );
    }
    for q in ["incoming", "outgoing", "quarantine", "etc/days"] {
        assert_eq!(owner_mode(&spool.join(q)), (uucp, 0o700), "{q}");
    }
    assert!(!day.exists());
    assert_eq!(
        fs::read_to_string(spool.join("etc/days/email.20261127")).unwrap(),
        "a day's lines\n"
    );
    let out = ok(mailwall(&spool, &["check"]));
    assert!(out.contains("no problem found"), "{out}");
    // Without --hardened: the article's layout again, everything uucp's.
    ok(mailwall(&spool, &["init"]));
    for d in ["", "etc", "bin", "etc/matches.bad", "etc/days", "incoming"] {
        assert_eq!(owner_mode(&spool.join(d)).0, uucp, "spool/{d}");
    }
}

#[test]
fn check_names_every_bad_line_of_the_pattern_and_rules_files() {
    let (_t, spool) = fresh();
    ok(mailwall(&spool, INSTALL));
    let etc = spool.join("etc");
    let bad = etc.join("matches.bad");
    let mut text_bad = fs::read_to_string(&bad).unwrap();
    let n = text_bad.lines().count();
    text_bad.push_str("filename=.*\\.\\(exe\n\nfilename=[abc\n");
    fs::write(&bad, text_bad).unwrap();
    fs::write(etc.join("matches.doc"), "ok\n\\1\n").unwrap();
    fs::write(
        etc.join("smtpd_check_rules"),
        "# rules\nallow:ALL:ALL:*@example.com\nallw:ALL:ALL:ALL\nnoto:ALL:ALL\n",
    )
    .unwrap();
    fs::set_permissions(etc.join("transport"), fs::Permissions::from_mode(0o666)).unwrap();
    let o = mailwall(&spool, &["check"]);
    assert_eq!(o.status.code(), Some(78), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    let e = etc.display();
    for want in [
        format!("mailwall: check: {e}/matches.bad:{}: ", n + 1),
        format!("mailwall: check: {e}/matches.bad:{}: ", n + 3),
        format!("mailwall: check: {e}/matches.doc:2: "),
        format!("mailwall: check: {e}/smtpd_check_rules:3: "),
        format!("mailwall: check: {e}/smtpd_check_rules:4: "),
        format!("mailwall: check: {e}/transport: mode 0666 is group or world writable"),
    ] {
        assert_eq!(
            lines.iter().filter(|l| l.starts_with(&want)).count(),
            1,
            "{want}\n{out}"
        );
    }
    assert_eq!(lines.len(), 6, "{out}");
}

/// Started by another user than root, init makes a trial tree of that user's (gateway.conf's
/// user and group name it, so check finds nothing), and refuses --hardened (64).
#[test]
fn init_by_another_user_makes_a_trial_tree_of_its_own() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "runs init as nobody (CI runs tests/run as root)"
    );
    let t = tempfile::tempdir().unwrap();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let spool = t.path().join("spool");
    let as_nobody = |args: &[&str]| {
        Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(env!("CARGO_BIN_EXE_mailwall"))
            .arg("--spool")
            .arg(&spool)
            .args(args)
            .output()
            .unwrap()
    };
    let out = ok(as_nobody(&["init", "--domain", "example.com"]));
    assert!(out.contains("set domains, user, group"), "{out}");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert_eq!(owner_mode(&spool), (nobody.uid.as_raw(), 0o700));
    let cfg = spool::Config::load(&spool.join("etc/gateway.conf")).unwrap();
    assert_eq!(cfg.user, "nobody");
    let out = ok(as_nobody(&["check"]));
    assert!(out.contains("no problem found"), "{out}");
    let o = as_nobody(&["init", "--hardened"]);
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert_eq!(owner_mode(&spool), (nobody.uid.as_raw(), 0o700));
}
