//! A small SMTP client for one job: hand a spooled message to the next server and know, for each
//! recipient, what that server said.
//!
//! Why hand-written: the gateway must know every recipient's own reply (to mark it `SENT`, retry it
//! or bounce it), must stream the body from the spool file (LF → CRLF and dot-stuffing on the fly,
//! never the whole message in memory), and must reuse one connection for several messages. The
//! protocol part that needs this is small (RFC 5321 client side, RFC 3207 STARTTLS, RFC 2920
//! PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME); TLS itself is rustls.
//!
//! Timeouts follow RFC 5321 §4.5.3.2: the greeting, MAIL, RCPT and the DATA command wait
//! `command` seconds (5 minutes by default), each write of the body may take `command` seconds (the
//! RFC's 3-minute data block timeout is shorter: a server that stalls a write that long is gone),
//! and the reply to the final dot waits `data_end` seconds (10 minutes by default).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Largest reply line we keep (RFC 5321 says 512; be generous, but bounded).
const MAX_REPLY_LINE: usize = 4096;
/// Most lines in one multiline reply (a hostile server must not make us allocate forever).
const MAX_REPLY_LINES: usize = 100;

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

/// What went wrong with a connection or a transaction as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("{stage}: {source}")]
    Io {
        stage: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{stage}: timed out")]
    Timeout { stage: &'static str },
    #[error("{stage}: server said {reply}")]
    Reply { stage: &'static str, reply: Reply },
    #[error("{stage}: protocol error: {what}")]
    Protocol { stage: &'static str, what: String },
    #[error("TLS: {0}")]
    Tls(String),
    /// The message holds 8-bit bytes and the server does not offer 8BITMIME (RFC 6152 §3: the
    /// client must convert or bounce; we bounce, see [`Client::send`]).
    #[error(
        "{peer} does not offer 8BITMIME and the message holds 8-bit bytes (not converted to 7 bit)"
    )]
    Needs8BitMime { peer: String },
    /// An address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531 §3.2: such mail
    /// must not be sent to it; bounced with 5.6.7).
    #[error("{peer} does not offer SMTPUTF8 and an address is not ASCII")]
    NeedsSmtpUtf8 { peer: String },
}

impl SmtpError {
    /// A 5xx from the server for the whole transaction (greeting, MAIL, DATA): a bounce. Everything
    /// else (4xx, network trouble, TLS trouble, a server that talks nonsense) is worth a retry:
    /// keeping mail a little longer never loses it.
    pub fn is_permanent(&self) -> bool {
        match self {
            SmtpError::Reply { reply, .. } => reply.is_permanent(),
            SmtpError::Needs8BitMime { .. } | SmtpError::NeedsSmtpUtf8 { .. } => true,
            _ => false,
        }
    }
    /// The RFC 3463 status for a DSN when the error is permanent.
    pub fn status(&self) -> Option<String> {
        match self {
            SmtpError::Reply { reply, .. } => reply.enhanced(),
            // "Conversion required but not supported".
            SmtpError::Needs8BitMime { .. } => Some("5.6.3".into()),
            // "Non-ASCII addresses not permitted for that sender/recipient".
            SmtpError::NeedsSmtpUtf8 { .. } => Some("5.6.7".into()),
            _ => None,
        }
    }
    pub fn is_transient(&self) -> bool {
        !self.is_permanent()
    }
    /// The server's reply, when the error is one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            SmtpError::Reply { reply, .. } => Some(reply),
            _ => None,
        }
    }
    fn io(stage: &'static str, e: io::Error) -> SmtpError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => SmtpError::Timeout { stage },
            _ => SmtpError::Io { stage, source: e },
        }
    }
}

pub type Result<T, E = SmtpError> = std::result::Result<T, E>;

