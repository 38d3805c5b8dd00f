//! NAME
//!     smtpd — the SMTP store daemon of the e-mail virus firewall (Obtuse smtpd 2.0, modernised)
//!
//! SYNOPSIS
//!     smtpd [-H] [-D] [-q] [-c dir] [-d dir] [-u user] [-g group] [-m hostname] [-s bytes]
//!           [-p port] [-l addr] [-i pidfile] [--spool dir] [--config file]
//!
//! DESCRIPTION
//!     Receives mail by SMTP (RFC 5321 with SIZE, PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES and,
//!     when a certificate is configured, STARTTLS) and writes each message into the spool's
//!     `incoming/` queue in the Obtuse format (`FROM`/`RCPT`/`BODY` then the message, with a
//!     Received: line). It answers `250` only once the file is fsynced under its final name.
//!     Recipients are accepted only in the configured `domains` unless `etc/smtpd_check_rules`
//!     allows them: the gateway is never an open relay.
//!
//!     Only `<CR><LF>.<CR><LF>` ends DATA; a bare LF or bare CR is stored as a line end and
//!     never ends the message (no SMTP smuggling). Addresses are stored, logged and matched by
//!     the rules in one normal form: source routes dropped, needless quotes removed, no trailing
//!     dot on the domain. Refused: an `@` in a local part, `%` and `!` in a recipient's local part
//!     (unless `allow_percent_hack` / `allow_bang_path`), addresses starting with `-`, non-ASCII
//!     addresses (553 5.6.7: SMTPUTF8 is not offered), and messages with more than `max_hops`
//!     `Received:` headers (554 5.4.6, a mail loop). BODY=8BITMIME is accepted and 8-bit bodies
//!     are stored as sent; the spool format has no place to record the parameter.
//!
//!     Ways to run: from inetd (the default; the session is stdin/stdout, e.g. the inetd.conf line
//!     `smtp stream tcp nowait root /usr/local/sbin/smtpd smtpd`); as a daemon with `-D` (a thread
//!     per connection, at most `smtpd.max_clients`); under systemd socket activation (`LISTEN_FDS`:
//!     with `Accept=yes` fd 3 is the connection, with `Accept=no` a listening socket).
//!
//!     Signals (daemon): SIGTERM or SIGINT end it (sessions answer 421 at their next read);
//!     SIGHUP rereads gateway.conf and the rules for new sessions (one log line; sessions in
//!     progress keep theirs; the certificate, the limits and the socket stay until a restart).
//!
//! SECURITY
//!     Runs as: started as root it takes its ids from the owner of the spool root and that
//!     user's primary group (spool::privs; never from gateway.conf, which the owner can edit;
//!     never uid or gid 0), reads its configuration, rules and certificate with those ids as
//!     its effective ones, binds its port, chroots into the spool root (`-c`), and switches to
//!     them for good. `-u`/`-g` and the configuration's `user`/`group` may only name the same
//!     ids (else exit 78). If any step fails it stops, so no SMTP byte and no spool file is ever
//!     read as root. Started as another user it runs as that user without chroot and says so in
//!     the log.
//!     Trusts: nothing that comes from the network. Command lines are limited to 512 bytes,
//!     addresses with control characters are refused, DATA is streamed to disk (memory per
//!     session is constant), and every log line has control characters replaced. Time is
//!     bounded too: each command line must be complete within `command_timeout`, each DATA within
//!     `data_deadline` (and no silence in it over `data_timeout`), each session within
//!     `session_deadline`, however slowly the client dribbles; in daemon mode at most
//!     `max_connections_per_ip` sessions come from one client address (an IPv6 /64) outside
//!     `connection_limit_exceptions`. Each limit is answered with 421.
//!     Writes: only `incoming/.tmp.<id>` files, renamed to `incoming/<id>` when complete.
//!
//! EXIT STATUS
//!     0 after a session (inetd) or a clean shutdown (daemon); 64 usage; 69 cannot bind;
//!     71 cannot chroot or switch user; 78 configuration, rules or certificate errors, a spool
//!     root owned by root or not by its owner's primary group, or -u/-g/user/group naming other
//!     ids than the spool root's owner; 73 cannot write the -i pid file; 74 I/O error (socket
//!     activation, stdin/stdout, the accept loop); 70 internal error (a bug).
//!
//! FILES
//!     /var/spool/smtpd/etc/gateway.conf     hostname, domains, [smtpd] limits, timeouts and
//!                                           deadlines, relay-trick and hop policy
//!     /var/spool/smtpd/etc/smtpd_check_rules access rules (Obtuse format)
//!     /var/spool/smtpd/etc/{hosts,resolv.conf,nsswitch.conf,localtime}  used inside the chroot
//!     /var/spool/smtpd/incoming/            where messages are written
#![forbid(unsafe_code)]

