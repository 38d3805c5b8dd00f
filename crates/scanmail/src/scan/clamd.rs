//! clamd's protocol, spoken directly: `zPING` once per batch, then for every object a new
//! connection with `zINSTREAM`, chunks with 4-byte big-endian lengths, a zero-length terminator,
//! and one NUL-terminated reply (`stream: OK`, `stream: <name> FOUND`, `... ERROR`). The
//! messages of a batch are streamed over one connection per core at once (clamd scans them in
//! parallel); the objects of one message in order, stopping at the first virus or error.
//!
//! clamd closes the connection early when a stream exceeds its StreamMaxLength and then answers
//! `INSTREAM size limit exceeded`; that reply is read even after a failed write, and it is an
//! error (the message waits), never "clean". `Heuristics.Limits.Exceeded*` detections (with
//! AlertExceedsMax) mean clamd stopped looking: the message is unscannable, at once;
//! `Heuristics.Encrypted*` (AlertEncrypted) mean encrypted content. The other objects of the
//! message are still scanned after either, so that a virus elsewhere is named.

use super::{detection, Job, Object, Outcome, Scanner};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CHUNK: usize = 64 * 1024;
/// Connections to clamd at once, at most (one per core).
const MAX_CONNECTIONS: usize = 4;
/// Longest reply kept (a virus name is short; anything longer is garbage).
const MAX_REPLY: u64 = 4096;

pub struct Clamd {
    socket: String,
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

/// How clamd answered one stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Clean,
    Virus(String),
    Error(String),
}

/// Read a clamd reply line (`stream: ...`).
pub fn parse_reply(reply: &str) -> Reply {
    let r = reply.trim_end_matches(['\0', '\n', '\r']).trim();
    let Some(rest) = r.strip_prefix("stream:").map(str::trim) else {
        return Reply::Error(format!("unexpected reply {:?}", shorten(r)));
    };
    if rest == "OK" {
        return Reply::Clean;
    }
    if let Some(name) = rest.strip_suffix(" FOUND") {
        let name = name.trim();
        if name.is_empty() || name.contains(['\0', '\n']) {
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

impl Clamd {
    pub fn new(socket: &str, timeout: Duration) -> Clamd {
        Clamd {
            socket: socket.to_string(),
            timeout,
        }
    }

    fn connect(&self) -> io::Result<Conn> {
        if self.socket.starts_with('/') || !self.socket.contains(':') {
            Ok(Conn::Unix(UnixStream::connect(&self.socket)?))
        } else {
            let (h, p) = spool::config::split_host_port(&self.socket, 3310);
            let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(h.as_str(), p))?;
            let mut last = io::Error::other("no address");
            for a in addrs {
                match TcpStream::connect_timeout(&a, self.timeout) {
                    Ok(s) => return Ok(Conn::Tcp(s)),
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
    }

    /// `zPING` → `PONG`.
    pub fn ping(&self) -> Result<(), String> {
        let mut c = self
            .connect()
            .map_err(|e| format!("clamd {}: {e}", self.socket))?;
        c.set_timeout(self.timeout).map_err(|e| e.to_string())?;
        c.write_all(b"zPING\0")
            .map_err(|e| format!("clamd {}: {e}", self.socket))?;
        let mut buf = Vec::new();
        c.take(MAX_REPLY)
            .read_to_end(&mut buf)
            .map_err(|e| format!("clamd {}: no answer to PING: {e}", self.socket))?;
        let r = String::from_utf8_lossy(&buf);
        if r.trim_end_matches(['\0', '\n']) == "PONG" {
            Ok(())
        } else {
            Err(format!(
                "clamd {}: PING answered {:?}",
                self.socket,
                shorten(&r)
            ))
        }
    }

    /// Stream one object and read the verdict.
    pub fn scan_reader(&self, data: &mut dyn Read) -> Reply {
        let deadline = Instant::now() + self.timeout;
        let mut c = match self.connect() {
            Ok(c) => c,
            Err(e) => return Reply::Error(format!("clamd {}: {e}", self.socket)),
        };
        if let Err(e) = c.set_timeout(self.timeout) {
            return Reply::Error(e.to_string());
        }
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
        let mut reply = Vec::new();
        let read = (&mut c).take(MAX_REPLY).read_to_end(&mut reply);
        let text = String::from_utf8_lossy(&reply).into_owned();
        let got_reply = read.is_ok() && !text.trim_matches(['\0', '\n', ' ']).is_empty();
        match (sent, read) {
            (Ok(()), _) if got_reply => parse_reply(&text),
            // A stream clamd did not fully receive has no "clean" verdict; its reason (size
            // limit) or a virus found in what it got still counts.
            (Err(e), _) if got_reply => match parse_reply(&text) {
                Reply::Clean => Reply::Error(format!("clamd {}: sending: {e}", self.socket)),
                r => r,
            },
            (Err(e), _) => Reply::Error(format!("clamd {}: sending: {e}", self.socket)),
            (Ok(()), Err(e)) => Reply::Error(format!("clamd {}: no reply: {e}", self.socket)),
            (Ok(()), Ok(_)) => Reply::Error(format!("clamd {}: empty reply", self.socket)),
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

impl Scanner for Clamd {
    fn scan(&mut self, jobs: &[Job]) -> Vec<Outcome> {
        if jobs.is_empty() {
            return Vec::new();
        }
        if let Err(e) = self.ping() {
            return jobs.iter().map(|_| Outcome::Error(e.clone())).collect();
        }
        // clamd scans connections in parallel (MaxThreads): a few at once keep every core busy.
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_CONNECTIONS)
            .min(jobs.len());
        if workers <= 1 {
            return jobs.iter().map(|j| self.scan_job(j)).collect();
        }
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; jobs.len()]);
        let this = &*self;
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let o = this.scan_job(job);
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(o);
                    }
                });
            }
        });
        // A job without an outcome (a poisoned lock) is an error: that message waits.
        results
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .chain(std::iter::repeat(None))
            .take(jobs.len())
            .map(|o| o.unwrap_or_else(|| Outcome::Error("clamd: no outcome".into())))
            .collect()
    }

    fn wants_dir(&self) -> bool {
        false
    }

    fn name(&self) -> String {
        format!("clamd {}", self.socket)
    }
}

