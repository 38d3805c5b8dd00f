//! Issue 6, the bounded soak: about 5,000 messages through the whole flow from parallel clients,
//! while a random daemon is killed with SIGKILL every few seconds and started again. Prints sent,
//! acknowledged, delivered, quarantined, lost (must be 0), delivered unscanned (must be 0) and
//! duplicates. `SOAK_MESSAGES=N` changes the count for local runs (CI runs the default).
#![allow(clippy::too_many_lines)] // a test reads best as one story

mod common;

use common::*;
use nix::sys::signal::Signal;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::spool::Queue;
use testkit::*;

const CLIENT: &str = r#"
import smtplib, sys, time
port, first, count, eicar = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode()
def msg(n):
    body = b"body %d\r\n" % n
    if n % 100 == 7:
        body = b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/msword; name=x.doc\r\nContent-Disposition: attachment; filename=x.doc\r\n\r\n" + eicar + b"\r\n--b--\r\n"
        return b"From: s@example.org\r\nSubject: soak-%d\r\n" % n + body
    return b"From: s@example.org\r\nSubject: soak-%d\r\n\r\n" % n + body
s = None
for n in range(first, first + count):
    for attempt in range(200):
        try:
            if s is None:
                s = smtplib.SMTP("127.0.0.1", port, timeout=30)
            print("SENT %d" % n, flush=True)
            s.sendmail("s@example.org", ["bob@example.com"], msg(n))
            print("ACK %d" % n, flush=True)
            break
        except Exception as e:
            print("ERR %d %r" % (n, e), flush=True)
            try:
                s.close()
            except Exception:
                pass
            s = None
            time.sleep(0.1)
if s is not None:
    try:
        s.quit()
    except Exception:
        pass
"#;

struct Daemons {
    scanmail: Option<Proc>,
    smtpfwdd: Option<Proc>,
}

fn start_scanmail(g: &Gateway) -> Proc {
    Proc::spawn(
        "scanmail",
        g.ts.command("scanmail", &["--watch"]).stderr(Stdio::null()),
    )
}

fn start_smtpfwdd(g: &Gateway) -> Proc {
    Proc::spawn(
        "smtpfwdd",
        g.ts.command("smtpfwdd", &["--foreground", "--retry-base-secs", "1"])
            .stderr(Stdio::null()),
    )
}

