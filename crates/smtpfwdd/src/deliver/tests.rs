//! The rules of [`classify`](super::classify) and [`decide`](super::decide) against every
//! kind of reply, age and sender.

use super::*;
use crate::smtp_client::{Reply, Transaction};

fn reply(code: u16) -> Reply {
    Reply {
        code,
        lines: vec![format!("{}.0.0 text", code / 100)],
    }
}

/// What one try produced: every RCPT reply and the reply to the final dot, or an error of
/// the whole transaction.
enum Try {
    Replies(&'static [u16], Option<u16>),
    Error(fn() -> SmtpError),
}

fn results(t: &Try, n: usize) -> Vec<RcptResult> {
    let rcpts: Vec<String> = (0..n).map(|i| format!("<r{i}@example.com>")).collect();
    match t {
        Try::Replies(r, d) => {
            let tx = Transaction {
                rcpt: r.iter().map(|&c| reply(c)).collect(),
                data: d.map(reply),
            };
            results_of(&tx, &rcpts, "relay[127.0.0.1:25]")
        }
        Try::Error(e) => vec![error_result(&e(), "relay"); n],
    }
}

/// (what the server said, recipients, age in seconds, from <>, due, fates, disposition)
type Row = (Try, usize, i64, bool, bool, &'static [Fate], Disposition);

#[test]
fn replies_age_and_sender_decide_keep_retry_bounce_quarantine_remove() {
    use Disposition::*;
    use Fate::*;
    const DAY: i64 = 86_400;
    let max_age = 5 * DAY as u64;
    let timeout = || SmtpError::Timeout { stage: "DATA" };
    let mail_550 = || SmtpError::Reply {
        stage: "MAIL",
        reply: reply(550),
    };
    let mail_451 = || SmtpError::Reply {
        stage: "MAIL",
        reply: reply(451),
    };
    let no_utf8 = || SmtpError::NeedsSmtpUtf8 {
        peer: "relay".into(),
    };
    let no_8bit = || SmtpError::Needs8BitMime {
        peer: "relay".into(),
    };
    // (what the server said, recipients, age in seconds, from <>, due) → fates, disposition
    #[rustfmt::skip]
    let table: &[Row] = &[
        (Try::Replies(&[250], Some(250)), 1, 0, false, true, &[Delivered], Remove { bounce: false }),
        (Try::Replies(&[250, 250], Some(250)), 2, 0, true, true, &[Delivered, Delivered], Remove { bounce: false }),
        (Try::Replies(&[250, 550], Some(250)), 2, 0, false, true, &[Delivered, Bounce], Remove { bounce: true }),
        (Try::Replies(&[250, 451], Some(250)), 2, 0, false, true, &[Delivered, Retry], RetryLater { bounce: false }),
        (Try::Replies(&[550, 451], None), 2, 0, false, true, &[Bounce, Retry], RetryLater { bounce: true }),
        (Try::Replies(&[250, 451], Some(250)), 2, 6 * DAY, false, true, &[Delivered, Expired], Remove { bounce: true }),
        (Try::Replies(&[451], None), 1, 5 * DAY, false, true, &[Retry], RetryLater { bounce: false }),
        (Try::Replies(&[451], None), 1, 5 * DAY + 1, false, true, &[Expired], Remove { bounce: true }),
        // A 3xx to RCPT is not acceptance, even when DATA ends with 250.
        (Try::Replies(&[250, 354], Some(250)), 2, 0, false, true, &[Delivered, Retry], RetryLater { bounce: false }),
        (Try::Replies(&[399], None), 1, 6 * DAY, false, true, &[Expired], Remove { bounce: true }),
        // The reply to the final dot decides for every accepted recipient.
        (Try::Replies(&[250, 250], Some(554)), 2, 0, false, true, &[Bounce, Bounce], Remove { bounce: true }),
        (Try::Replies(&[250, 250], Some(452)), 2, 0, false, true, &[Retry, Retry], RetryLater { bounce: false }),
        // Mail from <> is never bounced: quarantine; with others pending, only a copy for the
        // failed ones (the deferred recipient is tried again, not quarantined).
        (Try::Replies(&[550], None), 1, 0, true, true, &[Bounce], Quarantine),
        (Try::Replies(&[550, 451], None), 2, 0, true, true, &[Bounce, Retry], QuarantineFailed),
        (Try::Replies(&[451], None), 1, 6 * DAY, true, true, &[Expired], Quarantine),
        (Try::Replies(&[451], None), 1, 0, true, true, &[Retry], RetryLater { bounce: false }),
        // Errors of the whole transaction.
        (Try::Error(timeout), 2, 0, false, true, &[Retry, Retry], RetryLater { bounce: false }),
        (Try::Error(timeout), 1, 6 * DAY, false, true, &[Expired], Remove { bounce: true }),
        (Try::Error(mail_550), 1, 0, false, true, &[Bounce], Remove { bounce: true }),
        (Try::Error(mail_451), 1, 0, false, true, &[Retry], RetryLater { bounce: false }),
        (Try::Error(no_8bit), 1, 0, false, true, &[Bounce], Remove { bounce: true }),
        (Try::Error(no_utf8), 1, 0, false, true, &[Bounce], Remove { bounce: true }),
        // Not due: nothing is done, whatever else holds.
        (Try::Replies(&[550], None), 1, 6 * DAY, true, false, &[Bounce], Keep),
    ];
    for (n, (t, rcpts, age, null, due, want_fates, want)) in table.iter().enumerate() {
        let expired = is_expired(*age, max_age);
        let fates: Vec<Fate> = results(t, *rcpts)
            .iter()
            .map(|r| classify(r, "relay", "<r@example.com>", expired, max_age).0)
            .collect();
        assert_eq!(&fates[..], *want_fates, "row {n}: fates");
        assert_eq!(decide(*due, &fates, *null), *want, "row {n}: disposition");
    }
    assert!(table.len() > 20);
}

#[test]
fn classified_failures_carry_what_the_dsn_needs() {
    let r = error_result(
        &SmtpError::Needs8BitMime {
            peer: "mx[192.0.2.1:25]".into(),
        },
        "mx[192.0.2.1:25]",
    );
    let (f, c) = classify(&r, "mx", "<a@example.com>", false, 86_400);
    assert_eq!(f, Fate::Bounce);
    let fail = c.failure.unwrap();
    assert_eq!(fail.rcpt, "<a@example.com>");
    assert_eq!(fail.status, "5.6.3");
    let (f, c) = classify(
        &RcptResult::Transient("451 4.3.0 later".into()),
        "relay",
        "<b@example.com>",
        true,
        2 * 86_400,
    );
    assert_eq!(f, Fate::Expired);
    let fail = c.failure.unwrap();
    assert_eq!(fail.status, "4.3.0");
    assert!(
        fail.diagnostic.contains("expired after 2.0 days"),
        "{}",
        fail.diagnostic
    );
    assert_eq!(c.log.1, "expired");
}

/// How a try can end for a recipient, as the server (or the network) says it.
#[derive(Clone, Copy, Debug)]
enum Said {
    /// 250 to RCPT.
    Ok,
    /// 451 to RCPT.
    Later,
    /// 550 to RCPT.
    No,
}

/// The end of the transaction once the RCPTs are answered.
#[derive(Clone, Copy, Debug)]
enum End {
    /// The reply to the final dot (when a recipient was accepted).
    Dot(u16),
    /// The connection dropped before the body went (after RCPT, at DATA).
    LostBeforeData,
    /// The connection dropped while the body went, or before the reply to the dot: the server
    /// may hold the message (RFC 1047); kept and sent again rather than lost.
    LostAfterData,
}

fn lost(stage: &'static str) -> SmtpError {
    SmtpError::Io {
        stage,
        source: std::io::Error::from(std::io::ErrorKind::ConnectionReset),
    }
}

/// Every combination of per-recipient replies (250, 451, 550 for one to three recipients), every
/// end of the transaction (2xx, 4xx or 5xx to the dot, the connection lost before or after
/// DATA), expired or not, from `<>` or not: the disposition and where each recipient lands, with
/// the rules stated from the wire up (not through `fate_of`): never lose (every recipient is
/// sent, bounced, quarantined or kept), never send twice (a recipient is `SENT` only after a 2xx
/// to its RCPT and to the dot, and a `SENT` one is never kept for a retry), a bounce is never
/// bounced, a deferred recipient is never bounced or quarantined before it expires.
#[test]
fn every_reply_age_and_sender_never_loses_and_never_sends_twice() {
    const DAY: i64 = 86_400;
    let max_age = 5 * DAY as u64;
    let saids = [Said::Ok, Said::Later, Said::No];
    let ends = [
        End::Dot(250),
        End::Dot(452),
        End::Dot(554),
        End::LostBeforeData,
        End::LostAfterData,
    ];
    let mut cases = 0;
    for n in 1..=3usize {
        for combo in 0..3usize.pow(n as u32) {
            let said: Vec<Said> = (0..n)
                .map(|k| saids[combo / 3usize.pow(k as u32) % 3])
                .collect();
            for end in ends {
                for age in [0, 6 * DAY] {
                    for null in [false, true] {
                        check_case(&said, end, age, null, max_age);
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, (3 + 9 + 27) * 5 * 2 * 2);
}

fn check_case(said: &[Said], end: End, age: i64, null: bool, max_age: u64) {
    let n = said.len();
    let rcpts: Vec<String> = (0..n).map(|i| format!("<r{i}@example.com>")).collect();
    let accepted = said.iter().any(|s| matches!(s, Said::Ok));
    let code = |s: &Said| match s {
        Said::Ok => 250,
        Said::Later => 451,
        Said::No => 550,
    };
    let results = match end {
        // Without an accepted recipient no DATA is sent: only the RCPT replies count.
        _ if !accepted => {
            let tx = Transaction {
                rcpt: said.iter().map(|s| reply(code(s))).collect(),
                data: None,
            };
            results_of(&tx, &rcpts, "relay[127.0.0.1:25]")
        }
        End::Dot(d) => {
            let tx = Transaction {
                rcpt: said.iter().map(|s| reply(code(s))).collect(),
                data: Some(reply(d)),
            };
            results_of(&tx, &rcpts, "relay[127.0.0.1:25]")
        }
        End::LostBeforeData => vec![error_result(&lost("DATA"), "relay"); n],
        End::LostAfterData => vec![error_result(&lost("end of data"), "relay"); n],
    };
    let expired = is_expired(age, max_age);
    let fates: Vec<Fate> = results
        .iter()
        .map(|r| classify(r, "relay", "<r@example.com>", expired, max_age).0)
        .collect();
    let disposition = decide(true, &fates, null);
    let landed = lands(&fates, disposition);
    let case =
        format!("{said:?} {end:?} age {age} null {null}: {fates:?} → {disposition:?} {landed:?}");
    assert_eq!(landed.len(), n, "{case}");
    for (i, l) in landed.iter().enumerate() {
        // What the wire said about recipient i, from the reply codes alone.
        let (taken, permanent) = match (said[i], end) {
            (_, _) if !accepted => (false, matches!(said[i], Said::No)),
            (Said::Ok, End::Dot(d)) => (d / 100 == 2, d / 100 == 5),
            (Said::Ok, End::LostBeforeData | End::LostAfterData) => (false, false),
            // Refused or deferred at RCPT: the end of the transaction does not concern it.
            (Said::No, End::Dot(_)) => (false, true),
            (Said::Later, End::Dot(_)) => (false, false),
            // A lost connection is one error for the whole transaction.
            (_, End::LostBeforeData | End::LostAfterData) => (false, false),
        };
        let want = if taken {
            Lands::Sent
        } else if permanent || expired {
            if null {
                Lands::Quarantined
            } else {
                Lands::Bounced
            }
        } else {
            Lands::Kept
        };
        assert_eq!(*l, want, "recipient {i}: {case}");
    }
    let kept = landed.contains(&Lands::Kept);
    let failed = landed
        .iter()
        .any(|l| matches!(l, Lands::Bounced | Lands::Quarantined));
    let want = match (null, failed, kept) {
        (true, true, true) => Disposition::QuarantineFailed,
        (true, true, false) => Disposition::Quarantine,
        (_, bounce, true) => Disposition::RetryLater { bounce },
        (_, bounce, false) => Disposition::Remove { bounce },
    };
    assert_eq!(disposition, want, "{case}");
}

/// (what the server said, recipients, age in seconds, from <>, disposition, where each lands)
type LandsRow = (Try, usize, i64, bool, Disposition, &'static [Lands]);

/// The same rules as a table one can read: (what the server said, age in days, from <>) → the
/// disposition and where each recipient lands (K: kept for the next try).
#[test]
fn dispositions_and_the_recipients_kept_for_retry() {
    use Disposition::*;
    use Lands::{Bounced as B, Kept as K, Quarantined as Q, Sent as S};
    const DAY: i64 = 86_400;
    let max_age = 5 * DAY as u64;
    let lost_after = || lost("end of data");
    let lost_before = || lost("RCPT");
    #[rustfmt::skip]
    let table: &[LandsRow] = &[
        (Try::Replies(&[250, 250], Some(250)), 2, 0, false, Remove { bounce: false }, &[S, S]),
        (Try::Replies(&[250, 451, 550], Some(250)), 3, 0, false, RetryLater { bounce: true }, &[S, K, B]),
        (Try::Replies(&[250, 451, 550], Some(250)), 3, 6 * DAY, false, Remove { bounce: true }, &[S, B, B]),
        (Try::Replies(&[250, 451, 550], Some(250)), 3, 0, true, QuarantineFailed, &[S, K, Q]),
        (Try::Replies(&[250, 451, 550], Some(250)), 3, 6 * DAY, true, Quarantine, &[S, Q, Q]),
        (Try::Replies(&[250, 451], Some(451)), 2, 0, true, RetryLater { bounce: false }, &[K, K]),
        (Try::Replies(&[451, 550], None), 2, 0, true, QuarantineFailed, &[K, Q]),
        (Try::Error(lost_before), 2, 0, false, RetryLater { bounce: false }, &[K, K]),
        (Try::Error(lost_after), 2, 0, true, RetryLater { bounce: false }, &[K, K]),
        (Try::Error(lost_after), 2, 6 * DAY, false, Remove { bounce: true }, &[B, B]),
        (Try::Error(lost_after), 1, 6 * DAY, true, Quarantine, &[Q]),
    ];
    for (row, (t, n, age, null, want, want_lands)) in table.iter().enumerate() {
        let expired = is_expired(*age, max_age);
        let fates: Vec<Fate> = results(t, *n)
            .iter()
            .map(|r| classify(r, "relay", "<r@example.com>", expired, max_age).0)
            .collect();
        let d = decide(true, &fates, *null);
        assert_eq!(d, *want, "row {row}");
        assert_eq!(&lands(&fates, d)[..], *want_lands, "row {row}");
    }
    // Not due: nothing happens to anyone.
    assert_eq!(lands(&[Fate::Retry], decide(false, &[], true)), [K]);
}
