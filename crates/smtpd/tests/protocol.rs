//! smtpd's SMTP, driven over a loopback port and over inetd pipes by a raw client, Python's
//! smtplib and swaks: reply codes, pipelining, SIZE, big and 8-bit messages, dropped clients,
//! concurrency, timeouts, shutdown, STARTTLS, socket activation.

mod common;

use common::*;
use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::spool::Queue;
use testkit::{wait_for, TestSpool, PYTHON};

#[test]
fn smtplib_session_banner_ehlo_and_storage() {
    let ts = TestSpool::new(&Conf::new());
    let d = Daemon::start(&ts, &[]);
    let out = python(
        r#"
import smtplib, sys
s = smtplib.SMTP()
code, msg = s.connect("127.0.0.1", int(sys.argv[1]))
print(code, msg.decode())
code, msg = s.ehlo("client.example.org")
print(code, sorted(s.esmtp_features.items()))
msg = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: one\r\n\r\nfirst\r\n"
print(s.sendmail("a@example.org", ["b@example.com", "C@Example.COM"], msg))
msg2 = b"Subject: two\r\n\r\nsecond\r\n"
print(s.sendmail("", ["b@example.com"], msg2))
print(s.quit())
"#,
        &[&d.port.to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("220 {}", BANNER.strip_prefix("220 ").unwrap())
    );
    assert_eq!(
        lines[1],
        "250 [('8bitmime', ''), ('enhancedstatuscodes', ''), ('pipelining', ''), ('size', '26214400')]"
    );
    assert_eq!(lines[2], "{}");
    assert_eq!(lines[3], "{}");
    assert!(lines[4].starts_with("(221, b'2.0.0"), "{out}");
    let msgs = wait_messages(&ts, 2);
    let mut envs: Vec<String> = msgs.iter().map(|p| split_stored(p).0).collect();
    envs.sort();
    assert!(
        envs.contains(
            &"FROM <a@example.org>\nRCPT <b@example.com>\nRCPT <C@Example.COM>\nBODY\n".to_string()
        ),
        "{envs:?}"
    );
    assert!(
        envs.contains(&"FROM <>\nRCPT <b@example.com>\nBODY\n".to_string()),
        "{envs:?}"
    );
    for p in &msgs {
        let (_, received, _) = split_stored(p);
        let id = p.file_name().unwrap().to_str().unwrap();
        assert!(
            received.starts_with("Received: from client.example.org (unknown [127.0.0.1])\n\tby gw.example.com (smtpd) with ESMTP id ")
                && received.contains(&format!("id {id};\n\t")),
            "{received}"
        );
    }
    let log = d.log_text();
    assert!(
        log.contains("from=<a@example.org> to=<b@example.com>,<C@Example.COM>"),
        "{log}"
    );
    assert!(log.contains("result=queued"), "{log}");
    assert!(
        log.contains("session: client=unknown[127.0.0.1] helo=client.example.org messages=2"),
        "{log}"
    );
}

#[test]
fn every_reply_code_over_inetd_pipes() {
    let ts = TestSpool::new(&Conf::new().section("smtpd", "max_recipients = 2\nmax_size = 1000"));
    let (mut p, mut c) = inetd(&ts, &[]);
    assert_eq!(c.reply(), BANNER);
    let ran = c.dialogue(include_str!(
        "../../../tests/data/smtpd/every_reply_code.dialogue"
    ));
    assert!(ran >= 20, "{ran} commands");
    let long = format!("NOOP {}", "x".repeat(600));
    assert_eq!(c.code(&long), "500", "line too long");
    assert!(c.cmd("HELP").starts_with("214 "));
    assert_eq!(c.code("NOOP"), "250");
    assert_eq!(c.code("DATA"), "354");
    c.send(b"Subject: big\r\n\r\n");
    for _ in 0..30 {
        c.send(b"0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
    }
    assert_eq!(c.code("."), "552", "too big while reading DATA");
    assert_eq!(c.code("RSET"), "250");
    assert_eq!(c.code("MAIL FROM:<a@b.org>"), "250");
    assert_eq!(c.code("RCPT TO:<b@example.com>"), "250");
    assert_eq!(c.code("DATA"), "354");
    c.send(b"Subject: small\r\n\r\nok\r\n");
    let r = c.cmd(".");
    assert!(r.starts_with("250 2.0.0 Ok: queued as smtpd"), "{r}");
    assert!(c.cmd("QUIT").starts_with("221 2.0.0"));
    assert!(p.wait_timeout(Duration::from_secs(10)).unwrap().success());
    let msgs = messages(&ts);
    assert_eq!(msgs.len(), 1);
    assert_eq!(split_stored(&msgs[0]).2, b"Subject: small\n\nok\n");
    assert_eq!(ts.all_names(Queue::Incoming).len(), 1, "no temp left");
}

#[test]
fn pipelined_transactions_several_messages_one_write() {
    let ts = TestSpool::new(&Conf::new());
    let d = Daemon::start(&ts, &[]);
    let mut c = d.connect();
    assert_eq!(c.reply(), BANNER);
    assert!(c.cmd("EHLO client.example.org").contains("250-PIPELINING"));
    // Two whole transactions and QUIT in a single write, as a pipelining client may send.
    c.send(
        b"MAIL FROM:<a@b.org>\r\nRCPT TO:<x@example.com>\r\nRCPT TO:<nope@elsewhere.net>\r\nDATA\r\n\
          Subject: p1\r\n\r\none\r\n.\r\n\
          MAIL FROM:<a@b.org>\r\nRCPT TO:<y@example.com>\r\nDATA\r\nSubject: p2\r\n\r\ntwo\r\n.\r\nQUIT\r\n",
    );
    let codes: Vec<String> = (0..10).map(|_| c.reply()[..3].to_string()).collect();
    assert_eq!(
        codes,
        ["250", "250", "550", "354", "250", "250", "250", "354", "250", "221"]
    );
    let msgs = wait_messages(&ts, 2);
    let mut bodies: Vec<Vec<u8>> = msgs.iter().map(|p| split_stored(p).2).collect();
    bodies.sort();
    assert_eq!(
        bodies,
        [
            b"Subject: p1\n\none\n".to_vec(),
            b"Subject: p2\n\ntwo\n".to_vec()
        ]
    );
}

#[test]
fn twenty_megabytes_8bit_and_dots_stored_byte_exact_in_constant_memory() {
    let ts = TestSpool::new(&Conf::new());
    let d = Daemon::start(&ts, &[]);
    let dir = ts.scratch("msg");
    let src = dir.join("big.eml");
    // Headers, then 20 MB of lines holding every byte value but CR and LF, lines starting with
    // dots, a lone-dot-looking line ("..") and bare LF line ends here and there.
    let mut m = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: big\r\n\r\n".to_vec();
    let mut i: u32 = 0;
    while m.len() < 20 * 1024 * 1024 {
        let mut line: Vec<u8> = (0..=255u8)
            .filter(|&b| b != b'\r' && b != b'\n')
            .cycle()
            .skip((i % 200) as usize)
            .take(60 + (i % 900) as usize)
            .collect();
        match i % 7 {
            0 => line.insert(0, b'.'),
            1 => line = b".".to_vec(),
            2 => {
                line.splice(0..0, *b"..");
            }
            _ => {}
        };
        m.extend_from_slice(&line);
        m.extend_from_slice(match i % 11 {
            0 => b"\n",
            _ => b"\r\n",
        });
        i += 1;
    }
    m.extend_from_slice(b"end\r\n");
    fs::write(&src, &m).unwrap();
    let out = python(
        r#"
import smtplib, sys, re
data = open(sys.argv[2], "rb").read()
# smtplib dot-stuffs every line start (after CRLF and bare LF alike) itself.
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
s.ehlo("big.example.org")
code, msg = s.mail("a@example.org", ["SIZE=%d" % len(data), "BODY=8BITMIME"])
assert code == 250, (code, msg)
s.rcpt("b@example.com")
code, msg = s.data(data)
print(code, msg.decode())
s.quit()
"#,
        &[&d.port.to_string(), src.to_str().unwrap()],
    );
    assert!(out.starts_with("250 2.0.0 Ok: queued as smtpd"), "{out}");
    let msgs = wait_messages(&ts, 1);
    let stored = split_stored(&msgs[0]).2;
    let want = crlf_to_lf(&m);
    assert_eq!(stored.len(), want.len());
    assert!(stored == want, "stored bytes differ from the message sent");
    // Streamed to disk: the daemon never held the 20 MB message.
    let status = fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let hwm_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        hwm_kb < 16 * 1024,
        "peak memory {hwm_kb} kB for a 20 MB message"
    );
}

#[test]
fn client_dropping_mid_data_leaves_no_file() {
    let ts = TestSpool::new(&Conf::new());
    let d = Daemon::start(&ts, &[]);
    {
        let mut c = d.connect();
        c.reply();
        c.cmd("HELO x.example.org");
        c.cmd("MAIL FROM:<a@b.org>");
        c.cmd("RCPT TO:<b@example.com>");
        assert_eq!(c.code("DATA"), "354");
        c.send(&vec![b'x'; 300_000]);
        c.send(b"\r\nhalf a message\r\n");
        // Dropped here without the final dot.
    }
    // The temp file goes as soon as the session notices the hang-up.
    let clean = wait_for(Duration::from_secs(10), || {
        ts.all_names(Queue::Incoming).is_empty().then_some(())
    });
    assert!(clean.is_some(), "{:?}", ts.all_names(Queue::Incoming));
    let log = wait_for(Duration::from_secs(5), || {
        let l = d.log_text();
        l.contains("result=aborted").then_some(l)
    });
    assert!(log.is_some(), "{}", d.log_text());
}

#[test]
fn fifty_concurrent_clients() {
    let ts = TestSpool::new(&Conf::new());
    let d = Daemon::start(&ts, &[]);
    let out = python(
        r#"
import smtplib, sys, threading
port = int(sys.argv[1])
ok = []
errors = []
def one(i):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
        s.ehlo("c%d.example.org" % i)
        s.sendmail("s%d@example.org" % i, ["r%d@example.com" % i],
                   b"Subject: n%d\r\n\r\n" % i + b"x" * 5000 + b"\r\n")
        s.quit()
        ok.append(i)
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=one, args=(i,)) for i in range(50)]
[t.start() for t in ts]
[t.join() for t in ts]
print(len(ok), errors)
"#,
        &[&d.port.to_string()],
    );
    assert_eq!(out.trim(), "50 []");
    let msgs = wait_messages(&ts, 50);
    let mut senders: Vec<String> = msgs
        .iter()
        .map(|p| split_stored(p).0.lines().next().unwrap().to_string())
        .collect();
    senders.sort();
    senders.dedup();
    assert_eq!(senders.len(), 50);
}

