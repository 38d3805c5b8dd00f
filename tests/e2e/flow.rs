//! Issue 6, the flow end to end: real SMTP clients (smtplib, swaks) → smtpd → scanmail with a real
//! clamd → smtpfwdd → a real SMTP server standing in for the internal mail server.
#![allow(clippy::too_many_lines)] // a test reads best as one story

mod common;

use common::*;
use std::collections::HashMap;
use std::fs;
use std::process::Command;
use std::time::Duration;
use testkit::spool::{daylog, Queue};
use testkit::text::crlf_to_lf;
use testkit::*;

fn text_mail(subject: &str, body: &str) -> Vec<u8> {
    format!("From: alice@example.org\r\nTo: bob@example.com\r\nSubject: {subject}\r\n\r\n{body}")
        .into_bytes()
}

#[test]
fn every_kind_of_mail_ends_where_it_belongs() {
    let g = Gateway::start();

    // Clean: plain text; 8-bit text with a line holding a single dot and lines starting with dots.
    let clean_text = text_mail("clean text", "Hello Bob.\r\n");
    let eight_bit = "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\u{fc}\u{df}e aus K\u{f6}ln\r\n.\r\n..two dots\r\n.leading dot\r\nend\r\n".as_bytes().to_vec();
    // Clean attachment (a PDF-looking document: scanned, found clean).
    let clean_pdf = with_attachment(
        "report",
        "report.pdf",
        "application/pdf",
        b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer\n%%EOF\n",
    );
    // Banned attachment name.
    let banned = with_attachment(
        "game",
        "game.exe",
        "application/octet-stream",
        b"just bytes, not really a program",
    );
    // EICAR in a .doc.
    let eicar_doc = with_attachment("invoice", "invoice.doc", "application/msword", EICAR);
    // EICAR in a zip inside a forwarded message.
    let inner = with_attachment(
        "inner",
        "files.zip",
        "application/zip",
        &zip_with("readme.txt", EICAR),
    );
    let mut fwd = b"From: carol@example.org\r\nTo: bob@example.com\r\nSubject: Fwd: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nForwarding.\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\n".to_vec();
    fwd.extend_from_slice(&inner);
    fwd.extend_from_slice(b"\r\n--outer--\r\n");

    assert_eq!(
        g.send("alice@example.org", &["bob@example.com"], &clean_text),
        "OK"
    );
    assert_eq!(
        g.send("alice@example.org", &["bob@example.com"], &eight_bit),
        "OK"
    );
    assert_eq!(
        g.send("alice@example.org", &["bob@example.com"], &clean_pdf),
        "OK"
    );
    assert_eq!(
        g.send("mallory@example.org", &["bob@example.com"], &banned),
        "OK"
    );
    assert_eq!(
        g.send("mallory@example.org", &["bob@example.com"], &eicar_doc),
        "OK"
    );
    assert_eq!(
        g.send("carol@example.org", &["bob@example.com"], &fwd),
        "OK"
    );
    // 100 recipients in one message.
    let many: Vec<String> = (0..100).map(|i| format!("user{i}@example.com")).collect();
    let many_ref: Vec<&str> = many.iter().map(String::as_str).collect();
    let hundred = text_mail("to a hundred", "Hello all.\r\n");
    assert_eq!(g.send("alice@example.org", &many_ref, &hundred), "OK");
    // swaks, a second real client.
    let swaks = Command::new("swaks")
        .args([
            "--server",
            &format!("127.0.0.1:{}", g.smtp_port),
            "--from",
            "dave@example.org",
            "--to",
            "bob@example.com",
        ])
        .args([
            "--header",
            "Subject: via swaks",
            "--body",
            "sent by swaks",
            "--helo",
            "client.example.org",
        ])
        .output()
        .expect("swaks installed (tests/run installs it)");
    assert!(
        swaks.status.success(),
        "{}",
        String::from_utf8_lossy(&swaks.stdout)
    );

    assert_eq!(g.ids(Queue::Incoming).len(), 8);
    g.flush();

    // Quarantine: the banned .exe and the two viruses, each with its decoded parts.
    let q = g.ids(Queue::Quarantine);
    assert_eq!(q.len(), 3, "quarantine: {q:?}");
    for id in &q {
        let d =
            g.ts.spool
                .decoded_dir(Queue::Quarantine, &id.parse().unwrap());
        assert!(d.is_dir(), "{id}_d in quarantine");
    }
    assert!(g.ids(Queue::Incoming).is_empty(), "incoming drained");
    assert!(
        g.ids(Queue::Outgoing).is_empty(),
        "outgoing drained: delivered mail is gone from the spool"
    );

    let got = g.delivered();
    let bodies: Vec<&[u8]> = got.iter().map(|(_, d)| strip_received(d)).collect();
    // Byte-exact (after our Received: line), with LF as the spool keeps it.
    for sent in [&clean_text, &eight_bit, &clean_pdf, &hundred] {
        assert!(
            bodies.iter().any(|b| *b == crlf_to_lf(sent).as_slice()),
            "delivered byte-exact: {}",
            String::from_utf8_lossy(&sent[..60])
        );
    }
    assert!(bodies
        .iter()
        .any(|b| String::from_utf8_lossy(b).contains("sent by swaks")));
    assert!(
        !got.iter()
            .any(|(_, d)| String::from_utf8_lossy(d).contains("EICAR-STANDARD")),
        "no virus delivered"
    );
    assert!(
        !got.iter()
            .any(|(_, d)| String::from_utf8_lossy(d).contains("Subject: game")),
        "banned mail not delivered"
    );
    // The 100-recipient message reached all 100.
    let hundred_meta = got
        .iter()
        .find(|(_, d)| String::from_utf8_lossy(d).contains("Subject: to a hundred"))
        .unwrap();
    for r in &many {
        assert!(hundred_meta.0.contains(r.as_str()), "{r} missing");
    }

    // Admin alerts: three; sender notices to mallory (2) and carol (1), never the message itself.
    let to_admin = got.iter().filter(|(m, _)| m.contains(ADMIN)).count();
    assert_eq!(to_admin, 3, "three admin alerts");
    let to_mallory: Vec<_> = got
        .iter()
        .filter(|(m, _)| m.contains("mallory@example.org"))
        .collect();
    let to_carol: Vec<_> = got
        .iter()
        .filter(|(m, _)| m.contains("carol@example.org"))
        .collect();
    assert!(
        !to_mallory.is_empty() && !to_carol.is_empty(),
        "sender notices"
    );
    assert!(
        to_carol
            .iter()
            .all(|(m, _)| m.contains("\"mail_from\": \"\"") || m.contains("\"mail_from\": \"<>\"")),
        "notices from <>: {:?}",
        to_carol[0].0
    );
    assert!(
        String::from_utf8_lossy(&to_carol[0].1).contains("Eicar"),
        "the notice names the virus"
    );

    // Day files.
    let today = spool::clock::today();
    let (email, bad) = daylog::read_email(&g.ts.spool, today).unwrap();
    assert_eq!(bad, 0);
    let mut by_verdict: HashMap<&str, usize> = HashMap::new();
    for e in &email {
        *by_verdict.entry(e.verdict.as_str()).or_default() += 1;
    }
    assert_eq!(by_verdict.get("clean"), Some(&5), "{by_verdict:?}");
    assert_eq!(by_verdict.get("virus"), Some(&2), "{by_verdict:?}");
    assert_eq!(by_verdict.get("banned"), Some(&1), "{by_verdict:?}");
    let (virus, _) = daylog::read_virus(&g.ts.spool, today).unwrap();
    assert_eq!(virus.len(), 3);

    // The nightly summary agrees.
    let out = g.run_tool("daysumm", &["--stdout"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("Eicar-Test-Signature"), "{report}");
    // The count at the end of the report line that starts with `label`.
    let count = |label: &str| -> Option<u64> {
        report
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(label))?
            .split_whitespace()
            .last()?
            .parse()
            .ok()
    };
    assert_eq!(count("received (judged by scanmail)"), Some(8), "{report}");
    assert_eq!(count("clean, passed on"), Some(5), "{report}");
    assert_eq!(count("quarantined"), Some(3), "{report}");
    assert_eq!(count("with a virus"), Some(2), "{report}");
    assert_eq!(count("with a banned attachment"), Some(1), "{report}");
    assert_eq!(
        count("Eicar-Test-Signature.UNOFFICIAL"),
        Some(2),
        "{report}"
    );
}

