//! One SMTP session (RFC 5321 with SIZE, PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, STARTTLS),
//! over any [`Transport`]: a TCP connection, inetd's stdin/stdout, or memory in unit tests.
//!
//! Replies are buffered and flushed only when the session is about to wait for input, which is
//! what makes pipelining cheap. DATA is streamed line by line into a [`spool::Staged`] temp file;
//! memory per session is the 64 KiB input buffer and the 64 KiB file buffer whatever the size of
//! the message. `250` is sent only after [`spool::Staged::commit`] returned: the message is on
//! disk, fsynced, under its final name.
//!
//! Against hostile clients: only `<CR><LF>.<CR><LF>` ends DATA (bare LF and bare CR are stored as
//! line ends: no SMTP smuggling); addresses are parsed and normalised by [`crate::address`] and
//! relay requests refused; more than `max_hops` `Received:` headers is a loop (554 5.4.6); and
//! every wait has a deadline (the command line, the DATA phase, the session) besides the
//! timeout of each read, so a client dribbling one byte a second is cut off (421).

use crate::address::{self, RelayPolicy, MAX_PATH};
use crate::rules::{Action, Client, Rules};
use crate::transport::Transport;
use log::{info, warn};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use spool::{Envelope, Queue, Spool, Staged};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest command line, CRLF included (RFC 5321 4.5.3.1.4).
pub const MAX_COMMAND: usize = 512;
/// Longest reply line, CRLF included (RFC 5321 4.5.3.1.5).
const MAX_REPLY: usize = 512;
const INPUT_BUFFER: usize = 64 * 1024;
/// Errors tolerated before the session is dropped (protocol abuse, dictionary attacks).
const MAX_ERRORS: usize = 20;

/// Everything a session needs that does not change while the server runs.
pub struct Settings {
    pub hostname: String,
    /// 0 = no limit.
    pub max_size: u64,
    pub max_recipients: usize,
    /// Deadline for one command line, however slowly it arrives.
    pub command_timeout: Duration,
    /// Longest silence inside DATA.
    pub data_timeout: Duration,
    /// Deadline for the whole DATA phase.
    pub data_deadline: Duration,
    /// Deadline for the whole session.
    pub session_deadline: Duration,
    pub min_free_bytes: u64,
    /// Local domains: recipients there are accepted without a rule.
    pub domains: Vec<String>,
    /// Sleep of the `deny_delay` / `noto_delay` rules.
    pub delay: Duration,
    /// `-q`: no log line per session, only per message.
    pub quiet: bool,
    /// Percent hacks and bang paths in recipients (`allow_percent_hack`, `allow_bang_path`).
    pub relay_policy: RelayPolicy,
    /// More `Received:` headers than this: 554 5.4.6, nothing stored (a mail loop).
    pub max_hops: usize,
}

pub struct Context {
    pub settings: Settings,
    pub spool: Spool,
    pub queue: Queue,
    pub rules: Rules,
    pub tls: Option<Arc<ServerConfig>>,
}

/// How a session ended (for the session's log line and the exit status in inetd mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Quit,
    /// The client went away without QUIT (or the connection broke).
    Disconnected,
    Timeout,
    Shutdown,
    /// Dropped by us: a `deny` rule, too many errors, a failed TLS handshake.
    Dropped,
}

impl End {
    fn as_str(self) -> &'static str {
        match self {
            End::Quit => "quit",
            End::Disconnected => "disconnected",
            End::Timeout => "timeout",
            End::Shutdown => "shutdown",
            End::Dropped => "dropped",
        }
    }
}

enum Stream<T: Transport> {
    Plain(T),
    Tls(Box<StreamOwned<ServerConnection, T>>),
    /// Only while switching to TLS.
    Switching,
}

impl<T: Transport> Stream<T> {
    fn set_timeout(&mut self, d: Duration) {
        match self {
            Stream::Plain(t) => t.set_read_timeout(d),
            Stream::Tls(s) => s.sock.set_read_timeout(d),
            Stream::Switching => {}
        }
    }
}

impl<T: Transport> Read for Stream<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Switching => Ok(0),
        }
    }
}

impl<T: Transport> Write for Stream<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Switching => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(t) => t.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Switching => Ok(()),
        }
    }
}

/// The connection: the stream, the input buffer, the pending replies, and how long reads may
/// wait.
struct Conn<T: Transport> {
    io: Stream<T>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    /// Longest wait for one read.
    read_timeout: Duration,
    /// When the current command line or DATA phase (or the session) must be complete. A
    /// client that sends one byte a second keeps every single read short; this is what ends it.
    deadline: Instant,
}

/// Why reading stopped.
#[derive(Debug)]
enum Stop {
    Eof,
    /// No byte within the read timeout.
    Timeout,
    /// The command line, the DATA phase or the session took longer than its deadline.
    Deadline,
    Shutdown,
}