#[test]
fn too_many_clients_get_421() {
    let ts = TestSpool::new(&Conf::new().section("smtpd", "max_clients = 2"));
    let d = Daemon::start(&ts, &[]);
    let mut a = d.connect();
    let mut b = d.connect();
    assert_eq!(a.reply(), BANNER);
    assert_eq!(b.reply(), BANNER);
    let mut c = d.connect();
    let r = c.reply();
    assert!(
        r.starts_with("421 4.3.2 gw.example.com Too many connections"),
        "{r}"
    );
    assert_eq!(c.reply(), "", "closed after 421");
    assert!(a.cmd("QUIT").starts_with("221"));
    drop(a);
    // The slot is free again.
    let got = wait_for(Duration::from_secs(5), || {
        let mut n = d.connect();
        (n.reply() == BANNER).then_some(())
    });
    assert!(got.is_some());
    drop(b);
}

#[test]
fn command_and_data_timeouts_answer_421() {
    let ts = TestSpool::new(&Conf::new().section("smtpd", "command_timeout = 1\ndata_timeout = 1"));
    let d = Daemon::start(&ts, &[]);
    let mut c = d.connect();
    c.reply();
    std::thread::sleep(Duration::from_millis(1500));
    let r = c.reply();
    assert!(r.starts_with("421 4.4.2"), "{r}");
    assert_eq!(c.reply(), "");

    let mut c = d.connect();
    c.reply();
    c.cmd("HELO x.example.org");
    c.cmd("MAIL FROM:<a@b.org>");
    c.cmd("RCPT TO:<b@example.com>");
    assert_eq!(c.code("DATA"), "354");
    c.send(b"Subject: slow\r\n\r\nthen silence\r\n");
    std::thread::sleep(Duration::from_millis(1500));
    let r = c.reply();
    assert!(r.starts_with("421 4.4.2"), "{r}");
    let clean = wait_for(Duration::from_secs(5), || {
        ts.all_names(Queue::Incoming).is_empty().then_some(())
    });
    assert!(clean.is_some(), "{:?}", ts.all_names(Queue::Incoming));
}

