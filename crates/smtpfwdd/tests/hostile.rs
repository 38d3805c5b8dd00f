//! Issue 14, smtpfwdd's side: replies that are not acceptance, MX answers that point inside,
//! relays that point back at the gateway, hostile text in replies and templates, bytes on the wire.

mod common;
use common::*;
use testkit::spool::Queue;
use testkit::TestSpool;

#[test]
fn a_3xx_reply_to_rcpt_is_not_acceptance() {
    // One recipient accepted (so DATA goes ahead and ends with 250), the other answered 354.
    let stub = StubRelay::start("", |l| {
        if l.contains("three@") {
            "354 3.0.0 not a real acceptance".into()
        } else {
            "250 2.1.5 OK".into()
        }
    });
    let ts = TestSpool::new(&Conf::forward(&stub.addr()));
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<ok@example.com>", "<three@example.com>"],
        b"Subject: 3xx\n\nbody\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 75, "{log}");
    let f = read(&ts, Queue::Outgoing, &id);
    assert!(
        f.contains("SENT <ok@example.com>\nRCPT <three@example.com>\n"),
        "{f}"
    );
    let sent = sent_lines(&ts);
    assert!(!sent.contains("<three@example.com>\tdelivered"), "{sent}");
}

/// True when every CR on the wire is followed by LF and every LF preceded by CR.
fn only_crlf(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, &c)| match c {
        b'\r' => b.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && b[i - 1] == b'\r',
        _ => true,
    })
}

#[test]
fn no_bare_cr_or_lf_reaches_the_wire() {
    let ts = TestSpool::new("");
    let r = testkit::Relay::start(&ts.scratch("relay"), &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    // Bare CRs, a CRLF kept in the spool, a dot line ending in CRLF, a CR before a dot.
    let body = b"Subject: cr\n\na\rb\r\nc\n.\r\n..\rx\r";
    ts.inject(Queue::Outgoing, SENDER, &["<rcpt@example.com>"], body);
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    let m = r.messages();
    assert_eq!(m.len(), 1);
    let data = &m[0].data;
    assert!(
        only_crlf(data),
        "bare CR or LF on the wire: {:?}",
        String::from_utf8_lossy(data)
    );
    // Every CR became a line end, and dot-stuffing held for the lines a CR started.
    assert_eq!(
        String::from_utf8_lossy(data),
        "Subject: cr\r\n\r\na\r\nb\r\nc\r\n.\r\n..\r\nx\r\n"
    );
}

fn files_under(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn eight_bit_body_to_a_relay_without_8bitmime_is_bounced_seven_bit_goes() {
    let ts = TestSpool::new("");
    let dump = ts.scratch("sink");
    std::fs::set_permissions(&dump, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let sink = testkit::SmtpSink::start_with(Some(&dump), 10, &["-8"]);
    ts.write_conf(&Conf::forward(&format!("127.0.0.1:{}", sink.port)));
    let eight = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.com>"],
        b"Subject: eight\n\nGr\xc3\xbc\xc3\x9fe\n",
    );
    let seven = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<b@example.com>"],
        b"Subject: seven\n\nplain\n",
    );
    let (code, log) = once(&ts, &["-M", "1"]);
    assert_eq!(code, 0, "{log}");
    assert!(!exists(&ts, Queue::Outgoing, &eight));
    assert!(!exists(&ts, Queue::Outgoing, &seven));
    let files = files_under(&dump);
    assert_eq!(
        files.len(),
        1,
        "only the 7-bit message reaches the relay: {files:?}"
    );
    let got = std::fs::read(&files[0]).unwrap();
    assert!(got.windows(5).any(|w| w == b"plain"));
    // The 8-bit one came back to its sender as a DSN saying why.
    let dsn = outgoing(&ts);
    assert_eq!(dsn.len(), 1, "{log}");
    let text = read(&ts, Queue::Outgoing, &dsn[0]);
    assert!(
        text.contains("Final-Recipient: rfc822; a@example.com"),
        "{text}"
    );
    assert!(text.contains("Status: 5.6.3"), "{text}");
    assert!(text.contains("8BITMIME"), "{text}");
}

#[test]
fn no_relay_set_stops_with_78_and_says_what_to_set() {
    // No relay in gateway.conf (the old default was localhost:25: straight back into smtpd).
    let ts = TestSpool::new(
        "hostname = \"gw.test\"\nadmin = \"admin@example.com\"\ndomains = [\"example.com\"]\n",
    );
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.com>"],
        b"Subject: x\n\nx\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 78, "{log}");
    assert!(log.contains("[forward] relay"), "{log}");
    assert!(log.contains("deliver_to_mx"), "{log}");
    assert!(exists(&ts, Queue::Outgoing, &id));
    // The daemon does not start either (before it would detach).
    let out = command(&ts, &["--foreground"]).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    // Both set is ambiguous, also refused.
    ts.write_conf(&Conf::forward("127.0.0.1:2525").section("forward", "deliver_to_mx = true"));
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 78, "{log}");
    assert!(exists(&ts, Queue::Outgoing, &id));
    // --relay on the command line names the internal server: it wins over deliver_to_mx.
    let r = testkit::Relay::start(&ts.scratch("relay"), &[]);
    ts.write_conf(&Conf::forward("").section("forward", "deliver_to_mx = true"));
    let (code, log) = once(&ts, &["--relay", &r.addr()]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(r.messages().len(), 1);
}

#[test]
fn a_relay_that_is_the_gateways_own_smtpd_is_refused_and_the_mail_kept() {
    let ts = TestSpool::new("");
    let smtpd = testkit::smtpd::Daemon::start(&ts, &[]);
    let port = smtpd.port;
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.com>"],
        b"Subject: loop\n\nx\n",
    );
    for relay in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        ts.write_conf(
            &Conf::forward(&relay).section("forward", &format!("smtpd_ports = [{port}]")),
        );
        let (code, log) = once(&ts, &[]);
        assert_eq!(code, 75, "{log}");
        assert!(log.contains("mail loop"), "{log}");
        assert!(exists(&ts, Queue::Outgoing, &id), "the mail is kept");
        assert!(
            ts.ids(Queue::Incoming).is_empty(),
            "nothing handed back to smtpd"
        );
        std::fs::remove_file(state_file(&ts, &id)).unwrap();
    }
}

