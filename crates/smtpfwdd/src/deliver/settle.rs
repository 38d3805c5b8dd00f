//! Carrying out the disposition: the bounce, the quarantine (with the admin alert), the removal
//! of a finished file, the retry state of a waiting one.

use super::*;

/// What a try came to, for [`settle`]: every tried recipient (its index in the envelope, its fate,
/// what to record), the disposition, and the message's age in seconds.
pub(super) struct Tried {
    pub(super) classified: Vec<(usize, Fate, Classified)>,
    pub(super) disposition: Disposition,
    pub(super) delay: i64,
}

/// Settle step: carry out the disposition. Local failures (the bounce cannot be written, the file
/// cannot be removed) keep the message for the next scan: nothing is lost.
pub(super) fn settle(
    ctx: &Context,
    w: &mut Worker,
    id: &MessageId,
    known: &Known,
    msg: &mut Message,
    tried: Tried,
    reader: &mut Spooled<'_>,
) -> Attempt {
    let Tried {
        classified,
        disposition,
        delay,
    } = tried;
    let spool = &ctx.spool;
    let fates: Vec<Fate> = classified.iter().map(|(_, f, _)| *f).collect();
    // The lines that leave the file once their bounce or quarantine copy is written.
    let leaving: Vec<usize> = classified
        .iter()
        .zip(lands(&fates, disposition))
        .filter(|(_, l)| matches!(l, Lands::Bounced | Lands::Quarantined))
        .map(|((i, _, _), _)| *i)
        .collect();
    let mut failures: Vec<(usize, FailedRecipient)> = Vec::new();
    let mut logs: Vec<LogEntry> = Vec::new();
    for (i, _, c) in classified {
        if let Some(d) = &c.delivered {
            sent_line_w(ctx, w, id, &c.log.0, "delivered", d);
        }
        if let Some(f) = c.failure {
            failures.push((i, f));
        }
        logs.push(c.log);
    }
    let env = &mut msg.env;
    let bounce = match disposition {
        Disposition::Keep => return Attempt::Skipped,
        Disposition::Quarantine => {
            let outcome = quarantine_undeliverable_bounce(ctx, id, env, &failures);
            log_attempt(ctx, id, env, &logs, delay, None);
            return outcome;
        }
        Disposition::QuarantineFailed => {
            match quarantine_failed_copy(ctx, id, env, &failures, reader, msg.body_off) {
                Ok(()) => drop_recipients(env, &leaving),
                Err(e) => {
                    // Nothing moved: the failed recipients are tried again with the others.
                    log::error!("{id}: cannot quarantine the failed recipients' copy: {e}");
                }
            }
            false
        }
        Disposition::Remove { bounce } | Disposition::RetryLater { bounce } => bounce,
    };
    let rewrite = disposition == Disposition::QuarantineFailed || bounce;
    let mut outcome = Attempt::Done;
    if bounce {
        match self::bounce(ctx, id, env, msg.queued, &failures, reader, msg.body_off) {
            Ok(dsn_id) => {
                for (_, f) in &failures {
                    sent_line_w(ctx, w, id, &f.rcpt, "bounced", &f.diagnostic);
                }
                if let Some(d) = dsn_id {
                    log::info!("{id}: bounce {d} queued for {}", env.from);
                }
                drop_recipients(env, &leaving);
            }
            Err(e) => {
                log::error!("{id}: cannot write the bounce, will try again: {e}");
                outcome = Attempt::Failed;
            }
        }
    }

    if env.pending().next().is_none() {
        // The daemon fsyncs outgoing/ once per scan (daemon.rs): a crash in between can only
        // bring this file back for a second delivery, never lose it.
        if let Err(e) = store::remove_scanned_unsynced(spool, Queue::Outgoing, id, known.beside) {
            log::error!("{id}: delivered but cannot remove: {e}");
            return Attempt::Failed;
        }
        log_attempt(ctx, id, env, &logs, delay, None);
        return outcome;
    }
    if rewrite && outcome != Attempt::Failed {
        if let Err(e) = store::rewrite_envelope(spool, Queue::Outgoing, id, env) {
            log::error!("{id}: cannot drop bounced recipients (a retry may bounce again): {e}");
        }
    }
    let wait = state::backoff(msg.attempts, ctx.opts.retry_base);
    let last_error = logs
        .iter()
        .find(|l| l.1 == "deferred")
        .map(|l| format!("{}: {}", l.0, l.3))
        .unwrap_or_default();
    let st = RetryState {
        queued: msg.queued,
        attempts: msg.attempts,
        next_try: now_secs() + wait.as_secs().max(1) as i64,
        last_error,
    };
    if let Err(e) = st.save(spool, id) {
        log::warn!("{id}: cannot save the retry state: {e}");
    }
    log_attempt(ctx, id, env, &logs, delay, Some(wait));
    if outcome == Attempt::Failed {
        Attempt::Failed
    } else {
        Attempt::Deferred
    }
}

pub(super) fn bounce(
    ctx: &Context,
    id: &MessageId,
    env: &Envelope,
    queued: i64,
    failures: &[(usize, FailedRecipient)],
    reader: &mut Spooled<'_>,
    body_off: u64,
) -> spool::Result<Option<MessageId>> {
    let path = ctx.spool.message(Queue::Outgoing, id);
    reader
        .seek(SeekFrom::Start(body_off))
        .map_err(|e| spool::Error::io(&path, e))?;
    let headers = dsn::original_headers(reader);
    let arrival = chrono::DateTime::from_timestamp(queued, 0)
        .map(|t| t.with_timezone(&chrono::Local))
        .unwrap_or_else(spool::clock::now);
    let f: Vec<FailedRecipient> = failures.iter().map(|(_, f)| f.clone()).collect();
    let msg = dsn::build(&ctx.spool, &ctx.cfg, id, &env.from, arrival, &f, &headers);
    dsn::submit(&ctx.spool, &ctx.cfg, &env.from, &msg)
}

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

/// Take the recipients that failed for good out of the envelope (they were bounced, or their
/// copy is in quarantine).
pub(super) fn drop_recipients(env: &mut Envelope, leaving: &[usize]) {
    let mut i = 0;
    env.recipients.retain(|_| {
        let keep = !leaving.contains(&i);
        i += 1;
        keep
    });
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
fn to_quarantine(ctx: &Context, id: &MessageId) -> spool::Result<()> {
    store::remove_state_file(&ctx.spool, Queue::Outgoing, id)?;
    store::move_message(&ctx.spool, id, Queue::Outgoing, Queue::Quarantine).map(|_| ())
}
