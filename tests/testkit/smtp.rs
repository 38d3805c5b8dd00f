//! The one raw SMTP client of the tests, with the one reply parser.
//!
//! The parser is strict on purpose: a test that talks to smtpd must fail when smtpd answers
//! something a real client (smtpfwdd's, in `crates/smtpfwdd/src/smtp_client.rs`) would refuse.
//! It follows RFC 5321 4.2 to the letter:
//!
//! - a reply line is a three-digit code (`[2-5][0-5][0-9]`), then `-` (more lines follow), a space
//!   (the last line) or nothing at all (a last line without text), then printable ASCII or HT;
//! - every line ends in CRLF: a bare LF, or a CR inside the line, is an error;
//! - every line of one reply carries the same code;
//! - no line is longer than 512 bytes with its CRLF (RFC 5321 4.5.3.1.5).

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};

/// Longest reply line, CRLF included (RFC 5321 4.5.3.1.5).
pub const MAX_REPLY_LINE: usize = 512;

/// One whole reply: its code and its lines, each as sent without the CRLF (`250-SIZE 1000`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// The lines joined by `\n` (the form the tests compare and print).
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The text of the last line after its code and separator.
    pub fn last_text(&self) -> &str {
        self.lines.last().and_then(|l| l.get(4..)).unwrap_or("")
    }
}

/// Why bytes are not a valid reply; the message quotes the offending line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyError(pub String);

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReplyError {}

fn err<T>(what: &str, line: &[u8]) -> Result<T, ReplyError> {
    Err(ReplyError(format!("{what}: b\"{}\"", line.escape_ascii())))
}

/// Check one line (with its line end) and return its code and whether more lines follow.
pub fn parse_line(line: &[u8]) -> Result<(u16, bool), ReplyError> {
    let Some(body) = line.strip_suffix(b"\r\n") else {
        return if line.ends_with(b"\n") {
            err("reply line ends in a bare LF", line)
        } else {
            err("reply line without CRLF", line)
        };
    };
    if line.len() > MAX_REPLY_LINE {
        return err(
            &format!("reply line longer than {MAX_REPLY_LINE} bytes"),
            line,
        );
    }
    let code_ok = body.len() >= 3
        && (b'2'..=b'5').contains(&body[0])
        && (b'0'..=b'5').contains(&body[1])
        && body[2].is_ascii_digit();
    if !code_ok {
        return err("reply line without a three-digit code", line);
    }
    let more = match body.get(3) {
        None | Some(b' ') => false,
        Some(b'-') => true,
        Some(_) => return err("reply code not followed by a space or `-`", line),
    };
    if let Some(b) = body[3..]
        .iter()
        .find(|&&b| b != b'\t' && !(0x20..0x7f).contains(&b))
    {
        return err(&format!("reply byte {b:#04x} is not printable ASCII"), line);
    }
    let code = u16::from(body[0] - b'0') * 100
        + u16::from(body[1] - b'0') * 10
        + u16::from(body[2] - b'0');
    Ok((code, more))
}

/// Collects lines into replies.
#[derive(Default)]
struct Assembler {
    code: Option<u16>,
    lines: Vec<String>,
}

impl Assembler {
    /// Add one line (with its CRLF); a finished reply comes back.
    fn push(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let (code, more) = parse_line(line)?;
        if self.code.is_some_and(|c| c != code) {
            return err("code changes inside a multi-line reply", line);
        }
        self.code = Some(code);
        let text = std::str::from_utf8(&line[..line.len() - 2]).expect("checked ASCII");
        self.lines.push(text.to_string());
        if more {
            return Ok(None);
        }
        self.code = None;
        Ok(Some(Reply {
            code,
            lines: std::mem::take(&mut self.lines),
        }))
    }
}

/// Every whole reply at the start of `bytes`, and what follows the last one (a cut line or an
/// unfinished multi-line reply: e.g. output cut short by a failed write).
pub fn parse_prefix(bytes: &[u8]) -> Result<(Vec<Reply>, &[u8]), ReplyError> {
    let mut replies = Vec::new();
    let mut a = Assembler::default();
    let (mut at, mut reply_end) = (0, 0);
    while let Some(nl) = bytes[at..].iter().position(|&b| b == b'\n') {
        let end = at + nl + 1;
        if let Some(r) = a.push(&bytes[at..end])? {
            replies.push(r);
            reply_end = end;
        }
        at = end;
    }
    Ok((replies, &bytes[reply_end..]))
}

