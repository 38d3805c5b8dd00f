//! NAME
//!     daysumm - the nightly summary, statistics page and metrics of the virus firewall
//!
//! SYNOPSIS
//!     daysumm [--spool DIR] [--config FILE] [--date YYYY-MM-DD|today|yesterday] [--stdout]
//!             [--html DIR] [--metrics FILE] [-v]
//!     daysumm --cgi [--spool DIR] [--config FILE]
//!
//! DESCRIPTION
//!     Run from the spool owner's crontab at 23:59. Reads the day files scanmail and smtpfwdd
//!     write (etc/email.YYYYMMDD, etc/virus.YYYYMMDD, etc/sent.YYYYMMDD; in etc/days/ when it
//!     exists, the hardened layout) and the queues, and mails
//!     the admin the day's report (etc/summary.tmpl, into outgoing/): mails received, delivered
//!     and quarantined; viruses by name; banned attachments by pattern; top senders of
//!     quarantined mail; messages waiting in incoming/ and outgoing/ and the oldest age;
//!     unscannable mail; the age of the newest virus signatures.
//!
//!     The day is decided once, at start: `--date yesterday` at 00:01 reports the same day as a
//!     run at 23:59 (the article's midnight trap). `--stdout` prints the report instead of
//!     mailing it. `--html DIR` writes DIR/index.html, a static page (no JavaScript) with SVG
//!     charts over the last 30 and 365 days; `--metrics FILE` writes the figures in Prometheus
//!     text format. Either flag replaces the mail; without flags, report.html_dir and
//!     report.metrics_file are written beside the mail when set. `--cgi` answers one CGI request
//!     (QUERY_STRING `days=N`) with the page. Day files older than report.keep_days are removed.
//!
//! SECURITY
//!     Runs as: the spool's owner (uucp); started as root it switches to that user first. Trusts
//!     nothing in the day files: names from mail are escaped in the page and the metrics. Writes:
//!     outgoing/ (the report), the page and metrics files (each by a temp file with a random
//!     name created with O_EXCL, which never follows a symlink, then a rename), removes old day
//!     files. No network.
//!
//! EXIT STATUS
//!     0 done; 64 usage (also a bad --date); 74 I/O error; 78 configuration error; 71 cannot
//!     switch user; 70 internal error (a bug). A day-file line that cannot be read is counted
//!     and reported, not an error.
//!
//! FILES
//!     DIR/etc/gateway.conf, DIR/etc/summary.tmpl, DIR/etc/{email,virus,sent}.YYYYMMDD
//!     (DIR/etc/days/{email,virus,sent}.YYYYMMDD when etc/days/ exists)
#![forbid(unsafe_code)]

use clap::Parser;
use daysumm::job::Job;
use spool::logging::Target;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "daysumm",
    version,
    about = "The virus firewall's nightly summary"
)]
struct Args {
    /// The spool directory.
    #[arg(long, default_value = spool::layout::DEFAULT_ROOT)]
    spool: PathBuf,
    /// Configuration file (default: SPOOL/etc/gateway.conf).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The day to report: YYYY-MM-DD, today or yesterday.
    #[arg(long, default_value = "today")]
    date: String,
    /// Print the report instead of mailing it.
    #[arg(long)]
    stdout: bool,
    /// Write the statistics page DIR/index.html.
    #[arg(long, value_name = "DIR")]
    html: Option<PathBuf>,
    /// Write Prometheus metrics to FILE.
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Answer one CGI request (QUERY_STRING days=N) with the statistics page.
    #[arg(long, conflicts_with_all = ["stdout", "html", "metrics"])]
    cgi: bool,
    /// Debug lines in the log.
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let me = spool::cli::Program {
        name: "daysumm",
        source: include_str!("main.rs"),
        section: "8",
        codes: |e| {
            e.downcast_ref::<daysumm::Error>()
                .map(daysumm::Error::exit_code)
        },
    };
    spool::cli::main(
        me,
        |a: &Args| (Target::Auto, a.verbose),
        |args: Args| {
            let cgi = args.cgi;
            let r = run(args);
            if cgi && r.is_err() {
                // The web server shows the visitor this; the reason is in the mail log.
                print!("Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\nThe statistics are not available; see the mail log.\n");
            }
            r
        },
    )
}

/// The command line as a [`Job`]; `daysumm::job` does the rest.
fn run(args: Args) -> anyhow::Result<ExitCode> {
    let job = Job {
        spool: args.spool,
        config: args.config,
        date: args.date,
        stdout: args.stdout,
        html: args.html,
        metrics: args.metrics,
        cgi: args.cgi,
    };
    Ok(daysumm::job::run(&job)?)
}
