//! Removing day files older than report.keep_days (the statistics page needs a year of them).
//! Which names are day files, and where they live ([`Spool::day_dir`]: `etc/`, or `etc/days/`
//! in the hardened layout), is `spool::daylog`'s to say; this module only sets the limit.

use crate::error::Result;
use chrono::NaiveDate;
use spool::Spool;
use std::path::PathBuf;

/// The first date whose day files are kept: `keep_days` before `today`; None keeps them all
/// (0, or a limit before the calendar starts).
pub fn limit(today: NaiveDate, keep_days: u64) -> Option<NaiveDate> {
    if keep_days == 0 {
        return None;
    }
    today.checked_sub_days(chrono::Days::new(keep_days))
}

/// Remove the day files dated more than `keep_days` before `today` (0 = keep them all).
/// Returns the removed paths.
pub fn remove_old(spool: &Spool, today: NaiveDate, keep_days: u64) -> Result<Vec<PathBuf>> {
    match limit(today, keep_days) {
        Some(l) => Ok(spool::daylog::remove_before(spool, l)?),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spool::daylog::DayFile;

    #[test]
    fn keep_days_sets_the_limit() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(limit(today, 0), None);
        assert_eq!(limit(today, 30), NaiveDate::from_ymd_opt(2026, 10, 28));
        assert_eq!(limit(today, u64::MAX), None);
    }

    #[test]
    fn old_day_files_go_and_keep_days_0_keeps_all() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let old = DayFile::Email.path(&s, NaiveDate::from_ymd_opt(2026, 10, 27).unwrap());
        let kept = DayFile::Email.path(&s, NaiveDate::from_ymd_opt(2026, 10, 28).unwrap());
        for p in [&old, &kept] {
            std::fs::write(p, "").unwrap();
        }
        assert!(remove_old(&s, today, 0).unwrap().is_empty());
        assert_eq!(remove_old(&s, today, 30).unwrap(), vec![old.clone()]);
        assert!(!old.exists() && kept.exists());
    }
}
