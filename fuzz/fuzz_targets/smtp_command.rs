//! smtpd's command and address parser (`smtpd::session::parse_command`) on one command line.
//!
//! Whatever it accepts must be something the spool format can hold: a path in angle brackets of
//! at most 256 bytes, without control characters or inner brackets, that `Envelope::validate`
//! takes; no `RCPT TO:<>`; a HELO name of 1-255 bytes without controls. Whatever it refuses is a
//! complete `4xx`/`5xx` reply line.
//!
//! The same bytes go to the address parser alone (`smtpd::address::parse`, the text between the
//! brackets): its normal form must be a fixed point (parsing it again gives the same mailbox and
//! the same normal form) without control characters, that the spool format can hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpd::address;
use smtpd::session::{parse_command, Command};
use spool::Envelope;

fn check_path(p: &str) {
    let inner = p
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or_else(|| panic!("path without brackets: {p:?}"));
    assert!(inner.len() <= 256, "path of {} bytes", inner.len());
    assert!(
        !inner
            .chars()
            .any(|c| c.is_control() || c == '<' || c == '>'),
        "path with a control character or bracket: {p:?}"
    );
    if let Err(e) = Envelope::new(p, [p.to_string()]).validate() {
        panic!("accepted a path the spool refuses: {p:?}: {e}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(inner) = std::str::from_utf8(data) {
        if !inner.is_empty() {
            if let Ok(m) = address::parse(inner) {
                let normal = m.normal();
                let again = address::parse(&normal)
                    .unwrap_or_else(|e| panic!("normal form {normal:?} of {inner:?} refused: {e}"));
                assert_eq!(again, m, "normal form {normal:?} of {inner:?}");
                assert_eq!(again.normal(), normal);
                // A quoted local part may hold `<` and `>` (RFC 5321 qtextSMTP): only what the
                // spool refuses is wrong here; brackets are parse_command's check, above.
                assert!(
                    !normal.chars().any(char::is_control),
                    "control in {normal:?}"
                );
                let p = format!("<{normal}>");
                if let Err(e) = Envelope::new(&p, [p.clone()]).validate() {
                    panic!("normal form the spool refuses: {p:?}: {e}");
                }
            }
        }
    }
    // The session refuses longer lines (500) before it parses them; CR LF are the line's end.
    let line = &data[..data.len().min(510)];
    if line.contains(&b'\n') {
        return;
    }
    match parse_command(line) {
        Ok(Command::Mail { from, .. }) => check_path(&from),
        Ok(Command::Rcpt { to }) => {
            assert_ne!(to, "<>", "RCPT TO:<> accepted");
            check_path(&to)
        }
        Ok(Command::Helo(n) | Command::Ehlo(n)) => assert!(
            !n.is_empty() && n.len() <= 255 && !n.chars().any(|c| c.is_control()),
            "HELO name accepted: {n:?}"
        ),
        Ok(_) => {}
        Err(reply) => {
            let b = reply.as_bytes();
            assert!(
                b.len() >= 4
                    && (b'4'..=b'5').contains(&b[0])
                    && b[1].is_ascii_digit()
                    && b[2].is_ascii_digit()
                    && b[3] == b' '
                    && !reply.contains(['\r', '\n']),
                "error reply {reply:?}"
            );
        }
    }
});