/// `bytes` as whole replies and nothing else.
pub fn parse_replies(bytes: &[u8]) -> Result<Vec<Reply>, ReplyError> {
    let (replies, rest) = parse_prefix(bytes)?;
    if !rest.is_empty() {
        return err("unfinished reply at the end", rest);
    }
    Ok(replies)
}

/// Read one reply from a stream. `Ok(None)`: the stream ended (or failed, e.g. was reset) before
/// the reply's first byte; a stream that ends inside a reply is an error.
pub fn read_reply(r: &mut impl BufRead) -> Result<Option<Reply>, ReplyError> {
    let mut a = Assembler::default();
    let mut first = true;
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line);
        match n {
            Ok(0) | Err(_) if first && line.is_empty() => return Ok(None),
            Ok(0) | Err(_) => return err("the stream ended inside a reply", &line),
            Ok(_) if !line.ends_with(b"\n") => {
                return err("the stream ended inside a reply line", &line)
            }
            Ok(_) => {}
        }
        first = false;
        if let Some(reply) = a.push(&line)? {
            return Ok(Some(reply));
        }
    }
}

/// A raw SMTP client: exact bytes out, whole replies back, each checked by the strict parser
/// (a malformed reply fails the test at once).
pub struct Client<R: Read, W: Write> {
    pub r: BufReader<R>,
    pub w: W,
}

impl Client<std::net::TcpStream, std::net::TcpStream> {
    /// A TCP connection with a 30 s read timeout (a hung server fails the test, not the suite).
    pub fn tcp(addr: impl std::net::ToSocketAddrs) -> Self {
        let s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        Client::new(s.try_clone().unwrap(), s)
    }
}

impl<R: Read, W: Write> Client<R, W> {
    pub fn new(r: R, w: W) -> Self {
        Client {
            r: BufReader::new(r),
            w,
        }
    }

    /// One reply, parsed; None when the server closed the connection.
    pub fn read(&mut self) -> Option<Reply> {
        read_reply(&mut self.r).unwrap_or_else(|e| panic!("malformed reply: {e}"))
    }

    /// One reply as text (lines joined by `\n`); "" when the server closed the connection.
    pub fn reply(&mut self) -> String {
        self.read().map(|r| r.text()).unwrap_or_default()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
        self.w.flush().unwrap();
    }

    /// Send one command line (CRLF added) and return its reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// The three-digit code of the reply to `line` ("" when the connection closed).
    pub fn code(&mut self, line: &str) -> String {
        let r = self.cmd(line);
        r.get(..3).unwrap_or("").to_string()
    }

    /// Run a dialogue script (a file under `tests/data/`): one command a line, a TAB, the code its
    /// reply must have, optionally a TAB and why. `#` lines and blank lines are skipped; `\xNN`
    /// in a command stands for that byte, `\\` for a backslash. Panics at the first reply with
    /// another code, naming the script line; returns how many commands ran.
    pub fn dialogue(&mut self, script: &str) -> usize {
        let mut ran = 0;
        for (n, line) in script.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut f = line.split('\t');
            let (cmd, want) = match (f.next(), f.next()) {
                (Some(c), Some(w)) if w.len() == 3 => (unescape(c), w),
                _ => panic!("dialogue line {}: not COMMAND TAB CODE: {line:?}", n + 1),
            };
            let why = f.next().unwrap_or("");
            self.send(&[&cmd[..], b"\r\n"].concat());
            let got = self.reply();
            assert!(
                got.get(..3) == Some(want),
                "dialogue line {} ({why}): {:?} answered {got:?}, not {want}",
                n + 1,
                cmd.escape_ascii().to_string()
            );
            ran += 1;
        }
        ran
    }
}

