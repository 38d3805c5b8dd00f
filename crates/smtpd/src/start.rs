//! How smtpd starts and what it serves: the files it reads as the spool's owner before the
//! chroot (gateway.conf, the rules, the certificate), the ids it confirms (spool::privs: the
//! spool root's owner), the socket it binds or inherits, the chroot and the switch for good,
//! then the daemon's accept loop or the one inetd session. Every failure is an
//! [`exit::Failure`] with the code the `//!` header of `main.rs` lists.

use crate::server::{self, Activation};
use crate::session::{Context, Settings};
use crate::stream::FdStream;
use log::{info, warn};
use spool::exit::{self, fail, Failure};
use spool::{Config, Queue, Spool};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// What the command line asks of smtpd.
#[derive(Clone, Debug)]
pub struct Start {
    /// The spool root ([`spool_root`]).
    pub root: PathBuf,
    /// The queue that receives mail ([`queue_of`]).
    pub queue: Queue,
    pub config: Option<PathBuf>,
    /// `-u`/`-g`: may only name the spool owner's ids.
    pub user: Option<String>,
    pub group: Option<String>,
    /// Override gateway.conf's `hostname` and `smtpd.max_size`.
    pub hostname: Option<String>,
    pub max_size: Option<u64>,
    /// False with `-H`: no reverse DNS whatever gateway.conf says.
    pub dns: bool,
    /// `-D`: listen on `listen`:`port` (unless systemd hands over a socket).
    pub daemon: bool,
    pub port: u16,
    pub listen: Option<IpAddr>,
    pub pidfile: Option<PathBuf>,
    pub quiet: bool,
}

/// The spool root: -c and --spool name the same one, or the default.
pub fn spool_root(chroot: Option<&Path>, spool: Option<&Path>) -> Result<PathBuf, Failure> {
    Ok(match (chroot, spool) {
        (Some(a), Some(b)) if a != b => {
            return Err(fail(
                exit::USAGE,
                "-c and --spool name different spool roots",
            ))
        }
        (Some(a), _) | (None, Some(a)) => a.to_path_buf(),
        (None, None) => PathBuf::from(spool::layout::DEFAULT_ROOT),
    })
}

/// The queue `-d` names: only `incoming`.
pub fn queue_of(dir: &str) -> Result<Queue, Failure> {
    match dir.trim_matches('/') {
        "incoming" => Ok(Queue::Incoming),
        other => Err(fail(
            exit::USAGE,
            format!("-d {other}: smtpd writes only into the spool's incoming queue"),
        )),
    }
}

/// The session settings from gateway.conf and the command line (at start and on SIGHUP).
fn settings_of(cfg: &Config, st: &Start) -> Settings {
    Settings {
        hostname: st.hostname.clone().unwrap_or_else(|| cfg.hostname.clone()),
        max_size: st.max_size.unwrap_or(cfg.smtpd.max_size),
        max_recipients: cfg.smtpd.max_recipients,
        command_timeout: Duration::from_secs(cfg.smtpd.command_timeout.max(1)),
        data_timeout: Duration::from_secs(cfg.smtpd.data_timeout.max(1)),
        data_deadline: Duration::from_secs(cfg.smtpd.data_deadline.max(1)),
        session_deadline: Duration::from_secs(cfg.smtpd.session_deadline.max(1)),
        min_free_bytes: cfg.smtpd.min_free_bytes,
        domains: cfg.domains.clone(),
        delay: Duration::from_secs(cfg.smtpd.delay_seconds),
        quiet: st.quiet,
        relay_policy: crate::address::RelayPolicy {
            allow_percent_hack: cfg.smtpd.allow_percent_hack,
            allow_bang_path: cfg.smtpd.allow_bang_path,
        },
        max_hops: cfg.smtpd.max_hops,
    }
}

fn oserr(e: impl std::fmt::Display) -> Failure {
    fail(exit::OSERR, e.to_string())
}

fn ioerr(what: &str, e: impl std::fmt::Display) -> Failure {
    fail(exit::IOERR, format!("{what}: {e}"))
}

