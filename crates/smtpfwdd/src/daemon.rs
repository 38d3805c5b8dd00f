//! The daemon loop: one instance per outgoing directory (`.smtpfwdd.lock`), a scan of the complete
//! files oldest first every `poll_seconds`, up to `max_parallel` deliveries at once in threads,
//! never the same file in two deliveries. SIGTERM (or SIGINT) lets the deliveries in flight finish,
//! starts no new one, and exits; SIGHUP rereads the configuration for the next deliveries.
//!
//! Signals are taken by one thread with sigwait (every other thread has them blocked), so no code
//! runs in a signal handler.

use crate::deliver::{self, Context, Known, Outcome, Worker};
use crate::state::RetryState;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{SigSet, Signal};
use spool::{store, MessageId, Queue};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}: another smtpfwdd is already running on this directory")]
    AlreadyRunning(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Spool(#[from] spool::Error),
}

/// Take `.smtpfwdd.lock` in the outgoing directory (held until the returned value is dropped).
pub fn program_lock(spool: &spool::Spool) -> Result<Flock<File>, DaemonError> {
    let path = spool.program_lock(Queue::Outgoing, "smtpfwdd");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|source| DaemonError::Io {
            path: path.display().to_string(),
            source,
        })?;
    Flock::lock(f, FlockArg::LockExclusiveNonblock)
        .map_err(|_| DaemonError::AlreadyRunning(path.display().to_string()))
}

/// Block the signals we handle in the calling thread (and so in every thread started after) and
/// return the set for the signal thread. Call before starting any thread.
pub fn block_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.add(Signal::SIGHUP);
    let _ = set.thread_block();
    set
}

enum Event {
    Finished(MessageId, Outcome),
    Terminate,
    Reload,
}

struct Job {
    ctx: Arc<Context>,
    id: MessageId,
    known: Known,
}

/// A complete message found by [`scan`], with what the listing shows beside it.
struct Found {
    id: MessageId,
    mtime: std::time::SystemTime,
    known: Known,
}

/// One pass over outgoing/: the complete messages (as `store::list` takes them: a valid id, a
/// regular file, the owner-execute bit set), oldest first, and in the same readdir the retry state
/// files and decoded directories, so a message without them costs no look-up for them.
fn scan(spool: &spool::Spool) -> std::io::Result<Vec<Found>> {
    use std::os::unix::fs::PermissionsExt;
    let dir = spool.queue(Queue::Outgoing);
    let mut found = Vec::new();
    let mut states = HashSet::new();
    let mut decoded = HashSet::new();
    for de in std::fs::read_dir(&dir)? {
        let de = de?;
        let name = de.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".state"))
        {
            states.insert(id.to_string());
            continue;
        }
        if let Some(id) = name.strip_suffix("_d") {
            decoded.insert(id.to_string());
            continue;
        }
        let Ok(id) = MessageId::parse(name) else {
            continue;
        };
        let md = match de.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !md.is_file() || md.permissions().mode() & 0o100 == 0 {
            continue;
        }
        found.push(Found {
            id,
            mtime: md.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH),
            known: Known::default(),
        });
    }
    for f in &mut found {
        if states.contains(f.id.as_str()) {
            f.known.state_file = true;
            f.known.prior = RetryState::load(spool, &f.id);
        }
        f.known.decoded_dir = decoded.contains(f.id.as_str());
    }
    found.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.id.cmp(&b.id)));
    Ok(found)
}

/// How the loop runs.
pub struct LoopOptions {
    pub once: bool,
    pub poll: Duration,
    pub max_parallel: usize,
}

/// A function that builds a fresh context from the configuration (SIGHUP).
pub type Reloader = Box<dyn Fn() -> Result<Context, String> + Send>;

