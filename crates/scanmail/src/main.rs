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
//!     0 every message judged (or tool done) · 64 usage (a bad id, a bad --to address) ·
//!     69 quarantine tool: no such message · 75 some messages left for a retry (a quarantine tool:
//!     the message is in use) · 78 configuration error (gateway.conf, the scanner, an invalid line
//!     in a pattern file: then nothing is judged) · 65 --release: the quarantined file is not in
//!     the spool format · 73 --release: outgoing/ already holds that id · 71 cannot switch user ·
//!     74 I/O error · 70 internal error (a bug; a panic while judging one message quarantines it
//!     instead).
//!
//! FILES
//!     DIR/etc/gateway.conf, DIR/etc/matches.bad, DIR/etc/matches.doc, DIR/etc/alert.tmpl,
//!     DIR/etc/sender-notice.tmpl, DIR/incoming/, DIR/outgoing/, DIR/quarantine/,
//!     DIR/etc/email.YYYYMMDD, DIR/etc/virus.YYYYMMDD.
#![forbid(unsafe_code)]

use clap::Parser;
use scanmail::tools::{self, Tool};
use spool::Spool;
use std::path::PathBuf;
use std::process::ExitCode;

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
    let cfg = spool::privs::enter(&sp, args.config.as_deref(), None, None)?;
    if let Some(tool) = tool_of(&args) {
        return Ok(tools::run(&sp, &tool)?);
    }
    Ok(scanmail::watch::serve(
        &sp,
        args.config.as_deref(),
        cfg,
        args.watch,
    )?)
}

/// The quarantine tool the arguments ask for, if any (clap lets only one be given).
fn tool_of(a: &Args) -> Option<Tool> {
    Some(if a.list {
        Tool::List { json: a.json }
    } else if let Some(id) = a.show.clone() {
        Tool::Show { id, json: a.json }
    } else if let Some(id) = a.release.clone() {
        Tool::Release {
            id,
            to: a.to.clone(),
        }
    } else if let Some(id) = a.delete.clone() {
        Tool::Delete { id }
    } else {
        Tool::PurgeOlder {
            days: a.purge_older?,
        }
    })
}
