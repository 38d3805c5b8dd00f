//! The clamd scanner: `zPING` once per batch, then the objects (the protocol is in
//! `clamav::client`). The messages of a batch go over one connection per core at once (clamd
//! scans them in parallel); the objects of one message in order, stopping at the first virus or
//! error. On a Unix socket each of those connections is a session (`zIDSESSION`) for the whole
//! batch; an object the session does not give a verdict for (an error, a session clamd closed)
//! is asked again on a connection of its own, and the session is not used again in that batch.
//!
//! On a Unix socket each object is handed over as an open file (`zFILDES`), so that clamd reads
//! its bytes once: with `zINSTREAM` they cross the socket and clamd writes them to its
//! TemporaryDirectory before it reads them again (in one run alternating both, clamd spent 4%
//! less CPU per message and the gateway ran 2–4% faster by descriptor: docs/BENCHMARKS.md;
//! `[scan] clamd_fdpass = false` streams everything). A decoded part on disk goes as the file
//! itself (opened read-only); the raw message (after the spool's envelope) and objects held in
//! memory as a copy in an anonymous memory file (memfd), because clamd reads a descriptor from
//! its first byte and must see exactly the object (its type is recognised from its start). A
//! clamd that does not know FILDES, or answers it with an error (an AppArmor profile that does
//! not let it read what it is given), gets the object streamed; TCP endpoints always get the
//! stream.
//!
//! A stream clamd did not fully receive (`INSTREAM size limit exceeded`) is an error (the
//! message waits), never "clean". `Heuristics.Limits.Exceeded*` detections (with
//! AlertExceedsMax) mean clamd stopped looking: the message is unscannable, at once;
//! `Heuristics.Encrypted*` (AlertEncrypted) mean encrypted content. The other objects of the
//! message are still scanned after either, so that a virus elsewhere is named.

use super::{detection, Job, Object, ScanReport, Scanner};
use clamav::client;
pub use clamav::client::{parse_reply, parse_session_reply, Reply};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Connections to clamd at once, at most (one per core).
const MAX_CONNECTIONS: usize = 4;

/// The clamd scanner: the protocol is `clamav::client`'s; the batch, its connections, the
/// spreading over a pool of endpoints and the reading of the replies into verdicts are here.
///
/// With several endpoints (`clamd_socket = "a, b"`) the messages of a batch are spread over
/// them, and an object whose endpoint does not answer is sent to the next one (one log line
/// names the endpoint that failed); a message waits only when every endpoint is down.
pub struct Clamd {
    clients: Vec<client::Clamd>,
    /// Per endpoint: stream every object (`clamd_fdpass = false`, or it answered FILDES with
    /// UNKNOWN COMMAND).
    no_fildes: Vec<AtomicBool>,
    /// Per endpoint: a FILDES error was logged as a warning (later ones at debug level: a
    /// profile that refuses every descriptor would otherwise log every object).
    fildes_warned: Vec<AtomicBool>,
    /// Where the next message starts, so the pool shares the work.
    next: AtomicUsize,
}

impl Clamd {
    /// `fdpass`: hand objects over by descriptor where the endpoint is a Unix socket.
    pub fn new(socket: &str, timeout: Duration, fdpass: bool) -> Clamd {
        let mut clients: Vec<client::Clamd> = client::endpoints(socket)
            .iter()
            .map(|e| client::Clamd::new(e, timeout))
            .collect();
        if clients.is_empty() {
            clients.push(client::Clamd::new(socket, timeout));
        }
        Clamd {
            no_fildes: clients.iter().map(|_| AtomicBool::new(!fdpass)).collect(),
            fildes_warned: clients.iter().map(|_| AtomicBool::new(false)).collect(),
            clients,
            next: AtomicUsize::new(0),
        }
    }

