//! scanmail's EXIT STATUS: the header lists every code scanmail can return (spool::cli stops a
//! debug build on any other), and the quarantine tools' rare ones really happen.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use testkit::spool::Queue;
use testkit::TestSpool;

#[test]
fn exit_status_lists_every_code() {
    // 0 judged or done; 64 usage, a bad id or --to; 65 --release of a file not in the spool
    // format; 69 no such message; 70 a bug; 71 ids; 73 --release onto an id outgoing/ holds;
    // 74 I/O; 75 retry or a busy message; 78 configuration, scanner, patterns.
    assert_eq!(
        spool::cli::header_codes(include_str!("../src/main.rs")),
        [0, 64, 65, 69, 70, 71, 73, 74, 75, 78]
    );
}

#[test]
fn quarantine_tools_exit_64_65_69_73_and_a_bad_configuration_78() {
    let ts = TestSpool::new("hostname = \"gw.test\"\nadmin = \"admin@example.com\"\n");
    let (code, log) = ts.exit_of("scanmail", &["--show", "not-an-id"]);
    assert_eq!(code, 64, "{log}");
    let (code, log) = ts.exit_of("scanmail", &["--show", "smtpdAAAAAA"]);
    assert_eq!(code, 69, "{log}");

    // Outgoing already holds the id: the release refuses to overwrite it.
    let id = ts.inject(
        Queue::Quarantine,
        "<a@example.org>",
        &["<b@example.com>"],
        b"Subject: x\n\nx\n",
    );
    let q = ts.root().join("quarantine").join(&id);
    fs::copy(&q, ts.root().join("outgoing").join(&id)).unwrap();
    ts.chown_all();
    let (code, log) = ts.exit_of("scanmail", &["--release", &id]);
    assert_eq!(code, 73, "{log}");
    assert!(q.exists(), "the message stays in quarantine");

    // A quarantined file that is not in the spool format.
    let bad = ts.root().join("quarantine").join("smtpdBADBAD");
    fs::write(&bad, b"not an envelope\n").unwrap();
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o750)).unwrap();
    ts.chown_all();
    let (code, log) = ts.exit_of("scanmail", &["--release", "smtpdBADBAD"]);
    assert_eq!(code, 65, "{log}");
    assert!(bad.exists(), "the file stays in quarantine");

    ts.write_conf("no_such_key = 1\n");
    let (code, log) = ts.exit_of("scanmail", &[]);
    assert_eq!(code, 78, "{log}");
}
