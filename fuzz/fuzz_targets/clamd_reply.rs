//! scanmail's clamd reply parsers (`scanmail::scan::clamd::parse_reply`, and
//! `parse_session_reply` for replies in a session). Fail closed: only the exact `stream: OK`
//! (INSTREAM) or `fd[N]: OK` (FILDES, N digits) is clean, in a session only after the number of
//! the command asked (`<n>: `), and a virus name never holds a control character.
//!
//! A CR in a virus name was accepted (found by this target; fixed on main, kept as the test
//! `virus_name_with_a_control_character_is_an_error` in crates/scanmail/tests/fuzz_regressions.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanmail::scan::clamd::{parse_reply, parse_session_reply, Reply};

/// The oracle, written apart from the parser: is this reply line "clean"?
fn says_clean(text: &str) -> bool {
    let t = text.trim_end_matches(['\0', '\n', '\r']).trim();
    let fd = t
        .strip_prefix("fd[")
        .and_then(|r| r.split_once("]:"))
        .and_then(|(n, rest)| {
            (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit())).then_some(rest)
        });
    t.strip_prefix("stream:").or(fd).map(str::trim) == Some("OK")
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // In a session: the command number asked is 1, 2, or one taken from the input's length.
    for want in [1, 2, data.len() as u64 % 100] {
        match parse_session_reply(&text, want) {
            Some(Reply::Clean) => {
                let (n, rest) = text.split_once(": ").expect("a numbered reply");
                assert!(n.chars().all(|c| c.is_ascii_digit()), "number {n:?}");
                assert_eq!(
                    n.parse::<u64>().ok(),
                    Some(want),
                    "clean for another command: {text:?}"
                );
                assert!(says_clean(rest), "clean in a session for {text:?}");
            }
            Some(Reply::Virus(name)) => {
                assert!(
                    !name.is_empty() && !name.chars().any(char::is_control),
                    "{name:?}"
                );
                assert!(text.contains(" FOUND"), "virus without FOUND: {text:?}");
            }
            Some(other) => panic!("a session verdict that is neither clean nor a virus: {other:?}"),
            None => {}
        }
    }
    match parse_reply(&text) {
        Reply::Clean => assert!(says_clean(&text), "clean for {text:?}"),
        Reply::Virus(name) => {
            assert!(!name.is_empty(), "empty virus name for {text:?}");
            assert!(!name.chars().any(char::is_control), "virus name {name:?}");
            assert!(text.contains(" FOUND"), "virus without FOUND: {text:?}");
        }
        Reply::Error(e) => assert!(!e.is_empty()),
        // Only the transport says this; a reply line never does.
        Reply::Failed(e) => panic!("a reply line taken for no answer: {e}"),
    }
});
