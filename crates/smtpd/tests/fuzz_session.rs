//! Bounded grammar fuzzing (stable Rust, no cargo-fuzz) of smtpd's SMTP session, the parser of
//! the most hostile bytes the gateway sees.
//!
//! Thousands of random dialogues are generated from an SMTP grammar (valid commands, pipelined
//! batches, random case, random bytes, NULs, bare CR and LF, over-long lines, dot lines, random
//! DATA bodies, STARTTLS without TLS, abrupt EOF, timeouts, shutdown, a client that stops
//! reading) and run through the real session engine in-process ([`smtpd::session::Session`] over
//! a transport that hands the bytes over in random slices), then a few hundred through the real
//! binary in inetd mode (as root: chroot and uucp, as in production).
//!
//! The replies are walked in step with the input, as the server must read it, and the test
//! asserts:
//! - no panic (in-process) and no crash (binary: exit 0 or a sysexits code, never a signal);
//! - every reply line matches `^[2-5][0-9][0-9][ -]`, is printable ASCII and fits in 512 bytes;
//! - exactly one reply per command line, and none while DATA is read;
//! - `250` after DATA ⇔ exactly one new complete file in incoming/, whose envelope is what was
//!   accepted and whose body after the `Received:` header is the data sent (CRLF → LF,
//!   dot-unstuffed, every line end (CRLF, bare LF, bare CR) stored as LF, only CRLF.CRLF ending
//!   the data: no smuggled transaction); `552` exactly when the body is over the size limit,
//!   else `554` exactly when its header section has more than `max_hops` `Received:` fields;
//! - an accepted MAIL or RCPT path is in normal form and holds no relay trick (no source route,
//!   no needless quotes, no trailing dot, ASCII only, no leading `-`, no `@` in the local part,
//!   no `%` or `!` in a recipient's unless the case's policy allows them);
//! - with no time left (a session deadline of zero) the banner is followed by one 421 and nothing;
//! - no `.tmp.*` file left when the session has ended.
//!
//! Two smaller targets take the parsers alone, with many more inputs: `parse_command` (whatever
//! it accepts must be a path the spool format can hold) and the rules' `glob` (checked against a
//! slow, obviously right matcher).
//!
//! Runs are reproducible (constant seed; `FUZZ_SEED` and `FUZZ_ITERS` change them), and the first
//! failing dialogue is printed in full.
#![allow(clippy::too_many_lines)] // a test reads best as one story

mod common;

use smtpd::session::{parse_command, Command, Context, End, Session, Settings};
use smtpd::stream::ClientStream;
use spool::rules::{Client, Rules};
use spool::{Envelope, Queue, Spool};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::fuzz::{catch, iterations, Findings, Rng};
use testkit::smtp::{parse_prefix, Reply};
use testkit::{Proc, TestSpool};

const DEFAULT_SEED: u64 = 0x5eed_0000_5e55_10a5;

// ---------------------------------------------------------------------------------------------
// The dialogue grammar

/// Random case for the letters of a keyword (SMTP verbs are case-insensitive).
fn random_case(rng: &mut Rng, s: &str) -> String {
    if rng.chance(70) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if rng.chance(50) {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// A line end: mostly CRLF, sometimes a bare LF, now and then something worse.
fn eol(rng: &mut Rng) -> &'static [u8] {
    match rng.below(100) {
        0..=84 => b"\r\n",
        85..=94 => b"\n",
        95..=96 => b"\r\r\n",
        97 => b" \r\n",
        _ => b"\r\x00\n",
    }
}

fn local_part(rng: &mut Rng) -> String {
    match rng.below(30) {
        // Relay tricks and option look-alikes (issue 14): refused or normalised.
        20 => "\"bob@evil.example\"".into(),
        21 => "bob@evil.example".into(),
        22 => "@evil.example:bob".into(),
        23 => "-bs".into(),
        24 => "\"-be\"".into(),
        25 => "\"noreply\"".into(),
        26 => "\"no\\reply\"".into(),
        27 => "noreply(comment)".into(),
        28 => "\"a%b\"".into(),
        0 => "a".repeat(240 + rng.below(30)),
        1 => "\"john smith\"".into(),
        2 => "j\u{f6}rg".into(),
        3 => "a%b".into(),
        4 => "a!b".into(),
        5 => "".into(),
        6 => "x\u{1}y".into(),
        7 => "\"unterminated".into(),
        _ => rng
            .pick(&["alice", "bob", "Postmaster", "x.y+z", "o'brien"])
            .to_string(),
    }
}

fn domain(rng: &mut Rng) -> &'static str {
    const DOMAINS: &[&str] = &[
        "example.com",
        "example.com",
        "example.com",
        "EXAMPLE.COM.",
        "partner.org",
        "elsewhere.org",
        "slow.example",
        "deny.example",
        "spam.example",
        "[192.0.2.1]",
    ];
    DOMAINS[rng.below(DOMAINS.len())]
}

fn address(rng: &mut Rng) -> String {
    match rng.below(30) {
        0 => String::new(),
        1 => "postmaster".into(),
        2 => format!("{}@{}", local_part(rng), "d".repeat(250)),
        _ => format!("{}@{}", local_part(rng), domain(rng)),
    }
}

/// A path as a client writes it: usually bracketed, sometimes not, sometimes broken.
fn path(rng: &mut Rng) -> String {
    let a = address(rng);
    match rng.below(20) {
        0 => a,
        1 => format!("<{a}"),
        2 => format!(" <{a}>"),
        3 => format!("<{a}>>"),
        4 => "<>".into(),
        5 => format!("<<{a}>"),
        _ => format!("<{a}>"),
    }
}

