//! daysumm end to end: day files of a known content, the real binary, exact counts; the midnight
//! trap; the page in headless Chromium; CGI; metrics; removal of old day files.
#![allow(clippy::too_many_lines)] // a test reads best as one story

use chrono::{Days, NaiveDate};
use spool::Queue;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};
use testkit::{Conf, TestSpool};

const ADMIN: &str = "admin@example.com";

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
}

fn daysumm(ts: &TestSpool, now: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let o = ts
        .command("daysumm", args)
        .env("GATEWAY_NOW", now)
        .env("TZ", "UTC")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "daysumm {args:?}: {:?}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn append(ts: &TestSpool, name: &str, lines: &[String]) {
    let p = ts.spool.etc_file(name);
    let mut text = fs::read_to_string(&p).unwrap_or_default();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    fs::write(p, text).unwrap();
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// One judged message: the email line and, for virus/banned, the virus line.
fn judged(ts: &TestSpool, d: NaiveDate, n: usize, sender: &str, verdict: &str, name: &str) {
    let t = format!("{}T12:{:02}:00+00:00", d.format("%Y-%m-%d"), n % 60);
    let id = format!("smtpd{:06}", n);
    append(
        ts,
        &format!("email.{}", ymd(d)),
        &[format!(
            "{t}\t{id}\t{sender}\t<user@example.com>\t1000\t{verdict}\t{name}"
        )],
    );
    if verdict == "virus" || verdict == "banned" {
        append(
            ts,
            &format!("virus.{}", ymd(d)),
            &[format!("{t}\t{id}\t{sender}\t{verdict}\t{name}")],
        );
    }
}

fn sent(ts: &TestSpool, d: NaiveDate, n: usize, outcome: &str) {
    append(
        ts,
        &format!("sent.{}", ymd(d)),
        &[format!(
            "{}T13:00:00+00:00\tsmtpd{n:06}\t<user@example.com>\t{outcome}\t250 ok",
            d.format("%Y-%m-%d")
        )],
    );
}

/// The known day: 5 clean, 3 virus (2 from one sender), 3 banned, 1 unscannable, 1 too complex,
/// 1 released, 1 garbage line; 6 delivered, 1 bounced; and noise on the days around it.
fn known_day(ts: &TestSpool) {
    let d = day();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    for _ in 0..5 {
        judged(ts, d, next(), "<friend@example.org>", "clean", "");
    }
    judged(
        ts,
        d,
        next(),
        "<worm@bad.example>",
        "virus",
        "Eicar-Test-Signature.UNOFFICIAL",
    );
    judged(
        ts,
        d,
        next(),
        "<worm@bad.example>",
        "virus",
        "Eicar-Test-Signature.UNOFFICIAL",
    );
    judged(
        ts,
        d,
        next(),
        "<other@bad.example>",
        "virus",
        "Win.Trojan.Agent-1",
    );
    judged(
        ts,
        d,
        next(),
        "<sales@spam.example>",
        "banned",
        "filename=.*\\.exe",
    );
    judged(
        ts,
        d,
        next(),
        "<sales@spam.example>",
        "banned",
        "filename=.*\\.exe",
    );
    judged(
        ts,
        d,
        next(),
        "<worm@bad.example>",
        "banned",
        "filename=.*\\.vbs",
    );
    judged(
        ts,
        d,
        next(),
        "<odd@example.net>",
        "unscannable",
        "clamd down",
    );
    judged(ts, d, next(), "<odd@example.net>", "too-complex", "depth");
    judged(
        ts,
        d,
        next(),
        "<friend@example.org>",
        "released",
        "by admin",
    );
    append(
        ts,
        &format!("email.{}", ymd(d)),
        &["not a day file line".into()],
    );
    for i in 0..6 {
        sent(ts, d, i, "delivered");
    }
    sent(ts, d, 9, "bounced");
    // Other days must not count.
    let before = d.checked_sub_days(Days::new(1)).unwrap();
    let after = d.checked_add_days(Days::new(1)).unwrap();
    judged(ts, before, 1, "<x@example.org>", "virus", "Old.Virus");
    judged(ts, after, 1, "<y@example.org>", "clean", "");
    sent(ts, after, 1, "delivered");
    ts.chown_all();
}

/// A signature database whose newest file has a fixed time (far from any hour boundary of the
/// fake clock below, so the two midnight runs see the same age).
fn database(ts: &TestSpool) -> PathBuf {
    let db = ts.scratch("db");
    testkit::write_eicar_db(&db);
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_694_400 - 30 * 60);
    // 2026-11-26T11:30:00Z
    fs::File::options()
        .write(true)
        .open(db.join("test.ndb"))
        .unwrap()
        .set_modified(t)
        .unwrap();
    ts.chown_all();
    db
}

