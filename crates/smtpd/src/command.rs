//! SMTP command lines (RFC 5321 4.1): the verb, its arguments, and the envelope paths, which
//! [`crate::address`] checks and brings into normal form.

use crate::address::{self, MAX_PATH};

/// Longest command line, CRLF included (RFC 5321 4.5.3.1.4).
pub const MAX_COMMAND: usize = 512;

/// A command, parsed. Addresses keep their angle brackets, as the spool format stores them.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Helo(String),
    Ehlo(String),
    Mail {
        from: String,
        size: Option<u64>,
    },
    Rcpt {
        to: String,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    StartTls,
    /// Known to SMTP but not offered here (EXPN, TURN, ETRN, BDAT...): 502.
    NotImplemented,
}

/// Parse one command line (without its line end). `Err` is the complete reply line.
pub fn parse_command(line: &[u8]) -> Result<Command, String> {
    if line.contains(&0) {
        return Err("500 5.5.2 NUL character in command".into());
    }
    let Ok(text) = std::str::from_utf8(line) else {
        // Latin-1 and other 8-bit bytes in an address get the same answer as UTF-8 there.
        let verb = line.get(..5).unwrap_or(line);
        if verb.eq_ignore_ascii_case(b"MAIL ") || verb.eq_ignore_ascii_case(b"RCPT ") {
            return Err("553 5.6.7 Non-ASCII address, and SMTPUTF8 is not offered".into());
        }
        return Err("500 5.5.2 Invalid bytes in command".into());
    };
    let (verb, arg) = match text.find([' ', '\t']) {
        Some(i) => (&text[..i], text[i + 1..].trim_matches([' ', '\t'])),
        None => (text, ""),
    };
    let no_arg = |c: Command| {
        if arg.is_empty() {
            Ok(c)
        } else {
            Err("501 5.5.4 Syntax error: no parameters allowed".to_string())
        }
    };
    match verb.to_ascii_uppercase().as_str() {
        "HELO" | "EHLO" => {
            let name = arg.split_whitespace().next().unwrap_or("");
            if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_control()) {
                return Err(format!(
                    "501 5.5.4 Syntax: {} hostname",
                    verb.to_ascii_uppercase()
                ));
            }
            Ok(if verb.eq_ignore_ascii_case("HELO") {
                Command::Helo(name.to_string())
            } else {
                Command::Ehlo(name.to_string())
            })
        }
        "MAIL" => {
            let rest = strip_keyword(arg, "FROM:")
                .ok_or_else(|| "501 5.5.4 Syntax: MAIL FROM:<address>".to_string())?;
            let (from, params) = parse_path(rest)?;
            let mut size = None;
            for p in params.split_whitespace() {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                match k.to_ascii_uppercase().as_str() {
                    "SIZE" => {
                        size =
                            Some(v.parse::<u64>().map_err(|_| {
                                "501 5.5.4 Syntax: SIZE=<number of bytes>".to_string()
                            })?)
                    }
                    "BODY" => {
                        if !v.eq_ignore_ascii_case("7BIT") && !v.eq_ignore_ascii_case("8BITMIME") {
                            return Err("501 5.5.4 Syntax: BODY=7BIT or BODY=8BITMIME".into());
                        }
                    }
                    _ => return Err(format!("555 5.5.4 Unsupported parameter {k}")),
                }
            }
            Ok(Command::Mail { from, size })
        }
        "RCPT" => {
            let rest = strip_keyword(arg, "TO:")
                .ok_or_else(|| "501 5.5.4 Syntax: RCPT TO:<address>".to_string())?;
            let (to, params) = parse_path(rest)?;
            if to == "<>" {
                return Err("501 5.1.3 Empty recipient address".into());
            }
            if let Some(p) = params.split_whitespace().next() {
                return Err(format!("555 5.5.4 Unsupported parameter {p}"));
            }
            Ok(Command::Rcpt { to })
        }
        "DATA" => no_arg(Command::Data),
        "RSET" => no_arg(Command::Rset),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_arg(Command::Quit),
        "VRFY" => {
            if arg.is_empty() {
                Err("501 5.5.4 Syntax: VRFY address".into())
            } else {
                Ok(Command::Vrfy)
            }
        }
        "HELP" => Ok(Command::Help),
        "STARTTLS" => no_arg(Command::StartTls),
        "EXPN" | "TURN" | "ETRN" | "BDAT" | "SEND" | "SOML" | "SAML" | "AUTH" | "ATRN" => {
            Ok(Command::NotImplemented)
        }
        _ => Err("500 5.5.2 Command unrecognized".into()),
    }
}

fn strip_keyword<'a>(arg: &'a str, kw: &str) -> Option<&'a str> {
    let head = arg.get(..kw.len())?;
    head.eq_ignore_ascii_case(kw)
        .then(|| arg[kw.len()..].trim_start())
}

/// `<addr> params` → (`<addr>`, params). A bare address (old clients) is given brackets.
/// Addresses with control characters or stray brackets are refused: they never reach a file.
fn parse_path(s: &str) -> Result<(String, &str), String> {
    let (addr, rest) = if let Some(inner) = s.strip_prefix('<') {
        let close = inner
            .find('>')
            .ok_or_else(|| "501 5.1.7 Syntax: address must end with >".to_string())?;
        (&inner[..close], &inner[close + 1..])
    } else {
        let end = s.find(' ').unwrap_or(s.len());
        (&s[..end], &s[end..])
    };
    if addr.is_empty() && !s.starts_with('<') {
        return Err("501 5.1.7 Syntax: missing address".into());
    }
    if addr.len() > MAX_PATH {
        return Err("501 5.1.7 Address too long".into());
    }
    if addr
        .chars()
        .any(|c| c.is_control() || c == '<' || c == '>' || c == ' ')
        && !is_quoted_ok(addr)
    {
        return Err("501 5.1.7 Bad characters in address".into());
    }
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err("501 5.1.7 Syntax: garbage after address".into());
    }
    // What is stored, logged and matched by the rules is the normal form (no source route, no
    // needless quotes, no trailing dot): one spelling per mailbox.
    let addr = if addr.is_empty() {
        String::new()
    } else {
        address::parse(addr)?.normal()
    };
    Ok((format!("<{addr}>"), rest.trim()))
}

/// Spaces are allowed inside a quoted local part (`"john smith"@example.com`); control characters
/// and brackets never are.
fn is_quoted_ok(addr: &str) -> bool {
    if addr.chars().any(|c| c.is_control() || c == '<' || c == '>') {
        return false;
    }
    let mut quoted = false;
    for c in addr.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => return false,
            _ => {}
        }
    }
    !quoted
}