/// The bounce the single DSN in outgoing holds.
fn the_dsn(ts: &TestSpool, log: &str) -> String {
    let dsn = outgoing(ts);
    assert_eq!(dsn.len(), 1, "{log}");
    read(ts, Queue::Outgoing, &dsn[0])
}

/// aiosmtpd answers `hostile@` with a 550 holding placeholders and control characters (see
/// tests/support/relay.py); returns the DSN's text.
fn bounce_of_a_hostile_reply(ts: &TestSpool) -> String {
    let r = testkit::Relay::start(&ts.scratch("relay"), &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    ts.install_etc("bounce.tmpl");
    ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<hostile@example.com>"],
        b"Subject: t\n\nx\n",
    );
    let (code, log) = once(ts, &[]);
    assert_eq!(code, 0, "{log}");
    assert!(r.messages().is_empty());
    the_dsn(ts, &log)
}

#[test]
fn placeholders_in_a_relay_reply_are_not_expanded_in_the_bounce() {
    let ts = TestSpool::new("");
    let text = bounce_of_a_hostile_reply(&ts);
    // The human-readable part is the filled template; the reply is in it as the relay wrote it.
    let human = text
        .split_once("Content-Description: Notification")
        .unwrap()
        .1
        .split_once("Content-Description: Delivery report")
        .unwrap()
        .0;
    assert!(
        human.contains("550 5.1.1 {admin} {sender} {id} no"),
        "{human}"
    );
}

#[test]
fn control_characters_of_a_relay_reply_never_reach_the_bounce() {
    let ts = TestSpool::new("");
    let text = bounce_of_a_hostile_reply(&ts);
    assert!(text.contains("no?such?[2J user?? ?here"), "{text}");
    let after_envelope = text.split_once("\nBODY\n").unwrap().1;
    assert!(
        after_envelope
            .chars()
            .all(|c| c == '\n' || c == '\t' || !c.is_control()),
        "{text}"
    );
    assert!(!after_envelope.contains('\u{202e}'), "{text}");
}

#[test]
fn non_ascii_address_to_a_relay_without_smtputf8_is_bounced_not_sent() {
    let stub = StubRelay::start("250-8BITMIME\r\n", |_| "250 2.1.5 OK".into());
    let ts = TestSpool::new(&Conf::forward(&stub.addr()));
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<jürgen@example.com>"],
        b"Subject: utf8\n\nx\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    assert!(!exists(&ts, Queue::Outgoing, &id));
    assert!(!stub.wire().contains("MAIL FROM"), "{}", stub.wire());
    let text = the_dsn(&ts, &log);
    assert!(text.contains("Status: 5.6.7"), "{text}");
}

#[test]
fn non_ascii_address_goes_with_smtputf8_to_a_relay_that_offers_it() {
    let ts = TestSpool::new("");
    let r = testkit::Relay::start(&ts.scratch("relay"), &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<jürgen@example.com>"],
        b"Subject: utf8\n\nx\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    let m = r.messages();
    assert_eq!(m.len(), 1, "{log}");
    assert!(m[0].meta.contains("SMTPUTF8"), "{}", m[0].meta);
}
