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

/// An age as people say it: `3 days 4 hours`, `5 hours`, `12 minutes` (the summary, the
/// alerts and the statistics page say it the same way).
pub fn human_age(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    let unit = |n: i64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if d > 0 {
        format!("{} {}", unit(d, "day"), unit(h, "hour"))
    } else if h > 0 {
        unit(h, "hour")
    } else {
        unit(m, "minute")
    }
}

#[cfg(test)]
mod age_tests {
    #[test]
    fn human_ages() {
        assert_eq!(
            super::human_age(3 * 86_400 + 4 * 3600 + 5),
            "3 days 4 hours"
        );
        assert_eq!(super::human_age(86_400), "1 day 0 hours");
        assert_eq!(super::human_age(5 * 3600), "5 hours");
        assert_eq!(super::human_age(12 * 60 + 59), "12 minutes");
        assert_eq!(super::human_age(-5), "0 minutes");
    }
}
