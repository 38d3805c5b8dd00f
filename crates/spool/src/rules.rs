//! `etc/smtpd_check_rules`: Obtuse smtpd's per-recipient access rules.
//!
//! One rule per line, `action:clients:senders:recipients[:reply]`; `#` lines and blank lines are
//! ignored, a reply field starting with `#` is a comment. Rules are tried in order for every RCPT
//! and the first whose three fields all match decides (a `debug` rule only logs and goes on).
//!
//! A field is a list of patterns separated by spaces, commas or tabs; `EXCEPT` starts a list of
//! exceptions (`ALL EXCEPT *.example.com`). Patterns, all case-insensitive:
//! - `ALL` matches anything;
//! - `KNOWN` / `UNKNOWN`: a client whose name is known from DNS / is not; for addresses, a
//!   non-empty address / the null sender `<>`;
//! - `/regex/`: an extended regular expression searched in the name, the IP or the address;
//! - `a.b.c.d/bits`: a client IP in that network;
//! - `.example.com` (a client name ending so) and `192.168.` (an IP starting so), tcp_wrappers' way;
//! - anything else: a name, IP or address with `*` (any run) and `?` (one character) wildcards,
//!   so `10.1.2.*` and `*@example.com` work as in Obtuse's examples.
//!
//! Our decision (OBTUSE.md): bad lines are errors at start-up naming their line, and the program
//! refuses to start, rather than running with a rule silently missing.

use regex::{Regex, RegexBuilder};
use std::net::IpAddr;
use std::path::Path;

/// Obtuse's default reply when a refusing rule gives none.
pub const DEFAULT_REPLY: &str =
    "550 Mail from %F to %T prohibited from your location (%U@%H ip=%I)";
/// Reply used when a rule's reply does not start with a 4xx/5xx code.
const FALLBACK_REPLY: &str = "550 Recipient not allowed";

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    BadLine {
        path: String,
        line: usize,
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Allow,
    /// Refuse the recipient, then end the session with 421.
    Deny,
    /// Refuse this recipient; the session goes on.
    Noto,
    DenyDelay,
    NotoDelay,
    /// Log the match and go on with the next rule.
    Debug,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        Some(match s.to_ascii_lowercase().as_str() {
            "allow" => Action::Allow,
            "deny" => Action::Deny,
            "noto" => Action::Noto,
            "deny_delay" => Action::DenyDelay,
            "noto_delay" => Action::NotoDelay,
            "debug" => Action::Debug,
            _ => return None,
        })
    }
}

#[derive(Debug)]
enum Pattern {
    All,
    Known,
    Unknown,
    Regex(Regex),
    Net { addr: IpAddr, bits: u8 },
    Suffix(String),
    Prefix(String),
    Glob(String),
    Except,
}

#[derive(Debug)]
struct Rule {
    line: usize,
    action: Action,
    clients: Vec<Pattern>,
    senders: Vec<Pattern>,
    recipients: Vec<Pattern>,
    reply: Option<String>,
}

/// What the rules know about the client.
#[derive(Clone, Debug, Default)]
pub struct Client {
    /// Name from reverse DNS (None: unknown, or lookups are off).
    pub name: Option<String>,
    pub ip: Option<IpAddr>,
}

