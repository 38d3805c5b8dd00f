//! Inputs found by the libFuzzer targets (fuzz/fuzz_targets/), kept as ordinary tests so that
//! `tests/run` holds every one of them without cargo-fuzz.

use scanmail::scan::clamd::{parse_reply, Reply};

/// fuzz target `clamd_reply`: a virus name holding a CR was taken as a virus name. The name goes
/// into log lines, the admin's alert and the sender's notice, so a control character in it must
/// make the reply an error (the message waits), as a NUL or a LF already does.
#[test]
fn virus_name_with_a_control_character_is_an_error() {
    let found = b"stream: Heurissc ti.Limd.\raxFileSize FOUND\0";
    let reply = parse_reply(&String::from_utf8_lossy(found));
    assert!(
        matches!(reply, Reply::Error(_)),
        "CR in a virus name: {reply:?}"
    );
    for c in ['\r', '\x1b', '\x7f', '\t'] {
        let r = parse_reply(&format!("stream: Win.Test{c}Evil FOUND\0"));
        assert!(matches!(r, Reply::Error(_)), "{c:?} in a virus name: {r:?}");
    }
}
