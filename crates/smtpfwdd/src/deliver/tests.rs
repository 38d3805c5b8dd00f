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
