//! How smtpfwdd starts: the spool's owner's ids and the configuration (spool::privs::enter, the
//! one rule of every program), the one-instance lock, the delivery context, detaching, then the
//! daemon loop ([`crate::daemon`]). Every failure is an [`exit::Failure`] with the code the
//! `//!` header of `main.rs` lists.

use crate::daemon::{self, DaemonError, LoopOptions};
use crate::deliver::{Context, Options};
use spool::exit::{self, fail, Failure};
use spool::{Config, Queue, Spool};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// What the command line asks of smtpfwdd.
#[derive(Clone, Debug)]
pub struct Start {
    /// The spool root ([`spool_root`]).
    pub root: PathBuf,
    pub config: Option<PathBuf>,
    /// `-u`/`-g`: may only name the spool owner's ids.
    pub user: Option<String>,
    pub group: Option<String>,
    pub options: Options,
    /// `-M` and `-P` (else `[forward] max_parallel` and `poll_seconds`).
    pub max_parallel: Option<usize>,
    pub poll_seconds: Option<u64>,
    pub once: bool,
    pub foreground: bool,
}

/// The spool root from -d (an outgoing directory or a spool root) or --spool; -d wins.
pub fn spool_root(directory: Option<&Path>, spool: &Path) -> PathBuf {
    match directory {
        Some(d) => spool::layout::root_of(d, Queue::Outgoing),
        None => spool.to_path_buf(),
    }
}

/// Start smtpfwdd and deliver until a signal stops it (or, with `--once`, for one pass).
pub fn run(st: Start) -> Result<ExitCode, Failure> {
    let spool = Spool::new(&st.root);
    // Root: switch to the spool root's owner before anything reads a spool file (the
    // configuration included); -u/-g and the configuration may only name the same ids.
    let cfg = spool::privs::enter(
        &spool,
        st.config.as_deref(),
        st.user.as_deref(),
        st.group.as_deref(),
    )?;
    spool.check(None)?;
    let lock = match daemon::program_lock(&spool) {
        Ok(l) => l,
        Err(e @ DaemonError::AlreadyRunning(_)) => {
            eprintln!("smtpfwdd: {e}");
            log::warn!("{e}");
            return Ok(ExitCode::from(exit::TEMPFAIL));
        }
        Err(e) => {
            eprintln!("smtpfwdd: {e}");
            return Ok(ExitCode::from(exit::IOERR));
        }
    };
    let max_parallel = st.max_parallel.unwrap_or(cfg.forward.max_parallel).max(1);
    let poll = Duration::from_secs(st.poll_seconds.unwrap_or(cfg.forward.poll_seconds).max(1));
    let opts = st.options.clone();
    let ctx = Context::new(spool.clone(), cfg, opts.clone())
        .map_err(|e| fail(exit::CONFIG, format!("configuration: {e}")))?;
    if !st.once && !st.foreground {
        // Detach before any thread exists (fork keeps only the calling thread). The program lock
        // is an open file description and stays held by the child.
        nix::unistd::daemon(true, false)
            .map_err(|e| fail(exit::OSERR, format!("detaching: {e}")))?;
    }
    let signals = daemon::block_signals();
    let config_path = st.config.clone();
    let reload_spool = spool.clone();
    let reload: daemon::Reloader = Box::new(move || {
        let cfg =
            Config::for_spool(&reload_spool, config_path.as_deref()).map_err(|e| e.to_string())?;
        Context::new(reload_spool.clone(), cfg, opts.clone())
    });
    let loop_opts = LoopOptions {
        once: st.once,
        poll,
        max_parallel,
    };
    let all_done = daemon::run(ctx, reload, loop_opts, signals).map_err(|e| Failure::of(&e))?;
    drop(lock);
    Ok(ExitCode::from(if st.once && !all_done {
        exit::TEMPFAIL
    } else {
        exit::OK
    }))
}
