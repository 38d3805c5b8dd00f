//! The figures: one day's counts from the day files, the queues as they are now, and the age of
//! the newest virus signatures.

use crate::error::Result;
use chrono::{DateTime, Local, NaiveDate};
use spool::daylog;
use spool::verdict::Verdict;
use spool::{Queue, Spool};
use std::collections::BTreeMap;
use std::path::Path;

/// One day's counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    /// Messages judged by scanmail (releases from quarantine not counted).
    pub received: u64,
    pub bytes: u64,
    pub verdicts: BTreeMap<Verdict, u64>,
    /// Recipients delivered and bounced by smtpfwdd (sent lines).
    pub delivered: u64,
    pub bounced: u64,
    /// Detections by virus name and by banned pattern (virus lines).
    pub viruses: BTreeMap<String, u64>,
    pub banned: BTreeMap<String, u64>,
    /// Senders of quarantined mail.
    pub quarantined_senders: BTreeMap<String, u64>,
    /// Lines of the day files that could not be read.
    pub bad_lines: usize,
}

impl Day {
    pub fn load(spool: &Spool, date: NaiveDate) -> Result<Day> {
        let mut d = Day {
            date,
            ..Day::default()
        };
        let (emails, bad_e) = daylog::read_email(spool, date)?;
        let (viruses, bad_v) = daylog::read_virus(spool, date)?;
        let (sent, bad_s) = daylog::read_sent(spool, date)?;
        d.bad_lines = bad_e + bad_v + bad_s;
        for e in emails {
            *d.verdicts.entry(e.verdict).or_default() += 1;
            if e.verdict == Verdict::Released {
                continue;
            }
            d.received += 1;
            d.bytes += e.size;
            if e.verdict.quarantines() {
                *d.quarantined_senders.entry(e.sender).or_default() += 1;
            }
        }
        for v in viruses {
            let map = if v.kind == "banned" {
                &mut d.banned
            } else {
                &mut d.viruses
            };
            *map.entry(v.name).or_default() += 1;
        }
        for s in sent {
            match s.outcome.as_str() {
                "delivered" => d.delivered += 1,
                "bounced" => d.bounced += 1,
                _ => {}
            }
        }
        Ok(d)
    }

    pub fn verdict(&self, v: Verdict) -> u64 {
        self.verdicts.get(&v).copied().unwrap_or(0)
    }

    pub fn quarantined(&self) -> u64 {
        self.verdicts
            .iter()
            .filter(|(v, _)| v.quarantines())
            .map(|(_, n)| n)
            .sum()
    }

    pub fn virus_count(&self) -> u64 {
        self.viruses.values().sum()
    }

    pub fn banned_count(&self) -> u64 {
        self.banned.values().sum()
    }
}

/// Entries sorted by count (highest first), then name; at most `n`.
pub fn top(map: &BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = map.iter().map(|(k, c)| (k.clone(), *c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// Add `b`'s counts into `a`.
pub fn merge(a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>) {
    for (k, v) in b {
        *a.entry(k.clone()).or_default() += v;
    }
}

/// One queue now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueState {
    pub messages: usize,
    pub bytes: u64,
    /// Seconds the oldest message has waited (None: the queue is empty).
    pub oldest_secs: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Queues {
    pub incoming: QueueState,
    pub outgoing: QueueState,
    pub quarantine: QueueState,
}

impl Queues {
    pub fn scan(spool: &Spool, now: DateTime<Local>) -> Result<Queues> {
        let one = |q: Queue| -> Result<QueueState> {
            let entries = spool::store::list(spool, q)?;
            Ok(QueueState {
                messages: entries.len(),
                bytes: entries.iter().map(|e| e.size).sum(),
                oldest_secs: entries
                    .iter()
                    .map(|e| e.mtime)
                    .min()
                    .map(|m| (now - DateTime::<Local>::from(m)).num_seconds().max(0)),
            })
        };
        Ok(Queues {
            incoming: one(Queue::Incoming)?,
            outgoing: one(Queue::Outgoing)?,
            quarantine: one(Queue::Quarantine)?,
        })
    }
}

/// The age of the newest signatures on disk, as sigupdate reckons it (`clamav::database`: the
/// signed databases' build time, else the files' modification time). None: no signatures, or
/// the directory cannot be read.
pub fn signature_age(sigtool: &str, db: &Path, now: DateTime<Local>) -> Option<i64> {
    let newest = clamav::database::newest_on_disk(sigtool, db).ok()??;
    Some((now - newest.built).num_seconds().max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_sorts_by_count_then_name() {
        let m: BTreeMap<String, u64> = [("b", 2), ("a", 2), ("c", 5), ("d", 1)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        assert_eq!(
            top(&m, 3),
            [("c".into(), 5), ("a".into(), 2), ("b".into(), 2)]
        );
    }
}
