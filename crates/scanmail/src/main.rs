//! NAME
//!     scanmail - judge every message in incoming/: outgoing/ when clean, quarantine/ otherwise
//!
//! SYNOPSIS
//!     scanmail [--spool DIR] [--config FILE] [-v] [--watch]
//!     scanmail [--spool DIR] --list [--json] | --show ID [--json]
//!     scanmail [--spool DIR] --release ID [--to ADDR] | --delete ID
//!     scanmail [--spool DIR] --purge-older DAYS
//!
//! DESCRIPTION
//!     Without a mode, one pass over DIR/incoming, oldest first, then exit (run from cron every
//!     two minutes). Each message is locked (a message locked by another run is skipped), its MIME
//!     parts walked at every depth; header lines and decoded names (and uuencoded, archive member
//!     and real-type names) are matched against etc/matches.bad (banned: quarantine), then
//!     etc/matches.doc; the message and its decoded parts (in incoming/<id>_d/) are scanned by the
//!     configured scanner ([scan] scanner: clamd, clamdscan, clamscan, uvscan, command). Clean mail
//!     is renamed into outgoing/, the rest into quarantine/ with an alert to the admin and, for
//!     viruses and banned attachments, a notice to the sender. Content scanmail cannot see into is
//!     never clean and is judged at once: encrypted (quarantined as encrypted unless [scan]
//!     encrypted = "pass"), message/partial and message/external-body (unless [scan] partial =
//!     "pass"), objects beyond [scan] max_object_bytes and the scanner's own limit answers
//!     (unscannable). MIME structure that can be read in several ways is judged under every
//!     reading plus the raw message: clean only when all are. A panic while judging one message
//!     quarantines it as malformed, with an alert naming the panic. Only mail the scanner could
//!     not judge now (down, timeout, odd answer) waits in incoming/ and is retried; after
//!     scan.max_tries tries or scan.max_age seconds it is quarantined as unscannable.
//!
//!     --watch stays running and judges new files as they arrive (inotify), with a full pass every
//!     minute as a safety net. The quarantine tools list, show, release (to outgoing, logged; no
//!     re-scan), delete, and purge messages older than DAYS days.
//!
//! SECURITY
//!     Runs as: the spool's owner (uucp). Started as root it switches to the owner of the spool
//!     before touching any file, and stops if it cannot: mail is never judged as root.
//!     Trusts: nothing in the messages (hostile MIME, names, archives). Decoded parts are written
//!     under generated names only (part001.bin); sender names never become paths.
//!     Writes (every queue file through the spool crate): incoming/<id>_d/ and state dot-files,
//!     renames into outgoing/ and quarantine/, notices into outgoing/, etc/email.YYYYMMDD and
//!     etc/virus.YYYYMMDD. At start it removes from incoming/ a message already complete in
//!     outgoing/ (a crash cut its move after the commit).
//!     Network: the clamd socket only.
//!
//! EXIT STATUS
//!     0 every message judged (or tool done) · 64 usage · 69 quarantine tool: no such message ·
//!     75 some messages left for a retry · 78 configuration error (gateway.conf, an invalid line in
//!     a pattern file: then nothing is judged) · 71 cannot switch user · 74 I/O error · 70 internal
//!     error (a bug; a panic while judging one message quarantines it instead).
//!
//! FILES
//!     DIR/etc/gateway.conf, DIR/etc/matches.bad, DIR/etc/matches.doc, DIR/etc/alert.tmpl,
//!     DIR/etc/sender-notice.tmpl, DIR/incoming/, DIR/outgoing/, DIR/quarantine/,
//!     DIR/etc/email.YYYYMMDD, DIR/etc/virus.YYYYMMDD.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use scanmail::judge::Judge;
use scanmail::pass::{self, Summary};
use scanmail::quarantine::{self, ToolError};
use scanmail::scan;
use spool::{exit, Config, MessageId, Queue, Spool};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(name = "scanmail", version, about = "Judge every message in incoming/")]
struct Args {
    /// The spool directory.
    #[arg(long, default_value = spool::layout::DEFAULT_ROOT)]
    spool: PathBuf,
    /// The configuration file (default: DIR/etc/gateway.conf).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Log debug lines too.
    #[arg(short, long)]
    verbose: bool,
    /// Stay running and judge new files as they arrive.
    #[arg(long)]
    watch: bool,
    /// List the quarantine: id, date, sender, reason.
    #[arg(long, conflicts_with_all = ["show", "release", "delete", "purge_older", "watch"])]
    list: bool,
    /// Show a quarantined message.
    #[arg(long, value_name = "ID")]
    show: Option<String>,
    /// Release a quarantined message to outgoing.
    #[arg(long, value_name = "ID")]
    release: Option<String>,
    /// With --release: deliver to this address instead of the original recipients.
    #[arg(long, value_name = "ADDR", requires = "release")]
    to: Option<String>,
    /// Delete a quarantined message.
    #[arg(long, value_name = "ID")]
    delete: Option<String>,
    /// Delete quarantined messages older than DAYS days.
    #[arg(long, value_name = "DAYS")]
    purge_older: Option<u64>,
    /// With --list or --show: JSON for scripts instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let me = spool::cli::Program {
        name: "scanmail",
        source: include_str!("main.rs"),
        section: "8",
        codes: spool::exit::no_codes,
    };
    spool::cli::main(
        me,
        |a: &Args| (spool::logging::Target::Auto, a.verbose),
        run,
    )
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sp = Spool::new(&args.spool);
    // Before any file is touched: never judge mail as root.
    let switched = spool::privs::become_spool_owner(&sp)?;
    if let Some(line) = switched {
        log::debug!("{line}");
    }
    let cfg = match Config::for_spool(&sp, args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{e}");
            return Ok(ExitCode::from(exit::CONFIG));
        }
    };
    spool::privs::confirm_config(switched, &cfg)?;
    if let Some(code) = tools(&args, &sp)? {
        return Ok(code);
    }
    sp.check(None)?;
    if let Err(e) = pass::clean_up(&sp) {
        log::warn!("clean-up: {e}");
    }
    let mut scanner = match scan::from_config(&cfg.scan) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return Ok(ExitCode::from(exit::CONFIG));
        }
    };
    if args.watch {
        return watch(&sp, args.config.as_deref(), cfg, scanner);
    }
    let Some(judge) = load_judge(&cfg, &sp) else {
        return Ok(ExitCode::from(exit::CONFIG));
    };
    let sum = pass::run_pass(&judge, scanner.as_mut()).context("pass over incoming")?;
    pass::record_metrics(&sp, &cfg, &sum);
    Ok(report(&sum))
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

