//! Where a recipient's mail goes: the per-domain transport map (`etc/transport`), the relay
//! (`[forward] relay`), or the domain's MX hosts (when `relay = ""`).
//!
//! `etc/transport` holds lines `domain  host[:port]` (`#` comments, blank lines ignored). A
//! domain written with a leading dot (`.example.com`) also covers every subdomain. A matching line
//! wins over both the relay and the MX records: the named host is looked up by its A/AAAA records
//! only (or taken as it is when it is an IP address).
//!
//! MX delivery (RFC 5321 §5.1): the MX records in preference order (equal preferences in the order
//! the server gave), each host's A/AAAA addresses; no MX record at all → the domain's own A/AAAA
//! ("implicit MX"); a null MX (RFC 7505, `0 .`) or a domain that does not exist → a bounce; any
//! other DNS trouble → retry later.

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::error::ResolveErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

/// One server to try: the name its certificate should carry and its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub addrs: Vec<SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The domain cannot receive mail (does not exist, null MX): bounce.
    #[error("{0}")]
    Permanent(String),
    /// DNS or configuration trouble that may pass: retry.
    #[error("{0}")]
    Transient(String),
}

/// The parsed transport map.
#[derive(Clone, Debug, Default)]
pub struct Transport {
    exact: HashMap<String, (String, u16)>,
    suffix: Vec<(String, (String, u16))>,
}

impl Transport {
    /// Load `etc/transport`; a missing file is an empty map. Errors name the file and line.
    pub fn load(path: &Path) -> Result<Transport, String> {
        match std::fs::read_to_string(path) {
            Ok(t) => Transport::parse(&t).map_err(|e| format!("{}:{e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Transport::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<Transport, String> {
        let mut t = Transport::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() != 2 {
                return Err(format!(
                    "{}: expected `domain host[:port]`, got {line:?}",
                    n + 1
                ));
            }
            let (host, port) = spool::config::split_host_port(f[1], 25);
            let domain = f[0].to_ascii_lowercase();
            if let Some(s) = domain.strip_prefix('.') {
                t.suffix.push((s.to_string(), (host, port)));
            } else {
                t.exact.insert(domain, (host, port));
            }
        }
        Ok(t)
    }

    /// The host and port for a recipient domain, if the map names one.
    pub fn lookup(&self, domain: &str) -> Option<(String, u16)> {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        if let Some(v) = self.exact.get(&d) {
            return Some(v.clone());
        }
        self.suffix
            .iter()
            .find(|(s, _)| d.ends_with(&format!(".{s}")))
            .map(|(_, v)| v.clone())
    }
}

/// A DNS resolver for MX delivery: `[forward] resolver = "ip:port"`, or /etc/resolv.conf.
pub struct Resolver {
    inner: hickory_resolver::Resolver,
}

impl Resolver {
    pub fn new(server: &str) -> Result<Resolver, String> {
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(5);
        opts.attempts = 2;
        let inner = if server.is_empty() {
            hickory_resolver::Resolver::from_system_conf()
                .map_err(|e| format!("resolver from /etc/resolv.conf: {e}"))?
        } else {
            let sa: SocketAddr = server
                .parse()
                .or_else(|_| format!("{server}:53").parse())
                .map_err(|_| format!("[forward] resolver {server:?} is not ip:port"))?;
            let group = NameServerConfigGroup::from_ips_clear(&[sa.ip()], sa.port(), true);
            let cfg = ResolverConfig::from_parts(None, vec![], group);
            hickory_resolver::Resolver::new(cfg, opts)
                .map_err(|e| format!("resolver {server}: {e}"))?
        };
        Ok(Resolver { inner })
    }

    /// The servers for `domain` in the order to try them; `port` is the SMTP port (25).
    pub fn mx_hosts(&self, domain: &str, port: u16) -> Result<Vec<Host>, RouteError> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match self.inner.mx_lookup(fqdn.as_str()) {
            Ok(mx) => {
                let mut recs: Vec<(u16, String)> = mx
                    .iter()
                    .map(|r| (r.preference(), r.exchange().to_utf8()))
                    .collect();
                // A stable sort keeps the server's order among equal preferences.
                recs.sort_by_key(|r| r.0);
                if recs.len() == 1 && (recs[0].1 == "." || recs[0].1.is_empty()) {
                    return Err(RouteError::Permanent(format!(
                        "{domain} does not accept mail (null MX)"
                    )));
                }
                let mut hosts = Vec::new();
                let mut last_err = None;
                for (_, name) in recs {
                    match self.addresses(&name, port) {
                        Ok(h) if !h.addrs.is_empty() => hosts.push(h),
                        Ok(_) => {}
                        Err(e) => last_err = Some(e),
                    }
                }
                if hosts.is_empty() {
                    return Err(RouteError::Transient(match last_err {
                        Some(e) => format!("no address for any MX host of {domain}: {e}"),
                        None => format!("no address for any MX host of {domain}"),
                    }));
                }
                Ok(hosts)
            }
            Err(e) => match e.kind() {
                ResolveErrorKind::NoRecordsFound { response_code, .. }
                    if *response_code == ResponseCode::NXDomain =>
                {
                    Err(RouteError::Permanent(format!(
                        "domain {domain} does not exist"
                    )))
                }
                ResolveErrorKind::NoRecordsFound { .. } => {
                    // No MX: the domain itself is the mail host (RFC 5321 §5.1).
                    match self.addresses(&fqdn, port) {
                        Ok(h) if !h.addrs.is_empty() => Ok(vec![Host {
                            name: domain.to_string(),
                            addrs: h.addrs,
                        }]),
                        Ok(_) => Err(RouteError::Permanent(format!(
                            "{domain} has no MX and no address record"
                        ))),
                        Err(e) => Err(e),
                    }
                }
                _ => Err(RouteError::Transient(format!(
                    "MX lookup for {domain}: {e}"
                ))),
            },
        }
    }

    /// A/AAAA of a host name (or the address itself).
    pub fn addresses(&self, name: &str, port: u16) -> Result<Host, RouteError> {
        let bare = name.trim_end_matches('.');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Host {
                name: bare.into(),
                addrs: vec![SocketAddr::new(ip, port)],
            });
        }
        match self.inner.lookup_ip(format!("{bare}.").as_str()) {
            Ok(ips) => Ok(Host {
                name: bare.into(),
                addrs: ips.iter().map(|ip| SocketAddr::new(ip, port)).collect(),
            }),
            Err(e) => match e.kind() {
                ResolveErrorKind::NoRecordsFound { .. } => Ok(Host {
                    name: bare.into(),
                    addrs: vec![],
                }),
                _ => Err(RouteError::Transient(format!(
                    "address lookup for {bare}: {e}"
                ))),
            },
        }
    }
}

