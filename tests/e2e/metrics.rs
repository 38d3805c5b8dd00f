//! Issue 12, live metrics: a running gateway (smtpd, a real clamd, scanmail, smtpfwdd, a real
//! SMTP server) moves the counters by exactly what was sent; clamd stopped shows as down and
//! the mail waiting rises; the file passes Prometheus' own checker.

mod common;

use common::*;
use std::process::Command;
use testkit::spool::Queue;
use testkit::*;

fn metrics(g: &Gateway, dir: &std::path::Path) -> String {
    let o = g.run_tool("mailwall", &["metrics"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let path = dir.join("mailwall.prom");
    let text = std::fs::read_to_string(&path).unwrap();
    let promtool = which("promtool").expect("promtool (Debian package prometheus)");
    let o = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "promtool: {o:?}\n{text}"
    );
    text
}

fn value(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{sample} not in:\n{text}"))
}

#[test]
fn counters_move_by_what_was_sent_and_clamd_down_shows() {
    let mut g = Gateway::start();
    let dir = g.ts.scratch("textfile");
    let clamd = g.clamd.as_ref().unwrap();
    let clamd_socket = clamd.socket.display().to_string();
    g.ts.write_conf(
        &Conf::gateway(&clamd_socket, &g.relay.addr())
            .set("scan", "timeout", 10)
            .set(
                "update",
                "database_dir",
                clamd.dir.path().display().to_string(),
            )
            .set("report", "metrics_dir", dir.display().to_string()),
    );
    let clean = b"From: a@example.org\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nHello.\r\n";
    for _ in 0..3 {
        assert_eq!(g.send("a@example.org", &["bob@example.com"], clean), "OK");
    }
    let virus = with_attachment("x", "report.doc", "application/msword", EICAR);
    assert_eq!(g.send("a@example.org", &["bob@example.com"], &virus), "OK");
    // Refused: a recipient outside the local domains.
    assert_ne!(
        g.send("a@example.org", &["eve@elsewhere.example"], clean),
        "OK"
    );
    g.flush();
    // smtpd's daemon writes its counters at most once a second (smtpd::counters): wait until
    // what the test sent is counted, then read.
    let counted = |received: f64| {
        let smtpd = || testkit::spool::metrics::load(&g.ts.spool, Queue::Incoming, "smtpd");
        wait_for(std::time::Duration::from_secs(5), || {
            let s = smtpd();
            (s.get("mailwall_smtpd_messages_received_total", &[]) >= received
                && s.render()
                    .contains("mailwall_smtpd_messages_refused_total{reason=\"5"))
            .then_some(())
        })
        .unwrap_or_else(|| panic!("smtpd's counters lag: {:?}", smtpd()))
    };
    counted(4.0);

    let text = metrics(&g, &dir);
    assert_eq!(value(&text, "mailwall_smtpd_messages_received_total"), 4.0);
    assert!(
        text.contains("mailwall_smtpd_messages_refused_total{reason=\"5"),
        "{text}"
    );
    let judged = |v: &str| {
        value(
            &text,
            &format!("mailwall_scanmail_messages_judged_total{{verdict=\"{v}\"}}"),
        )
    };
    assert_eq!(judged("clean"), 3.0);
    assert_eq!(judged("virus"), 1.0);
    assert_eq!(
        value(
            &text,
            "mailwall_scanmail_viruses_total{name=\"Eicar-Test-Signature.UNOFFICIAL\"}"
        ),
        1.0
    );
    assert_eq!(value(&text, "mailwall_clamd_up"), 1.0);
    // The test's database was written a moment ago.
    let age = value(&text, "mailwall_signatures_age_seconds");
    assert!((0.0..300.0).contains(&age), "{text}");
    // The three clean ones and the sender notice of the virus went out.
    assert_eq!(
        value(
            &text,
            "mailwall_smtpfwdd_recipients_total{result=\"delivered\"}"
        ),
        g.delivered().len() as f64
    );
    assert_eq!(
        value(&text, "mailwall_queue_messages{queue=\"incoming\"}"),
        0.0
    );
    assert_eq!(
        value(&text, "mailwall_queue_messages{queue=\"quarantine\"}"),
        1.0
    );

    // clamd stops: the next mail waits, and the metrics say why.
    let mut clamd = g.clamd.take().unwrap();
    clamd.proc.signal(nix::sys::signal::Signal::SIGTERM);
    let _ = clamd.proc.wait_timeout(std::time::Duration::from_secs(10));
    assert_eq!(g.send("a@example.org", &["bob@example.com"], &virus), "OK");
    let o = g.scanmail();
    assert_eq!(o.status.code(), Some(75), "{o:?}");
    counted(5.0);
    let text = metrics(&g, &dir);
    assert_eq!(value(&text, "mailwall_clamd_up"), 0.0);
    assert_eq!(
        value(&text, "mailwall_queue_messages{queue=\"incoming\"}"),
        1.0
    );
    assert_eq!(
        value(&text, "mailwall_scanmail_scanner_failures_total"),
        1.0
    );
    assert_eq!(value(&text, "mailwall_smtpd_messages_received_total"), 5.0);
    assert_eq!(g.ids(Queue::Incoming).len(), 1);
}