fn mail_params(rng: &mut Rng) -> String {
    let mut p = String::new();
    for _ in 0..rng.below(3) {
        p.push(' ');
        p.push_str(&match rng.below(10) {
            0 => format!("SIZE={}", rng.below(3000)),
            1 => format!("size={}", rng.next()),
            2 => "SIZE=x".into(),
            3 => "BODY=8BITMIME".into(),
            4 => "BODY=BINARYMIME".into(),
            5 => format!("X{}=1", "Y".repeat(rng.below(500))),
            6 => "SMTPUTF8".into(),
            7 => "\u{e9}t\u{e9}=1".into(),
            8 => "\x01=2".into(),
            _ => "BODY=7BIT".into(),
        });
    }
    p
}

fn text_line(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(80);
    (0..n).map(|_| b"abc XYZ:.-<>@\t"[rng.below(14)]).collect()
}

fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next() as u8).collect()
}

/// One command line, with its line end.
fn command(rng: &mut Rng) -> Vec<u8> {
    let mut line: Vec<u8> = match rng.below(32) {
        0..=2 => format!(
            "{} {}",
            random_case(rng, "EHLO"),
            rng.pick(&[
                "client.example.org",
                "[192.0.2.9]",
                "x",
                "h\u{e9}llo.example"
            ])
        )
        .into(),
        3 => format!("{} client.example.org", random_case(rng, "HELO")).into(),
        4 => rng
            .pick(&[
                "HELO".to_string(),
                "EHLO ".to_string(),
                format!("EHLO {}", "h".repeat(300)),
                "EHLO a\u{85}b".to_string(),
            ])
            .clone()
            .into(),
        5..=8 => format!(
            "{}{}{}",
            random_case(rng, "MAIL FROM:"),
            path(rng),
            mail_params(rng)
        )
        .into(),
        9..=14 => format!(
            "{}{}{}",
            random_case(rng, "RCPT TO:"),
            path(rng),
            if rng.chance(5) { " NOTIFY=NEVER" } else { "" }
        )
        .into(),
        15..=16 => random_case(rng, "DATA").into(),
        17 => {
            let v = *rng.pick(&["RSET", "RSET x"]);
            random_case(rng, v)
        }
        .into(),
        18 => {
            let v = *rng.pick(&["NOOP", "NOOP hello"]);
            random_case(rng, v)
        }
        .into(),
        19 => {
            let v = *rng.pick(&["VRFY bob", "VRFY", "HELP", "HELP me"]);
            random_case(rng, v)
        }
        .into(),
        20 => {
            let v = *rng.pick(&["STARTTLS", "STARTTLS now"]);
            random_case(rng, v)
        }
        .into(),
        21 => rng
            .pick(&[
                "EXPN staff",
                "AUTH PLAIN AGJvYgBzZWNyZXQ=",
                "BDAT 10 LAST",
                "ETRN x",
                "TURN",
            ])
            .to_string()
            .into(),
        22 => {
            let n = 1 + rng.below(40);
            random_bytes(rng, n)
        }
        23 => {
            // NUL somewhere in a command.
            let mut l = b"NOOP".to_vec();
            l.insert(rng.below(5), 0);
            l
        }
        24 => {
            // Over-long: just over the 512 limit, or very much more.
            let n = *rng.pick(&[509usize, 510, 511, 512, 600, 5000, 70_000]);
            let mut l = b"NOOP ".to_vec();
            l.extend(std::iter::repeat_n(b'x', n));
            l
        }
        25 => Vec::new(),
        26 => b"QUIT".to_vec(),
        27 => text_line(rng),
        28 => b"MAIL FROM:<a@b>\rRCPT TO:<c@example.com>".to_vec(),
        29 => b".".to_vec(),
        30 => format!("MAIL FROM: <{}> SIZE=1", "\u{e9}".repeat(120)).into(),
        _ => b"\t NOOP".to_vec(),
    };
    line.extend_from_slice(eol(rng));
    line
}

/// A DATA body as sent, with or without its terminating dot line.
fn body(rng: &mut Rng) -> Vec<u8> {
    let mut b = Vec::new();
    let lines = match rng.below(10) {
        0 => 0,
        1..=6 => rng.below(20),
        _ => rng.below(200),
    };
    for _ in 0..lines {
        let mut line = match rng.below(20) {
            0 => b".".to_vec(),
            1 => b"..".to_vec(),
            2 => b". ".to_vec(),
            3 => b".\r".to_vec(),
            4 => {
                let n = rng.below(100);
                random_bytes(rng, n)
            }
            5 => {
                // Longer than the session's half buffer (32 KiB), so it is passed on in chunks.
                let n = *rng.pick(&[1000usize, 32_767, 32_768, 40_000, 70_000, 140_000]);
                let mut l = vec![if rng.chance(50) { b'.' } else { b'L' }];
                l.extend(std::iter::repeat_n(b'y', n));
                if rng.chance(30) {
                    l.push(b'\r');
                }
                l
            }
            6 => b"\0NUL\0".to_vec(),
            7 => b"bare\rCR".to_vec(),
            8 => b"From: a@b\r\nSubject: embedded CRLF".to_vec(),
            9 => b"Received: from nowhere".to_vec(),
            // SMTP smuggling: a would-be end of data with a bare LF, then a second transaction.
            10 => rng
                .pick(&[
                    &b"x\n.\nMAIL FROM:<ceo@example.com>\r\nRCPT TO:<v@example.com>\r\nDATA"[..],
                    b"x\r\n.\nQUIT",
                    b"x\n.\r\nRSET\r\nNOOP",
                    b"\r.\r",
                    b".\n.",
                ])
                .to_vec(),
            _ => text_line(rng),
        };
        // The lone dot is the end of the message: only the terminator below may be one.
        if line == b"." || line == b".\r" {
            line.insert(0, b'.');
        }
        b.extend_from_slice(&line);
        b.extend_from_slice(match rng.below(10) {
            0 => b"\n",
            1 => b"\r\r\n",
            _ => b"\r\n",
        });
    }
    match rng.below(40) {
        0 => {}                                              // EOF in the middle of DATA
        1 => b.extend_from_slice(b"no line end at the end"), // EOF inside a line
        // A would-be end of data with a bare LF does not end it: the rest is message text.
        2..=3 => b.extend_from_slice(b".\n"),
        4..=5 => b.extend_from_slice(b".\n\r\n.\r\n"),
        _ => b.extend_from_slice(b".\r\n"),
    }
    b
}

