//! Sending: each group of recipients over SMTP (a kept connection first) or through `-s PROG`;
//! accepted recipients are marked `SENT` at once. Every reply becomes a [`RcptResult`].

use super::*;

/// A delivery thread's state: the open connection kept for the next message to the same place,
/// and today's `sent.YYYYMMDD` day file, kept open (each line is still one O_APPEND write(2), so
/// lines of parallel workers never mix; a new day opens the new file).
#[derive(Default)]
pub struct Worker {
    pub(super) conn: Option<(String, Client)>,
    pub(super) sent_day: spool::daylog::DayAppender,
}

impl Worker {
    /// QUIT the kept connection (when the queue runs dry or the configuration changes).
    pub fn close(&mut self) {
        if let Some((_, c)) = self.conn.take() {
            let _ = c.quit();
        }
    }
}

impl Worker {
    /// Forget the worker's state without talking to the server (after a panic the connection is
    /// in an unknown state: closing the socket makes the server discard what was half sent).
    pub fn abandon(mut self) {
        self.conn = None;
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.close();
    }
}

/// Send step: each group in turn; accepted recipients are marked `SENT` in the file at once.
/// Returns every recipient's result with the server (or program) that gave it.
pub(super) fn send_groups(
    ctx: &Context,
    w: &mut Worker,
    id: &MessageId,
    msg: &mut Message,
    groups: Vec<Group>,
    reader: &mut Spooled<'_>,
) -> Result<Vec<(usize, RcptResult, String)>, Attempt> {
    let mut results = Vec::new();
    let ngroups = groups.len();
    for (gi, g) in groups.into_iter().enumerate() {
        let rcpts: Vec<String> = g
            .rcpts
            .iter()
            .map(|&i| msg.env.recipients[i].addr.clone())
            .collect();
        if let Err(e) = reader.seek(SeekFrom::Start(msg.body_off)) {
            log::error!("{id}: cannot read the body: {e}");
            return Err(Attempt::Failed);
        }
        let (res, relay) = match (&ctx.opts.sendmail, g.route) {
            (Some(prog), _) => {
                let one = sendmail_result(sendmail::run(prog, &msg.env.from, &rcpts, reader));
                (vec![one; rcpts.len()], prog.display().to_string())
            }
            (None, Some(route)) => smtp_group(ctx, w, (&g.key, &route), msg, &rcpts, reader),
            (None, None) => unreachable!("SMTP groups carry a route"),
        };
        let mut delivered_any = false;
        for (&i, r) in g.rcpts.iter().zip(res) {
            if let RcptResult::Delivered(_) = r {
                msg.env.recipients[i].sent = true;
                delivered_any = true;
            }
            results.push((i, r, relay.clone()));
        }
        let last_and_all_done = gi + 1 == ngroups && msg.env.pending().next().is_none();
        if delivered_any && !last_and_all_done {
            // Record at once: a crash from here on must not send these again. (When this was the
            // last group and everyone is delivered, the file is removed in settle instead: one
            // commit point, no rewrite of a file about to go.)
            if let Err(e) = store::rewrite_envelope(&ctx.spool, Queue::Outgoing, id, &msg.env) {
                log::error!("{id}: delivered, but cannot mark SENT (a retry may duplicate): {e}");
            }
        }
    }
    Ok(results)
}

pub(super) fn sendmail_result(r: RunResult) -> RcptResult {
    match r {
        RunResult::Delivered => RcptResult::Delivered("exit 0".into()),
        RunResult::Transient(m) => RcptResult::Transient(m),
        RunResult::Permanent { status, diag } => RcptResult::Permanent(FailedRecipient {
            rcpt: String::new(),
            status: status.into(),
            diagnostic: format!("x-unix; {diag}"),
            remote_mta: None,
        }),
    }
}