impl<T: Transport> Conn<T> {
    /// Queue a reply (several lines joined by CRLF for a multi-line one). Some replies echo the
    /// client's text (the EHLO name, a parameter, rule replies quoting addresses), so every line
    /// is made to fit RFC 5321 here, once for all: printable US-ASCII only (4.2), and at most
    /// 512 bytes with its CRLF (4.5.3.1.5).
    fn reply(&mut self, text: &str) {
        for line in text.split("\r\n") {
            for c in line.chars().take(MAX_REPLY - 2) {
                self.out.push(if c == ' ' || c.is_ascii_graphic() {
                    c as u8
                } else {
                    b'?'
                });
            }
            self.out.extend_from_slice(b"\r\n");
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let r = self.io.write_all(&self.out).and_then(|_| self.io.flush());
            self.out.clear();
            r?;
        }
        Ok(())
    }

    /// Read more bytes into the buffer (flushing replies first: we are about to wait).
    fn fill(&mut self) -> Result<(), Stop> {
        if self.flush().is_err() {
            return Err(Stop::Eof);
        }
        // Move the unread bytes to the front only when the tail is full: compacting on every
        // read made a client that trickles a long line byte by byte cost a memmove of up to
        // half the buffer per byte.
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Callers never ask for more with a full buffer.
            return Err(Stop::Eof);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Stop::Deadline);
        }
        let deadline_first = left < self.read_timeout;
        self.io.set_timeout(left.min(self.read_timeout));
        loop {
            match self.io.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(Stop::Eof),
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) => {
                    return Err(match e.kind() {
                        io::ErrorKind::Interrupted => continue,
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock if deadline_first => {
                            Stop::Deadline
                        }
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Stop::Timeout,
                        io::ErrorKind::ConnectionAborted => Stop::Shutdown,
                        _ => Stop::Eof,
                    })
                }
            }
        }
    }

    /// One command line without its line end; `Ok(None)` for a line over [`MAX_COMMAND`]
    /// (read and thrown away up to its end).
    fn command_line(&mut self) -> Result<Option<Vec<u8>>, Stop> {
        let mut too_long = false;
        loop {
            let avail = &self.buf[self.start..self.end];
            if let Some(pos) = avail.iter().position(|&b| b == b'\n') {
                let line = &avail[..pos];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let result = if too_long || pos + 1 > MAX_COMMAND {
                    None
                } else {
                    Some(line.to_vec())
                };
                self.start += pos + 1;
                return Ok(result);
            }
            if avail.len() >= MAX_COMMAND {
                too_long = true;
                self.start = self.end;
            }
            self.fill()?;
        }
    }
}

/// What a DATA phase produced.
struct DataOutcome {
    size: u64,
    too_big: bool,
    /// `Received:` fields in the message's header section.
    hops: usize,
    /// More of them than `max_hops`: a mail loop.
    looping: bool,
    write_error: Option<io::Error>,
}

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

/// The domain of `<user@domain>` (after the last `@`), lower-cased, without a trailing dot.
fn domain_of(addr: &str) -> Option<String> {
    let bare = spool::envelope::strip_brackets(addr);
    let (_, d) = bare.rsplit_once('@')?;
    Some(d.trim_end_matches('.').to_ascii_lowercase())
}

struct Transaction {
    from: String,
    rcpts: Vec<String>,
}

pub struct Session<'a, T: Transport> {
    ctx: &'a Context,
    conn: Conn<T>,
    client: Client,
    helo: Option<String>,
    esmtp: bool,
    tls: bool,
    tx: Option<Transaction>,
    messages: usize,
    errors: usize,
    /// The cap on the whole session.
    session_end: Instant,
}

impl<'a, T: Transport> Session<'a, T> {
    pub fn new(ctx: &'a Context, transport: T, client: Client) -> Self {
        Session {
            ctx,
            conn: Conn {
                io: Stream::Plain(transport),
                buf: vec![0u8; INPUT_BUFFER].into_boxed_slice(),
                start: 0,
                end: 0,
                out: Vec::with_capacity(512),
                read_timeout: ctx.settings.command_timeout,
                deadline: after(ctx.settings.command_timeout),
            },
            session_end: after(ctx.settings.session_deadline),
            client,
            helo: None,
            esmtp: false,
            tls: false,
            tx: None,
            messages: 0,
            errors: 0,
        }
    }

    fn client_label(&self) -> String {
        format!(
            "{}[{}]",
            self.client.name_or_unknown(),
            self.client.ip_or_unknown()
        )
    }

