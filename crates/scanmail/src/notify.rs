//! The admin alert and the courteous sender notice, written through `spool::notice` (into
//! `outgoing/`, or the configured sendmail). Texts come from `etc/alert.tmpl` and
//! `etc/sender-notice.tmpl`; the defaults below are used when a file is missing.
//!
//! A sender notice never goes to the null sender, MAILER-DAEMON or postmaster, nor answers mail
//! marked Auto-Submitted or Precedence bulk/list/junk: a notice must not start a mail loop, and
//! most virus senders are forged anyway.

use crate::judge::{Decision, Facts};
use spool::envelope::strip_brackets;
use spool::notice::{self, Notice};
use spool::verdict::Verdict;
use spool::{Config, MessageId, Spool};

pub const DEFAULT_ALERT: &str = "Subject: [{hostname}] {verdict}: {id} from {sender}

The virus firewall on {hostname} put a message in quarantine.

Time:       {time}
Message:    {id}
Sender:     {sender}
Recipients: {recipients}
Subject:    {subject}
Verdict:    {verdict}
Found:      {name}
Part:       {part}
Detail:     {detail}

The message is kept in {queue}/{id} (decoded parts in {queue}/{id}_d/).
Release it, as root, with:  /usr/local/sbin/scanmail --release {id}
";

pub const DEFAULT_SENDER_NOTICE: &str = "Subject: Your message was not delivered: {name}

Hello,

your message to {recipients}
with the subject \"{subject}\", sent {time},
was stopped by the virus firewall at {hostname} because it contains
{what}.

Nothing was delivered. Please check your computer with an up-to-date
virus scanner, or send the file in another form. If you believe this
is a mistake, write to {admin} and quote the reference {id}.
";

/// Every placeholder the templates may use.
fn vars(cfg: &Config, id: &MessageId, d: &Decision, f: &Facts) -> Vec<(&'static str, String)> {
    let env = f.envelope.as_ref();
    let sender = env.map(|e| e.from.clone()).unwrap_or_default();
    let rcpts = env
        .map(|e| {
            e.recipients
                .iter()
                .map(|r| r.addr.clone())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let what = match d.verdict {
        Verdict::Virus => format!("the virus {}", d.name),
        Verdict::Banned => format!(
            "an attachment of a type that is not accepted here ({})",
            if d.part.is_empty() { &d.name } else { &d.part }
        ),
        _ => d.detail.clone(),
    };
    vec![
        ("time", spool::clock::rfc5322(&spool::clock::now())),
        ("id", id.to_string()),
        ("sender", sender),
        ("recipients", rcpts),
        ("subject", notice::clean_header(&f.subject)),
        ("verdict", d.verdict.as_str().to_string()),
        (
            "name",
            if d.name.is_empty() {
                d.detail.clone()
            } else {
                d.name.clone()
            },
        ),
        ("part", d.part.clone()),
        ("detail", d.detail.clone()),
        ("what", what),
        ("hostname", cfg.hostname.clone()),
        ("admin", cfg.admin.clone()),
        ("queue", "quarantine".into()),
        ("size", f.size.to_string()),
    ]
}

fn build(
    spool: &Spool,
    cfg: &Config,
    tmpl: &str,
    default: &str,
    v: &[(&str, String)],
    to: String,
) -> Notice {
    let text = notice::load_template(spool, tmpl, default);
    let pairs: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (subject, body) = notice::split_template(&notice::render(&text, &pairs));
    Notice {
        envelope_from: "<>".into(),
        to: vec![to],
        from_header: format!("Virus firewall <MAILER-DAEMON@{}>", cfg.hostname),
        subject,
        body,
        extra_headers: vec![],
    }
}

/// Alert the admin about a quarantined message.
pub fn alert(
    spool: &Spool,
    cfg: &Config,
    id: &MessageId,
    d: &Decision,
    f: &Facts,
) -> spool::Result<()> {
    let v = vars(cfg, id, d, f);
    let n = build(
        spool,
        cfg,
        "alert.tmpl",
        DEFAULT_ALERT,
        &v,
        cfg.admin.clone(),
    );
    n.submit(spool, cfg).map(|_| ())
}

/// Why no notice goes to this sender, or None when one may.
pub fn sender_notice_refused(cfg: &Config, d: &Decision, f: &Facts) -> Option<&'static str> {
    if !cfg.scan.notify_sender {
        return Some("notify_sender = false");
    }
    if !matches!(d.verdict, Verdict::Virus | Verdict::Banned) {
        return Some("not a virus or banned attachment");
    }
    let env = f.envelope.as_ref()?;
    let addr = strip_brackets(&env.from);
    if addr.is_empty() {
        return Some("null sender");
    }
    let local = addr.rsplit_once('@').map(|(l, _)| l).unwrap_or(addr);
    if local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster") {
        return Some("sender is a daemon address");
    }
    if f.auto_submitted
        .as_deref()
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"))
    {
        return Some("Auto-Submitted mail");
    }
    if f.precedence.as_deref().is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        v == "bulk" || v == "list" || v == "junk"
    }) {
        return Some("Precedence bulk/list/junk");
    }
    None
}

/// Tell the sender, when allowed; returns whether a notice was written.
pub fn sender_notice(
    spool: &Spool,
    cfg: &Config,
    id: &MessageId,
    d: &Decision,
    f: &Facts,
) -> spool::Result<bool> {
    if sender_notice_refused(cfg, d, f).is_some() {
        return Ok(false);
    }
    let Some(env) = f.envelope.as_ref() else {
        return Ok(false);
    };
    let to = strip_brackets(&env.from).to_string();
    let v = vars(cfg, id, d, f);
    let n = build(
        spool,
        cfg,
        "sender-notice.tmpl",
        DEFAULT_SENDER_NOTICE,
        &v,
        to,
    );
    n.submit(spool, cfg).map(|_| true)
}