#[test]
fn two_hundred_messages_from_twenty_clients_all_arrive_once() {
    let g = Gateway::start();
    let port = g.smtp_port;
    let threads: Vec<_> = (0..20)
        .map(|c| {
            std::thread::spawn(move || {
                let script = format!(
                    "import smtplib\ns=smtplib.SMTP('127.0.0.1',{port},timeout=60)\n\
                     for i in range(10):\n    s.sendmail('c{c}@example.org',['bob@example.com'],\
                     ('From: c{c}@example.org\\r\\nSubject: m-{c}-%d\\r\\n\\r\\nbody %d\\r\\n' % (i,i)).encode())\ns.quit()\n"
                );
                let st = Command::new(PYTHON).arg("-c").arg(script).status().unwrap();
                assert!(st.success());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(g.ids(Queue::Incoming).len(), 200);
    g.flush();
    let got = g.relay.wait_messages(200, Duration::from_secs(30));
    let mut seen = HashMap::new();
    for m in &got {
        let text = String::from_utf8_lossy(&m.data).into_owned();
        let subj = text
            .lines()
            .find(|l| l.starts_with("Subject: m-"))
            .unwrap()
            .to_string();
        *seen.entry(subj).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 200, "every message delivered");
    assert!(seen.values().all(|&n| n == 1), "none twice");
    assert!(fs::read_dir(g.ts.spool.queue(Queue::Outgoing))
        .unwrap()
        .filter_map(|e| e.ok())
        .all(|e| e.file_name().to_string_lossy().starts_with('.')));
}
