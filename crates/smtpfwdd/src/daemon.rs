//! The daemon loop: one instance per outgoing directory (`.smtpfwdd.lock`), a scan of the complete
//! files oldest first when one arrives (inotify) and every `poll_seconds` in any case, up to `max_parallel` deliveries at once in threads,
//! never the same file in two deliveries. SIGTERM (or SIGINT) lets the deliveries in flight finish,
//! starts no new one, and exits; SIGHUP rereads the configuration for the next deliveries;
//! SIGUSR1 scans at once with every message due (a flush).
//!
//! Signals are taken by one thread with sigwait (every other thread has them blocked), so no code
//! runs in a signal handler.
//!
//! A delivery that panics (a bug) is contained to that delivery: the worker logs it, forgets its
//! state (the kept connection, mid-transaction, is dropped without QUIT) and goes on as a fresh
//! worker; the message stays in outgoing (its lock went with the unwound descriptor) with a retry
//! state, so it is tried again after the usual backoff, and `--once` still ends.

use crate::deliver::{self, Attempt, Context, Known, Worker};
use crate::state::RetryState;
use nix::sys::signal::{SigSet, Signal};
use spool::layout::QueueName;
use spool::{store, MessageId, Queue};
use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
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

/// Take `.smtpfwdd.lock` in the outgoing directory (held until the returned value is dropped),
/// with our pid in it for `mailwall flush`.
pub fn program_lock(spool: &spool::Spool) -> Result<store::ProgramLock, DaemonError> {
    store::take_program_lock(spool, Queue::Outgoing, "smtpfwdd").map_err(|e| match e {
        spool::Error::Locked(p) => DaemonError::AlreadyRunning(p.display().to_string()),
        e => DaemonError::Spool(e),
    })
}

/// The signals the daemon takes: SIGTERM and SIGINT stop it, SIGHUP rereads the configuration,
/// SIGUSR1 flushes.
const HANDLED: [Signal; 4] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
];

/// Block the signals we handle in the calling thread (and so in every thread started after) and
/// return the set for the signal thread ([`spool::signals`]). Call before starting any thread.
pub fn block_signals() -> SigSet {
    spool::signals::block(&HANDLED).unwrap_or_else(|e| {
        // Never seen in practice (the mask is valid); the set is still the one to wait for.
        log::warn!("cannot block signals: {e}");
        let mut set = SigSet::empty();
        HANDLED.iter().for_each(|s| set.add(*s));
        set
    })
}

enum Event {
    Terminate,
    Reload,
    /// SIGUSR1 (`mailwall flush`): scan now and try deferred mail without waiting for its
    /// next-try time, like `postqueue -f`.
    Flush,
    /// inotify: a message arrived in outgoing/ (renamed in or completed): scan now instead of at
    /// the end of the poll interval, which stays as the safety net.
    Arrived,
}

/// What the loop, the workers and the signal thread share, under one mutex: a queue of jobs, the
/// finished deliveries, the signals. Taking an uncontended mutex costs no system call; a channel
/// per job and a wake-up of the loop per finished message cost several (futex), which on 2 cores
/// with 10 workers was a good part of the time. The loop is woken only by a signal or when the
/// last outstanding job finishes; otherwise it collects the finished ones when its poll ends.
#[derive(Default)]
struct Board {
    jobs: std::collections::VecDeque<Job>,
    done: Vec<(MessageId, Attempt)>,
    events: Vec<Event>,
    /// Jobs queued or being delivered.
    outstanding: usize,
    /// No more jobs: a worker with an empty queue exits.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    board: Mutex<Board>,
    /// Workers wait here for jobs.
    work: Condvar,
    /// The loop waits here for a signal or the end of the outstanding jobs.
    idle: Condvar,
}