/// One SMTP group: over the worker's kept connection when it goes to the same place, else to
/// the route's hosts in turn until one answers. Returns each recipient's result and the peer.
pub(super) fn smtp_group(
    ctx: &Context,
    w: &mut Worker,
    (key, route): (&str, &Route),
    msg: &Message,
    rcpts: &[String],
    body: &mut Spooled<'_>,
) -> (Vec<RcptResult>, String) {
    let (from, body_off, size, eight_bit) =
        (&msg.env.from, msg.body_off, msg.body_size, msg.eight_bit);
    let all = |r: RcptResult| vec![r; rcpts.len()];
    // A kept connection to the same place: use it; if it died while idle (the server closed it),
    // nothing of this message went out, so open a fresh one.
    if let Some((k, mut c)) = w.conn.take() {
        if k == key {
            let peer = c.peer.clone();
            match c.send(from, rcpts, body, size, eight_bit) {
                Ok(tx) => {
                    w.conn = Some((k, c));
                    return (results_of(&tx, rcpts, &peer), peer);
                }
                Err(SmtpError::Io { stage, .. } | SmtpError::Timeout { stage })
                    if matches!(stage, "RSET" | "MAIL") =>
                {
                    if body.seek(SeekFrom::Start(body_off)).is_err() {
                        return (all(RcptResult::Transient("spool read error".into())), peer);
                    }
                }
                Err(e) => return (all(error_result(&e, &peer)), peer),
            }
        } else {
            let _ = c.quit();
        }
    }
    let hosts = match hosts_of(ctx, route) {
        Ok(h) => h,
        Err(RouteError::Permanent(m)) => {
            return (
                all(RcptResult::Permanent(FailedRecipient {
                    rcpt: String::new(),
                    status: "5.1.2".into(),
                    diagnostic: format!("x-gateway; {m}"),
                    remote_mta: None,
                })),
                key.to_string(),
            )
        }
        Err(RouteError::Unroutable(m)) => {
            return (
                all(RcptResult::Permanent(FailedRecipient {
                    rcpt: String::new(),
                    status: "5.4.4".into(),
                    diagnostic: format!("x-gateway; {m}"),
                    remote_mta: None,
                })),
                key.to_string(),
            )
        }
        Err(RouteError::Transient(m)) => return (all(RcptResult::Transient(m)), key.to_string()),
    };
    let mut last: Option<SmtpError> = None;
    for h in &hosts {
        let mut c = match Client::connect(&h.addrs, &h.name, &ctx.client) {
            Ok(c) => c,
            Err(e) => {
                log::debug!("{key}: {}: {e}", h.name);
                last = Some(e);
                continue;
            }
        };
        let peer = format!("{}[{}]", h.name, c.peer);
        log::debug!(
            "connected to {peer}{}{}",
            if c.extensions().esmtp { ", ESMTP" } else { "" },
            if c.tls { ", TLS" } else { "" }
        );
        c.peer = peer.clone();
        return match c.send(from, rcpts, body, size, eight_bit) {
            Ok(tx) => {
                w.conn = Some((key.to_string(), c));
                (results_of(&tx, rcpts, &peer), peer)
            }
            Err(e) => {
                let _ = c.quit();
                (all(error_result(&e, &peer)), peer)
            }
        };
    }
    let e = last.expect("at least one host was tried");
    (all(error_result(&e, key)), key.to_string())
}

pub(super) fn error_result(e: &SmtpError, peer: &str) -> RcptResult {
    if !e.is_permanent() {
        return RcptResult::Transient(e.to_string());
    }
    let diagnostic = match e.reply() {
        Some(r) => format!("smtp; {r}"),
        None => format!("x-gateway; {e}"),
    };
    RcptResult::Permanent(FailedRecipient {
        rcpt: String::new(),
        status: e.status().unwrap_or_else(|| "5.0.0".into()),
        diagnostic,
        remote_mta: Some(peer.split('[').next().unwrap_or(peer).to_string()),
    })
}

pub(super) fn results_of(
    tx: &smtp_client::Transaction,
    rcpts: &[String],
    peer: &str,
) -> Vec<RcptResult> {
    (0..rcpts.len())
        .map(|i| {
            let r = tx.outcome(i);
            if r.code / 100 == 2 {
                RcptResult::Delivered(r.to_string())
            } else if r.is_permanent() {
                RcptResult::Permanent(FailedRecipient {
                    rcpt: String::new(),
                    status: r.enhanced().unwrap_or_else(|| "5.0.0".into()),
                    diagnostic: format!("smtp; {r}"),
                    remote_mta: Some(peer.split('[').next().unwrap_or(peer).to_string()),
                })
            } else {
                RcptResult::Transient(r.to_string())
            }
        })
        .collect()
}
