//! The article's day files, written by scanmail and smtpfwdd, read by daysumm. They live in
//! [`Spool::day_dir`]: `etc/` in the article's layout, `etc/days/` (the spool owner's) in the
//! hardened one, where `etc/` is root's. Every path of a day file comes from [`DayFile::path`].
//!
//! - `email.YYYYMMDD`: one line per judged message:
//!   `time  id  sender  recipients  size  verdict  detail` (tab-separated; each recipient followed
//!   by the ASCII unit separator US, 0x1F, see [`RCPT_END`])
//! - `virus.YYYYMMDD`: one line per detection: `time  id  sender  kind  name` (kind virus|banned)
//! - `sent.YYYYMMDD`: one line per delivery outcome: `time  id  recipient  outcome  detail`
//!
//! Each line is appended with one write(2) on an O_APPEND file, so two runs at once never
//! interleave inside a line. Fields are cleaned of tabs and newlines.

use crate::error::{IoContext, Result};
use crate::layout::Spool;
use crate::verdict::Verdict;
use chrono::{DateTime, Local, NaiveDate};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayFile {
    Email,
    Virus,
    Sent,
}

impl DayFile {
    pub fn prefix(self) -> &'static str {
        match self {
            DayFile::Email => "email",
            DayFile::Virus => "virus",
            DayFile::Sent => "sent",
        }
    }

    pub fn path(self, spool: &Spool, date: NaiveDate) -> PathBuf {
        spool.day_dir().join(self.file_name(date))
    }

    /// The plain name of the day file of `date` (`email.20261127`).
    pub fn file_name(self, date: NaiveDate) -> String {
        format!("{}.{}", self.prefix(), date.format("%Y%m%d"))
    }

    /// The file and the date a day file's plain name stands for; None for any other name.
    pub fn parse_name(name: &str) -> Option<(DayFile, NaiveDate)> {
        let (prefix, date) = name.split_once('.')?;
        let file = [DayFile::Email, DayFile::Virus, DayFile::Sent]
            .into_iter()
            .find(|f| f.prefix() == prefix)?;
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((file, NaiveDate::parse_from_str(date, "%Y%m%d").ok()?))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EmailLine {
    pub time: DateTime<Local>,
    pub id: String,
    pub sender: String,
    pub recipients: Vec<String>,
    pub size: u64,
    pub verdict: Verdict,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VirusLine {
    pub time: DateTime<Local>,
    pub id: String,
    pub sender: String,
    /// "virus" or "banned"
    pub kind: String,
    /// The virus name or the banned pattern.
    pub name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SentLine {
    pub time: DateTime<Local>,
    pub id: String,
    pub recipient: String,
    /// "delivered", "bounced" or "quarantined"
    pub outcome: String,
    pub detail: String,
}

/// Ends each recipient in the recipients field of `email.*` lines. An address can hold a comma,
/// a space or any printable character (quoted local parts), but never a control character (smtpd
/// refuses them, the spool reader too, and every field is cleaned of them), so this one cannot
/// occur inside an address. Lines written before it (recipients joined by `,`) are still read.
pub const RCPT_END: char = '\u{1f}';

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\t' || c.is_control() { ' ' } else { c })
        .collect()
}

/// The recipients field: each address cleaned (so none can hold [`RCPT_END`]), then ended by it.
fn recipients_field(rcpts: &[String]) -> String {
    let mut f = String::new();
    for r in rcpts {
        f.push_str(&clean(r));
        f.push(RCPT_END);
    }
    f
}

/// Read a recipients field, new or old. Old lines joined bracketed addresses with `,`: they are
/// split only between `>` and `<`, so a quoted comma (`<"a,b"@x>`) stays inside its address.
fn parse_recipients(f: &str) -> Vec<String> {
    if f.contains(RCPT_END) {
        return f
            .split(RCPT_END)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
    }
    if !f.starts_with('<') {
        return f
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
    }
    let mut out = Vec::new();
    let mut rest = f;
    while let Some(i) = rest.find(">,<") {
        out.push(rest[..=i].to_string());
        rest = &rest[i + 2..];
    }
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

fn ts(t: &DateTime<Local>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// One day-file line: fields cleaned of tabs and control characters, tab-separated, newline.
pub fn format_line(fields: &[&str]) -> String {
    format_fields(fields, None)
}

/// [`format_line`], except that field `raw` is taken as it is (already built from cleaned parts).
fn format_fields(fields: &[&str], raw: Option<usize>) -> String {
    let mut line = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if raw == Some(i) {
                f.to_string()
            } else {
                clean(f)
            }
        })
        .collect::<Vec<_>>()
        .join("\t");
    line.push('\n');
    line
}

fn open_day(path: &std::path::Path) -> Result<std::fs::File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .at(path)
}

/// Append one line to a day file of the given date.
pub fn append(spool: &Spool, file: DayFile, date: NaiveDate, fields: &[&str]) -> Result<()> {
    let path = file.path(spool, date);
    open_day(&path)?
        .write_all(format_line(fields).as_bytes())
        .at(&path)
}

/// A day file kept open between appends (a daemon writing many lines), reopened when the file
/// or the date changes. Each line is still one write(2) on an O_APPEND file.
#[derive(Default)]
pub struct DayAppender {
    open: Option<(DayFile, NaiveDate, std::fs::File)>,
}

impl DayAppender {
    pub fn append(
        &mut self,
        spool: &Spool,
        file: DayFile,
        date: NaiveDate,
        fields: &[&str],
    ) -> Result<()> {
        if self
            .open
            .as_ref()
            .is_none_or(|(f, d, _)| *f != file || *d != date)
        {
            self.open = None;
            self.open = Some((file, date, open_day(&file.path(spool, date))?));
        }
        let Some((_, _, f)) = self.open.as_mut() else {
            unreachable!("opened above")
        };
        if let Err(e) = f.write_all(format_line(fields).as_bytes()) {
            self.open = None;
            return Err(crate::Error::io(file.path(spool, date), e));
        }
        Ok(())
    }
}

impl EmailLine {
    pub fn append(&self, spool: &Spool) -> Result<()> {
        let path = DayFile::Email.path(spool, self.time.date_naive());
        let line = format_fields(
            &[
                &ts(&self.time),
                &self.id,
                &self.sender,
                &recipients_field(&self.recipients),
                &self.size.to_string(),
                self.verdict.as_str(),
                &self.detail,
            ],
            Some(3),
        );
        open_day(&path)?.write_all(line.as_bytes()).at(&path)
    }

    fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 7 {
            return None;
        }
        Some(EmailLine {
            time: DateTime::parse_from_rfc3339(f[0])
                .ok()?
                .with_timezone(&Local),
            id: f[1].into(),
            sender: f[2].into(),
            recipients: parse_recipients(f[3]),
            size: f[4].parse().ok()?,
            verdict: f[5].parse().ok()?,
            detail: f[6].into(),
        })
    }
}

