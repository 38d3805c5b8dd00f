//! smtpd's defences, with the real binary: chroot and uucp, refusing to start when dropping root
//! fails, check rules, no open relay, a full disk, client names from the chroot's hosts file.
//! The tests run as root (as CI does), so smtpd takes its production path.

mod common;

use common::*;
use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::spool::Queue;
use testkit::TestSpool;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn proc_ids(pid: i32) -> (String, String, std::path::PathBuf) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let root = fs::read_link(format!("/proc/{pid}/root")).unwrap();
    (field("Uid:"), field("Gid:"), root)
}

#[test]
fn serving_processes_are_chrooted_and_run_as_uucp() {
    let ts = TestSpool::new(&Conf::new());
    let spool_root = fs::canonicalize(ts.root()).unwrap();
    let d = Daemon::start(&ts, &[]);
    let mut c = d.connect();
    assert_eq!(c.reply(), BANNER);
    let (uid, gid, root) = proc_ids(d.pid());
    // inetd mode: the process serving stdin/stdout.
    let (mut p, mut ic) = inetd(&ts, &[]);
    assert_eq!(ic.reply(), BANNER);
    let (iuid, igid, iroot) = proc_ids(p.pid());
    if is_root() {
        assert_eq!(uid, "10 10 10 10", "daemon runs as uucp");
        assert_eq!(gid, "10 10 10 10");
        assert_eq!(root, spool_root, "daemon is chrooted into the spool");
        assert_eq!(
            (iuid.as_str(), igid.as_str()),
            ("10 10 10 10", "10 10 10 10")
        );
        assert_eq!(iroot, spool_root, "inetd session is chrooted");
        let groups = fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
        assert!(
            groups.lines().any(
                |l| l.starts_with("Groups:") && l.split_whitespace().skip(1).all(|g| g == "10")
            ),
            "supplementary groups dropped: {groups}"
        );
    } else {
        let me = nix::unistd::getuid().to_string();
        assert!(uid.starts_with(&me));
        assert_eq!(root, std::path::Path::new("/"));
        assert_eq!(iroot, std::path::Path::new("/"));
        assert!(d.log_text().contains("(not root): no chroot"));
    }
    // Mail still lands in the spool (seen from outside the chroot).
    c.cmd("HELO x.example.org");
    c.cmd("MAIL FROM:<a@b.org>");
    c.cmd("RCPT TO:<b@example.com>");
    c.cmd("DATA");
    assert!(c.cmd("Subject: x\r\n\r\ny\r\n.").starts_with("250 "));
    ic.cmd("QUIT");
    assert!(p.wait_timeout(Duration::from_secs(5)).is_some());
    let m = wait_messages(&ts, 1);
    if is_root() {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            fs::metadata(&m[0]).unwrap().uid(),
            10,
            "file written as uucp"
        );
    }
}

#[test]
fn refuses_to_start_when_it_cannot_drop_root() {
    let ts = TestSpool::new(&Conf::new());
    if !is_root() {
        // Not root: -u is ignored (no switch is possible), the session runs as ourselves.
        let (_p, mut c) = inetd(&ts, &["-u", "nosuchuser"]);
        assert_eq!(c.reply(), BANNER);
        return;
    }
    for (args, why) in [
        (vec!["-u", "nosuchuser"], "no such user"),
        (vec!["-u", "root", "-g", "root"], "refusing to run as uid 0"),
    ] {
        let out = command(&ts, &[&["-H"], &args[..]].concat())
            .stdin(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(71), "{args:?}");
        assert!(out.stdout.is_empty(), "no banner: {:?}", out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{err}");
    }
    // -u/-g may only name the spool's owner (the ids come from the spool root).
    let out = command(&ts, &["-H", "-u", "nobody", "-g", "nogroup"])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not the spool's owner"));
}

/// The ids and supplementary groups of a running process, from /proc/PID/status.
fn proc_gids(pid: i32) -> Vec<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.starts_with("Gid:") || l.starts_with("Groups:"))
        .flat_map(|l| l.split_whitespace().skip(1).map(|g| g.parse().unwrap()))
        .collect::<Vec<u32>>()
}

