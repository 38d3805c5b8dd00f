//! The systemd units pass `systemd-analyze verify` (PID 1 need not be systemd for it): their
//! programs in /usr/local/sbin and their manual pages exist, every directive is known. Run in
//! the install sandbox (tests/support/install-sandbox.sh), so /usr/local/sbin is its own.

use std::process::Command;
use testkit::{bin, repo_root};

#[test]
fn units_pass_systemd_analyze_verify() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the sandbox needs root (CI runs tests/run as root)"
    );
    let t = tempfile::tempdir().unwrap();
    let (work, db, man) = (
        t.path().join("work"),
        t.path().join("db"),
        t.path().join("man"),
    );
    for d in [&work, &db, &man.join("man8"), &man.join("man5")] {
        std::fs::create_dir_all(d).unwrap();
    }
    let progs = [
        "smtpd",
        "smtpfwdd",
        "scanmail",
        "sigupdate",
        "daysumm",
        "mailwall",
    ];
    for p in progs {
        let page = Command::new(bin(p)).arg("--man").output().unwrap();
        assert!(page.status.success());
        std::fs::write(man.join("man8").join(format!("{p}.8")), page.stdout).unwrap();
    }
    let copies: Vec<String> = progs
        .iter()
        .map(|p| format!("cp {} /usr/local/sbin/", bin(p).display()))
        .collect();
    let units = repo_root().join("etc/systemd");
    let mut names: Vec<String> = std::fs::read_dir(&units)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".service") || p.ends_with(".socket"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    let script = format!(
        "{} && MANPATH={} systemd-analyze verify {} 2>&1; echo \"rc=$?\"",
        copies.join(" && "),
        man.display(),
        names.join(" ")
    );
    let out = Command::new(repo_root().join("tests/support/install-sandbox.sh"))
        .arg(&work)
        .arg(&db)
        .args(["bash", "-c", &script])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(text.trim(), "rc=0", "systemd-analyze verify said:\n{text}");
}
