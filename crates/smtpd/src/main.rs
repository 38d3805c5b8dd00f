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
//!     ids than the spool root's owner; 74 I/O error; 70 internal error (a bug).
//!
//! FILES
//!     /var/spool/smtpd/etc/gateway.conf     hostname, domains, [smtpd] limits, timeouts and
//!                                           deadlines, relay-trick and hop policy
//!     /var/spool/smtpd/etc/smtpd_check_rules access rules (Obtuse format)
//!     /var/spool/smtpd/etc/{hosts,resolv.conf,nsswitch.conf,localtime}  used inside the chroot
//!     /var/spool/smtpd/incoming/            where messages are written
#![forbid(unsafe_code)]

use anyhow::Context as _;
use clap::Parser;
use log::{info, warn};
use smtpd::server::{self, Activation};
use smtpd::session::{Context, Settings};
use smtpd::stream::FdStream;
use spool::{exit, Config, Queue, Spool};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

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

/// The session settings from gateway.conf and the command line (at start and on SIGHUP).
fn settings_of(cfg: &Config, opts: &Options) -> Settings {
    Settings {
        hostname: opts
            .hostname
            .clone()
            .unwrap_or_else(|| cfg.hostname.clone()),
        max_size: opts.max_size.unwrap_or(cfg.smtpd.max_size),
        max_recipients: cfg.smtpd.max_recipients,
        command_timeout: Duration::from_secs(cfg.smtpd.command_timeout.max(1)),
        data_timeout: Duration::from_secs(cfg.smtpd.data_timeout.max(1)),
        data_deadline: Duration::from_secs(cfg.smtpd.data_deadline.max(1)),
        session_deadline: Duration::from_secs(cfg.smtpd.session_deadline.max(1)),
        min_free_bytes: cfg.smtpd.min_free_bytes,
        domains: cfg.domains.clone(),
        delay: Duration::from_secs(cfg.smtpd.delay_seconds),
        quiet: opts.quiet,
        relay_policy: smtpd::address::RelayPolicy {
            allow_percent_hack: cfg.smtpd.allow_percent_hack,
            allow_bang_path: cfg.smtpd.allow_bang_path,
        },
        max_hops: cfg.smtpd.max_hops,
    }
}

fn fail(code: u8, msg: impl Into<String>) -> anyhow::Error {
    exit::fail(code, msg).into()
}

fn run(opts: Options) -> anyhow::Result<ExitCode> {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let activation = server::socket_activation().context("socket activation")?;
    let root = spool_root(&opts)?;
    let queue = match opts.queue.trim_matches('/') {
        "incoming" => Queue::Incoming,
        other => {
            return Err(fail(
                exit::USAGE,
                format!("-d {other}: smtpd writes only into the spool's incoming queue"),
            ))
        }
    };
    let outside = Spool::new(&root);
    // Started as root: the ids are the spool root's owner's (spool::privs), and the spool's
    // files (configuration, rules, certificate) are read with them as the effective ids, so root
    // reads nothing the spool's owner can write or point elsewhere.
    let ids = if spool::privs::is_root() {
        Some(spool::privs::spool_ids(&outside).map_err(|e| fail(e.exit_code(), e.to_string()))?)
    } else {
        None
    };
    let reading = ids
        .map(spool::privs::EffectiveIds::enter)
        .transpose()
        .map_err(|e| fail(exit::OSERR, e.to_string()))?;
    let loaded = load(&outside, &opts)?;
    if let Some(r) = reading {
        r.leave().map_err(|e| fail(exit::OSERR, e.to_string()))?;
    }
    let ids = confirm_ids(ids, &outside, &opts, &loaded.cfg)?;

    let conn_activated = matches!(activation, Activation::Connection);
    let listener = listener_of(activation, &opts)?;
    if let (Some(p), Some(_)) = (&opts.pidfile, &listener) {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .map_err(|e| fail(exit::CANTCREAT, format!("{}: {e}", p.display())))?;
    }

    // Make the time zone known before the chroot hides /etc/localtime.
    let _ = spool::clock::now();
    let spool = match ids {
        Some((uid, gid)) => {
            spool::privs::chroot(&root).map_err(|e| fail(exit::OSERR, e.to_string()))?;
            spool::privs::drop_to(uid, gid).map_err(|e| fail(exit::OSERR, e.to_string()))?;
            Spool::new("/")
        }
        None => {
            if listener.is_some() {
                info!(
                    "running as uid {} (not root): no chroot, no user switch",
                    nix::unistd::getuid()
                );
            }
            outside
        }
    };

    let ctx = Context {
        settings: settings_of(&loaded.cfg, &opts),
        spool,
        queue,
        rules: loaded.rules,
        tls: loaded.tls,
    };
    let dns = !opts.no_dns && loaded.cfg.smtpd.dns_lookups;
    match listener {
        Some(listener) => {
            let chrooted = ids.is_some();
            let limits = &loaded.limits;
            serve_daemon(ctx, listener, limits, dns, &loaded.cfg, &opts, chrooted)
        }
        None => serve_inetd(&ctx, &opts, conn_activated, dns),
    }
}

