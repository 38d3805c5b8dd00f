//! install.sh for real: into a temporary root (owners, modes, crontab, gateway.conf settings, a
//! second run that keeps the admin's edits, uninstall that keeps the mail), and `--demo` end to end.
#![allow(clippy::too_many_lines)] // a test reads best as one story

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
    let first = install(&[
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
        // Root's copy for the admin (issue 14): root never runs what uucp can write.
        let admin = root.join("usr/local/sbin").join(b);
        assert_eq!(mode(&admin), 0o755, "{b}");
        assert_eq!(
            fs::metadata(&admin).unwrap().uid(),
            nix::unistd::geteuid().as_raw(),
            "{b}"
        );
    }
    assert_eq!(mode(&root.join("usr/local/sbin/mailwall")), 0o755);
    // The manual pages, from the programs themselves (every one has --man); `man` finds them.
    let manroot = root.join("usr/local/share/man");
    for page in [
        "man8/smtpd.8",
        "man8/smtpfwdd.8",
        "man8/scanmail.8",
        "man8/sigupdate.8",
        "man8/daysumm.8",
        "man8/mailwall.8",
        "man5/gateway.conf.5",
    ] {
        let text = fs::read_to_string(manroot.join(page)).unwrap();
        assert!(text.starts_with(".TH "), "{page}: {text}");
    }
    let shown = Command::new("man")
        .args(["-M"])
        .arg(&manroot)
        .args(["-P", "cat", "smtpd"])
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("SECURITY") && shown.contains("--spool"),
        "man smtpd: {shown}"
    );
    // freshclam from root's cron (the database stays clamav's).
    let cron_d = fs::read_to_string(root.join("etc/cron.d/mailwall-freshclam")).unwrap();
    assert!(
        cron_d
            .lines()
            .any(|l| !l.starts_with('#') && l.contains(" root ") && l.contains("freshclam")),
        "{cron_d}"
    );
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
    // mailwall init set them (install.sh edits no TOML itself), keeping the shipped comments.
    let first = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.contains(
            "mailwall: init: etc/gateway.conf: set hostname, admin, domains, forward.relay"
        ),
        "{first}"
    );
    let conf = fs::read_to_string(spool.join("etc/gateway.conf")).unwrap();
    let shipped = fs::read_to_string(repo_root().join("etc/gateway.conf")).unwrap();
    for l in shipped.lines().filter(|l| l.starts_with('#')) {
        assert!(conf.contains(l), "comment lost: {l}");
    }
    // What install.sh made passes the admin's check (as root it checks as uucp, who needs a
    // way through the test's private directories).
    for d in [t.path(), &root, &root.join("var"), &root.join("var/spool")] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o711)).unwrap();
    }
    let check = Command::new(root.join("usr/local/sbin/mailwall"))
        .arg("--spool")
        .arg(&spool)
        .arg("check")
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

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

    let again = install(&["--root", r, "--profile", "debug", "--no-deps"]);
    assert_eq!(
        fs::read_to_string(&bad).unwrap(),
        edited,
        "admin's matches.bad kept"
    );
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.contains("kept etc/matches.bad (edited); the shipped one is etc/matches.bad.dist"),
        "it says what it kept\n{again}"
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
    assert!(!root.join("usr/local/sbin/scanmail").exists());
    assert!(!root.join("usr/local/share/man/man8/mailwall.8").exists());
    assert!(!root.join("etc/cron.d/mailwall-freshclam").exists());
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
    // The demo's clamd reports what it cannot scan (issue 9).
    let conf = fs::read_to_string(dir.join("clamav/clamd.conf")).unwrap();
    assert!(
        conf.contains("AlertExceedsMax yes\n") && conf.contains("AlertEncrypted yes\n"),
        "{conf}"
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

// ---------------------------------------------------------------------------------------------
// The real install (no --root) in a fresh root: tests/support/install-sandbox.sh gives it private
// /etc, /run, /var/spool, /var/lib/clamav, /var/log/clamav, /usr/local/sbin, its own loopback
// and its own process namespace, so the system clamd, its init script, port 25, crontabs and
// cron.d are the real ones and nothing on the machine changes. Every process started inside
// (clamd, smtpd, smtpfwdd, cron) ends with the sandbox.

/// What a sandboxed run printed, as one text (stdout then stderr).
struct Sandboxed {
    status: std::process::ExitStatus,
    text: String,
}

/// Run a bash script as root in a fresh root. `db`: the files of /var/lib/clamav (None: empty).
fn sandbox(with_eicar_db: bool, script: &str) -> Sandboxed {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the real-install tests need root (CI runs tests/run as root)"
    );
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("work");
    let db = t.path().join("db");
    fs::create_dir_all(&work).unwrap();
    fs::create_dir_all(&db).unwrap();
    if with_eicar_db {
        // The official database cannot be downloaded here: the EICAR body signature instead.
        write_eicar_db(&db);
    }
    let out = Command::new(repo_root().join("tests/support/install-sandbox.sh"))
        .arg(&work)
        .arg(&db)
        .args(["bash", "-c", script])
        .env("REPO", repo_root())
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .expect("run install-sandbox.sh");
    Sandboxed {
        status: out.status,
        text: format!(
            "{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The lines of `text` that start with `key` (without it).
fn values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines().filter_map(|l| l.strip_prefix(key)).collect()
}

const REAL_INSTALL: &str = r#"bash "$REPO/install.sh" --profile debug --no-deps --domain example.com --relay 127.0.0.1:2600 --admin postmaster@example.com"#;

/// clamd's answer to zPING on the system socket, printed as `ping=ANSWER`.
const PING: &str = r#"python3 -c '
import socket
s = socket.socket(socket.AF_UNIX); s.settimeout(5)
try:
    s.connect("/run/clamav/clamd.ctl"); s.sendall(b"zPING\0"); print("ping=" + s.recv(16).decode().strip("\0"))
except OSError as e:
    print("ping=" + str(e))
'"#;

#[test]
fn real_install_starts_clamd_when_the_init_script_does_not_and_passes_its_self_test() {
    let r = sandbox(
        true,
        &format!(
            r#"
# Debian's script starts nothing without main/daily signatures (and says nothing): prove it.
service clamav-daemon start >/dev/null 2>&1; echo "init-script-rc=$?"
sleep 2; echo "clamd-after-init-script=$(pgrep -x clamd || echo none)"
{REAL_INSTALL}; echo "install-rc=$?"
{PING}
echo "uucp-groups=$(id -Gn uucp)"
echo "clamav-db=$(stat -c '%U %a' /var/lib/clamav)"
grep -E '^Alert(ExceedsMax|Encrypted) ' /etc/clamav/clamd.conf | sed 's/^/clamd.conf=/'
grep -v '^#' /etc/cron.d/mailwall-freshclam | grep freshclam | sed 's/^/cron.d=/'
for b in smtpd smtpfwdd scanmail sigupdate daysumm mailwall; do stat -c 'sbin=%n %U %a' /usr/local/sbin/$b; done
for q in incoming outgoing quarantine; do echo "queue-$q=$(ls /var/spool/smtpd/$q | tr '\n' ' ')"; done
bash "$REPO/install.sh" --check; echo "check-rc=$?"
# The admin's root-owned copy, started as root, reads the quarantine as uucp.
/usr/local/sbin/scanmail --list >/dev/null; echo "list-rc=$?"
# smtpd as its systemd units run it (ProtectSystem=strict, ReadWritePaths=incoming/): the chroot
# read-only but incoming/. It still takes mail.
kill "$(cat /run/smtpd/smtpd.pid)"; sleep 1
S=/var/spool/smtpd
mount --bind $S $S && mount -o remount,bind,ro $S
mount --bind $S/incoming $S/incoming && mount -o remount,bind,rw $S/incoming
touch $S/etc/x 2>/dev/null && echo "etc-writable=yes" || echo "etc-writable=no"
setsid /usr/local/sbin/smtpd -D -p 25 </dev/null >/dev/null 2>&1 &
python3 -c '
import smtplib, time
for _ in range(100):
    try:
        s = smtplib.SMTP("127.0.0.1", 25, timeout=10); break
    except OSError:
        time.sleep(0.1)
s.sendmail("a@example.org", ["postmaster@example.com"], b"Subject: ro\r\n\r\nread-only chroot\r\n")
print("ro-chroot-sent=" + str(s.noop()[0]))
'
echo "ro-chroot-incoming=$(ls $S/incoming | wc -l)"
"#
        ),
    );
    let text = &r.text;
    assert!(r.status.success(), "{text}");
    assert_eq!(values(text, "list-rc="), ["0"], "{text}");
    assert_eq!(values(text, "etc-writable="), ["no"], "{text}");
    assert_eq!(values(text, "ro-chroot-sent="), ["250"], "{text}");
    assert_eq!(values(text, "ro-chroot-incoming="), ["1"], "{text}");
    assert_eq!(values(text, "install-rc="), ["0"], "{text}");
    assert_eq!(values(text, "init-script-rc="), ["0"], "{text}");
    assert_eq!(values(text, "clamd-after-init-script="), ["none"], "{text}");
    assert_eq!(
        values(text, "ping="),
        ["PONG"],
        "clamd answers PING\n{text}"
    );
    // The three self-test lines, at the end of the install's output and again from --check.
    for n in [
        "1/3: a clean mail",
        "2/3: an EICAR mail",
        "3/3: both removed",
    ] {
        let lines: Vec<_> = text
            .lines()
            .filter(|l| l.contains(&format!("self-test {n}")))
            .collect();
        assert_eq!(
            lines.len(),
            2,
            "self-test {n} (install and --check)\n{text}"
        );
    }
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("self-test 1/3") && l.ends_with(": outgoing"))
            .count(),
        2,
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("self-test 2/3") && l.ends_with(": quarantine"))
            .count(),
        2,
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("both removed with 1 notice: the gateway is scanning"))
            .count(),
        2,
        "{text}"
    );
    assert!(!text.contains("NOT scanning"), "{text}");
    assert_eq!(values(text, "check-rc="), ["0"], "{text}");
    // The self-test left nothing behind (smtpfwdd's lock file is a dot-file: ls hides it).
    for q in ["incoming", "outgoing", "quarantine"] {
        assert_eq!(
            values(text, &format!("queue-{q}=")),
            [""],
            "{q}/ is empty\n{text}"
        );
    }
    // The signatures stay clamav's (issue 14).
    let groups = values(text, "uucp-groups=");
    assert!(
        groups.len() == 1 && !groups[0].split(' ').any(|g| g == "clamav"),
        "uucp is not in group clamav\n{text}"
    );
    assert_eq!(values(text, "clamav-db="), ["clamav 755"], "{text}");
    let cron = values(text, "cron.d=");
    assert!(
        cron.len() == 1 && cron[0].contains(" root ") && cron[0].contains("freshclam"),
        "root's cron runs freshclam\n{text}"
    );
    // The clamd it configures reports what it cannot scan (issue 9).
    assert_eq!(
        values(text, "clamd.conf="),
        ["AlertExceedsMax yes", "AlertEncrypted yes"],
        "{text}"
    );
    // Root's copies of the admin's tools (issue 14): root-owned, not writable by uucp.
    let sbin = values(text, "sbin=");
    assert_eq!(sbin.len(), 6, "{text}");
    for l in sbin {
        assert!(l.ends_with(" root 755"), "{l}\n{text}");
    }
}

