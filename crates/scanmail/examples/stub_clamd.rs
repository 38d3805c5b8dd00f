//! A stand-in for clamd that answers at once, for measuring scanmail's own cost (see
//! tests/bench/scanmail.sh). It speaks just enough of clamd's protocol: `zPING` gets `PONG`,
//! `zINSTREAM` has its chunks read to the zero-length terminator and gets `stream: OK`. One thread
//! per connection, so the stub never makes scanmail wait.
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

fn serve(s: UnixStream) -> io::Result<()> {
    let mut w = s.try_clone()?;
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let mut cmd = [0u8; 6];
    r.read_exact(&mut cmd)?;
    if &cmd == b"zPING\0" {
        return w.write_all(b"PONG\0");
    }
    if &cmd == b"zCOUNT" {
        let (n, b) = COUNT.lock().map(|c| *c).unwrap_or((0, 0));
        return w.write_all(format!("{n} {b}\0").as_bytes());
    }
    // "zINSTREAM\0" is 10 bytes: the first 6 were read above.
    let mut rest = [0u8; 4];
    r.read_exact(&mut rest)?;
    if &cmd != b"zINSTR" || &rest != b"EAM\0" {
        return w.write_all(b"UNKNOWN COMMAND\0");
    }
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
    if let Ok(mut c) = COUNT.lock() {
        c.0 += 1;
        c.1 += total;
    }
    Ok(())
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
