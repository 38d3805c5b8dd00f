//! clamd's protocol, spoken directly: `z`-commands (`zPING`, `zVERSION`, `zRELOAD`) answered
//! with one NUL-terminated reply, and `zINSTREAM`: chunks with 4-byte big-endian lengths, a
//! zero-length terminator, and one reply (`stream: OK`, `stream: <name> FOUND`, `... ERROR`).
//!
//! One rule for what `clamd_socket` names, for every program: a name that starts with `/` or
//! holds no `:` is a Unix socket path; anything else is `host[:port]` (port 3310) over TCP.
//! Every connection has a timeout for the connect, each write and each read.
//!
//! On a Unix socket an open file can be handed over instead (`zFILDES`, the descriptor passed
//! with SCM_RIGHTS): clamd reads the file itself, so the bytes cross no socket and are not copied
//! into clamd's TemporaryDirectory first. TCP endpoints, and a clamd that does not know the
//! command, get the stream.
//!
//! A [`Session`] (`zIDSESSION`) hands over many descriptors on one Unix connection, one command
//! at a time, each reply (`<n>: fd[M]: ...`) read before the next command (clamd's rule). Only a
//! verdict that carries its own command's number counts; anything else ends the session and
//! the object goes on a connection of its own, as without a session.
//!
//! clamd closes the connection early when a stream exceeds its StreamMaxLength and then answers
//! `INSTREAM size limit exceeded`; that reply is read even after a failed write, and it is an
//! error, never "clean".

use crate::{Error, Result};
use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const CHUNK: usize = 64 * 1024;
/// Longest reply kept (a virus name or a version line is short; anything longer is garbage).
const MAX_REPLY: u64 = 4096;

/// A clamd endpoint and the time any one exchange with it may take.
#[derive(Clone, Debug)]
pub struct Clamd {
    addr: String,
    timeout: Duration,
}

enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn set_timeout(&self, t: Duration) -> io::Result<()> {
        let t = Some(t.max(Duration::from_millis(1)));
        match self {
            Conn::Unix(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
            Conn::Tcp(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
        }
    }

    /// After the stream is sent only the reply is waited for.
    fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        let t = Some(t.max(Duration::from_millis(1)));
        match self {
            Conn::Unix(s) => s.set_read_timeout(t),
            Conn::Tcp(s) => s.set_read_timeout(t),
        }
    }

    fn shutdown_write(&self) {
        let _ = match self {
            Conn::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            Conn::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }
}

impl Read for Conn {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(b),
            Conn::Tcp(s) => s.read(b),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(b),
            Conn::Tcp(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// True when `addr` names a Unix socket (the one rule, see the module header).
pub fn is_unix_socket(addr: &str) -> bool {
    addr.starts_with('/') || !addr.contains(':')
}

/// How clamd answered one stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Clean,
    Virus(String),
    /// clamd answered with an error (a limit, a reply that makes no sense).
    Error(String),
    /// No answer at all: clamd could not be reached, the stream could not be sent, or the
    /// connection ended without a reply. Another endpoint may answer.
    Failed(String),
}

/// The endpoints `clamd_socket` names: one, or a list separated by commas (a pool of scan
/// hosts: `"10.0.0.5:3310, 10.0.0.6:3310"`).
pub fn endpoints(setting: &str) -> Vec<String> {
    setting
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(String::from)
        .collect()
}

/// What a verdict is about, as clamd names it: `stream:` for INSTREAM, `fd[N]:` for FILDES.
fn strip_subject(r: &str) -> Option<&str> {
    if let Some(rest) = r.strip_prefix("stream:") {
        return Some(rest);
    }
    let rest = r.strip_prefix("fd[")?;
    let (n, rest) = rest.split_once("]:")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

/// Read a clamd scan reply (`stream: ...` or `fd[N]: ...`).
pub fn parse_reply(reply: &str) -> Reply {
    let r = reply.trim_end_matches(['\0', '\n', '\r']).trim();
    let Some(rest) = strip_subject(r).map(str::trim) else {
        // Errors about the stream itself come without the prefix (`INSTREAM size limit
        // exceeded. ERROR`, `Error writing to temporary file ERROR`).
        if r.ends_with(" ERROR") && !r.chars().any(char::is_control) {
            return Reply::Error(format!("clamd: {}", shorten(r)));
        }
        return Reply::Error(format!("unexpected reply {:?}", shorten(r)));
    };
    if rest == "OK" {
        return Reply::Clean;
    }
    if let Some(name) = rest.strip_suffix(" FOUND") {
        let name = name.trim();
        // The name goes into log lines, alerts and the sender's notice: a control character in
        // it (found by the libFuzzer target clamd_reply: a CR) makes the reply an error.
        if name.is_empty() || name.chars().any(char::is_control) {
            return Reply::Error(format!("unexpected reply {:?}", shorten(r)));
        }
        return Reply::Virus(name.to_string());
    }
    if rest.ends_with("ERROR") {
        return Reply::Error(format!("clamd: {}", shorten(rest)));
    }
    Reply::Error(format!("unexpected reply {:?}", shorten(r)))
}

fn shorten(s: &str) -> String {
    s.chars().take(120).collect()
}

/// What clamd says about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    /// `ClamAV 1.4.6`
    pub engine: String,
    /// The daily database version, when clamd has an official database loaded.
    pub database: Option<u64>,
    /// The daily database's build time, when known.
    pub built: Option<DateTime<Local>>,
}

/// `ClamAV 1.4.6/27467/Thu Nov 26 09:23:01 2026`, or just `ClamAV 1.4.6` without an official
/// database. The date is clamd's local time in ctime form.
pub fn parse_version(reply: &str) -> Option<Version> {
    let mut parts = reply.splitn(3, '/');
    let engine = parts.next()?.trim();
    if !engine.starts_with("ClamAV ") {
        return None;
    }
    let database = parts.next().and_then(|v| v.trim().parse().ok());
    let built = parts.next().and_then(|d| {
        let d = d.split_whitespace().collect::<Vec<_>>().join(" ");
        NaiveDateTime::parse_from_str(&d, "%a %b %d %H:%M:%S %Y")
            .ok()
            .and_then(|n| Local.from_local_datetime(&n).earliest())
    });
    Some(Version {
        engine: engine.to_string(),
        database,
        built,
    })
}

impl Clamd {
    pub fn new(addr: &str, timeout: Duration) -> Clamd {
        Clamd {
            addr: addr.to_string(),
            timeout,
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Clamd {
            addr: self.addr.clone(),
            reason: reason.into(),
        }
    }

    fn connect(&self) -> io::Result<Conn> {
        let c = if is_unix_socket(&self.addr) {
            Conn::Unix(UnixStream::connect(&self.addr)?)
        } else {
            let (h, p) = spool::config::split_host_port(&self.addr, 3310);
            let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(h.as_str(), p))?;
            let mut last = io::Error::other("no address");
            let mut got = None;
            for a in addrs {
                match TcpStream::connect_timeout(&a, self.timeout) {
                    Ok(s) => {
                        got = Some(s);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            Conn::Tcp(got.ok_or(last)?)
        };
        c.set_timeout(self.timeout)?;
        Ok(c)
    }

    /// Send `z<cmd>\0` and read the reply (NUL and line ends trimmed).
    pub fn command(&self, cmd: &str) -> Result<String> {
        let mut c = self.connect().map_err(|e| self.err(e.to_string()))?;
        c.write_all(format!("z{cmd}\0").as_bytes())
            .map_err(|e| self.err(e.to_string()))?;
        let mut buf = Vec::new();
        c.take(MAX_REPLY)
            .read_to_end(&mut buf)
            .map_err(|e| self.err(format!("no answer to {cmd}: {e}")))?;
        let text = String::from_utf8_lossy(&buf);
        Ok(text.trim_end_matches(['\0', '\n']).trim().to_string())
    }

    /// `PING` → `PONG`.
    pub fn ping(&self) -> Result<()> {
        let r = self.command("PING")?;
        if r == "PONG" {
            Ok(())
        } else {
            Err(self.err(format!("PING answered {:?}", shorten(&r))))
        }
    }

    pub fn version(&self) -> Result<Version> {
        let r = self.command("VERSION")?;
        parse_version(&r).ok_or_else(|| self.err(format!("unexpected VERSION reply {r:?}")))
    }

    /// Ask clamd to load the database directory again. clamd answers `RELOADING` and loads in
    /// the background; a database that fails to load leaves the previous one active.
    pub fn reload(&self) -> Result<()> {
        let r = self.command("RELOAD")?;
        if r == "RELOADING" {
            Ok(())
        } else {
            Err(self.err(format!("unexpected RELOAD reply {r:?}")))
        }
    }

    /// Hand clamd an open file to scan (`zFILDES`): clamd reads it from its first byte, whatever
    /// the file's position. `None` when this endpoint cannot take a descriptor (a TCP address,
    /// or a clamd that answers `UNKNOWN COMMAND`): stream the object instead.
    pub fn fildes(&self, file: &File) -> Option<Reply> {
        if !is_unix_socket(&self.addr) {
            return None;
        }
        let addr = &self.addr;
        let mut c = match self.connect() {
            Ok(Conn::Unix(s)) => s,
            Ok(Conn::Tcp(_)) => return None,
            Err(e) => return Some(Reply::Failed(format!("clamd {addr}: {e}"))),
        };
        let sent = send_fildes(&mut c, file);
        let _ = c.shutdown(std::net::Shutdown::Write);
        let answer = Answer::read(&mut c);
        if answer.is("UNKNOWN COMMAND") {
            return None;
        }
        Some(answer.verdict(addr, "passing the file", sent))
    }

    /// Stream one object and read the verdict.
    pub fn instream(&self, data: &mut dyn Read) -> Reply {
        let deadline = Instant::now() + self.timeout;
        let addr = &self.addr;
        let mut c = match self.connect() {
            Ok(c) => c,
            Err(e) => return Reply::Failed(format!("clamd {addr}: {e}")),
        };
        let sent = (|| -> io::Result<()> {
            // The command, each chunk with its length, and the terminator go out in as few
            // writes as possible: a whole small message is one write.
            let mut buf = Vec::with_capacity(CHUNK + 18);
            buf.extend_from_slice(b"zINSTREAM\0");
            loop {
                let head = buf.len();
                buf.extend_from_slice(&[0; 4]);
                let n = fill(data, &mut buf, CHUNK)?;
                buf[head..head + 4].copy_from_slice(&(n as u32).to_be_bytes());
                if n < CHUNK {
                    // The end of the data: a short chunk (or none) and the terminator.
                    if n == 0 {
                        buf.truncate(head);
                    }
                    buf.extend_from_slice(&0u32.to_be_bytes());
                    return c.write_all(&buf);
                }
                c.write_all(&buf)?;
                buf.clear();
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "scan timed out"));
                }
                c.set_timeout(left)?;
            }
        })();
        // clamd may have closed early with a reason: read it whatever happened to the write.
        // Our side is shut either way, so a peer that reads to the end stops waiting.
        c.shutdown_write();
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = c.set_read_timeout(left.max(Duration::from_millis(200)));
        Answer::read(&mut c).verdict(addr, "sending", sent)
    }
}

/// `zFILDES` and the descriptor, which rides on one byte of its own, as clamd reads it.
fn send_fildes(c: &mut UnixStream, file: &File) -> io::Result<()> {
    c.write_all(b"zFILDES\0")?;
    let fds = [file.as_raw_fd()];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    nix::sys::socket::sendmsg::<()>(
        c.as_raw_fd(),
        &[IoSlice::new(b"\0")],
        &cmsg,
        nix::sys::socket::MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

/// Read a reply received in a session: `<n>: <reply>`. Only a verdict (clean or a virus) that
/// carries `want` as its number is taken; anything else, an error too, is `None` (the caller
/// asks again outside the session, where errors are told apart as always).
pub fn parse_session_reply(reply: &str, want: u64) -> Option<Reply> {
    let (n, rest) = reply.split_once(": ")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.parse::<u64>().ok()? != want {
        return None;
    }
    match parse_reply(rest) {
        r @ (Reply::Clean | Reply::Virus(_)) => Some(r),
        _ => None,
    }
}

/// A clamd session on a Unix socket (`zIDSESSION`): descriptors handed over one after another
/// on one connection, which saves clamd and us a connection (socket, accept, shutdown, close)
/// per object. Ended with `zEND` when dropped.
pub struct Session {
    conn: UnixStream,
    /// Commands sent so far: clamd numbers its replies from 1.
    sent: u64,
}

impl Clamd {
    /// Open a session: `None` for a TCP endpoint (no descriptors there).
    pub fn session(&self) -> Option<io::Result<Session>> {
        if !is_unix_socket(&self.addr) {
            return None;
        }
        Some((|| {
            let mut conn = UnixStream::connect(&self.addr)?;
            let t = Some(self.timeout.max(Duration::from_millis(1)));
            conn.set_read_timeout(t)?;
            conn.set_write_timeout(t)?;
            conn.write_all(b"zIDSESSION\0")?;
            Ok(Session { conn, sent: 0 })
        })())
    }
}

impl Session {
    /// Hand clamd an open file in the session. `Some` only for a verdict numbered as this
    /// command; `None` for anything else (an error, a reply out of step, a closed session):
    /// drop the session and ask on a connection of its own.
    pub fn fildes(&mut self, file: &File) -> Option<Reply> {
        send_fildes(&mut self.conn, file).ok()?;
        self.sent += 1;
        // One reply, up to its NUL. clamd sends nothing unasked, so nothing follows it.
        let mut reply = Vec::new();
        let mut byte = [0u8; 256];
        loop {
            let n = self.conn.read(&mut byte).ok()?;
            if n == 0 {
                return None;
            }
            reply.extend_from_slice(&byte[..n]);
            if let Some(end) = reply.iter().position(|&b| b == 0) {
                if end + 1 != reply.len() {
                    return None;
                }
                reply.truncate(end);
                break;
            }
            if reply.len() as u64 > MAX_REPLY {
                return None;
            }
        }
        parse_session_reply(std::str::from_utf8(&reply).ok()?, self.sent)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.conn.write_all(b"zEND\0");
    }
}

/// What clamd answered to one scan command, read to the end after our side was shut.
struct Answer {
    text: String,
    /// The reading ended cleanly, or clamd had ended its reply with its NUL: clamd closing with
    /// our data unread makes the kernel reset the connection after the reply (a full
    /// TemporaryDirectory, a size limit), and such a reply is whole and counts; a cut one is not.
    whole: bool,
    error: Option<io::Error>,
}

impl Answer {
    fn read(c: &mut dyn Read) -> Answer {
        let mut reply = Vec::new();
        let read = c.take(MAX_REPLY).read_to_end(&mut reply);
        Answer {
            whole: read.is_ok() || reply.ends_with(b"\0"),
            text: String::from_utf8_lossy(&reply).into_owned(),
            error: read.err(),
        }
    }

    fn trimmed(&self) -> &str {
        self.text.trim_matches(['\0', '\n', ' '])
    }

    fn is(&self, reply: &str) -> bool {
        self.whole && self.trimmed() == reply
    }

    /// The verdict, given how sending the command and its object (`doing`) went. What clamd may
    /// not have received whole has no "clean" verdict; its reason (a size limit) or a virus found
    /// in what it got still counts.
    fn verdict(self, addr: &str, doing: &str, sent: io::Result<()>) -> Reply {
        let got = self.whole && !self.trimmed().is_empty();
        match (sent, self.error) {
            (Ok(()), _) if got => parse_reply(&self.text),
            (Err(e), _) if got => match parse_reply(&self.text) {
                Reply::Clean => Reply::Error(format!("clamd {addr}: {doing}: {e}")),
                r => r,
            },
            (Err(e), _) => Reply::Failed(format!("clamd {addr}: {doing}: {e}")),
            (Ok(()), Some(e)) => Reply::Failed(format!("clamd {addr}: no reply: {e}")),
            (Ok(()), None) => Reply::Failed(format!("clamd {addr}: empty reply")),
        }
    }
}

/// Append up to `max` bytes read from `data` to `buf`; fewer only at the end of the data.
fn fill(data: &mut dyn Read, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + max, 0);
    let mut got = 0;
    while got < max {
        match data.read(&mut buf[start + got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(start + got);
                return Err(e);
            }
        }
    }
    buf.truncate(start + got);
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    #[test]
    fn replies() {
        assert_eq!(parse_reply("stream: OK\0"), Reply::Clean);
        assert_eq!(
            parse_reply("stream: Eicar-Test-Signature FOUND\0"),
            Reply::Virus("Eicar-Test-Signature".into())
        );
        assert!(matches!(
            parse_reply("INSTREAM size limit exceeded. ERROR\0"),
            Reply::Error(_)
        ));
        assert!(matches!(parse_reply("stream: OKAY\0"), Reply::Error(_)));
        assert!(matches!(parse_reply("garbage"), Reply::Error(_)));
        assert!(matches!(parse_reply(""), Reply::Error(_)));
        assert!(matches!(parse_reply("stream:  FOUND"), Reply::Error(_)));
        for c in ['\r', '\x1b', '\x7f', '\t', '\0'] {
            let r = parse_reply(&format!("stream: Win.Test{c}Evil FOUND\0"));
            assert!(matches!(r, Reply::Error(_)), "{c:?} in a virus name: {r:?}");
        }
    }

    /// clamd stops reading a stream it cannot store (its TemporaryDirectory full) and answers
    /// `Error writing to temporary file ERROR` with our chunks unread: the kernel then ends the
    /// connection with a reset after the reply. The reply is still clamd's answer, and the admin
    /// must see it, not "Broken pipe".
    #[test]
    fn a_reply_before_a_reset_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("clamd.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut head = [0u8; 4096];
            c.read_exact(&mut head).unwrap();
            c.write_all(b"Error writing to temporary file ERROR\0")
                .unwrap();
            // Closed with the rest of the stream unread.
        });
        let clamd = Clamd::new(sock.to_str().unwrap(), Duration::from_secs(10));
        let mut data = io::repeat(b'a').take(8 << 20);
        let r = clamd.instream(&mut data);
        server.join().unwrap();
        match r {
            Reply::Error(e) => assert!(e.contains("Error writing to temporary file"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn descriptor_replies() {
        assert_eq!(parse_reply("fd[11]: OK\0"), Reply::Clean);
        assert_eq!(
            parse_reply("fd[7]: Eicar-Test-Signature.UNOFFICIAL FOUND\0"),
            Reply::Virus("Eicar-Test-Signature.UNOFFICIAL".into())
        );
        assert!(matches!(parse_reply("fd[]: OK\0"), Reply::Error(_)));
        assert!(matches!(parse_reply("fd[1x]: OK\0"), Reply::Error(_)));
        assert!(matches!(parse_reply("fd[3] OK\0"), Reply::Error(_)));
    }

    /// A session whose reply is numbered for another command (out of step) gives no verdict:
    /// the caller asks again on a connection of its own. A well-numbered one counts.
    #[test]
    fn a_session_reply_out_of_step_is_no_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("clamd.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut b = [0u8; 64];
            // zIDSESSION\0, then zFILDES\0 and the descriptor's byte \0 for each command.
            for (nuls, reply) in [(3, &b"1: fd[5]: OK\0"[..]), (5, b"7: fd[5]: OK\0")] {
                while got.iter().filter(|&&x| x == 0).count() < nuls {
                    let n = c.read(&mut b).unwrap();
                    assert!(n > 0, "closed early");
                    got.extend_from_slice(&b[..n]);
                }
                c.write_all(reply).unwrap();
            }
            got
        });
        let clamd = Clamd::new(sock.to_str().unwrap(), Duration::from_secs(10));
        let f = File::open("/dev/null").unwrap();
        let mut s = clamd.session().unwrap().unwrap();
        assert_eq!(s.fildes(&f), Some(Reply::Clean));
        assert_eq!(
            s.fildes(&f),
            None,
            "reply 7 to command 2 taken as a verdict"
        );
        let got = server.join().unwrap();
        assert!(
            got.starts_with(b"zIDSESSION\0zFILDES\0\0zFILDES\0\0"),
            "{got:?}"
        );
    }

    #[test]
    fn session_replies() {
        assert_eq!(parse_session_reply("3: fd[9]: OK", 3), Some(Reply::Clean));
        assert_eq!(
            parse_session_reply("1: fd[9]: Eicar-Test-Signature FOUND", 1),
            Some(Reply::Virus("Eicar-Test-Signature".into()))
        );
        // Another command's reply, an error, or no number: not a verdict for this object.
        assert_eq!(parse_session_reply("2: fd[9]: OK", 3), None);
        assert_eq!(parse_session_reply("fd[9]: OK", 1), None);
        assert_eq!(
            parse_session_reply("1: fd[9]: lstat() failed. ERROR", 1),
            None
        );
        assert_eq!(parse_session_reply("+1: fd[9]: OK", 1), None);
        assert_eq!(parse_session_reply("01: fd[9]: OK", 1), Some(Reply::Clean));
        assert_eq!(parse_session_reply("1: UNKNOWN COMMAND", 1), None);
    }

    #[test]
    fn version_replies() {
        let v = parse_version("ClamAV 1.4.6/27467/Thu Nov 26 09:23:01 2026").unwrap();
        assert_eq!(v.engine, "ClamAV 1.4.6");
        assert_eq!(v.database, Some(27467));
        let b = v.built.unwrap();
        assert_eq!((b.year(), b.month(), b.day()), (2026, 11, 26));
        let v = parse_version("ClamAV 1.0.7/27000/Mon Sep  1 08:00:00 2025").unwrap();
        assert_eq!(v.built.unwrap().day(), 1);
        let v = parse_version("ClamAV 1.4.6").unwrap();
        assert_eq!(v.database, None);
        assert_eq!(v.built, None);
        assert!(parse_version("UNKNOWN COMMAND").is_none());
    }

    #[test]
    fn endpoint_lists() {
        assert_eq!(
            endpoints("/run/clamav/clamd.ctl"),
            ["/run/clamav/clamd.ctl"]
        );
        assert_eq!(
            endpoints(" 10.0.0.5:3310, 10.0.0.6:3310 ,"),
            ["10.0.0.5:3310", "10.0.0.6:3310"]
        );
    }

    #[test]
    fn one_rule_for_socket_names() {
        assert!(is_unix_socket("/run/clamav/clamd.ctl"));
        assert!(
            is_unix_socket("clamd.sock"),
            "a relative path is a Unix socket too"
        );
        assert!(!is_unix_socket("127.0.0.1:3310"));
        assert!(!is_unix_socket("[::1]:3310"));
    }
}
