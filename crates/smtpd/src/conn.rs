//! The connection under a session: the byte stream (plain or TLS), the input buffer, the
//! replies waiting to be sent, and the time reads may take.
//!
//! Replies are buffered and flushed only when the session is about to wait for input, which is
//! what makes pipelining cheap. Every read waits at most the read timeout, and all of them
//! together end at the deadline the session set (a command line, a DATA phase, the session): a
//! client that keeps each read short by sending one byte a second still runs out of time.

use crate::command::MAX_COMMAND;
use crate::stream::ClientStream;
use rustls::{ServerConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// Longest reply line, CRLF included (RFC 5321 4.5.3.1.5).
const MAX_REPLY: usize = 512;
pub(crate) const INPUT_BUFFER: usize = 64 * 1024;

/// The byte stream: plain until STARTTLS, then TLS over the same client stream.
pub(crate) enum Stream<T: ClientStream> {
    Plain(T),
    Tls(Box<StreamOwned<ServerConnection, T>>),
    /// Only while switching to TLS.
    Switching,
}

impl<T: ClientStream> Stream<T> {
    pub(crate) fn set_timeout(&mut self, d: Duration) {
        match self {
            Stream::Plain(t) => t.set_read_timeout(d),
            Stream::Tls(s) => s.sock.set_read_timeout(d),
            Stream::Switching => {}
        }
    }
}

impl<T: ClientStream> Read for Stream<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Switching => Ok(0),
        }
    }
}

impl<T: ClientStream> Write for Stream<T> {
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
pub(crate) struct Conn<T: ClientStream> {
    pub(crate) io: Stream<T>,
    pub(crate) buf: Box<[u8]>,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) out: Vec<u8>,
    /// Longest wait for one read.
    pub(crate) read_timeout: Duration,
    /// When the current command line or DATA phase (or the session) must be complete. A
    /// client that sends one byte a second keeps every single read short; this is what ends it.
    pub(crate) deadline: Instant,
    /// What the replies so far said, for the live counters (`spool::metrics`).
    pub(crate) tally: Tally,
}

/// Messages accepted and refusals by reply code, counted where every reply passes.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) received: u64,
    /// `550 5.7.1` (code and enhanced code) → count; no client text in the key.
    pub(crate) refused: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    fn count(&mut self, first_line: &str) {
        let b = first_line.as_bytes();
        match b.first() {
            Some(b'2') if first_line.contains(" Ok: queued as ") => self.received += 1,
            Some(b'4' | b'5') => {
                // The code, and the enhanced status code when the reply has one.
                let mut words = first_line.split(' ');
                let code = words
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(3)
                    .collect::<String>();
                let key = match words.next() {
                    Some(w)
                        if w.len() <= 9
                            && w.split('.').count() == 3
                            && w.split('.').all(|p| {
                                !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit())
                            }) =>
                    {
                        format!("{code} {w}")
                    }
                    _ => code,
                };
                *self.refused.entry(key).or_insert(0) += 1;
            }
            _ => {}
        }
    }
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    Eof,
    /// No byte within the read timeout.
    Timeout,
    /// The command line, the DATA phase or the session took longer than its deadline.
    Deadline,
    Shutdown,
}

impl<T: ClientStream> Conn<T> {
    /// Queue a reply (several lines joined by CRLF for a multi-line one). Some replies echo the
    /// client's text (the EHLO name, a parameter, rule replies quoting addresses), so every line
    /// is made to fit RFC 5321 here, once for all: printable US-ASCII only (4.2), and at most
    /// 512 bytes with its CRLF (4.5.3.1.5).
    pub(crate) fn reply(&mut self, text: &str) {
        self.tally.count(text.split("\r\n").next().unwrap_or(""));
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

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let r = self.io.write_all(&self.out).and_then(|_| self.io.flush());
            self.out.clear();
            r?;
        }
        Ok(())
    }

    /// Read more bytes into the buffer (flushing replies first: we are about to wait).
    pub(crate) fn fill(&mut self) -> Result<(), Stop> {
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
    pub(crate) fn command_line(&mut self) -> Result<Option<Vec<u8>>, Stop> {
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

/// `d` from now; for a duration too long to add, a century (configuration values are not
/// bounded, and `Instant + Duration` panics on overflow).
pub(crate) fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}
