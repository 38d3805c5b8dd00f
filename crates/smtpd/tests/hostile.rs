//! Issue 14, smtpd's part: hostile clients against the real binary. SMTP smuggling (only
//! `<CR><LF>.<CR><LF>` ends DATA), relay tricks in addresses, addresses that look like command-line
//! options, non-ASCII addresses without SMTPUTF8, mail loops (too many `Received:`), and slow
//! clients (deadlines per command line, per DATA and per session; connections per client address).

mod common;

use common::*;
use std::time::{Duration, Instant};
use testkit::TestSpool;

/// The dialogue up to the 354 of DATA.
fn open_data<R: std::io::Read, W: std::io::Write>(c: &mut Client<R, W>) {
    assert_eq!(c.reply(), BANNER);
    assert!(c.cmd("EHLO provider.example.net").starts_with("250"));
    assert!(c
        .cmd("MAIL FROM:<customer@provider.example.net>")
        .starts_with("250"));
    assert!(c.cmd("RCPT TO:<bob@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
}

#[test]
fn smuggled_transaction_after_a_bare_lf_end_of_data_is_data() {
    for spelling in ["\n.\n", "\r\n.\n", "\n.\r\n"] {
        let ts = TestSpool::new(&Conf::new());
        let d = Daemon::start(&ts, &[]);
        let mut c = d.connect();
        open_data(&mut c);
        // What an outbound provider that passes bare LFs relays from its customer, in one write.
        let data = format!(
            "Subject: hello\r\n\r\nfirst{spelling}MAIL FROM:<ceo@example.com>\r\n\
             RCPT TO:<victim@example.com>\r\nDATA\r\nSubject: forged\r\n\r\nPay now.\r\n.\r\n"
        );
        c.send(data.as_bytes());
        let r = c.reply();
        assert!(
            r.starts_with("250 2.0.0 Ok: queued as"),
            "{spelling:?}: {r}"
        );
        let r = c.cmd("QUIT");
        assert!(
            r.starts_with("221"),
            "{spelling:?}: a smuggled command was answered: {r}"
        );
        let m = wait_messages(&ts, 1);
        let (env, _, body) = split_stored(&m[0]);
        assert_eq!(
            env, "FROM <customer@provider.example.net>\nRCPT <bob@example.com>\nBODY\n",
            "{spelling:?}"
        );
        // Every line end is stored as LF; the would-be end-of-data line is an (unstuffed) line.
        assert_eq!(
            String::from_utf8_lossy(&body),
            "Subject: hello\n\nfirst\n\nMAIL FROM:<ceo@example.com>\nRCPT TO:<victim@example.com>\n\
             DATA\nSubject: forged\n\nPay now.\n",
            "{spelling:?}"
        );
    }
}

#[test]
fn bare_cr_is_stored_as_a_line_end_and_never_ends_data() {
    let ts = TestSpool::new(&Conf::new());
    let (_p, mut c) = inetd(&ts, &[]);
    open_data(&mut c);
    c.send(b"Subject: cr\r\n\r\none\rtwo\r.\r\nthree\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 Ok: queued as"));
    assert!(c.cmd("QUIT").starts_with("221"));
    let m = wait_messages(&ts, 1);
    let body = split_stored(&m[0]).2;
    assert_eq!(
        String::from_utf8_lossy(&body),
        "Subject: cr\n\none\ntwo\n\nthree\n"
    );
}

/// A session that has sent HELO and MAIL (for RCPT checks).
fn after_mail<R: std::io::Read, W: std::io::Write>(c: &mut Client<R, W>, from: &str) {
    assert_eq!(c.reply(), BANNER);
    assert!(c.cmd("HELO x.example.org").starts_with("250"));
    let r = c.cmd(&format!("MAIL FROM:{from}"));
    assert!(r.starts_with("250"), "{from}: {r}");
}

#[test]
fn relay_tricks_in_local_parts_are_refused_and_source_routes_stripped() {
    // No rules file: the built-in checks alone.
    let ts = TestSpool::new(&Conf::new());
    let d = Daemon::start(&ts, &[]);
    let mut c = d.connect();
    after_mail(&mut c, "<@relay.example.net:alice@b.example.org>");
    let cases = include_str!("../../../tests/data/smtpd/relay_tricks.tsv");
    let cases: Vec<(&str, &str)> = cases
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_once('\t').expect("path TAB reply"))
        .collect();
    assert!(cases.len() > 5, "{cases:?}");
    for (rcpt, want) in cases {
        let r = c.cmd(&format!("RCPT TO:{rcpt}"));
        assert!(r.starts_with(want), "{rcpt}: {r}");
    }
    assert!(c.cmd("DATA").starts_with("354"));
    assert!(c.cmd("Subject: x\r\n\r\ny\r\n.").starts_with("250 "));
    let m = wait_messages(&ts, 1);
    assert_eq!(
        split_stored(&m[0]).0,
        "FROM <alice@b.example.org>\nRCPT <bob@example.com>\nRCPT <carol@example.com>\n\
         RCPT <dave@example.com>\nBODY\n"
    );
    let log = d.log_text();
    assert!(
        log.contains("relay request refused: to=<bob%evil.example@example.com>"),
        "{log}"
    );
}

