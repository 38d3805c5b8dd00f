//! scanmail end to end: the real binary over a test spool, with a real clamd, clamscan as a
//! command scanner, and stubs only for the failures (a clamd that hangs or answers garbage, a
//! scanner that crashes, a missing socket).
#![allow(clippy::too_many_lines)] // a test reads best as one story

use spool::daylog::{read_email, read_virus};
use spool::verdict::Verdict;
use spool::{Envelope, Queue};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use testkit::{Clamd, Conf, Proc, TestSpool, EICAR};

const CLEAN: &[u8] = b"From: alice@example.org\nTo: bob@example.com\nSubject: hello\n\nHi Bob.\n";

fn eicar_mail() -> Vec<u8> {
    let b64 = "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=";
    format!(
        "From: alice@example.org\nTo: bob@example.com\nSubject: the report\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nsee attached\n\
         --b\nContent-Type: application/octet-stream; name=\"report.dat\"\n\
         Content-Transfer-Encoding: base64\n\n{b64}\n--b--\n"
    )
    .into_bytes()
}

fn exe_mail() -> Vec<u8> {
    b"From: alice@example.org\nSubject: tool\nMIME-Version: 1.0\n\
      Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nhi\n\
      --b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"setup.exe\"\n\nxx\n--b--\n"
        .to_vec()
}

fn spool_with(scan: &str) -> TestSpool {
    let ts = TestSpool::new(&Conf::new().section("scan", scan));
    ts.install_etc("matches.bad");
    ts.install_etc("matches.doc");
    ts
}

fn scanmail(ts: &TestSpool, args: &[&str]) -> Output {
    ts.run("scanmail", args)
}

/// `scanmail --watch` over the test spool, its log to `stderr`.
fn watch(ts: &TestSpool, stderr: std::process::Stdio) -> Proc {
    Proc::spawn(
        "scanmail --watch",
        ts.command("scanmail", &["--watch"]).stderr(stderr),
    )
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn log(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Notices in outgoing: (recipients, whole file text).
fn notices(ts: &TestSpool) -> Vec<(Vec<String>, String)> {
    ts.ids(Queue::Outgoing)
        .into_iter()
        .filter_map(|id| {
            let p = ts.spool.message(Queue::Outgoing, &id.parse().unwrap());
            let (env, body) = Envelope::read_body(&p).ok()?;
            let text = String::from_utf8_lossy(&body).into_owned();
            text.contains("Auto-Submitted: auto-generated").then(|| {
                (
                    env.recipients.iter().map(|r| r.addr.clone()).collect(),
                    text,
                )
            })
        })
        .collect()
}

fn in_queue(ts: &TestSpool, q: Queue, id: &str) -> bool {
    ts.spool.message(q, &id.parse().unwrap()).exists()
}

#[test]
fn clamd_judges_clean_virus_and_banned_mail_with_notices_and_day_files() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!("clamd_socket = \"{}\"", clamd.socket.display()));
    let clean = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        CLEAN,
    );
    let virus = ts.inject(
        Queue::Incoming,
        "<carol@example.org>",
        &["<bob@example.com>", "<dan@example.com>"],
        &eicar_mail(),
    );
    let banned = ts.inject(
        Queue::Incoming,
        "<erin@example.org>",
        &["<bob@example.com>"],
        &exe_mail(),
    );
    let o = scanmail(&ts, &[]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    assert!(in_queue(&ts, Queue::Outgoing, &clean));
    assert!(in_queue(&ts, Queue::Quarantine, &virus));
    assert!(in_queue(&ts, Queue::Quarantine, &banned));
    assert!(
        ts.all_names(Queue::Incoming).is_empty(),
        "{:?}",
        ts.all_names(Queue::Incoming)
    );
    // The clean message is byte for byte what came in; its _d is gone.
    let (_, body) =
        Envelope::read_body(&ts.spool.message(Queue::Outgoing, &clean.parse().unwrap())).unwrap();
    assert_eq!(body, CLEAN);
    assert!(!ts
        .spool
        .decoded_dir(Queue::Outgoing, &clean.parse().unwrap())
        .exists());
    // The virus's decoded parts went with it to quarantine, under generated names.
    let qd = ts
        .spool
        .decoded_dir(Queue::Quarantine, &virus.parse().unwrap());
    assert_eq!(fs::read(qd.join("part001.bin")).unwrap(), EICAR);
    assert!(fs::read_to_string(qd.join("index"))
        .unwrap()
        .contains("report.dat"));

    let n = notices(&ts);
    let alerts: Vec<_> = n
        .iter()
        .filter(|(to, _)| to == &vec!["<admin@example.com>".to_string()])
        .collect();
    assert_eq!(alerts.len(), 2, "{n:?}");
    let virus_alert = &alerts
        .iter()
        .find(|(_, t)| t.contains(&virus))
        .expect("virus alert")
        .1;
    for want in [
        "Eicar-Test-Signature",
        "<carol@example.org>",
        "<dan@example.com>",
        "the report",
        "report.dat",
    ] {
        assert!(
            virus_alert.contains(want),
            "{want} missing in {virus_alert}"
        );
    }
    let to_carol = n
        .iter()
        .find(|(to, _)| to == &vec!["<carol@example.org>".to_string()])
        .expect("notice to carol");
    assert!(
        to_carol.1.contains("Eicar-Test-Signature"),
        "{}",
        to_carol.1
    );
    assert!(n
        .iter()
        .any(|(to, _)| to == &vec!["<erin@example.org>".to_string()]));

    let (emails, bad) = read_email(&ts.spool, spool::clock::today()).unwrap();
    assert_eq!(bad, 0);
    let verdict = |id: &str| emails.iter().find(|l| l.id == id).map(|l| l.verdict);
    assert_eq!(verdict(&clean), Some(Verdict::Clean));
    assert_eq!(verdict(&virus), Some(Verdict::Virus));
    assert_eq!(verdict(&banned), Some(Verdict::Banned));
    let (viruses, _) = read_virus(&ts.spool, spool::clock::today()).unwrap();
    assert_eq!(viruses.len(), 2);
    assert!(viruses
        .iter()
        .any(|v| v.id == virus && v.kind == "virus" && v.name.starts_with("Eicar-Test-Signature")));
    assert!(viruses
        .iter()
        .any(|v| v.id == banned && v.kind == "banned" && v.name.contains("exe")));

    // Started as root, it worked as the spool's owner: what it wrote belongs to uucp.
    if let Some((uid, _)) = ts.owner {
        for (q, id) in [(Queue::Outgoing, &clean), (Queue::Quarantine, &virus)] {
            assert_eq!(
                fs::metadata(ts.spool.message(q, &id.parse().unwrap()))
                    .unwrap()
                    .uid(),
                uid
            );
        }
        let alert_id = ts
            .ids(Queue::Outgoing)
            .into_iter()
            .find(|i| i != &clean)
            .unwrap();
        assert_eq!(
            fs::metadata(
                ts.spool
                    .message(Queue::Outgoing, &alert_id.parse().unwrap())
            )
            .unwrap()
            .uid(),
            uid
        );
    }
}

