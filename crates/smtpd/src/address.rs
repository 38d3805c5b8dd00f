//! Envelope addresses from `MAIL FROM` and `RCPT TO` (RFC 5321 4.1.2): the syntax smtpd accepts,
//! and the one normal form that is stored in the spool, logged, and matched by
//! `smtpd_check_rules`.
//!
//! The normal form is what makes the access rules and the locality check hard to sidestep: a
//! source route is dropped (`<@evil.example:bob@example.com>` is `bob@example.com`, as RFC 5321
//! 3.6.1 allows), a quoted local part that needs no quotes loses them (`"noreply"@example.com` is
//! `noreply@example.com`), quoted pairs are decoded, and one trailing dot of the domain is removed
//! (`example.com.`). Comments and other characters outside RFC 5321's grammar are refused, not
//! interpreted. Case is kept as sent (local parts may be case-sensitive); the rules compare
//! without case.
//!
//! Refused whatever the configuration, because each one asks a later program to do something
//! other than deliver to one mailbox:
//! - an `@` in the local part, quoted or not (`"bob@evil.example"@example.com`): a relay request;
//! - an address that starts with `-` (Postfix's `allow_min_user = no`): it would be an option on
//!   a sendmail command line;
//! - a non-ASCII address (553 5.6.7): SMTPUTF8 is not offered.
//!
//! `%` and `!` in the local part (the percent hack and UUCP bang paths) are relay requests too;
//! whether they are refused is the configuration's choice ([`RelayPolicy`]), checked for
//! recipients by the session.

/// Longest address inside the angle brackets (RFC 5321 4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// An address taken apart: the local part as the mailbox sees it (quotes and quoted pairs
/// decoded) and the domain (without its trailing dot), if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub local: String,
    pub domain: Option<String>,
}

impl Mailbox {
    /// The address as stored and matched: the local part quoted only when it has to be.
    pub fn normal(&self) -> String {
        let local = if is_dot_string(&self.local) {
            self.local.clone()
        } else {
            let mut q = String::with_capacity(self.local.len() + 2);
            q.push('"');
            for c in self.local.chars() {
                if c == '"' || c == '\\' {
                    q.push('\\');
                }
                q.push(c);
            }
            q.push('"');
            q
        };
        match &self.domain {
            Some(d) => format!("{local}@{d}"),
            None => local,
        }
    }
}

/// Which relay requests in a recipient's local part are let through
/// (`[smtpd] allow_percent_hack`, `allow_bang_path`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayPolicy {
    pub allow_percent_hack: bool,
    pub allow_bang_path: bool,
}

impl RelayPolicy {
    /// The reply refusing `m` as a recipient, if the policy refuses it.
    pub fn refusal(&self, m: &Mailbox) -> Option<&'static str> {
        if !self.allow_percent_hack && m.local.contains('%') {
            return Some("553 5.7.1 Percent hack (user%host@domain) not accepted");
        }
        if !self.allow_bang_path && m.local.contains('!') {
            return Some("553 5.7.1 Bang path (host!user) not accepted");
        }
        None
    }
}

/// Characters of an unquoted atom (RFC 5321 4.1.2 `atext`).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// A local part that can be written without quotes. Dots are taken as they come (`a..b`, `.a`):
/// some large senders use such addresses, and they mean nothing to any relay.
fn is_dot_string(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| is_atext(c) || c == '.')
}

/// `example.com`, `mx-1.example.com`, or an address literal `[192.0.2.1]` / `[IPv6:...]`.
fn is_domain(d: &str) -> bool {
    if let Some(lit) = d.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return !lit.is_empty()
            && lit
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '[' && c != ']' && c != '\\');
    }
    !d.is_empty()
        && d.len() <= 255
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn without_trailing_dot(d: &str) -> &str {
    if d.starts_with('[') {
        d
    } else {
        d.strip_suffix('.').unwrap_or(d)
    }
}