/// Run the loop. Returns true when, in `--once` mode, every message of the pass left outgoing.
pub fn run(
    ctx: Context,
    reload: Reloader,
    opts: LoopOptions,
    signals: SigSet,
) -> Result<bool, DaemonError> {
    let mut ctx = Arc::new(ctx);
    let spool = ctx.spool.clone();
    match store::clean_stale_temps(&spool, Queue::Outgoing, Duration::from_secs(86_400)) {
        Ok(0) => {}
        Ok(n) => log::info!("removed {n} stale temp files from outgoing"),
        Err(e) => log::warn!("cannot clean stale temp files: {e}"),
    }
    let (ev_tx, ev_rx) = mpsc::channel::<Event>();
    {
        let tx = ev_tx.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || signal_thread(signals, tx))
            .map_err(|source| DaemonError::Io {
                path: "signal thread".into(),
                source,
            })?;
    }
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for n in 0..opts.max_parallel.max(1) {
        let rx = job_rx.clone();
        let tx = ev_tx.clone();
        let stop = stopping.clone();
        let h = std::thread::Builder::new()
            .name(format!("deliver-{n}"))
            .spawn(move || worker_thread(rx, tx, stop))
            .map_err(|source| DaemonError::Io {
                path: "worker thread".into(),
                source,
            })?;
        workers.push(h);
    }
    drop(ev_tx);

    log::info!(
        "started: {} on {}, {} parallel, scan every {}s",
        ctx.describe(),
        spool.queue(Queue::Outgoing).display(),
        opts.max_parallel,
        opts.poll.as_secs()
    );
    let mut in_flight: HashSet<MessageId> = HashSet::new();
    let mut terminate = false;
    let mut first_pass: Vec<MessageId> = Vec::new();
    let mut passes = 0u64;
    let mut counts = [0u64; 5];
    let sync_outgoing = || {
        if let Err(e) = store::fsync_dir(&spool.queue(Queue::Outgoing)) {
            log::warn!("cannot fsync outgoing: {e}");
        }
    };
    while !terminate {
        // Make the removals of the last interval durable (see deliver.rs).
        sync_outgoing();
        // One scan: every complete file not in flight and due, oldest first.
        let now = spool::clock::now().timestamp();
        match scan(&spool) {
            Ok(entries) => {
                for e in entries {
                    if passes == 0 {
                        first_pass.push(e.id.clone());
                    }
                    if in_flight.contains(&e.id) {
                        continue;
                    }
                    if e.known.prior.as_ref().is_some_and(|s| s.next_try > now) {
                        continue;
                    }
                    in_flight.insert(e.id.clone());
                    let job = Job {
                        ctx: ctx.clone(),
                        id: e.id,
                        known: e.known,
                    };
                    if job_tx.send(job).is_err() {
                        terminate = true;
                        break;
                    }
                }
            }
            Err(e) => log::error!("cannot scan outgoing: {e}"),
        }
        passes += 1;
        // Wait: in --once mode until the pass is done; else for the poll interval.
        let deadline = Instant::now() + opts.poll;
        loop {
            if opts.once && in_flight.is_empty() {
                terminate = true;
                break;
            }
            let timeout = if opts.once {
                Duration::from_secs(3600)
            } else {
                deadline.saturating_duration_since(Instant::now())
            };
            if timeout.is_zero() {
                break;
            }
            match ev_rx.recv_timeout(timeout) {
                Ok(Event::Finished(id, outcome)) => {
                    in_flight.remove(&id);
                    counts[outcome as usize] += 1;
                }
                Ok(Event::Terminate) => {
                    log::info!(
                        "SIGTERM: finishing {} deliveries in flight",
                        in_flight.len()
                    );
                    terminate = true;
                    break;
                }
                Ok(Event::Reload) => match reload() {
                    Ok(c) => {
                        log::info!("SIGHUP: configuration reread ({})", c.describe());
                        ctx = Arc::new(c);
                    }
                    Err(e) => log::error!("SIGHUP: configuration not reloaded: {e}"),
                },
                Err(RecvTimeoutError::Timeout) => {
                    if !opts.once {
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    terminate = true;
                    break;
                }
            }
        }
    }
    // No new deliveries; those running finish; queued jobs are dropped (the files stay).
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(job_tx);
    for h in workers {
        let _ = h.join();
    }
    sync_outgoing();
    log::info!(
        "stopped: {} done, {} deferred, {} skipped, {} quarantined, {} failed",
        counts[Outcome::Done as usize],
        counts[Outcome::Deferred as usize],
        counts[Outcome::Skipped as usize],
        counts[Outcome::Quarantined as usize],
        counts[Outcome::Failed as usize]
    );
    // One readdir rather than a stat per message of the pass.
    let present: HashSet<String> = match std::fs::read_dir(spool.queue(Queue::Outgoing)) {
        Ok(rd) => rd
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect(),
        Err(e) => {
            log::error!("cannot scan outgoing: {e}");
            return Ok(false);
        }
    };
    let left = first_pass.iter().any(|id| present.contains(id.as_str()));
    Ok(!left)
}

fn worker_thread(
    rx: Arc<Mutex<Receiver<Job>>>,
    tx: Sender<Event>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut w = Worker::default();
    let mut ctx_of_conn: Option<Arc<Context>> = None;
    loop {
        // Take the next job without waiting; when there is none, the kept connection is closed
        // before blocking (a server should not see idle connections between scans).
        let next = {
            let Ok(guard) = rx.lock() else { return };
            match guard.try_recv() {
                Ok(j) => Some(j),
                Err(mpsc::TryRecvError::Disconnected) => return,
                Err(mpsc::TryRecvError::Empty) => None,
            }
        };
        let job = match next {
            Some(j) => j,
            None => {
                w.close();
                let Ok(guard) = rx.lock() else { return };
                match guard.recv() {
                    Ok(j) => j,
                    Err(_) => return,
                }
            }
        };
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = tx.send(Event::Finished(job.id, Outcome::Skipped));
            continue;
        }
        if !ctx_of_conn
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, &job.ctx))
        {
            // New configuration: do not reuse a connection opened under the old one.
            w.close();
            ctx_of_conn = Some(job.ctx.clone());
        }
        let outcome = deliver::deliver_known(&job.ctx, &mut w, &job.id, &job.known);
        let _ = tx.send(Event::Finished(job.id, outcome));
    }
}

fn signal_thread(set: SigSet, tx: Sender<Event>) {
    loop {
        let ev = match set.wait() {
            Ok(Signal::SIGHUP) => Event::Reload,
            Ok(_) => Event::Terminate,
            Err(_) => continue,
        };
        if tx.send(ev).is_err() {
            return;
        }
    }
}

/// True when `dir` looks like a spool's outgoing directory.
pub fn is_outgoing_dir(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == "outgoing")
}
