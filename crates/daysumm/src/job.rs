//! One run of daysumm: the day decided once, the figures gathered, then the CGI page, or the
//! mail (or `--stdout`), the page and the metrics files, and the removal of old day files.

use crate::{html, metrics, report, retention, Result, Summary, WINDOWS};
use spool::error::IoContext;
use spool::Spool;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// What the command line asks of daysumm.
#[derive(Clone, Debug)]
pub struct Job {
    pub spool: PathBuf,
    pub config: Option<PathBuf>,
    /// `--date`: YYYY-MM-DD, today or yesterday.
    pub date: String,
    pub stdout: bool,
    pub html: Option<PathBuf>,
    pub metrics: Option<PathBuf>,
    pub cgi: bool,
}

/// One run of daysumm, as the command line asks.
pub fn run(args: &Job) -> Result<ExitCode> {
    // The one moment this run is about: the day, the queue ages, the signature age.
    let now = spool::clock::now();
    let today = now.date_naive();
    let date = crate::resolve_date(&args.date, today)?;
    let spool = Spool::new(&args.spool);
    let cfg = spool::privs::enter(&spool, args.config.as_deref(), None, None)?;

    if args.cgi {
        let query = std::env::var("QUERY_STRING").unwrap_or_default();
        let days = crate::cgi_days(&query, cfg.report.keep_days.clamp(1, 3660) as u32);
        let s = Summary::gather(&spool, &cfg, date, now, &[days])?;
        let page = html::page(&s);
        let mut out = std::io::stdout().lock();
        write!(out, "Content-Type: text/html; charset=utf-8\r\n\r\n{page}")
            .and_then(|()| out.flush())
            .at("stdout")?;
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
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .at("stdout")?;
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
