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
use daysumm::{html, metrics, report, retention, Summary, WINDOWS};
use spool::logging::Target;
use spool::Spool;
use std::io::Write;
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

fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The one moment this run is about: the day, the queue ages, the signature age.
    let now = spool::clock::now();
    let today = now.date_naive();
    let date = daysumm::resolve_date(&args.date, today)?;
    let spool = Spool::new(&args.spool);
    let cfg = spool::privs::enter(&spool, args.config.as_deref(), None, None)?;

    if args.cgi {
        let query = std::env::var("QUERY_STRING").unwrap_or_default();
        let days = daysumm::cgi_days(&query, cfg.report.keep_days.clamp(1, 3660) as u32);
        let s = Summary::gather(&spool, &cfg, date, now, &[days])?;
        let page = html::page(&s);
        let mut out = std::io::stdout().lock();
        write!(out, "Content-Type: text/html; charset=utf-8\r\n\r\n{page}")?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }

    let explicit = args.stdout || args.html.is_some() || args.metrics.is_some();
    let from_conf = |v: &str| (!explicit && !v.is_empty()).then(|| PathBuf::from(v));
    let html_dir = args
        .html
        .clone()
        .or_else(|| from_conf(&cfg.report.html_dir));
    let metrics_file = args
        .metrics
        .clone()
        .or_else(|| from_conf(&cfg.report.metrics_file));
    let windows: &[u32] = if html_dir.is_some() || metrics_file.is_some() {
        &WINDOWS
    } else {
        &[]
    };
    let s = Summary::gather(&spool, &cfg, date, now, windows)?;
    let d = &s.day;
    let mut line = format!(
        "summary of {date}: {} received, {} delivered, {} quarantined, {} virus(es), {} banned",
        d.received,
        d.delivered,
        d.quarantined(),
        d.virus_count(),
        d.banned_count()
    );

    let text = report::render(&s, &spool, &cfg);
    if args.stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    } else if !explicit {
        match report::notice(&text, &cfg).submit(&spool, &cfg)? {
            Some(id) => line.push_str(&format!("; mailed {id} to {}", cfg.admin)),
            None => line.push_str(&format!("; mailed to {} via sendmail", cfg.admin)),
        }
    }
    if let Some(dir) = html_dir {
        let path = html::write(&dir, &html::page(&s))?;
        line.push_str(&format!("; page {}", path.display()));
    }
    if let Some(file) = metrics_file {
        metrics::write(&file, &metrics::render(&s))?;
        line.push_str(&format!("; metrics {}", file.display()));
    }
    let gone = retention::remove_old(&spool, today, cfg.report.keep_days)?;
    if !gone.is_empty() {
        line.push_str(&format!(
            "; removed {} day file(s) older than {} days",
            gone.len(),
            cfg.report.keep_days
        ));
    }
    log::info!("{line}");
    Ok(ExitCode::SUCCESS)
}
