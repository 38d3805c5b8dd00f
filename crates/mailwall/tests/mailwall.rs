//! mailwall end to end: the real binary over a test spool that the real scanmail has worked on.

use spool::Queue;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use testkit::TestSpool;

fn mailwall(ts: &TestSpool, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailwall"))
        .arg("--spool")
        .arg(ts.root())
        .args(args)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn queue_shows_mail_waiting_for_the_scanner_and_why() {
    // No clamd behind the socket: scanmail keeps the mail in incoming/ and records the failure.
    let ts = TestSpool::new(
        "hostname = \"gw.example.com\"\n[scan]\nclamd_socket = \"/nonexistent/clamd.ctl\"\n",
    );
    ts.install_etc("matches.bad");
    ts.install_etc("matches.doc");
    let id = ts.inject(
        Queue::Incoming,
        "<alice@example.org>",
        &["<bob@example.com>", "<carol@example.com>"],
        b"Subject: hi\nContent-Type: application/pdf; name=a.pdf\n\n%PDF-1.4\n",
    );
    let o = Command::new(testkit::bin("scanmail"))
        .arg("--spool")
        .arg(ts.root())
        .env("GATEWAY_LOG", "stderr")
        .output()
        .unwrap();
    assert_eq!(ts.ids(Queue::Incoming), vec![id.clone()], "{o:?}");

    let o = mailwall(&ts, &["queue", "--json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["queue"], "incoming");
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["sender"], "<alice@example.org>");
    assert_eq!(
        r["pending"],
        serde_json::json!(["<bob@example.com>", "<carol@example.com>"])
    );
    assert_eq!(r["tries"], 1);
    assert!(
        r["last_error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/clamd.ctl"),
        "{r}"
    );

    let o = mailwall(&ts, &["queue"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("{id} incoming")), "{text}");
    assert!(text.contains("<carol@example.com>"), "{text}");
    assert!(text.contains("in 1 Request."), "{text}");
}

#[test]
fn empty_queue() {
    let ts = TestSpool::new("");
    let o = mailwall(&ts, &["queue"]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Mail queue is empty\n");
    let o = mailwall(&ts, &["queue", "--json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
}

#[test]
fn check_names_each_problem_and_fails() {
    let ts = TestSpool::new("hostname = \"gw.example.com\"\n");
    let o = mailwall(&ts, &["check"]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("no problem found"));

    ts.write_conf("hostname = \"gw.example.com\"\n[smtpd]\nmax_recipients = 0\n");
    std::fs::set_permissions(
        ts.spool.queue(Queue::Outgoing),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let o = mailwall(&ts, &["check"]);
    assert_eq!(code(&o), 78, "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("gateway.conf:3: smtpd.max_recipients"),
        "{text}"
    );
    assert!(
        text.contains("outgoing") && text.contains("writable"),
        "{text}"
    );
}

#[test]
fn metrics_file_counts_the_queues_and_passes_promtool() {
    let ts = TestSpool::new("");
    let dir = ts.scratch("textfile");
    ts.write_conf(&format!(
        "hostname = \"gw.example.com\"\n[report]\nmetrics_dir = \"{}\"\n",
        dir.display()
    ));
    for _ in 0..3 {
        ts.inject(
            Queue::Outgoing,
            "<a@example.org>",
            &["<b@example.com>"],
            b"x\n",
        );
    }
    ts.inject(
        Queue::Quarantine,
        "<a@example.org>",
        &["<b@example.com>"],
        b"xyz\n",
    );
    let o = mailwall(&ts, &["metrics"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let path = dir.join("mailwall.prom");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("mailwall_queue_messages{queue=\"outgoing\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("mailwall_queue_messages{queue=\"incoming\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("mailwall_queue_messages{queue=\"quarantine\"} 1\n"),
        "{text}"
    );
    let promtool = testkit::which("promtool").expect("promtool (Debian package prometheus)");
    let o = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "promtool: {o:?}");
    assert!(
        o.stdout.is_empty() && o.stderr.is_empty(),
        "promtool: {o:?}"
    );

    // Without a directory there is nowhere to write: a configuration error.
    ts.write_conf("hostname = \"gw.example.com\"\n");
    assert_eq!(code(&mailwall(&ts, &["metrics"])), 78);
    // ...unless told that this is fine (cron, before the admin sets it).
    assert_eq!(code(&mailwall(&ts, &["metrics", "--if-set"])), 0);
}

/// The shipped alert rules and dashboard use only metrics the gateway exports, and the rules
/// load in Prometheus' own checker.
#[test]
fn shipped_rules_and_dashboard_name_real_metrics() {
    let root = testkit::repo_root();
    let rules = root.join("etc/prometheus/mailwall.rules.yml");
    let o = Command::new(testkit::which("promtool").expect("promtool"))
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(o.status.success(), "promtool: {o:?}");
    let dashboard = std::fs::read_to_string(root.join("etc/grafana/mailwall.json")).unwrap();
    let _: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let text = std::fs::read_to_string(&rules).unwrap() + &dashboard;
    let re_names: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("mailwall_") && *w != "mailwall_prom")
        .collect();
    assert!(re_names.len() > 10, "{re_names:?}");
    for n in re_names {
        assert!(
            spool::metrics::FAMILIES.iter().any(|(f, _, _)| *f == n),
            "{n} is used by etc/ but not exported"
        );
    }
}

/// The manual pages come from the programs themselves and render without warnings.
#[test]
fn man_pages_render() {
    let mut pages: Vec<(std::path::PathBuf, Vec<&str>, Vec<String>)> = Vec::new();
    for p in [
        "smtpd",
        "scanmail",
        "smtpfwdd",
        "sigupdate",
        "daysumm",
        "mailwall",
    ] {
        let must = [
            &p.to_uppercase(),
            "OPTIONS",
            "\\-\\-spool",
            "EXIT STATUS",
            "SECURITY",
        ];
        pages.push((
            testkit::bin(p),
            vec!["--man"],
            must.iter().map(|m| m.to_string()).collect(),
        ));
    }
    let conf = ["GATEWAY.CONF", "max_object_bytes", "[forward]"];
    pages.push((
        testkit::bin("mailwall"),
        vec!["--man", "gateway.conf"],
        conf.iter().map(|m| m.to_string()).collect(),
    ));
    for (prog, args, must) in pages {
        let o = Command::new(&prog).args(&args).output().unwrap();
        assert_eq!(code(&o), 0, "{o:?}");
        let page = String::from_utf8(o.stdout).unwrap();
        for m in &must {
            assert!(
                page.contains(m.as_str()),
                "{m} missing from {prog:?} {args:?}:\n{page}"
            );
        }
        let mut nroff = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-Wbreak", "-z"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        nroff
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let o = nroff.wait_with_output().unwrap();
        assert!(o.status.success() && o.stderr.is_empty(), "nroff: {o:?}");
    }
}

/// A deferred message shows in the queue with its last error, `flush` has the running smtpfwdd
/// deliver it at once (its next try was two minutes away, its scan a minute away), and the
/// metrics count both attempts.
#[test]
fn deferred_mail_shows_why_and_flush_delivers_it_now() {
    use std::time::Duration;
    let ts = TestSpool::new("");
    let port = testkit::free_port();
    let textfile = ts.scratch("textfile");
    ts.write_conf(&format!(
        "hostname = \"gw.test\"\ndomains = [\"example.com\"]\n[forward]\nrelay = \"127.0.0.1:{port}\"\n\
         tls = \"off\"\n[report]\nmetrics_dir = \"{}\"\n",
        textfile.display()
    ));
    let relay = testkit::Relay::start_on(&ts.scratch("relay"), port, &["--tempfail-times", "1"]);
    assert_eq!(
        code(&mailwall(&ts, &["flush"])),
        69,
        "no smtpfwdd running yet"
    );
    let id = ts.inject(
        Queue::Outgoing,
        "<a@example.org>",
        &["<tempfail@example.com>"],
        b"Subject: later\n\nx\n",
    );
    let log = std::fs::File::create(ts.dir.path().join("smtpfwdd.log")).unwrap();
    let mut d = testkit::Proc::spawn(
        "smtpfwdd",
        Command::new(testkit::bin("smtpfwdd"))
            .env("GATEWAY_LOG", "stderr")
            .arg("--spool")
            .arg(ts.root())
            .args(["--foreground", "-P", "60", "--retry-base-secs", "120"])
            .stderr(log),
    );
    let row = testkit::wait_for(Duration::from_secs(15), || {
        let o = mailwall(&ts, &["queue", "--json"]);
        let rows: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        let r = rows.as_array()?.first()?.clone();
        (r["tries"] == 1).then_some(r)
    })
    .expect("the first attempt is deferred");
    assert_eq!(row["id"], id.as_str());
    assert!(row["last_error"].as_str().unwrap().contains("451"), "{row}");
    assert!(row["next_try"].as_i64().is_some(), "{row}");

    let o = mailwall(&ts, &["flush"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let got = relay.wait_messages(1, Duration::from_secs(5));
    let daemon_log = || std::fs::read_to_string(ts.dir.path().join("smtpfwdd.log")).unwrap();
    assert_eq!(got.len(), 1, "flush did not deliver: {}", daemon_log());
    let gone = testkit::wait_for(Duration::from_secs(5), || {
        ts.ids(Queue::Outgoing).is_empty().then_some(())
    });
    assert!(gone.is_some());
    let metrics = testkit::wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(textfile.join("mailwall.prom"))
            .ok()
            .filter(|t| t.contains("result=\"delivered\"} 1"))
    })
    .expect("metrics written after the delivery");
    assert!(
        metrics.contains("mailwall_smtpfwdd_recipients_total{result=\"deferred\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailwall_queue_messages{queue=\"outgoing\"} 0\n"),
        "{metrics}"
    );
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(
        d.wait_timeout(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
}
