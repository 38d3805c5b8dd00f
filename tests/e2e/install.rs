//! install.sh for real: into a temporary root (owners, modes, crontab, gateway.conf settings, a
//! second run that keeps the admin's edits, uninstall that keeps the mail), and `--demo` end to end.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use testkit::*;

fn install(args: &[&str]) -> Output {
    let out = Command::new("bash")
        .arg(repo_root().join("install.sh"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("run install.sh");
    assert!(
        out.status.success(),
        "install.sh {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn install_into_a_temporary_root_then_again_then_uninstall() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let r = root.to_str().unwrap();
    install(&[
        "--root",
        r,
        "--profile",
        "debug",
        "--no-deps",
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
    ]);
    let spool = root.join("var/spool/smtpd");
    for d in ["", "etc", "bin", "incoming", "outgoing", "quarantine"] {
        assert_eq!(mode(&spool.join(d)), 0o700, "spool/{d}");
    }
    for b in ["smtpd", "smtpfwdd"] {
        assert_eq!(mode(&root.join("usr/local/sbin").join(b)), 0o755, "{b}");
    }
    for b in ["scanmail", "sigupdate", "daysumm"] {
        assert_eq!(mode(&spool.join("bin").join(b)), 0o700, "{b}");
    }
    for f in [
        "gateway.conf",
        "matches.bad",
        "matches.doc",
        "smtpd_check_rules",
    ] {
        assert!(spool.join("etc").join(f).is_file(), "etc/{f} installed");
    }
    let root_user = nix::unistd::geteuid().is_root();
    if root_user {
        let (uid, _) = spool::privs::lookup("uucp", "uucp").unwrap();
        for d in [
            "",
            "etc",
            "bin",
            "incoming",
            "outgoing",
            "quarantine",
            "etc/matches.bad",
        ] {
            assert_eq!(
                fs::metadata(spool.join(d)).unwrap().uid(),
                uid.as_raw(),
                "owner of spool/{d}"
            );
        }
        let cron = Command::new("crontab")
            .args(["-u", "uucp", "-l"])
            .output()
            .unwrap();
        let cron = String::from_utf8_lossy(&cron.stdout);
        assert!(cron.contains("MAILTO=\"\""), "{cron}");
        assert!(
            cron.contains(&format!("{}/bin/scanmail", spool.display())),
            "{cron}"
        );
        assert!(
            cron.contains("daysumm") && cron.contains("sigupdate"),
            "{cron}"
        );
    }
    let cfg = spool::Config::load(&spool.join("etc/gateway.conf"))
        .expect("installed gateway.conf parses");
    assert_eq!(cfg.hostname, "gw.example.com");
    assert_eq!(cfg.admin, "it@example.com");
    assert_eq!(
        cfg.domains,
        vec!["example.com".to_string(), "example.net".to_string()]
    );
    assert_eq!(cfg.forward.relay, "mail.internal:2525");

    // The admin edits a pattern file and the config; mail waits in quarantine.
    let bad = spool.join("etc/matches.bad");
    let edited = format!("{}filename=.*\\.xyz\n", fs::read_to_string(&bad).unwrap());
    fs::write(&bad, &edited).unwrap();
    let conf_before = fs::read_to_string(spool.join("etc/gateway.conf")).unwrap();
    fs::write(
        spool.join("quarantine/smtpdAAAAAA"),
        b"FROM <a@b>\nRCPT <c@d>\nBODY\nx\n",
    )
    .unwrap();

    install(&["--root", r, "--profile", "debug", "--no-deps"]);
    assert_eq!(
        fs::read_to_string(&bad).unwrap(),
        edited,
        "admin's matches.bad kept"
    );
    assert!(
        spool.join("etc/matches.bad.dist").is_file(),
        "new default beside it"
    );
    assert_eq!(
        fs::read_to_string(spool.join("etc/gateway.conf")).unwrap(),
        conf_before
    );

    install(&["--root", r, "--uninstall"]);
    assert!(!root.join("usr/local/sbin/smtpd").exists());
    assert!(!spool.join("bin/scanmail").exists());
    assert!(
        spool.join("quarantine/smtpdAAAAAA").exists(),
        "mail survives uninstall"
    );
    assert_eq!(fs::read_to_string(&bad).unwrap(), edited);
    if root_user {
        let cron = Command::new("crontab")
            .args(["-u", "uucp", "-l"])
            .output()
            .unwrap();
        assert!(
            !cron.status.success() || cron.stdout.is_empty(),
            "crontab removed"
        );
    }
}

#[test]
fn demo_shows_the_whole_flow_and_stops_everything() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("demo");
    let port = free_port().to_string();
    let out = install(&[
        "--demo",
        "--demo-dir",
        dir.to_str().unwrap(),
        "--demo-port",
        &port,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let spool = spool::Spool::new(dir.join("spool"));

    // The clean mail reached the internal server; the EICAR mail is in quarantine with its parts.
    let q: Vec<_> = spool::store::list(&spool, spool::Queue::Quarantine).unwrap();
    assert_eq!(q.len(), 1, "one message in quarantine\n{text}");
    assert!(
        spool
            .decoded_dir(spool::Queue::Quarantine, &q[0].id)
            .is_dir(),
        "{text}"
    );
    assert!(
        spool::store::list(&spool, spool::Queue::Incoming)
            .unwrap()
            .is_empty(),
        "{text}"
    );
    assert!(
        spool::store::list(&spool, spool::Queue::Outgoing)
            .unwrap()
            .is_empty(),
        "{text}"
    );
    let mailbox: Vec<String> = fs::read_dir(dir.join("mailbox"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| String::from_utf8_lossy(&fs::read(e.path()).unwrap()).replace("\r\n", "\n"))
        .collect();
    assert!(
        mailbox
            .iter()
            .any(|m| m.contains("Subject: Lunch on Friday?")
                && m.contains("Hi Bob, lunch on Friday at noon?")),
        "clean mail delivered\n{text}"
    );
    assert!(
        !mailbox.iter().any(|m| m.contains("EICAR-STANDARD")),
        "virus never delivered"
    );
    assert!(
        mailbox
            .iter()
            .any(|m| m.contains("To: postmaster@example.com") && m.contains("Eicar")),
        "admin alert delivered\n{text}"
    );
    assert!(
        text.contains("daysumm") || text.contains("summary"),
        "{text}"
    );

    // Every process the demo started is gone.
    for pidfile in fs::read_dir(dir.join("run"))
        .unwrap()
        .filter_map(|e| e.ok())
    {
        if pidfile.path().extension().is_some_and(|x| x == "pid") {
            panic!("pid file left behind: {}", pidfile.path().display());
        }
    }
    let left = Command::new("pgrep")
        .arg("-f")
        .arg(dir.to_str().unwrap())
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "processes left: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}