#[test]
fn no_sender_notice_to_null_daemons_bulk_or_when_disabled() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!("clamd_socket = \"{}\"", clamd.socket.display()));
    let mut bulk = b"Precedence: bulk\n".to_vec();
    bulk.extend(eicar_mail());
    let mut auto = b"Auto-Submitted: auto-replied\n".to_vec();
    auto.extend(eicar_mail());
    ts.inject(Queue::Incoming, "<>", &["<bob@example.com>"], &eicar_mail());
    ts.inject(
        Queue::Incoming,
        "<MAILER-DAEMON@example.org>",
        &["<bob@example.com>"],
        &eicar_mail(),
    );
    ts.inject(
        Queue::Incoming,
        "<postmaster@example.org>",
        &["<bob@example.com>"],
        &eicar_mail(),
    );
    ts.inject(
        Queue::Incoming,
        "<list@example.org>",
        &["<bob@example.com>"],
        &bulk,
    );
    ts.inject(
        Queue::Incoming,
        "<robot@example.org>",
        &["<bob@example.com>"],
        &auto,
    );
    let o = scanmail(&ts, &[]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    assert_eq!(ts.ids(Queue::Quarantine).len(), 5);
    let n = notices(&ts);
    assert_eq!(n.len(), 5, "only the 5 admin alerts: {n:?}");
    assert!(n
        .iter()
        .all(|(to, _)| to == &vec!["<admin@example.com>".to_string()]));

    let ts = spool_with(&format!(
        "clamd_socket = \"{}\"\nnotify_sender = false",
        clamd.socket.display()
    ));
    ts.inject(
        Queue::Incoming,
        "<carol@example.org>",
        &["<bob@example.com>"],
        &eicar_mail(),
    );
    let o = scanmail(&ts, &[]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    let n = notices(&ts);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].0, vec!["<admin@example.com>".to_string()]);
}

/// Runs scanmail with a broken scanner twice (max_tries = 2): the first run leaves the mail in
/// incoming (exit 75), the second quarantines it as unscannable with an alert.
fn fail_closed(ts: &TestSpool, what: &str) {
    let id = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        &eicar_mail(),
    );
    let clean = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        CLEAN,
    );
    let o = scanmail(ts, &[]);
    assert_eq!(code(&o), 75, "{what}: {}", log(&o));
    assert!(in_queue(ts, Queue::Incoming, &id), "{what}: {}", log(&o));
    assert!(
        in_queue(ts, Queue::Incoming, &clean),
        "{what}: unscanned mail passed: {}",
        log(&o)
    );
    assert!(ts.ids(Queue::Outgoing).is_empty(), "{what}: {}", log(&o));
    let st =
        fs::read_to_string(ts.spool.state_file(Queue::Incoming, &id.parse().unwrap())).unwrap();
    assert!(st.contains("tries=1"), "{st}");
    let o = scanmail(ts, &[]);
    assert_eq!(code(&o), 0, "{what}: {}", log(&o));
    assert!(in_queue(ts, Queue::Quarantine, &id), "{what}: {}", log(&o));
    assert!(
        in_queue(ts, Queue::Quarantine, &clean),
        "{what}: {}",
        log(&o)
    );
    assert!(
        ts.all_names(Queue::Incoming).is_empty(),
        "{:?}",
        ts.all_names(Queue::Incoming)
    );
    let (emails, _) = read_email(&ts.spool, spool::clock::today()).unwrap();
    assert!(
        emails
            .iter()
            .filter(|l| l.verdict == Verdict::Unscannable)
            .count()
            == 2,
        "{emails:?}"
    );
    let n = notices(ts);
    assert_eq!(
        n.len(),
        2,
        "{what}: two admin alerts, no sender notice: {n:?}"
    );
    assert!(
        n.iter()
            .all(|(to, t)| to == &vec!["<admin@example.com>".to_string()]
                && t.contains("unscannable"))
    );
}

#[test]
fn missing_clamd_socket_fails_closed() {
    let ts = spool_with("clamd_socket = \"/nonexistent/clamd.sock\"\nmax_tries = 2");
    fail_closed(&ts, "missing socket");
}