impl Shared {
    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        // A worker that panicked while holding the lock leaves the board usable.
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Job {
    ctx: Arc<Context>,
    id: MessageId,
    known: Known,
}

/// A complete message found by [`scan`], with what the listing shows beside it.
struct Found {
    id: MessageId,
    known: Known,
}

/// One pass over outgoing/ ([`store::scan`]): the complete messages, oldest first, each with its
/// retry state read when the same readdir showed a state file; stale retry states removed.
fn scan(spool: &spool::Spool) -> spool::Result<Vec<Found>> {
    let scan = spool::store::scan(spool, Queue::Outgoing)?;
    // A retry state without its message belongs to a finished queue life (a crash after the
    // message was removed or moved to quarantine): left, it would be inherited by the same id
    // coming back (a release from quarantine) and bounce it as expired. Only deliveries write
    // these, always while their message is here, so none is in use.
    for l in scan.leftovers.iter().filter(|l| !l.decoded_dir) {
        match l.remove() {
            Ok(()) => log::info!("{}: removed a retry state left without its message", l.id),
            Err(e) => log::warn!("cannot remove a stale retry state: {e}"),
        }
    }
    Ok(scan
        .messages
        .into_iter()
        .map(|m| Found {
            known: Known {
                beside: store::Beside::from(&m),
                prior: if m.state_file {
                    RetryState::load(spool, &m.entry.id)
                } else {
                    None
                },
            },
            id: m.entry.id,
        })
        .collect())
}

/// How the loop runs.
pub struct LoopOptions {
    pub once: bool,
    pub poll: Duration,
    pub max_parallel: usize,
}

/// A function that builds a fresh context from the configuration (SIGHUP).
pub type Reloader = Box<dyn Fn() -> Result<Context, String> + Send>;

/// One delivery ([`deliver::deliver_known`]; tests put a failing one in its place).
pub type DeliverFn = fn(&Context, &mut Worker, &MessageId, &Known) -> Attempt;

/// Run the loop. Returns true when, in `--once` mode, every message of the pass left outgoing.
pub fn run(
    ctx: Context,
    reload: Reloader,
    opts: LoopOptions,
    signals: SigSet,
) -> Result<bool, DaemonError> {
    run_with(ctx, reload, opts, signals, deliver::deliver_known)
}

/// [`run`] with the delivery function given.
pub fn run_with(
    ctx: Context,
    reload: Reloader,
    opts: LoopOptions,
    signals: SigSet,
    deliver: DeliverFn,
) -> Result<bool, DaemonError> {
    let spool = ctx.spool.clone();
    match store::clean_stale_temps(&spool, Queue::Outgoing, Duration::from_secs(86_400)) {
        Ok(0) => {}
        Ok(n) => log::info!("removed {n} stale temp files from outgoing"),
        Err(e) => log::warn!("cannot clean stale temp files: {e}"),
    }
    let shared = Arc::new(Shared::default());
    let workers = start_threads(&spool, &shared, &opts, signals, deliver)?;
    log::info!(
        "started: {} on {}, {} parallel, scan every {}s",
        ctx.describe(),
        spool.queue(Queue::Outgoing).display(),
        opts.max_parallel,
        opts.poll.as_secs()
    );
    let mut l = Loop {
        ctx: Arc::new(ctx),
        spool,
        shared,
        reload,
        opts,
        in_flight: HashSet::new(),
        terminate: false,
        flush: false,
        unsynced: true,
        metrics_written: Instant::now(),
        first_pass: Vec::new(),
        passes: 0,
        counts: [0; 6],
        busy_after: Duration::ZERO,
    };
    while !l.terminate {
        // Make the removals of the last interval durable (see deliver/settle.rs); with inotify
        // a scan can follow each arrival, so only when deliveries finished since the last sync.
        if l.unsynced {
            l.sync_outgoing();
            l.unsynced = false;
        }
        l.queue_due();
        l.passes += 1;
        l.flush = false;
        l.wait();
    }
    Ok(l.finish(workers))
}

/// The signal thread, the inotify watch (not with `--once`) and the delivery workers.
fn start_threads(
    spool: &spool::Spool,
    shared: &Arc<Shared>,
    opts: &LoopOptions,
    signals: SigSet,
    deliver: DeliverFn,
) -> Result<Vec<std::thread::JoinHandle<()>>, DaemonError> {
    let sh = shared.clone();
    spool::signals::spawn(signals, move |sig| on_signal(sig, &sh)).map_err(|source| {
        DaemonError::Io {
            path: "signal thread".into(),
            source,
        }
    })?;
    if !opts.once {
        watch_outgoing(spool, shared.clone());
    }
    let mut workers = Vec::new();
    for n in 0..opts.max_parallel.max(1) {
        let sh = shared.clone();
        let h = std::thread::Builder::new()
            .name(format!("deliver-{n}"))
            .spawn(move || worker_thread(sh, deliver))
            .map_err(|source| DaemonError::Io {
                path: "worker thread".into(),
                source,
            })?;
        workers.push(h);
    }
    Ok(workers)
}

/// The first look again at a message that was locked by another program (see
/// [`Attempt::Busy`]): scanmail lets go of it within a millisecond or so.
const BUSY_RETRY: Duration = Duration::from_millis(50);

/// The loop's own state (the workers' is on the [`Board`]).
struct Loop {
    ctx: Arc<Context>,
    spool: spool::Spool,
    shared: Arc<Shared>,
    reload: Reloader,
    opts: LoopOptions,
    /// Messages queued or being delivered: never given to a second worker.
    in_flight: HashSet<MessageId>,
    terminate: bool,
    /// SIGUSR1 came: the next scan takes deferred mail too.
    flush: bool,
    /// Deliveries finished since outgoing/ was last fsynced.
    unsynced: bool,
    metrics_written: Instant,
    /// The messages of the first scan (`--once` succeeds when none is left).
    first_pass: Vec<MessageId>,
    passes: u64,
    /// Finished deliveries by [`Attempt`].
    counts: [u64; 6],
    /// How long after a [`Attempt::Busy`] outgoing/ is scanned again: 50 ms, doubled while the
    /// same lock stays held (up to the poll interval), zero when nothing was busy.
    busy_after: Duration,
}

impl Loop {
    fn sync_outgoing(&self) {
        if let Err(e) = store::fsync_dir(&self.spool.queue(Queue::Outgoing)) {
            log::warn!("cannot fsync outgoing: {e}");
        }
    }