impl Clamd {
    fn scan_job(&self, job: &Job) -> Outcome {
        // A limit or encrypted content: kept while the other objects are scanned (a virus
        // found later is the verdict).
        let mut unseen: Option<Outcome> = None;
        for obj in &job.objects {
            let reply = match obj {
                Object::File(p, _) => match File::open(p) {
                    Ok(mut f) => self.scan_reader(&mut f),
                    Err(e) => Reply::Error(format!("{}: {e}", p.display())),
                },
                Object::Raw { data: Some(d), .. } | Object::Mem(d, _) => {
                    self.scan_reader(&mut &d[..])
                }
                Object::Raw {
                    path,
                    offset,
                    data: None,
                } => match File::open(path).and_then(|mut f| {
                    f.seek(SeekFrom::Start(*offset))?;
                    Ok(f)
                }) {
                    Ok(mut f) => self.scan_reader(&mut f),
                    Err(e) => Reply::Error(format!("{}: {e}", path.display())),
                },
            };
            match reply {
                Reply::Clean => {}
                Reply::Virus(name) => match detection(name, obj.describe()) {
                    v @ Outcome::Virus { .. } => return v,
                    other => {
                        unseen.get_or_insert(other);
                    }
                },
                Reply::Error(e) => return Outcome::Error(format!("{}: {e}", obj.describe())),
            }
        }
        unseen.unwrap_or(Outcome::Clean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(parse_reply("stream: OK\0"), Reply::Clean);
        assert_eq!(
            parse_reply("stream: Eicar-Test-Signature FOUND\0"),
            Reply::Virus("Eicar-Test-Signature".into())
        );
        assert!(matches!(
            detection(
                "Heuristics.Limits.Exceeded.MaxFileSize".into(),
                String::new()
            ),
            Outcome::Unscannable { .. }
        ));
        assert!(matches!(
            detection("Heuristics.Encrypted.Zip".into(), String::new()),
            Outcome::Encrypted { .. }
        ));
        assert!(matches!(
            detection("Eicar-Test-Signature".into(), String::new()),
            Outcome::Virus { .. }
        ));
        assert!(matches!(
            parse_reply("INSTREAM size limit exceeded. ERROR\0"),
            Reply::Error(_)
        ));
        assert!(matches!(parse_reply("stream: OKAY\0"), Reply::Error(_)));
        assert!(matches!(parse_reply("garbage"), Reply::Error(_)));
        assert!(matches!(parse_reply(""), Reply::Error(_)));
        assert!(matches!(parse_reply("stream:  FOUND"), Reply::Error(_)));
    }
}