/// `[forward] tls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsPolicy {
    /// STARTTLS when offered, certificate not verified (see [`TlsPolicy::Opportunistic`] notes).
    ///
    /// Why not verified: opportunistic TLS (RFC 7435) protects against a passive listener only.
    /// Whoever can impersonate the server can also strip the STARTTLS offer, so refusing a
    /// self-signed or expired certificate would add delivery failures (internal mail servers very
    /// often have such certificates) without stopping that attacker. Use `require` for a checked
    /// certificate.
    Opportunistic,
    /// STARTTLS must be offered and the certificate must verify against `ca_file` (or the system's
    /// roots) for the server's name; otherwise the message waits.
    Require,
    Off,
}

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    pub command: Duration,
    pub data_end: Duration,
}

impl Timeouts {
    /// From `[forward] connect_timeout` and `timeout` (seconds): the final dot gets twice the
    /// command timeout (RFC 5321's 10 minutes against 5).
    pub fn from_secs(connect: u64, command: u64) -> Timeouts {
        let command = Duration::from_secs(command.max(1));
        Timeouts {
            connect: Duration::from_secs(connect.max(1)),
            command,
            data_end: command * 2,
        }
    }
}

/// How to talk to one server.
#[derive(Clone)]
pub struct ClientOptions {
    /// Name we give in EHLO/HELO.
    pub helo: String,
    pub tls: TlsPolicy,
    /// The verifying TLS configuration (used with `Require`).
    pub tls_verified: Option<Arc<rustls::ClientConfig>>,
    /// The non-verifying configuration (used with `Opportunistic`).
    pub tls_unverified: Arc<rustls::ClientConfig>,
    pub timeouts: Timeouts,
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

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    /// Only while the socket is being wrapped for TLS.
    Closed,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed")
}

