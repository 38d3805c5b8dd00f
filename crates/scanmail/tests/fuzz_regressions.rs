//! Inputs found by the libFuzzer targets (fuzz/fuzz_targets/), kept as ordinary tests so that
//! `tests/run` holds every one of them without cargo-fuzz.

use scanmail::container::{self, Body, Format, Limits};
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

/// fuzz target `containers`: a 143-byte cabinet on which the `cab` crate (0.6) indexes past its
/// folder table (`folder.rs:134`, index out of bounds) when a member is read. scanmail's cab reader
/// catches the panic: that member is unreadable (the message is judged on that), scanmail lives.
#[test]
fn cabinet_that_panics_the_cab_crate_is_unreadable() {
    let data =
        b"\x4d\x53\x43\x46\x00\x00\x00\x00\x8f\x00\x00\x00\x00\x00\x00\x00\x2c\x00\x00\x00\x00\x00\
      \x00\x00\x03\x01\x01\x00\x02\x00\x00\x00\x00\x00\x00\x00\x62\x00\x00\x00\x01\x00\x01\x00\
      \x64\x00\x00\x00\x00\x00\x00\x08\x00\x00\x72\x5d\xd4\x58\x20\x00\x72\x65\x61\x64\x6d\x65\
      \x2e\x74\x78\x28\x00\x1e\x00\x00\x00\x64\x00\x00\x00\x00\x00\x72\x5d\xd4\x58\x20\x00\x75\
      \x70\x64\x61\x74\x65\x2e\x65\x78\x65\x00\x5b\x94\xb9\x65\x25\x00\x82\x00\x43\x4b\xab\xa8\
      \xa0\x3d\xf0\x8d\x9a\xc0\xc0\xcc\xc0\xc0\xc0\x02\xc4\xff\xff\x33\x30\x04\xb8\x32\x30\x28\
      \x24\x2a\x14\x14\xe5\xa7\x17\x25\xe6\x02\x00";
    let lim = Limits {
        max_object_bytes: 1 << 20,
        budget: 4 << 20,
        max_members: 300,
    };
    let mut bodies = Vec::new();
    let st = testkit::fuzz::catch(|| {
        container::list(Format::Cab, data, &lim, &mut |m| {
            bodies.push(m.body);
            Ok(())
        })
    });
    assert!(st.is_ok(), "a panic escaped the cab reader");
    assert!(
        bodies.iter().any(|b| matches!(b, Body::Unreadable(_))),
        "{bodies:?}"
    );
}