    /// `zPING` → `PONG` from at least one endpoint (the others are named in the log).
    pub fn ping(&self) -> Result<(), String> {
        let mut down = Vec::new();
        for c in &self.clients {
            match c.ping() {
                Ok(()) => {
                    for d in &down {
                        log::warn!("{d}");
                    }
                    return Ok(());
                }
                Err(e) => down.push(e.to_string()),
            }
        }
        Err(down.join("; "))
    }

    /// Scan one object, from the endpoint `start` on: an endpoint that does not answer passes
    /// the object to the next.
    fn scan_object(&self, start: usize, src: &Source, sessions: &mut Sessions) -> Reply {
        let n = self.clients.len();
        let mut failures = Vec::new();
        // The file handed to clamd, made once for all endpoints; when it cannot be made (no
        // memfd) the object is streamed.
        let mut file: Option<std::io::Result<File>> = None;
        for k in 0..n {
            let i = (start + k) % n;
            let c = &self.clients[i];
            if client::is_unix_socket(c.addr()) && !self.no_fildes[i].load(Ordering::Relaxed) {
                if let Ok(f) = file.get_or_insert_with(|| src.file()) {
                    if let Some(r) = sessions.fildes(i, c, f) {
                        return r;
                    }
                    match c.fildes(f) {
                        None => self.no_fildes[i].store(true, Ordering::Relaxed),
                        Some(Reply::Failed(e)) => {
                            if n > 1 {
                                log::warn!("{e}: the object goes to the next clamd");
                            }
                            failures.push(e);
                            continue;
                        }
                        // clamd could not read what it was handed: the same bytes as a stream.
                        Some(Reply::Error(e)) => {
                            if self.fildes_warned[i].swap(true, Ordering::Relaxed) {
                                log::debug!("{e}: streaming the object instead");
                            } else {
                                log::warn!("{e}: streaming the object instead (said once per run)");
                            }
                        }
                        Some(r) => return r,
                    }
                }
            }
            let mut data = match src.reader() {
                Ok(d) => d,
                Err(e) => return Reply::Error(e.to_string()),
            };
            match c.instream(&mut data) {
                Reply::Failed(e) => {
                    if n > 1 {
                        log::warn!("{e}: the object goes to the next clamd");
                    }
                    failures.push(e);
                }
                r => return r,
            }
        }
        Reply::Failed(failures.join("; "))
    }

    /// Scan bytes on the first endpoint that answers.
    pub fn scan_reader(&self, data: &[u8]) -> Reply {
        self.scan_object(0, &Source::Bytes(data), &mut Sessions::none())
    }

    fn sessions(&self) -> Sessions {
        Sessions(self.clients.iter().map(|_| Session::Unopened).collect())
    }
}

/// One connection's sessions for a batch, one per endpoint, opened when first needed.
struct Sessions(Vec<Session>);

enum Session {
    Unopened,
    Open(client::Session),
    /// Could not be opened, or gave no verdict once: not used again in this batch.
    Off,
}

impl Sessions {
    fn none() -> Sessions {
        Sessions(Vec::new())
    }

    /// The verdict of endpoint `i`'s session on `f`; `None` when there is none to take (the
    /// caller then asks on a connection of its own).
    fn fildes(&mut self, i: usize, c: &client::Clamd, f: &File) -> Option<Reply> {
        let slot = self.0.get_mut(i)?;
        if matches!(slot, Session::Unopened) {
            *slot = match c.session() {
                Some(Ok(s)) => Session::Open(s),
                _ => Session::Off,
            };
        }
        let Session::Open(s) = slot else { return None };
        let r = s.fildes(f);
        if r.is_none() {
            *slot = Session::Off;
        }
        r
    }
}