fn row(report: &str, label: &str) -> String {
    report
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in\n{report}"))
        .split_whitespace()
        .last()
        .unwrap()
        .to_string()
}

#[test]
fn stdout_report_counts_are_exact() {
    let ts = TestSpool::new("");
    let db = database(&ts);
    ts.write_conf(&Conf::new().path("update", "database_dir", &db));
    known_day(&ts);
    let old = ts.inject(
        Queue::Incoming,
        "<a@b.example>",
        &["<c@example.com>"],
        b"Subject: x\n\nx\n",
    );
    ts.inject(
        Queue::Incoming,
        "<a@b.example>",
        &["<c@example.com>"],
        b"Subject: y\n\ny\n",
    );
    ts.inject(
        Queue::Outgoing,
        "<a@b.example>",
        &["<c@example.com>"],
        b"Subject: z\n\nz\n",
    );
    ts.inject(
        Queue::Quarantine,
        "<a@b.example>",
        &["<c@example.com>"],
        b"Subject: q\n\nq\n",
    );
    // The oldest incoming message has waited three hours (by the real clock: queue ages are
    // measured against file times, so this run uses today's date).
    fs::File::options()
        .write(true)
        .open(ts.root().join("incoming").join(&old))
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3 * 3600 + 120))
        .unwrap();
    let now = chrono::Utc::now().to_rfc3339();
    let o = daysumm(&ts, &now, &["--stdout", "--date", "2026-11-27"], &[]);
    let r = stdout(&o);
    assert!(
        r.starts_with("Subject: Virus firewall gw.example.com: summary of 2026-11-27 (Friday)\n\n"),
        "{r}"
    );
    for (label, want) in [
        ("received (judged", "13"),
        ("clean, passed on", "5"),
        ("delivered (recipients)", "6"),
        ("bounced (recipients)", "1"),
        ("quarantined", "8"),
        ("with a virus", "3"),
        ("with a banned attachment", "3"),
        ("unscannable", "1"),
        ("too complex or malformed", "1"),
        ("released from quarantine", "1"),
        ("Eicar-Test-Signature.UNOFFICIAL", "2"),
        ("Win.Trojan.Agent-1", "1"),
        ("filename=.*\\.exe", "2"),
        ("filename=.*\\.vbs", "1"),
    ] {
        assert_eq!(row(&r, label), want, "{label}\n{r}");
    }
    assert!(!r.contains("Old.Virus"), "another day counted\n{r}");
    // Top senders of quarantined mail, most first.
    let senders: Vec<&str> = r
        .split("Top senders of quarantined mail\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| !l.is_empty())
        .collect();
    let norm: Vec<String> = senders
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        norm,
        [
            "<worm@bad.example> 3",
            "<odd@example.net> 2",
            "<sales@spam.example> 2",
            "<other@bad.example> 1"
        ],
        "{r}"
    );
    assert!(
        r.contains("incoming     2 message(s), oldest 3 hours"),
        "{r}"
    );
    assert!(
        r.contains("outgoing     1 message(s), oldest 0 minutes"),
        "{r}"
    );
    assert!(r.contains("quarantine   1 message(s)"), "{r}");
    assert!(
        r.contains("1 line(s) of the day files could not be read"),
        "{r}"
    );
    assert!(r.contains("Virus signatures: newest file is "), "{r}");
    // --stdout mails nothing.
    assert_eq!(ts.ids(Queue::Outgoing).len(), 1);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains(
            "summary of 2026-11-27: 13 received, 6 delivered, 8 quarantined, 3 virus(es), 3 banned"
        ),
        "{log}"
    );
}

