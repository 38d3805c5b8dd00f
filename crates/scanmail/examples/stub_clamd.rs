//! A stand-in for clamd that answers at once, for measuring scanmail's own cost (see
//! tests/bench/scanmail.sh). It speaks just enough of clamd's protocol: `zPING` gets `PONG`,
//! `zINSTREAM` has its chunks read to the zero-length terminator and gets `stream: OK`, `zFILDES`
//! has its descriptor taken (its file's size counted) and gets `fd[N]: OK`, and `zIDSESSION`
//! takes FILDES commands until `zEND`, each answered `<n>: fd[N]: OK`. One thread per
//! connection, so the stub never makes scanmail wait.
//!
//! Usage: `stub_clamd SOCKET_PATH` (runs until killed). Not for tests of verdicts: it never finds
//! anything. `zCOUNT\0` is answered with `<streams> <bytes>\0` (totals so far), so that the
//! benchmark can tell how much a scanner would have had to read; the counting costs a scan
//! nothing (an earlier version wrote a file per stream, which tripled the measured cost).
#![forbid(unsafe_code)]

use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Mutex;

/// Streams and bytes received so far.
static COUNT: Mutex<(u64, u64)> = Mutex::new((0, 0));

/// One command, byte by byte: a FILDES descriptor rides on the byte after it, which a buffered
/// read would swallow without its descriptor.
fn command(s: &UnixStream) -> io::Result<Vec<u8>> {
    let mut cmd = Vec::new();
    let mut b = [0u8; 1];
    while cmd.last() != Some(&0) && cmd.len() < 32 {
        (&*s).read_exact(&mut b)?;
        cmd.push(b[0]);
    }
    Ok(cmd)
}

fn serve(s: UnixStream) -> io::Result<()> {
    let mut w = s.try_clone()?;
    let cmd = command(&s)?;
    match &cmd[..] {
        b"zPING\0" => return w.write_all(b"PONG\0"),
        b"zCOUNT\0" => {
            let (n, b) = COUNT.lock().map(|c| *c).unwrap_or((0, 0));
            return w.write_all(format!("{n} {b}\0").as_bytes());
        }
        b"zFILDES\0" => return fildes(&s, ""),
        b"zIDSESSION\0" => {
            for n in 1u64.. {
                match &command(&s)?[..] {
                    b"zFILDES\0" => fildes(&s, &format!("{n}: "))?,
                    b"zEND\0" => break,
                    _ => return w.write_all(format!("{n}: UNKNOWN COMMAND\0").as_bytes()),
                }
            }
            return Ok(());
        }
        b"zINSTREAM\0" => {}
        _ => return w.write_all(b"UNKNOWN COMMAND\0"),
    }
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let mut sink = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let mut n = u32::from_be_bytes(len) as usize;
        if n == 0 {
            break;
        }
        total += n as u64;
        while n > 0 {
            let k = n.min(sink.len());
            r.read_exact(&mut sink[..k])?;
            n -= k;
        }
    }
    w.write_all(b"stream: OK\0")?;
    count(total);
    Ok(())
}

fn count(bytes: u64) {
    if let Ok(mut c) = COUNT.lock() {
        c.0 += 1;
        c.1 += bytes;
    }
}

/// `zFILDES`: take the descriptor, count the file's size as what a scanner would read, close it,
/// answer `fd[N]: OK` (after `prefix`, a session's reply number).
fn fildes(s: &UnixStream, prefix: &str) -> io::Result<()> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::AsRawFd;
    let mut byte = [0u8; 1];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    let msg = recvmsg::<()>(s.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty())?;
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(v) = c {
            fds.extend(v);
        }
    }
    let Some(&fd) = fds.first() else {
        return (&*s).write_all(format!("{prefix}No file descriptor received. ERROR\0").as_bytes());
    };
    let size = nix::sys::stat::fstat(fd).map_or(0, |st| st.st_size as u64);
    for f in &fds {
        let _ = nix::unistd::close(*f);
    }
    count(size);
    (&*s).write_all(format!("{prefix}fd[{fd}]: OK\0").as_bytes())
}

fn main() -> io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| io::Error::other("usage: stub_clamd SOCKET_PATH"))?;
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    // scanmail runs as uucp when the benchmark runs as root.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
    for conn in listener.incoming() {
        let Ok(s) = conn else { continue };
        std::thread::spawn(move || {
            let _ = serve(s);
        });
    }
    Ok(())
}
