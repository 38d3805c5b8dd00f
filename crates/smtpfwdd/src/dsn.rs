//! Bounces: RFC 3464 delivery status notifications, and the admin alert for mail that cannot be
//! bounced.
//!
//! A DSN is a `multipart/report; report-type=delivery-status` message from `<>` to the envelope
//! sender with three parts: a human-readable text (template `etc/bounce.tmpl`), the
//! `message/delivery-status` part (one block per failed recipient), and the original message's
//! header (`text/rfc822-headers`). It is written into `outgoing/` like any notice, so smtpfwdd
//! delivers it itself.
//!
//! Whatever the relay said reaches the bounce only through [`printable`] (its reply is hostile
//! text), and the template is filled in one pass (`spool::notice::render`).
//!
//! A message from `<>` is never bounced (a bounce of a bounce can loop between two gateways):
//! it goes to quarantine and the admin is told.

use spool::{notice, Config, MessageId, Spool};
use std::io::{BufRead, Read};

/// The built-in text of `etc/bounce.tmpl`, used when the file is absent.
pub const DEFAULT_TEMPLATE: &str = "Subject: Undelivered Mail Returned to Sender

This is the mail system at host {hostname}.

Your message could not be delivered to one or more recipients.
It is attached below.

{failures}
For further assistance, please contact <{admin}>.
";

/// Largest original header section copied into a DSN.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// One recipient that failed for good.
#[derive(Clone, Debug)]
pub struct FailedRecipient {
    /// The recipient with brackets.
    pub rcpt: String,
    /// RFC 3463 status (`5.1.1`).
    pub status: String,
    /// `smtp; 550 5.1.1 No such user` or `x-unix; ...`.
    pub diagnostic: String,
    /// The server that gave the answer, if one did.
    pub remote_mta: Option<String>,
}

/// The original header section of a spooled body (up to the first empty line), bounded.
pub fn original_headers(body: &mut dyn BufRead) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut limited = body.take(MAX_HEADER_BYTES as u64);
    loop {
        line.clear();
        match limited.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line == b"\n" || line == b"\r\n" {
            break;
        }
        out.extend_from_slice(&line);
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out
}

/// What of a server's reply (or any text it influenced) goes into a bounce: printable ASCII and
/// spaces; every other character (ESC, BEL, CR, backspace, bidi overrides, ...) becomes `?`, so
/// a relay cannot drive the reader's terminal, fake lines or reorder text. Leading and trailing
/// blanks go.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect::<String>()
        .trim()
        .to_string()
}

fn boundary(id: &MessageId) -> String {
    format!("{}/{}.{}", id, MessageId::generate(), std::process::id())
}

/// Build the DSN message (LF line ends, as in the spool).
pub fn build(
    spool: &Spool,
    cfg: &Config,
    id: &MessageId,
    sender: &str,
    arrival: chrono::DateTime<chrono::Local>,
    failures: &[FailedRecipient],
    headers: &[u8],
) -> Vec<u8> {
    let now = spool::clock::now();
    let host = notice::clean_header(&cfg.hostname);
    let to = notice::clean_header(spool::envelope::strip_brackets(sender));
    let mut listing = String::new();
    for f in failures {
        listing.push_str(&format!(
            "<{}>: {}\n",
            spool::envelope::strip_brackets(&f.rcpt),
            printable(&f.diagnostic)
        ));
    }
    let tmpl = notice::load_template(spool, "bounce.tmpl", DEFAULT_TEMPLATE);
    let text = notice::render(
        &tmpl,
        &[
            ("hostname", &host),
            ("failures", &listing),
            ("admin", &cfg.admin),
            ("sender", &to),
            ("id", id.as_str()),
        ],
    );
    let (subject, text) = notice::split_template(&text);
    let subject = if subject.is_empty() {
        "Undelivered Mail Returned to Sender".to_string()
    } else {
        subject
    };
    let b = boundary(id);
    let mut m = String::new();
    m.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{host}>\n"
    ));
    m.push_str(&format!("To: <{to}>\n"));
    m.push_str(&format!("Subject: {}\n", notice::encode_header(&subject)));
    m.push_str(&format!("Date: {}\n", spool::clock::rfc5322(&now)));
    m.push_str(&format!(
        "Message-ID: <{}.{}@{host}>\n",
        now.format("%Y%m%d%H%M%S"),
        MessageId::generate()
    ));
    m.push_str("Auto-Submitted: auto-replied\n");
    m.push_str("MIME-Version: 1.0\n");
    m.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"{b}\"\n"
    ));
    m.push_str("\nThis is a MIME-encapsulated message.\n\n");
    m.push_str(&format!("--{b}\n"));
    m.push_str("Content-Description: Notification\n");
    m.push_str("Content-Type: text/plain; charset=utf-8\n");
    m.push_str("Content-Transfer-Encoding: 8bit\n\n");
    m.push_str(&text.replace("\r\n", "\n"));
    if !m.ends_with('\n') {
        m.push('\n');
    }
    m.push_str(&format!("\n--{b}\n"));
    m.push_str("Content-Description: Delivery report\n");
    m.push_str("Content-Type: message/delivery-status\n\n");
    m.push_str(&format!("Reporting-MTA: dns; {host}\n"));
    m.push_str(&format!("X-Gateway-Queue-ID: {id}\n"));
    m.push_str(&format!(
        "Arrival-Date: {}\n",
        spool::clock::rfc5322(&arrival)
    ));
    for f in failures {
        m.push('\n');
        m.push_str(&format!(
            "Final-Recipient: rfc822; {}\n",
            notice::clean_header(spool::envelope::strip_brackets(&f.rcpt))
        ));
        m.push_str("Action: failed\n");
        m.push_str(&format!("Status: {}\n", printable(&f.status)));
        if let Some(r) = &f.remote_mta {
            m.push_str(&format!("Remote-MTA: dns; {}\n", printable(r)));
        }
        m.push_str(&format!("Diagnostic-Code: {}\n", printable(&f.diagnostic)));
    }
    m.push_str(&format!("\n--{b}\n"));
    m.push_str("Content-Description: Undelivered Message Headers\n");
    m.push_str("Content-Type: text/rfc822-headers\n\n");
    let mut out = m.into_bytes();
    out.extend_from_slice(headers);
    out.extend_from_slice(format!("\n--{b}--\n").as_bytes());
    out
}

