//! Removing day files older than report.keep_days (the statistics page needs a year of them).

use crate::error::{IoAt, Result};
use chrono::NaiveDate;
use spool::Spool;
use std::path::PathBuf;

/// The date of a day file name (`email.20261127`, `virus.…`, `sent.…`); None for anything else.
pub fn day_file_date(name: &str) -> Option<NaiveDate> {
    let (prefix, date) = name.split_once('.')?;
    if !matches!(prefix, "email" | "virus" | "sent")
        || date.len() != 8
        || !date.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y%m%d").ok()
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
    let etc = spool.etc();
    for de in std::fs::read_dir(&etc).at(&etc)? {
        let de = de.at(&etc)?;
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
}