#[test]
fn percent_hack_and_bang_paths_when_the_config_allows_them() {
    let ts = TestSpool::new(
        &Conf::new().section("smtpd", "allow_percent_hack = true\nallow_bang_path = true"),
    );
    let (_p, mut c) = inetd(&ts, &[]);
    after_mail(&mut c, "<a@b.example.org>");
    assert!(c
        .cmd("RCPT TO:<bob%evil.example@example.com>")
        .starts_with("250 "));
    assert!(c
        .cmd("RCPT TO:<evil.example!bob@example.com>")
        .starts_with("250 "));
    // An @ in the local part is never a mailbox, whatever the config says.
    assert!(c
        .cmd("RCPT TO:<\"bob@evil.example\"@example.com>")
        .starts_with("553 5.7.1"));
    // Only percent hacks are allowed here: bang paths still refused.
    let ts = TestSpool::new(&Conf::new().section("smtpd", "allow_percent_hack = true"));
    let (_p, mut c) = inetd(&ts, &[]);
    after_mail(&mut c, "<a@b.example.org>");
    assert!(c
        .cmd("RCPT TO:<bob%evil.example@example.com>")
        .starts_with("250 "));
    assert!(c
        .cmd("RCPT TO:<evil.example!bob@example.com>")
        .starts_with("553 5.7.1"));
}

#[test]
fn check_rules_match_the_normalised_address() {
    let ts = TestSpool::new(&Conf::new());
    ts.write_etc(
        "smtpd_check_rules",
        b"noto:ALL:ALL:noreply@example.com:550 %T sends no mail\n\
          noto:ALL:/^root@/:ALL:550 not from %F\n",
    );
    let d = Daemon::start(&ts, &[]);
    let mut c = d.connect();
    after_mail(&mut c, "<a@b.example.org>");
    for rcpt in [
        "<noreply@example.com>",
        "<\"noreply\"@example.com>",
        "<\"no\\reply\"@example.com>",
        "<noreply@example.com.>",
        "<NoReply@Example.COM>",
        "<@evil.example:noreply@example.com>",
        "noreply@example.com.",
    ] {
        let r = c.cmd(&format!("RCPT TO:{rcpt}"));
        assert!(
            r.eq_ignore_ascii_case("550 noreply@example.com sends no mail"),
            "{rcpt}: {r}"
        );
    }
    // Comments are no part of an SMTP path: refused, not interpreted.
    assert!(c
        .cmd("RCPT TO:<noreply(x)@example.com>")
        .starts_with("501 5.1.3"));
    assert!(c.cmd("RSET").starts_with("250"));
    assert!(c
        .cmd("MAIL FROM:<\"root\"@b.example.org>")
        .starts_with("250"));
    let r = c.cmd("RCPT TO:<bob@example.com>");
    assert_eq!(r, "550 not from root@b.example.org");
}