/// A fake clamd: answers PING, knows neither FILDES nor IDSESSION (so scanmail streams), and
/// treats each INSTREAM connection with `behave` (after the command).
fn fake_clamd(dir: &Path, behave: fn(&mut std::os::unix::net::UnixStream)) -> PathBuf {
    let sock = dir.join("fake.sock");
    let l = UnixListener::bind(&sock).unwrap();
    fs::set_permissions(&sock, fs::Permissions::from_mode(0o666)).unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut cmd = Vec::new();
                let mut b = [0u8; 1];
                while cmd.last() != Some(&0) && cmd.len() < 32 {
                    if s.read_exact(&mut b).is_err() {
                        return;
                    }
                    cmd.push(b[0]);
                }
                match &cmd[..] {
                    b"zPING\0" => drop(s.write_all(b"PONG\0")),
                    // A clamd that knows neither: the object is streamed.
                    b"zFILDES\0" | b"zIDSESSION\0" => drop(s.write_all(b"UNKNOWN COMMAND\0")),
                    _ => behave(&mut s),
                }
            });
        }
    });
    sock
}

#[test]
fn hanging_clamd_times_out_and_fails_closed() {
    let ts = spool_with("max_tries = 2\ntimeout = 1");
    let sock = fake_clamd(&ts.scratch("clamd"), |s| {
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        std::thread::sleep(Duration::from_secs(30));
    });
    ts.write_conf(&Conf::new().section(
        "scan",
        &format!(
            "clamd_socket = \"{}\"\nmax_tries = 2\ntimeout = 1",
            sock.display()
        ),
    ));
    fail_closed(&ts, "hanging clamd");
}

#[test]
fn garbage_clamd_reply_fails_closed() {
    let ts = spool_with("max_tries = 2");
    let sock = fake_clamd(&ts.scratch("clamd"), |s| {
        let mut buf = [0u8; 4];
        // Read the chunks up to the terminator, then answer something that is not a verdict.
        loop {
            if s.read_exact(&mut buf).is_err() {
                return;
            }
            let n = u32::from_be_bytes(buf) as usize;
            if n == 0 {
                break;
            }
            let mut chunk = vec![0u8; n];
            if s.read_exact(&mut chunk).is_err() {
                return;
            }
        }
        let _ = s.write_all(b"stream: PROBABLY FINE\0");
    });
    ts.write_conf(&Conf::new().section(
        "scan",
        &format!("clamd_socket = \"{}\"\nmax_tries = 2", sock.display()),
    ));
    fail_closed(&ts, "garbage reply");
}

/// A clean message of 200 KB: far beyond the `StreamMaxLength 1K` of the tests below.
fn big_clean() -> Vec<u8> {
    let mut big = CLEAN.to_vec();
    big.extend(std::iter::repeat_n(b'a', 200_000));
    big
}

fn incoming(ts: &TestSpool, body: &[u8]) -> String {
    ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        body,
    )
}

/// scanmail once with clamd cutting every stream at 1 KB, reached as `endpoint` (`None`: its Unix
/// socket) and with `extra` lines in `[scan]`; the pass's output.
fn with_short_streams(
    endpoint: Option<u16>,
    extra: &str,
    bodies: &[&[u8]],
) -> (TestSpool, Vec<String>, Output, Clamd) {
    let tcp = endpoint.map(|p| format!("TCPSocket {p}"));
    let mut conf = vec!["StreamMaxLength 1K"];
    if let Some(t) = &tcp {
        conf.extend([t.as_str(), "TCPAddr 127.0.0.1"]);
    }
    let clamd = Clamd::start_with(&conf);
    let socket = match endpoint {
        Some(p) => format!("127.0.0.1:{p}"),
        None => clamd.socket.display().to_string(),
    };
    let ts = spool_with(&format!(
        "clamd_socket = \"{socket}\"\nmax_tries = 2\n{extra}"
    ));
    let ids = bodies.iter().map(|b| incoming(&ts, b)).collect();
    let o = scanmail(&ts, &[]);
    (ts, ids, o, clamd)
}

/// Over TCP every object is streamed (INSTREAM), and a stream longer than clamd's
/// StreamMaxLength is cut off by clamd: that is never "clean".
#[test]
fn clamd_size_limit_is_not_clean() {
    let (ts, ids, o, _clamd) = with_short_streams(Some(testkit::free_port()), "", &[&big_clean()]);
    assert_eq!(code(&o), 75, "{}", log(&o));
    assert!(in_queue(&ts, Queue::Incoming, &ids[0]));
    // clamd answers "INSTREAM size limit exceeded" and closes; the kernel may drop that reply
    // with the reset, so the reason in the log varies. What matters: never "clean".
    assert!(log(&o).contains("left for retry"), "{}", log(&o));
    assert!(ts.ids(Queue::Outgoing).is_empty());
}

