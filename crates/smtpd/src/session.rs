//! One SMTP session (RFC 5321 with SIZE, PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, STARTTLS),
//! over any [`ClientStream`]: a TCP connection, inetd's stdin/stdout, or memory in unit tests. This
//! file is the state machine; the connection and its buffers are in `conn.rs`, command parsing in
//! `command.rs` and `address.rs`, receiving DATA in `data.rs`, STARTTLS in `tls.rs`.
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

pub use crate::command::{parse_command, Command, MAX_COMMAND};
pub use crate::tls::load_tls;

use crate::address::{self, RelayPolicy};
use crate::conn::{after, Conn, Stop, Stream, INPUT_BUFFER};
use crate::data::DataOutcome;
use crate::stream::ClientStream;
use crate::tls::{self, HandshakeError};
use log::{info, warn};
use rustls::ServerConfig;
use spool::rules::{Action, Client, Rules};
use spool::{Envelope, Queue, Spool, Staged};
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// How often a long session adds to the live counters (besides at its end).
const METRICS_EVERY: Duration = Duration::from_secs(5);

pub struct Session<'a, T: ClientStream> {
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
    /// When the live counters were last written (a long session writes them every few
    /// seconds, not only at its end).
    metrics_at: Instant,
}

impl<'a, T: ClientStream> Session<'a, T> {
    pub fn new(ctx: &'a Context, stream: T, client: Client) -> Self {
        Session {
            ctx,
            conn: Conn {
                io: Stream::Plain(stream),
                buf: vec![0u8; INPUT_BUFFER].into_boxed_slice(),
                start: 0,
                end: 0,
                out: Vec::with_capacity(512),
                read_timeout: ctx.settings.command_timeout,
                deadline: after(ctx.settings.command_timeout),
                tally: Default::default(),
            },
            session_end: after(ctx.settings.session_deadline),
            metrics_at: Instant::now(),
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
        self.record_metrics(true);
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

    /// Add the session to smtpd's live counters ([`crate::counters`]; `mailwall metrics` from
    /// cron turns them into the metrics file, which smtpd's chroot cannot reach).
    fn record_metrics(&mut self, session_done: bool) {
        self.metrics_at = Instant::now();
        let t = std::mem::take(&mut self.conn.tally);
        crate::counters::add(
            &self.ctx.spool,
            self.ctx.queue,
            u64::from(session_done),
            t.received,
            t.refused,
        );
    }

    /// Greet with a 421 and close (too many clients, shutdown before the session began);
    /// `status` is the enhanced status code (`4.3.2`, `4.7.0`).
    pub fn refuse(mut self, status: &str, text: &str) {
        let host = self.s().hostname.clone();
        self.conn.reply(&format!("421 {status} {host} {text}"));
        let _ = self.conn.flush();
        self.record_metrics(true);
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
            if crate::stream::shutting_down() {
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
            return self.conn.reply(storage_reply(true));
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
        let env = self.data_envelope()?;
        let mut staged = self.stage()?;
        let id = staged.id().to_string();
        let head = self.received_header(&id);
        let early_error = env
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
        let mut outcome = match self
            .conn
            .receive(&mut sink, self.s().max_size, self.s().max_hops)
        {
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
        let error = outcome.write_error.take().or(early_error);
        let (reply, result) = self.settle(sink, &outcome, error, &id);
        info!(
            "{id}: client={} from={} to={} size={} result={result}",
            self.client_label(),
            env.from,
            rcpt_list(&env),
            outcome.size
        );
        self.conn.reply(&reply);
        if self.metrics_at.elapsed() >= METRICS_EVERY {
            self.record_metrics(false);
        }
        None
    }

    /// The envelope DATA is for, when the transaction has one and the spool has room; else the
    /// reply is sent and there is none.
    fn data_envelope(&mut self) -> Option<Envelope> {
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
            self.conn.reply(storage_reply(true));
            return None;
        }
        Some(env)
    }

    /// A new staged spool file for the message; when none can be made the reply is sent.
    fn stage(&mut self) -> Option<Staged> {
        match Staged::create(&self.ctx.spool, self.ctx.queue) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(
                    "client={}: cannot create a spool file: {e}",
                    self.client_label()
                );
                self.tx = None;
                self.conn.reply(storage_reply(e.is_disk_full()));
                None
            }
        }
    }

    /// The reply to the message received and the result for its log line: refused, failed
    /// (the staged file is dropped) or committed to the queue.
    fn settle(
        &mut self,
        mut sink: Option<Staged>,
        outcome: &DataOutcome,
        error: Option<std::io::Error>,
        id: &str,
    ) -> (String, String) {
        if outcome.too_big {
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
        } else if let Some(e) = error {
            drop(sink);
            let full = matches!(e.raw_os_error(), Some(28) | Some(122));
            (storage_reply(full).to_string(), format!("failed ({e})"))
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
                    storage_reply(e.is_disk_full()).to_string(),
                    format!("failed ({e})"),
                ),
                None => (storage_reply(false).to_string(), "failed".to_string()),
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
        // Finish the handshake now, so that a failure ends the session here, cleanly; a
        // handshake dribbled byte by byte gets no more time than a command line.
        self.limit_reads(self.s().command_timeout, self.s().command_timeout);
        let stream = match tls::handshake(cfg, plain, self.conn.deadline) {
            Ok(s) => s,
            Err(HandshakeError::Timeout) => {
                info!(
                    "client={}: TLS handshake took too long",
                    self.client_label()
                );
                return Some(End::Timeout);
            }
            Err(HandshakeError::Failed(e)) => {
                info!("client={}: TLS handshake failed: {e}", self.client_label());
                return Some(End::Dropped);
            }
        };
        self.conn.io = Stream::Tls(Box::new(stream));
        self.tls = true;
        self.helo = None;
        self.esmtp = false;
        self.tx = None;
        None
    }
}

fn rcpt_list(env: &Envelope) -> String {
    env.recipients
        .iter()
        .map(|r| r.addr.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The reply when the message cannot be stored, in one place: 452 when the disk (or the spool
/// owner's quota) is full, 451 for any other local error; both tell the client to try later.
fn storage_reply(disk_full: bool) -> &'static str {
    if disk_full {
        "452 4.3.1 Insufficient system storage"
    } else {
        "451 4.3.0 Local error in processing"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::MemStream;

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
        let t = MemStream::new(input);
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
                .filter(|e| {
                    let n = e.as_ref().unwrap().file_name();
                    !spool::metrics::is_metrics_file(&n.to_string_lossy())
                })
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