fn tools(args: &Args, sp: &Spool) -> anyhow::Result<Option<ExitCode>> {
    let parse = |s: &str| MessageId::parse(s.trim_start_matches("quarantine/"));
    let res: Result<(), ToolError> = if args.list && args.json {
        quarantine::held_all(sp).map(|h| print_json(&h))
    } else if args.list {
        quarantine::list(sp).map(|s| print!("{s}"))
    } else if let Some(id) = &args.show {
        let Ok(id) = parse(id) else {
            return Ok(Some(usage(id)));
        };
        if args.json {
            quarantine::shown(sp, &id).map(|s| print_json(&s))
        } else {
            quarantine::show(sp, &id).map(|s| print!("{s}"))
        }
    } else if let Some(id) = &args.release {
        let Ok(id) = parse(id) else {
            return Ok(Some(usage(id)));
        };
        quarantine::release(sp, &id, args.to.as_deref())
            .map(|()| println!("{id}: released to outgoing"))
    } else if let Some(id) = &args.delete {
        let Ok(id) = parse(id) else {
            return Ok(Some(usage(id)));
        };
        quarantine::delete(sp, &id).map(|()| println!("{id}: deleted"))
    } else if let Some(days) = args.purge_older {
        quarantine::purge_older(sp, days).map(|n| println!("{n} messages purged"))
    } else {
        return Ok(None);
    };
    match res {
        Ok(()) => Ok(Some(ExitCode::SUCCESS)),
        Err(e @ ToolError::NotFound(_)) => {
            log::error!("{e}");
            Ok(Some(ExitCode::from(exit::UNAVAILABLE)))
        }
        Err(e @ ToolError::Busy(_)) => {
            log::error!("{e}");
            Ok(Some(ExitCode::from(exit::TEMPFAIL)))
        }
        Err(e @ ToolError::Address(_)) => {
            log::error!("{e}");
            Ok(Some(ExitCode::from(exit::USAGE)))
        }
        Err(ToolError::Spool(e)) => Err(e.into()),
    }
}

/// JSON output of the quarantine tools (serialising our own plain structs cannot fail).
fn print_json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn usage(id: &str) -> ExitCode {
    log::error!("not a message id: {id:?}");
    ExitCode::from(exit::USAGE)
}

/// Stay running: a pass whenever incoming/ changes, and a full pass every minute regardless
/// (inotify can overflow; a retry is due even when nothing new arrives). SIGHUP rereads the
/// configuration (and builds the scanner anew) between passes; the pattern files are read for
/// every pass anyway.
fn watch(
    sp: &Spool,
    config: Option<&std::path::Path>,
    mut cfg: Config,
    mut scanner: Box<dyn scan::Scanner>,
) -> anyhow::Result<ExitCode> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let ino =
        Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).context("inotify_init")?;
    ino.add_watch(
        &sp.queue(Queue::Incoming),
        AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_ATTRIB,
    )
    .context("inotify_add_watch incoming/")?;
    let mut hup = SigSet::empty();
    hup.add(Signal::SIGHUP);
    hup.thread_block().context("blocking SIGHUP")?;
    let sfd = SignalFd::with_flags(&hup, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .context("signalfd")?;
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
            Err(e) => return Err(e).context("poll"),
        }
    }
}