#[test]
fn addresses_that_look_like_options_are_refused() {
    let ts = TestSpool::new(&Conf::new());
    let (_p, mut c) = inetd(&ts, &[]);
    assert_eq!(c.reply(), BANNER);
    assert!(c.cmd("HELO x.example.org").starts_with("250"));
    for from in [
        "<-be@b.example.org>",
        "-bs@b.example.org",
        "<\"-oQ/tmp\"@b.example.org>",
    ] {
        let r = c.cmd(&format!("MAIL FROM:{from}"));
        assert!(r.starts_with("553 5.1.7"), "{from}: {r}");
    }
    assert!(c.cmd("MAIL FROM:<a-b@b.example.org>").starts_with("250"));
    for rcpt in [
        "<-bs@example.com>",
        "<\"-X/tmp/log\"@example.com>",
        "<@x.example:-bi@example.com>",
    ] {
        let r = c.cmd(&format!("RCPT TO:{rcpt}"));
        assert!(r.starts_with("553 5.1.7"), "{rcpt}: {r}");
    }
    assert!(
        c.cmd("DATA").starts_with("554"),
        "no recipient was accepted"
    );
}

#[test]
fn non_ascii_addresses_refused_without_smtputf8() {
    let ts = TestSpool::new(&Conf::new());
    let d = Daemon::start(&ts, &[]);
    let mut c = d.connect();
    assert_eq!(c.reply(), BANNER);
    let ehlo = c.cmd("EHLO x.example.org");
    assert!(!ehlo.to_ascii_uppercase().contains("SMTPUTF8"), "{ehlo}");
    assert!(ehlo.contains("8BITMIME"), "{ehlo}");
    assert!(c
        .cmd("MAIL FROM:<j\u{f6}rg@b.example.org>")
        .starts_with("553 5.6.7"));
    assert!(c
        .cmd("MAIL FROM:<a@b.example.org> SMTPUTF8")
        .starts_with("555"));
    assert!(c
        .cmd("MAIL FROM:<a@b.example.org> BODY=8BITMIME")
        .starts_with("250"));
    assert!(c
        .cmd("RCPT TO:<j\u{f6}rg@example.com>")
        .starts_with("553 5.6.7"));
    assert!(c
        .cmd("RCPT TO:<bob@b\u{fc}cher.example.com>")
        .starts_with("553 5.6.7"));
    // Latin-1, not UTF-8: the same answer.
    c.send(b"RCPT TO:<j\xf6rg@example.com>\r\n");
    assert!(c.reply().starts_with("553 5.6.7"));
    assert!(c.cmd("RCPT TO:<bob@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    // 8-bit bodies are still taken as they are.
    c.send("Subject: 8bit\r\n\r\nGr\u{fc}\u{df}e\r\n.\r\n".as_bytes());
    assert!(c.reply().starts_with("250 "));
    let m = wait_messages(&ts, 1);
    let (env, _, body) = split_stored(&m[0]);
    assert_eq!(
        env,
        "FROM <a@b.example.org>\nRCPT <bob@example.com>\nBODY\n"
    );
    assert_eq!(body, "Subject: 8bit\n\nGr\u{fc}\u{df}e\n".as_bytes());
}

fn with_received(n: usize) -> String {
    let mut m = String::new();
    for i in 0..n {
        m.push_str(&format!(
            "Received: from hop{i}.example.net\r\n\tby gw.example.com (smtpd) with ESMTP id x{i};\r\n\tTue, 1 Dec 2026 10:00:00 +0000\r\n"
        ));
    }
    m.push_str("Subject: loop\r\n\r\nbody\r\n");
    m
}

#[test]
fn sixty_received_headers_are_a_loop_and_nothing_is_stored() {
    let ts = TestSpool::new(&Conf::new());
    let d = Daemon::start(&ts, &[]);
    let mut c = d.connect();
    open_data(&mut c);
    c.send(with_received(60).as_bytes());
    assert_eq!(c.cmd("."), "554 5.4.6 Too many hops");
    // The session goes on; exactly 50 is still fine, and Received: lines in the body (after the
    // header section) are not hops.
    assert!(c.cmd("MAIL FROM:<a@b.example.org>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<bob@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    let mut m = with_received(50);
    m.push_str(&"Received: quoted in the body\r\n".repeat(20));
    c.send(m.as_bytes());
    assert!(c.cmd(".").starts_with("250 "));
    let stored = wait_messages(&ts, 1);
    let body = split_stored(&stored[0]).2;
    assert!(body.starts_with(b"Received: from hop0.example.net\n"));
    assert!(c.cmd("QUIT").starts_with("221"));
    let log = d.log_text();
    assert!(
        log.contains("result=refused (too many hops: 60 Received: headers, max_hops 50)"),
        "{log}"
    );
    assert!(ts.all_names(testkit::spool::Queue::Incoming).len() == 1);
}

#[test]
fn max_hops_is_configurable_and_counts_any_case() {
    let ts = TestSpool::new(&Conf::new().section("smtpd", "max_hops = 3"));
    let (_p, mut c) = inetd(&ts, &[]);
    open_data(&mut c);
    c.send(b"Received: a\r\nRECEIVED: b\r\nreceived : c\r\nreceived:d\r\nSubject: x\r\n\r\ny\r\n");
    assert_eq!(c.cmd("."), "554 5.4.6 Too many hops");
    assert!(c.cmd("QUIT").starts_with("221"));
    assert!(messages(&ts).is_empty());
}

/// Send `bytes` one at a time, `gap` apart, watching for a reply after each; returns the first
/// reply line and when it came (from the start), or None if every byte went out unanswered.
fn dribble(s: &mut std::net::TcpStream, bytes: &[u8], gap: Duration) -> Option<(String, Duration)> {
    use std::io::{Read, Write};
    let start = Instant::now();
    s.set_read_timeout(Some(gap)).unwrap();
    let mut got = Vec::new();
    for b in bytes {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.ends_with(b"\r\n") {
                    let text = String::from_utf8_lossy(&got).trim_end().to_string();
                    return Some((text, start.elapsed()));
                }
            }
            Err(_) => {}
        }
    }
    None
}

/// A connected client that has read the banner (and sent `lines`, each answered 2xx or 354).
fn client_at(d: &Daemon, lines: &[&str]) -> std::net::TcpStream {
    let mut c = d.connect();
    assert_eq!(c.reply(), BANNER);
    for l in lines {
        let r = c.cmd(l);
        assert!(r.starts_with('2') || r.starts_with("354"), "{l}: {r}");
    }
    c.w
}

#[test]
fn dribbling_client_is_cut_off_within_the_command_deadline() {
    let ts = TestSpool::new(&Conf::new().section("smtpd", "command_timeout = 3"));
    let d = Daemon::start(&ts, &[]);
    let mut s = client_at(&d, &[]);
    // One byte a second: every read is quick, the line never is.
    let got = dribble(
        &mut s,
        b"HELO dribble.example.org\r\n",
        Duration::from_secs(1),
    );
    let (reply, at) = got.expect("no reply while dribbling a command line");
    assert!(reply.starts_with("421 4.4.2"), "{reply}");
    assert!(at < Duration::from_millis(5500), "cut off after {at:?}");
    assert!(at >= Duration::from_millis(2500), "cut off after {at:?}");
}

#[test]
fn dribbling_data_is_cut_off_within_the_data_deadline() {
    let ts = TestSpool::new(&Conf::new().section("smtpd", "data_timeout = 2\ndata_deadline = 3"));
    let d = Daemon::start(&ts, &[]);
    let mut s = client_at(
        &d,
        &[
            "HELO x.example.org",
            "MAIL FROM:<a@b.example.org>",
            "RCPT TO:<bob@example.com>",
            "DATA",
        ],
    );
    // Half a second a byte: well inside data_timeout for every read, and 11 s in all.
    let got = dribble(
        &mut s,
        b"Subject: slow dribble\r\n",
        Duration::from_millis(500),
    );
    let (reply, at) = got.expect("no reply while dribbling DATA");
    assert!(reply.starts_with("421 4.4.2"), "{reply}");
    assert!(at < Duration::from_millis(5500), "cut off after {at:?}");
    let clean = testkit::wait_for(Duration::from_secs(5), || {
        ts.all_names(testkit::spool::Queue::Incoming)
            .is_empty()
            .then_some(())
    });
    assert!(clean.is_some(), "nothing stored, no temp file left");
    let log = d.log_text();
    assert!(
        log.contains("result=aborted (Deadline during DATA)"),
        "{log}"
    );
}

#[test]
fn a_busy_session_still_ends_at_the_session_deadline() {
    let ts = TestSpool::new(&Conf::new().section("smtpd", "session_deadline = 3"));
    let d = Daemon::start(&ts, &[]);
    let mut c = d.connect();
    assert_eq!(c.reply(), BANNER);
    let start = Instant::now();
    let last = loop {
        let r = c.cmd("NOOP");
        if !r.starts_with("250") || start.elapsed() > Duration::from_secs(8) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(last.starts_with("421 4.4.2"), "{last}");
    let at = start.elapsed();
    assert!(at < Duration::from_millis(5500), "ended after {at:?}");
    assert_eq!(c.reply(), "", "closed after 421");
}

/// A TCP connection to 127.0.0.1:port from the local address `from`.
fn connect_from(from: &str, port: u16) -> Client<std::net::TcpStream, std::net::TcpStream> {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .unwrap();
    let local: std::net::SocketAddrV4 = format!("{from}:0").parse().unwrap();
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(local),
    )
    .unwrap();
    let server: std::net::SocketAddrV4 = format!("127.0.0.1:{port}").parse().unwrap();
    connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(server),
    )
    .unwrap();
    let s = std::net::TcpStream::from(fd);
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    Client::new(s.try_clone().unwrap(), s)
}

#[test]
fn connections_per_client_address_are_limited_in_daemon_mode() {
    // Loopback is exempt by default; the test's clients are all on it.
    let ts = TestSpool::new(&Conf::new().section("smtpd", "max_connections_per_ip = 2\nmax_clients = 10\nconnection_limit_exceptions = [\"127.0.0.3/32\"]"));
    let d = Daemon::start(&ts, &[]);
    let mut a = d.connect();
    let mut b = d.connect();
    assert_eq!(a.reply(), BANNER);
    assert_eq!(b.reply(), BANNER);
    let mut c = d.connect();
    let r = c.reply();
    assert!(
        r.starts_with("421 4.7.0 gw.example.com Too many connections from your address"),
        "{r}"
    );
    assert_eq!(c.reply(), "", "closed after 421");
    // Another client address is not affected.
    let mut other = connect_from("127.0.0.2", d.port);
    assert_eq!(other.reply(), BANNER);
    // An exempt network has no per-client limit.
    let mut exempt: Vec<_> = (0..3).map(|_| connect_from("127.0.0.3", d.port)).collect();
    for e in &mut exempt {
        assert_eq!(e.reply(), BANNER);
    }
    // A place is given back when a session ends.
    assert!(a.cmd("QUIT").starts_with("221"));
    drop(a);
    let got = testkit::wait_for(Duration::from_secs(5), || {
        let mut n = d.connect();
        (n.reply() == BANNER).then_some(())
    });
    assert!(got.is_some());
    drop(b);
    assert!(d
        .log_text()
        .contains("more than 2 connections from one client"));
}

#[test]
fn a_bad_connection_limit_exception_stops_startup() {
    let ts = TestSpool::new(
        &Conf::new().section("smtpd", "connection_limit_exceptions = [\"10.0.0.0/33\"]"),
    );
    let out = command(&ts, &["-H"])
        .stdin(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(out.stdout.is_empty(), "no banner");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("smtpd.connection_limit_exceptions: bad prefix length in \"10.0.0.0/33\""),
        "{err}"
    );
}