#[test]
fn real_install_without_signatures_says_the_gateway_is_not_scanning() {
    let r = sandbox(
        false,
        &format!(
            r#"
{REAL_INSTALL}; echo "install-rc=$?"
{PING}
for q in incoming outgoing quarantine; do echo "queue-$q=$(ls /var/spool/smtpd/$q | tr '\n' ' ')"; done
bash "$REPO/install.sh" --check; echo "check-rc=$?"
"#
        ),
    );
    let text = &r.text;
    assert_eq!(values(text, "install-rc="), ["1"], "{text}");
    assert_eq!(values(text, "check-rc="), ["1"], "{text}");
    let block = "the gateway is NOT scanning: mail will wait in incoming/ until clamd answers";
    assert_eq!(text.matches(block).count(), 2, "{text}");
    // The block says why, and is the last thing the install printed.
    assert!(text.contains("clamd did not start"), "{text}");
    let install_err = text.split("--- stderr ---").nth(1).unwrap();
    let last = install_err
        .split(block)
        .nth(1)
        .expect("the block is on stderr");
    assert!(!last.contains("Next steps"), "{text}");
    assert!(!values(text, "ping=").contains(&"PONG"), "{text}");
}

#[test]
fn real_install_needs_a_relay_that_is_not_the_gateway_itself() {
    let r = sandbox(
        true,
        r#"
bash "$REPO/install.sh" --profile debug --no-deps --domain example.com; echo "no-relay-rc=$?"
bash "$REPO/install.sh" --profile debug --no-deps --domain example.com --relay localhost:25; echo "loop-rc=$?"
bash "$REPO/install.sh" --profile debug --no-deps --domain example.com --relay 127.0.0.1; echo "loop2-rc=$?"
ls /usr/local/sbin /var/spool | sed 's/^/installed=/'
# MX delivery asked for explicitly in the installed gateway.conf needs no --relay.
mkdir -p /var/spool/smtpd/etc && printf '[forward]\ndeliver_to_mx = true\n' > /var/spool/smtpd/etc/gateway.conf
bash "$REPO/install.sh" --profile debug --no-deps --no-start --domain example.com; echo "mx-rc=$?"
"#,
    );
    let text = &r.text;
    assert_eq!(values(text, "no-relay-rc="), ["1"], "{text}");
    assert_eq!(values(text, "loop-rc="), ["1"], "{text}");
    assert_eq!(values(text, "loop2-rc="), ["1"], "{text}");
    assert!(text.contains("--relay HOST:PORT is required"), "{text}");
    assert_eq!(text.matches("a mail loop").count(), 3, "{text}");
    // Refused before anything was installed.
    let installed = values(text, "installed=");
    assert!(
        !installed.iter().any(|l| *l == "smtpd" || *l == "scanmail"),
        "{text}"
    );
    assert_eq!(values(text, "mx-rc="), ["0"], "{text}");
}