    fn s(&self) -> &'a Settings {
        &self.ctx.settings
    }

    /// Run the session to its end; logs one line for it.
    pub fn run(mut self) -> End {
        let end = self.serve();
        let _ = self.conn.flush();
        if self.s().quiet {
            return end;
        }
        info!(
            "session: client={} helo={} messages={} tls={} end={}",
            self.client_label(),
            self.helo.as_deref().unwrap_or("-"),
            self.messages,
            if self.tls { "yes" } else { "no" },
            end.as_str()
        );
        end
    }

    /// Greet with a 421 and close (too many clients, shutdown before the session began);
    /// `status` is the enhanced status code (`4.3.2`, `4.7.0`).
    pub fn refuse(mut self, status: &str, text: &str) {
        let host = self.s().hostname.clone();
        self.conn.reply(&format!("421 {status} {host} {text}"));
        let _ = self.conn.flush();
        info!("session: client={} refused: {text}", self.client_label());
    }

    fn serve(&mut self) -> End {
        let host = self.s().hostname.clone();
        self.conn.reply(&format!(
            "220 {host} SMTP ready, Who are you gonna pretend to be today?"
        ));
        loop {
            self.limit_reads(self.s().command_timeout, self.s().command_timeout);
            let line = match self.conn.command_line() {
                Ok(l) => l,
                Err(stop) => return self.stopped(stop),
            };
            if crate::transport::shutting_down() {
                return self.stopped(Stop::Shutdown);
            }
            let Some(line) = line else {
                self.error("500 5.5.2 Line too long");
                if self.errors >= MAX_ERRORS {
                    return self.too_many_errors();
                }
                continue;
            };
            let cmd = match parse_command(&line) {
                Ok(c) => c,
                Err(reply) => {
                    self.error(&reply);
                    if self.errors >= MAX_ERRORS {
                        return self.too_many_errors();
                    }
                    continue;
                }
            };
            if let Some(end) = self.dispatch(cmd) {
                return end;
            }
            if self.errors >= MAX_ERRORS {
                return self.too_many_errors();
            }
        }
    }

    /// From now on, each read waits at most `read_timeout`, and all of them together end within
    /// `deadline` (and within the session's own deadline).
    fn limit_reads(&mut self, read_timeout: Duration, deadline: Duration) {
        self.conn.read_timeout = read_timeout;
        self.conn.deadline = self.session_end.min(after(deadline));
    }

    fn error(&mut self, reply: &str) {
        self.errors += 1;
        self.conn.reply(reply);
    }

    fn too_many_errors(&mut self) -> End {
        let host = self.s().hostname.clone();
        self.conn.reply(&format!(
            "421 4.7.0 {host} Too many errors, closing connection"
        ));
        End::Dropped
    }

    fn stopped(&mut self, stop: Stop) -> End {
        let host = self.s().hostname.clone();
        match stop {
            Stop::Eof => End::Disconnected,
            Stop::Timeout => {
                self.conn
                    .reply(&format!("421 4.4.2 {host} Error: timeout exceeded"));
                End::Timeout
            }
            Stop::Deadline => {
                self.conn
                    .reply(&format!("421 4.4.2 {host} Error: time limit exceeded"));
                End::Timeout
            }
            Stop::Shutdown => {
                self.conn
                    .reply(&format!("421 4.3.2 {host} Service shutting down"));
                End::Shutdown
            }
        }
    }

    /// Handle one command; `Some` ends the session.
    fn dispatch(&mut self, cmd: Command) -> Option<End> {
        let host = self.s().hostname.clone();
        match cmd {
            Command::Helo(name) => {
                self.tx = None;
                self.esmtp = false;
                self.conn.reply(&format!("250 {host}"));
                self.helo = Some(name);
            }
            Command::Ehlo(name) => {
                self.tx = None;
                self.esmtp = true;
                let mut r = format!("250-{host} Hello {name}\r\n");
                let _ = write!(r, "250-SIZE {}\r\n", self.s().max_size);
                r.push_str("250-PIPELINING\r\n250-8BITMIME\r\n");
                if self.ctx.tls.is_some() && !self.tls {
                    r.push_str("250-STARTTLS\r\n");
                }
                r.push_str("250 ENHANCEDSTATUSCODES");
                self.conn.reply(&r);
                self.helo = Some(name);
            }
            Command::Mail { from, size } => self.mail(from, size),
            Command::Rcpt { to } => return self.rcpt(to),
            Command::Data => return self.data(),
            Command::Rset => {
                self.tx = None;
                self.conn.reply("250 2.0.0 Ok");
            }
            Command::Noop => self.conn.reply("250 2.0.0 Ok"),
            Command::Quit => {
                self.conn
                    .reply(&format!("221 2.0.0 {host} closing connection"));
                return Some(End::Quit);
            }
            Command::Vrfy => self
                .conn
                .reply("252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery"),
            Command::Help => {
                let tls = if self.ctx.tls.is_some() {
                    " STARTTLS"
                } else {
                    ""
                };
                self.conn.reply(&format!(
                    "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP{tls}"
                ));
            }
            Command::StartTls => return self.starttls(),
            Command::NotImplemented => self.error("502 5.5.1 Command not implemented"),
        }
        None
    }

    /// Refuse mail while the spool's disk is nearly full (OpenSMTPD's habit): better a 4xx now
    /// than a failed write after the client sent megabytes.
    fn low_on_space(&self) -> bool {
        let min = self.s().min_free_bytes;
        if min == 0 {
            return false;
        }
        match spool::store::free_bytes(&self.ctx.spool.queue(self.ctx.queue)) {
            Ok(free) => free < min,
            Err(e) => {
                warn!("cannot check free space: {e}");
                false
            }
        }
    }

    fn mail(&mut self, from: String, size: Option<u64>) {
        if self.helo.is_none() {
            return self.error("503 5.5.1 Error: send HELO/EHLO first");
        }
        if self.tx.is_some() {
            return self.error("503 5.5.1 Error: nested MAIL command");
        }
        let max = self.s().max_size;
        if let Some(n) = size {
            if max > 0 && n > max {
                return self.error("552 5.3.4 Message size exceeds fixed maximum message size");
            }
        }
        if self.low_on_space() {
            warn!(
                "client={}: refused MAIL: less than {} bytes free in the spool",
                self.client_label(),
                self.s().min_free_bytes
            );
            return self.conn.reply("452 4.3.1 Insufficient system storage");
        }
        self.tx = Some(Transaction {
            from,
            rcpts: Vec::new(),
        });
        self.conn.reply("250 2.1.0 Ok");
    }

    fn rcpt(&mut self, to: String) -> Option<End> {
        let Some(tx) = &self.tx else {
            self.error("503 5.5.1 Error: need MAIL command");
            return None;
        };
        if tx.rcpts.len() >= self.s().max_recipients {
            self.conn.reply("452 4.5.3 Error: too many recipients");
            return None;
        }
        let refusal = address::parse(spool::envelope::strip_brackets(&to))
            .ok()
            .and_then(|m| self.s().relay_policy.refusal(&m));
        if let Some(reply) = refusal {
            info!(
                "client={}: relay request refused: to={to}",
                self.client_label()
            );
            self.error(reply);
            return None;
        }
        let from = tx.from.clone();
        let mut debug_hits = Vec::new();
        let verdict = self
            .ctx
            .rules
            .check(&self.client, &from, &to, &mut debug_hits);
        for line in debug_hits {
            info!(
                "client={}: check rule line {line} matched from={from} to={to}",
                self.client_label()
            );
        }
        let local = match domain_of(&to) {
            Some(d) => self.s().domains.iter().any(|x| x.eq_ignore_ascii_case(&d)),
            // RFC 5321 requires <postmaster> to be accepted without a domain.
            None => spool::envelope::strip_brackets(&to).eq_ignore_ascii_case("postmaster"),
        };
        match verdict {
            Some(v) if v.action == Action::Allow => {}
            Some(v) => {
                if matches!(v.action, Action::DenyDelay | Action::NotoDelay) {
                    let _ = self.conn.flush();
                    std::thread::sleep(self.s().delay);
                }
                info!(
                    "client={}: refused by check rule line {}: from={from} to={to}: {}",
                    self.client_label(),
                    v.line,
                    v.reply
                );
                self.errors += 1;
                self.conn.reply(&v.reply);
                if matches!(v.action, Action::Deny | Action::DenyDelay) {
                    let host = self.s().hostname.clone();
                    self.conn
                        .reply(&format!("421 4.7.1 {host} closing connection"));
                    return Some(End::Dropped);
                }
                return None;
            }
            None if local => {}
            None => {
                info!(
                    "client={}: relaying denied: from={from} to={to}",
                    self.client_label()
                );
                self.error("550 5.7.1 Relaying denied");
                return None;
            }
        }
        if let Some(tx) = &mut self.tx {
            tx.rcpts.push(to);
        }
        self.conn.reply("250 2.1.5 Ok");
        None
    }

    fn received_header(&self, id: &str) -> String {
        let proto = match (self.esmtp, self.tls) {
            (true, true) => "ESMTPS",
            (true, false) => "ESMTP",
            (false, true) => "SMTPS",
            (false, false) => "SMTP",
        };
        format!(
            "Received: from {} ({} [{}])\n\tby {} (smtpd) with {proto} id {id};\n\t{}\n",
            self.helo.as_deref().unwrap_or("unknown"),
            self.client.name_or_unknown(),
            self.client.ip_or_unknown(),
            self.s().hostname,
            spool::clock::rfc5322(&spool::clock::now())
        )
    }

    fn data(&mut self) -> Option<End> {
        let Some(tx) = self.tx.as_ref() else {
            self.error("503 5.5.1 Error: need MAIL command");
            return None;
        };
        if tx.rcpts.is_empty() {
            self.error("554 5.5.1 Error: no valid recipients");
            return None;
        }
        let env = Envelope::new(tx.from.clone(), tx.rcpts.iter().cloned());
        if self.low_on_space() {
            warn!(
                "client={}: refused DATA: less than {} bytes free in the spool",
                self.client_label(),
                self.s().min_free_bytes
            );
            self.tx = None;
            self.conn.reply("452 4.3.1 Insufficient system storage");
            return None;
        }
        let mut staged = match Staged::create(&self.ctx.spool, self.ctx.queue) {
            Ok(s) => s,
            Err(e) => {
                warn!(
                    "client={}: cannot create a spool file: {e}",
                    self.client_label()
                );
                self.tx = None;
                self.conn.reply(if e.is_disk_full() {
                    "452 4.3.1 Insufficient system storage"
                } else {
                    "451 4.3.0 Local error in processing"
                });
                return None;
            }
        };
        let id = staged.id().to_string();
        let head = self.received_header(&id);
        let mut early_error = env
            .write_to(&mut staged)
            .and_then(|_| staged.write_all(head.as_bytes()))
            .err();
        let mut sink = if early_error.is_some() {
            None
        } else {
            Some(staged)
        };
        self.conn.reply("354 End data with <CR><LF>.<CR><LF>");
        self.limit_reads(self.s().data_timeout, self.s().data_deadline);
        let outcome = match self.receive(&mut sink) {
            Ok(o) => o,
            Err(stop) => {
                drop(sink);
                self.tx = None;
                info!(
                    "{id}: client={} from={} to={} result=aborted ({:?} during DATA)",
                    self.client_label(),
                    env.from,
                    rcpt_list(&env),
                    stop
                );
                return Some(self.stopped(stop));
            }
        };
        self.tx = None;
        if outcome.write_error.is_some() {
            early_error = outcome.write_error;
        }
        let (reply, result) = if outcome.too_big {
            drop(sink);
            (
                "552 5.3.4 Message size exceeds fixed maximum message size".to_string(),
                "refused (too big)".to_string(),
            )
        } else if outcome.looping {
            drop(sink);
            (
                "554 5.4.6 Too many hops".to_string(),
                format!(
                    "refused (too many hops: {} Received: headers, max_hops {})",
                    outcome.hops,
                    self.s().max_hops
                ),
            )
        } else if let Some(e) = early_error {
            drop(sink);
            let full = matches!(e.raw_os_error(), Some(28) | Some(122));
            (
                if full {
                    "452 4.3.1 Insufficient system storage".to_string()
                } else {
                    "451 4.3.0 Local error in processing".to_string()
                },
                format!("failed ({e})"),
            )
        } else {
            match sink.take().map(Staged::commit) {
                Some(Ok(_)) => {
                    self.messages += 1;
                    (
                        format!("250 2.0.0 Ok: queued as {id}"),
                        "queued".to_string(),
                    )
                }
                Some(Err(e)) => (
                    if e.is_disk_full() {
                        "452 4.3.1 Insufficient system storage".to_string()
                    } else {
                        "451 4.3.0 Local error in processing".to_string()
                    },
                    format!("failed ({e})"),
                ),
                None => (
                    "451 4.3.0 Local error in processing".to_string(),
                    "failed".to_string(),
                ),
            }
        };
        info!(
            "{id}: client={} from={} to={} size={} result={result}",
            self.client_label(),
            env.from,
            rcpt_list(&env),
            outcome.size
        );
        self.conn.reply(&reply);
        None
    }

    /// Read the message up to `<CR><LF>.<CR><LF>`, storing it into `sink` with every line end
    /// turned into LF and dot-stuffing removed. Past the size limit or after a write error the
    /// rest is read and thrown away, so that the session stays in step and can answer.
    ///
    /// SMTP smuggling (CVE-2023-51764 and kin): only a `.` line that ends in CRLF *and* follows a
    /// CRLF ends the data, as in Postfix's `smtpd_forbid_bare_newline = normalize`. A bare LF or a
    /// bare CR ends a line of the message (stored as LF) but never the message, so whatever a
    /// client puts after `\n.\n`, `\r\n.\n` or `\n.\r\n` is message text, never a command.
    /// Bare CRs become line ends rather than staying in the file: the scanner, the internal
    /// server and every reader of the spool then agree on where the lines are.
    fn receive(&mut self, sink: &mut Option<Staged>) -> Result<DataOutcome, Stop> {
        let limit = self.s().max_size;
        let max_hops = self.s().max_hops;
        let mut out = DataOutcome {
            size: 0,
            too_big: false,
            hops: 0,
            looping: false,
            write_error: None,
        };
        let emit = |bytes: &[u8], sink: &mut Option<Staged>, out: &mut DataOutcome| {
            out.size += bytes.len() as u64;
            if limit > 0 && out.size > limit {
                out.too_big = true;
            }
            if out.too_big || out.looping || out.write_error.is_some() {
                // Free the disk now rather than at the end of a huge transfer.
                *sink = None;
                return;
            }
            if let Some(s) = sink.as_mut() {
                if let Err(e) = s.write_all(bytes) {
                    out.write_error = Some(e);
                    *sink = None;
                }
            }
        };
        let conn = &mut self.conn;
        let mut at_line_start = true;
        // Still in the message's header section (until its first empty line): where `Received:`
        // fields are counted, as Postfix's hopcount_limit counts them.
        let mut in_headers = true;
        let mut count_hop = |line: &[u8], out: &mut DataOutcome| {
            if !in_headers {
                return;
            }
            if line.is_empty() {
                in_headers = false;
            } else if is_received_field(line) {
                out.hops += 1;
                out.looping |= out.hops > max_hops;
            }
        };
        // The line before ended in CRLF (the DATA command counts as one).
        let mut after_crlf = true;
        // How much of the unread bytes is known to hold no CR or LF: a line that arrives in
        // many small reads is searched once, not once per read.
        let mut scanned = 0;
        loop {
            let avail = &conn.buf[conn.start..conn.end];
            let hit = avail[scanned..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map(|p| p + scanned);
            // (length of the line's text, bytes it takes up, ends in CRLF)
            let line_end = match hit {
                Some(p) if avail[p] == b'\n' => Some((p, p + 1, false)),
                Some(p) if p + 1 < avail.len() => {
                    let crlf = avail[p + 1] == b'\n';
                    Some((p, p + 1 + usize::from(crlf), crlf))
                }
                // Nothing yet, or a CR whose next byte decides between CRLF and a bare CR.
                _ => None,
            };
            if let Some((len, used, crlf)) = line_end {
                let mut line = &avail[..len];
                conn.start += used;
                scanned = 0;
                if at_line_start {
                    if crlf && after_crlf && line == b"." {
                        return Ok(out);
                    }
                    if line.first() == Some(&b'.') {
                        line = &line[1..];
                    }
                    count_hop(line, &mut out);
                }
                emit(line, sink, &mut out);
                emit(b"\n", sink, &mut out);
                at_line_start = true;
                after_crlf = crlf;
            } else if avail.len() >= conn.buf.len() / 2 {
                // A very long line: pass on what we have, keeping a trailing CR that may be
                // the first half of a CRLF.
                let keep = usize::from(avail.ends_with(b"\r"));
                let mut chunk = &avail[..avail.len() - keep];
                if at_line_start {
                    if chunk[0] == b'.' {
                        chunk = &chunk[1..];
                    }
                    count_hop(chunk, &mut out);
                }
                emit(chunk, sink, &mut out);
                conn.start = conn.end - keep;
                scanned = 0;
                at_line_start = false;
            } else {
                scanned = hit.unwrap_or(avail.len());
                conn.fill()?;
            }
        }
    }

    fn starttls(&mut self) -> Option<End> {
        let Some(cfg) = self.ctx.tls.clone() else {
            self.error("502 5.5.1 Command not implemented");
            return None;
        };
        if self.tls {
            self.error("503 5.5.1 Error: TLS already active");
            return None;
        }
        self.conn.reply("220 2.0.0 Ready to start TLS");
        if self.conn.flush().is_err() {
            return Some(End::Disconnected);
        }
        // RFC 3207 / CVE-2011-0411: whatever the client pipelined after STARTTLS was sent in
        // the clear and must not be taken as coming over TLS.
        self.conn.start = 0;
        self.conn.end = 0;
        let plain = match std::mem::replace(&mut self.conn.io, Stream::Switching) {
            Stream::Plain(t) => t,
            other => {
                self.conn.io = other;
                return Some(End::Dropped);
            }
        };
        let server = match ServerConnection::new(cfg) {
            Ok(s) => s,
            Err(e) => {
                warn!("client={}: TLS setup failed: {e}", self.client_label());
                return Some(End::Dropped);
            }
        };
        let mut stream = StreamOwned::new(server, plain);
        // Finish the handshake now, so that a failure ends the session here, cleanly; a
        // handshake dribbled byte by byte gets no more time than a command line.
        self.limit_reads(self.s().command_timeout, self.s().command_timeout);
        while stream.conn.is_handshaking() {
            let left = self.conn.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                info!(
                    "client={}: TLS handshake took too long",
                    self.client_label()
                );
                return Some(End::Timeout);
            }
            stream.sock.set_read_timeout(left);
            if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
                info!("client={}: TLS handshake failed: {e}", self.client_label());
                return Some(End::Dropped);
            }
        }
        self.conn.io = Stream::Tls(Box::new(stream));
        self.tls = true;
        self.helo = None;
        self.esmtp = false;
        self.tx = None;
        None
    }
}