/// Write a DSN into outgoing (or hand it to `sendmail` when configured). Returns its id.
pub fn submit(
    spool: &Spool,
    cfg: &Config,
    sender: &str,
    message: &[u8],
) -> spool::Result<Option<MessageId>> {
    let to = spool::envelope::strip_brackets(sender).to_string();
    notice::submit_raw(spool, cfg, "<>", &[to], message)
}

/// Tell the admin about a message that went to quarantine. Never sent about a message that was
/// itself addressed to the admin (an alert that cannot be delivered must not breed alerts).
pub fn alert_admin(
    spool: &Spool,
    cfg: &Config,
    id: &MessageId,
    subject: &str,
    body: &str,
    about_rcpts: &[String],
) {
    let admin = cfg.admin.to_ascii_lowercase();
    if about_rcpts
        .iter()
        .any(|r| spool::envelope::strip_brackets(r).to_ascii_lowercase() == admin)
    {
        log::error!(
            "{id}: not alerting {} about mail addressed to it",
            cfg.admin
        );
        return;
    }
    let n = notice::Notice {
        envelope_from: "<>".into(),
        to: vec![cfg.admin.clone()],
        from_header: format!("smtpfwdd <MAILER-DAEMON@{}>", cfg.hostname),
        subject: subject.to_string(),
        body: body.to_string(),
        extra_headers: vec![("X-Gateway-Queue-ID".into(), id.to_string())],
    };
    match n.submit(spool, cfg) {
        Ok(Some(aid)) => log::info!("{id}: admin alert {aid} queued for {}", cfg.admin),
        Ok(None) => log::info!("{id}: admin alert sent to {}", cfg.admin),
        Err(e) => log::error!("{id}: cannot alert the admin: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_shape() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let cfg = Config::default();
        let id = MessageId::parse("smtpdAb3xYz").unwrap();
        let mut body: &[u8] = b"Received: x\nSubject: hi\n\nsecret body\n";
        let h = original_headers(&mut body);
        assert_eq!(h, b"Received: x\nSubject: hi\n");
        let m = build(
            &s,
            &cfg,
            &id,
            "<a@example.org>",
            spool::clock::now(),
            &[FailedRecipient {
                rcpt: "<reject@example.com>".into(),
                status: "5.1.1".into(),
                diagnostic: "smtp; 550 5.1.1 No such user".into(),
                remote_mta: Some("127.0.0.1".into()),
            }],
            &h,
        );
        let m = String::from_utf8(m).unwrap();
        assert!(
            m.contains("multipart/report; report-type=delivery-status"),
            "{m}"
        );
        assert!(
            m.contains("Final-Recipient: rfc822; reject@example.com\n"),
            "{m}"
        );
        assert!(m.contains("Status: 5.1.1\n"), "{m}");
        assert!(
            m.contains("text/rfc822-headers\n\nReceived: x\nSubject: hi\n"),
            "{m}"
        );
        assert!(!m.contains("secret body"), "{m}");
        assert!(m.contains("To: <a@example.org>\n"), "{m}");
    }
}