impl Client {
    pub fn name_or_unknown(&self) -> &str {
        self.name.as_deref().unwrap_or("unknown")
    }
    pub fn ip_or_unknown(&self) -> String {
        self.ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// The verdict of the first matching rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub action: Action,
    /// The reply to send for refusing actions, substitutions done.
    pub reply: String,
    /// Line of the rule in the file (for the log).
    pub line: usize,
}

#[derive(Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Read the rules file; a missing file means no rules.
    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        match std::fs::read(path) {
            Ok(bytes) => Rules::parse(
                &String::from_utf8_lossy(&bytes),
                &path.display().to_string(),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Rules::default()),
            Err(e) => Err(RulesError::Read {
                path: path.display().to_string(),
                source: e,
            }),
        }
    }

    pub fn parse(text: &str, path: &str) -> Result<Rules, RulesError> {
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            if let Some(rule) = parse_line(raw, i + 1, path)? {
                rules.push(rule);
            }
        }
        Ok(Rules { rules })
    }

    /// Every bad line of a rules file, not only the first ([`Rules::load`] stops there):
    /// `mailwall check` names them all. A missing file has none.
    pub fn problems(path: &Path) -> Vec<RulesError> {
        let shown = path.display().to_string();
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(source) => {
                return vec![RulesError::Read {
                    path: shown,
                    source,
                }]
            }
        };
        text.lines()
            .enumerate()
            .filter_map(|(i, raw)| parse_line(raw, i + 1, &shown).err())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first matching rule other than `debug`; `debug` matches are returned in `debug_hits`
    /// (line numbers) so the caller can log them.
    pub fn check(
        &self,
        client: &Client,
        sender: &str,
        recipient: &str,
        debug_hits: &mut Vec<usize>,
    ) -> Option<Verdict> {
        let sender = bare(sender);
        let recipient = bare(recipient);
        for r in &self.rules {
            if list_match(&r.clients, &|p| client_match(p, client))
                && list_match(&r.senders, &|p| addr_match(p, sender))
                && list_match(&r.recipients, &|p| addr_match(p, recipient))
            {
                if r.action == Action::Debug {
                    debug_hits.push(r.line);
                    continue;
                }
                let template = r.reply.as_deref().unwrap_or(DEFAULT_REPLY);
                return Some(Verdict {
                    action: r.action,
                    reply: render_reply(template, client, sender, recipient),
                    line: r.line,
                });
            }
        }
        None
    }
}

/// One line of the rules file: None for blank and comment lines.
fn parse_line(raw: &str, line: usize, path: &str) -> Result<Option<Rule>, RulesError> {
    let t = raw.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let bad = |reason: String| RulesError::BadLine {
        path: path.to_string(),
        line,
        reason,
    };
    let fields: Vec<&str> = t.splitn(5, ':').collect();
    if fields.len() < 4 {
        return Err(bad(format!(
            "expected action:clients:senders:recipients[:reply], got {} field(s)",
            fields.len()
        )));
    }
    let action = Action::parse(fields[0].trim())
        .ok_or_else(|| bad(format!("unknown action {:?}", fields[0].trim())))?;
    let clients = parse_list(fields[1], true).map_err(&bad)?;
    let senders = parse_list(fields[2], false).map_err(&bad)?;
    let recipients = parse_list(fields[3], false).map_err(&bad)?;
    let reply = fields
        .get(4)
        .map(|r| r.trim())
        .filter(|r| !r.is_empty() && !r.starts_with('#'))
        .map(str::to_string);
    Ok(Some(Rule {
        line,
        action,
        clients,
        senders,
        recipients,
        reply,
    }))
}

fn bare(addr: &str) -> &str {
    let a = addr.trim();
    a.strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(a)
}

