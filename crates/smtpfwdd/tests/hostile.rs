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
    let ts = TestSpool::new(&conf(&stub.addr(), ""));
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