/// `d` from now; for a duration too long to add, a century (configuration values are not
/// bounded, and `Instant + Duration` panics on overflow).
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

/// A `Received:` header field (any case, blanks allowed before the colon, RFC 5322 obs-syntax).
fn is_received_field(line: &[u8]) -> bool {
    const NAME: &[u8] = b"received";
    line.len() > NAME.len()
        && line[..NAME.len()].eq_ignore_ascii_case(NAME)
        && line[NAME.len()..]
            .iter()
            .find(|&&b| b != b' ' && b != b'\t')
            == Some(&b':')
}

fn rcpt_list(env: &Envelope) -> String {
    env.recipients
        .iter()
        .map(|r| r.addr.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Load a certificate chain and a private key (PEM) into a rustls server configuration.
pub fn load_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<ServerConfig, String> {
    let certs = rustls_pemfile::certs(&mut io::BufReader::new(
        std::fs::File::open(cert).map_err(|e| format!("{}: {e}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let key = rustls_pemfile::private_key(&mut io::BufReader::new(
        std::fs::File::open(key).map_err(|e| format!("{}: {e}", key.display()))?,
    ))
    .map_err(|e| format!("{}: {e}", key.display()))?
    .ok_or_else(|| format!("{}: no private key found", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", cert.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::MemTransport;

    fn ctx(dir: &std::path::Path) -> Context {
        let spool = Spool::new(dir);
        spool.create().unwrap();
        Context {
            settings: Settings {
                hostname: "gw.example.com".into(),
                max_size: 1000,
                max_recipients: 3,
                command_timeout: Duration::from_secs(5),
                data_timeout: Duration::from_secs(5),
                data_deadline: Duration::from_secs(60),
                session_deadline: Duration::from_secs(60),
                min_free_bytes: 0,
                domains: vec!["example.com".into()],
                delay: Duration::from_millis(1),
                quiet: false,
                relay_policy: RelayPolicy::default(),
                max_hops: 50,
            },
            spool,
            queue: Queue::Incoming,
            rules: Rules::default(),
            tls: None,
        }
    }

    fn talk(ctx: &Context, input: &[u8]) -> (String, End) {
        let t = MemTransport::new(input);
        let out = t.output.clone();
        let end = Session::new(ctx, t, Client::default()).run();
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        (text, end)
    }

    fn codes(out: &str) -> Vec<&str> {
        out.lines()
            .filter(|l| l.len() >= 4 && &l[3..4] == " ")
            .map(|l| &l[..3])
            .collect()
    }

    #[test]
    fn parses_commands() {
        assert_eq!(
            parse_command(b"MAIL FROM:<a@b> SIZE=10 BODY=8BITMIME"),
            Ok(Command::Mail {
                from: "<a@b>".into(),
                size: Some(10)
            })
        );
        assert_eq!(
            parse_command(b"mail from: <>"),
            Ok(Command::Mail {
                from: "<>".into(),
                size: None
            })
        );
        assert_eq!(
            parse_command(b"RCPT TO:joe@example.com"),
            Ok(Command::Rcpt {
                to: "<joe@example.com>".into()
            })
        );
        assert_eq!(
            parse_command(b"RCPT TO:<\"john smith\"@example.com>"),
            Ok(Command::Rcpt {
                to: "<\"john smith\"@example.com>".into()
            })
        );
        assert_eq!(
            parse_command(b"ehlo x.org"),
            Ok(Command::Ehlo("x.org".into()))
        );
        assert_eq!(parse_command(b"EXPN staff"), Ok(Command::NotImplemented));
        for (line, code) in [
            (&b"FOO"[..], "500"),
            (b"MAIL FROM <a@b>", "501"),
            (b"MAIL FROM:<a\x01b@c>", "501"),
            (b"MAIL FROM:<a@b", "501"),
            (b"MAIL FROM:<a@b> SIZE=x", "501"),
            (b"MAIL FROM:<a@b> FOO=1", "555"),
            (b"RCPT TO:<>", "501"),
            (b"RCPT TO:<a b@c>", "501"),
            (b"HELO", "501"),
            (b"DATA x", "501"),
            (b"NOOP\x00", "500"),
            (b"\xff\xfe", "500"),
            (b"VRFY", "501"),
        ] {
            let e = parse_command(line).unwrap_err();
            assert!(e.starts_with(code), "{line:?}: {e}");
        }
    }

    #[test]
    fn full_session_stores_message() {
        let t = tempfile::tempdir().unwrap();
        let c = ctx(t.path());
        let (out, end) = talk(
            &c,
            b"EHLO client.org\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n\
              Subject: hi\r\n\r\n..dot\r\nbare lf\n\xff8bit\r\n.\r\nQUIT\r\n",
        );
        assert_eq!(end, End::Quit);
        assert!(out.starts_with(
            "220 gw.example.com SMTP ready, Who are you gonna pretend to be today?\r\n"
        ));
        assert!(out.contains("250-SIZE 1000\r\n250-PIPELINING\r\n250-8BITMIME\r\n"));
        assert!(!out.contains("STARTTLS"));
        assert_eq!(
            codes(&out),
            ["220", "250", "250", "250", "354", "250", "221"]
        );
        let l = spool::store::list(&c.spool, Queue::Incoming).unwrap();
        assert_eq!(l.len(), 1);
        assert!(out.contains(&format!("queued as {}", l[0].id)));
        let (env, body) = Envelope::read_body(&l[0].path).unwrap();
        assert_eq!(env.from, "<a@b.org>");
        assert_eq!(env.recipients[0].addr, "<x@example.com>");
        let body = body.splitn(4, |&b| b == b'\n').nth(3).unwrap().to_vec();
        assert_eq!(body, b"Subject: hi\n\n.dot\nbare lf\n\xff8bit\n");
    }

    #[test]
    fn sequence_and_relay_errors() {
        let t = tempfile::tempdir().unwrap();
        let c = ctx(t.path());
        let (out, _) = talk(
            &c,
            b"MAIL FROM:<a@b>\r\nHELO x\r\nRCPT TO:<x@example.com>\r\nDATA\r\nMAIL FROM:<a@b>\r\n\
              MAIL FROM:<a@b>\r\nDATA\r\nRCPT TO:<x@elsewhere.org>\r\nRCPT TO:<postmaster>\r\n\
              RCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\n\
              MAIL FROM:<a@b> SIZE=5000\r\nRSET\r\nMAIL FROM:<a@b> SIZE=5000\r\nVRFY x\r\n\
              EXPN x\r\nSTARTTLS\r\nHELP\r\nNOOP\r\nQUIT\r\n",
        );
        assert_eq!(
            codes(&out),
            [
                "220", "503", "250", "503", "503", "250", "503", "554", "550", "250", "250", "250",
                "452", "503", "250", "552", "252", "502", "502", "214", "250", "221"
            ],
            "{out}"
        );
    }

    #[test]
    fn long_line_and_nul() {
        let t = tempfile::tempdir().unwrap();
        let c = ctx(t.path());
        let mut input = b"HELO x\r\nNOOP ".to_vec();
        input.extend(std::iter::repeat_n(b'a', 600));
        input.extend_from_slice(b"\r\nNO\0OP\r\nNOOP\r\n");
        let (out, end) = talk(&c, &input);
        assert_eq!(codes(&out), ["220", "250", "500", "500", "250"]);
        assert_eq!(end, End::Disconnected);
    }

    #[test]
    fn too_big_and_dropped_mid_data_leave_nothing() {
        let t = tempfile::tempdir().unwrap();
        let c = ctx(t.path());
        let mut input =
            b"HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n".to_vec();
        for _ in 0..50 {
            input.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
        }
        input.extend_from_slice(
            b".\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@example.com>\r\nDATA\r\npartial",
        );
        let (out, end) = talk(&c, &input);
        assert_eq!(
            codes(&out),
            ["220", "250", "250", "250", "354", "552", "250", "250", "354"]
        );
        assert_eq!(end, End::Disconnected);
        assert_eq!(
            std::fs::read_dir(c.spool.queue(Queue::Incoming))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn replies_are_printable_ascii_and_short_whatever_is_echoed() {
        // Found by tests/fuzz_session.rs: the EHLO name, a parameter and a rule's default reply
        // quoting two long addresses were echoed as sent (UTF-8, over 512 bytes).
        let t = tempfile::tempdir().unwrap();
        let mut c = ctx(t.path());
        c.rules = Rules::parse("noto:ALL:ALL:*@spam.example\n", "r").unwrap();
        let long = "a".repeat(240);
        let input = format!(
            "EHLO h\u{e9}llo.example\r\nMAIL FROM:<{long}@example.org> X\u{e9}=1\r\n\
             MAIL FROM:<{long}@example.org>\r\nRCPT TO:<{long}@spam.example>\r\nQUIT\r\n"
        );
        let (out, _) = talk(&c, input.as_bytes());
        assert!(
            out.contains("250-gw.example.com Hello h?llo.example\r\n"),
            "{out}"
        );
        assert!(
            out.contains("555 5.5.4 Unsupported parameter X?\r\n"),
            "{out}"
        );
        for line in out.split_terminator("\r\n") {
            assert!(line.len() + 2 <= 512, "{} bytes: {line}", line.len() + 2);
            assert!(
                line.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
                "{line}"
            );
        }
        assert_eq!(codes(&out), ["220", "250", "555", "250", "550", "221"]);
    }

    #[test]
    fn deny_rule_closes_session() {
        let t = tempfile::tempdir().unwrap();
        let mut c = ctx(t.path());
        // The rule, not the built-in refusal, is what this test is about.
        c.settings.relay_policy.allow_percent_hack = true;
        c.rules = Rules::parse(
            "noto:ALL:ALL:*%*@*:551 no %%-hacks for %T\ndeny_delay:ALL:spammer@*:ALL\nallow:ALL:ALL:*@partner.org\n",
            "r",
        )
        .unwrap();
        let (out, end) = talk(
            &c,
            b"HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<a%b@example.com>\r\nRCPT TO:<x@partner.org>\r\n\
              RSET\r\nMAIL FROM:<spammer@x>\r\nRCPT TO:<x@example.com>\r\nNOOP\r\n",
        );
        assert!(out.contains("551 no %-hacks for a%b@example.com"), "{out}");
        assert_eq!(
            codes(&out),
            ["220", "250", "250", "551", "250", "250", "250", "550", "421"]
        );
        assert_eq!(end, End::Dropped);
    }
}
