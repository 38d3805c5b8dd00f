//! Issue 14, smtpd's part: hostile clients against the real binary. SMTP smuggling (only
//! `<CR><LF>.<CR><LF>` ends DATA), relay tricks in addresses, addresses that look like command-line
//! options, non-ASCII addresses without SMTPUTF8, mail loops (too many `Received:`), and slow
//! clients (deadlines per command line, per DATA and per session; connections per client address).

mod common;

use common::*;
use testkit::TestSpool;

/// The dialogue up to the 354 of DATA.
fn open_data<R: std::io::Read, W: std::io::Write>(c: &mut Raw<R, W>) {
    assert_eq!(c.reply(), BANNER);
    assert!(c.cmd("EHLO provider.example.net").starts_with("250"));
    assert!(c
        .cmd("MAIL FROM:<customer@provider.example.net>")
        .starts_with("250"));
    assert!(c.cmd("RCPT TO:<bob@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
}

#[test]
fn smuggled_transaction_after_a_bare_lf_end_of_data_is_data() {
    for spelling in ["\n.\n", "\r\n.\n", "\n.\r\n"] {
        let ts = TestSpool::new(&conf(""));
        let d = Daemon::start(&ts, &[]);
        let mut c = d.connect();
        open_data(&mut c);
        // What an outbound provider that passes bare LFs relays from its customer, in one write.
        let data = format!(
            "Subject: hello\r\n\r\nfirst{spelling}MAIL FROM:<ceo@example.com>\r\n\
             RCPT TO:<victim@example.com>\r\nDATA\r\nSubject: forged\r\n\r\nPay now.\r\n.\r\n"
        );
        c.send(data.as_bytes());
        let r = c.reply();
        assert!(
            r.starts_with("250 2.0.0 Ok: queued as"),
            "{spelling:?}: {r}"
        );
        let r = c.cmd("QUIT");
        assert!(
            r.starts_with("221"),
            "{spelling:?}: a smuggled command was answered: {r}"
        );
        let m = wait_messages(&ts, 1);
        let (env, _, body) = split_stored(&m[0]);
        assert_eq!(
            env, "FROM <customer@provider.example.net>\nRCPT <bob@example.com>\nBODY\n",
            "{spelling:?}"
        );
        // Every line end is stored as LF; the would-be end-of-data line is an (unstuffed) line.
        assert_eq!(
            String::from_utf8_lossy(&body),
            "Subject: hello\n\nfirst\n\nMAIL FROM:<ceo@example.com>\nRCPT TO:<victim@example.com>\n\
             DATA\nSubject: forged\n\nPay now.\n",
            "{spelling:?}"
        );
    }
}

#[test]
fn bare_cr_is_stored_as_a_line_end_and_never_ends_data() {
    let ts = TestSpool::new(&conf(""));
    let (_p, mut c) = inetd(&ts, &[]);
    open_data(&mut c);
    c.send(b"Subject: cr\r\n\r\none\rtwo\r.\r\nthree\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0 Ok: queued as"));
    assert!(c.cmd("QUIT").starts_with("221"));
    let m = wait_messages(&ts, 1);
    let body = split_stored(&m[0]).2;
    assert_eq!(
        String::from_utf8_lossy(&body),
        "Subject: cr\n\none\ntwo\n\nthree\n"
    );
}