#[test]
fn sigterm_answers_421_and_exits() {
    let ts = TestSpool::new(&Conf::new());
    let mut d = Daemon::start(&ts, &[]);
    let mut c = d.connect();
    c.reply();
    c.cmd("HELO x.example.org");
    d.proc.signal(nix::sys::signal::Signal::SIGTERM);
    let r = c.reply();
    assert!(
        r.starts_with("421 4.3.2 gw.example.com Service shutting down"),
        "{r}"
    );
    let st = d
        .proc
        .wait_timeout(Duration::from_secs(10))
        .expect("exited");
    assert!(st.success(), "{st:?}");
}

#[test]
fn relaying_refused_smtplib_and_swaks() {
    let ts = TestSpool::new(&Conf::new());
    let d = Daemon::start(&ts, &[]);
    let out = python(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
s.ehlo("spammer.example.net")
s.mail("a@spammer.example.net")
print(s.rcpt("victim@elsewhere.org"))
print(s.rcpt("victim@example.com.elsewhere.org"))
print(s.rcpt("postmaster"))
s.quit()
"#,
        &[&d.port.to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "(550, b'5.7.1 Relaying denied')");
    assert_eq!(lines[1], "(550, b'5.7.1 Relaying denied')");
    assert!(lines[2].starts_with("(250"), "{out}");
    let sw = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{}", d.port)])
        .args([
            "--to",
            "someone@elsewhere.org",
            "--from",
            "a@b.org",
            "--helo",
            "sw.example.org",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&sw.stdout);
    assert!(!sw.status.success());
    assert!(text.contains("<** 550 5.7.1 Relaying denied"), "{text}");
    assert!(messages(&ts).is_empty());
    assert!(d
        .log_text()
        .contains("relaying denied: from=<a@b.org> to=<someone@elsewhere.org>"));
}

#[test]
fn swaks_over_tcp_and_inetd_pipe() {
    let ts = TestSpool::new(&Conf::new());
    let d = Daemon::start(&ts, &[]);
    let body = "line one\n.starts with a dot\n..two dots\nGr\u{fc}\u{df}e";
    let sw = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{}", d.port)])
        .args([
            "--to",
            "b@example.com",
            "--from",
            "a@b.org",
            "--helo",
            "sw.example.org",
        ])
        .args(["--pipeline", "--body", body])
        .output()
        .unwrap();
    assert!(
        sw.status.success(),
        "{}",
        String::from_utf8_lossy(&sw.stdout)
    );
    // swaks runs smtpd itself in inetd mode (--pipe): the article's way.
    let cmd = format!(
        "{} -H --spool {}",
        testkit::bin("smtpd").display(),
        ts.root().display()
    );
    let sw = Command::new("swaks")
        .args(["--pipe", &cmd])
        .args([
            "--to",
            "c@example.com",
            "--from",
            "a@b.org",
            "--helo",
            "pipe.example.org",
        ])
        .args(["--body", body])
        .env("GATEWAY_LOG", "stderr")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&sw.stdout);
    assert!(sw.status.success(), "{text}");
    assert!(text.contains(BANNER), "{text}");
    let msgs = wait_messages(&ts, 2);
    for p in msgs {
        let stored = split_stored(&p).2;
        let tail = "\nline one\n.starts with a dot\n..two dots\nGr\u{fc}\u{df}e\n";
        assert!(
            stored.windows(tail.len()).any(|w| w == tail.as_bytes()),
            "{}",
            String::from_utf8_lossy(&stored)
        );
    }
}

#[test]
fn starttls_resets_state_and_discards_pipelined_commands() {
    let ts = TestSpool::new(
        &Conf::new().section("smtpd", "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\""),
    );
    let etc = ts.spool.etc();
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=gw.example.com"])
        .arg("-keyout")
        .arg(etc.join("key.pem"))
        .arg("-out")
        .arg(etc.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    ts.chown_all();
    let d = Daemon::start(&ts, &[]);
    let out = python(
        r#"
import smtplib, ssl, socket, sys
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", port)
s.ehlo("tls.example.org")
print("before", s.has_extn("starttls"))
print(s.starttls(context=ctx)[0])
s.ehlo("tls.example.org")
print("after", s.has_extn("starttls"))
print(s.sendmail("a@b.org", ["b@example.com"], b"Subject: tls\r\n\r\nsecret\r\n"))
s.quit()

# A command pipelined after STARTTLS in the clear must be thrown away (RFC 3207).
raw = socket.create_connection(("127.0.0.1", port))
f = raw.makefile("rb")
f.readline()
raw.sendall(b"EHLO x\r\n")
while True:
    l = f.readline()
    if l[3:4] == b" ": break
raw.sendall(b"STARTTLS\r\nMAIL FROM:<injected@evil>\r\n")
print(f.readline().decode().strip())
t = ctx.wrap_socket(raw, server_hostname="gw.example.com")
t.sendall(b"MAIL FROM:<a@b.org>\r\n")
print(t.recv(1000).decode().strip())
t.sendall(b"QUIT\r\n")
"#,
        &[&d.port.to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "before True");
    assert_eq!(lines[1], "220");
    assert_eq!(lines[2], "after False");
    assert_eq!(lines[3], "{}");
    assert_eq!(lines[4], "220 2.0.0 Ready to start TLS");
    // No 250 for the injected MAIL, and the HELO state was reset by the handshake.
    assert_eq!(lines[5], "503 5.5.1 Error: send HELO/EHLO first");
    let msgs = wait_messages(&ts, 1);
    let (_, received, body) = split_stored(&msgs[0]);
    assert!(received.contains("with ESMTPS id"), "{received}");
    assert_eq!(body, b"Subject: tls\n\nsecret\n");
}

#[test]
fn systemd_socket_activation_both_ways() {
    let ts = TestSpool::new(&Conf::new());
    // A stand-in for systemd: put a socket on fd 3, set LISTEN_PID/LISTEN_FDS, exec smtpd.
    let launcher = r#"
import os, socket, sys
mode, port, smtpd, spool = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port))
l.listen(16)
print("READY", flush=True)
if mode == "accept":
    c, _ = l.accept()
    fd = c.fileno()
else:
    fd = l.fileno()
os.dup2(fd, 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", GATEWAY_LOG="stderr")
os.execve(smtpd, [smtpd, "-H", "--spool", spool], env)
"#;
    for mode in ["accept", "listen"] {
        let port = testkit::free_port();
        let mut p = testkit::Proc::spawn(
            "launcher",
            Command::new(PYTHON)
                .args(["-c", launcher, mode, &port.to_string()])
                .arg(testkit::bin("smtpd"))
                .arg(ts.root())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(p.child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "READY");
        let d = Daemon {
            proc: p,
            port,
            log: ts.dir.path().join("none"),
        };
        // Twice for the listener (it keeps serving); once for the Accept=yes connection.
        for _ in 0..(if mode == "listen" { 2 } else { 1 }) {
            let mut c = d.connect();
            assert_eq!(c.reply(), BANNER, "{mode}");
            c.cmd("HELO sd.example.org");
            c.cmd("MAIL FROM:<a@b.org>");
            assert_eq!(c.code("RCPT TO:<b@example.com>"), "250");
            assert_eq!(c.code("DATA"), "354");
            assert!(c
                .cmd("Subject: sd\r\n\r\nx\r\n.")
                .starts_with("250 2.0.0 Ok: queued"));
            assert!(c.cmd("QUIT").starts_with("221"));
        }
        let mut d = d;
        if mode == "accept" {
            assert!(d.proc.wait_timeout(Duration::from_secs(10)).is_some());
        } else {
            d.proc.signal(nix::sys::signal::Signal::SIGTERM);
            assert!(d.proc.wait_timeout(Duration::from_secs(10)).is_some());
        }
    }
    wait_messages(&ts, 3);
}

/// SIGHUP in daemon mode rereads gateway.conf and the rules for new sessions, says so in one
/// line, and neither drops the session in progress nor stops the daemon.
#[test]
fn sighup_rereads_the_rules_for_new_sessions_and_keeps_the_old_ones() {
    let ts = TestSpool::new(&Conf::new());
    let d = Daemon::start(&ts, &[]);
    let mut old = d.connect();
    assert!(old.reply().starts_with("220"));
    assert_eq!(old.code("HELO client.example.org"), "250");
    ts.write_etc(
        "smtpd_check_rules",
        b"noto:ALL:ALL:blocked@example.com:550 5.7.1 not this one\n",
    );
    d.proc.signal(nix::sys::signal::Signal::SIGHUP);
    let reread = wait_for(Duration::from_secs(5), || {
        // The listener rereads before it accepts the next connection.
        let mut probe = d.connect();
        let _ = probe.reply();
        let _ = probe.cmd("QUIT");
        d.log_text()
            .contains("SIGHUP: configuration and rules reread (1 rule(s))")
            .then_some(())
    });
    assert!(reread.is_some(), "{}", d.log_text());
    let mut new = d.connect();
    assert!(new.reply().starts_with("220"));
    assert_eq!(new.code("HELO client.example.org"), "250");
    assert_eq!(new.code("MAIL FROM:<a@example.org>"), "250");
    assert_eq!(new.code("RCPT TO:<blocked@example.com>"), "550");
    // The session opened before the signal goes on, with the rules it started with.
    assert_eq!(old.code("MAIL FROM:<a@example.org>"), "250");
    assert_eq!(old.code("RCPT TO:<blocked@example.com>"), "250");
    assert_eq!(old.code("QUIT"), "221");
    assert_eq!(new.code("QUIT"), "221");
}
