//! Removing day files older than report.keep_days (the statistics page needs a year of them),
//! in the one directory that holds them, [`Spool::day_dir`] (`etc/`, or `etc/days/` in the
//! hardened layout).

use crate::error::Result;
use chrono::NaiveDate;
use spool::daylog::DayFile;
use spool::IoContext;
use spool::Spool;
use std::path::PathBuf;

/// The date of a day file name (`email.20261127`, `virus.…`, `sent.…`); None for anything else.
pub fn day_file_date(name: &str) -> Option<NaiveDate> {
    DayFile::parse_name(name).map(|(_, date)| date)
}

/// Remove the day files dated more than `keep_days` before `today` (0 = keep them all).
/// Returns the removed paths.
pub fn remove_old(spool: &Spool, today: NaiveDate, keep_days: u64) -> Result<Vec<PathBuf>> {
    let mut gone = Vec::new();
    if keep_days == 0 {
        return Ok(gone);
    }
    let Some(limit) = today.checked_sub_days(chrono::Days::new(keep_days)) else {
        return Ok(gone);
    };
    let dir = spool.day_dir();
    for de in std::fs::read_dir(&dir).at(&dir)? {
        let de = de.at(&dir)?;
        let Some(date) = de.file_name().to_str().and_then(day_file_date) else {
            continue;
        };
        if date < limit && de.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(de.path()).at(de.path())?;
            gone.push(de.path());
        }
    }
    gone.sort();
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            day_file_date("virus.20261127"),
            NaiveDate::from_ymd_opt(2026, 11, 27)
        );
        assert_eq!(day_file_date("email.2026112"), None);
        assert_eq!(day_file_date("matches.bad"), None);
        assert_eq!(day_file_date("email.20261327"), None);
        assert_eq!(day_file_date("gateway.20261127"), None);
    }

    #[test]
    fn old_day_files_go_from_the_day_dir_of_either_layout() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let old = DayFile::Email.file_name(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        let new = DayFile::Sent.file_name(today);
        for n in [&old, &new] {
            std::fs::write(s.etc().join(n), "").unwrap();
        }
        assert_eq!(remove_old(&s, today, 30).unwrap(), [s.etc().join(&old)]);
        assert!(s.etc().join(&new).exists());
        // The hardened layout: the day files in etc/days/; etc/ itself is not the day dir.
        std::fs::create_dir(s.days_subdir()).unwrap();
        std::fs::write(s.etc().join(&old), "").unwrap();
        std::fs::write(s.days_subdir().join(&old), "").unwrap();
        assert_eq!(
            remove_old(&s, today, 30).unwrap(),
            [s.days_subdir().join(&old)]
        );
        assert!(s.etc().join(&old).exists());
    }
}