/// On a Unix socket scanmail hands clamd each object as an open file (FILDES): no stream, so
/// clamd's StreamMaxLength does not cut a 200 KB message off (it is judged clean), a virus in
/// one as large is found (the raw message after the spool's envelope, seen from its first byte),
/// and so is one in a decoded part (a file of `_d/`).
#[test]
fn clamd_on_a_unix_socket_reads_each_object_by_descriptor() {
    let mut bad = big_clean();
    bad.extend_from_slice(b"\n");
    bad.extend_from_slice(EICAR);
    bad.extend_from_slice(b"\n");
    let mut part = vec![b'a'; 200_000];
    part.extend_from_slice(EICAR);
    let attached = attachment_mail("report.dat", &part);
    let (ts, ids, o, _clamd) = with_short_streams(None, "", &[&big_clean(), &bad, &attached]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    assert!(in_queue(&ts, Queue::Outgoing, &ids[0]), "{}", log(&o));
    assert!(in_queue(&ts, Queue::Quarantine, &ids[1]), "{}", log(&o));
    assert!(in_queue(&ts, Queue::Quarantine, &ids[2]), "{}", log(&o));
    assert!(
        !log(&o).contains("streaming the object instead"),
        "{}",
        log(&o)
    );
}

/// `clamd_fdpass = false`: every object is streamed, so clamd's StreamMaxLength applies again
/// (the message clamd cut off waits; it is never clean).
#[test]
fn clamd_fdpass_off_streams_every_object() {
    let (ts, ids, o, _clamd) = with_short_streams(None, "clamd_fdpass = false", &[&big_clean()]);
    assert_eq!(code(&o), 75, "{}", log(&o));
    assert!(in_queue(&ts, Queue::Incoming, &ids[0]), "{}", log(&o));
    assert!(log(&o).contains("left for retry"), "{}", log(&o));
}

#[test]
fn crashing_command_scanner_fails_closed() {
    let ts = spool_with("max_tries = 2");
    let script = ts.scratch("bin").join("crash.sh");
    fs::write(&script, "#!/bin/sh\nkill -SEGV $$\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    ts.write_conf(&Conf::new().section(
        "scan",
        &format!(
            "scanner = \"command\"\ncommand = \"{} {{}}\"\nmax_tries = 2",
            script.display()
        ),
    ));
    fail_closed(&ts, "crashing scanner");
}

#[test]
fn clamscan_as_command_scanner_judges_a_batch() {
    let ts = spool_with("max_tries = 2");
    let db = ts.scratch("db");
    testkit::write_eicar_db(&db);
    ts.chown_all();
    ts.write_conf(&Conf::new().section(
        "scan",
        &format!(
            "scanner = \"clamscan\"\ncommand = \"-d {}\"\ntimeout = 120",
            db.display()
        ),
    ));
    let c1 = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        CLEAN,
    );
    let v1 = ts.inject(
        Queue::Incoming,
        "<carol@example.org>",
        &["<bob@example.com>"],
        &eicar_mail(),
    );
    let c2 = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        &eicar_mail()[..200],
    );
    let v2 = ts.inject(
        Queue::Incoming,
        "<dan@example.org>",
        &["<bob@example.com>"],
        &eicar_mail(),
    );
    let o = scanmail(&ts, &["-v"]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    for c in [&c1, &c2] {
        assert!(in_queue(&ts, Queue::Outgoing, c), "{}", log(&o));
    }
    for v in [&v1, &v2] {
        assert!(in_queue(&ts, Queue::Quarantine, v), "{}", log(&o));
    }
    let (viruses, _) = read_virus(&ts.spool, spool::clock::today()).unwrap();
    assert_eq!(viruses.len(), 2);
    assert!(
        viruses
            .iter()
            .all(|v| v.name.starts_with("Eicar-Test-Signature")),
        "{viruses:?}"
    );
}

#[test]
fn invalid_pattern_judges_nothing() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!("clamd_socket = \"{}\"", clamd.socket.display()));
    ts.write_etc(
        "matches.doc",
        b"# ok\nfilename=.*\\.doc\nfilename=\\(broken\n",
    );
    let id = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        CLEAN,
    );
    let o = scanmail(&ts, &[]);
    assert_eq!(code(&o), 78, "{}", log(&o));
    assert!(log(&o).contains("matches.doc:3"), "{}", log(&o));
    assert!(in_queue(&ts, Queue::Incoming, &id));
    assert!(ts.ids(Queue::Outgoing).is_empty());
}

#[test]
fn malformed_spool_file_is_quarantined_with_alert() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!("clamd_socket = \"{}\"", clamd.socket.display()));
    let p = ts.spool.queue(Queue::Incoming).join("smtpdBADBAD");
    fs::write(&p, b"this is not a spool file\n").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o750)).unwrap();
    ts.chown_all();
    let o = scanmail(&ts, &[]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    assert!(in_queue(&ts, Queue::Quarantine, "smtpdBADBAD"));
    let n = notices(&ts);
    assert_eq!(n.len(), 1);
    assert!(n[0].1.contains("malformed"), "{}", n[0].1);
}

#[test]
fn two_runs_at_once_never_judge_one_file_twice() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!("clamd_socket = \"{}\"", clamd.socket.display()));
    let mut ids = Vec::new();
    for i in 0..150 {
        let body = format!("From: a@example.org\nSubject: n{i}\n\nmessage {i}\n");
        ids.push(ts.inject(
            Queue::Incoming,
            "<a@example.org>",
            &["<b@example.com>"],
            body.as_bytes(),
        ));
    }
    let spawn = || {
        Proc::spawn(
            "scanmail",
            ts.command("scanmail", &[])
                .stderr(std::process::Stdio::null()),
        )
    };
    let mut a = spawn();
    let mut b = spawn();
    let sa = a
        .wait_timeout(Duration::from_secs(120))
        .expect("run a ends");
    let sb = b
        .wait_timeout(Duration::from_secs(120))
        .expect("run b ends");
    assert!(sa.success() && sb.success());
    assert_eq!(ts.ids(Queue::Outgoing).len(), 150);
    let (emails, _) = read_email(&ts.spool, spool::clock::today()).unwrap();
    assert_eq!(emails.len(), 150, "each message judged exactly once");
    for id in &ids {
        assert_eq!(emails.iter().filter(|l| &l.id == id).count(), 1, "{id}");
    }
}

