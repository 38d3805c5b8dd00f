//! scanmail's clamd reply parser (`scanmail::scan::clamd::parse_reply`). Fail closed: only the
//! exact `stream: OK` (INSTREAM) or `fd[N]: OK` (FILDES, N digits) is clean, and a virus name
//! never holds a control character.
//!
//! A CR in a virus name was accepted (found by this target; fixed on main, kept as the test
//! `virus_name_with_a_control_character_is_an_error` in crates/scanmail/tests/fuzz_regressions.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanmail::scan::clamd::{parse_reply, Reply};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_reply(&text) {
        Reply::Clean => {
            let t = text.trim_end_matches(['\0', '\n', '\r']).trim();
            let fd = t
                .strip_prefix("fd[")
                .and_then(|r| r.split_once("]:"))
                .and_then(|(n, rest)| {
                    (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit())).then_some(rest)
                });
            let rest = t.strip_prefix("stream:").or(fd).map(str::trim);
            assert_eq!(rest, Some("OK"), "clean for {text:?}");
        }
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