    /// One scan: every complete file not in flight and due (all of them on a flush), oldest
    /// first, onto the board.
    fn queue_due(&mut self) {
        let now = spool::clock::now().timestamp();
        let entries = match scan(&self.spool) {
            Ok(e) => e,
            Err(e) => {
                log::error!("cannot scan outgoing: {e}");
                return;
            }
        };
        let mut jobs = Vec::new();
        for e in entries {
            if self.passes == 0 {
                self.first_pass.push(e.id.clone());
            }
            if self.in_flight.contains(&e.id) {
                continue;
            }
            if !self.flush && e.known.prior.as_ref().is_some_and(|s| s.next_try > now) {
                continue;
            }
            self.in_flight.insert(e.id.clone());
            let mut known = e.known;
            if self.flush {
                // Due now: the delivery checks the next-try time again.
                if let Some(p) = known.prior.as_mut() {
                    p.next_try = 0;
                }
            }
            jobs.push(Job {
                ctx: self.ctx.clone(),
                id: e.id,
                known,
            });
        }
        if !jobs.is_empty() {
            let mut b = self.shared.board();
            b.outstanding += jobs.len();
            b.jobs.extend(jobs);
            drop(b);
            self.shared.work.notify_all();
        }
    }

    /// Wait: in `--once` mode until the pass is done; else for the poll interval, or until a
    /// message arrives. Signals are handled at once; finished deliveries are collected.
    fn wait(&mut self) {
        let mut deadline = Instant::now() + self.opts.poll;
        let mut busy = false;
        loop {
            let (events, done, outstanding) = self.take_board(deadline);
            let finished = !done.is_empty();
            self.unsynced |= finished;
            for (id, attempt) in done {
                self.in_flight.remove(&id);
                self.counts[attempt as usize] += 1;
                if attempt == Attempt::Busy && !busy {
                    busy = true;
                    self.busy_after =
                        (self.busy_after * 2).clamp(BUSY_RETRY, self.opts.poll.max(BUSY_RETRY));
                    deadline = deadline.min(Instant::now() + self.busy_after);
                }
            }
            if !busy && outstanding == 0 {
                self.busy_after = Duration::ZERO;
            }
            // At most once a second, and when the queue drains: a steady stream of deliveries
            // costs one counters write per second, not one per message.
            if finished
                && (outstanding == 0 || self.metrics_written.elapsed() >= Duration::from_secs(1))
            {
                write_metrics(&self.ctx, outstanding == 0);
                self.metrics_written = Instant::now();
            }
            let arrived = self.handle(events, outstanding);
            if self.terminate || self.flush || arrived {
                return;
            }
            if self.opts.once && outstanding == 0 {
                self.terminate = true;
                return;
            }
            if !self.opts.once && Instant::now() >= deadline {
                return;
            }
        }
    }