#[test]
fn quarantine_tools_list_show_release_delete_purge() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!(
        "clamd_socket = \"{}\"\nnotify_sender = false",
        clamd.socket.display()
    ));
    let a = ts.inject(
        Queue::Incoming,
        "<carol@example.org>",
        &["<bob@example.com>"],
        &eicar_mail(),
    );
    let b = ts.inject(
        Queue::Incoming,
        "<erin@example.org>",
        &["<bob@example.com>"],
        &exe_mail(),
    );
    let c = ts.inject(
        Queue::Incoming,
        "<frank@example.org>",
        &["<bob@example.com>"],
        &exe_mail(),
    );
    assert_eq!(code(&scanmail(&ts, &[])), 0);
    let before = ts.ids(Queue::Outgoing);

    let o = scanmail(&ts, &["--list"]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with(&a) && l.contains("<carol@example.org>") && l.contains("virus")),
        "{list}"
    );

    let o = scanmail(&ts, &["--show", &b]);
    let show = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        show.contains("banned")
            && show.contains("setup.exe")
            && show.contains("<erin@example.org>"),
        "{show}"
    );

    // The same for scripts.
    let o = scanmail(&ts, &["--list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let ra = rows.iter().find(|r| r["id"] == a.as_str()).unwrap();
    assert_eq!(ra["verdict"], "virus");
    assert_eq!(ra["sender"], "<carol@example.org>");
    assert_eq!(ra["recipients"], serde_json::json!(["<bob@example.com>"]));
    let o = scanmail(&ts, &["--show", &b, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(shown["verdict"], "banned");
    assert!(
        shown["detail"].as_str().unwrap().contains("setup.exe"),
        "{shown}"
    );
    assert!(
        shown["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "Subject: tool"),
        "{shown}"
    );

    // Held for ten days: the release starts a new queue life (smtpfwdd's bounce age counts
    // from the file's time).
    let qpath = ts.spool.message(Queue::Quarantine, &b.parse().unwrap());
    let ten_days_ago = std::time::SystemTime::now() - Duration::from_secs(10 * 86_400);
    fs::File::options()
        .write(true)
        .open(&qpath)
        .unwrap()
        .set_modified(ten_days_ago)
        .unwrap();
    let o = scanmail(&ts, &["--release", &b, "--to", "admin@example.com"]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    assert!(in_queue(&ts, Queue::Outgoing, &b));
    let age = fs::metadata(ts.spool.message(Queue::Outgoing, &b.parse().unwrap()))
        .unwrap()
        .modified()
        .unwrap()
        .elapsed()
        .unwrap_or_default();
    assert!(
        age < Duration::from_secs(600),
        "released with its old time: {age:?}"
    );
    let (env, _) =
        Envelope::read_body(&ts.spool.message(Queue::Outgoing, &b.parse().unwrap())).unwrap();
    assert_eq!(env.recipients.len(), 1);
    assert_eq!(env.recipients[0].addr, "<admin@example.com>");
    let (emails, _) = read_email(&ts.spool, spool::clock::today()).unwrap();
    assert!(emails
        .iter()
        .any(|l| l.id == b && l.verdict == Verdict::Released));

    assert_eq!(code(&scanmail(&ts, &["--delete", &c])), 0);
    assert!(!in_queue(&ts, Queue::Quarantine, &c));
    assert!(!ts
        .spool
        .decoded_dir(Queue::Quarantine, &c.parse().unwrap())
        .exists());
    assert_eq!(code(&scanmail(&ts, &["--delete", &c])), 69);
    assert_eq!(code(&scanmail(&ts, &["--show", "../../etc/passwd"])), 64);

    assert_eq!(code(&scanmail(&ts, &["--purge-older", "1"])), 0);
    assert!(in_queue(&ts, Queue::Quarantine, &a), "young message kept");
    assert_eq!(code(&scanmail(&ts, &["--purge-older", "0"])), 0);
    assert!(!in_queue(&ts, Queue::Quarantine, &a));
    assert_eq!(ts.ids(Queue::Outgoing).len(), before.len() + 1);
}

#[test]
fn watch_mode_judges_new_mail_quickly() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!("clamd_socket = \"{}\"", clamd.socket.display()));
    let _p = watch(&ts, std::process::Stdio::null());
    std::thread::sleep(Duration::from_millis(300));
    let id = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        CLEAN,
    );
    let done = testkit::wait_for(Duration::from_secs(10), || {
        in_queue(&ts, Queue::Outgoing, &id).then_some(())
    });
    assert!(done.is_some(), "not judged within 10 s");
}

/// A pool of clamd endpoints: the first is down from the start; every message is judged on the
/// other, the virus included, and nothing waits.
#[test]
fn a_pool_with_one_endpoint_down_judges_everything_on_the_other() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!(
        "clamd_socket = \"{}, {}\"\nnotify_sender = false",
        ts_dead_socket(),
        clamd.socket.display()
    ));
    let mut clean = Vec::new();
    for _ in 0..5 {
        clean.push(ts.inject(
            Queue::Incoming,
            "<a@example.org>",
            &["<b@example.com>"],
            CLEAN,
        ));
    }
    let virus = ts.inject(
        Queue::Incoming,
        "<a@example.org>",
        &["<b@example.com>"],
        &eicar_mail(),
    );
    let o = scanmail(&ts, &[]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    for id in &clean {
        assert!(in_queue(&ts, Queue::Outgoing, id), "{}", log(&o));
    }
    assert!(in_queue(&ts, Queue::Quarantine, &virus), "{}", log(&o));
    assert!(ts.ids(Queue::Incoming).is_empty());
}

/// Two real clamd, one stopped while a batch is being scanned: nothing is lost, nothing passes
/// unscanned, and the batch finishes on the other.
#[test]
fn a_pool_member_stopped_mid_batch_loses_nothing() {
    let a = Clamd::start();
    let b = Clamd::start();
    let ts = spool_with(&format!(
        "clamd_socket = \"{}, {}\"\nnotify_sender = false\ntimeout = 20",
        a.socket.display(),
        b.socket.display()
    ));
    let mut viruses = Vec::new();
    let mut clean = Vec::new();
    for k in 0..300 {
        if k % 25 == 0 {
            viruses.push(ts.inject(
                Queue::Incoming,
                "<a@example.org>",
                &["<b@example.com>"],
                &eicar_mail(),
            ));
        } else {
            clean.push(ts.inject(
                Queue::Incoming,
                "<a@example.org>",
                &["<b@example.com>"],
                &eicar_mail().replace_eicar(),
            ));
        }
    }
    let mut p = Proc::spawn(
        "scanmail",
        ts.command("scanmail", &[])
            .stderr(std::process::Stdio::null()),
    );
    std::thread::sleep(Duration::from_millis(150));
    a.proc.signal(nix::sys::signal::Signal::SIGKILL);
    let st = p
        .wait_timeout(Duration::from_secs(120))
        .expect("scanmail ends");
    // Anything left waits for a retry (exit 75); nothing may be judged wrongly.
    assert!(matches!(st.code(), Some(0) | Some(75)), "{st:?}");
    for id in &viruses {
        assert!(!in_queue(&ts, Queue::Outgoing, id), "a virus passed: {id}");
    }
    if st.code() == Some(0) {
        assert!(ts.ids(Queue::Incoming).is_empty());
    }
    // A second pass (on the surviving clamd) finishes whatever waited.
    let o = scanmail(&ts, &[]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    assert!(ts.ids(Queue::Incoming).is_empty());
    for id in &viruses {
        assert!(in_queue(&ts, Queue::Quarantine, id), "{id}");
    }
    for id in &clean {
        assert!(in_queue(&ts, Queue::Outgoing, id), "{id}");
    }
}

fn ts_dead_socket() -> String {
    "/nonexistent/clamd-down.sock".to_string()
}

trait ReplaceEicar {
    fn replace_eicar(self) -> Vec<u8>;
}

impl ReplaceEicar for Vec<u8> {
    /// The same mail with a harmless attachment instead of the test virus.
    fn replace_eicar(self) -> Vec<u8> {
        let text = String::from_utf8(self).unwrap();
        let b64 = "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=";
        text.replace(b64, "aGFybWxlc3MgYnl0ZXMK").into_bytes()
    }
}

/// Watch mode keeps its compiled patterns, and takes an edited matches.bad at the next pass.
#[test]
fn watch_mode_takes_an_edited_pattern_file() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!("clamd_socket = \"{}\"", clamd.socket.display()));
    let _p = watch(&ts, std::process::Stdio::null());
    let mail = b"From: a@example.org\nSubject: x\nContent-Type: application/octet-stream; name=\"plan.foo\"\n\nbytes\n";
    let judged = |id: &str, q: Queue| {
        testkit::wait_for(Duration::from_secs(10), || {
            in_queue(&ts, q, id).then_some(())
        })
        .is_some()
    };
    let first = ts.inject(
        Queue::Incoming,
        "<a@example.org>",
        &["<b@example.com>"],
        mail,
    );
    assert!(judged(&first, Queue::Outgoing), "no .foo line yet: clean");
    let mut bad = fs::read(ts.spool.etc_file("matches.bad")).unwrap();
    bad.extend_from_slice(b"\nfilename=.*\\.foo$\n");
    ts.write_etc("matches.bad", &bad);
    let second = ts.inject(
        Queue::Incoming,
        "<a@example.org>",
        &["<b@example.com>"],
        mail,
    );
    assert!(
        judged(&second, Queue::Quarantine),
        "the edited file is used"
    );
}

