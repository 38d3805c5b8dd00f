//! What every delivery shares: the configuration, the routes, the SMTP client's options, and
//! the check that the relay (or MX delivery) is set.

use super::*;

/// Everything a delivery needs, built once per configuration (SIGHUP builds a new one).
pub struct Context {
    pub spool: Spool,
    pub cfg: Config,
    pub opts: Options,
    /// The effective relay: `--relay`, else `[forward] relay`; "" only with `deliver_to_mx`
    /// (MX delivery) or `-s PROG`.
    pub relay: String,
    pub transport_map: TransportMap,
    pub client: ClientOptions,
    resolver: OnceLock<Result<Arc<Resolver>, String>>,
}

impl Context {
    pub fn new(spool: Spool, cfg: Config, opts: Options) -> Result<Context, String> {
        let transport_map = TransportMap::load(&spool.etc_file("transport"))?;
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
            transport_map,
            client,
            resolver: OnceLock::new(),
        })
    }

    pub(super) fn resolver(&self) -> Result<Arc<Resolver>, String> {
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
