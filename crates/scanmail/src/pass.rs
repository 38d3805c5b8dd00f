//! One pass over `incoming/`, oldest first: lock each file (skip it when another run holds it or
//! it is gone), prepare it, scan the batch, then act on each verdict with one rename.
//!
//! Fail closed: a message is renamed into `outgoing/` only after a "clean" verdict. Anything that
//! prevents a verdict leaves the message in `incoming/` with its try count in a state file; after
//! `max_tries` tries or `max_age` seconds it goes to quarantine as unscannable. Only transient
//! scanner faults wait: every verdict that depends on the message alone is given on the first
//! pass. One bad message never stops the batch: a panic while judging it (a bug) quarantines
//! that message as malformed, with an alert naming the panic.

use crate::judge::{Decision, Facts, Judge, Prepared};
use crate::notify;
use crate::scan::{Job, Object, ScanReport, Scanner};
use spool::daylog::{EmailLine, VirusLine};
use spool::state::State;
use spool::store::{self, FileLock};
use spool::verdict::Verdict;
use spool::{MessageId, Queue};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

/// Counts of one pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub clean: usize,
    pub quarantined: usize,
    pub retry: usize,
    pub skipped: usize,
    /// What the pass adds to scanmail's live counters (`spool::metrics`): verdicts, viruses
    /// by name, banned patterns, scanner failures.
    pub metrics: spool::metrics::Samples,
}

impl Summary {
    fn count(&mut self, verdict: Verdict, name: &str) {
        let m = &mut self.metrics;
        m.add(
            "mailwall_scanmail_messages_judged_total",
            &[("verdict", verdict.as_str())],
            1.0,
        );
        match verdict {
            Verdict::Virus => m.add("mailwall_scanmail_viruses_total", &[("name", name)], 1.0),
            Verdict::Banned => m.add("mailwall_scanmail_banned_total", &[("pattern", name)], 1.0),
            _ => {}
        }
    }
}

/// Messages locked and judged together (a command scanner runs once per batch).
const BATCH: usize = 100;

/// Bodies of one batch kept in memory for the scanner, at most (see [`Judge::prepare`]): with
/// one batch being scanned while the next is decoded, two batches' worth.
const BATCH_MEMORY: usize = 8 << 20;

struct Item {
    id: MessageId,
    _lock: FileLock,
    mtime: SystemTime,
    facts: Facts,
}

/// One pass over incoming/.
///
/// Pipelined: the scanner runs in a thread of its own over batch k while this thread acts on
/// batch k-1 (renames, day files, notices) and decodes batch k+1, so scanmail's own work hides
/// behind the scanner's on two cores. Each message's lock is held from its decoding until its
/// verdict has been carried out.
pub fn run_pass(judge: &Judge, scanner: &mut dyn Scanner) -> spool::Result<Summary> {
    run_pass_with(judge, scanner, &Judge::prepare)
}

/// How one message is prepared: [`Judge::prepare`], or a stand-in in tests.
pub type PrepareFn<'a> = &'a dyn Fn(&Judge, &MessageId, bool, bool, &mut Facts) -> Prepared;

/// [`run_pass`] with the preparing step given (tests make it panic).
pub fn run_pass_with(
    judge: &Judge,
    scanner: &mut dyn Scanner,
    prepare: PrepareFn,
) -> spool::Result<Summary> {
    let mut sum = Summary::default();
    let entries = store::list(&judge.spool, Queue::Incoming)?;
    let wants_dir = scanner.wants_dir();
    std::thread::scope(|scope| -> spool::Result<()> {
        let (to_scanner, jobs_rx) = mpsc::sync_channel::<Vec<Job>>(1);
        let (outcomes_tx, from_scanner) = mpsc::sync_channel::<Vec<ScanReport>>(1);
        scope.spawn(move || {
            for jobs in jobs_rx {
                if outcomes_tx.send(scanner.scan(&jobs)).is_err() {
                    break;
                }
            }
        });
        // The batch whose scan is running.
        let mut in_scan: Option<Vec<(Item, Prepared)>> = None;
        for chunk in entries.chunks(BATCH) {
            let items = prepare_batch(judge, prepare, chunk, wants_dir, &mut sum);
            let jobs = jobs_of(&items);
            let previous = in_scan.replace(items);
            // A scanner thread that died leaves every message of its batches waiting (below).
            let _ = to_scanner.send(jobs);
            if let Some(prev) = previous {
                let outcomes = from_scanner.recv().unwrap_or_default();
                finish_batch(judge, prev, outcomes, &mut sum)?;
            }
        }
        drop(to_scanner);
        if let Some(last) = in_scan {
            let outcomes = from_scanner.recv().unwrap_or_default();
            finish_batch(judge, last, outcomes, &mut sum)?;
        }
        Ok(())
    })?;
    Ok(sum)
}