/// SIGHUP rereads gateway.conf in watch mode: the daemon lives on, says so in one line, and the
/// next pass uses the new settings (here: the clamd that the first configuration missed).
#[test]
fn watch_mode_rereads_its_configuration_on_sighup() {
    let clamd = Clamd::start();
    let ts = spool_with("clamd_socket = \"/nonexistent/clamd.ctl\"\ntimeout = 2");
    let logf = ts.dir.path().join("watch.log");
    let mut p = watch(&ts, fs::File::create(&logf).unwrap().into());
    let id = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        &eicar_mail(),
    );
    let read_log = || fs::read_to_string(&logf).unwrap_or_default();
    let waited = testkit::wait_for(Duration::from_secs(10), || {
        read_log().contains("left for retry").then_some(())
    });
    assert!(waited.is_some(), "{}", read_log());
    ts.write_conf(&Conf::new().section(
        "scan",
        &format!("clamd_socket = \"{}\"", clamd.socket.display()),
    ));
    p.signal(nix::sys::signal::Signal::SIGHUP);
    let judged = testkit::wait_for(Duration::from_secs(10), || {
        in_queue(&ts, Queue::Quarantine, &id).then_some(())
    });
    assert!(judged.is_some(), "{}", read_log());
    assert!(
        read_log().contains("SIGHUP: configuration reread"),
        "{}",
        read_log()
    );
    assert!(
        p.wait_timeout(Duration::from_millis(200)).is_none(),
        "the daemon died"
    );
}