impl Stream {
    fn tcp(&self) -> io::Result<&TcpStream> {
        match self {
            Stream::Plain(s) => Ok(s),
            Stream::Tls(s) => Ok(&s.sock),
            Stream::Closed => Err(closed()),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Closed => Err(closed()),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Closed => Err(closed()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Closed => Err(closed()),
        }
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

/// One open SMTP session.
pub struct Client {
    stream: Stream,
    rbuf: Vec<u8>,
    rpos: usize,
    ext: Extensions,
    timeouts: Timeouts,
    /// `host:port` (for logs).
    pub peer: String,
    /// The greeting line (for logs).
    pub greeting: Reply,
    /// True once STARTTLS succeeded.
    pub tls: bool,
    /// True when a transaction ended in a state that needs RSET before the next MAIL.
    dirty: bool,
    /// The socket read and write timeouts now set (each setsockopt(2) only when it changes).
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl Client {
    /// Connect to the first address that answers, read the greeting, EHLO (HELO when EHLO is
    /// refused), STARTTLS as the policy says, EHLO again. `server_name` is the name the certificate
    /// must carry (the relay's or MX host's name).
    pub fn connect(
        addrs: &[SocketAddr],
        server_name: &str,
        opts: &ClientOptions,
    ) -> Result<Client> {
        Client::connect_tls(addrs, server_name, opts, opts.tls)
    }

    fn connect_tls(
        addrs: &[SocketAddr],
        server_name: &str,
        opts: &ClientOptions,
        policy: TlsPolicy,
    ) -> Result<Client> {
        let mut last = None;
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect_timeout(a, opts.timeouts.connect) {
                Ok(s) => {
                    tcp = Some((s, *a));
                    break;
                }
                Err(e) => last = Some((a.to_string(), e)),
            }
        }
        let (tcp, addr) = match tcp {
            Some(t) => t,
            None => {
                let (addr, source) = last.unwrap_or_else(|| {
                    (
                        server_name.to_string(),
                        io::Error::new(io::ErrorKind::NotFound, "no address"),
                    )
                });
                return Err(SmtpError::Connect { addr, source });
            }
        };
        let _ = tcp.set_nodelay(true);
        let mut c = Client {
            stream: Stream::Plain(tcp),
            rbuf: Vec::with_capacity(4096),
            rpos: 0,
            ext: Extensions::default(),
            timeouts: opts.timeouts,
            peer: addr.to_string(),
            greeting: Reply {
                code: 0,
                lines: vec![],
            },
            tls: false,
            dirty: false,
            read_timeout: None,
            write_timeout: None,
        };
        c.set_timeout(opts.timeouts.command)
            .map_err(|e| SmtpError::io("connect", e))?;
        let greeting = c.read_reply("greeting")?;
        if greeting.code != 220 {
            let _ = c.command("QUIT", "quit");
            return Err(SmtpError::Reply {
                stage: "greeting",
                reply: greeting,
            });
        }
        c.greeting = greeting;
        c.hello(&opts.helo)?;
        match policy {
            TlsPolicy::Off => {}
            TlsPolicy::Require if !c.ext.starttls => {
                let msg = format!("{} does not offer STARTTLS and tls = \"require\"", c.peer);
                let _ = c.quit();
                return Err(SmtpError::Tls(msg));
            }
            TlsPolicy::Opportunistic if !c.ext.starttls => {}
            TlsPolicy::Require | TlsPolicy::Opportunistic => {
                let cfg = if policy == TlsPolicy::Require {
                    opts.tls_verified
                        .clone()
                        .ok_or_else(|| SmtpError::Tls("no CA roots loaded".into()))?
                } else {
                    opts.tls_unverified.clone()
                };
                match c.starttls(cfg, server_name, &opts.helo) {
                    Ok(()) => {}
                    Err(e) if policy == TlsPolicy::Opportunistic => {
                        // Opportunistic: a server whose TLS is broken still gets the mail, in
                        // clear, on a fresh connection (the failed one is in an unknown state).
                        log::warn!("{}: STARTTLS failed ({e}); retrying without TLS", c.peer);
                        return Client::connect_tls(&[addr], server_name, opts, TlsPolicy::Off);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(c)
    }

    pub fn extensions(&self) -> &Extensions {
        &self.ext
    }

    fn set_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.set_read_timeout(t)?;
        if self.write_timeout != Some(t) {
            self.stream.tcp()?.set_write_timeout(Some(t))?;
            self.write_timeout = Some(t);
        }
        Ok(())
    }

    fn set_read_timeout(&mut self, t: Duration) -> io::Result<()> {
        if self.read_timeout != Some(t) {
            self.stream.tcp()?.set_read_timeout(Some(t))?;
            self.read_timeout = Some(t);
        }
        Ok(())
    }

    fn hello(&mut self, helo: &str) -> Result<()> {
        let r = self.command(&format!("EHLO {helo}"), "EHLO")?;
        if r.code == 250 {
            self.ext = Extensions::parse(&r);
            return Ok(());
        }
        if r.code == 421 {
            return Err(SmtpError::Reply {
                stage: "EHLO",
                reply: r,
            });
        }
        let r = self.command(&format!("HELO {helo}"), "HELO")?;
        if r.code != 250 {
            return Err(SmtpError::Reply {
                stage: "HELO",
                reply: r,
            });
        }
        self.ext = Extensions::default();
        Ok(())
    }

    fn starttls(&mut self, cfg: Arc<rustls::ClientConfig>, name: &str, helo: &str) -> Result<()> {
        let r = self.command("STARTTLS", "STARTTLS")?;
        if r.code != 220 {
            return Err(SmtpError::Tls(format!("STARTTLS refused: {r}")));
        }
        // Anything the server sent after its 220 arrived in clear text and could be an attacker's
        // injected reply (CVE-2011-0411 class): refuse to go on.
        if self.rpos < self.rbuf.len() {
            return Err(SmtpError::Tls(
                "server sent data after the STARTTLS reply".into(),
            ));
        }
        let server_name = rustls::pki_types::ServerName::try_from(name.to_string())
            .map_err(|e| SmtpError::Tls(format!("bad server name {name:?}: {e}")))?;
        let conn = rustls::ClientConnection::new(cfg, server_name)
            .map_err(|e| SmtpError::Tls(e.to_string()))?;
        let tcp = match std::mem::replace(&mut self.stream, Stream::Closed) {
            Stream::Plain(s) => s,
            _ => {
                return Err(SmtpError::Tls(
                    "STARTTLS on a TLS or closed connection".into(),
                ))
            }
        };
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| SmtpError::Tls(format!("handshake with {}: {e}", self.peer)))?;
        }
        self.stream = Stream::Tls(Box::new(tls));
        self.tls = true;
        // RFC 3207: forget everything learned before TLS and ask again.
        self.hello(helo)
    }

    /// Send one line and read the reply.
    fn command(&mut self, line: &str, stage: &'static str) -> Result<Reply> {
        self.write_all(format!("{line}\r\n").as_bytes(), stage)?;
        self.flush(stage)?;
        self.read_reply(stage)
    }

    fn write_all(&mut self, b: &[u8], stage: &'static str) -> Result<()> {
        self.stream
            .write_all(b)
            .map_err(|e| SmtpError::io(stage, e))
    }

    fn flush(&mut self, stage: &'static str) -> Result<()> {
        self.stream.flush().map_err(|e| SmtpError::io(stage, e))
    }

    fn read_line(&mut self, stage: &'static str) -> Result<Vec<u8>> {
        loop {
            if let Some(p) = self.rbuf[self.rpos..].iter().position(|&b| b == b'\n') {
                let end = self.rpos + p;
                let mut line = self.rbuf[self.rpos..end].to_vec();
                self.rpos = end + 1;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.rbuf.len() - self.rpos > MAX_REPLY_LINE {
                return Err(SmtpError::Protocol {
                    stage,
                    what: "reply line too long".into(),
                });
            }
            if self.rpos > 0 {
                self.rbuf.drain(..self.rpos);
                self.rpos = 0;
            }
            let mut tmp = [0u8; 4096];
            let n = self
                .stream
                .read(&mut tmp)
                .map_err(|e| SmtpError::io(stage, e))?;
            if n == 0 {
                return Err(SmtpError::Io {
                    stage,
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed by the server",
                    ),
                });
            }
            self.rbuf.extend_from_slice(&tmp[..n]);
        }
    }

    /// Read one (possibly multiline) reply: `250-first`, `250-second`, `250 last`.
    pub fn read_reply(&mut self, stage: &'static str) -> Result<Reply> {
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let raw = self.read_line(stage)?;
            let line = String::from_utf8_lossy(&raw).into_owned();
            let bad = || SmtpError::Protocol {
                stage,
                what: format!(
                    "bad reply line {:?}",
                    line.chars().take(80).collect::<String>()
                ),
            };
            if line.len() < 3 || !line.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let c: u16 = line[..3].parse().map_err(|_| bad())?;
            if !(200..600).contains(&c) || code.is_some_and(|x| x != c) {
                return Err(bad());
            }
            code = Some(c);
            let sep = line.as_bytes().get(3).copied();
            lines.push(line.get(4..).unwrap_or("").to_string());
            match sep {
                None | Some(b' ') => break,
                Some(b'-') if lines.len() < MAX_REPLY_LINES => continue,
                _ => return Err(bad()),
            }
        }
        Ok(Reply {
            code: code.unwrap_or(0),
            lines,
        })
    }

    /// Run one mail transaction: MAIL FROM, one RCPT per recipient (each reply kept), DATA with the
    /// body streamed from `body` (LF line ends, as in the spool). `from` and `rcpts` are
    /// addresses with their angle brackets. `size` is the body's size in the spool, for SIZE=.
    ///
    /// Ok means every recipient has a reply (accepted, or refused with 4xx/5xx). Err means the
    /// transaction as a whole failed: MAIL refused, DATA refused, the connection dropped or timed
    /// out — then nothing was delivered by this transaction unless the error came after the body
    /// (the reply to the final dot was lost: the message may arrive twice, which RFC 5321 accepts
    /// rather than losing it).
    ///
    /// `eight_bit`: the body holds bytes above 127. `BODY=8BITMIME` is declared whenever the
    /// server offers it; a server without 8BITMIME gets no 8-bit message at all
    /// ([`SmtpError::Needs8BitMime`], permanent, before MAIL): the gateway does not convert to
    /// quoted-printable, because rewriting the MIME structure of mail it has scanned would deliver
    /// bytes nobody scanned, breaks DKIM signatures, and cannot be done for 8-bit headers at all.
    #[allow(clippy::too_many_lines)] // split by the smtpfwdd work
    pub fn send(
        &mut self,
        from: &str,
        rcpts: &[String],
        body: &mut dyn Read,
        size: u64,
        eight_bit: bool,
    ) -> Result<Transaction> {
        if eight_bit && !self.ext.eightbitmime {
            return Err(SmtpError::Needs8BitMime {
                peer: self.peer.clone(),
            });
        }
        let utf8 = !from.is_ascii() || rcpts.iter().any(|r| !r.is_ascii());
        if utf8 && !self.ext.smtputf8 {
            return Err(SmtpError::NeedsSmtpUtf8 {
                peer: self.peer.clone(),
            });
        }
        // The read timeout may still be the final dot's: every command here waits `command`.
        self.set_timeout(self.timeouts.command)
            .map_err(|e| SmtpError::io("MAIL", e))?;
        if self.dirty {
            let r = self.command("RSET", "RSET")?;
            if r.code != 250 {
                return Err(SmtpError::Reply {
                    stage: "RSET",
                    reply: r,
                });
            }
            self.dirty = false;
        }
        self.dirty = true;
        let mut mail = format!("MAIL FROM:{from}");
        if self.ext.size.is_some() {
            // An estimate is what RFC 1870 asks for; CRLF adds one byte per line at most.
            mail.push_str(&format!(" SIZE={}", size + size / 40));
        }
        if self.ext.eightbitmime {
            mail.push_str(" BODY=8BITMIME");
        }
        if utf8 {
            mail.push_str(" SMTPUTF8");
        }
        let rcpt_lines: Vec<String> = rcpts.iter().map(|r| format!("RCPT TO:{r}")).collect();

        let (mail_reply, rcpt_replies, data_reply) = if self.ext.pipelining {
            // RFC 2920: MAIL, every RCPT and DATA in one write, then the replies in order.
            let mut batch = format!("{mail}\r\n");
            for l in &rcpt_lines {
                batch.push_str(l);
                batch.push_str("\r\n");
            }
            batch.push_str("DATA\r\n");
            self.write_all(batch.as_bytes(), "MAIL")?;
            self.flush("MAIL")?;
            let m = self.read_reply("MAIL")?;
            let mut rr = Vec::with_capacity(rcpts.len());
            for _ in rcpts {
                rr.push(self.read_reply("RCPT")?);
            }
            let d = self.read_reply("DATA")?;
            (m, rr, Some(d))
        } else {
            let m = self.command(&mail, "MAIL")?;
            let mut rr = Vec::with_capacity(rcpts.len());
            if m.code == 250 {
                for l in &rcpt_lines {
                    rr.push(self.command(l, "RCPT")?);
                }
            }
            (m, rr, None)
        };
        if mail_reply.code != 250 {
            if data_reply.as_ref().is_some_and(|d| d.code == 354) {
                // A server that accepted DATA after refusing MAIL: end the empty message.
                self.write_all(b".\r\n", "DATA")?;
                self.flush("DATA")?;
                let _ = self.read_reply("DATA");
            }
            return Err(SmtpError::Reply {
                stage: "MAIL",
                reply: mail_reply,
            });
        }
        let accepted = rcpt_replies.iter().filter(|r| r.code / 100 == 2).count();
        let data_reply = match data_reply {
            Some(d) => d,
            None if accepted == 0 => {
                return Ok(Transaction {
                    rcpt: rcpt_replies,
                    data: None,
                })
            }
            None => self.command("DATA", "DATA")?,
        };
        if accepted == 0 {
            if data_reply.code == 354 {
                self.write_all(b".\r\n", "DATA")?;
                self.flush("DATA")?;
                let _ = self.read_reply("DATA");
            }
            return Ok(Transaction {
                rcpt: rcpt_replies,
                data: None,
            });
        }
        if data_reply.code != 354 {
            return Err(SmtpError::Reply {
                stage: "DATA",
                reply: data_reply,
            });
        }
        self.write_body(body)?;
        // Only the read timeout changes for the final dot's reply; the next send() (or quit)
        // sets it back, so a kept connection costs one setsockopt(2) each way per message.
        self.set_read_timeout(self.timeouts.data_end)
            .map_err(|e| SmtpError::io("end of data", e))?;
        let end = self.read_reply("end of data")?;
        // After the reply to the dot the session is back in its initial state.
        self.dirty = false;
        Ok(Transaction {
            rcpt: rcpt_replies,
            data: Some(end),
        })
    }

    fn write_body(&mut self, body: &mut dyn Read) -> Result<()> {
        let mut enc = DataEncoder::new();
        let mut inbuf = vec![0u8; 64 * 1024];
        let mut out = Vec::with_capacity(70 * 1024);
        loop {
            let n = match body.read(&mut inbuf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A spool read error: do not end the message with a dot (the server would take a
                // truncated message); dropping the connection makes the server discard it.
                Err(e) => {
                    return Err(SmtpError::Io {
                        stage: "reading the spool file",
                        source: e,
                    })
                }
            };
            // Keep up to one chunk back so the last one goes out with the final dot in one write.
            if out.len() >= 64 * 1024 {
                self.write_all(&out, "DATA body")?;
                out.clear();
            }
            enc.encode(&inbuf[..n], &mut out);
        }
        enc.finish(&mut out);
        self.write_all(&out, "DATA body")?;
        self.flush("DATA body")
    }

    /// QUIT and close. Errors do not matter any more at this point.
    pub fn quit(mut self) -> Result<()> {
        self.set_timeout(Duration::from_secs(10))
            .map_err(|e| SmtpError::io("QUIT", e))?;
        self.command("QUIT", "QUIT").map(|_| ())
    }
}

/// Longest line sent, without its CRLF (RFC 5321 §4.5.3.1.6: 1000 with CRLF).
pub const MAX_LINE: usize = 998;

/// LF → CRLF and dot-stuffing (RFC 5321 §4.5.2) on a byte stream, plus the final `.` line.
///
/// Nothing but CRLF ends a line on the wire: a bare LF, a bare CR and a CRLF kept in the spool
/// each become one CRLF. A bare CR or LF passed on is what SMTP smuggling needs (a server that
/// takes `LF.LF` or `CR.CR` for the end of data would read what follows as new commands), so the
/// stream is normalised as Postfix's `smtpd_forbid_bare_newline = normalize` does, and the dot at
/// the start of every such line is stuffed.
///
/// Lines up to [`MAX_LINE`] bytes go out unchanged. A longer line (smtpd keeps what the sender
/// sent) would be refused by a conforming server, bouncing the whole message; it is broken by
/// inserting CRLF and a space, which keeps a folded header a header and damages MIME bodies least
/// (the same choice as other MTAs).
#[derive(Debug)]
pub struct DataEncoder {
    at_line_start: bool,
    empty: bool,
    col: usize,
    /// The last byte was a CR whose line end is already written: an LF right after it belongs
    /// to the same line end (it may come in the next chunk).
    after_cr: bool,
}

impl Default for DataEncoder {
    fn default() -> Self {
        DataEncoder::new()
    }
}

impl DataEncoder {
    pub fn new() -> Self {
        DataEncoder {
            at_line_start: true,
            empty: true,
            col: 0,
            after_cr: false,
        }
    }

    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            self.empty = false;
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            if b == b'\n' && after_cr {
                continue;
            }
            if b == b'\n' || b == b'\r' {
                out.extend_from_slice(b"\r\n");
                self.at_line_start = true;
                self.col = 0;
                continue;
            }
            if self.col >= MAX_LINE {
                out.extend_from_slice(b"\r\n ");
                self.col = 1;
            }
            if self.at_line_start && b == b'.' {
                out.push(b'.');
                self.col += 1;
            }
            out.push(b);
            self.col += 1;
            self.at_line_start = false;
        }
    }

    /// A body that does not end with a newline gets one: the dot must stand on its own line.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.at_line_start && !self.empty {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// rustls configurations for the two TLS policies.
pub mod tls {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use std::path::Path;
    use std::sync::Arc;

    const SYSTEM_ROOTS: &[&str] = &[
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ];

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// The verifying configuration: roots from `ca_file`, or the system bundle when empty.
    pub fn verified(ca_file: &str) -> Result<Arc<rustls::ClientConfig>, String> {
        let path = if ca_file.is_empty() {
            SYSTEM_ROOTS
                .iter()
                .map(Path::new)
                .find(|p| p.exists())
                .ok_or("no system CA bundle found; set [forward] ca_file")?
        } else {
            Path::new(ca_file)
        };
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{}: no certificates", path.display()));
        }
        let cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(cfg))
    }

    /// The opportunistic configuration: encrypts, does not judge the certificate (see
    /// [`super::TlsPolicy::Opportunistic`] for why). Handshake signatures are still checked, so
    /// the session key really belongs to whoever presented the certificate.
    pub fn unverified() -> Arc<rustls::ClientConfig> {
        let p = provider();
        let cfg = rustls::ClientConfig::builder_with_provider(p.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(p)))
            .with_no_client_auth();
        Arc::new(cfg)
    }