#[test]
fn soak_with_random_kills_loses_nothing() {
    let total: usize = std::env::var("SOAK_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let clients = 10;
    let mut g = Gateway::start();
    let g_port = g.smtp_port;
    let mut d = Daemons {
        scanmail: Some(start_scanmail(&g)),
        smtpfwdd: Some(start_smtpfwdd(&g)),
    };
    let eicar = String::from_utf8(EICAR.to_vec()).unwrap();
    let sent = Arc::new(Mutex::new(HashSet::new()));
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let errors: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let per = total / clients;
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (sent, acked, eicar, errors) =
                (sent.clone(), acked.clone(), eicar.clone(), errors.clone());
            std::thread::spawn(move || {
                let mut p = Command::new(PYTHON)
                    .arg("-c")
                    .arg(CLIENT)
                    .arg(g_port.to_string())
                    .arg((c * per).to_string())
                    .arg(per.to_string())
                    .arg(&eicar)
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                for line in BufReader::new(p.stdout.take().unwrap()).lines() {
                    let line = line.unwrap();
                    if let Some(n) = line.strip_prefix("SENT ") {
                        sent.lock().unwrap().insert(n.parse::<usize>().unwrap());
                    } else if let Some(n) = line.strip_prefix("ACK ") {
                        acked.lock().unwrap().insert(n.parse::<usize>().unwrap());
                    } else if line.starts_with("ERR ") {
                        errors.lock().unwrap().push(line);
                    }
                }
                p.wait().unwrap();
            })
        })
        .collect();

    // The killer: every 0.7-2 s one daemon gets SIGKILL and is started again.
    let stop = Arc::new(AtomicBool::new(false));
    let mut kills = HashMap::new();
    let mut seed = 0x9e37_79b9u32;
    while handles.iter().any(|h| !h.is_finished()) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        std::thread::sleep(Duration::from_millis(700 + u64::from(seed % 1300)));
        // The first victim is smtpd, so every run restarts it at least once.
        let victim = if kills.is_empty() {
            "smtpd"
        } else {
            ["smtpd", "scanmail", "smtpfwdd"][(seed % 3) as usize]
        };
        *kills.entry(victim).or_insert(0) += 1;
        match victim {
            "smtpd" => {
                if let Some(mut s) = g.smtpd.take() {
                    s.kill9();
                }
                // Same port again, so the clients find it.
                g.smtpd = Some(testkit::smtpd::Daemon::start_on(&g.ts, g_port, &[]));
            }
            "scanmail" => {
                if let Some(p) = d.scanmail.take() {
                    p.signal(Signal::SIGKILL);
                }
                d.scanmail = Some(start_scanmail(&g));
            }
            _ => {
                if let Some(p) = d.smtpfwdd.take() {
                    p.signal(Signal::SIGKILL);
                }
                d.smtpfwdd = Some(start_smtpfwdd(&g));
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(1500),
            "soak took too long"
        );
    }
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().unwrap();
    }
    // Drain: nothing left in incoming or outgoing.
    let drained = wait_for(Duration::from_secs(300), || {
        (g.ids(Queue::Incoming).is_empty() && g.ids(Queue::Outgoing).is_empty()).then_some(())
    });

    let acked = acked.lock().unwrap().clone();
    let sent = sent.lock().unwrap().clone();
    let mut delivered: HashMap<usize, usize> = HashMap::new();
    let mut unscanned = 0;
    for m in g.relay.messages() {
        let t = String::from_utf8_lossy(&m.data).into_owned();
        if let Some(n) = t
            .lines()
            .find_map(|l| l.strip_prefix("Subject: soak-"))
            .and_then(|n| n.trim().parse::<usize>().ok())
        {
            *delivered.entry(n).or_insert(0) += 1;
            if t.contains("EICAR-STANDARD") {
                unscanned += 1;
            }
        }
    }
    let mut quarantined = HashSet::new();
    for id in g.ids(Queue::Quarantine) {
        let p = g.ts.spool.message(Queue::Quarantine, &id.parse().unwrap());
        let t = String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
        if let Some(n) = t
            .lines()
            .find_map(|l| l.strip_prefix("Subject: soak-"))
            .and_then(|n| n.trim().parse::<usize>().ok())
        {
            quarantined.insert(n);
        }
    }
    let lost: Vec<_> = acked
        .iter()
        .filter(|n| !delivered.contains_key(n) && !quarantined.contains(n))
        .collect();
    let dups: usize = delivered.values().map(|c| c - 1).sum();
    println!(
        "soak: sent {} acknowledged {} delivered {} quarantined {} lost {} delivered-unscanned {} duplicates {} kills {:?} in {:.0?}",
        sent.len(),
        acked.len(),
        delivered.len(),
        quarantined.len(),
        lost.len(),
        unscanned,
        dups,
        kills,
        started.elapsed()
    );
    let errors = errors.lock().unwrap().clone();
    let never: Vec<_> = sent.iter().filter(|n| !acked.contains(n)).collect();
    println!(
        "soak: {} client errors (retried); never acknowledged: {never:?}; last errors: {:?}",
        errors.len(),
        &errors[errors.len().saturating_sub(5)..]
    );
    assert!(drained.is_some(), "queues drained");
    assert_eq!(
        acked.len(),
        per * clients,
        "every message was acknowledged in the end"
    );
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert_eq!(unscanned, 0);
    assert!(
        quarantined.iter().all(|n| n % 100 == 7),
        "only infected mail quarantined"
    );
    drop(d);
}
