//! NAME
//!     smtpfwdd — deliver every complete message in the gateway's outgoing queue to the internal
//!     mail server, deleting each only after success
//!
//! SYNOPSIS
//!     smtpfwdd [-d DIR] [-u USER] [-g GROUP] [-s PROG] [-M N] [-P SECONDS] [-q]
//!              [--spool DIR] [--config FILE] [--relay HOST[:PORT]] [--once] [--foreground]
//!              [--retry-base-secs N] [--mx-port PORT] [-v]
//!
//! DESCRIPTION
//!     A replica of Obtuse smtpfwdd. It takes the lock `.smtpfwdd.lock` in the outgoing directory
//!     (a second instance says it is already running and exits 75), then scans the directory
//!     every -P seconds and delivers each complete file (`smtpd` + 6 id characters, mode 0750),
//!     oldest first, up to -M at once, never the same file twice at once.
//!
//!     Delivery is SMTP to `[forward] relay` (or --relay): EHLO (HELO fallback), STARTTLS as
//!     `[forward] tls` says (opportunistic: when offered, certificate not checked; require:
//!     mandatory and verified against `ca_file` or the system roots; off), MAIL FROM with SIZE=
//!     and BODY=8BITMIME when offered, one RCPT per recipient, DATA with CRLF and dot-stuffing,
//!     PIPELINING when offered, one connection reused for the following messages. Only CRLF ends
//!     a line on the wire (a bare CR or LF in the spool becomes CRLF). A message with 8-bit bytes
//!     is never sent to a server that does not offer 8BITMIME: it is bounced (5.6.3), not
//!     converted; a message with a non-ASCII address goes with SMTPUTF8 to a server that offers
//!     it and is bounced (5.6.7) otherwise. Only a 2xx reply accepts a recipient (a 3xx to RCPT
//!     keeps it for a retry).
//!
//!     The relay has no default: until `relay` names the internal server (or
//!     `[forward] deliver_to_mx = true` asks for MX delivery) smtpfwdd says what to set and exits
//!     78. With `deliver_to_mx` each recipient domain's MX hosts are used (`[forward] resolver`
//!     names the DNS server; A/AAAA when there is no MX); MX hosts at non-global addresses
//!     (loopback, private, link-local, ULA, ...) are refused and the recipient bounced (5.4.4)
//!     unless `allow_private_mx = true`. `etc/transport` (`domain host[:port]` lines) wins over
//!     both for the domains it names. Any host at one of this machine's own addresses on one of
//!     `[forward] smtpd_ports` (25) is the gateway's own smtpd: the mail is kept and an error
//!     logged (a mail loop), never sent there. With -s PROG, the Obtuse way:
//!     `PROG -oi -f FROM -- RCPT...` with the message on stdin, at most 98 recipients per run.
//!
//!     Accepted recipients are marked `SENT` in the file at once, so a retry never sends them
//!     again; the file is deleted only when no `RCPT` line is left. A 5xx for a recipient bounces
//!     it at once (an RFC 3464 report from <> to the sender, written into outgoing). 4xx, refused
//!     connections, timeouts and connections dropped mid-DATA keep the file; the next try waits
//!     1 minute, doubling up to 1 hour (kept in `.<id>.state`, so a restart honours it), until
//!     `[forward] max_age`, then the recipient is bounced. Mail from <> is never bounced: when it
//!     cannot be delivered it goes to quarantine and the admin is alerted. A file that cannot be
//!     parsed goes to quarantine with an alert: never sent, never silently deleted. Every outcome
//!     is appended to `etc/sent.YYYYMMDD` (`etc/days/` when it exists: the hardened layout).
//!
//!     SIGTERM or SIGINT: the deliveries in flight finish, then smtpfwdd exits. SIGHUP: the
//!     configuration (and etc/transport) is reread for the following deliveries. SIGUSR1
//!     (`mailwall flush`): scan now and try deferred mail without waiting for its next-try time;
//!     the daemon keeps its pid in outgoing/.smtpfwdd.lock for that. A delivery that panics (a
//!     bug) is contained: logged, the message kept with a retry state, the worker replaced;
//!     --once still ends. The reason of the last failed attempt is kept in the message's state
//!     file (`mailwall queue` shows it); the recipients delivered, deferred and bounced are
//!     added to the live metrics once a second at most ([report] metrics_dir).
//!
//! OPTIONS
//!     -d DIR        the outgoing directory (default /var/spool/smtpd/outgoing); a spool root
//!                   (a directory holding outgoing/) is accepted too
//!     --spool DIR   the spool root (default /var/spool/smtpd); -d wins when both are given
//!     --config FILE configuration (default SPOOL/etc/gateway.conf)
//!     -u, -g        user and group to run as when started as root: only the spool root's owner
//!                   and its primary group are accepted (the ids come from the spool root)
//!     -s PROG       deliver through a sendmail-compatible program instead of SMTP
//!     -M N          most deliveries at once (default `[forward] max_parallel`, 10)
//!     -P SECONDS    seconds between scans (default `[forward] poll_seconds`, 10); a message
//!                   that arrives in outgoing/ is seen at once (inotify), the scans are the
//!                   safety net and bring deferred mail back when it is due
//!     -q            one log line per message instead of one per recipient
//!     --relay H[:P] the internal mail server (overrides `[forward] relay`)
//!     --once        one pass over the directory, then exit (for cron and tests)
//!     --foreground  do not detach (systemd, tests); --once never detaches
//!     --retry-base-secs N  first retry delay (default 60; tests shorten it; the cap is 60 × N)
//!     --mx-port PORT       SMTP port of MX hosts (default 25; tests point it at a local server)
//!     -v            debug log lines
//!
//! SECURITY
//!     Runs as: started as root it switches to the owner of the spool root and that user's
//!     primary group (spool::privs) before it reads any spool file, its configuration included,
//!     and never delivers as root; -u/-g and the configuration's `user`/`group` naming other ids
//!     stop it (exit 78). Started as another user it runs as that user.
//!     Trusts: the spool files (written by smtpd and scanmail as the same user); their envelope is
//!     checked and a malformed file is quarantined. Replies of the relay or MX hosts are parsed
//!     with bounded line lengths and counts; text after the STARTTLS reply is refused; what of a
//!     reply reaches a bounce is printable ASCII only, and bounce templates are filled in one
//!     pass. DNS is not trusted: MX answers naming non-global addresses are refused by default.
//!     With -s, `--` ends the options, so no address is read as an option of PROG.
//!     Writes: outgoing/ (SENT rewrites, state files, bounces, alerts; deletion after delivery),
//!     quarantine/ (malformed or undeliverable bounces), etc/sent.YYYYMMDD (or etc/days/).
//!     Network: connects out to the relay, the transport map's hosts or MX hosts only; never listens.
//!
//! EXIT STATUS
//!     0 stopped cleanly (or --once: every message of the pass delivered or bounced); 64 usage;
//!     71 cannot switch user or detach; 74 I/O error; 75 another instance runs, or (--once) messages left
//!     for a later try; 78 configuration error (among them: no relay set and no deliver_to_mx);
//!     70 internal error (a bug).
//!
//! FILES
//!     SPOOL/outgoing/smtpdXXXXXX           messages to deliver
//!     SPOOL/outgoing/.smtpfwdd.lock        the one-instance lock
//!     SPOOL/outgoing/.smtpdXXXXXX.state    retry state (next try, attempts, first seen)
//!     SPOOL/etc/gateway.conf               [forward] relay, deliver_to_mx, allow_private_mx,
//!                                          smtpd_ports, tls, ca_file, max_age, resolver, ...
//!     SPOOL/etc/transport                  per-domain routes (`domain host[:port]`)
//!     SPOOL/etc/bounce.tmpl                the text part of bounces
//!     SPOOL/etc/sent.YYYYMMDD              one line per recipient outcome (read by daysumm;
//!                                          in SPOOL/etc/days/ when it exists)
#![forbid(unsafe_code)]