/// Where one object's bytes are: from `offset` of a file to its end, or in memory.
enum Source<'d> {
    File(&'d Path, u64),
    Bytes(&'d [u8]),
}

impl<'d> Source<'d> {
    /// The bytes as a stream, afresh for each try.
    fn reader(&self) -> std::io::Result<Box<dyn Read + 'd>> {
        Ok(match *self {
            Source::File(p, off) => {
                let mut f = File::open(p)?;
                f.seek(SeekFrom::Start(off))?;
                Box::new(f)
            }
            Source::Bytes(d) => Box::new(d),
        })
    }

    /// A file holding exactly the object from its first byte (clamd reads a descriptor from
    /// there): the file itself, else a memory file with a copy.
    fn file(&self) -> std::io::Result<File> {
        if let Source::File(p, 0) = *self {
            return File::open(p);
        }
        let fd = nix::sys::memfd::memfd_create(
            c"scanmail-object",
            nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
        )?;
        let mut m = File::from(fd);
        std::io::copy(&mut self.reader()?, &mut m)?;
        m.flush()?;
        Ok(m)
    }
}

impl Scanner for Clamd {
    fn scan(&mut self, jobs: &[Job]) -> Vec<ScanReport> {
        if jobs.is_empty() {
            return Vec::new();
        }
        if let Err(e) = self.ping() {
            return jobs.iter().map(|_| ScanReport::Error(e.clone())).collect();
        }
        // clamd scans connections in parallel (MaxThreads): a few at once keep every core busy.
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_CONNECTIONS)
            .min(jobs.len());
        if workers <= 1 {
            let mut sessions = self.sessions();
            return jobs
                .iter()
                .map(|j| self.scan_job(j, &mut sessions))
                .collect();
        }
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<ScanReport>>> = Mutex::new(vec![None; jobs.len()]);
        let this = &*self;
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    let mut sessions = this.sessions();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        let o = this.scan_job(job, &mut sessions);
                        if let Ok(mut r) = results.lock() {
                            r[i] = Some(o);
                        }
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
            .map(|o| o.unwrap_or_else(|| ScanReport::Error("clamd: no outcome".into())))
            .collect()
    }

    fn wants_dir(&self) -> bool {
        false
    }

    fn name(&self) -> String {
        let addrs: Vec<&str> = self.clients.iter().map(|c| c.addr()).collect();
        format!("clamd {}", addrs.join(", "))
    }
}

impl Clamd {
    fn scan_job(&self, job: &Job, sessions: &mut Sessions) -> ScanReport {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // A limit or encrypted content: kept while the other objects are scanned (a virus
        // found later is the verdict).
        let mut unseen: Option<ScanReport> = None;
        for obj in &job.objects {
            let src = match obj {
                Object::File(p, _) => Source::File(p, 0),
                Object::Raw { data: Some(d), .. } | Object::Mem(d, _) => Source::Bytes(d),
                Object::Raw {
                    path,
                    offset,
                    data: None,
                } => Source::File(path, *offset),
            };
            let reply = self.scan_object(start, &src, sessions);
            match reply {
                Reply::Clean => {}
                Reply::Virus(name) => match detection(name, obj.describe()) {
                    v @ ScanReport::Virus { .. } => return v,
                    other => {
                        unseen.get_or_insert(other);
                    }
                },
                Reply::Error(e) | Reply::Failed(e) => {
                    return ScanReport::Error(format!("{}: {e}", obj.describe()))
                }
            }
        }
        unseen.unwrap_or(ScanReport::Clean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clamd's detection names that are not viruses (the reply itself is read by
    /// `clamav::client`, tested there).
    #[test]
    fn detections() {
        assert!(matches!(
            detection(
                "Heuristics.Limits.Exceeded.MaxFileSize".into(),
                String::new()
            ),
            ScanReport::Unscannable { .. }
        ));
        assert!(matches!(
            detection("Heuristics.Encrypted.Zip".into(), String::new()),
            ScanReport::Encrypted { .. }
        ));
        assert!(matches!(
            detection("Eicar-Test-Signature".into(), String::new()),
            ScanReport::Virus { .. }
        ));
    }
}