    #[derive(Debug)]
    struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(chunks: &[&[u8]]) -> Vec<u8> {
        let mut e = DataEncoder::new();
        let mut out = Vec::new();
        for c in chunks {
            e.encode(c, &mut out);
        }
        e.finish(&mut out);
        out
    }

    #[test]
    fn crlf_and_dot_stuffing_across_chunks() {
        assert_eq!(enc(&[b"a\n.\n..x\n"]), b"a\r\n..\r\n...x\r\n.\r\n");
        assert_eq!(enc(&[b"a\n", b".", b"b\n"]), b"a\r\n..b\r\n.\r\n");
        assert_eq!(enc(&[b".start"]), b"..start\r\n.\r\n");
        assert_eq!(enc(&[]), b".\r\n");
        // A bare CR is a line end; a CRLF stays one line end, even split across chunks.
        assert_eq!(enc(&[b"x\rno\n"]), b"x\r\nno\r\n.\r\n");
        assert_eq!(enc(&[b"a\r", b"\n.b\r"]), b"a\r\n..b\r\n.\r\n");
        assert_eq!(enc(&[b"a\r\r\n\n"]), b"a\r\n\r\n\r\n.\r\n");
        assert_eq!(enc(&[b"\r.\r"]), b"\r\n..\r\n.\r\n");
    }

