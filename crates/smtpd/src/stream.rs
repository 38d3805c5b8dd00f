//! The byte stream a session talks over: a TCP connection (daemon mode), stdin/stdout (inetd, or a
//! systemd `Accept=yes` socket moved onto them), or anything else that reads and writes (tests).
//!
//! Reads wait with poll(2) in short slices so that a session notices both its own timeout and a
//! server-wide shutdown without signals interrupting anything.

use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by the signal thread on SIGTERM/SIGINT: every session answers 421 and closes.
pub static SHUTDOWN: AtomicBool = AtomicBool::new(false);

/// Set by SIGHUP in daemon mode: the listener rereads the configuration and the rules for the
/// sessions it starts next (sessions in progress keep theirs).
pub static RELOAD: AtomicBool = AtomicBool::new(false);

pub fn shutting_down() -> bool {
    SHUTDOWN.load(Ordering::Relaxed)
}

/// A stream whose reads can time out. `TimedOut` means the timeout passed; `ConnectionAborted`
/// means the server is shutting down.
pub trait ClientStream: Read + Write + Send {
    fn set_read_timeout(&mut self, timeout: Duration);
}

/// A read side and a write side given as file descriptors (the same socket twice, or a pipe pair).
pub struct FdStream {
    rd: File,
    wr: File,
    timeout: Duration,
}

const SLICE: Duration = Duration::from_millis(500);

impl FdStream {
    pub fn new(rd: OwnedFd, wr: OwnedFd) -> FdStream {
        // A client that stops reading must not hold a session forever: sockets get a send
        // timeout (pipes have none; that is only the test harness and inetd's own problem).
        let _ = nix::sys::socket::setsockopt(
            &wr,
            nix::sys::socket::sockopt::SendTimeout,
            &nix::sys::time::TimeVal::new(300, 0),
        );
        FdStream {
            rd: File::from(rd),
            wr: File::from(wr),
            timeout: Duration::from_secs(300),
        }
    }

    /// A connected TCP socket.
    pub fn from_tcp(s: std::net::TcpStream) -> io::Result<FdStream> {
        let _ = s.set_nodelay(true);
        let rd = OwnedFd::from(s);
        let wr = rd.try_clone()?;
        Ok(FdStream::new(rd, wr))
    }

    /// stdin and stdout (inetd's way; also a systemd Accept=yes socket once moved to fd 0).
    pub fn stdio() -> io::Result<FdStream> {
        let rd = io::stdin().as_fd().try_clone_to_owned()?;
        let wr = io::stdout().as_fd().try_clone_to_owned()?;
        Ok(FdStream::new(rd, wr))
    }

    /// A socket on stdin used both ways (systemd `Accept=yes`, once moved onto fd 0).
    pub fn stdin_both() -> io::Result<FdStream> {
        let rd = io::stdin().as_fd().try_clone_to_owned()?;
        let wr = rd.try_clone()?;
        Ok(FdStream::new(rd, wr))
    }

    fn wait_readable(&self) -> io::Result<()> {
        let end = Instant::now() + self.timeout;
        loop {
            if shutting_down() {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "server shutting down",
                ));
            }
            let now = Instant::now();
            if now >= end {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "read timeout"));
            }
            let slice = (end - now).min(SLICE);
            let mut fds = [PollFd::new(self.rd.as_fd(), PollFlags::POLLIN)];
            let ms =
                PollTimeout::try_from(slice.as_millis().max(1) as u32).unwrap_or(PollTimeout::MAX);
            match nix::poll::poll(&mut fds, ms) {
                Ok(0) => continue,
                // Readable, or hung up / error: read() tells which.
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Read for FdStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.wait_readable()?;
        loop {
            match self.rd.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

impl Write for FdStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.wr.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.wr.flush()
    }
}

impl ClientStream for FdStream {
    fn set_read_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }
}

/// In-memory client stream for unit tests: reads from a byte string, collects what is written.
pub struct MemStream {
    pub input: io::Cursor<Vec<u8>>,
    pub output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl MemStream {
    pub fn new(input: &[u8]) -> MemStream {
        MemStream {
            input: io::Cursor::new(input.to_vec()),
            output: Default::default(),
        }
    }
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ClientStream for MemStream {
    fn set_read_timeout(&mut self, _: Duration) {}
}
