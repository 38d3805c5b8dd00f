//! What the server says: replies (code, lines, RFC 3463 status), the EHLO extensions, and a
//! transaction's replies per recipient.

/// One SMTP reply: the code and its text lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// 2xx. Only this is acceptance: a 3xx where RFC 5321 expects 250 (RCPT) is a server out of
    /// step, and counting it as accepted would mark a recipient `SENT` that nobody took.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }
    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    /// 5xx: will never work; bounce.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
    /// The text of all lines joined by a space (for logs and DSNs).
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
    /// The RFC 3463 enhanced status code at the start of the first line (`5.1.1`), if any.
    pub fn enhanced(&self) -> Option<String> {
        let first = self.lines.first()?.split_whitespace().next()?;
        let parts: Vec<&str> = first.split('.').collect();
        let ok = parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
        ok.then(|| first.to_string())
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

/// The ESMTP extensions a server announced in its EHLO reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extensions {
    pub esmtp: bool,
    pub starttls: bool,
    pub pipelining: bool,
    pub eightbitmime: bool,
    pub smtputf8: bool,
    /// SIZE offered; the number is the limit (0 = no fixed limit).
    pub size: Option<u64>,
}

impl Extensions {
    /// Parse an EHLO reply (the first line is the greeting, the rest keywords).
    pub fn parse(reply: &Reply) -> Extensions {
        let mut e = Extensions {
            esmtp: true,
            ..Extensions::default()
        };
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(kw) = words.next() else { continue };
            match kw.to_ascii_uppercase().as_str() {
                "STARTTLS" => e.starttls = true,
                "PIPELINING" => e.pipelining = true,
                "8BITMIME" => e.eightbitmime = true,
                "SMTPUTF8" => e.smtputf8 = true,
                "SIZE" => e.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                _ => {}
            }
        }
        e
    }
}

/// The per-recipient result of one transaction.
#[derive(Clone, Debug)]
pub struct Transaction {
    /// The reply to each RCPT, in the order given.
    pub rcpt: Vec<Reply>,
    /// The reply to the final dot; None when no recipient was accepted (no DATA was sent).
    pub data: Option<Reply>,
}

impl Transaction {
    /// The outcome for recipient `i`: its RCPT reply if refused, else the DATA reply.
    pub fn outcome(&self, i: usize) -> &Reply {
        let r = &self.rcpt[i];
        match (&self.data, r.is_positive()) {
            (Some(d), true) => d,
            _ => r,
        }
    }
}
