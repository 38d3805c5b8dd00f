//! NAME
//!     sigupdate - update the virus signatures and check that they are fresh
//!
//! SYNOPSIS
//!     sigupdate [--spool DIR] [--config FILE] [--mirror DIR|URL] [--updater CMD] [-v]
//!
//! DESCRIPTION
//!     Run weekly from the spool owner's crontab (Thursdays 16:00). When update.database_dir is
//!     not writable by the user it runs as (the default layout: the signatures belong to clamav,
//!     whose own freshclam runs from root's crontab), it fetches nothing and only checks. When
//!     it is writable (tests, trial installs), it fetches new signatures by
//!     running update.updater (default `freshclam`), or, with --mirror or update.mirror, copies
//!     the signature files (*.cvd, *.cld, *.cdiff, *.ndb, *.hdb, ...) of a private mirror
//!     directory into update.database_dir: each .cvd/.cld must pass `sigtool --info` and each text
//!     database must load in clamscan, and each lands by a temp copy and one rename. An
//!     http(s):// mirror is handed to the updater as freshclam's PrivateMirror.
//!
//!     Then it sends clamd PING over scan.clamd_socket, reads the database version and build
//!     date (clamd's VERSION reply, `sigtool --info` on the signed databases, else the newest
//!     modification time of the signature files), tells clamd to RELOAD, and mails the admin an
//!     alert (etc/sigupdate-alert.tmpl, into outgoing/) when clamd does not answer PING (with
//!     scan.scanner = clamd or clamdscan: mail then waits unscanned), the update failed, or the
//!     newest signatures are older than update.max_signature_age_days. One log line per run.
//!
//! SECURITY
//!     Runs as: the spool's owner (uucp); started as root it switches to the spool root's owner
//!     first (spool::privs). It never makes the database writable for itself: a spool-owner
//!     compromise must not be able to add signatures that silence detections (.ign2, .fp).
//!     Trusts: the mirror only after sigtool/clamscan accepted a file; the updater's exit
//!     status; clamd's replies only as far as they are parsed. Writes: update.database_dir only
//!     when it is writable already (signature files, a `.sigupdate.tmp` staging directory),
//!     outgoing/ (alerts). Network: the updater's, and clamd's socket.
//!
//! EXIT STATUS
//!     0 signatures fresh; 75 the update failed but the signatures are still fresh; 69 clamd does
//!     not answer PING; 1 the signatures are stale (or missing), whatever else failed; 64 usage;
//!     78 configuration error; 71 cannot switch user; 74 I/O error (the spool, a notice);
//!     70 internal error (a bug).
//!
//! FILES
//!     DIR/etc/gateway.conf, DIR/etc/sigupdate-alert.tmpl, update.database_dir
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use sigupdate::Origin;
use spool::logging::Target;
use spool::Spool;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "sigupdate",
    version,
    about = "Update the virus signatures and check they are fresh"
)]
struct Args {
    /// The spool directory.
    #[arg(long, default_value = spool::layout::DEFAULT_ROOT)]
    spool: PathBuf,
    /// Configuration file (default: SPOOL/etc/gateway.conf).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Copy signatures from this private mirror directory (or give this URL to the updater).
    #[arg(long, value_name = "DIR|URL")]
    mirror: Option<String>,
    /// Updater command line instead of update.updater.
    #[arg(long, value_name = "CMD")]
    updater: Option<String>,
    /// Debug lines in the log.
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let me = spool::cli::Program {
        name: "sigupdate",
        source: include_str!("main.rs"),
        section: "8",
        codes: |e| {
            e.downcast_ref::<sigupdate::Error>()
                .map(sigupdate::Error::exit_code)
        },
    };
    spool::cli::main(me, |a: &Args| (Target::Auto, a.verbose), run)
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spool = Spool::new(&args.spool);
    let cfg = spool::privs::enter(&spool, args.config.as_deref(), None, None)?;
    let origin = Origin::choose(&cfg, args.mirror.as_deref(), args.updater.as_deref());
    let report = sigupdate::check(&cfg, origin).context("checking the signatures")?;
    let mut line = report.log_line();
    if report.needs_alert() {
        match report.alert(&spool, &cfg).submit(&spool, &cfg) {
            Ok(Some(id)) => line.push_str(&format!("; alert {id} to {}", cfg.admin)),
            Ok(None) => line.push_str(&format!("; alert to {} via sendmail", cfg.admin)),
            Err(e) => line.push_str(&format!("; ALERT NOT SENT: {e}")),
        }
    }
    match report.exit_code() {
        spool::exit::OK => log::info!("{line}"),
        _ => log::warn!("{line}"),
    }
    Ok(ExitCode::from(report.exit_code()))
}
