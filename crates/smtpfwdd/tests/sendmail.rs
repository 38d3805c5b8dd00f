//! `-s PROG`: delivery through a sendmail-compatible program, one fake program per exit code.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use testkit::spool::Queue;
use testkit::TestSpool;

/// A fake sendmail that records its arguments and stdin, then exits with the code in `code`.
fn fake_sendmail(dir: &Path) -> PathBuf {
    let p = dir.join("sendmail");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nd={d}\nn=$(ls $d | grep -c '^args') \necho \"$@\" > $d/args.$n\ncat > $d/stdin.$n\nexit $(cat $d/code)\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

fn clear(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if n.starts_with("args") || n.starts_with("stdin") {
            std::fs::remove_file(p).unwrap();
        }
    }
}

#[test]
fn every_exit_code() {
    let ts = TestSpool::new(&Conf::forward("127.0.0.1:1"));
    let dir = ts.scratch("sm");
    let prog = fake_sendmail(&dir);
    let prog = prog.to_str().unwrap();
    let outgoing_dir = ts.spool.queue(Queue::Outgoing);
    let d = outgoing_dir.to_str().unwrap();
    let body = b"Subject: via sendmail\n\n.\nbody\n";
    for (code, expect) in [
        (0, "delivered"),
        (75, "kept"),
        (69, "kept"),
        (71, "kept"),
        (72, "kept"),
        (74, "kept"),
        (67, "bounced"),
        (1, "bounced"),
        (64, "bounced"),
    ] {
        clear(&dir);
        for id in outgoing(&ts) {
            std::fs::remove_file(ts.spool.queue(Queue::Outgoing).join(&id)).unwrap();
        }
        std::fs::write(dir.join("code"), code.to_string()).unwrap();
        ts.chown_all();
        let id = ts.inject(Queue::Outgoing, SENDER, &["<rcpt@example.com>"], body);
        // -d with the outgoing directory, as Obtuse smtpfwdd was started.
        let out = std::process::Command::new(bin())
            .env("GATEWAY_LOG", "stderr")
            .args(["-d", d, "-s", prog, "--once"])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            std::fs::read_to_string(dir.join("args.0")).unwrap().trim(),
            "-oi -f sender@example.org -- rcpt@example.com",
            "exit {code}"
        );
        assert_eq!(
            std::fs::read(dir.join("stdin.0")).unwrap(),
            body,
            "exit {code}"
        );
        match expect {
            "delivered" => {
                assert_eq!(out.status.code(), Some(0), "{log}");
                assert!(!exists(&ts, Queue::Outgoing, &id));
                assert!(outgoing(&ts).is_empty());
            }
            "kept" => {
                assert_eq!(out.status.code(), Some(75), "exit {code}: {log}");
                assert!(exists(&ts, Queue::Outgoing, &id), "exit {code}");
                assert!(state_file(&ts, &id).exists());
                std::fs::remove_file(state_file(&ts, &id)).unwrap();
            }
            _ => {
                assert_eq!(out.status.code(), Some(0), "exit {code}: {log}");
                assert!(!exists(&ts, Queue::Outgoing, &id), "exit {code}");
                let dsn = outgoing(&ts);
                assert_eq!(dsn.len(), 1, "exit {code}: one DSN");
                let text = read(&ts, Queue::Outgoing, &dsn[0]);
                let status = if code == 67 {
                    "Status: 5.1.1"
                } else {
                    "Status: 5.0.0"
                };
                assert!(text.contains(status), "exit {code}: {text}");
                assert!(
                    text.contains(&format!("exited with status {code}")),
                    "{text}"
                );
            }
        }
    }
}

#[test]
fn at_most_98_recipients_per_run() {
    let ts = TestSpool::new(&Conf::forward("127.0.0.1:1"));
    let dir = ts.scratch("sm");
    let prog = fake_sendmail(&dir);
    std::fs::write(dir.join("code"), "0").unwrap();
    ts.chown_all();
    let rcpts: Vec<String> = (0..100).map(|i| format!("<r{i}@example.com>")).collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let id = ts.inject(Queue::Outgoing, SENDER, &refs, b"Subject: many\n\nx\n");
    let (code, log) = once(&ts, &["-s", prog.to_str().unwrap()]);
    assert_eq!(code, 0, "{log}");
    assert!(!exists(&ts, Queue::Outgoing, &id));
    let a0 = std::fs::read_to_string(dir.join("args.0")).unwrap();
    let a1 = std::fs::read_to_string(dir.join("args.1")).unwrap();
    assert_eq!(a0.split_whitespace().count(), 4 + 98);
    assert_eq!(a1.split_whitespace().count(), 4 + 2);
    assert!(a1.contains("r99@example.com"));
    assert!(!dir.join("args.2").exists());
}

#[test]
fn addresses_that_look_like_options_stay_addresses() {
    // A sendmail that parses its options as sendmail does (getopts): a recipient taken for an
    // option (`-bs`: SMTP on stdin, `-C file`, ...) changes what the program does.
    let ts = TestSpool::new(&Conf::forward("127.0.0.1:1"));
    let dir = ts.scratch("sm");
    let p = dir.join("sendmail");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nwhile getopts o:f:b:C: opt; do echo \"option $opt $OPTARG\" >> {d}/parsed; done\n\
             shift $((OPTIND - 1))\nfor a in \"$@\"; do echo \"rcpt $a\" >> {d}/parsed; done\ncat >/dev/null\nexit 0\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    ts.chown_all();
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<-bs@example.com>", "<ok@example.com>"],
        b"Subject: options\n\nx\n",
    );
    let (code, log) = once(&ts, &["-s", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{log}");
    assert!(!exists(&ts, Queue::Outgoing, &id));
    let parsed = std::fs::read_to_string(dir.join("parsed")).unwrap();
    assert_eq!(
        parsed,
        "option o i\noption f sender@example.org\nrcpt -bs@example.com\nrcpt ok@example.com\n"
    );
}

#[test]
fn with_a_program_no_relay_is_needed() {
    // -s PROG delivers through the program: the missing relay is not a configuration error.
    let ts = TestSpool::new(
        "hostname = \"gw.test\"\nadmin = \"admin@example.com\"\ndomains = [\"example.com\"]\n",
    );
    let dir = ts.scratch("sm");
    let prog = fake_sendmail(&dir);
    std::fs::write(dir.join("code"), "0").unwrap();
    ts.chown_all();
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.com>"],
        b"Subject: s\n\nx\n",
    );
    let (code, log) = once(&ts, &["-s", prog.to_str().unwrap()]);
    assert_eq!(code, 0, "{log}");
    assert!(!exists(&ts, Queue::Outgoing, &id));
}
