//! Delivering one message of `outgoing/`: lock it, read its envelope, send to the recipients still
//! pending, record what happened, and let the file go only when nothing is left to do.
//!
//! The rules (never lose, never send twice):
//! - a recipient the next server accepted (2xx after the final dot, or sendmail exit 0) is marked
//!   `SENT` in the file at once (new version renamed over it), so a retry never sends it again;
//! - a recipient refused with 5xx (or sendmail 67 and other permanent statuses) is bounced: the DSN
//!   is written into outgoing first, then the recipient is dropped from the file;
//! - a message with 8-bit bytes for a server without 8BITMIME is bounced (5.6.3), one with a
//!   non-ASCII address for a server without SMTPUTF8 too (5.6.7), and an MX host
//!   left with no global address is bounced (5.4.4);
//! - anything else (4xx, a 3xx where 250 was due, refused connection, timeout, connection dropped
//!   mid-DATA, DNS trouble, a route that is the gateway's own smtpd) keeps the recipient; the next try waits 1 minute, doubling up to 1 hour (the base can be
//!   shortened for tests), kept in `.<id>.state`; after `[forward] max_age` the recipient is
//!   bounced;
//! - the file is removed only when no `RCPT` line is left;
//! - a file that cannot be parsed, and mail from `<>` that cannot be delivered, go to quarantine
//!   with an admin alert: never sent, never bounced, never silently deleted.

