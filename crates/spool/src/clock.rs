//! The clock, injectable for tests: `GATEWAY_NOW=2026-11-27T23:59:58+00:00` (RFC 3339) fixes the
//! start time of a run; the clock then moves on from there at the real rate. Programs decide the
//! day of a run once, at its start (the article's midnight trap).

use chrono::{DateTime, Local, NaiveDate};
use std::sync::OnceLock;
use std::time::Instant;

static ORIGIN: OnceLock<Option<(DateTime<Local>, Instant)>> = OnceLock::new();

fn origin() -> Option<(DateTime<Local>, Instant)> {
    *ORIGIN.get_or_init(|| {
        let v = std::env::var("GATEWAY_NOW").ok()?;
        let t = DateTime::parse_from_rfc3339(v.trim()).ok()?;
        Some((t.with_timezone(&Local), Instant::now()))
    })
}

/// The current local time.
pub fn now() -> DateTime<Local> {
    match origin() {
        Some((t0, i0)) => t0 + chrono::Duration::from_std(i0.elapsed()).unwrap_or_default(),
        None => Local::now(),
    }
}

/// Today's date, local time.
pub fn today() -> NaiveDate {
    now().date_naive()
}

/// RFC 5322 date for headers: `Fri, 27 Nov 2026 14:45:49 +0000`.
pub fn rfc5322(t: &DateTime<Local>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S %z").to_string()
}