/// `\xNN` and `\\` escapes of a dialogue command.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 4 <= b.len() {
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("");
            let v = u8::from_str_radix(hex, 16)
                .unwrap_or_else(|_| panic!("bad escape in dialogue command {s:?}"));
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(b: &[u8]) -> Result<Vec<Reply>, ReplyError> {
        parse_replies(b)
    }

    #[test]
    fn accepts_single_and_multi_line_replies() {
        let r = one(b"250-gw Hello\r\n250-SIZE 10\r\n250 8BITMIME\r\n221 bye\r\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].code, 250);
        assert_eq!(r[0].text(), "250-gw Hello\n250-SIZE 10\n250 8BITMIME");
        assert_eq!(r[0].last_text(), "8BITMIME");
        assert_eq!(r[1].code, 221);
        // RFC 5321: the text of a reply line is optional.
        assert_eq!(one(b"250\r\n").unwrap()[0].code, 250);
        assert_eq!(one(b"250-\r\n250 x\r\n").unwrap()[0].lines.len(), 2);
        assert_eq!(one(b"550 a\tb\r\n").unwrap()[0].code, 550);
    }

    #[test]
    fn refuses_what_a_strict_client_refuses() {
        for (bad, why) in [
            (&b"250-a\r\n251 b\r\n"[..], "code changes"),
            (b"250a\r\n", "not followed by a space"),
            (b"250 ok\n", "bare LF"),
            (b"250-a\n250 b\r\n", "bare LF"),
            (b"250 a\rb\r\n", "not printable"),
            (b"25 ok\r\n", "three-digit"),
            (b"2500 ok\r\n", "not followed"),
            (b"abc ok\r\n", "three-digit"),
            (b"650 ok\r\n", "three-digit"),
            (b"190 ok\r\n", "three-digit"),
            (b"260 ok\r\n", "three-digit"),
            (b"250 caf\xc3\xa9\r\n", "not printable"),
            (b"250 \x00\r\n", "not printable"),
            (b"250-more\r\n", "unfinished"),
            (b"250 ok", "unfinished"),
        ] {
            let e = one(bad).expect_err(&format!("{:?} accepted", bad.escape_ascii()));
            assert!(e.0.contains(why), "{:?}: {e}", bad.escape_ascii());
        }
        let long = format!("250 {}\r\n", "x".repeat(MAX_REPLY_LINE - 5));
        assert!(one(long.as_bytes()).is_err());
        let at_limit = format!("250 {}\r\n", "x".repeat(MAX_REPLY_LINE - 6));
        assert!(one(at_limit.as_bytes()).is_ok());
    }

    #[test]
    fn a_prefix_leaves_the_unfinished_rest() {
        let (r, rest) =
            parse_prefix(b"220 hi\r\n250-a\r\n250 b\r\n354 go\r\n250-x\r\n250 y").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(rest, b"250-x\r\n250 y");
        assert!(parse_prefix(b"220 hi\r\n250 bare\n").is_err());
    }

    #[test]
    fn the_stream_reader_reads_one_reply_at_a_time() {
        let mut r = BufReader::new(&b"220-a\r\n220 b\r\n250 ok\r\n"[..]);
        assert_eq!(read_reply(&mut r).unwrap().unwrap().code, 220);
        assert_eq!(read_reply(&mut r).unwrap().unwrap().text(), "250 ok");
        assert_eq!(read_reply(&mut r).unwrap(), None);
        assert!(read_reply(&mut BufReader::new(&b"250-a\r\n"[..])).is_err());
        assert!(read_reply(&mut BufReader::new(&b"250 a"[..])).is_err());
        assert!(read_reply(&mut BufReader::new(&b"250 a\n"[..])).is_err());
    }

    #[test]
    fn a_dialogue_checks_every_code_and_names_the_failing_line() {
        let script = "# comment\nHELO x\t250\n\nNO\\x00OP\t500\tNUL\n";
        let mut c = Client::new(&b"250 hi\r\n500 no\r\n"[..], Vec::new());
        assert_eq!(c.dialogue(script), 2);
        assert_eq!(c.w, b"HELO x\r\nNO\x00OP\r\n");
        let bad = std::panic::catch_unwind(|| {
            let mut c = Client::new(&b"250 hi\r\n250 yes\r\n"[..], Vec::new());
            c.dialogue(script);
        });
        let msg = *bad.unwrap_err().downcast::<String>().unwrap();
        assert!(msg.contains("dialogue line 4 (NUL)"), "{msg}");
        assert_eq!(unescape("a\\\\b\\x41"), b"a\\bA");
    }

    #[test]
    fn the_client_sends_lines_and_reads_replies() {
        let mut c = Client::new(&b"220 hi\r\n250-a\r\n250 b\r\n"[..], Vec::new());
        assert_eq!(c.reply(), "220 hi");
        assert_eq!(c.code("EHLO x"), "250");
        assert_eq!(c.reply(), "");
        assert_eq!(c.w, b"EHLO x\r\n");
    }
}