/// Lock and decode the messages of one batch.
fn prepare_batch(
    judge: &Judge,
    prepare: PrepareFn,
    chunk: &[store::Entry],
    wants_dir: bool,
    sum: &mut Summary,
) -> Vec<(Item, Prepared)> {
    let mut items = Vec::with_capacity(chunk.len());
    let mut kept = 0usize;
    for e in chunk {
        let lock = match FileLock::try_acquire(&e.path) {
            Ok(Some(l)) => l,
            Ok(None) => {
                sum.skipped += 1;
                continue;
            }
            Err(err) => {
                log::error!("{}: cannot lock: {err}", e.id);
                sum.retry += 1;
                continue;
            }
        };
        let mut facts = Facts::default();
        let keep_raw = kept.saturating_add(e.size as usize) <= BATCH_MEMORY;
        let prepared = match catch_unwind(AssertUnwindSafe(|| {
            prepare(judge, &e.id, wants_dir, keep_raw, &mut facts)
        })) {
            Ok(p) => p,
            Err(payload) => {
                let what = panic_text(payload.as_ref());
                log::error!(
                    "{}: scanmail panicked while judging it (a bug): {what}",
                    e.id
                );
                facts.decoded_dir = judge.spool.decoded_dir(Queue::Incoming, &e.id).exists();
                Prepared::Decided(Decision::new(
                    Verdict::Malformed,
                    format!("scanmail panicked while judging this message: {what}"),
                ))
            }
        };
        if let Prepared::Scan(j) = &prepared {
            kept += j
                .objects
                .iter()
                .map(|o| match o {
                    Object::Raw { data: Some(d), .. } | Object::Mem(d, _) => d.len(),
                    _ => 0,
                })
                .sum::<usize>();
        }
        items.push((
            Item {
                id: e.id.clone(),
                _lock: lock,
                mtime: e.mtime,
                facts,
            },
            prepared,
        ));
    }
    items
}

/// The message of a panic payload (a `&str` or a `String`, as `panic!` makes them).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    crate::decode::printable_name(&text)
}

fn jobs_of(items: &[(Item, Prepared)]) -> Vec<Job> {
    items
        .iter()
        .filter_map(|(_, p)| match p {
            Prepared::Scan(j) => Some(j.clone()),
            _ => None,
        })
        .collect()
}

/// Carry out the verdicts of one batch, in order, given the scanner's outcomes for its jobs.
fn finish_batch(
    judge: &Judge,
    items: Vec<(Item, Prepared)>,
    outcomes: Vec<ScanReport>,
    sum: &mut Summary,
) -> spool::Result<()> {
    let mut outcomes = outcomes.into_iter();
    let mut pending_sync = false;
    for (item, prepared) in items {
        let result = match prepared {
            Prepared::Decided(d) => Ok(d),
            Prepared::Retry(why) => Err(why),
            // No outcome (the scanner thread died): the message waits (fail closed).
            Prepared::Scan(_) => judge.finish(
                outcomes
                    .next()
                    .unwrap_or_else(|| ScanReport::Error("no outcome".into())),
            ),
        };
        let done = match result {
            Ok(d) => {
                let (verdict, name) = (d.verdict, d.name.clone());
                let done = act(judge, &item, d);
                if matches!(done, Ok(Some(_))) {
                    sum.count(verdict, &name);
                }
                done
            }
            Err(why) => {
                sum.metrics
                    .add("mailwall_scanmail_scanner_failures_total", &[], 1.0);
                let done = retry_or_give_up(judge, &item, &why);
                if let Ok(Some(v)) = done {
                    sum.count(v, "");
                }
                done
            }
        };
        pending_sync |= matches!(done, Ok(Some(Verdict::Clean)));
        match done {
            Ok(Some(Verdict::Clean)) => sum.clean += 1,
            Ok(Some(_)) => sum.quarantined += 1,
            Ok(None) => sum.retry += 1,
            Err(e) => {
                log::error!("{}: {e}", item.id);
                sum.retry += 1;
            }
        }
    }
    // Clean mail was renamed without a directory fsync each: one fsync per batch makes the
    // renames durable. A crash before it can only put a message back into incoming/, where
    // it is judged again; nothing unscanned can appear in outgoing/.
    if pending_sync {
        store::sync_queue(&judge.spool, Queue::Outgoing)?;
        store::sync_queue(&judge.spool, Queue::Incoming)?;
    }
    Ok(())
}