use clap::Parser;
use smtpd::server;
use smtpd::start::{self, Start};
use spool::exit;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// SMTP store daemon: receives mail and writes each message into the spool's incoming queue.
#[derive(Parser, Debug)]
#[command(name = "smtpd", version, about, long_about = None)]
struct Options {
    /// Spool root to chroot into when started as root (Obtuse's chroot directory).
    #[arg(short = 'c', long = "chroot", value_name = "DIR")]
    chroot: Option<PathBuf>,
    /// Spool root (same as -c; the default is /var/spool/smtpd).
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Configuration file (default: <spool>/etc/gateway.conf).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Queue directory inside the spool that receives mail (only `incoming` is supported).
    #[arg(
        short = 'd',
        long = "queue",
        value_name = "DIR",
        default_value = "incoming"
    )]
    queue: String,
    /// User to run as when started as root: must be the spool root's owner (the ids come from it).
    #[arg(short = 'u', long, value_name = "USER")]
    user: Option<String>,
    /// Group to run as when started as root: must be the spool root owner's primary group.
    #[arg(short = 'g', long, value_name = "GROUP")]
    group: Option<String>,
    /// Host name for the banner and the Received: line (default: `hostname` in gateway.conf).
    #[arg(short = 'm', long = "hostname", value_name = "NAME")]
    hostname: Option<String>,
    /// Largest message accepted, in bytes; 0 = no limit (default: smtpd.max_size).
    #[arg(short = 's', long = "max-size", value_name = "BYTES")]
    max_size: Option<u64>,
    /// Do not look up client names in DNS.
    #[arg(short = 'H', long = "no-dns")]
    no_dns: bool,
    /// Run as a daemon listening on a port, instead of serving one session on stdin/stdout.
    #[arg(short = 'D', long)]
    daemon: bool,
    /// Port to listen on with -D.
    #[arg(short = 'p', long, default_value_t = 25)]
    port: u16,
    /// Address to listen on with -D (default: all); from inetd, refuse (521) connections that
    /// came to any other local address.
    #[arg(short = 'l', long = "listen", value_name = "ADDR")]
    listen: Option<IpAddr>,
    /// Write the daemon's process id to this file.
    #[arg(short = 'i', long = "pidfile", value_name = "FILE")]
    pidfile: Option<PathBuf>,
    /// Quiet: one log line per message, none per session.
    #[arg(short = 'q', long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let me = spool::cli::Program {
        name: "smtpd",
        source: include_str!("main.rs"),
        section: "8",
        codes: exit::no_codes,
    };
    // The syslog socket is connected before the chroot hides /dev/log. From inetd (no -D, no
    // socket activation) stderr is the client's connection: syslog only. systemd's descriptor
    // (fd 3) is already open, so the syslog socket cannot take its number.
    let log = |o: &Options| {
        let target = if o.daemon || server::activation_expected() {
            spool::logging::Target::Auto
        } else {
            spool::logging::Target::SyslogOnly
        };
        (target, false)
    };
    spool::cli::main(me, log, run)
}

/// The command line as a [`Start`]; `smtpd::start` does the rest.
fn run(opts: Options) -> anyhow::Result<ExitCode> {
    let st = Start {
        root: start::spool_root(opts.chroot.as_deref(), opts.spool.as_deref())?,
        queue: start::queue_of(&opts.queue)?,
        config: opts.config,
        user: opts.user,
        group: opts.group,
        hostname: opts.hostname,
        max_size: opts.max_size,
        dns: !opts.no_dns,
        daemon: opts.daemon,
        port: opts.port,
        listen: opts.listen,
        pidfile: opts.pidfile,
        quiet: opts.quiet,
    };
    Ok(start::run(&st)?)
}