/// A transaction that a well-behaved client would send (so that many dialogues reach DATA).
fn transaction(rng: &mut Rng, out: &mut Vec<u8>) {
    let mail = format!(
        "{}<{}@{}>{}\r\n",
        random_case(rng, "MAIL FROM:"),
        rng.pick(&["alice", "", "spammer", &"s".repeat(250)]),
        domain(rng),
        if rng.chance(20) { " BODY=8BITMIME" } else { "" }
    );
    out.extend_from_slice(mail.as_bytes());
    for _ in 0..1 + rng.below(4) {
        let to = if rng.chance(90) {
            let local = *rng.pick(&["alice", "bob", "x.y+z", "Postmaster", "\"john smith\""]);
            format!("<{local}@example.com>")
        } else {
            path(rng)
        };
        out.extend_from_slice(format!("{}{to}\r\n", random_case(rng, "RCPT TO:")).as_bytes());
    }
    out.extend_from_slice(random_case(rng, "DATA").as_bytes());
    out.extend_from_slice(eol(rng));
    out.extend_from_slice(&body(rng));
}

/// A whole dialogue, as the client's bytes.
fn dialogue(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.chance(65) {
        // Mostly valid: greet, one to three transactions with noise, then (usually) QUIT.
        out.extend_from_slice(if rng.chance(50) {
            b"EHLO client.example.org\r\n"
        } else {
            b"HELO client.example.org\r\n"
        });
        for _ in 0..1 + rng.below(3) {
            while rng.chance(15) {
                out.extend_from_slice(&command(rng));
            }
            transaction(rng, &mut out);
        }
        if rng.chance(75) {
            out.extend_from_slice(b"QUIT\r\n");
        }
    } else {
        // Chaos: random commands, with a body after every DATA (taken as commands if refused).
        for _ in 0..1 + rng.below(30) {
            let c = command(rng);
            let is_data = c.len() >= 4 && c[..4].eq_ignore_ascii_case(b"DATA");
            out.extend_from_slice(&c);
            if is_data || rng.chance(5) {
                out.extend_from_slice(&body(rng));
            }
        }
    }
    if rng.chance(10) {
        // Byte-level damage anywhere: the reply walk follows whatever the server made of it.
        for _ in 0..1 + rng.below(3) {
            if out.is_empty() {
                break;
            }
            let i = rng.below(out.len());
            match rng.below(3) {
                0 => out[i] ^= 1 << rng.below(8),
                1 => {
                    out.remove(i);
                }
                _ => out.insert(i, *rng.pick(b"\0\r\n.\xff")),
            }
        }
    }
    if rng.chance(5) {
        out.truncate(rng.below(out.len() + 1));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The transport: the client's bytes in random slices, then EOF, a timeout or a shutdown

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Eof,
    Timeout,
    Shutdown,
}

struct FuzzTransport {
    input: Vec<u8>,
    pos: usize,
    rng: Rng,
    max_slice: usize,
    ending: Ending,
    output: Arc<Mutex<Vec<u8>>>,
    /// Replies accepted before the client stops reading (writes fail after that).
    write_budget: Option<usize>,
}

impl Read for FuzzTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rng.chance(2) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        if self.pos == self.input.len() {
            return match self.ending {
                Ending::Eof => Ok(0),
                Ending::Timeout => Err(io::Error::new(io::ErrorKind::TimedOut, "timeout")),
                Ending::Shutdown => Err(io::Error::new(io::ErrorKind::ConnectionAborted, "stop")),
            };
        }
        let n = buf
            .len()
            .min(self.input.len() - self.pos)
            .min(1 + self.rng.below(self.max_slice));
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for FuzzTransport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(left) = self.write_budget.as_mut() {
            if *left == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(*left);
            *left -= n;
            self.output.lock().unwrap().extend_from_slice(&buf[..n]);
            return Ok(n);
        }
        // Short writes now and then: the session must finish them.
        let n = if self.rng.chance(10) {
            1 + self.rng.below(buf.len().max(1))
        } else {
            buf.len()
        }
        .min(buf.len());
        self.output.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ClientStream for FuzzTransport {
    fn set_read_timeout(&mut self, _: Duration) {}
}

// ---------------------------------------------------------------------------------------------
// Checking one session

/// Access rules exercising every kind of reply (the default reply quotes both addresses); the
/// libFuzzer target smtp_session reads the same file.
const RULES: &str = include_str!("../../../tests/data/smtpd/fuzz_check_rules");

#[derive(Clone)]
struct Case {
    input: Vec<u8>,
    ending: Ending,
    max_slice: usize,
    write_budget: Option<usize>,
    max_size: u64,
    max_recipients: usize,
    max_hops: usize,
    /// `allow_percent_hack` and `allow_bang_path` both on.
    relay_open: bool,
    /// `session_deadline` of zero: the session must end with a 421 right after its banner.
    no_time: bool,
    rules: bool,
    client: Client,
    read_seed: u64,
}

fn case(rng: &mut Rng) -> Case {
    let input = dialogue(rng);
    // Byte-sized reads are for short dialogues: the test's time, not the server's, is the limit.
    let slices: &[usize] = if input.len() > 20_000 {
        &[512, 4096, 100_000]
    } else {
        &[1, 7, 512, 4096, 100_000]
    };
    Case {
        max_slice: *rng.pick(slices),
        input,
        ending: *rng.pick(&[
            Ending::Eof,
            Ending::Eof,
            Ending::Eof,
            Ending::Timeout,
            Ending::Shutdown,
        ]),
        write_budget: rng.chance(5).then(|| rng.below(600)),
        max_size: *rng.pick(&[0u64, 50, 2000, 100_000, 1_000_000]),
        max_recipients: *rng.pick(&[1usize, 2, 3, 100]),
        max_hops: *rng.pick(&[50usize, 50, 1, 3]),
        relay_open: rng.chance(20),
        no_time: rng.chance(2),
        rules: rng.chance(50),
        client: match rng.below(3) {
            0 => Client::default(),
            1 => Client {
                name: Some(format!("{}.example.net", "n".repeat(240))),
                ip: Some("192.0.2.7".parse().unwrap()),
            },
            _ => Client {
                name: None,
                ip: Some("2001:db8::25".parse().unwrap()),
            },
        },
        read_seed: rng.next(),
    }
}

/// The last line of a reply: the one whose text the walk compares.
fn last(r: &Reply) -> &str {
    r.lines.last().map(String::as_str).unwrap_or("")
}

/// Group the output into replies with the kit's strict parser (RFC 5321 syntax, CRLF, one code
/// per reply, 512 bytes a line), and no HT either: smtpd's replies are printable ASCII.
/// `complete`: the output must end with a whole reply (else a cut-off rest is allowed).
fn parse_replies(out: &[u8], complete: bool) -> Result<Vec<Reply>, String> {
    let (replies, rest) = parse_prefix(out).map_err(|e| e.to_string())?;
    if complete && !rest.is_empty() {
        return Err(format!(
            "unfinished reply at the end: {:?}",
            rest.escape_ascii().to_string()
        ));
    }
    if let Some(r) = replies
        .iter()
        .find(|r| r.lines.iter().any(|l| l.contains('\t')))
    {
        return Err(format!(
            "reply byte 0x09 not printable ASCII: {:?}",
            r.lines
        ));
    }
    Ok(replies)
}

/// The body as smtpd must store it, by the definition (RFC 5321 4.5.2, the spool format, and
/// Postfix's `smtpd_forbid_bare_newline = normalize` against SMTP smuggling): a line ends at CRLF,
/// at a bare LF or at a bare CR, and is stored with LF; only the line `.` ending in CRLF right
/// after a CRLF (or at the start) ends the data; a leading dot is removed.
/// Returns the stored body and the bytes consumed, or None when the input ends first.
fn expected_body(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut pos = 0;
    let mut after_crlf = true;
    loop {
        let end = pos + data[pos..].iter().position(|&b| b == b'\n' || b == b'\r')?;
        let (crlf, next) = match data[end] {
            b'\n' => (false, end + 1),
            _ => match data.get(end + 1) {
                None => return None,
                Some(b'\n') => (true, end + 2),
                Some(_) => (false, end + 1),
            },
        };
        let line = &data[pos..end];
        pos = next;
        if line == b"." && crlf && after_crlf {
            return Some((body, pos));
        }
        body.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        body.push(b'\n');
        after_crlf = crlf;
    }
}

/// The `Received:` fields of a stored body's header section (up to its first empty line).
fn hops(body: &[u8]) -> usize {
    body.split(|&b| b == b'\n')
        .take_while(|l| !l.is_empty())
        .filter(|l| {
            let name = b"received";
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b':')
        })
        .count()
}