/// Add a pass to scanmail's live counters and rewrite the metrics file ([report] metrics_dir):
/// the pass's verdicts, when it last ran with a working scanner, and whether clamd answers
/// (a PING, so an idle gateway whose clamd died shows it too). A failure costs the figures,
/// never a verdict.
pub fn record_metrics(sp: &spool::Spool, cfg: &spool::Config, sum: &Summary) {
    let failures = sum
        .metrics
        .get("mailwall_scanmail_scanner_failures_total", &[]);
    let clamd_up = (cfg.scan.scanner == spool::config::Scanner::Clamd).then(|| {
        let timeout = Duration::from_secs(cfg.scan.timeout.clamp(1, 5));
        crate::scan::clamd::Clamd::new(&cfg.scan.clamd_socket, timeout, false)
            .ping()
            .is_ok()
    });
    let r = spool::metrics::update(sp, Queue::Incoming, "scanmail", |s| {
        for ((name, labels), v) in sum.metrics.iter() {
            let l: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            s.add(name, &l, v);
        }
        if failures == 0.0 && clamd_up != Some(false) {
            s.set(
                "mailwall_scanmail_last_success_timestamp_seconds",
                &[],
                spool::clock::now().timestamp() as f64,
            );
        }
        if let Some(up) = clamd_up {
            s.set("mailwall_clamd_up", &[], if up { 1.0 } else { 0.0 });
        }
        let db = std::path::Path::new(&cfg.update.database_dir);
        if let Some(n) = clamav::database::newest_cached(&cfg.update.sigtool, db) {
            let age = (spool::clock::now() - n.built).num_seconds().max(0);
            s.set("mailwall_signatures_age_seconds", &[], age as f64);
        }
    })
    .and_then(|_| {
        // The file is rewritten at most every ten seconds (it reads every queue, a stat per
        // quarantined message): under a steady trickle `--watch` passes come faster than that.
        // The next pass, the minute's full pass or `mailwall metrics` from cron writes what a
        // skipped one had.
        static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
            return Ok(None);
        }
        *last = Some(std::time::Instant::now());
        spool::metrics::export(sp, cfg)
    });
    if let Err(e) = r {
        log::warn!("cannot write the metrics: {e}");
    }
}

/// Count a failed try; quarantine as unscannable after max_tries or max_age. Ok(None): waits.
fn retry_or_give_up(judge: &Judge, item: &Item, why: &str) -> spool::Result<Option<Verdict>> {
    let sp = &judge.spool;
    let mut st = State::load(sp, Queue::Incoming, &item.id);
    let tries = st.num("tries") + 1;
    st.set("tries", tries);
    st.set("last_error", why);
    let age = SystemTime::now()
        .duration_since(item.mtime)
        .unwrap_or(Duration::ZERO);
    let cfg = &judge.cfg.scan;
    let _ = store::remove_decoded(sp, Queue::Incoming, &item.id);
    if tries >= i64::from(cfg.max_tries) || age.as_secs() >= cfg.max_age {
        let d = Decision::new(
            Verdict::Unscannable,
            format!(
                "after {tries} tries ({}s in incoming): {why}",
                age.as_secs()
            ),
        );
        return act(judge, item, d);
    }
    log::warn!(
        "{}: left for retry (try {tries} of {}): {why}",
        item.id,
        cfg.max_tries
    );
    st.save(sp, Queue::Incoming, &item.id)?;
    Ok(None)
}

