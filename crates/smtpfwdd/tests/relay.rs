//! Delivery to the internal mail server (aiosmtpd and Postfix's smtp-sink): byte-exact data,
//! deletion only after 250, retries, bounces, dropped connections, STARTTLS, quarantine.

mod common;
use common::*;
use std::time::Duration;
use testkit::spool::Queue;
use testkit::{Relay, SmtpSink, TestSpool};

fn relay(ts: &TestSpool, extra: &[&str]) -> Relay {
    Relay::start(&ts.scratch("relay"), extra)
}

#[test]
fn byte_exact_delivery_then_deleted() {
    let ts = TestSpool::new("");
    let r = relay(&ts, &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    let mut body = b"Received: from x by gw.test\nSubject: exact\n\n8-bit: \xe4\xf6\xfc \xff\n.\n..two dots\n.dot start\n"
        .to_vec();
    // The longest line SMTP allows (998 bytes + CRLF) goes through unchanged.
    body.extend(std::iter::repeat_n(b'L', 998));
    body.extend_from_slice(b"\nlast line without newline");
    let id = ts.inject(Queue::Outgoing, SENDER, &["<rcpt@example.com>"], &body);
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    let m = r.messages();
    assert_eq!(m.len(), 1);
    let mut want = lf_to_crlf(&body);
    want.extend_from_slice(b"\r\n");
    assert_eq!(m[0].data, want, "bytes on the wire differ");
    assert!(
        m[0].meta.contains("\"mail_from\": \"sender@example.org\""),
        "{}",
        m[0].meta
    );
    assert!(m[0].meta.contains("BODY=8BITMIME"), "{}", m[0].meta);
    assert!(m[0].meta.contains("SIZE="), "{}", m[0].meta);
    assert!(!exists(&ts, Queue::Outgoing, &id));
    assert!(!state_file(&ts, &id).exists());
    let sent = sent_lines(&ts);
    assert!(
        sent.contains(&format!("{id}\t<rcpt@example.com>\tdelivered\t250")),
        "{sent}"
    );
    assert!(
        log.contains(&format!(
            "{id}: from=<sender@example.org> to=<rcpt@example.com>"
        )),
        "{log}"
    );
}

#[test]
fn tempfail_kept_then_delivered_only_to_pending() {
    let ts = TestSpool::new("");
    let r = relay(&ts, &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<ok@example.com>", "<tempfail@example.com>"],
        b"Subject: retry\n\nbody\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 75, "{log}");
    assert!(log.contains("status=deferred (451 4.3.0"), "{log}");
    assert!(log.contains("next try in 1s"), "{log}");
    // Not deleted after a 451; the delivered recipient is marked SENT, the other is pending.
    let f = read(&ts, Queue::Outgoing, &id);
    assert!(
        f.contains("SENT <ok@example.com>\nRCPT <tempfail@example.com>\n"),
        "{f}"
    );
    assert!(state_file(&ts, &id).exists());
    assert_eq!(r.messages().len(), 1);
    // Not due yet: a pass leaves it alone. The next-try time is moved rather than waited for,
    // so a slow machine cannot make the message due between two passes.
    let set_next_try = |t: i64| {
        let p = state_file(&ts, &id);
        let text = std::fs::read_to_string(&p).unwrap();
        let text: String = text
            .lines()
            .map(|l| match l.split_once('=') {
                Some(("next_try", _)) => format!("next_try={t}\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        std::fs::write(&p, text).unwrap();
    };
    set_next_try(i64::MAX / 2);
    let (code, _) = once(&ts, &[]);
    assert_eq!(code, 75);
    assert_eq!(r.messages().len(), 1);
    set_next_try(0);
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    let m = r.messages();
    assert_eq!(m.len(), 2);
    assert!(
        m[1].meta
            .contains("\"rcpt_tos\": [\"tempfail@example.com\"]"),
        "{}",
        m[1].meta
    );
    assert!(!exists(&ts, Queue::Outgoing, &id));
    assert!(!state_file(&ts, &id).exists());
}

#[test]
fn one_of_two_rejected_is_bounced_with_a_dsn() {
    let ts = TestSpool::new("");
    let r = relay(&ts, &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    ts.install_etc("bounce.tmpl");
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<good@example.com>", "<reject@example.com>"],
        b"Received: from a by b\nSubject: bounce me\nX-Original: yes\n\nsecret body text\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    assert!(!exists(&ts, Queue::Outgoing, &id));
    let m = r.messages();
    assert_eq!(m.len(), 1);
    assert!(m[0].meta.contains("\"rcpt_tos\": [\"good@example.com\"]"));
    let sent = sent_lines(&ts);
    assert!(sent.contains("<good@example.com>\tdelivered"), "{sent}");
    assert!(
        sent.contains("<reject@example.com>\tbounced\tsmtp; 550 5.1.1"),
        "{sent}"
    );
    // The DSN waits in outgoing: from <> to the sender.
    let out = outgoing(&ts);
    assert_eq!(out.len(), 1, "{out:?}");
    let dsn = read(&ts, Queue::Outgoing, &out[0]);
    assert!(
        dsn.starts_with("FROM <>\nRCPT <sender@example.org>\nBODY\n"),
        "{dsn}"
    );
    for want in [
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Content-Type: message/delivery-status",
        "Final-Recipient: rfc822; reject@example.com",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 No such user here",
        "Content-Type: text/rfc822-headers",
        "X-Original: yes",
        "Subject: bounce me",
        "From: Mail Delivery System <MAILER-DAEMON@gw.example.com>",
        // The text part comes from the shipped etc/bounce.tmpl.
        &format!("quote the queue id {id}"),
    ] {
        assert!(dsn.contains(want), "missing {want:?} in\n{dsn}");
    }
    assert!(!dsn.contains("secret body text"), "{dsn}");
    // Started as root, it ran as the spool's owner: the bounce it wrote belongs to uucp.
    if let Some((uid, _)) = ts.owner {
        let md = std::fs::metadata(ts.spool.queue(Queue::Outgoing).join(&out[0])).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&md),
            uid,
            "delivered as root?"
        );
    }
    assert!(!dsn.contains("good@example.com"), "{dsn}");
    // The next pass delivers the DSN itself, with the null sender.
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    let m = r.messages();
    assert_eq!(m.len(), 2);
    assert!(m[1].meta.contains("\"mail_from\": \"<>\""), "{}", m[1].meta);
    assert!(outgoing(&ts).is_empty());
}

#[test]
fn mailbox_full_552_is_bounced() {
    let ts = TestSpool::new("");
    let r = relay(&ts, &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<full@example.com>"],
        b"Subject: x\n\nx\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    assert!(!exists(&ts, Queue::Outgoing, &id));
    assert!(r.messages().is_empty());
    let out = outgoing(&ts);
    assert_eq!(out.len(), 1);
    let dsn = read(&ts, Queue::Outgoing, &out[0]);
    assert!(dsn.contains("Status: 5.2.2"), "{dsn}");
    assert!(dsn.contains("552 5.2.2 Mailbox full"), "{dsn}");
}

#[test]
fn connection_dropped_mid_data_is_kept_and_resent() {
    let ts = TestSpool::new("");
    let r = relay(&ts, &["--drop-data", "1"]);
    ts.write_conf(&Conf::forward(&r.addr()));
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.com>"],
        b"Subject: drop\n\nbody\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 75, "{log}");
    assert!(exists(&ts, Queue::Outgoing, &id));
    assert!(read(&ts, Queue::Outgoing, &id).contains("RCPT <a@example.com>"));
    assert!(r.messages().is_empty());
    std::thread::sleep(Duration::from_millis(1100));
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    let m = r.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].data_lf(), b"Subject: drop\n\nbody\n");
    assert!(!exists(&ts, Queue::Outgoing, &id));
}

#[test]
fn malformed_file_goes_to_quarantine_with_an_alert() {
    let ts = TestSpool::new("");
    let r = relay(&ts, &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    let path = ts.spool.queue(Queue::Outgoing).join("smtpdBADBAD");
    std::fs::write(&path, b"RCPT <x@example.com>\nno from line\nBODY\nhello\n").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    ts.chown_all();
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("smtpdBADBAD: malformed spool file moved to quarantine"),
        "{log}"
    );
    assert!(exists(&ts, Queue::Quarantine, "smtpdBADBAD"));
    assert!(r.messages().is_empty(), "a malformed file was sent");
    let out = outgoing(&ts);
    assert_eq!(out.len(), 1, "one admin alert expected: {out:?}");
    let alert = read(&ts, Queue::Outgoing, &out[0]);
    assert!(
        alert.starts_with("FROM <>\nRCPT <admin@example.com>\n"),
        "{alert}"
    );
    assert!(alert.contains("smtpdBADBAD"), "{alert}");
    assert!(sent_lines(&ts).contains("smtpdBADBAD\t-\tquarantined"));
}

#[test]
fn undeliverable_bounce_is_quarantined_not_bounced() {
    let ts = TestSpool::new("");
    let r = relay(&ts, &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    let id = ts.inject(
        Queue::Outgoing,
        "<>",
        &["<reject@example.com>"],
        b"Subject: a bounce\n\nx\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    assert!(exists(&ts, Queue::Quarantine, &id));
    let out = outgoing(&ts);
    assert_eq!(out.len(), 1);
    let alert = read(&ts, Queue::Outgoing, &out[0]);
    assert!(
        alert.contains("RCPT <admin@example.com>"),
        "only the admin is told: {alert}"
    );
    assert!(!alert.contains("multipart/report"), "{alert}");
}

/// Mail from <> rejected for one recipient and deferred for another: only a copy for the
/// rejected one goes to quarantine; the deferred one stays in outgoing and is delivered later.
#[test]
fn bounce_failing_for_one_and_deferred_for_another_quarantines_only_the_failed() {
    let ts = TestSpool::new("");
    let r = relay(&ts, &["--tempfail-times", "1"]);
    ts.write_conf(&Conf::forward(&r.addr()));
    let id = ts.inject(
        Queue::Outgoing,
        "<>",
        &["<reject@example.com>", "<tempfail@example.com>"],
        b"Subject: a bounce\n\nx\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 75, "{log}");
    // The file stays, for the deferred recipient only.
    let f = read(&ts, Queue::Outgoing, &id);
    assert!(f.contains("RCPT <tempfail@example.com>\n"), "{f}");
    assert!(!f.contains("reject@"), "{f}");
    // A copy for the rejected one is in quarantine, with the message.
    let q = ts.ids(Queue::Quarantine);
    assert_eq!(q.len(), 1, "{log}");
    let copy = read(&ts, Queue::Quarantine, &q[0]);
    assert!(
        copy.starts_with("FROM <>\nRCPT <reject@example.com>\nBODY\n"),
        "{copy}"
    );
    assert!(copy.ends_with("Subject: a bounce\n\nx\n"), "{copy}");
    // The admin is told; the deferred recipient gets the message at the next try.
    let alerts: Vec<String> = outgoing(&ts).into_iter().filter(|o| *o != id).collect();
    assert_eq!(alerts.len(), 1);
    assert!(read(&ts, Queue::Outgoing, &alerts[0]).contains("RCPT <admin@example.com>"));
    let set_due = || {
        let p = state_file(&ts, &id);
        let t = std::fs::read_to_string(&p).unwrap();
        let t: String = t
            .lines()
            .map(|l| {
                if l.starts_with("next_try=") {
                    "next_try=0\n".to_string()
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&p, t).unwrap();
    };
    set_due();
    let (_, log) = once(&ts, &[]);
    let got = r.messages();
    assert!(
        got.iter()
            .any(|m| m.meta.contains("\"rcpt_tos\": [\"tempfail@example.com\"]")),
        "{log}"
    );
    assert!(!exists(&ts, Queue::Outgoing, &id), "{log}");
}

#[test]
fn expired_message_is_bounced_after_max_age() {
    let ts = TestSpool::new("");
    let r = relay(&ts, &["--tempfail-times", "1000"]);
    ts.write_conf(&Conf::forward(&r.addr()).section("forward", "max_age = 86400"));
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<tempfail@example.com>"],
        b"Subject: old\n\nx\n",
    );
    // Still young: deferred.
    let (code, _) = once(&ts, &[]);
    assert_eq!(code, 75);
    assert!(exists(&ts, Queue::Outgoing, &id));
    // Two days later (injected clock): the next failure bounces it.
    let later = (chrono::Local::now() + chrono::Duration::days(2)).to_rfc3339();
    let out = command(&ts, &["--once"])
        .env("GATEWAY_NOW", &later)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("status=expired"), "{log}");
    assert!(!exists(&ts, Queue::Outgoing, &id));
    let dsns = outgoing(&ts);
    assert_eq!(dsns.len(), 1);
    let dsn = read(&ts, Queue::Outgoing, &dsns[0]);
    assert!(dsn.contains("Status: 4.3.0"), "{dsn}");
    assert!(dsn.contains("delivery time expired"), "{dsn}");
}

#[test]
fn smtp_sink_gets_several_messages_over_one_connection() {
    let ts = TestSpool::new("");
    let dump = ts.scratch("sink");
    std::fs::set_permissions(&dump, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let sink = SmtpSink::start(Some(&dump), 10);
    ts.write_conf(&Conf::forward(&format!("127.0.0.1:{}", sink.port)));
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(ts.inject(
            Queue::Outgoing,
            SENDER,
            &["<a@example.com>"],
            format!("Subject: n{i}\n\n.\nbody {i}\n").as_bytes(),
        ));
    }
    let (code, log) = once(&ts, &["-M", "1", "-v"]);
    assert_eq!(code, 0, "{log}");
    assert!(outgoing(&ts).is_empty());
    // smtp-sink's dumps: one file per message, holding the data with CRLF.
    let files: Vec<std::path::PathBuf> = walk(&dump);
    assert_eq!(files.len(), 5, "{files:?}");
    let all: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    // smtp-sink writes what it received with LF line ends and dots unstuffed.
    for i in 0..5 {
        let want = format!("\nSubject: n{i}\n\n.\nbody {i}\n");
        assert!(
            all.iter()
                .any(|d| d.windows(want.len()).any(|w| w == want.as_bytes())),
            "message {i} not found byte-exact"
        );
    }
    // One connection for all five messages.
    assert_eq!(log.matches("connected to").count(), 1, "{log}");
}

#[test]
fn overlong_line_is_folded_not_bounced() {
    let ts = TestSpool::new("");
    let r = relay(&ts, &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    let mut body = b"Subject: long\n\n".to_vec();
    body.extend(std::iter::repeat_n(b'x', 2500));
    body.push(b'\n');
    ts.inject(Queue::Outgoing, SENDER, &["<a@example.com>"], &body);
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    let m = r.messages();
    assert_eq!(m.len(), 1);
    let got = &m[0].data;
    assert!(got.split(|&b| b == b'\n').all(|l| l.len() <= 999));
    assert_eq!(got.iter().filter(|&&b| b == b'x').count(), 2500);
}

fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