/// A message the session said it queued.
struct Queued {
    id: String,
    from: String,
    rcpts: Vec<String>,
    body: Vec<u8>,
}

/// What the reply walk learned.
struct Walk {
    queued: Vec<Queued>,
    end: End,
}

/// Follow the input line by line as the server reads it, consuming one reply per command line.
fn walk(c: &Case, replies: &[Reply]) -> Result<Walk, String> {
    let inp = &c.input;
    let mut r = replies.iter().peekable();
    let banner = r.next().ok_or("no banner")?;
    if banner.code != 220 {
        return Err(format!("banner is not 220: {:?}", banner.lines));
    }
    let mut pos = 0;
    let mut queued = Vec::new();
    let mut tx: Option<(String, Vec<String>)> = None;
    let mut greeted = false;
    let after_input = |r: &mut std::iter::Peekable<std::slice::Iter<Reply>>| {
        // The input is exhausted (or ends inside a line): what the ending makes the server say.
        let (want, end) = match c.ending {
            Ending::Eof => (None, End::Disconnected),
            Ending::Timeout => (Some("421 4.4.2 "), End::Timeout),
            Ending::Shutdown => (Some("421 4.3.2 "), End::Shutdown),
        };
        match (want, r.next()) {
            (None, None) => Ok(end),
            (Some(w), Some(rep)) if last(rep).starts_with(w) && r.peek().is_none() => Ok(end),
            (_, got) => Err(format!(
                "at the end of the input ({:?}) expected {want:?}, got {got:?}",
                c.ending
            )),
        }
    };
    loop {
        let Some(nl) = inp[pos..].iter().position(|&b| b == b'\n') else {
            let end = after_input(&mut r)?;
            return Ok(Walk { queued, end });
        };
        let raw = &inp[pos..pos + nl + 1];
        pos += nl + 1;
        let line = raw.strip_suffix(b"\n").unwrap();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let shown = || String::from_utf8_lossy(&raw[..raw.len().min(80)]).to_string();
        let rep = r
            .next()
            .ok_or_else(|| format!("no reply to command line {:?}", shown()))?;
        if raw.len() > 512 {
            if rep.code != 500 {
                return Err(format!("over-long line answered {:?}", rep.lines));
            }
        } else {
            let cmd = parse_command(line);
            match (&cmd, rep.code) {
                (Ok(Command::Helo(_) | Command::Ehlo(_)), 250) => {
                    tx = None;
                    greeted = true;
                }
                (Ok(Command::Rset), 250) => tx = None,
                (Ok(Command::Mail { from, .. }), 250) => {
                    accepted_path(from, false)?;
                    if !greeted || tx.is_some() {
                        return Err(format!("MAIL accepted out of sequence: {:?}", shown()));
                    }
                    tx = Some((from.clone(), Vec::new()));
                }
                (Ok(Command::Rcpt { to }), 250) => match accepted_path(to, !c.relay_open)
                    .and(Ok(tx.as_mut()))?
                {
                    Some((_, rcpts)) if rcpts.len() < c.max_recipients => rcpts.push(to.clone()),
                    _ => return Err(format!("RCPT accepted out of sequence: {:?}", shown())),
                },
                (Ok(Command::Data), 354) => {
                    let Some((from, rcpts)) = tx.take() else {
                        return Err("354 without a transaction".into());
                    };
                    if rcpts.is_empty() {
                        return Err("354 without recipients".into());
                    }
                    let Some((body, used)) = expected_body(&inp[pos..]) else {
                        // The input ended inside DATA: nothing may be stored.
                        let end = after_input(&mut r)?;
                        return Ok(Walk { queued, end });
                    };
                    pos += used;
                    let done = r.next().ok_or("no reply after the end of DATA")?;
                    let too_big = c.max_size > 0 && body.len() as u64 > c.max_size;
                    let looping = hops(&body) > c.max_hops;
                    match done.code {
                        552 if too_big => {}
                        554 if looping && !too_big => {}
                        250 if !too_big && !looping => {
                            let id = last(done)
                                .rsplit_once("queued as ")
                                .map(|(_, id)| id.to_string())
                                .ok_or_else(|| format!("250 without an id: {:?}", done.lines))?;
                            queued.push(Queued {
                                id,
                                from,
                                rcpts,
                                body,
                            });
                        }
                        _ => {
                            return Err(format!(
                                "end of DATA answered {:?} for {} bytes (limit {})",
                                done.lines,
                                body.len(),
                                c.max_size
                            ))
                        }
                    }
                }
                (Ok(Command::Data), code) if code != 354 && code < 400 => {
                    return Err(format!("DATA answered {:?}", rep.lines));
                }
                (Ok(Command::Quit), 221) => {
                    return match r.next() {
                        None => Ok(Walk {
                            queued,
                            end: End::Quit,
                        }),
                        Some(x) => Err(format!("reply after 221: {:?}", x.lines)),
                    };
                }
                (Ok(Command::StartTls), code) if code != 502 => {
                    return Err(format!("STARTTLS without TLS answered {:?}", rep.lines));
                }
                (Err(want), _) if want[..3] != rep.lines[0][..3] => {
                    return Err(format!(
                        "{:?}: parse_command says {want:?}, the session {:?}",
                        shown(),
                        rep.lines
                    ));
                }
                _ if rep.code == 354 => return Err(format!("354 for {:?}", shown())),
                _ => {}
            }
        }
        // A 421 right after a reply: too many errors, or a `deny` rule. The session is over.
        if let Some(next) = r.peek() {
            if next.code == 421
                && !last(next).contains(" 4.4.2 ")
                && !last(next).contains(" 4.3.2 ")
            {
                r.next();
                if let Some(x) = r.next() {
                    return Err(format!("reply after 421: {:?}", x.lines));
                }
                return Ok(Walk {
                    queued,
                    end: End::Dropped,
                });
            }
        }
    }
}