    /// Block until something happens (or `deadline`), then take the events, the finished
    /// deliveries and the count of outstanding jobs off the board.
    fn take_board(&self, deadline: Instant) -> (Vec<Event>, Vec<(MessageId, Attempt)>, usize) {
        let mut b = self.shared.board();
        // Deliveries that finished before this wait began are taken at once: their worker's
        // notification came while nobody was waiting.
        let quiet =
            b.events.is_empty() && b.done.is_empty() && !(self.opts.once && b.outstanding == 0);
        if quiet {
            let timeout = if self.opts.once {
                Duration::from_secs(3600)
            } else {
                deadline.saturating_duration_since(Instant::now())
            };
            if !timeout.is_zero() {
                b = self
                    .shared
                    .idle
                    .wait_timeout(b, timeout)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        (
            std::mem::take(&mut b.events),
            std::mem::take(&mut b.done),
            b.outstanding,
        )
    }

    /// Act on the signals and arrivals; true when a message arrived.
    fn handle(&mut self, events: Vec<Event>, outstanding: usize) -> bool {
        let mut arrived = false;
        for ev in events {
            match ev {
                Event::Terminate => {
                    log::info!("SIGTERM: finishing {outstanding} deliveries in flight");
                    self.terminate = true;
                }
                Event::Reload => match (self.reload)() {
                    Ok(c) => {
                        log::info!("SIGHUP: configuration reread ({})", c.describe());
                        self.ctx = Arc::new(c);
                    }
                    Err(e) => log::error!("SIGHUP: configuration not reloaded: {e}"),
                },
                Event::Flush => {
                    log::info!("SIGUSR1: flush: deferred mail is tried now");
                    self.flush = true;
                }
                Event::Arrived => arrived = true,
            }
        }
        arrived
    }

    /// No new deliveries; those running finish; queued jobs are dropped (the files stay). True
    /// when every message of the first pass left outgoing.
    fn finish(mut self, workers: Vec<std::thread::JoinHandle<()>>) -> bool {
        {
            let mut b = self.shared.board();
            let dropped = b.jobs.len();
            b.jobs.clear();
            b.outstanding -= dropped;
            self.counts[Attempt::Skipped as usize] += dropped as u64;
            b.closed = true;
        }
        self.shared.work.notify_all();
        for h in workers {
            let _ = h.join();
        }
        for (_, attempt) in std::mem::take(&mut self.shared.board().done) {
            self.counts[attempt as usize] += 1;
        }
        self.sync_outgoing();
        write_metrics(&self.ctx, true);
        let c = &self.counts;
        log::info!(
            "stopped: {} done, {} deferred, {} skipped, {} quarantined, {} failed",
            c[Attempt::Done as usize],
            c[Attempt::Deferred as usize],
            c[Attempt::Skipped as usize] + c[Attempt::Busy as usize],
            c[Attempt::Quarantined as usize],
            c[Attempt::Failed as usize]
        );
        // One readdir rather than a stat per message of the pass.
        let present: HashSet<MessageId> = match store::scan(&self.spool, Queue::Outgoing) {
            Ok(s) => s.messages.into_iter().map(|m| m.entry.id).collect(),
            Err(e) => {
                log::error!("cannot scan outgoing: {e}");
                return false;
            }
        };
        !self.first_pass.iter().any(|id| present.contains(id))
    }
}

fn worker_thread(shared: Arc<Shared>, deliver: DeliverFn) {
    let mut w = Worker::default();
    let mut ctx_of_conn: Option<Arc<Context>> = None;
    loop {
        let job = {
            let mut b = shared.board();
            match b.jobs.pop_front() {
                Some(j) => j,
                None => {
                    if b.closed {
                        return;
                    }
                    // The queue ran dry: the kept connection is closed before blocking (a
                    // server should not see idle connections between scans).
                    drop(b);
                    w.close();
                    let mut b = shared.board();
                    loop {
                        if let Some(j) = b.jobs.pop_front() {
                            break j;
                        }
                        if b.closed {
                            return;
                        }
                        b = shared.work.wait(b).unwrap_or_else(|e| e.into_inner());
                    }
                }
            }
        };
        if !ctx_of_conn
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, &job.ctx))
        {
            // New configuration: do not reuse a connection opened under the old one.
            w.close();
            ctx_of_conn = Some(job.ctx.clone());
        }
        let run = std::panic::AssertUnwindSafe(|| deliver(&job.ctx, &mut w, &job.id, &job.known));
        let outcome = match std::panic::catch_unwind(run) {
            Ok(o) => o,
            Err(p) => {
                // The worker's connection may be mid-transaction: drop it without a word (the
                // server discards an unfinished message), and start again as a fresh worker.
                std::mem::take(&mut w).abandon();
                ctx_of_conn = None;
                after_panic(&job.ctx, &job.id, &*p);
                Attempt::Failed
            }
        };
        let mut b = shared.board();
        b.done.push((job.id, outcome));
        b.outstanding -= 1;
        // A busy message is looked at again soon (see Loop::wait), whatever else is running.
        if b.outstanding == 0 || outcome == Attempt::Busy {
            shared.idle.notify_one();
        }
    }
}

/// Log a panicked delivery and give the message a retry state, so it waits the usual backoff
/// instead of panicking again at every scan.
fn after_panic(ctx: &Context, id: &MessageId, payload: &(dyn std::any::Any + Send)) {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    let now = spool::clock::now().timestamp();
    let prior = RetryState::load(&ctx.spool, id);
    let attempts = prior.as_ref().map(|s| s.attempts).unwrap_or(0) + 1;
    let wait = crate::state::backoff(attempts, ctx.opts.retry_base);
    let st = RetryState {
        queued: prior.map(|s| s.queued).unwrap_or(now),
        attempts,
        next_try: now + wait.as_secs().max(1) as i64,
        last_error: format!("delivery panicked: {what}"),
    };
    if let Err(e) = st.save(&ctx.spool, id) {
        log::warn!("{id}: cannot save the retry state: {e}");
    }
    log::error!(
        "{id}: delivery panicked ({what}); the message stays in outgoing, next try in {}s; \
         worker replaced",
        wait.as_secs()
    );
}

/// Add the recipients handled since the last call to the spool's counters and rewrite the
/// metrics file ([report] metrics_dir): when the queue has drained (`settled`), else at most
/// every ten seconds, since the file counts every queue (a stat per quarantined message). A
/// failure costs the figures, never a delivery.
fn write_metrics(ctx: &Context, settled: bool) {
    let tally = deliver::TALLY.take();
    if tally.iter().all(|(_, n)| *n == 0) {
        return;
    }
    let r = spool::metrics::update(&ctx.spool, Queue::Outgoing, "smtpfwdd", |s| {
        for (result, n) in tally {
            if n > 0 {
                s.add(
                    "mailwall_smtpfwdd_recipients_total",
                    &[("result", result)],
                    n as f64,
                );
            }
        }
    })
    .and_then(|_| {
        static LAST: Mutex<Option<Instant>> = Mutex::new(None);
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        if !settled && last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
            return Ok(None);
        }
        *last = Some(Instant::now());
        spool::metrics::export(&ctx.spool, &ctx.cfg)
    });
    if let Err(e) = r {
        log::warn!("cannot write the metrics: {e}");
    }
}