#[test]
fn across_midnight_yesterday_gives_the_2359_report() {
    let ts = TestSpool::new("");
    let db = database(&ts);
    ts.write_conf(&Conf::new().path("update", "database_dir", &db));
    known_day(&ts);
    let at_2359 = daysumm(&ts, "2026-11-27T23:59:00+00:00", &["--stdout"], &[]);
    let at_0001 = daysumm(
        &ts,
        "2026-11-28T00:01:00+00:00",
        &["--stdout", "--date", "yesterday"],
        &[],
    );
    let (a, b) = (stdout(&at_2359), stdout(&at_0001));
    assert!(a.contains("summary of 2026-11-27"), "{a}");
    assert_eq!(row(&a, "received (judged"), "13");
    assert_eq!(a, b);
    // The trap itself: at 00:01 "today" is already the next day.
    let c = stdout(&daysumm(
        &ts,
        "2026-11-28T00:01:00+00:00",
        &["--stdout"],
        &[],
    ));
    assert!(c.contains("summary of 2026-11-28"), "{c}");
    assert_eq!(row(&c, "received (judged"), "1");
}

#[test]
fn nightly_run_mails_the_admin_and_writes_page_and_metrics() {
    let ts = TestSpool::new("");
    let db = database(&ts);
    let out = ts.scratch("www");
    ts.write_conf(&Conf::new().path("update", "database_dir", &db).section(
        "",
        &format!(
            "\n[report]\nhtml_dir = \"{}\"\nmetrics_file = \"{}\"\n",
            out.join("stats").display(),
            out.join("gateway.prom").display()
        ),
    ));
    known_day(&ts);
    let o = daysumm(&ts, "2026-11-27T23:59:00+00:00", &[], &[]);
    assert!(o.stdout.is_empty());
    let ids = ts.ids(Queue::Outgoing);
    assert_eq!(ids.len(), 1);
    let (env, body) = spool::Envelope::read_body(
        &ts.spool
            .message(Queue::Outgoing, &spool::MessageId::parse(&ids[0]).unwrap()),
    )
    .unwrap();
    assert_eq!(env.recipients[0].addr, format!("<{ADMIN}>"));
    assert!(env.is_null_sender());
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.contains("Subject: Virus firewall gw.example.com: summary of 2026-11-27"),
        "{body}"
    );
    assert_eq!(row(&body, "quarantined"), "8");
    assert!(out.join("stats/index.html").is_file());
    assert!(out.join("gateway.prom").is_file());
}

/// Three months of varied traffic ending at the report day.
fn history(ts: &TestSpool) {
    let end = day();
    for back in 0..90u64 {
        let d = end.checked_sub_days(Days::new(back)).unwrap();
        let clean = 5 + (back * 7 % 13) as usize;
        let mut n = 0;
        for _ in 0..clean {
            n += 1;
            judged(ts, d, n, "<friend@example.org>", "clean", "");
        }
        for _ in 0..(back % 4) {
            n += 1;
            judged(
                ts,
                d,
                n,
                "<worm@bad.example>",
                "virus",
                "Eicar-Test-Signature.UNOFFICIAL",
            );
        }
        if back % 5 == 0 {
            n += 1;
            judged(
                ts,
                d,
                n,
                "<sales@spam.example>",
                "banned",
                "filename=.*\\.exe",
            );
        }
    }
    // A hostile name must be shown, never run.
    judged(
        ts,
        end,
        900,
        "<x@example.org>",
        "virus",
        "<script>alert(1)</script>",
    );
    ts.chown_all();
}

fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("chromium is missing: apt-get install -y chromium (tests/run does)")
}

