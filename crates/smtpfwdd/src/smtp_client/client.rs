//! One SMTP session: connecting (EHLO, STARTTLS), the bounded reply reader, and [`Client::send`]
//! (MAIL, RCPT, DATA, pipelined when offered).

use super::*;

/// Largest reply line we keep (RFC 5321 says 512; be generous, but bounded).
pub(super) const MAX_REPLY_LINE: usize = 4096;

/// Most lines in one multiline reply (a hostile server must not make us allocate forever).
pub(super) const MAX_REPLY_LINES: usize = 100;

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

pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    /// Only while the socket is being wrapped for TLS.
    Closed,
}

pub(super) fn closed() -> io::Error {
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
    /// The DATA encoder's buffers, kept for the connection's next message: made afresh for each
    /// one (134 KB), they were given back to the kernel and faulted in again every time.
    body_in: Vec<u8>,
    body_out: Vec<u8>,
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
            body_in: Vec::new(),
            body_out: Vec::new(),
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
    pub fn send(
        &mut self,
        from: &str,
        rcpts: &[String],
        body: &mut dyn Read,
        size: u64,
        eight_bit: bool,
    ) -> Result<Transaction> {
        let utf8 = self.check_can_carry(from, rcpts, eight_bit)?;
        // The read timeout may still be the final dot's: every command here waits `command`.
        self.set_timeout(self.timeouts.command)
            .map_err(|e| SmtpError::io("MAIL", e))?;
        self.reset_if_dirty()?;
        self.dirty = true;
        let mail = self.mail_command(from, size, utf8);
        let (mail_reply, rcpt_replies, data_reply) = self.envelope(&mail, rcpts)?;
        if mail_reply.code != 250 {
            if data_reply.as_ref().is_some_and(|d| d.code == 354) {
                // A server that accepted DATA after refusing MAIL: end the empty message.
                self.end_empty_data()?;
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
                self.end_empty_data()?;
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
        let end = self.body_and_dot(body)?;
        Ok(Transaction {
            rcpt: rcpt_replies,
            data: Some(end),
        })
    }

    /// Refuse, before MAIL, what this server cannot carry unchanged: 8-bit bytes without
    /// 8BITMIME, a non-ASCII address without SMTPUTF8. Ok(true): SMTPUTF8 is needed.
    fn check_can_carry(&self, from: &str, rcpts: &[String], eight_bit: bool) -> Result<bool> {
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
        Ok(utf8)
    }

    /// RSET when the last transaction on this connection did not end cleanly.
    fn reset_if_dirty(&mut self) -> Result<()> {
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
        Ok(())
    }

    /// `MAIL FROM:` with the parameters this server takes.
    fn mail_command(&self, from: &str, size: u64, utf8: bool) -> String {
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
        mail
    }

    /// MAIL, every RCPT and (pipelined) DATA: the replies to MAIL, to each RCPT, and to DATA when
    /// it was sent. Without PIPELINING the RCPTs go only after MAIL's 250, DATA later.
    fn envelope(
        &mut self,
        mail: &str,
        rcpts: &[String],
    ) -> Result<(Reply, Vec<Reply>, Option<Reply>)> {
        let rcpt_lines: Vec<String> = rcpts.iter().map(|r| format!("RCPT TO:{r}")).collect();
        if self.ext.pipelining {
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
            return Ok((m, rr, Some(d)));
        }
        let m = self.command(mail, "MAIL")?;
        let mut rr = Vec::with_capacity(rcpts.len());
        if m.code == 250 {
            for l in &rcpt_lines {
                rr.push(self.command(l, "RCPT")?);
            }
        }
        Ok((m, rr, None))
    }

    /// End a DATA the server accepted when nothing should be sent (no message, no dot-reply
    /// that matters).
    fn end_empty_data(&mut self) -> Result<()> {
        self.write_all(b".\r\n", "DATA")?;
        self.flush("DATA")?;
        let _ = self.read_reply("DATA");
        Ok(())
    }

    /// The body, the final dot, and the reply to it.
    fn body_and_dot(&mut self, body: &mut dyn Read) -> Result<Reply> {
        self.write_body(body)?;
        // Only the read timeout changes for the final dot's reply; the next send() (or quit)
        // sets it back, so a kept connection costs one setsockopt(2) each way per message.
        self.set_read_timeout(self.timeouts.data_end)
            .map_err(|e| SmtpError::io("end of data", e))?;
        let end = self.read_reply("end of data")?;
        // After the reply to the dot the session is back in its initial state.
        self.dirty = false;
        Ok(end)
    }

    fn write_body(&mut self, body: &mut dyn Read) -> Result<()> {
        let mut inbuf = std::mem::take(&mut self.body_in);
        let mut out = std::mem::take(&mut self.body_out);
        inbuf.resize(64 * 1024, 0);
        out.clear();
        out.reserve(70 * 1024);
        let r = self.encode_body(body, &mut inbuf, &mut out);
        self.body_in = inbuf;
        self.body_out = out;
        r
    }

    fn encode_body(
        &mut self,
        body: &mut dyn Read,
        inbuf: &mut [u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut enc = DataEncoder::new();
        loop {
            let n = match body.read(inbuf) {
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
                self.write_all(out, "DATA body")?;
                out.clear();
            }
            enc.encode(&inbuf[..n], out);
        }
        enc.finish(out);
        self.write_all(out, "DATA body")?;
        self.flush("DATA body")
    }

    /// QUIT and close. Errors do not matter any more at this point.
    pub fn quit(mut self) -> Result<()> {
        self.set_timeout(Duration::from_secs(10))
            .map_err(|e| SmtpError::io("QUIT", e))?;
        self.command("QUIT", "QUIT").map(|_| ())
    }
}