#[test]
fn install_refuses_symlinks_in_the_spool_tree() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let r = root.to_str().unwrap();
    install(&["--root", r, "--profile", "debug", "--no-deps"]);
    let spool = root.join("var/spool/smtpd");
    // What a compromised uucp would point root at: a file and a directory of root's.
    let victim_file = t.path().join("shadow");
    fs::write(&victim_file, "root:secret\n").unwrap();
    fs::set_permissions(&victim_file, fs::Permissions::from_mode(0o600)).unwrap();
    let victim_dir = t.path().join("sbin");
    fs::create_dir(&victim_dir).unwrap();
    fs::set_permissions(&victim_dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_file(spool.join("etc/gateway.conf")).unwrap();
    std::os::unix::fs::symlink(&victim_file, spool.join("etc/gateway.conf")).unwrap();
    fs::remove_dir_all(spool.join("bin")).unwrap();
    std::os::unix::fs::symlink(&victim_dir, spool.join("bin")).unwrap();

    let out = Command::new("bash")
        .arg(repo_root().join("install.sh"))
        .args([
            "--root",
            r,
            "--profile",
            "debug",
            "--no-deps",
            "--admin",
            "x@example.com",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("symbolic link"), "{text}");
    assert_eq!(fs::read_to_string(&victim_file).unwrap(), "root:secret\n");
    assert_eq!(mode(&victim_file), 0o600);
    assert_eq!(mode(&victim_dir), 0o755);
    assert_eq!(fs::read_dir(&victim_dir).unwrap().count(), 0, "{text}");
}

/// Owner uid and mode of a path (not following a last-component symlink).
fn owner_mode(p: &Path) -> (u32, u32) {
    let md = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (md.uid(), md.permissions().mode() & 0o7777)
}

#[test]
fn hardened_layout_leaves_uucp_only_the_queues() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "owners can only be checked as root (CI runs tests/run as root)"
    );
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let r = root.to_str().unwrap();
    let spool = root.join("var/spool/smtpd");
    let (uucp, uucp_gid) = spool::privs::lookup("uucp", "uucp").unwrap();
    let uucp = uucp.as_raw();
    // An article-layout gateway that has run a day: its day files are in etc/.
    install(&["--root", r, "--profile", "debug", "--no-deps"]);
    let day = spool.join("etc/email.20261127");
    fs::write(&day, "a day's lines\n").unwrap();
    nix::unistd::chown(&day, Some(uucp.into()), Some(uucp_gid)).unwrap();
    install(&["--root", r, "--profile", "debug", "--no-deps", "--hardened"]);
    // The day files moved to etc/days/, which uucp (their writer) owns.
    assert!(!day.exists());
    assert_eq!(owner_mode(&spool.join("etc/days")), (uucp, 0o700));
    let moved = spool.join("etc/days/email.20261127");
    assert_eq!(fs::read_to_string(&moved).unwrap(), "a day's lines\n");
    assert_eq!(owner_mode(&moved), (uucp, 0o600));
    assert_eq!(spool::Spool::new(&spool).day_dir(), spool.join("etc/days"));
    // Again, with a day file of the same name left in etc/: its lines are added, none lost.
    fs::write(&day, "older lines\n").unwrap();
    install(&["--root", r, "--profile", "debug", "--no-deps", "--hardened"]);
    assert!(!day.exists());
    assert_eq!(
        fs::read_to_string(&moved).unwrap(),
        "a day's lines\nolder lines\n"
    );
    // Programs, configuration, pattern files, templates and the chroot's own root: root's, and
    // read-only (group uucp) for uucp.
    for d in ["", "etc", "bin"] {
        assert_eq!(owner_mode(&spool.join(d)), (0, 0o750), "spool/{d}");
    }
    for b in ["scanmail", "sigupdate", "daysumm"] {
        assert_eq!(
            owner_mode(&spool.join("bin").join(b)),
            (0, 0o750),
            "bin/{b}"
        );
    }
    for f in [
        "gateway.conf",
        "matches.bad",
        "matches.doc",
        "smtpd_check_rules",
        "alert.tmpl",
        "resolv.conf",
    ] {
        let p = spool.join("etc").join(f);
        if p.exists() {
            assert_eq!(owner_mode(&p), (0, 0o640), "etc/{f}");
        }
    }
    let etc_gid = fs::metadata(spool.join("etc")).unwrap().gid();
    assert_eq!(
        etc_gid,
        spool::privs::lookup("uucp", "uucp").unwrap().1.as_raw()
    );
    // uucp writes only in the queues.
    for q in ["incoming", "outgoing", "quarantine"] {
        assert_eq!(owner_mode(&spool.join(q)), (uucp, 0o700), "{q}");
    }
    // The article's layout again without --hardened (the default): everything uucp's.
    install(&["--root", r, "--profile", "debug", "--no-deps"]);
    for d in [
        "",
        "etc",
        "bin",
        "etc/matches.bad",
        "bin/scanmail",
        "incoming",
    ] {
        assert_eq!(owner_mode(&spool.join(d)).0, uucp, "spool/{d}");
    }
}