/// Parse the text between the angle brackets (not empty: `<>` is the caller's business).
/// `Err` is the complete reply line.
pub fn parse(inner: &str) -> Result<Mailbox, String> {
    if !inner.is_ascii() {
        return Err("553 5.6.7 Non-ASCII address, and SMTPUTF8 is not offered".into());
    }
    if inner.len() > MAX_PATH {
        return Err("501 5.1.7 Address too long".into());
    }
    // A source route `@one.example,@two.example:` is checked, then ignored.
    let mailbox = match inner.strip_prefix('@') {
        Some(_) => {
            let (route, rest) = inner
                .split_once(':')
                .ok_or_else(|| "501 5.1.7 Syntax: bad source route".to_string())?;
            let ok = route
                .split(',')
                .all(|hop| hop.strip_prefix('@').is_some_and(is_domain));
            if !ok {
                return Err("501 5.1.7 Syntax: bad source route".into());
            }
            rest
        }
        None => inner,
    };
    let (local, rest) = if let Some(q) = mailbox.strip_prefix('"') {
        let mut local = String::new();
        let mut chars = q.char_indices();
        let mut close = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    close = Some(i);
                    break;
                }
                '\\' => match chars.next() {
                    Some((_, e)) if e == ' ' || e.is_ascii_graphic() => local.push(e),
                    _ => return Err("501 5.1.7 Syntax: bad quoted local part".into()),
                },
                c if c == ' ' || c.is_ascii_graphic() => local.push(c),
                _ => return Err("501 5.1.7 Syntax: bad quoted local part".into()),
            }
        }
        let close = close.ok_or_else(|| "501 5.1.7 Syntax: unterminated quote".to_string())?;
        (local, &q[close + 1..])
    } else {
        match mailbox.rfind('@') {
            Some(at) => (mailbox[..at].to_string(), &mailbox[at..]),
            None => (mailbox.to_string(), ""),
        }
    };
    let domain = match rest {
        "" => None,
        r => {
            let d = r
                .strip_prefix('@')
                .ok_or_else(|| "501 5.1.7 Syntax: garbage after the local part".to_string())?;
            let d = without_trailing_dot(d);
            if !is_domain(d) {
                return Err("501 5.1.2 Syntax: bad domain in address".into());
            }
            Some(d.to_string())
        }
    };
    if local.contains('@') {
        return Err("553 5.7.1 An @ in the local part (a relay request) is not accepted".into());
    }
    let quoted = mailbox.starts_with('"');
    if local.is_empty() || (!quoted && !is_dot_string(&local)) {
        return Err("501 5.1.3 Syntax: bad local part in address".into());
    }
    if local.starts_with('-') {
        return Err("553 5.1.7 Addresses starting with - are not accepted".into());
    }
    Ok(Mailbox { local, domain })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<String, String> {
        parse(s).map(|m| m.normal())
    }

    #[test]
    fn normal_forms() {
        for (input, want) in [
            ("bob@example.com", "bob@example.com"),
            ("Bob@Example.COM", "Bob@Example.COM"),
            ("bob@example.com.", "bob@example.com"),
            ("\"bob\"@example.com", "bob@example.com"),
            ("\"no\\reply\"@example.com", "noreply@example.com"),
            ("\"john smith\"@example.com", "\"john smith\"@example.com"),
            ("\"a\\\"b\"@example.com", "\"a\\\"b\"@example.com"),
            ("@evil.example:bob@example.com", "bob@example.com"),
            ("@a.example,@b.example:bob@example.com", "bob@example.com"),
            ("postmaster", "postmaster"),
            ("x.y+z@[192.0.2.1]", "x.y+z@[192.0.2.1]"),
            ("a%b@example.com", "a%b@example.com"),
            ("host!a@example.com", "host!a@example.com"),
            ("a..b@example.com", "a..b@example.com"),
        ] {
            assert_eq!(norm(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn refusals() {
        for (input, code) in [
            ("\"bob@evil.example\"@example.com", "553 5.7.1"),
            ("bob@evil.example@example.com", "553 5.7.1"),
            ("-be@example.com", "553 5.1.7"),
            ("\"-bs\"@example.com", "553 5.1.7"),
            ("@x.example:-bs@example.com", "553 5.1.7"),
            ("j\u{f6}rg@example.com", "553 5.6.7"),
            ("bob@b\u{fc}cher.example", "553 5.6.7"),
            ("noreply(comment)@example.com", "501 5.1.3"),
            ("bob@example.com..", "501 5.1.2"),
            ("bob@", "501 5.1.2"),
            ("bob@exa_mple.com", "501 5.1.2"),
            ("@evil.example", "501 5.1.7"),
            ("@evil..example:bob@example.com", "501 5.1.7"),
            ("\"unterminated@example.com", "501 5.1.7"),
            ("\"a\"b@example.com", "501 5.1.7"),
            ("@example.com", "501 5.1.7"),
            ("\"\"@example.com", "501 5.1.3"),
        ] {
            let e = norm(input).unwrap_err();
            assert!(e.starts_with(code), "{input}: {e}");
        }
    }

    #[test]
    fn relay_policy() {
        let strict = RelayPolicy::default();
        let open = RelayPolicy {
            allow_percent_hack: true,
            allow_bang_path: true,
        };
        for a in ["a%b@example.com", "\"a%b\"@example.com", "h!a@example.com"] {
            let m = parse(a).unwrap();
            assert!(strict.refusal(&m).is_some(), "{a}");
            assert!(open.refusal(&m).is_none(), "{a}");
        }
        assert!(strict.refusal(&parse("bob@example.com").unwrap()).is_none());
    }
}