#[test]
fn root_started_smtpd_never_serves_as_a_group_named_in_gateway_conf() {
    // gateway.conf belongs to the spool's owner: a compromised uucp could write `group = "disk"`
    // into it. smtpd takes its ids from the spool root's owner and refuses the other names.
    assert!(is_root(), "this test needs root, as CI runs it");
    let disk = nix::unistd::Group::from_name("disk")
        .unwrap()
        .unwrap()
        .gid
        .as_raw();
    for (conf_ids, args) in [
        ("group = \"disk\"\n", vec![]),
        ("", vec!["-g", "disk"]),
        ("user = \"daemon\"\ngroup = \"daemon\"\n", vec![]),
    ] {
        let ts = TestSpool::new(&Conf::new().merge(conf_ids));
        // inetd: no banner, exit 78.
        let out = command(&ts, &[&["-H"], &args[..]].concat())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.stdout.is_empty(),
            "{conf_ids:?} {args:?}: a banner: {out:?}"
        );
        assert_eq!(out.status.code(), Some(78), "{conf_ids:?} {args:?}: {err}");
        assert!(err.contains("is not the spool's owner"), "{err}");
        // Daemon: when it listens, the serving process's Gid and Groups lines say as whom.
        let port = testkit::free_port();
        let mut p = testkit::Proc::spawn(
            "smtpd",
            command(
                &ts,
                &["-H", "-D", "-l", "127.0.0.1", "-p", &port.to_string()],
            )
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        );
        let listening = testkit::wait_for(Duration::from_secs(10), || {
            if p.child.try_wait().unwrap().is_some() {
                return Some(false);
            }
            std::net::TcpStream::connect(("127.0.0.1", port))
                .is_ok()
                .then_some(true)
        });
        if listening == Some(true) {
            let gids = proc_gids(p.pid());
            assert!(
                !gids.contains(&disk) && gids.iter().all(|&g| g == 10),
                "{conf_ids:?} {args:?}: the daemon serves with gids {gids:?}"
            );
        }
        let status = p.wait_timeout(Duration::from_secs(10));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(78),
            "{conf_ids:?} {args:?}"
        );
    }
}

#[test]
fn shipped_antirelay_rules() {
    let ts = TestSpool::new(&Conf::new());
    ts.install_etc("smtpd_check_rules");
    let (_p, mut c) = inetd(&ts, &[]);
    c.reply();
    c.cmd("HELO x.example.org");
    c.cmd("MAIL FROM:<a@b.org>");
    // Percent hacks and bang paths are refused by smtpd itself (allow_percent_hack and
    // allow_bang_path default to false), before the rules.
    let r = c.cmd("RCPT TO:<victim%elsewhere.org@example.com>");
    assert_eq!(r, "553 5.7.1 Percent hack (user%host@domain) not accepted");
    assert!(c
        .cmd("RCPT TO:<elsewhere.org!victim@example.com>")
        .starts_with("553 5.7.1"));
    assert!(c
        .cmd("RCPT TO:<victim@elsewhere.org>")
        .starts_with("550 5.7.1 Relaying denied"));
    assert!(c.cmd("RCPT TO:<joe@example.com>").starts_with("250 "));
    assert!(c.cmd("QUIT").starts_with("221"));
}

#[test]
fn check_rules_allow_noto_deny_and_replies() {
    let ts = TestSpool::new(&Conf::new());
    ts.write_etc(
        "smtpd_check_rules",
        include_bytes!("../../../tests/data/smtpd/access_check_rules"),
    );
    ts.write_conf(&Conf::new().set("", "domains", vec!["example.com", "debug.example.com"]));
    let d = Daemon::start(&ts, &[]);
    let mut c = d.connect();
    c.reply();
    c.cmd("HELO x.example.org");
    c.cmd("MAIL FROM:<a@b.org>");
    assert!(
        c.cmd("RCPT TO:<x@partner.example.org>").starts_with("250 "),
        "allow: non-local domain accepted"
    );
    assert!(
        c.cmd("RCPT TO:<x@other.example.org>")
            .starts_with("550 5.7.1"),
        "allow for another network"
    );
    assert!(
        c.cmd("RCPT TO:<restricted@example.com>")
            .starts_with("550 Mail from a@b.org"),
        "default reply"
    );
    assert!(
        c.cmd("RCPT TO:<x@debug.example.com>").starts_with("250 "),
        "debug only logs"
    );
    assert!(c.cmd("DATA").starts_with("354"));
    assert!(c.cmd("x\r\n.").starts_with("250 "));
    c.cmd("MAIL FROM:<s@spam.example.net>");
    assert_eq!(
        c.cmd("RCPT TO:<x@example.com>"),
        "550 No mail from s@spam.example.net to x@example.com (unknown:127.0.0.1) 100%"
    );
    assert!(
        c.cmd("RSET").starts_with("250"),
        "noto: the session goes on"
    );
    c.cmd("MAIL FROM:<e@evil.example.net>");
    assert_eq!(c.cmd("RCPT TO:<x@example.com>"), "554 Go away");
    assert!(c.reply().starts_with("421 "), "deny: 421 follows");
    assert_eq!(c.reply(), "", "deny: session closed");
    let m = wait_messages(&ts, 1);
    let env = split_stored(&m[0]).0;
    assert_eq!(
        env,
        "FROM <a@b.org>\nRCPT <x@partner.example.org>\nRCPT <x@debug.example.com>\nBODY\n"
    );
    let log = d.log_text();
    assert!(log.contains("check rule line 2 matched"), "{log}");
    assert!(log.contains("refused by check rule line 4"), "{log}");
}