/// The programs in the hardened layout: smtpd (root-started, chrooted) receives on port 25,
/// scanmail as uucp judges (the self-test) and writes its day files into etc/days/, root's
/// scanmail --list reads the quarantine, `mailwall check` finds no problem, daysumm reports the
/// day, uucp cannot write etc/, and smtpd takes mail in a chroot read-only but incoming/.
#[test]
fn hardened_layout_programs_still_work() {
    let r = sandbox(
        true,
        &format!(
            r#"
{REAL_INSTALL} --hardened; echo "install-rc=$?"
S=/var/spool/smtpd
/usr/local/sbin/scanmail --list; echo "list-rc=$?"
/usr/local/sbin/mailwall check; echo "check-rc=$?"
echo "days=$(cd $S/etc/days && ls | sed 's/\.[0-9]*$//' | sort -u | tr '\n' ' ')"
echo "etc-day-files=$(cd $S/etc && ls | grep -cE '^(email|virus|sent)\.[0-9]{{8}}$')"
echo "day-owner=$(stat -c '%U %a' $S/etc/days/email.$(date +%Y%m%d))"
/usr/local/sbin/daysumm --stdout >/dev/null; echo "daysumm-rc=$?"
runuser -u uucp -- touch $S/etc/x 2>/dev/null && echo "etc-writable=yes" || echo "etc-writable=no"
runuser -u uucp -- touch $S/bin/x 2>/dev/null && echo "bin-writable=yes" || echo "bin-writable=no"
# smtpd as its systemd units run it (ProtectSystem=strict, ReadWritePaths=incoming/), in the
# hardened layout.
# The old smtpd is gone (port 25 free) before the new one starts; every wait is bounded.
old=$(cat /run/smtpd/smtpd.pid); kill "$old"
for _ in $(seq 300); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
mount --bind $S $S && mount -o remount,bind,ro $S
mount --bind $S/incoming $S/incoming && mount -o remount,bind,rw $S/incoming
before=$(ls $S/incoming | wc -l)
setsid /usr/local/sbin/smtpd -D -p 25 </dev/null >/run/smtpd-ro.log 2>&1 &
timeout 60 python3 -c '
import smtplib, time
end = time.time() + 30
while True:
    try:
        s = smtplib.SMTP("127.0.0.1", 25, timeout=10); break
    except OSError:
        if time.time() > end:
            raise
        time.sleep(0.1)
s.sendmail("a@example.org", ["postmaster@example.com"], b"Subject: ro\r\n\r\nread-only chroot\r\n")
print("ro-chroot-sent=" + str(s.noop()[0]))
'
echo "ro-chroot-incoming=$(( $(ls $S/incoming | wc -l) - before ))"
sed 's/^/smtpd-log=/' /run/smtpd-ro.log
"#
        ),
    );
    let text = &r.text;
    assert_eq!(values(text, "install-rc="), ["0"], "{text}");
    assert!(
        text.contains("both removed with 1 notice: the gateway is scanning"),
        "{text}"
    );
    assert_eq!(values(text, "list-rc="), ["0"], "{text}");
    assert_eq!(values(text, "check-rc="), ["0"], "{text}");
    assert!(
        text.contains("mailwall: check: /var/spool/smtpd: no problem found"),
        "{text}"
    );
    // The self-test's scanmail run (as uucp) wrote email.* and virus.* into etc/days/ only.
    assert_eq!(values(text, "days="), ["email virus "], "{text}");
    assert_eq!(values(text, "etc-day-files="), ["0"], "{text}");
    assert_eq!(values(text, "day-owner="), ["uucp 600"], "{text}");
    assert_eq!(values(text, "daysumm-rc="), ["0"], "{text}");
    // daysumm (root's copy, as uucp) read the day: both test mails, the EICAR one quarantined.
    assert!(
        text.contains("summary of") && text.contains(": 2 received, 0 delivered, 1 quarantined"),
        "{text}"
    );
    assert_eq!(values(text, "etc-writable="), ["no"], "{text}");
    assert_eq!(values(text, "bin-writable="), ["no"], "{text}");
    assert_eq!(values(text, "ro-chroot-sent="), ["250"], "{text}");
    assert_eq!(values(text, "ro-chroot-incoming="), ["1"], "{text}");
}

