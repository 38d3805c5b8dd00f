//! The clamd scanner: `zPING` once per batch, then for every object a new connection with
//! `zINSTREAM` (the protocol is in `clamav::client`). The messages of a batch are streamed over
//! one connection per core at once (clamd scans them in parallel); the objects of one message
//! in order, stopping at the first virus or error.
//!
//! A stream clamd did not fully receive (`INSTREAM size limit exceeded`) is an error (the
//! message waits), never "clean". `Heuristics.Limits.Exceeded*` detections (with
//! AlertExceedsMax) mean clamd stopped looking: the message is unscannable, at once;
//! `Heuristics.Encrypted*` (AlertEncrypted) mean encrypted content. The other objects of the
//! message are still scanned after either, so that a virus elsewhere is named.

use super::{detection, Job, Object, ScanReport, Scanner};
use clamav::client;
pub use clamav::client::{parse_reply, Reply};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Where the next message starts, so the pool shares the work.
    next: AtomicUsize,
}

impl Clamd {
    pub fn new(socket: &str, timeout: Duration) -> Clamd {
        let mut clients: Vec<client::Clamd> = client::endpoints(socket)
            .iter()
            .map(|e| client::Clamd::new(e, timeout))
            .collect();
        if clients.is_empty() {
            clients.push(client::Clamd::new(socket, timeout));
        }
        Clamd {
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

    /// Stream one object, from the endpoint `start` on: an endpoint that does not answer passes
    /// the object to the next. `open` gives the object's bytes afresh for each try.
    fn scan_object<'d>(
        &self,
        start: usize,
        open: &mut dyn FnMut() -> std::io::Result<Box<dyn Read + 'd>>,
    ) -> Reply {
        let n = self.clients.len();
        let mut failures = Vec::new();
        for k in 0..n {
            let c = &self.clients[(start + k) % n];
            let mut data = match open() {
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

    /// Stream bytes to the first endpoint that answers.
    pub fn scan_reader(&self, data: &[u8]) -> Reply {
        self.scan_object(0, &mut || Ok(Box::new(data)))
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
            return jobs.iter().map(|j| self.scan_job(j)).collect();
        }
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<ScanReport>>> = Mutex::new(vec![None; jobs.len()]);
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
    fn scan_job(&self, job: &Job) -> ScanReport {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // A limit or encrypted content: kept while the other objects are scanned (a virus
        // found later is the verdict).
        let mut unseen: Option<ScanReport> = None;
        for obj in &job.objects {
            let reply = match obj {
                Object::File(p, _) => self.scan_object(start, &mut || Ok(Box::new(File::open(p)?))),
                Object::Raw { data: Some(d), .. } | Object::Mem(d, _) => {
                    self.scan_object(start, &mut || Ok(Box::new(&d[..])))
                }
                Object::Raw {
                    path,
                    offset,
                    data: None,
                } => self.scan_object(start, &mut || {
                    let mut f = File::open(path)?;
                    f.seek(SeekFrom::Start(*offset))?;
                    Ok(Box::new(f))
                }),
            };
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