impl VirusLine {
    pub fn append(&self, spool: &Spool) -> Result<()> {
        append(
            spool,
            DayFile::Virus,
            self.time.date_naive(),
            &[
                &ts(&self.time),
                &self.id,
                &self.sender,
                &self.kind,
                &self.name,
            ],
        )
    }

    fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 5 {
            return None;
        }
        Some(VirusLine {
            time: DateTime::parse_from_rfc3339(f[0])
                .ok()?
                .with_timezone(&Local),
            id: f[1].into(),
            sender: f[2].into(),
            kind: f[3].into(),
            name: f[4].into(),
        })
    }
}

impl SentLine {
    pub fn append(&self, spool: &Spool) -> Result<()> {
        let t = ts(&self.time);
        let fields = [&*t, &self.id, &self.recipient, &self.outcome, &self.detail];
        append(spool, DayFile::Sent, self.time.date_naive(), &fields)
    }

    /// The same line through a kept-open day file (smtpfwdd's delivery workers).
    pub fn append_to(&self, spool: &Spool, day: &mut DayAppender) -> Result<()> {
        let t = ts(&self.time);
        let fields = [&*t, &self.id, &self.recipient, &self.outcome, &self.detail];
        day.append(spool, DayFile::Sent, self.time.date_naive(), &fields)
    }

    fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 5 {
            return None;
        }
        Some(SentLine {
            time: DateTime::parse_from_rfc3339(f[0])
                .ok()?
                .with_timezone(&Local),
            id: f[1].into(),
            recipient: f[2].into(),
            outcome: f[3].into(),
            detail: f[4].into(),
        })
    }
}

/// Lines of one day file; a missing file is an empty day. Returns the parsed lines and the number
/// of lines that could not be parsed (reported, never fatal).
fn read<T>(
    spool: &Spool,
    file: DayFile,
    date: NaiveDate,
    parse: fn(&str) -> Option<T>,
) -> Result<(Vec<T>, usize)> {
    let path = file.path(spool, date);
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(crate::Error::io(path, e)),
    };
    let mut out = Vec::new();
    let mut bad = 0;
    for line in BufReader::new(f).split(b'\n') {
        let line = line.at(&path)?;
        let line = String::from_utf8_lossy(&line);
        if line.trim().is_empty() {
            continue;
        }
        match parse(&line) {
            Some(v) => out.push(v),
            None => bad += 1,
        }
    }
    Ok((out, bad))
}

