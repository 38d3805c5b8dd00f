//! daysumm's EXIT STATUS: the header lists every code daysumm can return (spool::cli stops a
//! debug build on any other), and 78 really happens (64 is tested in daysumm.rs).

use testkit::TestSpool;

#[test]
fn exit_status_lists_every_code() {
    // 0 done; 64 usage or a bad --date; 70 a bug; 71 ids; 74 I/O; 78 configuration.
    assert_eq!(
        spool::cli::header_codes(include_str!("../src/main.rs")),
        [0, 64, 70, 71, 74, 78]
    );
}

#[test]
fn a_bad_configuration_is_78() {
    let ts = TestSpool::new("no_such_key = 1\n");
    let out = ts.run("daysumm", &["--stdout"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{log}");
    assert!(log.contains("no_such_key"), "{log}");
}
