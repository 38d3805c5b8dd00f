//! scanmail's two ways over incoming/: one pass and exit (cron), or `--watch`, a pass whenever
//! a file arrives (inotify) and every minute in any case, rereading the configuration on SIGHUP.
//! Both judge with [`crate::pass`]; what they return is the exit status the `//!` header of
//! `main.rs` lists (75 when mail was left for a retry, 78 when the scanner or the patterns are
//! not usable and nothing is judged).

use crate::judge::Judge;
use crate::pass::{self, Summary};
use crate::scan;
use spool::exit::{self, fail, Failure};
use spool::{Config, Queue, Spool};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Judge incoming/: once, or (`watch`) until stopped. `config` is the file to reread on SIGHUP.
pub fn serve(
    sp: &Spool,
    config: Option<&Path>,
    cfg: Config,
    watch_it: bool,
) -> Result<ExitCode, Failure> {
    sp.check(None)?;
    if let Err(e) = pass::clean_up(sp) {
        log::warn!("clean-up: {e}");
    }
    let mut scanner = match scan::from_config(&cfg.scan) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return Ok(ExitCode::from(exit::CONFIG));
        }
    };
    if watch_it {
        return watch(sp, config, cfg, scanner);
    }
    let Some(judge) = load_judge(&cfg, sp) else {
        return Ok(ExitCode::from(exit::CONFIG));
    };
    let sum = pass::run_pass(&judge, scanner.as_mut()).map_err(|e| {
        let f = Failure::from(e);
        fail(f.code, format!("pass over incoming: {}", f.message))
    })?;
    pass::record_metrics(sp, &cfg, &sum);
    Ok(report(&sum))
}

/// A system call of the watch set-up or loop that failed: an I/O error (74).
fn os(what: &str, e: nix::Error) -> Failure {
    fail(exit::IOERR, format!("{what}: {e}"))
}

/// What tells that a pattern file changed: each file's size, modification time and inode.
type PatternsStamp = Vec<Option<(u64, std::time::SystemTime, u64)>>;

fn patterns_stamp(sp: &Spool) -> PatternsStamp {
    use std::os::unix::fs::MetadataExt;
    ["matches.bad", "matches.doc"]
        .iter()
        .map(|f| {
            let m = std::fs::metadata(sp.etc_file(f)).ok()?;
            Some((m.len(), m.modified().ok()?, m.ino()))
        })
        .collect()
}

/// The patterns, compiled: for each cron pass, and in watch mode again when a file changes, so
/// an edit takes effect without a restart.
fn load_judge(cfg: &Config, sp: &Spool) -> Option<Judge> {
    match Judge::new(cfg.clone(), sp.clone()) {
        Ok(j) => Some(j),
        Err(e) => {
            log::error!("{e}: nothing judged, mail waits in incoming/");
            None
        }
    }
}

fn report(sum: &Summary) -> ExitCode {
    if sum.clean + sum.quarantined + sum.retry > 0 {
        log::info!(
            "pass done: {} clean, {} quarantined, {} left for retry, {} skipped (locked)",
            sum.clean,
            sum.quarantined,
            sum.retry,
            sum.skipped
        );
    }
    if sum.retry > 0 {
        ExitCode::from(exit::TEMPFAIL)
    } else {
        ExitCode::SUCCESS
    }
}

/// Stay running: a pass whenever incoming/ changes, and a full pass every minute regardless
/// (inotify can overflow; a retry is due even when nothing new arrives). SIGHUP rereads the
/// configuration (and builds the scanner anew) between passes; the pattern files are read for
/// every pass anyway.
fn watch(
    sp: &Spool,
    config: Option<&Path>,
    mut cfg: Config,
    mut scanner: Box<dyn scan::Scanner>,
) -> Result<ExitCode, Failure> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .map_err(|e| os("inotify_init", e))?;
    ino.add_watch(
        &sp.queue(Queue::Incoming),
        AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_ATTRIB,
    )
    .map_err(|e| os("inotify_add_watch incoming/", e))?;
    let mut hup = SigSet::empty();
    hup.add(Signal::SIGHUP);
    hup.thread_block().map_err(|e| os("blocking SIGHUP", e))?;
    let sfd = SignalFd::with_flags(&hup, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| os("signalfd", e))?;
    log::info!("watching {}", sp.queue(Queue::Incoming).display());
    let full_every = Duration::from_secs(60);
    let mut last_full = Instant::now() - full_every;
    let mut judge: Option<(PatternsStamp, Judge)> = None;
    let mut dirty = true;
    loop {
        if dirty || last_full.elapsed() >= full_every {
            // Drain before the pass: events during the pass trigger the next one.
            while ino.read_events().is_ok_and(|e| !e.is_empty()) {}
            // The compiled patterns are kept until a pattern file changes (compiling them took
            // most of a pass's CPU under a trickle of mail).
            let stamp = patterns_stamp(sp);
            if judge.as_ref().is_none_or(|(s, _)| *s != stamp) {
                judge = load_judge(&cfg, sp).map(|j| (stamp, j));
            }
            match judge.as_ref().map(|(_, j)| j) {
                Some(judge) => match pass::run_pass(judge, scanner.as_mut()) {
                    Ok(sum) => {
                        pass::record_metrics(sp, &cfg, &sum);
                        report(&sum);
                    }
                    Err(e) => log::error!("pass over incoming: {e}"),
                },
                None => std::thread::sleep(Duration::from_secs(5)),
            }
            last_full = Instant::now();
            dirty = false;
        }
        let mut fds = [
            nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&ino), nix::poll::PollFlags::POLLIN),
            nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&sfd), nix::poll::PollFlags::POLLIN),
        ];
        let left = full_every.saturating_sub(last_full.elapsed());
        let ms = u16::try_from(left.as_millis().min(10_000)).unwrap_or(10_000);
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(n) if n > 0 => {
                let hangup = fds[1]
                    .revents()
                    .is_some_and(|r| r.contains(nix::poll::PollFlags::POLLIN));
                if hangup {
                    while sfd.read_signal().is_ok_and(|s| s.is_some()) {}
                    match Config::for_spool(sp, config)
                        .map_err(|e| e.to_string())
                        .and_then(|c| {
                            scan::from_config(&c.scan)
                                .map(|s| (c, s))
                                .map_err(|e| e.to_string())
                        }) {
                        Ok((c, s)) => {
                            log::info!("SIGHUP: configuration reread ({})", s.name());
                            cfg = c;
                            scanner = s;
                            judge = None;
                        }
                        Err(e) => log::error!("SIGHUP: configuration not reloaded: {e}"),
                    }
                } else {
                    // Let a burst settle into one pass.
                    std::thread::sleep(Duration::from_millis(20));
                }
                dirty = true;
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(os("poll", e)),
        }
    }
}