/// What an accepted (250) MAIL or RCPT path may not be (issue 14): a source route, a trailing
/// dot, needless quotes, non-ASCII, a leading `-`, an `@` in the local part, and with
/// `strict_rcpt` (a recipient under the default policy) a `%` or `!` in it.
fn accepted_path(p: &str, strict_rcpt: bool) -> Result<(), String> {
    let rcpt = strict_rcpt;
    let inner = &p[1..p.len() - 1];
    if inner.is_empty() {
        return Ok(());
    }
    let bad = |why: &str| Err(format!("{} accepted: {p:?}", why));
    if !inner.is_ascii() {
        return bad("non-ASCII address");
    }
    if inner.starts_with('@') {
        return bad("source route");
    }
    if inner.ends_with('.') {
        return bad("trailing dot");
    }
    let (local, quoted) = match inner.strip_prefix('"') {
        Some(q) => (&q[..q.rfind('"').unwrap_or(0)], true),
        None => (inner.rsplit_once('@').map_or(inner, |(l, _)| l), false),
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    if quoted && !local.is_empty() && local.chars().all(plain) {
        return bad("needlessly quoted local part");
    }
    if local.starts_with('-') {
        return bad("leading -");
    }
    if local.contains('@') || (rcpt && (local.contains('%') || local.contains('!'))) {
        return bad("relay request");
    }
    Ok(())
}

/// Every name in incoming/, temp files included (smtpd's counters are state, not mail).
fn incoming_names(spool: &Spool) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(spool.queue(Queue::Incoming))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !spool::metrics::is_metrics_file(n))
        .collect();
    v.sort();
    v
}