/// A clamd already running with the machine's settings is restarted, so the clamd the install
/// leaves reports content beyond its limits (AlertExceedsMax) instead of answering OK for it.
#[test]
fn real_install_restarts_a_running_clamd_with_alert_exceeds_max() {
    let r = sandbox(
        true,
        &format!(
            r#"
mkdir -p /run/clamav && chown clamav /run/clamav
/usr/sbin/clamd -c /etc/clamav/clamd.conf --pid=/run/clamav/clamd.pid; echo "old-clamd-rc=$?"
echo "old-pid=$(cat /run/clamav/clamd.pid)"
# 26 MB, more than Debian's MaxFileSize of 25 MB, where clamav can read it.
head -c 27262976 /dev/zero > /run/big && chmod 644 /run/big
SCAN='import socket; s = socket.socket(socket.AF_UNIX); s.settimeout(60); s.connect("/run/clamav/clamd.ctl"); s.sendall(b"zSCAN /run/big\0"); print(s.recv(200).decode().strip("\0"))'
echo "before=$(python3 -c "$SCAN")"
{REAL_INSTALL} --clamd-tmpfs no; echo "install-rc=$?"
echo "new-pid=$(cat /run/clamav/clamd.pid)"
{PING}
echo "after=$(python3 -c "$SCAN")"
# --clamd-tmpfs no: clamd's TemporaryDirectory is left alone.
echo "tmpdir-lines=$(grep -c '^TemporaryDirectory' /etc/clamav/clamd.conf)"
echo "fstab-lines=$(grep -c mailwall-clamd /etc/fstab)"
echo "tmpfs-dir=$(test -e /var/spool/mailwall-clamd && echo yes || echo no)"
"#
        ),
    );
    let text = &r.text;
    assert_eq!(values(text, "old-clamd-rc="), ["0"], "{text}");
    assert_eq!(values(text, "before="), ["/run/big: OK"], "{text}");
    assert_eq!(values(text, "install-rc="), ["0"], "{text}");
    assert_eq!(values(text, "ping="), ["PONG"], "{text}");
    assert_ne!(values(text, "old-pid="), values(text, "new-pid="), "{text}");
    let after = values(text, "after=");
    assert!(
        after.len() == 1
            && after[0].contains("Heuristics.Limits.Exceeded")
            && after[0].ends_with("FOUND"),
        "{text}"
    );
    assert_eq!(values(text, "tmpdir-lines="), ["0"], "{text}");
    assert_eq!(values(text, "fstab-lines="), ["0"], "{text}");
    assert_eq!(values(text, "tmpfs-dir="), ["no"], "{text}");
}