#[test]
fn root_owned_spool_is_refused_when_run_as_root() {
    // Only meaningful as root (CI runs as root): a spool owned by root gives no user to become.
    let t = tempfile::tempdir().unwrap();
    let sp = spool::Spool::new(t.path().join("spool"));
    sp.create().unwrap();
    let env = Envelope::new("<a@example.org>", ["<b@example.com>".to_string()]);
    let id = spool::store::write_message(&sp, Queue::Incoming, &env, CLEAN).unwrap();
    fs::write(
        sp.config_path(),
        "[scan]\nclamd_socket = \"/nonexistent\"\nmax_tries = 1\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_scanmail"))
        .arg("--spool")
        .arg(sp.root())
        .env("GATEWAY_LOG", "stderr")
        .output()
        .unwrap();
    if nix::unistd::geteuid().is_root() {
        assert_eq!(code(&o), 71, "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            sp.message(Queue::Incoming, &id).exists(),
            "nothing judged as root"
        );
        assert!(spool::store::list(&sp, Queue::Quarantine)
            .unwrap()
            .is_empty());
    } else {
        // As an ordinary user it runs as that user: the unreachable scanner quarantines it.
        assert_eq!(code(&o), 0);
        assert!(sp.message(Queue::Quarantine, &id).exists());
    }
}

#[test]
fn x_virus_scanned_header_only_when_configured_body_unchanged() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!(
        "clamd_socket = \"{}\"\nx_virus_scanned = true",
        clamd.socket.display()
    ));
    let id = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        CLEAN,
    );
    let o = scanmail(&ts, &[]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    let (env, body) =
        Envelope::read_body(&ts.spool.message(Queue::Outgoing, &id.parse().unwrap())).unwrap();
    assert_eq!(env.from, "<alice@example.org>");
    let mut want = b"X-Virus-Scanned: scanmail on gw.example.com\n".to_vec();
    want.extend_from_slice(CLEAN);
    assert_eq!(body, want);
    assert!(ts.all_names(Queue::Incoming).is_empty());
    assert_eq!(ts.all_names(Queue::Outgoing), vec![id]);
}

/// The crash window of a move with a header: the outgoing copy committed, the incoming one
/// still there. The next run removes the incoming copy without judging it again (with the header
/// switched off since, a plain rename would find the outgoing name taken and wait forever).
#[test]
fn a_clean_move_cut_by_a_crash_is_finished_by_the_next_run() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!("clamd_socket = \"{}\"", clamd.socket.display()));
    let id = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        CLEAN,
    );
    let mid: spool::MessageId = id.parse().unwrap();
    let mut out = spool::Staged::create_for(&ts.spool, Queue::Outgoing, &mid).unwrap();
    out.write_all(b"FROM <alice@example.org>\nRCPT <bob@example.com>\nBODY\nX-Virus-Scanned: scanmail on gw.example.com\n")
        .unwrap();
    out.write_all(CLEAN).unwrap();
    let committed = out.commit().unwrap();
    ts.chown_all(); // as the crashed scanmail (uucp) left it
    let before = fs::read(&committed).unwrap();
    let o = scanmail(&ts, &[]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    assert!(log(&o).contains("already in outgoing"), "{}", log(&o));
    assert!(ts.all_names(Queue::Incoming).is_empty());
    assert_eq!(ts.all_names(Queue::Outgoing), vec![id.clone()]);
    assert_eq!(fs::read(&committed).unwrap(), before);
    let judged = read_email(&ts.spool, spool::clock::today())
        .map(|(l, _)| l)
        .unwrap_or_default();
    assert!(judged.iter().all(|l| l.id != id), "judged again");
}

/// The verdict and detail the day file holds for a message.
fn day_verdict(ts: &TestSpool, id: &str) -> (Verdict, String) {
    let (lines, _) = read_email(&ts.spool, spool::clock::today()).unwrap();
    let l = lines
        .into_iter()
        .find(|l| l.id == id)
        .unwrap_or_else(|| panic!("{id}: no day-file line"));
    (l.verdict, l.detail)
}

fn attachment_mail(name: &str, data: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: alice@example.org\nTo: bob@example.com\nSubject: file\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nsee attached\n\
         --b\nContent-Type: application/octet-stream; name=\"{name}\"\n\
         Content-Transfer-Encoding: base64\n\n{}\n--b--\n",
        lines.join("\n")
    )
    .into_bytes()
}

