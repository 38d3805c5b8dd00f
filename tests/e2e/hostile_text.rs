//! Issue 14, hostile text in what the gateway writes itself: a sender address and a subject
//! holding template placeholders (`{admin}`, `{what}`, ...) go through the real gateway (smtplib →
//! smtpd → scanmail with clamd → smtpfwdd → aiosmtpd) and come out in the alert and the sender
//! notice as they were written, never expanded.

mod common;

use common::*;

#[test]
fn placeholders_in_a_sender_and_a_subject_are_not_expanded_in_notices() {
    let g = Gateway::start();
    let banned = with_attachment(
        "{what} {queue} {admin}",
        "game.exe",
        "application/octet-stream",
        b"just bytes, not really a program",
    );
    assert_eq!(
        g.send("{admin}@example.org", &["bob@example.com"], &banned),
        "OK"
    );
    g.flush();
    let got = g.delivered();
    let alert = got
        .iter()
        .find(|(m, _)| m.contains(ADMIN))
        .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
        .expect("an alert to the admin");
    // The alert's Subject: carries the sender as written (the template has `from {sender}`).
    let subject = alert
        .lines()
        .find(|l| l.starts_with("Subject:"))
        .unwrap_or_default();
    assert!(subject.contains("from <{admin}@example.org>"), "{subject}");
    assert!(
        alert.contains("Subject:    {what} {queue} {admin}"),
        "{alert}"
    );
    let notice = got
        .iter()
        .find(|(m, _)| m.contains("\"{admin}@example.org\""))
        .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
        .expect("a notice to the sender");
    assert!(
        notice.contains("with the subject \"{what} {queue} {admin}\""),
        "{notice}"
    );
}
