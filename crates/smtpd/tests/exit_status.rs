//! smtpd's EXIT STATUS: the header lists every code smtpd can return (spool::cli stops a debug
//! build on any other), and the rare ones really happen.

use std::net::TcpListener;
use testkit::TestSpool;

#[test]
fn exit_status_lists_every_code() {
    // 0 session or shutdown; 64 clap, -c/--spool, -d; 69 bind; 70 a bug; 71 ids, chroot, switch;
    // 73 the pid file; 74 I/O; 78 configuration, rules, certificate, spool owner.
    assert_eq!(
        spool::cli::header_codes(include_str!("../src/main.rs")),
        [0, 64, 69, 70, 71, 73, 74, 78]
    );
}

#[test]
fn usage_configuration_bind_and_pid_file_failures_have_their_codes() {
    let ts = TestSpool::new("hostname = \"gw.test\"\ndomains = [\"example.com\"]\n");
    let (code, log) = ts.exit_of("smtpd", &["-d", "outgoing"]);
    assert_eq!(code, 64, "{log}");
    assert!(
        log.contains("only into the spool's incoming queue"),
        "{log}"
    );

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, log) = ts.exit_of("smtpd", &["-D", "-l", "127.0.0.1", "-p", &port]);
    assert_eq!(code, 69, "{log}");
    assert!(log.contains("cannot listen on"), "{log}");
    drop(taken);

    let port = testkit::free_port().to_string();
    let pid = ts.dir.path().join("no-such-dir").join("smtpd.pid");
    let pid = pid.to_str().unwrap();
    let (code, log) = ts.exit_of("smtpd", &["-D", "-l", "127.0.0.1", "-p", &port, "-i", pid]);
    assert_eq!(code, 73, "{log}");
    assert!(log.contains("smtpd.pid"), "{log}");

    ts.write_conf("no_such_key = 1\n");
    let (code, log) = ts.exit_of("smtpd", &[]);
    assert_eq!(code, 78, "{log}");
    assert!(log.contains("no_such_key"), "{log}");
}
