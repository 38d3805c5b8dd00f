//! Issue 14, privileges: every program started as root takes its ids from the spool root's owner
//! (never from gateway.conf, which that owner can edit, nor from a group it could `chgrp` the
//! spool root to) and reads no spool file as root. The tests run as root, as CI does.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use testkit::spool::Queue;
use testkit::{Conf, TestSpool};

/// The five programs, with the arguments of one short run each.
const PROGRAMS: [(&str, &[&str]); 5] = [
    ("smtpd", &["-H"]),
    ("smtpfwdd", &["--once", "--foreground"]),
    ("scanmail", &[]),
    ("sigupdate", &[]),
    ("daysumm", &["--stdout"]),
];

fn run(ts: &TestSpool, prog: &str, args: &[&str]) -> Output {
    ts.run(prog, args)
}

fn assert_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests start the programs as root: run the suite as root (CI does)"
    );
}

#[test]
fn a_group_or_user_named_in_gateway_conf_is_refused_by_every_program() {
    assert_root();
    for ids in [
        "group = \"disk\"\n",
        "user = \"daemon\"\ngroup = \"daemon\"\n",
    ] {
        let ts = TestSpool::new(&Conf::new().merge(ids));
        let waiting = ts.inject(
            Queue::Incoming,
            "<a@example.org>",
            &["<b@example.com>"],
            b"x\n",
        );
        let leaving = ts.inject(
            Queue::Outgoing,
            "<a@example.org>",
            &["<b@example.com>"],
            b"y\n",
        );
        for (prog, args) in PROGRAMS {
            let o = run(&ts, prog, args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.stdout.is_empty(), "{prog} {ids:?}: {o:?}");
            assert_eq!(o.status.code(), Some(78), "{prog} {ids:?}: {err}");
            assert!(err.contains("is not the spool's owner"), "{prog}: {err}");
        }
        // Nothing was judged or delivered, no notice written.
        assert_eq!(ts.ids(Queue::Incoming), [waiting]);
        assert_eq!(ts.ids(Queue::Outgoing), [leaving]);
        assert!(ts.ids(Queue::Quarantine).is_empty());
    }
}

