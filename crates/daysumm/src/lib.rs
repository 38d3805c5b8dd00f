//! daysumm's library: gather a day's figures from the day files and the queues, and render them
//! as the nightly mail, the statistics page and Prometheus metrics ([`job`]: one run, as the
//! command line asks).
#![forbid(unsafe_code)]

pub mod error;
pub mod html;
pub mod job;
pub mod metrics;
pub mod report;
pub mod retention;
pub mod stats;

use chrono::{DateTime, Days, Local, NaiveDate};
use spool::{Config, Spool};
use stats::{Day, Queues};
use std::collections::BTreeMap;
use std::path::Path;

pub use error::{Error, Result};

/// The windows of the statistics page and the averages of the metrics.
pub const WINDOWS: [u32; 2] = [30, 365];

/// `--date`: `YYYY-MM-DD`, `today` or `yesterday`, relative to the day decided at start.
pub fn resolve_date(arg: &str, today: NaiveDate) -> Result<NaiveDate> {
    match arg {
        "today" => Ok(today),
        "yesterday" => today
            .checked_sub_days(Days::new(1))
            .ok_or_else(|| Error::BadDate(arg.into())),
        s => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| Error::BadDate(arg.into())),
    }
}

/// Per-day counts over the `days` days ending at the report day (oldest first), and the names.
#[derive(Clone, Debug, Default)]
pub struct Window {
    pub days: u32,
    pub dates: Vec<NaiveDate>,
    pub received: Vec<u64>,
    pub quarantined: Vec<u64>,
    pub viruses: Vec<u64>,
    pub banned: Vec<u64>,
    pub virus_names: BTreeMap<String, u64>,
    pub banned_names: BTreeMap<String, u64>,
}

impl Window {
    /// From `history` (oldest first, ending at the report day): its last `days` entries.
    pub fn from_days(history: &[Day], days: u32) -> Window {
        let start = history.len().saturating_sub(days as usize);
        let mut w = Window {
            days,
            ..Window::default()
        };
        for d in &history[start..] {
            w.dates.push(d.date);
            w.received.push(d.received);
            w.quarantined.push(d.quarantined());
            w.viruses.push(d.virus_count());
            w.banned.push(d.banned_count());
            stats::merge(&mut w.virus_names, &d.viruses);
            stats::merge(&mut w.banned_names, &d.banned);
        }
        w
    }

    /// Messages per day over the whole window (days without mail count as 0).
    pub fn average_volume(&self) -> f64 {
        self.received.iter().sum::<u64>() as f64 / f64::from(self.days.max(1))
    }
}

/// Everything the outputs show.
#[derive(Clone, Debug)]
pub struct Summary {
    pub hostname: String,
    pub date: NaiveDate,
    pub day: Day,
    pub queues: Queues,
    pub signature_age: Option<i64>,
    pub windows: Vec<Window>,
    pub generated: DateTime<Local>,
}

impl Summary {
    /// Gather the figures of `date`; with `windows`, also the history those windows need.
    pub fn gather(
        spool: &Spool,
        cfg: &Config,
        date: NaiveDate,
        now: DateTime<Local>,
        windows: &[u32],
    ) -> Result<Summary> {
        let longest = windows.iter().copied().max().unwrap_or(1).max(1);
        let mut history = Vec::with_capacity(longest as usize);
        for back in (0..u64::from(longest)).rev() {
            let Some(d) = date.checked_sub_days(Days::new(back)) else {
                continue;
            };
            history.push(Day::load(spool, d)?);
        }
        let day = history.last().cloned().unwrap_or_else(|| Day {
            date,
            ..Day::default()
        });
        Ok(Summary {
            hostname: cfg.hostname.clone(),
            date,
            day,
            queues: Queues::scan(spool, now)?,
            signature_age: stats::signature_age(
                &cfg.update.sigtool,
                Path::new(&cfg.update.database_dir),
                now,
            ),
            windows: windows
                .iter()
                .map(|&w| Window::from_days(&history, w))
                .collect(),
            generated: now,
        })
    }
}

/// The window a CGI request asks for: `days=N` in QUERY_STRING, 1 to `max` (default 30).
pub fn cgi_days(query: &str, max: u32) -> u32 {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "days")
        .and_then(|(_, v)| v.parse::<u32>().ok())
        .unwrap_or(30)
        .clamp(1, max.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(
            resolve_date("yesterday", today).unwrap(),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        assert_eq!(resolve_date("today", today).unwrap(), today);
        assert_eq!(
            resolve_date("2025-12-31", today).unwrap(),
            NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()
        );
        assert!(resolve_date("31.12.2025", today).is_err());
    }

    #[test]
    fn cgi_query() {
        assert_eq!(cgi_days("days=365", 400), 365);
        assert_eq!(cgi_days("x=1&days=7", 400), 7);
        assert_eq!(cgi_days("days=100000", 400), 400);
        assert_eq!(cgi_days("days=0", 400), 1);
        assert_eq!(cgi_days("days=<script>", 400), 30);
        assert_eq!(cgi_days("", 400), 30);
    }
}