/// A PDF whose trailer names an encryption dictionary: clamd (AlertEncryptedDoc) reports it as
/// `Heuristics.Encrypted.PDF`; scanmail's own walk cannot tell.
fn encrypted_pdf() -> Vec<u8> {
    let objs: [&[u8]; 5] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length 8 >>\nstream\n\x01\x02\x03\x04\x05\x06\x07\x08\nendstream",
        b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 \
          /O <1111111111111111111111111111111111111111111111111111111111111111> \
          /U <2222222222222222222222222222222222222222222222222222222222222222> >>",
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offs = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offs.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offs {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /Encrypt 5 0 R /ID [<aa><aa>] >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[test]
fn clamd_limit_answer_is_unscannable_at_once() {
    let clamd = Clamd::start_with(&["MaxFileSize 1M", "MaxScanSize 1M", "AlertExceedsMax yes"]);
    let ts = spool_with(&format!("clamd_socket = \"{}\"", clamd.socket.display()));
    let id = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        &attachment_mail("zeros.bin", &vec![0u8; 1_500_000]),
    );
    let o = scanmail(&ts, &[]);
    // Certain: the scanner will never read more of this message. No retry.
    assert_eq!(code(&o), 0, "{}", log(&o));
    assert!(in_queue(&ts, Queue::Quarantine, &id), "{}", log(&o));
    let (v, detail) = day_verdict(&ts, &id);
    assert_eq!(v, Verdict::Unscannable, "{detail}");
    assert!(detail.contains("Heuristics.Limits.Exceeded"), "{detail}");
}

#[test]
fn clamd_encrypted_answer_is_encrypted_unless_passed() {
    let clamd = Clamd::start_with(&["AlertEncryptedDoc yes"]);
    for (policy, want) in [("quarantine", Verdict::Encrypted), ("pass", Verdict::Clean)] {
        let ts = spool_with(&format!(
            "clamd_socket = \"{}\"\nencrypted = \"{policy}\"",
            clamd.socket.display()
        ));
        let id = ts.inject(
            Queue::Incoming,
            "<alice@example.org>",
            &["<bob@example.com>"],
            &attachment_mail("contract.pdf", &encrypted_pdf()),
        );
        let o = scanmail(&ts, &[]);
        assert_eq!(code(&o), 0, "{policy}: {}", log(&o));
        let (v, detail) = day_verdict(&ts, &id);
        assert_eq!(v, want, "{policy}: {detail}");
        let q = if want == Verdict::Clean {
            Queue::Outgoing
        } else {
            Queue::Quarantine
        };
        assert!(in_queue(&ts, q, &id), "{policy}: {}", log(&o));
        if want == Verdict::Encrypted {
            assert!(detail.contains("Heuristics.Encrypted.PDF"), "{detail}");
        }
    }
}

#[test]
fn objects_beyond_max_object_bytes_are_unscannable_at_once_and_never_sent() {
    let clamd = Clamd::start();
    let ts = spool_with(&format!(
        "clamd_socket = \"{}\"\nmax_object_bytes = 4096",
        clamd.socket.display()
    ));
    // EICAR past the limit: clamd (with Debian's limits) would skip it and say OK.
    let mut data = vec![b' '; 5000];
    data.extend_from_slice(testkit::EICAR);
    let id = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        &attachment_mail("big.dat", &data),
    );
    let small = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        &attachment_mail("small.dat", b"just a few bytes"),
    );
    let o = scanmail(&ts, &[]);
    assert_eq!(code(&o), 0, "{}", log(&o));
    assert!(in_queue(&ts, Queue::Quarantine, &id), "{}", log(&o));
    assert!(in_queue(&ts, Queue::Outgoing, &small), "{}", log(&o));
    let (v, detail) = day_verdict(&ts, &id);
    assert_eq!(v, Verdict::Unscannable, "{detail}");
    assert!(detail.contains("more than the scanner reads"), "{detail}");
}

#[test]
fn message_partial_is_quarantined_unless_passed() {
    let clamd = Clamd::start();
    let partial = b"From: alice@example.org\nTo: bob@example.com\nSubject: part 1 of 2\n\
        MIME-Version: 1.0\nContent-Type: message/partial; id=\"x@example.org\"; number=1; total=2\n\n\
        Subject: the file\nContent-Type: application/octet-stream\n\nAAAA\n";
    for (policy, want) in [
        ("quarantine", Verdict::Unscannable),
        ("pass", Verdict::Clean),
    ] {
        let ts = spool_with(&format!(
            "clamd_socket = \"{}\"\npartial = \"{policy}\"",
            clamd.socket.display()
        ));
        let id = ts.inject(
            Queue::Incoming,
            "<alice@example.org>",
            &["<bob@example.com>"],
            partial,
        );
        let o = scanmail(&ts, &[]);
        assert_eq!(code(&o), 0, "{policy}: {}", log(&o));
        let (v, detail) = day_verdict(&ts, &id);
        assert_eq!(v, want, "{policy}: {detail}");
        if want == Verdict::Unscannable {
            assert!(in_queue(&ts, Queue::Quarantine, &id));
            assert!(detail.contains("message/partial"), "{detail}");
        } else {
            assert!(in_queue(&ts, Queue::Outgoing, &id));
        }
    }
}

#[test]
fn a_panic_while_judging_quarantines_that_message_and_the_batch_goes_on() {
    use scanmail::judge::Judge;
    use scanmail::pass;
    let clamd = Clamd::start();
    let ts = spool_with(&format!("clamd_socket = \"{}\"", clamd.socket.display()));
    let bad = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        b"Subject: trigger\n\nhello\n",
    );
    let good = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>"],
        CLEAN,
    );
    let cfg = spool::Config::for_spool(&ts.spool, None).unwrap();
    let judge = Judge::new(cfg.clone(), ts.spool.clone()).unwrap();
    let mut scanner = scanmail::scan::from_config(&cfg.scan).unwrap();
    let bad_id: spool::MessageId = bad.parse().unwrap();
    let prepare =
        |j: &Judge, id: &spool::MessageId, wd: bool, kr: bool, f: &mut scanmail::judge::Facts| {
            if *id == bad_id {
                panic!("index out of bounds: the len is 3 but the index is 7");
            }
            j.prepare(id, wd, kr, f)
        };
    let sum = pass::run_pass_with(&judge, scanner.as_mut(), &prepare).unwrap();
    assert_eq!(
        (sum.clean, sum.quarantined, sum.retry),
        (1, 1, 0),
        "{sum:?}"
    );
    assert!(in_queue(&ts, Queue::Quarantine, &bad));
    assert!(in_queue(&ts, Queue::Outgoing, &good));
    let (v, detail) = day_verdict(&ts, &bad);
    assert_eq!(v, Verdict::Malformed);
    assert!(detail.contains("panicked"), "{detail}");
    let alert = notices(&ts)
        .into_iter()
        .find(|(to, _)| to.iter().any(|t| t.contains("admin@example.com")))
        .expect("an alert to the admin");
    assert!(
        alert.1.contains("index out of bounds: the len is 3"),
        "{}",
        alert.1
    );
}