#[test]
fn daemons_refuse_u_and_g_that_name_other_ids() {
    assert_root();
    let ts = TestSpool::new(&Conf::new());
    let runs: [(&str, &[&str]); 4] = [
        ("smtpd", &["-H", "-g", "disk"]),
        ("smtpd", &["-H", "-u", "daemon"]),
        ("smtpfwdd", &["--once", "--foreground", "-g", "disk"]),
        (
            "smtpfwdd",
            &["--once", "--foreground", "-u", "daemon", "-g", "daemon"],
        ),
    ];
    for (prog, args) in runs {
        let o = run(&ts, prog, args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.stdout.is_empty(), "{prog} {args:?}: {o:?}");
        assert_eq!(o.status.code(), Some(78), "{prog} {args:?}: {err}");
        assert!(err.contains("is not the spool's owner"), "{prog}: {err}");
    }
    // Naming the owner itself is fine.
    let o = run(
        &ts,
        "smtpfwdd",
        &[
            "--once",
            "--foreground",
            "--relay",
            "127.0.0.1:9",
            "-u",
            "uucp",
            "-g",
            "uucp",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_spool_root_chgrped_to_another_group_is_refused_by_every_program() {
    // The spool's owner may chgrp its root to any group it is a member of; the programs take the
    // group only when it is the owner's primary group.
    assert_root();
    let ts = TestSpool::new(&Conf::new());
    let waiting = ts.inject(
        Queue::Incoming,
        "<a@example.org>",
        &["<b@example.com>"],
        b"x\n",
    );
    let disk = nix::unistd::Group::from_name("disk").unwrap().unwrap().gid;
    nix::unistd::chown(ts.root(), None, Some(disk)).unwrap();
    let tools: [(&str, &[&str]); 1] = [("mailwall", &["queue"])];
    for (prog, args) in PROGRAMS.into_iter().chain(tools) {
        let o = run(&ts, prog, args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.stdout.is_empty(), "{prog}: {o:?}");
        assert_eq!(o.status.code(), Some(78), "{prog}: {err}");
        assert!(err.contains("primary group"), "{prog}: {err}");
    }
    assert_eq!(ts.ids(Queue::Incoming), [waiting]);
}

#[test]
fn no_program_reads_a_spool_file_as_root() {
    // gateway.conf replaced by a symlink to a file only root may read: a program that reads it
    // as root would show its text in the error; one that dropped root first gets EACCES.
    assert_root();
    let ts = TestSpool::new(&Conf::new());
    let secret = ts.dir.path().join("root-only");
    fs::write(&secret, "ROOT-ONLY-SECRET-4711 = = not toml\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let conf = ts.spool.config_path();
    fs::remove_file(&conf).unwrap();
    std::os::unix::fs::symlink(&secret, &conf).unwrap();
    // The admin's tools too (they run as root from /usr/local/sbin).
    let tools: [(&str, &[&str]); 2] = [("scanmail", &["--list"]), ("mailwall", &["check"])];
    for (prog, args) in PROGRAMS.into_iter().chain(tools) {
        let o = run(&ts, prog, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!o.status.success(), "{prog}: {text}");
        assert!(
            !text.contains("ROOT-ONLY-SECRET"),
            "{prog} read the file as root: {text}"
        );
        assert!(text.contains("Permission denied"), "{prog}: {text}");
    }
}

/// The admin runs what the texts tell him to, as root: never a program the spool's owner can
/// replace (`/var/spool/smtpd/bin/` belongs to uucp), always the root-owned copy.
fn assert_root_owned_command(text: &str, what: &str) {
    for line in text.lines() {
        let names_a_command = ["scanmail --", "sigupdate -", "daysumm -"]
            .iter()
            .any(|c| line.contains(c));
        if names_a_command {
            assert!(
                line.contains("/usr/local/sbin/"),
                "{what}: an admin command that is not the root-owned copy: {line}"
            );
        }
        assert!(
            !line.contains("bin/scanmail --") || line.contains("/usr/local/sbin/scanmail"),
            "{what}: {line}"
        );
    }
}

#[test]
fn readme_and_templates_name_the_root_owned_admin_commands() {
    let root = testkit::repo_root();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    assert_root_owned_command(&readme, "README.md");
    assert!(readme.contains("/usr/local/sbin/scanmail --release"));
    let mut templates = 0;
    for e in fs::read_dir(root.join("etc")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "tmpl") {
            assert_root_owned_command(&fs::read_to_string(&p).unwrap(), &p.display().to_string());
            templates += 1;
        }
    }
    assert!(templates >= 5, "{templates} templates");
}

#[test]
fn the_quarantine_alert_names_the_root_owned_scanmail() {
    // The real scanmail quarantines a banned attachment: its alert, with the built-in text and
    // with the shipped etc/alert.tmpl, tells the admin to run /usr/local/sbin/scanmail.
    let clamd = testkit::Clamd::start();
    for shipped in [false, true] {
        let ts = TestSpool::new(&Conf::new());
        ts.write_conf(
            &Conf::new().path("scan", "clamd_socket", &clamd.socket).set(
                "scan",
                "notify_sender",
                false,
            ),
        );
        ts.install_etc("matches.bad");
        if shipped {
            ts.install_etc("alert.tmpl");
        }
        let body = b"From: a@example.org\nTo: b@example.com\nSubject: invoice\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nhi\n--b\n\
Content-Type: application/octet-stream; name=\"invoice.exe\"\n\
Content-Disposition: attachment; filename=\"invoice.exe\"\nContent-Transfer-Encoding: base64\n\n\
aGVsbG8=\n--b--\n";
        let id = ts.inject(
            Queue::Incoming,
            "<a@example.org>",
            &["<b@example.com>"],
            body,
        );
        let o = run(&ts, "scanmail", &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(ts.ids(Queue::Quarantine), std::slice::from_ref(&id));
        let alerts: Vec<String> = ts
            .ids(Queue::Outgoing)
            .iter()
            .map(|a| {
                let p = ts.spool.message(Queue::Outgoing, &spool_id(a));
                String::from_utf8_lossy(&fs::read(p).unwrap()).into_owned()
            })
            .collect();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(
            alerts[0].contains(&format!("/usr/local/sbin/scanmail --release {id}")),
            "shipped template {shipped}: {}",
            alerts[0]
        );
        assert_root_owned_command(&alerts[0], "the alert");
    }
}

fn spool_id(s: &str) -> testkit::spool::MessageId {
    testkit::spool::MessageId::parse(s).unwrap()
}
