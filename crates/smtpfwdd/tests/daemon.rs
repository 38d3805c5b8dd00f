//! The daemon: one instance per directory, relay down then up, SIGTERM lets deliveries in flight
//! finish, SIGHUP rereads the configuration.

mod common;
use common::*;
use nix::sys::signal::Signal;
use std::time::Duration;
use testkit::spool::Queue;
use testkit::{free_port, wait_for, Relay, TestSpool};

#[test]
fn second_instance_says_already_running() {
    let ts = TestSpool::new(&Conf::forward("127.0.0.1:1"));
    let mut d = daemon(&ts, &[]);
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 75, "{log}");
    assert!(log.contains("already running"), "{log}");
    d.signal(Signal::SIGTERM);
    let st = d
        .wait_timeout(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    assert_eq!(st.code(), Some(0));
    // The lock is free again.
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
}

#[test]
fn relay_down_then_up() {
    let ts = TestSpool::new("");
    let port = free_port();
    ts.write_conf(&Conf::forward(&format!("127.0.0.1:{port}")));
    let mut d = daemon(&ts, &[]);
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.com>"],
        b"Subject: later\n\nx\n",
    );
    let deferred = wait_for(Duration::from_secs(10), || {
        daemon_log(&ts).contains("status=deferred").then_some(())
    });
    assert!(deferred.is_some(), "{}", daemon_log(&ts));
    assert!(exists(&ts, Queue::Outgoing, &id));
    assert!(state_file(&ts, &id).exists());
    let r = Relay::start_on(&ts.scratch("relay"), port, &[]);
    let m = r.wait_messages(1, Duration::from_secs(20));
    assert_eq!(m.len(), 1, "{}", daemon_log(&ts));
    assert_eq!(m[0].data_lf(), b"Subject: later\n\nx\n");
    let gone = wait_for(Duration::from_secs(5), || {
        (!exists(&ts, Queue::Outgoing, &id)).then_some(())
    });
    assert!(gone.is_some());
    assert!(!state_file(&ts, &id).exists());
    d.signal(Signal::SIGTERM);
    assert_eq!(
        d.wait_timeout(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
    // Exactly once, even after more scans.
    assert_eq!(r.messages().len(), 1);
}

#[test]
fn sigterm_finishes_the_delivery_in_flight() {
    let ts = TestSpool::new(&Conf::forward("127.0.0.1:1"));
    let dir = ts.scratch("slow");
    let prog = dir.join("sendmail");
    std::fs::write(
        &prog,
        format!(
            "#!/bin/sh\ntouch {d}/started\ncat > {d}/stdin\nsleep 2\nexit 0\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    ts.chown_all();
    let mut d = daemon(&ts, &["-s", prog.to_str().unwrap()]);
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.com>"],
        b"Subject: slow\n\nx\n",
    );
    let started = wait_for(Duration::from_secs(10), || {
        dir.join("started").exists().then_some(())
    });
    assert!(started.is_some(), "{}", daemon_log(&ts));
    d.signal(Signal::SIGTERM);
    let st = d.wait_timeout(Duration::from_secs(15)).expect("exits");
    assert_eq!(st.code(), Some(0), "{}", daemon_log(&ts));
    // It waited for the program: delivered and removed, not cut off and not left half-done.
    assert!(!exists(&ts, Queue::Outgoing, &id), "{}", daemon_log(&ts));
    assert!(
        daemon_log(&ts).contains("status=sent"),
        "{}",
        daemon_log(&ts)
    );
}

#[test]
fn sighup_rereads_the_configuration() {
    let ts = TestSpool::new("");
    let a = Relay::start(&ts.scratch("a"), &[]);
    let b = Relay::start(&ts.scratch("b"), &[]);
    ts.write_conf(&Conf::forward(&a.addr()));
    let d = daemon(&ts, &[]);
    ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<one@example.com>"],
        b"Subject: 1\n\nx\n",
    );
    assert_eq!(a.wait_messages(1, Duration::from_secs(10)).len(), 1);
    ts.write_conf(&Conf::forward(&b.addr()));
    d.signal(Signal::SIGHUP);
    let reread = wait_for(Duration::from_secs(10), || {
        daemon_log(&ts)
            .contains("configuration reread")
            .then_some(())
    });
    assert!(reread.is_some(), "{}", daemon_log(&ts));
    ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<two@example.com>"],
        b"Subject: 2\n\nx\n",
    );
    assert_eq!(b.wait_messages(1, Duration::from_secs(10)).len(), 1);
    assert_eq!(a.messages().len(), 1);
}