/// Wake the loop when a message arrives in outgoing/ (scanmail's rename, a notice's commit: a
/// move in, or the chmod that completes a file). Only names that are message ids count: the
/// daemon's own state and counters files never wake it. Without inotify (or on its failure)
/// the poll interval alone drives the scans, as before.
fn watch_outgoing(spool: &spool::Spool, shared: Arc<Shared>) {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let dir = spool.queue(Queue::Outgoing);
    let ino = match Inotify::init(InitFlags::IN_CLOEXEC) {
        Ok(i) => i,
        Err(e) => {
            log::warn!("inotify: {e}: outgoing/ is scanned every poll interval only");
            return;
        }
    };
    if let Err(e) = ino.add_watch(&dir, AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ATTRIB) {
        log::warn!(
            "inotify on {}: {e}: scanned every poll interval only",
            dir.display()
        );
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("inotify".into())
        .spawn(move || loop {
            let Ok(events) = ino.read_events() else {
                return;
            };
            let message = events.iter().any(|e| {
                e.name
                    .as_ref()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| matches!(QueueName::parse(n), QueueName::Message(_)))
            });
            if message {
                let mut b = shared.board();
                if !b.events.iter().any(|e| matches!(e, Event::Arrived)) {
                    b.events.push(Event::Arrived);
                }
                drop(b);
                shared.idle.notify_one();
            }
        });
    if let Err(e) = spawned {
        log::warn!("inotify thread: {e}: scanned every poll interval only");
    }
}