/// Resolve a `host[:port]` with the system resolver (the relay, a transport map entry when no DNS
/// resolver of our own is configured).
pub fn system_host(host: &str, port: u16) -> Result<Host, RouteError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| RouteError::Transient(format!("cannot resolve {host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(RouteError::Transient(format!("{host} has no address")));
    }
    Ok(Host {
        name: host.to_string(),
        addrs,
    })
}

/// The domain of an address with brackets (`<a@Example.COM>` → `example.com`).
pub fn domain_of(addr: &str) -> String {
    let a = spool::envelope::strip_brackets(addr);
    a.rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_map() {
        let t = Transport::parse(
            "# comment\n\nexample.com  mail.internal:2525\n.example.org relay.internal # sub\n",
        )
        .unwrap();
        assert_eq!(
            t.lookup("EXAMPLE.com"),
            Some(("mail.internal".into(), 2525))
        );
        assert_eq!(
            t.lookup("a.example.org"),
            Some(("relay.internal".into(), 25))
        );
        assert_eq!(t.lookup("example.org"), None);
        assert_eq!(t.lookup("other.net"), None);
        assert!(Transport::parse("only-one-field\n").is_err());
    }

    #[test]
    fn shipped_example_parses_to_an_empty_map() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/transport");
        let t = Transport::load(&p).unwrap();
        assert!(t.exact.is_empty() && t.suffix.is_empty());
    }

    #[test]
    fn domains() {
        assert_eq!(domain_of("<a@Example.COM>"), "example.com");
        assert_eq!(domain_of("<postmaster>"), "");
    }
}
