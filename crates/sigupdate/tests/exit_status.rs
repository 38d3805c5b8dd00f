//! sigupdate's EXIT STATUS: the header lists every code sigupdate can return (spool::cli stops
//! a debug build on any other); 0, 1, 69, 75 and 78 are tested in sigupdate.rs.

use std::process::Command;

#[test]
fn exit_status_lists_every_code() {
    // 0 fresh; 1 stale or missing; 64 usage; 69 clamd silent; 70 a bug; 71 ids; 74 I/O;
    // 75 update failed, still fresh; 78 configuration.
    assert_eq!(
        spool::cli::header_codes(include_str!("../src/main.rs")),
        [0, 1, 64, 69, 70, 71, 74, 75, 78]
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sigupdate"))
        .arg("--no-such-option")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}
