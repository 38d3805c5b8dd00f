//! smtpfwdd's EXIT STATUS: the header lists every code smtpfwdd can return (spool::cli stops a
//! debug build on any other), and the rare ones really happen.

use testkit::spool::{store, Queue};
use testkit::TestSpool;

#[test]
fn exit_status_lists_every_code() {
    // 0 stopped or all done; 64 usage; 70 a bug; 71 ids or detaching; 74 I/O; 75 another
    // instance or mail left; 78 configuration (no relay among them).
    assert_eq!(
        spool::cli::header_codes(include_str!("../src/main.rs")),
        [0, 64, 70, 71, 74, 75, 78]
    );
}

#[test]
fn another_instance_is_75_and_a_usage_error_64() {
    let ts = TestSpool::new("hostname = \"gw.test\"\nadmin = \"admin@example.com\"\n");
    let held = store::take_program_lock(&ts.spool, Queue::Outgoing, "smtpfwdd").unwrap();
    ts.chown_all();
    let (code, log) = ts.exit_of("smtpfwdd", &["--once", "--relay", "127.0.0.1:1"]);
    assert_eq!(code, 75, "{log}");
    assert!(log.contains("already running"), "{log}");
    drop(held);

    let (code, log) = ts.exit_of("smtpfwdd", &["--once", "-M", "many"]);
    assert_eq!(code, 64, "{log}");
}