/// clamd writes every stream scanmail sends to its TemporaryDirectory: the install puts it on a
/// tmpfs sized from clamd's own limits (mounted now and from /etc/fstab; clamd.conf names it).
/// A full tmpfs makes clamd answer an error: the mail waits in incoming/ and is judged on a later
/// pass, once there is room. A second install with an explicit size resizes it: one fstab line.
#[test]
fn real_install_gives_clamd_a_sized_tmpfs_and_mail_waits_while_it_is_full() {
    let r = sandbox(
        true,
        &format!(
            r#"
T=/var/spool/mailwall-clamd
report() {{
    echo "$1-fstab-lines=$(grep -c " $T " /etc/fstab)"
    grep " $T " /etc/fstab | sed "s/^/$1-fstab=/"
    echo "$1-mount=$(findmnt -no FSTYPE,OPTIONS $T)"
    grep '^TemporaryDirectory ' /etc/clamav/clamd.conf | sed "s/^/$1-clamd.conf=/"
    echo "$1-apparmor=$(grep -c "^$T/" /etc/apparmor.d/local/usr.sbin.clamd)"
}}
queues() {{
    for q in incoming outgoing quarantine; do echo "$1-$q=$(ls /var/spool/smtpd/$q | grep -v '\.state$' | tr '\n' ' ')"; done
}}
{REAL_INSTALL}; echo "install-rc=$?"
report first
echo "expected-size=$(( $(clamconf | sed -nE 's/^MaxThreads = "([0-9]+)"$/\1/p') * ($(clamconf | sed -nE 's/^StreamMaxLength = "([0-9]+)"$/\1/p') + $(clamconf | sed -nE 's/^MaxScanSize = "([0-9]+)"$/\1/p')) / 1024 ))k"
echo "half-memory=$(( $(awk '/^MemTotal:/ {{print $2}}' /proc/meminfo) / 2 ))k"
# No room left: 1 MB, and a mail with a zip whose 3 MB member clamd unpacks there (a file scanmail
# hands over by descriptor is read in place: only what clamd unpacks needs the directory).
mount -o remount,size=1m $T
python3 -c '
import base64, io, smtplib, zipfile
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("report.txt", b"".join(b"%075d\r\n" % i for i in range(40000)))
att = base64.encodebytes(b.getvalue()).replace(b"\n", b"\r\n")
body = (b"Subject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nthe report\r\n--b\r\n"
        b"Content-Type: application/zip; name=\"report.zip\"\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename=\"report.zip\"\r\n\r\n" + att + b"--b--\r\n")
s = smtplib.SMTP("127.0.0.1", 25, timeout=30)
s.sendmail("a@example.org", ["postmaster@example.com"], body)
print("sent=" + str(s.noop()[0]))
'
/usr/local/sbin/scanmail 2>&1 | sed 's/^/scan-full: /'
queues full
# Room again, the size given explicitly this time.
{REAL_INSTALL} --clamd-tmpfs 64m; echo "install2-rc=$?"
report second
/usr/local/sbin/scanmail 2>&1 | sed 's/^/scan-room: /'
queues room
# A plain re-run keeps the size given before.
{REAL_INSTALL}; echo "install3-rc=$?"
report third
"#
        ),
    );
    let text = &r.text;
    assert_eq!(values(text, "install-rc="), ["0"], "{text}");
    assert_eq!(values(text, "install2-rc="), ["0"], "{text}");
    // The size: MaxThreads × (StreamMaxLength + MaxScanSize), at most half the memory.
    let kib = |v: &str| v.trim_end_matches('k').parse::<u64>().unwrap();
    let want = kib(values(text, "expected-size=")[0]).min(kib(values(text, "half-memory=")[0]));
    let want = want.div_ceil(1024) * 1024;
    let t = "/var/spool/mailwall-clamd";
    let opts = "mode=700,uid=".to_string();
    assert_eq!(values(text, "install3-rc="), ["0"], "{text}");
    for (run, size) in [("first", want), ("second", 65536), ("third", 65536)] {
        assert_eq!(
            values(text, &format!("{run}-fstab-lines=")),
            ["1"],
            "{text}"
        );
        let fstab = values(text, &format!("{run}-fstab="));
        assert_eq!(fstab.len(), 1, "{text}");
        assert!(
            fstab[0].starts_with(&format!("tmpfs {t} tmpfs size=")),
            "{text}"
        );
        let mount = values(text, &format!("{run}-mount="));
        assert_eq!(mount.len(), 1, "{text}");
        assert!(mount[0].starts_with("tmpfs "), "{text}");
        for o in [
            format!("size={size}k"),
            opts.clone(),
            "nosuid".into(),
            "noexec".into(),
        ] {
            assert!(mount[0].contains(&o), "{run}: {o} in {}\n{text}", mount[0]);
        }
        assert_eq!(
            values(text, &format!("{run}-clamd.conf=")),
            [format!("TemporaryDirectory {t}")],
            "{text}"
        );
        assert_eq!(values(text, &format!("{run}-apparmor=")), ["2"], "{text}");
    }
    // While the tmpfs is full: accepted, not judged, still in incoming/, and said so.
    assert_eq!(values(text, "sent="), ["250"], "{text}");
    let waiting = values(text, "full-incoming=");
    assert_eq!(waiting.len(), 1, "{text}");
    let id = waiting[0].trim();
    assert!(
        id.starts_with("smtpd") && !id.contains(' '),
        "one message waits\n{text}"
    );
    assert_eq!(values(text, "full-outgoing="), [""], "{text}");
    assert_eq!(values(text, "full-quarantine="), [""], "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("scan-full: ")
            && l.contains(id)
            && l.contains("left for retry")
            && l.contains("t write to")),
        "the log line names the message and clamd's error\n{text}"
    );
    // With room it is judged clean and moves on (smtpfwdd's relay is down: it stays there).
    assert_eq!(values(text, "room-incoming="), [""], "{text}");
    assert_eq!(values(text, "room-outgoing="), [format!("{id} ")], "{text}");
    assert_eq!(values(text, "room-quarantine="), [""], "{text}");
}