/// Start smtpd and serve until the session ends (inetd) or a signal stops the daemon.
pub fn run(st: &Start) -> Result<ExitCode, Failure> {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let activation = server::socket_activation().map_err(|e| ioerr("socket activation", e))?;
    let outside = Spool::new(&st.root);
    // Started as root: the ids are the spool root's owner's (spool::privs), and the spool's
    // files (configuration, rules, certificate) are read with them as the effective ids, so root
    // reads nothing the spool's owner can write or point elsewhere.
    let ids = if spool::privs::is_root() {
        Some(spool::privs::spool_ids(&outside)?)
    } else {
        None
    };
    let reading = ids
        .map(spool::privs::EffectiveIds::enter)
        .transpose()
        .map_err(oserr)?;
    let loaded = load(&outside, st)?;
    if let Some(r) = reading {
        r.leave().map_err(oserr)?;
    }
    let ids = confirm_ids(ids, &outside, st, &loaded.cfg)?;

    let conn_activated = matches!(activation, Activation::Connection);
    let listener = listener_of(activation, st)?;
    if let (Some(p), Some(_)) = (&st.pidfile, &listener) {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .map_err(|e| fail(exit::CANTCREAT, format!("{}: {e}", p.display())))?;
    }

    // Make the time zone known before the chroot hides /etc/localtime.
    let _ = spool::clock::now();
    let spool = match ids {
        Some(ids) => {
            spool::privs::chroot(&st.root).map_err(oserr)?;
            spool::privs::drop_to(ids.uid, ids.gid).map_err(oserr)?;
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
        settings: settings_of(&loaded.cfg, st),
        spool,
        queue: st.queue,
        rules: loaded.rules,
        tls: loaded.tls,
    };
    let dns = st.dns && loaded.cfg.smtpd.dns_lookups;
    match listener {
        Some(listener) => {
            let daemon = Daemon {
                limits: &loaded.limits,
                dns,
                cfg: &loaded.cfg,
                start: st,
                chrooted: ids.is_some(),
            };
            daemon.serve(ctx, listener)
        }
        None => serve_inetd(&ctx, st, conn_activated, dns),
    }
}

/// What smtpd reads at start, before the chroot: gateway.conf, the rules, the TLS certificate.
struct Loaded {
    cfg: Config,
    rules: spool::rules::Rules,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: server::Limits,
}

fn load(outside: &Spool, st: &Start) -> Result<Loaded, Failure> {
    let cfg = Config::for_spool(outside, st.config.as_deref())
        .map_err(|e| fail(exit::CONFIG, e.to_string()))?;
    let rules_path = spool::config::etc_relative(outside, &cfg.smtpd.check_rules);
    let rules = spool::rules::Rules::load(&rules_path)
        .map_err(|e| fail(exit::CONFIG, format!("{e} (smtpd refuses to start)")))?;
    let tls = if cfg.smtpd.tls_cert.is_empty() {
        None
    } else {
        let cert = spool::config::etc_relative(outside, &cfg.smtpd.tls_cert);
        let key = spool::config::etc_relative(outside, &cfg.smtpd.tls_key);
        Some(Arc::new(
            crate::session::load_tls(&cert, &key).map_err(|e| fail(exit::CONFIG, e))?,
        ))
    };
    let limits = server::Limits {
        max_clients: cfg.smtpd.max_clients,
        max_per_client: cfg.smtpd.max_connections_per_ip,
        exempt: cfg
            .smtpd
            .connection_limit_exceptions
            .iter()
            .map(|n| spool::rules::parse_net(n))
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

/// Started as root: the spool owner's ids, confirmed against -u/-g and gateway.conf (the one
/// rule of spool::privs), and the spool checked for them; otherwise the spool checked for
/// whoever runs smtpd.
fn confirm_ids(
    ids: Option<spool::privs::Ids>,
    outside: &Spool,
    st: &Start,
    cfg: &Config,
) -> Result<Option<spool::privs::Ids>, Failure> {
    if let Some(ids) = ids {
        spool::privs::confirm(ids, st.user.as_deref(), st.group.as_deref(), cfg)?;
    }
    outside
        .check(ids.map(|i| i.uid.as_raw()))
        .map_err(|e| fail(exit::CONFIG, e.to_string()))?;
    Ok(ids)
}

/// The listening socket: systemd's, or one bound for -D; none for a single session.
fn listener_of(activation: Activation, st: &Start) -> Result<Option<TcpListener>, Failure> {
    Ok(match activation {
        Activation::Listener(l) => Some(l),
        _ if st.daemon => {
            let addr = SocketAddr::new(st.listen.unwrap_or(IpAddr::from([0, 0, 0, 0])), st.port);
            Some(
                TcpListener::bind(addr).map_err(|e| {
                    fail(exit::UNAVAILABLE, format!("cannot listen on {addr}: {e}"))
                })?,
            )
        }
        _ => None,
    })
}

/// The daemon's share of what was loaded at start.
struct Daemon<'a> {
    limits: &'a server::Limits,
    dns: bool,
    cfg: &'a Config,
    start: &'a Start,
    chrooted: bool,
}

impl Daemon<'_> {
    /// Accept connections until told to stop, reloading on SIGHUP.
    fn serve(&self, ctx: Context, listener: TcpListener) -> Result<ExitCode, Failure> {
        let queue = ctx.queue;
        server::install_shutdown_handler().map_err(|e| ioerr("signal handling", e))?;
        if let Ok(n) =
            spool::store::clean_stale_temps(&ctx.spool, queue, Duration::from_secs(86_400))
        {
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
            self.cfg.smtpd.max_clients,
            self.cfg.smtpd.max_connections_per_ip
        );
        // SIGHUP: gateway.conf and the rules again, from inside the chroot when there is one (a
        // --config outside it cannot be reached: the spool's own file is read then); the TLS
        // certificate, the limits and the listening socket stay as they are.
        let explicit = if self.chrooted {
            None
        } else {
            self.start.config.clone()
        };
        let reload = |old: &Context| -> Result<Context, String> {
            let cfg =
                Config::for_spool(&old.spool, explicit.as_deref()).map_err(|e| e.to_string())?;
            let path = spool::config::etc_relative(&old.spool, &cfg.smtpd.check_rules);
            let rules = spool::rules::Rules::load(&path).map_err(|e| e.to_string())?;
            Ok(Context {
                settings: settings_of(&cfg, self.start),
                spool: old.spool.clone(),
                queue: old.queue,
                rules,
                tls: old.tls.clone(),
            })
        };
        server::serve_listener(Arc::new(ctx), listener, self.limits, self.dns, &reload)
            .map_err(|e| ioerr("accept loop", e))?;
        info!("stopped");
        Ok(ExitCode::SUCCESS)
    }
}

/// One session on stdin/stdout (inetd, or a socket-activated connection).
fn serve_inetd(
    ctx: &Context,
    st: &Start,
    conn_activated: bool,
    dns: bool,
) -> Result<ExitCode, Failure> {
    let peer = server::stdin_peer();
    if let (Some(want), Some(local)) = (st.listen, server::stdin_local()) {
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
    .map_err(|e| ioerr("stdin/stdout", e))?;
    server::serve_one(ctx, t, peer, dns);
    Ok(ExitCode::SUCCESS)
}
