//! Quarantine from the delivery side: a malformed spool file, and mail from `<>` that cannot be
//! delivered (never bounced: the whole file, or a copy for the failed recipients), each with
//! an admin alert.

use super::*;

/// A file that is not a valid spool file: never sent, never bounced, moved with an alert.
pub(super) fn quarantine_malformed(ctx: &Context, id: &MessageId, reason: &str) -> Attempt {
    match to_quarantine(ctx, id) {
        Ok(()) => {
            log::error!("{id}: malformed spool file moved to quarantine: {reason}");
            sent_line(ctx, id, "-", "quarantined", &format!("malformed: {reason}"));
            dsn::alert_admin(
                &ctx.spool,
                &ctx.cfg,
                id,
                &format!("smtpfwdd: malformed spool file {id} quarantined"),
                &format!(
                    "smtpfwdd found a file in outgoing/ that is not a valid spool file.\n\
                     It was not sent and was moved to quarantine/{id}.\n\nReason: {reason}\n"
                ),
                &[],
            );
            Attempt::Quarantined
        }
        Err(e) => {
            log::error!("{id}: malformed ({reason}) and cannot be moved to quarantine: {e}");
            Attempt::Failed
        }
    }
}

/// Mail from `<>` that failed for some recipients while others wait: a copy of the message for
/// the failed ones only goes to quarantine with an admin alert (a bounce is never bounced); the
/// file itself stays for the deferred ones.
pub(super) fn quarantine_failed_copy(
    ctx: &Context,
    id: &MessageId,
    env: &Envelope,
    failures: &[(usize, FailedRecipient)],
    reader: &mut Spooled<'_>,
    body_off: u64,
) -> Result<(), String> {
    let mut body = Vec::new();
    reader
        .seek(SeekFrom::Start(body_off))
        .and_then(|_| reader.read_to_end(&mut body))
        .map_err(|e| format!("reading the message: {e}"))?;
    let failed = Envelope::new(
        env.from.clone(),
        failures.iter().map(|(_, f)| f.rcpt.clone()),
    );
    let qid = store::write_message(&ctx.spool, Queue::Quarantine, &failed, &body)
        .map_err(|e| e.to_string())?;
    let mut list = String::new();
    for (_, f) in failures {
        sent_line(ctx, id, &f.rcpt, "quarantined", &f.diagnostic);
        list.push_str(&format!("{}: {}\n", f.rcpt, f.diagnostic));
    }
    log::warn!(
        "{id}: mail from <> undeliverable to {} recipient(s): a copy is quarantine/{qid} (never \
         bounced); the others wait for their next try",
        failures.len()
    );
    let rcpts: Vec<String> = failed.recipients.iter().map(|r| r.addr.clone()).collect();
    dsn::alert_admin(
        &ctx.spool,
        &ctx.cfg,
        &qid,
        &format!("smtpfwdd: undeliverable bounce {qid} quarantined"),
        &format!(
            "A message from <> (a bounce or notice, {id}) could not be delivered to some of its\n\
             recipients. Bounces are never bounced, so a copy for them was put in\n\
             quarantine/{qid}; the other recipients are still being tried.\n\n{list}"
        ),
        &rcpts,
    );
    Ok(())
}

/// Mail from `<>` undeliverable to every recipient left: the file itself moves, with an alert.
pub(super) fn quarantine_undeliverable_bounce(
    ctx: &Context,
    id: &MessageId,
    env: &Envelope,
    failures: &[(usize, FailedRecipient)],
) -> Attempt {
    match to_quarantine(ctx, id) {
        Ok(()) => {
            let mut list = String::new();
            for (_, f) in failures {
                sent_line(ctx, id, &f.rcpt, "quarantined", &f.diagnostic);
                list.push_str(&format!("{}: {}\n", f.rcpt, f.diagnostic));
            }
            log::warn!("{id}: undeliverable mail from <> moved to quarantine (never bounced)");
            let rcpts: Vec<String> = env.recipients.iter().map(|r| r.addr.clone()).collect();
            dsn::alert_admin(
                &ctx.spool,
                &ctx.cfg,
                id,
                &format!("smtpfwdd: undeliverable bounce {id} quarantined"),
                &format!(
                    "A message from <> (a bounce or notice) could not be delivered.\n\
                     Bounces are never bounced, so it was moved to quarantine/{id}.\n\n{list}"
                ),
                &rcpts,
            );
            Attempt::Quarantined
        }
        Err(e) => {
            log::error!("{id}: undeliverable bounce cannot be moved to quarantine: {e}");
            Attempt::Failed
        }
    }
}

/// Move a message to quarantine without its retry state, which is removed first: a crash in
/// between leaves the message in outgoing (tried again, its age counted from its file), never a
/// state that a later release from quarantine would inherit.
pub(super) fn to_quarantine(ctx: &Context, id: &MessageId) -> spool::Result<()> {
    store::remove_state_file(&ctx.spool, Queue::Outgoing, id)?;
    store::move_message(&ctx.spool, id, Queue::Outgoing, Queue::Quarantine).map(|_| ())
}