/// The spool root: -c and --spool name the same one, or the default.
fn spool_root(opts: &Options) -> anyhow::Result<PathBuf> {
    Ok(match (&opts.chroot, &opts.spool) {
        (Some(a), Some(b)) if a != b => {
            return Err(fail(
                exit::USAGE,
                "-c and --spool name different spool roots",
            ))
        }
        (Some(a), _) | (None, Some(a)) => a.clone(),
        (None, None) => PathBuf::from(spool::layout::DEFAULT_ROOT),
    })
}

/// What smtpd reads at start, before the chroot: gateway.conf, the rules, the TLS certificate.
struct Loaded {
    cfg: Config,
    rules: smtpd::rules::Rules,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: server::Limits,
}

fn load(outside: &Spool, opts: &Options) -> anyhow::Result<Loaded> {
    let cfg = Config::for_spool(outside, opts.config.as_deref())
        .map_err(|e| fail(exit::CONFIG, e.to_string()))?;
    let rules_path = spool::config::etc_relative(outside, &cfg.smtpd.check_rules);
    let rules = smtpd::rules::Rules::load(&rules_path)
        .map_err(|e| fail(exit::CONFIG, format!("{e} (smtpd refuses to start)")))?;
    let tls = if cfg.smtpd.tls_cert.is_empty() {
        None
    } else {
        let cert = spool::config::etc_relative(outside, &cfg.smtpd.tls_cert);
        let key = spool::config::etc_relative(outside, &cfg.smtpd.tls_key);
        Some(Arc::new(
            smtpd::session::load_tls(&cert, &key).map_err(|e| fail(exit::CONFIG, e))?,
        ))
    };
    let limits = server::Limits {
        max_clients: cfg.smtpd.max_clients,
        max_per_client: cfg.smtpd.max_connections_per_ip,
        exempt: cfg
            .smtpd
            .connection_limit_exceptions
            .iter()
            .map(|n| smtpd::rules::parse_net(n))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                fail(
                    exit::CONFIG,
                    format!("smtpd.connection_limit_exceptions: {e}"),
                )
            })?,
    };
    Ok(Loaded {
        cfg,
        rules,
        tls,
        limits,
    })
}