/// A signal, from the signal thread, onto the board for the loop.
fn on_signal(sig: Signal, shared: &Shared) {
    let ev = match sig {
        Signal::SIGHUP => Event::Reload,
        Signal::SIGUSR1 => Event::Flush,
        _ => Event::Terminate,
    };
    shared.board().events.push(ev);
    shared.idle.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;
    use spool::{Config, Envelope, Spool};

    fn panicky(ctx: &Context, _w: &mut Worker, id: &MessageId, _k: &Known) -> Attempt {
        let p = ctx.spool.message(Queue::Outgoing, id);
        let text = std::fs::read(&p).unwrap();
        if text.windows(8).any(|w| w == b"panic me") {
            panic!("test panic in the delivery of {id}");
        }
        store::remove_message(&ctx.spool, Queue::Outgoing, id).unwrap();
        Attempt::Done
    }

    #[test]
    fn a_panicking_delivery_is_contained_and_once_ends() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let env = Envelope::new("<a@example.org>", ["<b@example.com>".to_string()]);
        let bad =
            store::write_message(&s, Queue::Outgoing, &env, b"Subject: panic me\n\n").unwrap();
        // Older mtime: delivered first, so the second message is the replaced worker's.
        let past = std::time::SystemTime::now() - Duration::from_secs(60);
        // (futimens: the owner may set the times through a read-only descriptor.)
        std::fs::File::open(s.message(Queue::Outgoing, &bad))
            .unwrap()
            .set_modified(past)
            .unwrap();
        let good = store::write_message(&s, Queue::Outgoing, &env, b"Subject: fine\n\n").unwrap();
        let mut cfg = Config::default();
        cfg.forward.relay = "127.0.0.1:1".into();
        let ctx = Context::new(s.clone(), cfg, deliver::Options::default()).unwrap();
        let signals = block_signals();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let opts = LoopOptions {
                once: true,
                poll: Duration::from_secs(1),
                max_parallel: 1,
            };
            let r = run_with(ctx, Box::new(|| Err("no".into())), opts, signals, panicky);
            let _ = tx.send(r.unwrap());
        });
        let all_done = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("--once must end after a panicking delivery");
        assert!(!all_done, "the panicked message is left for a later try");
        assert!(s.message(Queue::Outgoing, &bad).exists(), "never lost");
        assert!(
            !s.message(Queue::Outgoing, &good).exists(),
            "the next one was delivered"
        );
        let st = RetryState::load(&s, &bad).expect("a retry state");
        assert_eq!(st.attempts, 1);
        assert!(st.next_try > spool::clock::now().timestamp());
    }

    /// A retry state whose message left outgoing (a crash between smtpfwdd's move to quarantine
    /// and the state's removal) is removed by the next scan: when the admin releases the
    /// message, it starts a new queue life instead of being bounced as expired at its first
    /// temporary failure.
    #[test]
    fn a_retry_state_from_an_earlier_queue_life_is_not_inherited() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let env = Envelope::new("<a@example.org>", ["<b@example.com>".to_string()]);
        let id = store::write_message(&s, Queue::Quarantine, &env, b"Subject: held\n\n").unwrap();
        let now = spool::clock::now().timestamp();
        RetryState {
            queued: now - 10 * 86_400,
            attempts: 9,
            next_try: 0,
            last_error: "451 earlier life".into(),
        }
        .save(&s, &id)
        .unwrap();
        // A pass over outgoing while the message is held.
        assert!(scan(&s).unwrap().is_empty());
        // The admin's release (scanmail --release: a fresh time, then the move).
        store::touch_now(&s, Queue::Quarantine, &id).unwrap();
        store::move_message(&s, &id, Queue::Quarantine, Queue::Outgoing).unwrap();
        let mut cfg = Config::default();
        cfg.forward.relay = "127.0.0.1:1".into();
        let ctx = Context::new(s.clone(), cfg, deliver::Options::default()).unwrap();
        let found = scan(&s).unwrap();
        assert_eq!(found.len(), 1);
        let mut w = Worker::default();
        let attempt = deliver::deliver_known(&ctx, &mut w, &id, &found[0].known);
        assert_eq!(
            attempt,
            Attempt::Deferred,
            "a refused connection is a retry"
        );
        let left = store::list(&s, Queue::Outgoing).unwrap();
        assert_eq!(left.len(), 1, "no bounce: {left:?}");
        let st = RetryState::load(&s, &id).expect("a retry state");
        assert_eq!(st.attempts, 1, "a new queue life");
        assert!(st.queued >= now - 60, "queued {} now {now}", st.queued);
    }
}