#[test]
fn bad_rules_line_stops_startup_with_its_line_number() {
    let ts = TestSpool::new(&Conf::new());
    ts.write_etc(
        "smtpd_check_rules",
        b"# ok\nallow:ALL:ALL:*@example.com\nalow:ALL:ALL:ALL\n",
    );
    let out = command(&ts, &["-H"])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("smtpd_check_rules:3: unknown action \"alow\""),
        "{err}"
    );
}

#[test]
fn low_free_space_refused_at_mail() {
    let ts =
        TestSpool::new(&Conf::new().set("smtpd", "min_free_bytes", 1_000_000_000_000_000_000i64));
    let (_p, mut c) = inetd(&ts, &[]);
    c.reply();
    c.cmd("HELO x.example.org");
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.org>"),
        "452 4.3.1 Insufficient system storage"
    );
}

/// tmpfs mounted on the spool's incoming/ for one test, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn disk_full_answers_452_leaves_nothing_and_recovers() {
    assert!(
        is_root(),
        "this test mounts a tmpfs: run the suite as root (CI does)"
    );
    let ts = TestSpool::new(&Conf::new());
    let incoming = ts.spool.queue(Queue::Incoming);
    let st = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=2m,mode=0700,uid=10,gid=10",
            "tmpfs",
        ])
        .arg(&incoming)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    let _mount = Tmpfs(incoming.clone());
    let d = Daemon::start(&ts, &[]);
    let send = |size: usize| -> String {
        let mut c = d.connect();
        c.reply();
        c.cmd("HELO x.example.org");
        c.cmd("MAIL FROM:<a@b.org>");
        c.cmd("RCPT TO:<b@example.com>");
        let r = c.cmd("DATA");
        if !r.starts_with("354") {
            return r;
        }
        let line = [b'z'; 998];
        let mut sent = 0;
        while sent < size {
            c.send(&line);
            c.send(b"\r\n");
            sent += 1000;
        }
        let r = c.cmd(".");
        c.cmd("QUIT");
        r
    };
    // 3 MB into a 2 MB filesystem.
    let r = send(3_000_000);
    assert_eq!(r, "452 4.3.1 Insufficient system storage");
    assert!(
        ts.all_names(Queue::Incoming).is_empty(),
        "{:?}",
        ts.all_names(Queue::Incoming)
    );
    // Fill the disk from outside, then free it: mail is refused, then accepted again.
    fs::write(incoming.join("filler"), vec![0u8; 1_900_000]).unwrap_or(());
    let r = send(500_000);
    assert!(r.starts_with("452 4.3.1"), "{r}");
    assert_eq!(ts.all_names(Queue::Incoming), ["filler"]);
    fs::remove_file(incoming.join("filler")).unwrap();
    let r = send(500_000);
    assert!(r.starts_with("250 2.0.0 Ok: queued as"), "{r}");
    assert_eq!(messages(&ts).len(), 1);
    let log = d.log_text();
    assert!(log.contains("result=failed"), "{log}");
    drop(d);
}

#[test]
fn client_name_comes_from_the_chroot_hosts_file() {
    // Inside the chroot the resolver reads the spool's etc/: the name comes from there, and
    // with `hosts: files` no DNS query ever leaves the machine.
    let ts = TestSpool::new(
        "hostname = \"gw.example.com\"\ndomains = [\"example.com\"]\n[smtpd]\nmin_free_bytes = 0\n",
    );
    ts.write_etc("hosts", b"127.0.0.1 client.test.example\n");
    ts.write_etc("nsswitch.conf", b"hosts: files\n");
    ts.write_etc(
        "smtpd_check_rules",
        b"noto:KNOWN:ALL:known@example.com:550 known %H\nnoto:UNKNOWN:ALL:unknown@example.com:550 unknown %H\n",
    );
    // Without -H: names are looked up. The session runs the inetd way, on a TCP connection
    // accepted here and handed over as stdin/stdout, so that it has a real peer address.
    let (mut p, mut c) = inetd_tcp(&ts, "127.0.0.1", &[]);
    assert_eq!(c.reply(), BANNER);
    c.cmd("HELO h.example.org");
    c.cmd("MAIL FROM:<a@b.org>");
    let known = c.cmd("RCPT TO:<known@example.com>");
    let unknown = c.cmd("RCPT TO:<unknown@example.com>");
    assert!(c.cmd("RCPT TO:<x@example.com>").starts_with("250"));
    c.cmd("DATA");
    assert!(c.cmd("x\r\n.").starts_with("250"));
    c.cmd("QUIT");
    assert!(p.wait_timeout(Duration::from_secs(10)).is_some());
    let m = wait_messages(&ts, 1);
    let received = split_stored(&m[0]).1;
    if is_root() {
        assert_eq!(known, "550 known client.test.example");
        assert!(unknown.starts_with("250"), "{unknown}");
        assert!(
            received.starts_with("Received: from h.example.org (client.test.example [127.0.0.1])"),
            "{received}"
        );
    } else {
        // No chroot: the machine's own /etc/hosts answers (localhost).
        assert!(known.starts_with("550 known "), "{known}");
    }
}
