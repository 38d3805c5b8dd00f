//! Mail the gateway writes itself: admin alerts, courteous sender notices, bounces, the nightly
//! summary. A notice is a new message in the spool format written into `outgoing/` (smtpfwdd
//! delivers it; no MTA is needed on the box), or piped to a sendmail-compatible program when
//! `sendmail` is set in gateway.conf.
//!
//! Texts come from editable templates in `etc/` with `{name}` placeholders, filled in one pass
//! (a value holding `{admin}` is never expanded); the caller passes a built-in default used when
//! the file is absent. Header values are cleaned of CR, LF and other
//! control characters, so nothing a sender wrote can add a header line.

use crate::clock;
use crate::config::Config;
use crate::envelope::Envelope;
use crate::error::{Error, IoContext, Result};
use crate::id::MessageId;
use crate::layout::{Queue, Spool};
use crate::store;
use std::io::Write;
use std::process::{Command, Stdio};

/// A plain-text notice.
#[derive(Clone, Debug)]
pub struct Notice {
    /// Envelope sender with brackets; `<>` for bounces and notices that must never be answered.
    pub envelope_from: String,
    /// Bare addresses.
    pub to: Vec<String>,
    /// The From: header (e.g. `MAILER-DAEMON@host`, `"Virus firewall" <postmaster@host>`).
    pub from_header: String,
    pub subject: String,
    pub body: String,
    /// Extra header lines (`Name: value`), cleaned like the others.
    pub extra_headers: Vec<(String, String)>,
}