/// Carry out a decision: one rename, then the day files and the notices.
fn act(judge: &Judge, item: &Item, d: Decision) -> spool::Result<Option<Verdict>> {
    let sp = &judge.spool;
    let cfg = &judge.cfg;
    let id = &item.id;
    if d.verdict == Verdict::Clean {
        if item.facts.decoded_dir {
            store::remove_decoded(sp, Queue::Incoming, id)?;
        }
        if cfg.scan.x_virus_scanned {
            // The header goes first, the body is unchanged; a new file under the same id,
            // committed (and its directory fsynced) before the incoming one goes.
            let value = format!("scanmail on {}", spool::notice::clean_header(&cfg.hostname));
            store::move_with_header(
                sp,
                id,
                Queue::Incoming,
                Queue::Outgoing,
                ("X-Virus-Scanned", &value),
            )?;
        } else {
            // One atomic rename; the directories are fsynced once per batch (finish_batch).
            store::move_message_unsynced(sp, id, Queue::Incoming, Queue::Outgoing)?;
        }
        State::remove(sp, Queue::Incoming, id);
        log::info!("{id}: clean, passed to outgoing ({})", d.detail);
    } else {
        if item.facts.decoded_dir && !item.facts.index.is_empty() {
            if let Err(e) = crate::decode::write_index(sp, Queue::Incoming, id, &item.facts.index) {
                log::warn!("{id}: cannot write the index of decoded parts: {e}")
            }
        }
        store::move_message(sp, id, Queue::Incoming, Queue::Quarantine)?;
        State::remove(sp, Queue::Incoming, id);
        let mut st = State::default();
        st.set("time", spool::clock::now().to_rfc3339());
        st.set("verdict", d.verdict.as_str());
        st.set("detail", &d.detail);
        st.set("part", &d.part);
        if let Err(e) = st.save(sp, Queue::Quarantine, id) {
            log::warn!("{id}: cannot write quarantine note: {e}");
        }
        log::info!("{id}: quarantined: {}: {}", d.verdict.as_str(), d.detail);
    }
    let env = item.facts.envelope.as_ref();
    let line = EmailLine {
        time: spool::clock::now(),
        id: id.to_string(),
        sender: env.map(|e| e.from.clone()).unwrap_or_default(),
        recipients: env
            .map(|e| e.recipients.iter().map(|r| r.addr.clone()).collect())
            .unwrap_or_default(),
        size: item.facts.size,
        verdict: d.verdict,
        detail: d.detail.clone(),
    };
    if let Err(e) = line.append(sp) {
        log::error!("{id}: day file: {e}");
    }
    if matches!(d.verdict, Verdict::Virus | Verdict::Banned) {
        let v = VirusLine {
            time: spool::clock::now(),
            id: id.to_string(),
            sender: line.sender.clone(),
            kind: if d.verdict == Verdict::Virus {
                "virus"
            } else {
                "banned"
            }
            .into(),
            name: d.name.clone(),
        };
        if let Err(e) = v.append(sp) {
            log::error!("{id}: day file: {e}");
        }
    }
    if d.verdict.quarantines() {
        if let Err(e) = notify::alert(sp, cfg, id, &d, &item.facts) {
            log::error!("{id}: admin alert not written: {e}");
        }
        match notify::sender_notice(sp, cfg, id, &d, &item.facts) {
            Ok(true) => log::info!("{id}: sender notified"),
            Ok(false) => {}
            Err(e) => log::warn!("{id}: sender notice not written: {e}"),
        }
    }
    Ok(Some(d.verdict))
}

/// Start-up clean-up: moves a crash cut after their commit (clean mail in both incoming/ and
/// outgoing/), stale temp files, and `_d` directories and state files whose message is gone
/// (a crash between decoding and the move). Only old ones: a running pass may be mid-way.
pub fn clean_up(spool: &spool::Spool) -> spool::Result<()> {
    for id in store::finish_moves(spool, Queue::Incoming, Queue::Outgoing)? {
        log::info!("{id}: already in outgoing (a crash cut its move): removed from incoming");
    }
    let day = Duration::from_secs(86_400);
    for q in [Queue::Incoming, Queue::Outgoing] {
        let n = store::clean_stale_temps(spool, q, day)?;
        if n > 0 {
            log::info!("removed {n} stale temp files from {}", q.dir_name());
        }
    }
    for left in store::scan(spool, Queue::Incoming)?.leftovers {
        if !left.older_than(Duration::from_secs(3600)) {
            continue;
        }
        let name = left.path.file_name().unwrap_or_default().to_string_lossy();
        match left.remove() {
            Ok(()) => log::info!("{}: removed orphaned {name}", left.id),
            Err(e) => log::warn!("{}: cannot remove orphaned {name}: {e}", left.id),
        }
    }
    Ok(())
}