use clap::Parser;
use smtpfwdd::deliver::Options;
use smtpfwdd::start::{self, Start};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "smtpfwdd",
    version,
    about = "Deliver every complete message in outgoing/ to the internal mail server"
)]
struct Args {
    /// The outgoing directory (or a spool root holding outgoing/)
    #[arg(short = 'd', long = "directory", value_name = "DIR")]
    directory: Option<PathBuf>,
    /// The spool root
    #[arg(long, value_name = "DIR", default_value = spool::layout::DEFAULT_ROOT)]
    spool: PathBuf,
    /// Configuration file (default SPOOL/etc/gateway.conf)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// User to run as when started as root: must be the spool root's owner
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Group to run as when started as root: must be the spool root owner's primary group
    #[arg(short = 'g', long = "group")]
    group: Option<String>,
    /// Deliver through this sendmail-compatible program instead of SMTP
    #[arg(short = 's', long = "sendmail", value_name = "PROG")]
    sendmail: Option<PathBuf>,
    /// Most deliveries at once
    #[arg(short = 'M', long = "max-parallel", value_name = "N")]
    max_parallel: Option<usize>,
    /// Seconds between scans of the directory
    #[arg(short = 'P', long = "poll-seconds", value_name = "SECONDS")]
    poll_seconds: Option<u64>,
    /// One log line per message
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// The internal mail server, HOST[:PORT] (overrides [forward] relay)
    #[arg(long, value_name = "HOST[:PORT]")]
    relay: Option<String>,
    /// One pass over the directory, then exit (0: all delivered or bounced; 75: some left)
    #[arg(long)]
    once: bool,
    /// Do not detach from the terminal
    #[arg(long)]
    foreground: bool,
    /// First retry delay in seconds (tests shorten it)
    #[arg(long, value_name = "N", default_value_t = 60)]
    retry_base_secs: u64,
    /// SMTP port of MX hosts (tests point it at a local server)
    #[arg(long, value_name = "PORT", default_value_t = 25)]
    mx_port: u16,
    /// Debug log lines
    #[arg(short = 'v', long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let me = spool::cli::Program {
        name: "smtpfwdd",
        source: include_str!("main.rs"),
        section: "8",
        codes: spool::exit::no_codes,
    };
    spool::cli::main(
        me,
        |a: &Args| (spool::logging::Target::Auto, a.verbose),
        run,
    )
}

/// The command line as a [`Start`]; `smtpfwdd::start` does the rest.
fn run(args: Args) -> anyhow::Result<ExitCode> {
    let st = Start {
        root: start::spool_root(args.directory.as_deref(), &args.spool),
        config: args.config,
        user: args.user,
        group: args.group,
        options: Options {
            relay: args.relay,
            sendmail: args.sendmail,
            retry_base: Duration::from_secs(args.retry_base_secs.max(1)),
            mx_port: args.mx_port,
            quiet: args.quiet,
        },
        max_parallel: args.max_parallel,
        poll_seconds: args.poll_seconds,
        once: args.once,
        foreground: args.foreground,
    };
    Ok(start::run(st)?)
}