/// Remove CR, LF and other control characters from a header value.
pub fn clean_header(v: &str) -> String {
    v.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Encode a header value as an RFC 2047 encoded word when it is not plain ASCII.
pub fn encode_header(v: &str) -> String {
    let v = clean_header(v);
    if v.is_ascii() {
        return v;
    }
    // One encoded word per 45 input bytes keeps each word under 75 characters.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for ch in v.chars() {
        if chunk.len() + ch.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(ch);
    }
    words.push(chunk);
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", b64(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\n ")
}

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Replace `{name}` placeholders in one pass over the template; unknown ones are left as they
/// are. The values are never read again: a subject, address or server reply holding `{admin}`
/// stays `{admin}` (filling one placeholder after another would expand it).
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v, close))
        });
        match value {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A template from `etc/<name>`, or the built-in default when the file does not exist.
/// A template starts with `Subject: ...` on its first line, then a blank line, then the body.
pub fn load_template(spool: &Spool, name: &str, default: &str) -> String {
    std::fs::read_to_string(spool.etc_file(name)).unwrap_or_else(|_| default.to_string())
}

/// Split a rendered template into (subject, body).
pub fn split_template(text: &str) -> (String, String) {
    if let Some(rest) = text.strip_prefix("Subject:") {
        let (subj, body) = rest.split_once('\n').unwrap_or((rest, ""));
        let body = body.strip_prefix('\n').unwrap_or(body);
        (subj.trim().to_string(), body.to_string())
    } else {
        (String::new(), text.to_string())
    }
}

impl Notice {
    /// The RFC 5322 message text (LF line ends, as in the spool).
    pub fn to_message(&self, cfg: &Config) -> String {
        let now = clock::now();
        let mut h = String::new();
        h.push_str(&format!("From: {}\n", clean_header(&self.from_header)));
        h.push_str(&format!("To: {}\n", clean_header(&self.to.join(", "))));
        h.push_str(&format!("Subject: {}\n", encode_header(&self.subject)));
        h.push_str(&format!("Date: {}\n", clock::rfc5322(&now)));
        h.push_str(&format!(
            "Message-ID: <{}.{}@{}>\n",
            now.format("%Y%m%d%H%M%S"),
            MessageId::generate(),
            clean_header(&cfg.hostname)
        ));
        h.push_str("Auto-Submitted: auto-generated\n");
        h.push_str("MIME-Version: 1.0\n");
        h.push_str("Content-Type: text/plain; charset=utf-8\n");
        h.push_str("Content-Transfer-Encoding: 8bit\n");
        for (k, v) in &self.extra_headers {
            let k: String = k
                .chars()
                .filter(|c| c.is_ascii_graphic() && *c != ':')
                .collect();
            h.push_str(&format!("{k}: {}\n", clean_header(v)));
        }
        h.push('\n');
        let mut body = self.body.replace("\r\n", "\n");
        if !body.ends_with('\n') {
            body.push('\n');
        }
        h + &body
    }

    /// Deliver the notice: into outgoing/, or through the configured sendmail program.
    /// Returns the id when written into the spool.
    pub fn submit(&self, spool: &Spool, cfg: &Config) -> Result<Option<MessageId>> {
        let msg = self.to_message(cfg);
        submit_raw(spool, cfg, &self.envelope_from, &self.to, msg.as_bytes())
    }
}

/// Submit a ready message (headers + body, LF line ends) from `envelope_from` (with brackets) to
/// bare addresses `to`: into outgoing/, or `sendmail -oi -f FROM -- RCPT...`.
pub fn submit_raw(
    spool: &Spool,
    cfg: &Config,
    envelope_from: &str,
    to: &[String],
    message: &[u8],
) -> Result<Option<MessageId>> {
    let env = Envelope::new(
        clean_header(envelope_from),
        to.iter()
            .map(|a| format!("<{}>", clean_header(a.trim_matches(['<', '>'])))),
    );
    env.validate()?;
    if cfg.sendmail.is_empty() {
        return store::write_message(spool, Queue::Outgoing, &env, message).map(Some);
    }
    let from = crate::envelope::strip_brackets(&env.from).to_string();
    let mut cmd = Command::new(&cfg.sendmail);
    // `--`: a recipient starting with `-` is an address, never an option of the program.
    cmd.arg("-oi").arg("-f").arg(&from).arg("--");
    for r in &env.recipients {
        cmd.arg(crate::envelope::strip_brackets(&r.addr));
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .at(&cfg.sendmail)?;
    let wrote = child
        .stdin
        .take()
        .map(|mut s| s.write_all(message))
        .unwrap_or(Ok(()));
    let status = child.wait().at(&cfg.sendmail)?;
    wrote.at(&cfg.sendmail)?;
    if !status.success() {
        return Err(Error::io(
            &cfg.sendmail,
            std::io::Error::other(format!("exited with {status}")),
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_header_injection() {
        let cfg = Config::default();
        let n = Notice {
            envelope_from: "<>".into(),
            to: vec!["victim@example.com\nBcc: all@example.com".into()],
            from_header: "MAILER-DAEMON".into(),
            subject: "Virus found\r\nX-Evil: 1".into(),
            body: "hello".into(),
            extra_headers: vec![],
        };
        let m = n.to_message(&cfg);
        let headers = m.split("\n\n").next().unwrap();
        assert!(
            !headers
                .lines()
                .any(|l| l.starts_with("Bcc:") || l.starts_with("X-Evil:")),
            "{m}"
        );
    }

    #[test]
    fn sendmail_gets_addresses_after_double_dash() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path().join("spool"));
        s.create().unwrap();
        let prog = t.path().join("sendmail");
        let args = t.path().join("args");
        std::fs::write(
            &prog,
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\" >> {}; done\ncat >/dev/null\n",
                args.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let cfg = Config {
            sendmail: prog.display().to_string(),
            ..Config::default()
        };
        let id = submit_raw(&s, &cfg, "<>", &["-bs@example.com".into()], b"x\n").unwrap();
        assert!(id.is_none());
        assert_eq!(
            std::fs::read_to_string(&args).unwrap(),
            "-oi\n-f\n\n--\n-bs@example.com\n"
        );
    }

    #[test]
    fn placeholders_are_filled_in_one_pass() {
        let vars = [
            ("subject", "Hi {admin} and {what}"),
            ("admin", "postmaster@example.com"),
            ("what", "a virus"),
        ];
        assert_eq!(
            render(
                "Subject: {subject}\n\nTo {admin}: {what} in {subject}. {unknown} {",
                &vars
            ),
            "Subject: Hi {admin} and {what}\n\nTo postmaster@example.com: a virus in \
             Hi {admin} and {what}. {unknown} {"
        );
        assert_eq!(render("{{admin}}", &vars), "{postmaster@example.com}");
        assert_eq!(render("é{what}ü", &vars), "éa virusü");
    }

    #[test]
    fn encoded_subject() {
        assert_eq!(encode_header("plain"), "plain");
        let e = encode_header("Virus gefunden: Grüße");
        assert!(e.starts_with("=?UTF-8?B?"), "{e}");
        assert_eq!(b64(b"Man"), "TWFu");
        assert_eq!(b64(b"Ma"), "TWE=");
    }

    #[test]
    fn writes_into_outgoing() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let cfg = Config::default();
        let (subject, body) = split_template(&render(
            "Subject: Virus {virus} found\n\nDear {sender},\n",
            &[("virus", "Eicar"), ("sender", "a@b")],
        ));
        assert_eq!(subject, "Virus Eicar found");
        let n = Notice {
            envelope_from: "<>".into(),
            to: vec!["a@b".into()],
            from_header: "MAILER-DAEMON".into(),
            subject,
            body,
            extra_headers: vec![],
        };
        let id = n.submit(&s, &cfg).unwrap().unwrap();
        let (env, body) = Envelope::read_body(&s.message(Queue::Outgoing, &id)).unwrap();
        assert!(env.is_null_sender());
        assert_eq!(env.recipients[0].addr, "<a@b>");
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains("Subject: Virus Eicar found\n"), "{body}");
        assert!(body.contains("\n\nDear a@b,\n"), "{body}");
    }
}