/// Decoded screenshot: (pixels that are not white, distinct colours, contains `rgb`).
fn inspect_png(path: &Path, rgb: [u8; 3]) -> (usize, usize, bool) {
    let decoder = png::Decoder::new(fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    assert!(px >= 3, "unexpected PNG colour type {:?}", info.color_type);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let data = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let mut non_white = 0;
    let mut has = false;
    for p in data.chunks(px) {
        let c = [p[0], p[1], p[2]];
        if c != [255, 255, 255] {
            non_white += 1;
        }
        has |= c == rgb;
        colours.insert(c);
    }
    (non_white, colours.len(), has)
}

#[test]
fn html_page_renders_in_chromium() {
    let ts = TestSpool::new("");
    let db = database(&ts);
    ts.write_conf(&Conf::new().path("update", "database_dir", &db));
    history(&ts);
    let www = ts.scratch("www");
    daysumm(
        &ts,
        "2026-11-27T23:59:00+00:00",
        &["--html", www.to_str().unwrap()],
        &[],
    );
    let page_path = www.join("index.html");
    let page = fs::read_to_string(&page_path).unwrap();
    assert!(
        !page.to_lowercase().contains("<script"),
        "no JavaScript, nothing from mail runs"
    );
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(
        page.matches("<svg").count(),
        4,
        "2 charts × 30 and 365 days"
    );
    assert!(page.contains("Last 30 days") && page.contains("Last 365 days"));
    assert!(page.contains("Eicar-Test-Signature.UNOFFICIAL"));
    assert!(
        ts.ids(Queue::Outgoing).is_empty(),
        "--html replaces the mail"
    );

    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("shot.png");
    let o = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("p").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,1600")
        .arg(format!("file://{}", page_path.display()))
        .output()
        .unwrap();
    assert!(
        shot.exists(),
        "no screenshot: {:?}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    // The volume bars are #3182ce; a blank or unstyled page has no such pixel.
    let (non_white, colours, bars) = inspect_png(&shot, [0x31, 0x82, 0xce]);
    assert!(
        non_white > 1200 * 1600 / 10,
        "mostly blank: {non_white} non-white pixels"
    );
    assert!(colours > 20, "only {colours} colours");
    assert!(bars, "no chart bar pixels in the screenshot");
}

#[test]
fn cgi_answers_with_header_and_page() {
    let ts = TestSpool::new("");
    let db = database(&ts);
    ts.write_conf(&Conf::new().path("update", "database_dir", &db));
    history(&ts);
    let o = daysumm(
        &ts,
        "2026-11-27T23:59:00+00:00",
        &["--cgi"],
        &[("QUERY_STRING", "days=7"), ("GATEWAY_INTERFACE", "CGI/1.1")],
    );
    let out = stdout(&o);
    assert!(
        out.starts_with("Content-Type: text/html; charset=utf-8\r\n\r\n<!DOCTYPE html>"),
        "{}",
        &out[..out.len().min(200)]
    );
    assert!(out.contains("Last 7 days"));
    assert!(!out.contains("Last 30 days"));
    assert_eq!(out.matches("<svg").count(), 2);
}

#[test]
fn metrics_file_parses() {
    let ts = TestSpool::new("");
    let db = database(&ts);
    ts.write_conf(&Conf::new().path("update", "database_dir", &db));
    known_day(&ts);
    ts.inject(
        Queue::Incoming,
        "<a@b.example>",
        &["<c@example.com>"],
        b"x\n",
    );
    let dir = ts.scratch("textfile");
    let file = dir.join("gateway.prom");
    daysumm(
        &ts,
        "2026-11-27T23:59:00+00:00",
        &["--metrics", file.to_str().unwrap()],
        &[],
    );
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["gateway.prom"], "temp files left behind");
    let text = fs::read_to_string(&file).unwrap();
    let samples = parse_prometheus(&text);
    let get = |key: &str| {
        samples
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no {key} in\n{text}"))
            .1
    };
    assert_eq!(get("gateway_day_received_messages"), 13.0);
    assert_eq!(get("gateway_day_quarantined_messages"), 8.0);
    assert_eq!(get("gateway_day_delivered_recipients"), 6.0);
    assert_eq!(get("gateway_day_verdict_messages{verdict=\"banned\"}"), 3.0);
    assert_eq!(
        get("gateway_day_virus_detections{name=\"Eicar-Test-Signature.UNOFFICIAL\"}"),
        2.0
    );
    assert_eq!(
        get("gateway_day_banned_detections{pattern=\"filename=.*\\\\.exe\"}"),
        2.0
    );
    assert_eq!(get("gateway_queue_messages{queue=\"incoming\"}"), 1.0);
    assert_eq!(get("gateway_queue_messages{queue=\"outgoing\"}"), 0.0);
    assert!(get("gateway_signature_age_seconds") > 0.0);
    // 13 + 1 (the day before) judged over 30 days.
    assert!((get("gateway_daily_volume_average_messages{days=\"30\"}") - 14.0 / 30.0).abs() < 0.01);
}

/// A strict reader of the text exposition format: `# HELP`/`# TYPE` before each family's
/// samples, `name{label="value",...} number`. Returns (name{labels}, value).
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut typed = std::collections::HashSet::new();
    let mut out = Vec::new();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut f = rest.splitn(3, ' ');
            let (kind, name) = (f.next().unwrap(), f.next().unwrap());
            assert!(name_ok(name), "{line}");
            match kind {
                "HELP" => assert!(f.next().is_some_and(|h| !h.is_empty()), "{line}"),
                "TYPE" => {
                    assert_eq!(f.next(), Some("gauge"), "{line}");
                    assert!(typed.insert(name.to_string()), "TYPE twice: {line}");
                }
                _ => panic!("bad comment {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(name_ok(name), "{line}");
        assert!(typed.contains(name), "sample before its TYPE: {line}");
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .unwrap_or_else(|| panic!("{line}"));
                // label="value" pairs; values may hold escaped quotes and backslashes.
                let mut rest = inner;
                while !rest.is_empty() {
                    let (k, v) = rest.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                    assert!(name_ok(k), "{line}");
                    let mut end = None;
                    let mut esc = false;
                    for (i, c) in v.char_indices() {
                        match (esc, c) {
                            (true, _) => esc = false,
                            (false, '\\') => esc = true,
                            (false, '"') => {
                                end = Some(i);
                                break;
                            }
                            _ => {}
                        }
                    }
                    let end = end.unwrap_or_else(|| panic!("unterminated label: {line}"));
                    rest = v[end + 1..].strip_prefix(',').unwrap_or(&v[end + 1..]);
                }
            }
        }
        out.push((series.to_string(), value));
    }
    out
}