pub fn read_email(spool: &Spool, date: NaiveDate) -> Result<(Vec<EmailLine>, usize)> {
    read(spool, DayFile::Email, date, EmailLine::parse)
}

pub fn read_virus(spool: &Spool, date: NaiveDate) -> Result<(Vec<VirusLine>, usize)> {
    read(spool, DayFile::Virus, date, VirusLine::parse)
}

pub fn read_sent(spool: &Spool, date: NaiveDate) -> Result<(Vec<SentLine>, usize)> {
    read(spool, DayFile::Sent, date, SentLine::parse)
}

/// A day file found in [`Spool::day_dir`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub file: DayFile,
    pub date: NaiveDate,
    pub path: PathBuf,
}

/// The day files of the day directory (regular files whose name [`DayFile::parse_name`]
/// reads), sorted by path.
pub fn list(spool: &Spool) -> Result<Vec<Found>> {
    let dir = spool.day_dir();
    let mut out = Vec::new();
    for de in std::fs::read_dir(&dir).at(&dir)? {
        let de = de.at(&dir)?;
        let Some((file, date)) = de.file_name().to_str().and_then(DayFile::parse_name) else {
            continue;
        };
        if de.file_type().is_ok_and(|t| t.is_file()) {
            out.push(Found {
                file,
                date,
                path: de.path(),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Remove the day files dated before `limit` (daysumm's retention); returns their paths.
pub fn remove_before(spool: &Spool, limit: NaiveDate) -> Result<Vec<PathBuf>> {
    let mut gone = Vec::new();
    for f in list(spool)?.into_iter().filter(|f| f.date < limit) {
        match std::fs::remove_file(&f.path) {
            // Another run removed it first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            r => r.at(&f.path)?,
        }
        gone.push(f.path);
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn round_trip_and_dates() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let time = Local.with_ymd_and_hms(2026, 11, 27, 23, 59, 59).unwrap();
        let e = EmailLine {
            time,
            id: "smtpdAb3xYz".into(),
            sender: "<a@b>".into(),
            recipients: vec!["<c@d>".into(), "<e@f>".into()],
            size: 1234,
            verdict: Verdict::Virus,
            detail: "Eicar-Test-Signature\tFOUND\nx".into(),
        };
        e.append(&s).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(DayFile::Email.path(&s, time.date_naive()))
            .unwrap()
            .write_all(b"garbage line\n")
            .unwrap();
        let (lines, bad) = read_email(&s, time.date_naive()).unwrap();
        assert_eq!(bad, 1);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].detail, "Eicar-Test-Signature FOUND x");
        assert_eq!(lines[0].recipients.len(), 2);
        assert!(s.etc().join("email.20261127").exists());
        let next = time.date_naive().succ_opt().unwrap();
        assert!(read_email(&s, next).unwrap().0.is_empty());
    }

    #[test]
    fn names_are_read_in_one_place() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(
            DayFile::parse_name("virus.20261127"),
            Some((DayFile::Virus, d))
        );
        assert_eq!(
            DayFile::parse_name(&DayFile::Sent.file_name(d)),
            Some((DayFile::Sent, d))
        );
        for bad in [
            "email.2026112",
            "matches.bad",
            "email.20261327",
            "gateway.20261127",
            "email.2026112x",
            ".email.20261127",
        ] {
            assert_eq!(DayFile::parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn old_day_files_go_from_the_day_dir_of_either_layout() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let old = DayFile::Email.file_name(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        let new = DayFile::Sent.file_name(today);
        for n in [&old, &new, &"matches.bad".to_string()] {
            std::fs::write(s.etc().join(n), "").unwrap();
        }
        // A directory with a day file's name is not a day file.
        std::fs::create_dir(s.etc().join("virus.20200101")).unwrap();
        let listed: Vec<_> = list(&s).unwrap().into_iter().map(|f| f.path).collect();
        assert_eq!(listed, [s.etc().join(&old), s.etc().join(&new)]);
        assert_eq!(remove_before(&s, today).unwrap(), [s.etc().join(&old)]);
        assert!(s.etc().join(&new).exists() && s.etc().join("matches.bad").exists());
        assert!(s.etc().join("virus.20200101").is_dir());
        // The hardened layout: the day files in etc/days/; etc/ itself is not the day dir.
        std::fs::create_dir(s.days_subdir()).unwrap();
        std::fs::write(s.etc().join(&old), "").unwrap();
        std::fs::write(s.days_subdir().join(&old), "").unwrap();
        assert_eq!(
            remove_before(&s, today).unwrap(),
            [s.days_subdir().join(&old)]
        );
        assert!(s.etc().join(&old).exists());
    }

    #[test]
    fn day_files_go_to_etc_or_to_etc_days_in_the_hardened_layout() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let time = Local.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let date = time.date_naive();
        let line = |id: &str| VirusLine {
            time,
            id: id.into(),
            sender: "<a@b>".into(),
            kind: "virus".into(),
            name: "Eicar-Test-Signature".into(),
        };
        // The article's layout: etc/.
        assert_eq!(s.day_dir(), s.etc());
        line("smtpdAAAAAA").append(&s).unwrap();
        assert!(s.etc().join("virus.20261127").is_file());
        // A symbolic link named days is not taken.
        std::os::unix::fs::symlink(t.path(), s.days_subdir()).unwrap();
        assert_eq!(s.day_dir(), s.etc());
        let err = s.check(None).unwrap_err().to_string();
        assert!(
            err.contains("days") && err.contains("not a directory"),
            "{err}"
        );
        std::fs::remove_file(s.days_subdir()).unwrap();
        // The hardened layout: etc/days/, for every writer and reader.
        std::fs::create_dir(s.days_subdir()).unwrap();
        assert_eq!(s.day_dir(), s.etc().join("days"));
        line("smtpdBBBBBB").append(&s).unwrap();
        SentLine {
            time,
            id: "smtpdBBBBBB".into(),
            recipient: "<c@d>".into(),
            outcome: "delivered".into(),
            detail: "250".into(),
        }
        .append_to(&s, &mut DayAppender::default())
        .unwrap();
        for f in ["virus.20261127", "sent.20261127"] {
            assert!(s.days_subdir().join(f).is_file(), "{f}");
        }
        assert_eq!(
            DayFile::Email.path(&s, date),
            s.days_subdir().join("email.20261127")
        );
        let (v, bad) = read_virus(&s, date).unwrap();
        assert_eq!(bad, 0);
        assert_eq!(
            v.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
            ["smtpdBBBBBB"]
        );
        assert_eq!(read_sent(&s, date).unwrap().0.len(), 1);
        assert_eq!(
            DayFile::parse_name("sent.20261127"),
            Some((DayFile::Sent, date))
        );
        assert_eq!(DayFile::parse_name("gateway.conf"), None);
        assert_eq!(DayFile::parse_name("email.2026112a"), None);
    }

    #[test]
    fn recipients_with_commas_survive_and_old_lines_still_read() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let time = Local.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let rcpts = vec![
            "<\"smith, john\"@example.com>".to_string(),
            "<\"a>,<b\"@example.com>".to_string(),
            "<c\u{1f}d@example.com>".to_string(),
        ];
        let e = EmailLine {
            time,
            id: "smtpdAb3xYz".into(),
            sender: "<a@b>".into(),
            recipients: rcpts.clone(),
            size: 1,
            verdict: Verdict::Clean,
            detail: String::new(),
        };
        e.append(&s).unwrap();
        let one = EmailLine {
            recipients: vec!["<\"x,y\"@example.com>".into()],
            ..e.clone()
        };
        one.append(&s).unwrap();
        // A line as the old code wrote it: bracketed addresses joined with ",".
        std::fs::OpenOptions::new()
            .append(true)
            .open(DayFile::Email.path(&s, time.date_naive()))
            .unwrap()
            .write_all(
                b"2026-11-27T12:00:00+00:00\tsmtpdAb3xYz\t<a@b>\t<\"q,r\"@x>,<c@d>\t1\tclean\t\n",
            )
            .unwrap();
        let (lines, bad) = read_email(&s, time.date_naive()).unwrap();
        assert_eq!(bad, 0);
        assert_eq!(lines.len(), 3);
        // The control character a recipient cannot hold is cleaned (to a space) before writing.
        let mut want = rcpts;
        want[2] = "<c d@example.com>".into();
        assert_eq!(lines[0].recipients, want);
        assert_eq!(
            lines[1].recipients,
            vec!["<\"x,y\"@example.com>".to_string()]
        );
        assert_eq!(
            lines[2].recipients,
            vec!["<\"q,r\"@x>".to_string(), "<c@d>".to_string()]
        );
    }
}
