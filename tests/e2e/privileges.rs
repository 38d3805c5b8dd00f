//! Issue 14, privileges: every program started as root takes its ids from the spool root's owner
//! (never from gateway.conf, which that owner can edit, nor from a group it could `chgrp` the
//! spool root to) and reads no spool file as root. The tests run as root, as CI does.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use testkit::spool::Queue;
use testkit::{bin, TestSpool};

/// The five programs, with the arguments of one short run each.
const PROGRAMS: [(&str, &[&str]); 5] = [
    ("smtpd", &["-H"]),
    ("smtpfwdd", &["--once", "--foreground"]),
    ("scanmail", &[]),
    ("sigupdate", &[]),
    ("daysumm", &["--stdout"]),
];

const CONF: &str = "hostname = \"gw.example.com\"\ndomains = [\"example.com\"]\n\
                    [smtpd]\ndns_lookups = false\nmin_free_bytes = 0\n";

fn run(ts: &TestSpool, prog: &str, args: &[&str]) -> Output {
    Command::new(bin(prog))
        .args(args)
        .arg("--spool")
        .arg(ts.root())
        .env("GATEWAY_LOG", "stderr")
        .stdin(Stdio::null())
        .output()
        .unwrap()
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
        let ts = TestSpool::new(&format!("{ids}{CONF}"));
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
fn a_spool_root_chgrped_to_another_group_is_refused_by_every_program() {
    // The spool's owner may chgrp its root to any group it is a member of; the programs take the
    // group only when it is the owner's primary group.
    assert_root();
    let ts = TestSpool::new(CONF);
    let waiting = ts.inject(
        Queue::Incoming,
        "<a@example.org>",
        &["<b@example.com>"],
        b"x\n",
    );
    let disk = nix::unistd::Group::from_name("disk").unwrap().unwrap().gid;
    nix::unistd::chown(ts.root(), None, Some(disk)).unwrap();
    for (prog, args) in PROGRAMS {
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
    let ts = TestSpool::new(CONF);
    let secret = ts.dir.path().join("root-only");
    fs::write(&secret, "ROOT-ONLY-SECRET-4711 = = not toml\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let conf = ts.spool.config_path();
    fs::remove_file(&conf).unwrap();
    std::os::unix::fs::symlink(&secret, &conf).unwrap();
    for (prog, args) in PROGRAMS {
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