#[test]
fn day_files_older_than_keep_days_are_removed() {
    let ts = TestSpool::new("");
    let db = database(&ts);
    ts.write_conf(
        &Conf::new()
            .path("update", "database_dir", &db)
            .section("", "\n[report]\nkeep_days = 30\n"),
    );
    let today = day();
    let back = |n: u64| ymd(today.checked_sub_days(Days::new(n)).unwrap());
    let old = [
        format!("email.{}", back(31)),
        format!("virus.{}", back(31)),
        format!("sent.{}", back(400)),
    ];
    let kept = [
        format!("email.{}", back(30)),
        format!("virus.{}", back(1)),
        format!("email.{}", back(0)),
        "matches.bad".to_string(),
        "email.notadate".to_string(),
    ];
    for n in old.iter().chain(kept.iter()) {
        ts.write_etc(n, b"");
    }
    let o = daysumm(&ts, "2026-11-27T23:59:00+00:00", &["--stdout"], &[]);
    for n in &old {
        assert!(!ts.spool.etc_file(n).exists(), "{n} kept");
    }
    for n in &kept {
        assert!(ts.spool.etc_file(n).exists(), "{n} removed");
    }
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains("removed 3 day file(s) older than 30 days"),
        "{log}"
    );
}

#[test]
fn bad_date_is_a_usage_error() {
    let ts = TestSpool::new("");
    let o = ts.run("daysumm", &["--stdout", "--date", "27.11.2026"]);
    assert_eq!(o.status.code(), Some(64));
}