/// A stored message: its envelope, and the body after smtpd's three-line `Received:` header.
fn read_stored(path: &Path) -> Result<(Envelope, Vec<u8>), String> {
    let (env, body) = Envelope::read_body(path).map_err(|e| format!("stored file: {e}"))?;
    env.validate()
        .map_err(|e| format!("stored envelope: {e}"))?;
    let mut at = 0;
    for i in 0..3 {
        let nl = body[at..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("stored body without a Received: header")?;
        let ok = if i == 0 {
            body[at..].starts_with(b"Received: from ")
        } else {
            body[at] == b'\t'
        };
        if !ok {
            return Err(format!(
                "Received: header line {i} is {:?}",
                String::from_utf8_lossy(&body[at..at + nl])
            ));
        }
        at += nl + 1;
    }
    Ok((env, body[at..].to_vec()))
}

/// Run one case through a real session; `Err` describes the first broken property.
/// The caller empties incoming/ afterwards, whatever the outcome.
fn run_case(c: &Case, spool: &Spool) -> Result<(), String> {
    let ctx = Context {
        settings: Settings {
            hostname: "gw.example.com".into(),
            max_size: c.max_size,
            max_recipients: c.max_recipients,
            command_timeout: Duration::from_secs(5),
            data_timeout: Duration::from_secs(5),
            data_deadline: Duration::from_secs(60),
            session_deadline: if c.no_time {
                Duration::ZERO
            } else {
                Duration::from_secs(120)
            },
            min_free_bytes: 0,
            domains: vec!["example.com".into()],
            delay: Duration::from_millis(1),
            quiet: false,
            relay_policy: smtpd::address::RelayPolicy {
                allow_percent_hack: c.relay_open,
                allow_bang_path: c.relay_open,
            },
            max_hops: c.max_hops,
        },
        spool: spool.clone(),
        queue: Queue::Incoming,
        rules: if c.rules {
            Rules::parse(RULES, "rules").unwrap()
        } else {
            Rules::default()
        },
        tls: None,
    };
    let output = Arc::new(Mutex::new(Vec::new()));
    let t = FuzzTransport {
        input: c.input.clone(),
        pos: 0,
        rng: Rng(c.read_seed),
        max_slice: c.max_slice,
        ending: c.ending,
        output: output.clone(),
        write_budget: c.write_budget,
    };
    let client = c.client.clone();
    let end = catch(|| Session::new(&ctx, t, client).run()).map_err(|p| format!("session {p}"))?;
    let out = output.lock().unwrap().clone();
    judge(c, Some(end), &out, spool)
}

/// Check what a session left: its replies (`out`), the files in incoming/, and how it ended
/// (`None` when only the binary's exit status is known).
fn judge(c: &Case, end: Option<End>, out: &[u8], spool: &Spool) -> Result<(), String> {
    let names = incoming_names(spool);
    if let Some(t) = names.iter().find(|n| n.starts_with(".tmp.")) {
        return Err(format!("temp file left after the session: {t}"));
    }
    let complete = c.write_budget.is_none();
    let replies = parse_replies(out, complete)?;
    if !complete {
        // The client stopped reading: the replies are cut short, so only their syntax (above),
        // the absence of temp files and the soundness of what was stored can be judged.
        for n in &names {
            read_stored(&spool.queue(Queue::Incoming).join(n))?;
        }
        return Ok(());
    }
    if c.no_time {
        // No time at all: the banner, then the deadline's 421, and nothing else.
        let texts: Vec<&str> = replies.iter().map(last).collect();
        let ok = texts.len() == 2
            && texts[0].starts_with("220 ")
            && texts[1].starts_with("421 4.4.2 ")
            && texts[1].contains("time limit exceeded");
        if !ok || !names.is_empty() || end.is_some_and(|e| e != End::Timeout) {
            return Err(format!(
                "with no time: replies {texts:?}, end {end:?}, stored {names:?}"
            ));
        }
        return Ok(());
    }
    let w = walk(c, &replies)?;
    if let Some(end) = end {
        if w.end != end {
            return Err(format!(
                "session ended {end:?}, the replies say {:?}",
                w.end
            ));
        }
    }
    let mut said: Vec<&String> = w.queued.iter().map(|q| &q.id).collect();
    said.sort();
    if names.iter().collect::<Vec<_>>() != said {
        return Err(format!(
            "incoming/ holds {names:?}, the session queued {said:?}"
        ));
    }
    for q in &w.queued {
        let (env, body) = read_stored(&spool.queue(Queue::Incoming).join(&q.id))?;
        let rcpts: Vec<&str> = env.recipients.iter().map(|r| r.addr.as_str()).collect();
        if env.from != q.from || rcpts != q.rcpts || env.recipients.iter().any(|r| r.sent) {
            return Err(format!(
                "{}: envelope {env:?}, accepted FROM {} RCPT {:?}",
                q.id, q.from, q.rcpts
            ));
        }
        if body != q.body {
            let at = body.iter().zip(&q.body).take_while(|(a, b)| a == b).count();
            return Err(format!(
                "{}: stored body differs from the data sent at byte {at} (stored {} bytes, \
                 expected {}): stored {:?}, expected {:?}",
                q.id,
                body.len(),
                q.body.len(),
                String::from_utf8_lossy(&body[at.saturating_sub(20)..(at + 20).min(body.len())]),
                String::from_utf8_lossy(
                    &q.body[at.saturating_sub(20)..(at + 20).min(q.body.len())]
                ),
            ));
        }
    }
    Ok(())
}

fn empty_incoming(spool: &Spool) {
    for n in incoming_names(spool) {
        std::fs::remove_file(spool.queue(Queue::Incoming).join(n)).unwrap();
    }
}

/// A spool on tmpfs when there is one: 250 costs two fsyncs, cheap there.
fn fast_tempdir() -> tempfile::TempDir {
    if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

fn describe(c: &Case) -> String {
    format!(
        "ending {:?}, read slices up to {}, write budget {:?}, max_size {}, max_recipients {}, \
         max_hops {}, relay_open {}, no_time {}, rules {}, client {:?}\ninput ({} bytes): {}",
        c.ending,
        c.max_slice,
        c.write_budget,
        c.max_size,
        c.max_recipients,
        c.max_hops,
        c.relay_open,
        c.no_time,
        c.rules,
        c.client,
        c.input.len(),
        testkit::fuzz::show(&c.input)
    )
}

#[test]
fn fuzz_sessions_in_process() {
    let started = Instant::now();
    let dir = fast_tempdir();
    let spool = Spool::new(dir.path());
    spool.create().unwrap();
    let mut rng = Rng::new(DEFAULT_SEED, 11);
    let n = iterations(3000);
    let (mut queued_total, mut data_sessions) = (0usize, 0usize);
    let mut findings = Findings::new("fuzz_sessions_in_process");
    for i in 0..n {
        let c = case(&mut rng);
        let t0 = Instant::now();
        let result = run_case(&c, &spool);
        if std::env::var_os("FUZZ_SLOW").is_some() && t0.elapsed() > Duration::from_millis(200) {
            eprintln!(
                "case {i}: {:?} for {} bytes, slices {}",
                t0.elapsed(),
                c.input.len(),
                c.max_slice
            );
        }
        let stored = incoming_names(&spool).len();
        empty_incoming(&spool);
        if let Err(e) = result {
            let with = |input: &[u8]| Case {
                input: input.to_vec(),
                ..c.clone()
            };
            let check = |input: &[u8]| {
                let r = run_case(&with(input), &spool).err();
                empty_incoming(&spool);
                r
            };
            findings.add_shown(format!("case {i}: {e}"), &c.input, &check, &|b| {
                describe(&with(b))
            });
        }
        queued_total += stored;
        data_sessions += usize::from(stored > 0);
    }
    eprintln!(
        "sessions: {n} in {:?}, {queued_total} messages stored by {data_sessions} sessions",
        started.elapsed()
    );
    findings.assert_none();
    // The grammar must reach DATA often, or the body checks prove little.
    assert!(
        data_sessions > n / 5,
        "only {data_sessions} sessions stored mail"
    );
}

/// Run one case through the real binary in inetd mode: the dialogue on its stdin, the replies
/// from its stdout. Returns the replies, or the crash.
fn run_binary(c: &Case, ts: &TestSpool) -> Result<Vec<u8>, String> {
    let mut p = Proc::spawn(
        "smtpd",
        common::command(ts, &["-H"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdin = p.child.stdin.take().unwrap();
    let mut stdout = p.child.stdout.take().unwrap();
    let input = c.input.clone();
    let slice = c.max_slice;
    // The client writes while it reads, as a pipelining client does (replies would fill the
    // pipe otherwise). It may be refused with EPIPE once smtpd has quit: that is fine.
    let writer = std::thread::spawn(move || {
        for chunk in input.chunks(slice.max(512)) {
            if stdin.write_all(chunk).is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    match c.write_budget {
        // The client stops reading: smtpd's writes fail (EPIPE), which must not kill it.
        Some(n) => {
            let mut buf = vec![0u8; n];
            let got = read_up_to(&mut stdout, &mut buf);
            out.extend_from_slice(&buf[..got]);
            drop(stdout);
        }
        None => {
            stdout
                .read_to_end(&mut out)
                .map_err(|e| format!("stdout: {e}"))?;
        }
    }
    writer.join().unwrap();
    let status = p
        .wait_timeout(Duration::from_secs(30))
        .ok_or("smtpd did not exit within 30 s")?;
    match status.code() {
        Some(0) | Some(64..=78) => Ok(out),
        Some(code) => Err(format!("smtpd exited {code}")),
        None => Err(format!("smtpd died: {status:?}")),
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got
}

#[test]
fn fuzz_sessions_through_the_binary() {
    let started = Instant::now();
    let ts = TestSpool::new(&testkit::Conf::new().section(
        "smtpd",
        "max_size = 100000\nmax_recipients = 3\ndelay_seconds = 0\nmax_hops = 10",
    ));
    ts.write_etc("smtpd_check_rules", RULES.as_bytes());
    let mut rng = Rng::new(DEFAULT_SEED, 12);
    let n = iterations(300);
    let mut stored = 0;
    let mut findings = Findings::new("fuzz_sessions_through_the_binary");
    for i in 0..n {
        let mut c = case(&mut rng);
        // What the binary's configuration says; EOF is the only ending a pipe has.
        c.ending = Ending::Eof;
        c.max_size = 100_000;
        c.max_recipients = 3;
        c.max_hops = 10;
        c.relay_open = false;
        c.no_time = false;
        c.rules = true;
        c.client = Client::default();
        let t0 = Instant::now();
        let result = run_binary(&c, &ts).and_then(|out| judge(&c, None, &out, &ts.spool));
        if std::env::var_os("FUZZ_SLOW").is_some() && t0.elapsed() > Duration::from_millis(200) {
            eprintln!(
                "binary case {i}: {:?} for {} bytes",
                t0.elapsed(),
                c.input.len()
            );
        }
        stored += ts.all_names(Queue::Incoming).len();
        empty_incoming(&ts.spool);
        if let Err(e) = result {
            let with = |input: &[u8]| Case {
                input: input.to_vec(),
                ..c.clone()
            };
            let check = |input: &[u8]| {
                let c = with(input);
                let r = run_binary(&c, &ts).and_then(|out| judge(&c, None, &out, &ts.spool));
                empty_incoming(&ts.spool);
                r.err()
            };
            findings.add_shown(format!("binary case {i}: {e}"), &c.input, &check, &|b| {
                describe(&with(b))
            });
        }
    }
    findings.assert_none();
    eprintln!(
        "binary sessions: {n} in {:?}, {stored} messages stored",
        started.elapsed()
    );
    assert!(stored > n / 5, "only {stored} messages stored");
}

// ---------------------------------------------------------------------------------------------
// The command parser and the rules' glob, on their own: many more inputs than whole sessions

/// Mutate a command line: byte flips, insertions of bytes that matter, deletions, splices.
fn mutate_line(rng: &mut Rng, line: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(line.len() + 1);
        match rng.below(6) {
            0 if !line.is_empty() => {
                let i = at.min(line.len() - 1);
                line[i] ^= 1 << rng.below(8);
            }
            1 if !line.is_empty() => {
                line.remove(at.min(line.len() - 1));
            }
            2 => line.insert(at, *rng.pick(b"<>\"@: \t=\0\r\x7f\xc3\xa9\xff")),
            3 => {
                const TOKENS: &[&[u8]] = &[
                    b"<",
                    b">",
                    b"\"",
                    b" SIZE=",
                    b" BODY=",
                    b"FROM:",
                    b"TO:",
                    "\u{85}".as_bytes(),
                    "\u{2028}".as_bytes(),
                    "\u{e9}".as_bytes(),
                ];
                let t = TOKENS[rng.below(TOKENS.len())];
                line.splice(at..at, t.iter().copied());
            }
            4 => line.truncate(at),
            _ => {
                let n = rng.below(300);
                line.splice(at..at, std::iter::repeat_n(b'a', n));
            }
        }
    }
}

/// What a parsed path must be before it may reach a spool file.
fn check_path(p: &str) -> Result<(), String> {
    let inner = p
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .ok_or_else(|| format!("path without brackets: {p:?}"))?;
    if inner.len() > 256 {
        return Err(format!("path of {} bytes", inner.len()));
    }
    if inner
        .chars()
        .any(|c| c.is_control() || c == '<' || c == '>')
    {
        return Err(format!("path with a control character or bracket: {p:?}"));
    }
    Envelope::new(p, [p.to_string()])
        .validate()
        .map_err(|e| format!("path the spool refuses: {e}"))
}

fn check_command(line: &[u8]) -> Result<(), String> {
    let r = catch(|| parse_command(line)).map_err(|p| format!("parse_command {p}"))?;
    match r {
        Ok(Command::Mail { from, .. }) => check_path(&from),
        Ok(Command::Rcpt { to }) if to == "<>" => Err("RCPT TO:<> accepted".into()),
        Ok(Command::Rcpt { to }) => check_path(&to),
        Ok(Command::Helo(n) | Command::Ehlo(n)) => {
            if n.is_empty()
                || n.len() > 255
                || n.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                Err(format!("HELO name accepted: {n:?}"))
            } else {
                Ok(())
            }
        }
        Ok(_) => Ok(()),
        Err(reply) => {
            let b = reply.as_bytes();
            let ok = b.len() >= 4
                && (b'4'..=b'5').contains(&b[0])
                && b[1].is_ascii_digit()
                && b[2].is_ascii_digit()
                && b[3] == b' ';
            if ok {
                Ok(())
            } else {
                Err(format!("error reply {reply:?}"))
            }
        }
    }
}

#[test]
fn fuzz_parse_command() {
    let seeds: &[&[u8]] = &[
        b"MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME",
        b"MAIL FROM:<>",
        b"mail from: bare@example.org",
        b"RCPT TO:<\"john smith\"@example.com>",
        b"RCPT TO:<postmaster>",
        b"EHLO client.example.org",
        b"HELO [192.0.2.1]",
        b"DATA",
        b"VRFY bob",
        b"NOOP x",
        b"STARTTLS",
        b"QUIT",
    ];
    let mut rng = Rng::new(DEFAULT_SEED, 13);
    let n = iterations(50_000);
    let mut accepted = 0;
    let mut findings = Findings::new("fuzz_parse_command");
    for i in 0..n {
        let mut line = seeds[i % seeds.len()].to_vec();
        mutate_line(&mut rng, &mut line);
        line.truncate(511);
        if let Err(e) = check_command(&line) {
            findings.add(e, &line, &|l| check_command(l).err());
        }
        accepted += usize::from(parse_command(&line).is_ok());
    }
    findings.assert_none();
    assert!(
        accepted > n / 10 && accepted < n - n / 10,
        "accepted {accepted} of {n}"
    );
}

#[test]
fn fuzz_rules_glob() {
    use spool::rules::glob;
    let mut rng = Rng::new(DEFAULT_SEED, 14);
    let alphabet = b"ab*?@.";
    // One input is `pattern TAB string` (neither alphabet has a TAB).
    let check = |input: &[u8]| {
        let at = input.iter().position(|&b| b == b'\t')?;
        let (p, s) = (&input[..at], &input[at + 1..]);
        let (got, want) = (glob(p, s), testkit::fuzz::glob_reference(p, s));
        (got != want).then(|| format!("glob is {got}, the reference {want}"))
    };
    let mut findings = Findings::new("fuzz_rules_glob");
    for _ in 0..iterations(50_000) {
        let p: Vec<u8> = (0..rng.below(10)).map(|_| *rng.pick(alphabet)).collect();
        let s: Vec<u8> = (0..rng.below(14)).map(|_| *rng.pick(b"ab@.*?")).collect();
        let input = [&p[..], b"\t", &s[..]].concat();
        if let Some(e) = check(&input) {
            findings.add(e, &input, &check);
        }
    }
    findings.assert_none();
    // Hostile sizes stay fast: a pattern of many stars against a long near-miss.
    let started = Instant::now();
    let p = b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b".repeat(4);
    let s = vec![b'a'; 300];
    assert!(!glob(&p, &s));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
