//! Carrying out the disposition: the bounce, the removal of a finished file, the retry state of a
//! waiting one; the quarantine cases are `quarantine.rs`'s.

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