/// The daemon with a poll of 60 s (so that only inotify can explain a prompt delivery), once its
/// first scan is over: what arrives next is new to it.
fn daemon_polling_each_minute(ts: &TestSpool) -> testkit::Proc {
    let log = std::fs::File::create(ts.dir.path().join("daemon.log")).unwrap();
    let d = testkit::Proc::spawn(
        "smtpfwdd",
        command(ts, &["--foreground", "-P", "60"]).stderr(log),
    );
    let up = wait_for(Duration::from_secs(10), || {
        daemon_log(ts).contains("started").then_some(())
    });
    assert!(up.is_some(), "{}", daemon_log(ts));
    std::thread::sleep(Duration::from_millis(300));
    d
}

/// A message renamed into outgoing/ while its mover still holds its lock (scanmail keeps it
/// until the verdict is carried out, a moment after the rename) is tried again as soon as the
/// lock is free: not only by the next arrival or the poll (60 s here). The last message of a
/// burst used to wait for the poll whenever smtpfwdd woke up inside that moment.
#[test]
fn a_message_still_locked_by_its_mover_is_delivered_once_the_lock_is_free() {
    let ts = TestSpool::new("");
    let r = Relay::start(&ts.scratch("relay"), &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    let mut d = daemon_polling_each_minute(&ts);
    // As scanmail moves a clean message: locked in incoming/, renamed, unlocked after.
    let id = ts.inject(
        Queue::Incoming,
        SENDER,
        &["<a@example.com>"],
        b"Subject: held\n\nx\n",
    );
    let mid = testkit::spool::MessageId::parse(&id).unwrap();
    let from = ts.spool.message(Queue::Incoming, &mid);
    let held = std::fs::File::open(&from).unwrap();
    held.lock().unwrap();
    std::fs::rename(&from, ts.spool.message(Queue::Outgoing, &mid)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(r.messages().is_empty(), "delivered while locked");
    drop(held);
    let m = r.wait_messages(1, Duration::from_secs(10));
    assert_eq!(
        m.len(),
        1,
        "not delivered within 10 s of the lock's release: {}",
        daemon_log(&ts)
    );
    d.signal(Signal::SIGTERM);
    assert_eq!(
        d.wait_timeout(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
}

/// inotify: a message renamed into outgoing/ is delivered at once, not at the end of the poll
/// interval (60 s here), which stays as the safety net.
#[test]
fn a_new_message_is_delivered_without_waiting_for_the_poll() {
    let ts = TestSpool::new("");
    let r = Relay::start(&ts.scratch("relay"), &[]);
    ts.write_conf(&Conf::forward(&r.addr()));
    let mut d = daemon_polling_each_minute(&ts);
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.com>"],
        b"Subject: now\n\nx\n",
    );
    let m = r.wait_messages(1, Duration::from_secs(10));
    assert_eq!(m.len(), 1, "not delivered within 10 s: {}", daemon_log(&ts));
    let gone = wait_for(Duration::from_secs(5), || {
        (!exists(&ts, Queue::Outgoing, &id)).then_some(())
    });
    assert!(gone.is_some());
    d.signal(Signal::SIGTERM);
    assert_eq!(
        d.wait_timeout(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
}