/// Started as root: the spool owner's ids, confirmed against -u/-g and gateway.conf, and the
/// spool checked for them; otherwise the spool checked for whoever runs smtpd.
fn confirm_ids(
    ids: Option<spool::privs::Ids>,
    outside: &Spool,
    opts: &Options,
    cfg: &Config,
) -> anyhow::Result<Option<(nix::unistd::Uid, nix::unistd::Gid)>> {
    if let Some(ids) = ids {
        spool::privs::confirm_options(ids, opts.user.as_deref(), opts.group.as_deref())
            .and_then(|()| spool::privs::confirm_named(ids, &cfg.user, &cfg.group, "gateway.conf"))
            .map_err(|e| fail(e.exit_code(), e.to_string()))?;
        let ids = (ids.uid, ids.gid);
        outside
            .check(Some(ids.0.as_raw()))
            .map_err(|e| fail(exit::CONFIG, e.to_string()))?;
        Ok(Some(ids))
    } else {
        outside
            .check(None)
            .map_err(|e| fail(exit::CONFIG, e.to_string()))?;
        Ok(None)
    }
}

/// The listening socket: systemd's, or one bound for -D; none for a single session.
fn listener_of(activation: Activation, opts: &Options) -> anyhow::Result<Option<TcpListener>> {
    Ok(match activation {
        Activation::Listener(l) => Some(l),
        _ if opts.daemon => {
            let addr =
                SocketAddr::new(opts.listen.unwrap_or(IpAddr::from([0, 0, 0, 0])), opts.port);
            Some(
                TcpListener::bind(addr).map_err(|e| {
                    fail(exit::UNAVAILABLE, format!("cannot listen on {addr}: {e}"))
                })?,
            )
        }
        _ => None,
    })
}

/// The daemon: accept connections until told to stop, reloading on SIGHUP.
fn serve_daemon(
    ctx: Context,
    listener: TcpListener,
    limits: &server::Limits,
    dns: bool,
    cfg: &Config,
    opts: &Options,
    chrooted: bool,
) -> anyhow::Result<ExitCode> {
    let queue = ctx.queue;
    server::install_shutdown_handler().context("signal handling")?;
    if let Ok(n) = spool::store::clean_stale_temps(&ctx.spool, queue, Duration::from_secs(86_400)) {
        if n > 0 {
            warn!("removed {n} stale temp file(s) left by a crash");
        }
    }
    info!(
        "listening on {} ({} rule(s), max {} clients, {} per client address)",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into()),
        ctx.rules.len(),
        cfg.smtpd.max_clients,
        cfg.smtpd.max_connections_per_ip
    );
    // SIGHUP: gateway.conf and the rules again, from inside the chroot when there is one (a
    // --config outside it cannot be reached: the spool's own file is read then); the TLS
    // certificate, the limits and the listening socket stay as they are.
    let explicit = if chrooted { None } else { opts.config.clone() };
    let reload = |old: &Context| -> Result<Context, String> {
        let cfg = Config::for_spool(&old.spool, explicit.as_deref()).map_err(|e| e.to_string())?;
        let path = spool::config::etc_relative(&old.spool, &cfg.smtpd.check_rules);
        let rules = smtpd::rules::Rules::load(&path).map_err(|e| e.to_string())?;
        Ok(Context {
            settings: settings_of(&cfg, opts),
            spool: old.spool.clone(),
            queue: old.queue,
            rules,
            tls: old.tls.clone(),
        })
    };
    server::serve_listener(Arc::new(ctx), listener, limits, dns, &reload).context("accept loop")?;
    info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// One session on stdin/stdout (inetd, or a socket-activated connection).
fn serve_inetd(
    ctx: &Context,
    opts: &Options,
    conn_activated: bool,
    dns: bool,
) -> anyhow::Result<ExitCode> {
    let peer = server::stdin_peer();
    if let (Some(want), Some(local)) = (opts.listen, server::stdin_local()) {
        if local.ip() != want {
            use std::io::Write;
            let _ = write!(
                std::io::stdout(),
                "521 5.3.2 {} does not accept mail on this address\r\n",
                ctx.settings.hostname
            );
            return Ok(ExitCode::SUCCESS);
        }
    }
    let t = if conn_activated {
        FdStream::stdin_both()
    } else {
        FdStream::stdio()
    }
    .context("stdin/stdout")?;
    server::serve_one(ctx, t, peer, dns);
    Ok(ExitCode::SUCCESS)
}
