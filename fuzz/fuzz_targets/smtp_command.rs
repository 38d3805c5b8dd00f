//! smtpd's command and address parser (`smtpd::session::parse_command`) on one command line.
//!
//! Whatever it accepts must be something the spool format can hold: a path in angle brackets of
//! at most 256 bytes, without control characters or inner brackets, that `Envelope::validate`
//! takes; no `RCPT TO:<>`; a HELO name of 1-255 bytes without controls. Whatever it refuses is a
//! complete `4xx`/`5xx` reply line.
#![no_main]

use libfuzzer_sys::fuzz_target;
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
