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

use super::{detection, Job, Object, Outcome, Scanner};
use clamav::client;
pub use clamav::client::{parse_reply, Reply};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Connections to clamd at once, at most (one per core).
const MAX_CONNECTIONS: usize = 4;

/// The clamd scanner: the protocol is `clamav::client`'s; the batch, its connections and the
/// reading of the replies into verdicts are here.
pub struct Clamd {
    client: client::Clamd,
}

impl Clamd {
    pub fn new(socket: &str, timeout: Duration) -> Clamd {
        Clamd {
            client: client::Clamd::new(socket, timeout),
        }
    }

    /// `zPING` → `PONG`.
    pub fn ping(&self) -> Result<(), String> {
        self.client.ping().map_err(|e| e.to_string())
    }

    /// Stream one object and read the verdict.
    pub fn scan_reader(&self, data: &mut dyn Read) -> Reply {
        self.client.instream(data)
    }
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
        format!("clamd {}", self.client.addr())
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

    /// clamd's detection names that are not viruses (the reply itself is read by
    /// `clamav::client`, tested there).
    #[test]
    fn detections() {
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
    }
}