use crate::dsn::{self, Failure};
use crate::mx::{self, Host, Resolver, RouteError, Transport};
use crate::sendmail::{self, RunResult};
use crate::smtp_client::{self, Client, ClientOptions, SmtpError, Timeouts, TlsPolicy};
use crate::state::{self, RetryState};
use spool::config::TlsMode;
use spool::daylog::SentLine;
use spool::{store, Config, Envelope, MessageId, Queue, Spool};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What the command line adds to the configuration.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--relay` (overrides `[forward] relay`).
    pub relay: Option<String>,
    /// `-s PROG`: deliver through a sendmail-compatible program instead of SMTP.
    pub sendmail: Option<PathBuf>,
    /// First retry delay (1 minute; `--retry-base-secs` for tests).
    pub retry_base: Duration,
    /// Port of MX hosts (25; `--mx-port` for tests).
    pub mx_port: u16,
    /// `-q`: one log line per message instead of one per recipient.
    pub quiet: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            relay: None,
            sendmail: None,
            retry_base: Duration::from_secs(60),
            mx_port: 25,
            quiet: false,
        }
    }
}

/// Everything a delivery needs, built once per configuration (SIGHUP builds a new one).
pub struct Context {
    pub spool: Spool,
    pub cfg: Config,
    pub opts: Options,
    /// The effective relay: `--relay`, else `[forward] relay`; "" only with `deliver_to_mx`
    /// (MX delivery) or `-s PROG`.
    pub relay: String,
    pub transport: Transport,
    pub client: ClientOptions,
    resolver: OnceLock<Result<Arc<Resolver>, String>>,
}

impl Context {
    pub fn new(spool: Spool, cfg: Config, opts: Options) -> Result<Context, String> {
        let transport = Transport::load(&spool.etc_file("transport"))?;
        let tls = match cfg.forward.tls {
            TlsMode::Opportunistic => TlsPolicy::Opportunistic,
            TlsMode::Require => TlsPolicy::Require,
            TlsMode::Off => TlsPolicy::Off,
        };
        let tls_verified = match tls {
            TlsPolicy::Require => {
                let ca = if cfg.forward.ca_file.is_empty() {
                    String::new()
                } else {
                    spool::config::etc_relative(&spool, &cfg.forward.ca_file)
                        .display()
                        .to_string()
                };
                Some(smtp_client::tls::verified(&ca)?)
            }
            _ => None,
        };
        let client = ClientOptions {
            helo: cfg.helo_name().to_string(),
            tls,
            tls_verified,
            tls_unverified: smtp_client::tls::unverified(),
            timeouts: Timeouts::from_secs(cfg.forward.connect_timeout, cfg.forward.timeout),
        };
        let relay = opts
            .relay
            .clone()
            .unwrap_or_else(|| cfg.forward.relay.clone())
            .trim()
            .to_string();
        check_route_config(&cfg, &relay, opts.relay.is_some(), opts.sendmail.is_some())?;
        Ok(Context {
            spool,
            cfg,
            opts,
            relay,
            transport,
            client,
            resolver: OnceLock::new(),
        })
    }

    fn resolver(&self) -> Result<Arc<Resolver>, String> {
        self.resolver
            .get_or_init(|| Resolver::new(&self.cfg.forward.resolver).map(Arc::new))
            .clone()
    }

    /// Where the mail goes: `-s PROG`, the relay, or "MX".
    ///
    /// (The relay is never empty here unless MX delivery was asked for: see
    /// [`check_route_config`].)
    pub fn describe(&self) -> String {
        match (&self.opts.sendmail, self.relay.as_str()) {
            (Some(p), _) => format!("program {}", p.display()),
            (None, "") => "MX delivery".into(),
            (None, r) => format!("relay {r}"),
        }
    }
}

/// The relay has no default: a default pointing at this host (Obtuse's localhost:25) hands every
/// mail back to smtpd, for ever, and so does an empty relay read as "MX" on a gateway that is its
/// domain's MX. So smtpfwdd stops (exit 78) until `relay` names the internal server or
/// `deliver_to_mx = true` asks for MX delivery. `-s PROG` needs neither. `relay` is the effective
/// one; `from_cli`: it came from `--relay`, which wins over `deliver_to_mx` (both in the file is
/// a contradiction, refused).
pub fn check_route_config(
    cfg: &Config,
    relay: &str,
    from_cli: bool,
    sendmail: bool,
) -> Result<(), String> {
    let helo = cfg.helo_name();
    if helo.is_empty() || !helo.bytes().all(|b| b.is_ascii_graphic()) {
        // It goes on the wire in EHLO: no space, CR, LF or other control byte may be in it.
        return Err(format!(
            "[forward] helo (or hostname) {helo:?} must be a host name without spaces or control characters"
        ));
    }
    if relay
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!("[forward] relay {relay:?} must be \"host[:port]\""));
    }
    if sendmail {
        return Ok(());
    }
    match (relay.is_empty(), cfg.forward.deliver_to_mx) {
        (true, false) => Err(
            "no relay is set: set [forward] relay = \"HOST:PORT\" in gateway.conf to the internal \
             mail server (install.sh --relay, or smtpfwdd --relay), or [forward] deliver_to_mx = \
             true to deliver to each domain's MX hosts; nothing is delivered until then"
                .into(),
        ),
        (false, true) if !from_cli => Err(format!(
            "[forward] relay = {relay:?} and deliver_to_mx = true exclude each other: set one"
        )),
        _ => Ok(()),
    }
}

/// How a delivery attempt of one message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every recipient delivered or bounced: the file is gone.
    Done,
    /// Some recipients wait for a later try.
    Deferred,
    /// Locked by someone else, gone, or not due yet: nothing was done.
    Skipped,
    /// Moved to quarantine (malformed, or an undeliverable message from `<>`).
    Quarantined,
    /// A local error (disk, permissions): logged, tried again on the next scan.
    Failed,
}

/// A delivery thread's state: the open connection kept for the next message to the same place,
/// and today's `sent.YYYYMMDD` day file, kept open (each line is still one O_APPEND write(2), so
/// lines of parallel workers never mix; a new day opens the new file).
#[derive(Default)]
pub struct Worker {
    conn: Option<(String, Client)>,
    sent_day: spool::daylog::DayAppender,
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

#[derive(Clone, Debug)]
enum RcptResult {
    Delivered(String),
    Transient(String),
    Permanent(Failure),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Route {
    Fixed(String, u16),
    Mx(String),
}

impl Route {
    fn key(&self) -> String {
        match self {
            Route::Fixed(h, p) => format!("{h}:{p}"),
            Route::Mx(d) => format!("MX of {d}"),
        }
    }
}

fn route_of(ctx: &Context, rcpt: &str) -> Route {
    let d = mx::domain_of(rcpt);
    if let Some((h, p)) = ctx.transport.lookup(&d) {
        return Route::Fixed(h, p);
    }
    if !ctx.relay.is_empty() {
        let (h, p) = spool::config::split_host_port(&ctx.relay, 25);
        return Route::Fixed(h, p);
    }
    Route::Mx(d)
}

fn hosts_of(ctx: &Context, route: &Route) -> Result<Vec<Host>, RouteError> {
    let hosts = match route {
        Route::Fixed(h, p) => mx::system_host(h, *p).map(|h| vec![h])?,
        Route::Mx(d) if d.is_empty() => {
            return Err(RouteError::Permanent(
                "recipient has no domain and no relay is set".into(),
            ))
        }
        Route::Mx(d) => ctx
            .resolver()
            .map_err(RouteError::Transient)?
            .mx_hosts(d, ctx.opts.mx_port)?,
    };
    screen_hosts(ctx, route, hosts)
}

/// Drop the addresses mail must not go to: this gateway's own smtpd (any route: a mail loop),
/// and for MX routes the non-global addresses unless `allow_private_mx` (an MX record is the
/// domain owner's word, and would otherwise reach loopback services and the internal network).
/// When nothing is left: a loop keeps the mail (the admin must fix the relay; an error line
/// each try), an MX naming only inside addresses bounces it.
fn screen_hosts(ctx: &Context, route: &Route, hosts: Vec<Host>) -> Result<Vec<Host>, RouteError> {
    let ports = &ctx.cfg.forward.smtpd_ports;
    let own = if ports.is_empty() {
        Vec::new()
    } else {
        mx::local_addresses()
    };
    let check_global = matches!(route, Route::Mx(_)) && !ctx.cfg.forward.allow_private_mx;
    let mut looped = Vec::new();
    let mut inside = Vec::new();
    let mut kept = Vec::new();
    for mut h in hosts {
        h.addrs.retain(|a| {
            if mx::is_own_smtpd(a, ports, &own) {
                looped.push(format!("{}[{a}]", h.name));
                false
            } else if check_global && !mx::is_global(a.ip()) {
                inside.push(format!("{}[{}]", h.name, a.ip()));
                false
            } else {
                true
            }
        });
        if !h.addrs.is_empty() {
            kept.push(h);
        }
    }
    if !kept.is_empty() {
        return Ok(kept);
    }
    if !looped.is_empty() {
        let m = format!(
            "mail loop: {} is this gateway's own smtpd ({}); set [forward] relay to the internal \
             mail server",
            route.key(),
            looped.join(", ")
        );
        log::error!("{m}");
        return Err(RouteError::Transient(m));
    }
    if !inside.is_empty() {
        return Err(RouteError::Unroutable(format!(
            "{} has only non-global addresses ({}); refused ([forward] allow_private_mx)",
            route.key(),
            inside.join(", ")
        )));
    }
    // No address at all (never an empty list to the connection loop below).
    Err(RouteError::Transient(format!(
        "no address for {}",
        route.key()
    )))
}

fn now_secs() -> i64 {
    spool::clock::now().timestamp()
}

/// Files up to this size are read into memory with one read(2) (the envelope, the body and a
/// retry to the next host then need no seek and no second read); larger ones are streamed.
const IN_MEMORY: u64 = 1024 * 1024;

/// A spool file being delivered: in memory when small, else read through a buffer.
enum Spooled<'a> {
    Mem(std::io::Cursor<Vec<u8>>),
    File(BufReader<&'a File>),
}

impl<'a> Spooled<'a> {
    /// `size` is the locked file's size (fstat): nothing changes a locked complete file.
    fn open(mut file: &'a File, size: u64) -> std::io::Result<Spooled<'a>> {
        if size > IN_MEMORY {
            return Ok(Spooled::File(BufReader::with_capacity(64 * 1024, file)));
        }
        let mut buf = vec![0u8; size as usize];
        file.read_exact(&mut buf)?;
        Ok(Spooled::Mem(std::io::Cursor::new(buf)))
    }
}

impl Read for Spooled<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Spooled::Mem(c) => c.read(buf),
            Spooled::File(f) => f.read(buf),
        }
    }
}

impl BufRead for Spooled<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        match self {
            Spooled::Mem(c) => c.fill_buf(),
            Spooled::File(f) => f.fill_buf(),
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            Spooled::Mem(c) => c.consume(n),
            Spooled::File(f) => f.consume(n),
        }
    }
}

impl Seek for Spooled<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match self {
            Spooled::Mem(c) => c.seek(pos),
            Spooled::File(f) => f.seek(pos),
        }
    }
}

/// What the daemon's scan of the directory already knows about a message (saves the system calls
/// that would look for files the listing showed absent).
#[derive(Clone, Debug, Default)]
pub struct Known {
    /// The retry state read during the scan (None: the listing had no `.<id>.state`).
    pub prior: Option<RetryState>,
    /// The listing had a `.<id>.state` (even a damaged one: it goes with the message).
    pub state_file: bool,
    /// The listing had a `<id>_d` directory beside the file.
    pub decoded_dir: bool,
}

/// One `sent.YYYYMMDD` line through the worker's open day file (one write(2), O_APPEND).
fn sent_line_w(
    ctx: &Context,
    w: &mut Worker,
    id: &MessageId,
    rcpt: &str,
    outcome: &str,
    detail: &str,
) {
    let l = SentLine {
        time: spool::clock::now(),
        id: id.to_string(),
        recipient: rcpt.to_string(),
        outcome: outcome.into(),
        detail: detail.into(),
    };
    if let Err(e) = l.append_to(&ctx.spool, &mut w.sent_day) {
        log::warn!("{id}: cannot append to the sent day file: {e}");
    }
}

fn sent_line(ctx: &Context, id: &MessageId, rcpt: &str, outcome: &str, detail: &str) {
    let l = SentLine {
        time: spool::clock::now(),
        id: id.to_string(),
        recipient: rcpt.to_string(),
        outcome: outcome.into(),
        detail: detail.into(),
    };
    if let Err(e) = l.append(&ctx.spool) {
        log::warn!("{id}: cannot append to the sent day file: {e}");
    }
}

/// Deliver one message. Never panics on bad input; every outcome is logged.
pub fn deliver(ctx: &Context, w: &mut Worker, id: &MessageId) -> Outcome {
    let known = Known {
        prior: RetryState::load(&ctx.spool, id),
        state_file: ctx.spool.state_file(Queue::Outgoing, id).exists(),
        decoded_dir: ctx.spool.decoded_dir(Queue::Outgoing, id).exists(),
    };
    deliver_known(ctx, w, id, &known)
}

/// [`deliver`] with what the directory scan already found out (the retry state, a decoded
/// directory), so no system call looks for files that are not there.
///
/// The steps: `read_message` (the locked file), `group` (the pending recipients by where they
/// go), `send_groups` (each group, marking `SENT` at once), `classify` (every reply into a
/// [`Fate`]), [`decide`] (the [`Disposition`]) and `settle` (bounce, quarantine, remove, or a
/// retry state). `classify` and `decide` hold the rules and do no I/O.
pub fn deliver_known(ctx: &Context, w: &mut Worker, id: &MessageId, known: &Known) -> Outcome {
    let path = ctx.spool.message(Queue::Outgoing, id);
    let prior = known.prior.clone();
    if prior.as_ref().is_some_and(|s| s.next_try > now_secs()) {
        return Outcome::Skipped;
    }
    let lock = match store::lock_message(&ctx.spool, Queue::Outgoing, id) {
        Ok(Some(l)) => l,
        Ok(None) => return Outcome::Skipped,
        Err(e) => {
            log::error!("{id}: cannot lock: {e}");
            return Outcome::Failed;
        }
    };
    // Read through the locked descriptor itself: it is the inode we hold the lock on.
    let meta = lock.metadata();
    let mut reader = match Spooled::open(lock.file(), meta.len()) {
        Ok(r) => r,
        Err(e) => {
            log::error!("{id}: cannot read: {}: {e}", path.display());
            return Outcome::Failed;
        }
    };
    let mut msg = match read_message(ctx, id, &mut reader, meta, prior.as_ref()) {
        Ok(m) => m,
        Err(o) => return o,
    };
    let groups = group(ctx, &msg.env);
    let results = match send_groups(ctx, w, id, &mut msg, groups, &mut reader) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let delay = now_secs() - msg.queued;
    let expired = is_expired(delay, ctx.cfg.forward.max_age);
    let classified: Vec<(usize, Fate, Classified)> = results
        .into_iter()
        .map(|(i, r, relay)| {
            let addr = &msg.env.recipients[i].addr;
            let (fate, c) = classify(&r, &relay, addr, expired, ctx.cfg.forward.max_age);
            (i, fate, c)
        })
        .collect();
    let fates: Vec<Fate> = classified.iter().map(|(_, f, _)| *f).collect();
    let disposition = decide(true, &fates, msg.env.is_null_sender());
    settle(
        ctx,
        w,
        id,
        known,
        &mut msg,
        classified,
        disposition,
        delay,
        &mut reader,
    )
}

/// A locked message being delivered.
struct Message {
    env: Envelope,
    body_off: u64,
    body_size: u64,
    eight_bit: bool,
    /// When it entered the queue (the first try's mtime, kept in the retry state).
    queued: i64,
    /// This try's number, from 1.
    attempts: u32,
}

/// Read step: the envelope (a malformed file goes to quarantine), the body's size and whether
/// it holds 8-bit bytes.
fn read_message(
    ctx: &Context,
    id: &MessageId,
    reader: &mut Spooled<'_>,
    meta: &std::fs::Metadata,
    prior: Option<&RetryState>,
) -> Result<Message, Outcome> {
    let path = ctx.spool.message(Queue::Outgoing, id);
    let (env, body_off) = match Envelope::read_from(reader, &path) {
        Ok(v) => v,
        Err(spool::Error::Malformed { reason, .. }) => {
            return Err(quarantine_malformed(ctx, id, &reason));
        }
        Err(e) => {
            log::error!("{id}: cannot read: {e}");
            return Err(Outcome::Failed);
        }
    };
    let eight_bit = if ctx.opts.sendmail.is_some() {
        false
    } else {
        has_8bit(reader, body_off).map_err(|e| {
            log::error!("{id}: cannot read the body: {e}");
            Outcome::Failed
        })?
    };
    Ok(Message {
        env,
        body_off,
        body_size: meta.len().saturating_sub(body_off),
        eight_bit,
        queued: prior.map(|s| s.queued).unwrap_or(meta.mtime()),
        attempts: prior.map(|s| s.attempts).unwrap_or(0) + 1,
    })
}

/// One batch of recipients that go the same way: a route (SMTP), or a run of `-s PROG`.
struct Group {
    key: String,
    rcpts: Vec<usize>,
    route: Option<Route>,
}

/// Group step: the pending recipients by route (in first-seen order), or in runs of at most
/// [`sendmail::MAX_RCPTS`] for `-s PROG`.
fn group(ctx: &Context, env: &Envelope) -> Vec<Group> {
    let pending: Vec<usize> = (0..env.recipients.len())
        .filter(|&i| !env.recipients[i].sent)
        .collect();
    if ctx.opts.sendmail.is_some() {
        return pending
            .chunks(sendmail::MAX_RCPTS)
            .map(|c| Group {
                key: String::new(),
                rcpts: c.to_vec(),
                route: None,
            })
            .collect();
    }
    let mut by_route: Vec<(Route, Vec<usize>)> = Vec::new();
    for &i in &pending {
        let r = route_of(ctx, &env.recipients[i].addr);
        match by_route.iter_mut().find(|(x, _)| *x == r) {
            Some((_, v)) => v.push(i),
            None => by_route.push((r, vec![i])),
        }
    }
    by_route
        .into_iter()
        .map(|(r, v)| Group {
            key: r.key(),
            rcpts: v,
            route: Some(r),
        })
        .collect()
}

/// Send step: each group in turn; accepted recipients are marked `SENT` in the file at once.
/// Returns every recipient's result with the server (or program) that gave it.
fn send_groups(
    ctx: &Context,
    w: &mut Worker,
    id: &MessageId,
    msg: &mut Message,
    groups: Vec<Group>,
    reader: &mut Spooled<'_>,
) -> Result<Vec<(usize, RcptResult, String)>, Outcome> {
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
            return Err(Outcome::Failed);
        }
        let (res, relay) = match (&ctx.opts.sendmail, g.route) {
            (Some(prog), _) => {
                let one = sendmail_result(sendmail::run(prog, &msg.env.from, &rcpts, reader));
                (vec![one; rcpts.len()], prog.display().to_string())
            }
            (None, Some(route)) => smtp_group(
                ctx,
                w,
                &g.key,
                &route,
                &msg.env.from,
                &rcpts,
                reader,
                msg.body_off,
                msg.body_size,
                msg.eight_bit,
            ),
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

fn sendmail_result(r: RunResult) -> RcptResult {
    match r {
        RunResult::Delivered => RcptResult::Delivered("exit 0".into()),
        RunResult::Transient(m) => RcptResult::Transient(m),
        RunResult::Permanent { status, diag } => RcptResult::Permanent(Failure {
            rcpt: String::new(),
            status: status.into(),
            diagnostic: format!("x-unix; {diag}"),
            remote_mta: None,
        }),
    }
}

/// What becomes of one pending recipient after a try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Accepted (2xx after the final dot, or the program's exit 0): marked `SENT`.
    Delivered,
    /// A temporary failure within `max_age`: tried again later.
    Retry,
    /// Refused for good (5xx, a permanent program status, no such domain): bounced now.
    Bounce,
    /// A temporary failure past `max_age`: bounced as expired.
    Expired,
}

/// What becomes of the message after a try (the local I/O that carries it out is [`settle`]'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Not due yet: nothing is done.
    Keep,
    /// Nobody is left: the file is removed, after the bounce (if any) is written.
    Remove { bounce: bool },
    /// Some recipients wait: the file stays with a retry state, after the bounce (if any).
    RetryLater { bounce: bool },
    /// Mail from `<>` that failed for someone: quarantine and an alert, never a bounce (a bounce
    /// of a bounce can loop). Every recipient failed or is done: the file itself moves.
    Quarantine,
    /// Mail from `<>` that failed for some and waits for others: a copy for the failed ones goes
    /// to quarantine (with the alert); the file keeps the deferred ones for their next try.
    QuarantineFailed,
}

/// A message's age past `max_age` (seconds) turns temporary failures into bounces.
pub fn is_expired(age: i64, max_age: u64) -> bool {
    age > max_age as i64
}

/// The rule for one recipient.
fn fate_of(r: &RcptResult, expired: bool) -> Fate {
    match r {
        RcptResult::Delivered(_) => Fate::Delivered,
        RcptResult::Permanent(_) => Fate::Bounce,
        RcptResult::Transient(_) if expired => Fate::Expired,
        RcptResult::Transient(_) => Fate::Retry,
    }
}

/// The rule for the message: `due` (its retry time has come), the fates of the recipients tried,
/// and whether the sender is `<>`.
pub fn decide(due: bool, fates: &[Fate], null_sender: bool) -> Disposition {
    if !due {
        return Disposition::Keep;
    }
    let bounce = fates
        .iter()
        .any(|f| matches!(f, Fate::Bounce | Fate::Expired));
    if bounce && null_sender {
        return if fates.contains(&Fate::Retry) {
            Disposition::QuarantineFailed
        } else {
            Disposition::Quarantine
        };
    }
    if fates.contains(&Fate::Retry) {
        Disposition::RetryLater { bounce }
    } else {
        Disposition::Remove { bounce }
    }
}

/// What [`classify`] found for one recipient: its log entry, its failure (for the DSN), the
/// detail of a delivery (for the day file).
struct Classified {
    log: LogEntry,
    failure: Option<Failure>,
    delivered: Option<String>,
}

/// Classify step: one recipient's result into its [`Fate`] and what settle needs to record it.
fn classify(
    r: &RcptResult,
    relay: &str,
    addr: &str,
    expired: bool,
    max_age: u64,
) -> (Fate, Classified) {
    let fate = fate_of(r, expired);
    let entry = |status: &'static str, detail: &str| {
        (
            addr.to_string(),
            status,
            relay.to_string(),
            detail.to_string(),
        )
    };
    let c = match r {
        RcptResult::Delivered(d) => Classified {
            log: entry("sent", d),
            failure: None,
            delivered: Some(d.clone()),
        },
        RcptResult::Permanent(f) => {
            let mut f = f.clone();
            f.rcpt = addr.to_string();
            Classified {
                log: entry("bounced", &f.diagnostic),
                failure: Some(f),
                delivered: None,
            }
        }
        RcptResult::Transient(d) if expired => {
            let status = d
                .split_whitespace()
                .find(|w| w.starts_with("4.") && w.split('.').count() == 3)
                .unwrap_or("4.4.7")
                .to_string();
            let days = max_age as f64 / 86400.0;
            let diag =
                format!("x-gateway; delivery time expired after {days:.1} days; last error: {d}");
            Classified {
                log: entry("expired", &diag),
                failure: Some(Failure {
                    rcpt: addr.to_string(),
                    status,
                    diagnostic: diag,
                    remote_mta: None,
                }),
                delivered: None,
            }
        }
        RcptResult::Transient(d) => Classified {
            log: entry("deferred", d),
            failure: None,
            delivered: None,
        },
    };
    (fate, c)
}

/// Settle step: carry out the disposition. Local failures (the bounce cannot be written, the file
/// cannot be removed) keep the message for the next scan: nothing is lost.
#[allow(clippy::too_many_arguments)]
fn settle(
    ctx: &Context,
    w: &mut Worker,
    id: &MessageId,
    known: &Known,
    msg: &mut Message,
    classified: Vec<(usize, Fate, Classified)>,
    disposition: Disposition,
    delay: i64,
    reader: &mut Spooled<'_>,
) -> Outcome {
    let spool = &ctx.spool;
    let mut failures: Vec<(usize, Failure)> = Vec::new();
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
        Disposition::Keep => return Outcome::Skipped,
        Disposition::Quarantine => {
            let outcome = quarantine_undeliverable_bounce(ctx, id, env, &failures);
            log_attempt(ctx, id, env, &logs, delay, None);
            return outcome;
        }
        Disposition::QuarantineFailed => {
            match quarantine_failed_copy(ctx, id, env, &failures, reader, msg.body_off) {
                Ok(()) => drop_failed(env, &failures),
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
    let mut outcome = Outcome::Done;
    if bounce {
        match self::bounce(ctx, id, env, msg.queued, &failures, reader, msg.body_off) {
            Ok(dsn_id) => {
                for (_, f) in &failures {
                    sent_line_w(ctx, w, id, &f.rcpt, "bounced", &f.diagnostic);
                }
                if let Some(d) = dsn_id {
                    log::info!("{id}: bounce {d} queued for {}", env.from);
                }
                drop_failed(env, &failures);
            }
            Err(e) => {
                log::error!("{id}: cannot write the bounce, will try again: {e}");
                outcome = Outcome::Failed;
            }
        }
    }

    if env.pending().next().is_none() {
        // The daemon fsyncs outgoing/ once per scan (daemon.rs): a crash in between can only
        // bring this file back for a second delivery, never lose it.
        let beside = store::Beside {
            state_file: known.state_file,
            decoded_dir: known.decoded_dir,
        };
        if let Err(e) = store::remove_scanned_unsynced(spool, Queue::Outgoing, id, beside) {
            log::error!("{id}: delivered but cannot remove: {e}");
            return Outcome::Failed;
        }
        log_attempt(ctx, id, env, &logs, delay, None);
        return outcome;
    }
    if rewrite && outcome != Outcome::Failed {
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
    if outcome == Outcome::Failed {
        Outcome::Failed
    } else {
        Outcome::Deferred
    }
}

/// Recipients handled since the daemon last wrote its metrics: counted in memory by the
/// workers, added to the spool's counters once per scan (`daemon.rs`), so a delivery costs no
/// extra file write.
pub struct Tally {
    pub delivered: AtomicU64,
    pub deferred: AtomicU64,
    pub bounced: AtomicU64,
}

pub static TALLY: Tally = Tally {
    delivered: AtomicU64::new(0),
    deferred: AtomicU64::new(0),
    bounced: AtomicU64::new(0),
};

impl Tally {
    fn count(&self, status: &str) {
        let c = match status {
            "sent" => &self.delivered,
            "deferred" => &self.deferred,
            "bounced" => &self.bounced,
            _ => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far, reset to zero.
    pub fn take(&self) -> [(&'static str, u64); 3] {
        [
            ("delivered", self.delivered.swap(0, Ordering::Relaxed)),
            ("deferred", self.deferred.swap(0, Ordering::Relaxed)),
            ("bounced", self.bounced.swap(0, Ordering::Relaxed)),
        ]
    }
}

/// One recipient's line: address, status word, relay, reply or reason.
type LogEntry = (String, &'static str, String, String);

fn log_attempt(
    ctx: &Context,
    id: &MessageId,
    env: &Envelope,
    logs: &[LogEntry],
    delay: i64,
    next: Option<Duration>,
) {
    for l in logs {
        TALLY.count(l.1);
    }
    let next = next
        .map(|d| format!(", next try in {}s", d.as_secs()))
        .unwrap_or_default();
    if ctx.opts.quiet {
        let sent = logs.iter().filter(|l| l.1 == "sent").count();
        log::info!(
            "{id}: from={} rcpts={} sent={sent} delay={delay}s{next}",
            env.from,
            logs.len()
        );
        return;
    }
    for (to, status, relay, detail) in logs {
        log::info!(
            "{id}: from={} to={to} relay={relay} delay={delay}s status={status} ({detail}){}",
            env.from,
            if *status == "deferred" {
                next.as_str()
            } else {
                ""
            }
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn smtp_group(
    ctx: &Context,
    w: &mut Worker,
    key: &str,
    route: &Route,
    from: &str,
    rcpts: &[String],
    body: &mut Spooled<'_>,
    body_off: u64,
    size: u64,
    eight_bit: bool,
) -> (Vec<RcptResult>, String) {
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
                all(RcptResult::Permanent(Failure {
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
                all(RcptResult::Permanent(Failure {
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

fn error_result(e: &SmtpError, peer: &str) -> RcptResult {
    if !e.is_permanent() {
        return RcptResult::Transient(e.to_string());
    }
    let diagnostic = match e.reply() {
        Some(r) => format!("smtp; {r}"),
        None => format!("x-gateway; {e}"),
    };
    RcptResult::Permanent(Failure {
        rcpt: String::new(),
        status: e.status().unwrap_or_else(|| "5.0.0".into()),
        diagnostic,
        remote_mta: Some(peer.split('[').next().unwrap_or(peer).to_string()),
    })
}

/// True when the body (from `body_off`) holds a byte above 127.
fn has_8bit(reader: &mut Spooled<'_>, body_off: u64) -> std::io::Result<bool> {
    if let Spooled::Mem(c) = reader {
        let b = c.get_ref();
        return Ok(b[(body_off as usize).min(b.len())..]
            .iter()
            .any(|&x| x >= 0x80));
    }
    reader.seek(SeekFrom::Start(body_off))?;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        if buf.iter().any(|&x| x >= 0x80) {
            return Ok(true);
        }
        let n = buf.len();
        reader.consume(n);
    }
}

fn results_of(tx: &smtp_client::Transaction, rcpts: &[String], peer: &str) -> Vec<RcptResult> {
    (0..rcpts.len())
        .map(|i| {
            let r = tx.outcome(i);
            if r.code / 100 == 2 {
                RcptResult::Delivered(r.to_string())
            } else if r.is_permanent() {
                RcptResult::Permanent(Failure {
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

fn bounce(
    ctx: &Context,
    id: &MessageId,
    env: &Envelope,
    queued: i64,
    failures: &[(usize, Failure)],
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
    let f: Vec<Failure> = failures.iter().map(|(_, f)| f.clone()).collect();
    let msg = dsn::build(&ctx.spool, &ctx.cfg, id, &env.from, arrival, &f, &headers);
    dsn::submit(&ctx.spool, &ctx.cfg, &env.from, &msg)
}

fn quarantine_malformed(ctx: &Context, id: &MessageId, reason: &str) -> Outcome {
    match store::move_message(&ctx.spool, id, Queue::Outgoing, Queue::Quarantine) {
        Ok(_) => {
            if let Err(e) = store::remove_state_file(&ctx.spool, Queue::Outgoing, id) {
                log::warn!("{id}: cannot remove its old retry state: {e}");
            }
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
            Outcome::Quarantined
        }
        Err(e) => {
            log::error!("{id}: malformed ({reason}) and cannot be moved to quarantine: {e}");
            Outcome::Failed
        }
    }
}

/// Take the recipients that failed for good out of the envelope (they were bounced, or their
/// copy is in quarantine).
fn drop_failed(env: &mut Envelope, failures: &[(usize, Failure)]) {
    let failed: Vec<usize> = failures.iter().map(|(i, _)| *i).collect();
    let mut i = 0;
    env.recipients.retain(|_| {
        let keep = !failed.contains(&i);
        i += 1;
        keep
    });
}

/// Mail from `<>` that failed for some recipients while others wait: a copy of the message for
/// the failed ones only goes to quarantine with an admin alert (a bounce is never bounced); the
/// file itself stays for the deferred ones.
fn quarantine_failed_copy(
    ctx: &Context,
    id: &MessageId,
    env: &Envelope,
    failures: &[(usize, Failure)],
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

fn quarantine_undeliverable_bounce(
    ctx: &Context,
    id: &MessageId,
    env: &Envelope,
    failures: &[(usize, Failure)],
) -> Outcome {
    match store::move_message(&ctx.spool, id, Queue::Outgoing, Queue::Quarantine) {
        Ok(_) => {
            if let Err(e) = store::remove_state_file(&ctx.spool, Queue::Outgoing, id) {
                log::warn!("{id}: cannot remove its old retry state: {e}");
            }
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
            Outcome::Quarantined
        }
        Err(e) => {
            log::error!("{id}: undeliverable bounce cannot be moved to quarantine: {e}");
            Outcome::Failed
        }
    }
}

#[cfg(test)]
mod tests {
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
}