    #[test]
    fn long_lines_are_folded_at_998() {
        let exact = vec![b'a'; MAX_LINE];
        let out = enc(&[&exact, b"\n"]);
        assert_eq!(out.len(), MAX_LINE + 2 + 3, "a 998-byte line is kept");
        let long = vec![b'b'; 2500];
        let out = enc(&[&long[..1000], &long[1000..]]);
        let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
        assert!(lines.iter().all(|l| l.len() <= MAX_LINE + 1), "CR counted");
        assert_eq!(lines[1][0], b' ');
        let body: usize = out.iter().filter(|&&b| b == b'b').count();
        assert_eq!(body, 2500);
    }

    #[test]
    fn extensions() {
        let r = Reply {
            code: 250,
            lines: vec![
                "mx.example.com hello".into(),
                "PIPELINING".into(),
                "SIZE 1000".into(),
                "8bitmime".into(),
                "STARTTLS".into(),
            ],
        };
        let e = Extensions::parse(&r);
        assert!(e.pipelining && e.eightbitmime && e.starttls && !e.smtputf8);
        assert_eq!(e.size, Some(1000));
    }

    #[test]
    fn reply_classes() {
        let r = Reply {
            code: 550,
            lines: vec!["5.1.1 No such user".into()],
        };
        assert!(r.is_permanent() && !r.is_transient());
        assert_eq!(r.enhanced().as_deref(), Some("5.1.1"));
        let r = Reply {
            code: 451,
            lines: vec!["Try later".into()],
        };
        assert!(r.is_transient());
        assert_eq!(r.enhanced(), None);
        let e = SmtpError::Reply {
            stage: "MAIL",
            reply: r,
        };
        assert!(e.is_transient());
        let e = SmtpError::Timeout { stage: "DATA" };
        assert!(e.is_transient());
    }
}