fn parse_list(field: &str, is_client: bool) -> Result<Vec<Pattern>, String> {
    let mut out = Vec::new();
    for item in field
        .split([' ', ',', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        out.push(parse_pattern(item, is_client)?);
    }
    if out.is_empty() {
        return Err("empty field (use ALL)".into());
    }
    if matches!(out.last(), Some(Pattern::Except)) || matches!(out.first(), Some(Pattern::Except)) {
        return Err("EXCEPT needs patterns on both sides".into());
    }
    Ok(out)
}

fn parse_pattern(item: &str, is_client: bool) -> Result<Pattern, String> {
    Ok(match item {
        "ALL" => Pattern::All,
        "KNOWN" => Pattern::Known,
        "UNKNOWN" => Pattern::Unknown,
        "EXCEPT" => Pattern::Except,
        _ if item.len() >= 2 && item.starts_with('/') && item.ends_with('/') => {
            let re = &item[1..item.len() - 1];
            Pattern::Regex(
                RegexBuilder::new(re)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| format!("bad regex {item}: {e}"))?,
            )
        }
        _ if is_client && item.contains('/') => {
            let (addr, bits) = parse_net(item)?;
            Pattern::Net { addr, bits }
        }
        _ if is_client && item.starts_with('.') && !item.contains(['*', '?']) => {
            Pattern::Suffix(item.to_ascii_lowercase())
        }
        _ if is_client
            && item.ends_with('.')
            && item[..item.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.') =>
        {
            Pattern::Prefix(item.to_string())
        }
        _ => Pattern::Glob(item.to_ascii_lowercase()),
    })
}

/// tcp_wrappers list semantics: `a b EXCEPT c d` matches when a or b match and neither c nor d;
/// a further EXCEPT makes exceptions to the exceptions.
fn list_match(list: &[Pattern], one: &dyn Fn(&Pattern) -> bool) -> bool {
    match list.iter().position(|p| matches!(p, Pattern::Except)) {
        Some(k) => list[..k].iter().any(one) && !list_match(&list[k + 1..], one),
        None => list.iter().any(one),
    }
}

fn client_match(p: &Pattern, c: &Client) -> bool {
    let ip = c.ip.map(|i| i.to_string());
    let name = c.name.as_deref().map(str::to_ascii_lowercase);
    match p {
        Pattern::All => true,
        Pattern::Known => c.name.is_some(),
        Pattern::Unknown => c.name.is_none(),
        Pattern::Except => false,
        Pattern::Regex(re) => {
            name.as_deref().is_some_and(|n| re.is_match(n))
                || ip.as_deref().is_some_and(|i| re.is_match(i))
        }
        Pattern::Net { addr, bits } => c.ip.is_some_and(|ip| in_net(ip, *addr, *bits)),
        Pattern::Suffix(s) => name.as_deref().is_some_and(|n| n.ends_with(s.as_str())),
        Pattern::Prefix(s) => ip.as_deref().is_some_and(|i| i.starts_with(s.as_str())),
        Pattern::Glob(g) => {
            name.as_deref()
                .is_some_and(|n| glob(g.as_bytes(), n.as_bytes()))
                || ip
                    .as_deref()
                    .is_some_and(|i| glob(g.as_bytes(), i.as_bytes()))
        }
    }
}

fn addr_match(p: &Pattern, addr: &str) -> bool {
    let lower = addr.to_ascii_lowercase();
    match p {
        Pattern::All => true,
        Pattern::Known => !addr.is_empty(),
        Pattern::Unknown => addr.is_empty(),
        Pattern::Except => false,
        Pattern::Regex(re) => re.is_match(addr),
        Pattern::Net { .. } | Pattern::Suffix(_) | Pattern::Prefix(_) => false,
        Pattern::Glob(g) => glob(g.as_bytes(), lower.as_bytes()),
    }
}

/// `a.b.c.d/bits` or `v6::/bits` → (address, prefix length).
pub fn parse_net(item: &str) -> Result<(IpAddr, u8), String> {
    let (a, b) = item
        .split_once('/')
        .ok_or_else(|| format!("bad network {item:?}: want address/bits"))?;
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("bad network address {item:?}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits: u8 = b
        .parse()
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| format!("bad prefix length in {item:?}"))?;
    Ok((addr, bits))
}

/// Whether `ip` is inside `net`/`bits`.
pub fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    // An IPv4 client seen through an IPv6 socket still matches IPv4 networks.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// `*` any run of bytes, `?` one byte; the whole string must match. Iterative with one
/// backtrack point, so hostile input cannot make it exponential.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        // The star is tried first: taken as a literal when the subject holds a `*` (a valid
        // local-part character), it let `*x@spam.example` slip past `*@spam.example`.
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

fn render_reply(template: &str, c: &Client, sender: &str, recipient: &str) -> String {
    let valid = template.len() >= 3
        && template.as_bytes()[..3].iter().all(u8::is_ascii_digit)
        && matches!(template.as_bytes()[0], b'4' | b'5')
        && template.as_bytes().get(3).is_none_or(|&b| b == b' ');
    let template = if valid { template } else { FALLBACK_REPLY };
    let mut out = String::with_capacity(template.len() + 64);
    let mut chars = template.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('F') => out.push_str(sender),
            Some('T') => out.push_str(recipient),
            Some('H') => out.push_str(c.name_or_unknown()),
            Some('I') => out.push_str(&c.ip_or_unknown()),
            // No ident lookups: the user is always unknown.
            Some('U') => out.push_str("unknown"),
            Some('C') => out.push(':'),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    // A reply is one line whatever the addresses held.
    out.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_names_every_bad_line() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("smtpd_check_rules");
        assert!(Rules::problems(&p).is_empty(), "a missing file is fine");
        std::fs::write(
            &p,
            "# x\nallow:ALL:ALL:*@example.com\nallw:ALL:ALL:ALL\nnoto:ALL:ALL\nnoto:/a(/:ALL:ALL\n",
        )
        .unwrap();
        let found: Vec<String> = Rules::problems(&p).iter().map(|e| e.to_string()).collect();
        let d = p.display();
        assert_eq!(found.len(), 3, "{found:?}");
        for (f, n) in found.iter().zip([3, 4, 5]) {
            assert!(f.starts_with(&format!("{d}:{n}: ")), "{found:?}");
        }
    }

    fn client(name: Option<&str>, ip: &str) -> Client {
        Client {
            name: name.map(str::to_string),
            ip: Some(ip.parse().unwrap()),
        }
    }

    fn verdict(rules: &str, c: &Client, from: &str, to: &str) -> Option<(Action, String)> {
        let r = Rules::parse(rules, "rules").unwrap();
        r.check(c, from, to, &mut Vec::new())
            .map(|v| (v.action, v.reply))
    }

    #[test]
    fn glob_works() {
        assert!(glob(b"*@example.com", b"joe@example.com"));
        assert!(!glob(b"*@example.com", b"joe@example.com.evil"));
        assert!(glob(b"*%*@*", b"a%b@c"));
        assert!(!glob(b"*%*@*", b"ab@c"));
        assert!(glob(b"10.1.2.*", b"10.1.2.77"));
        assert!(glob(b"a?c", b"abc"));
        assert!(glob(b"*", b""));
        assert!(!glob(b"a*a*a*a*a*b", &[b'a'; 200]));
        // Found by tests/fuzz_session.rs: a `*` in the address matched the pattern's star as a
        // literal, so a sender could slip past a rule.
        assert!(glob(b"*@", b"**b@"));
        assert!(glob(b"*@spam.example", b"*x@spam.example"));
        assert!(glob(b"a*", b"a*b"));
    }

    #[test]
    fn antirelay_example() {
        let text = "# comment\n\nnoto:ALL:ALL:*%*@*:551 Sorry %H (%I) no percent hacks for %T\n\
                    allow:ALL:ALL:*@Example.COM\n\
                    noto:ALL:ALL:ALL:550 Sorry %H (%I)%C I don't relay for %F to %T %%\n";
        let c = client(Some("mx.sender.org"), "192.0.2.7");
        assert_eq!(
            verdict(text, &c, "<a@b.org>", "<x%y@example.com>"),
            Some((
                Action::Noto,
                "551 Sorry mx.sender.org (192.0.2.7) no percent hacks for x%y@example.com".into()
            ))
        );
        assert_eq!(
            verdict(text, &c, "<a@b.org>", "<joe@EXAMPLE.com>")
                .unwrap()
                .0,
            Action::Allow
        );
        assert_eq!(
            verdict(text, &c, "<a@b.org>", "<joe@other.net>"),
            Some((
                Action::Noto,
                "550 Sorry mx.sender.org (192.0.2.7): I don't relay for a@b.org to joe@other.net %"
                    .into()
            ))
        );
    }

    #[test]
    fn client_patterns() {
        let rules = "allow:10.0.0.0/8 .trusted.org 192.168.:ALL:ALL\n\
                     deny:UNKNOWN:ALL:ALL\n\
                     noto:/^mail[0-9]+\\.spam\\.net$/:ALL:ALL:450 go away %H\n";
        let a = |c: &Client| verdict(rules, c, "<a@b>", "<c@d>").map(|v| v.0);
        assert_eq!(a(&client(None, "10.9.8.7")), Some(Action::Allow));
        assert_eq!(
            a(&client(Some("x.Trusted.org"), "1.2.3.4")),
            Some(Action::Allow)
        );
        assert_eq!(a(&client(None, "192.168.4.4")), Some(Action::Allow));
        assert_eq!(a(&client(None, "11.0.0.1")), Some(Action::Deny));
        assert_eq!(
            a(&client(Some("MAIL12.spam.net"), "1.1.1.1")),
            Some(Action::Noto)
        );
        assert_eq!(a(&client(Some("mail.spam.net"), "1.1.1.1")), None);
        assert_eq!(
            a(&client(None, "::ffff:10.1.1.1")),
            Some(Action::Allow),
            "v4-mapped"
        );
    }

    #[test]
    fn except_and_known() {
        let rules = "noto:ALL EXCEPT 127.0.0.1:ALL:*@internal.example EXCEPT postmaster@*\n\
                     noto:KNOWN:UNKNOWN:ALL:550 no bounces from %H\n";
        let local = client(None, "127.0.0.1");
        let remote = client(Some("r.example.net"), "198.51.100.1");
        assert_eq!(
            verdict(rules, &local, "<a@b>", "<x@internal.example>"),
            None
        );
        assert_eq!(
            verdict(rules, &remote, "<a@b>", "<x@internal.example>").map(|v| v.0),
            Some(Action::Noto)
        );
        assert_eq!(
            verdict(rules, &remote, "<a@b>", "<postmaster@internal.example>"),
            None
        );
        assert_eq!(
            verdict(rules, &remote, "<>", "<x@y>"),
            Some((Action::Noto, "550 no bounces from r.example.net".into()))
        );
    }

    #[test]
    fn replies_default_fallback_and_comment() {
        let c = client(None, "192.0.2.1");
        assert_eq!(
            verdict("noto:ALL:ALL:ALL\n", &c, "<a@b>", "<c@d>")
                .unwrap()
                .1,
            "550 Mail from a@b to c@d prohibited from your location (unknown@unknown ip=192.0.2.1)"
        );
        assert_eq!(
            verdict("noto:ALL:ALL:ALL:go away\n", &c, "<a@b>", "<c@d>")
                .unwrap()
                .1,
            "550 Recipient not allowed"
        );
        assert!(
            verdict("noto:ALL:ALL:ALL:# just a comment\n", &c, "<a@b>", "<c@d>")
                .unwrap()
                .1
                .starts_with("550 Mail from a@b")
        );
    }

    #[test]
    fn first_match_wins_and_debug_goes_on() {
        let r = Rules::parse(
            "debug:ALL:ALL:ALL\nallow:ALL:ALL:*@x\nnoto:ALL:ALL:ALL\n",
            "r",
        )
        .unwrap();
        let mut hits = Vec::new();
        let v = r
            .check(&client(None, "1.1.1.1"), "<a@b>", "<c@x>", &mut hits)
            .unwrap();
        assert_eq!((v.action, v.line), (Action::Allow, 2));
        assert_eq!(hits, vec![1]);
    }

    #[test]
    fn delay_actions_parse() {
        let r = Rules::parse("deny_delay:ALL:ALL:ALL\nnoto_delay:ALL:ALL:ALL\n", "r").unwrap();
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn bad_lines_name_their_line() {
        for (text, want) in [
            (
                "allow:ALL:ALL:ALL\nalow:ALL:ALL:ALL\n",
                "rules:2: unknown action",
            ),
            ("\n\nnoto:ALL:ALL\n", "rules:3: expected"),
            ("noto:10.0.0.0/33:ALL:ALL\n", "rules:1: bad prefix"),
            ("noto:ALL:/([/:ALL\n", "rules:1: bad regex"),
            ("noto::ALL:ALL\n", "rules:1: empty field"),
            ("noto:ALL EXCEPT:ALL:ALL\n", "rules:1: EXCEPT"),
        ] {
            let e = Rules::parse(text, "rules").unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn missing_file_is_no_rules() {
        let r = Rules::load(Path::new("/nonexistent/smtpd_check_rules")).unwrap();
        assert!(r.is_empty());
    }
}
