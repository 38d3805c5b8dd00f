//! `mailwall conf` and `mailwall ping` with the real binary: the effective values of a written
//! gateway.conf (install.sh reads them with it), and PING to a real clamd and to a dead socket.

use std::process::{Command, Output};
use testkit::{Clamd, TestSpool};

fn mailwall(spool: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailwall"))
        .arg("--spool")
        .arg(spool)
        .args(args)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn conf_prints_set_values_defaults_and_lists_one_a_line() {
    let ts = TestSpool::new(
        "domains = [\"example.com\", \"example.org\"]\n\
         [forward]\nrelay = \"mail.internal:2525\"\ndeliver_to_mx = true\n",
    );
    let o = mailwall(
        ts.root(),
        &[
            "conf",
            "forward.relay",
            "domains",
            "scan.clamd_socket",
            "forward.deliver_to_mx",
            "scan.x_virus_scanned",
        ],
    );
    assert_eq!(code(&o), 0, "{o:?}");
    let default_socket = spool::Config::default().scan.clamd_socket;
    let default_header = spool::Config::default().scan.x_virus_scanned;
    assert_eq!(
        stdout(&o),
        format!(
            "mail.internal:2525\nexample.com example.org\n{default_socket}\ntrue\n{default_header}\n"
        )
    );

    // No key: the whole effective configuration, TOML the programs read back as the same.
    let o = mailwall(ts.root(), &["conf"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let all: spool::Config = toml::from_str(&stdout(&o)).unwrap();
    assert_eq!(all, spool::Config::for_spool(&ts.spool, None).unwrap());
    assert_eq!(all.forward.relay, "mail.internal:2525");
}

#[test]
fn conf_refuses_an_unknown_key_with_64_and_prints_nothing() {
    let ts = TestSpool::new("[forward]\nrelay = \"mail.internal:25\"\n");
    for key in ["forward.relais", "relay", "domains.first"] {
        let o = mailwall(ts.root(), &["conf", "forward.relay", key]);
        assert_eq!(code(&o), 64, "{key}: {o:?}");
        assert_eq!(stdout(&o), "", "{key}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&format!("no key \"{key}\"")), "{err}");
    }
}

#[test]
fn conf_before_init_prints_the_defaults() {
    // install.sh asks for forward.relay before `mailwall init` made the tree.
    let t = tempfile::tempdir().unwrap();
    let o = mailwall(
        &t.path().join("none"),
        &["conf", "forward.deliver_to_mx", "domains"],
    );
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(stdout(&o), "false\n\n");
}

#[test]
fn ping_a_real_clamd_answers_0_and_a_dead_socket_69() {
    let clamd = Clamd::start();
    let sock = clamd.socket.to_str().unwrap().to_string();
    let ts = TestSpool::new(&format!("[scan]\nclamd_socket = {sock:?}\n"));

    let o = mailwall(ts.root(), &["ping"]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(stdout(&o), format!("{sock}: PONG\n"));

    let dead = ts.dir.path().join("dead.sock");
    let dead = dead.to_str().unwrap();
    let o = mailwall(ts.root(), &["ping", "--socket", dead]);
    assert_eq!(code(&o), 69, "{o:?}");
    assert!(stdout(&o).starts_with(&format!("{dead}: ")), "{o:?}");
    assert!(!stdout(&o).contains("PONG"), "{o:?}");

    // A pool: every endpoint must answer.
    let o = mailwall(ts.root(), &["ping", "--socket", &format!("{sock}, {dead}")]);
    assert_eq!(code(&o), 69, "{o:?}");
    assert!(
        stdout(&o).starts_with(&format!("{sock}: PONG\n{dead}: ")),
        "{o:?}"
    );
}
