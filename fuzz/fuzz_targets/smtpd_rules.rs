//! smtpd's rules file (`etc/smtpd_check_rules`, `spool::rules::Rules::parse`): any text, then the
//! parsed rules asked about a few clients and addresses. A refusing verdict's reply must start
//! with a 4xx or 5xx code (a broken template falls back to the default reply).
//!
//! The input's last line, when it holds a TAB, is also taken as `pattern TAB string` for the
//! rules' glob, checked against a slow, obviously right matcher.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spool::rules::{glob, Client, Rules};
use testkit::fuzz::glob_reference;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some((p, s)) = text.lines().last().and_then(|l| l.split_once('\t')) {
        let (p, s) = (p.as_bytes(), s.as_bytes());
        if p.len() <= 64 && s.len() <= 64 {
            assert_eq!(glob(p, s), glob_reference(p, s), "glob({p:?}, {s:?})");
        }
    }
    let Ok(rules) = Rules::parse(&text, "fuzz") else {
        return;
    };
    let clients = [
        Client::default(),
        Client {
            name: Some("mail.partner.org".into()),
            ip: Some("192.0.2.7".parse().unwrap()),
        },
        Client {
            name: None,
            ip: Some("2001:db8::25".parse().unwrap()),
        },
    ];
    let addrs = [
        "<>",
        "<alice@example.com>",
        "<a%b@elsewhere.org>",
        "<x!y@spam.example>",
        "postmaster",
        "<\"john smith\"@[192.0.2.1]>",
    ];
    let mut debug = Vec::new();
    for c in &clients {
        for from in &addrs {
            for to in &addrs[1..] {
                if let Some(v) = rules.check(c, from, to, &mut debug) {
                    let b = v.reply.as_bytes();
                    assert!(
                        b.len() >= 3
                            && (b[0] == b'4' || b[0] == b'5')
                            && b[1].is_ascii_digit()
                            && b[2].is_ascii_digit(),
                        "verdict reply {:?}",
                        v.reply
                    );
                    assert!(v.line >= 1);
                }
            }
        }
    }
});
