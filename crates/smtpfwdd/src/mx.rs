//! Where a recipient's mail goes: the per-domain transport map (`etc/transport`), the relay
//! (`[forward] relay`), or the domain's MX hosts (`[forward] deliver_to_mx = true`), and which of
//! the addresses found mail may go to ([`is_global`], [`is_own_smtpd`]).
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
    /// Every address found is one mail must not go to (a non-global address of an MX host):
    /// bounce (5.4.4).
    #[error("{0}")]
    Unroutable(String),
}

/// The parsed transport map.
#[derive(Clone, Debug, Default)]
pub struct TransportMap {
    exact: HashMap<String, (String, u16)>,
    suffix: Vec<(String, (String, u16))>,
}

impl TransportMap {
    /// Load `etc/transport`; a missing file is an empty map. Errors name the file and line.
    pub fn load(path: &Path) -> Result<TransportMap, String> {
        match std::fs::read_to_string(path) {
            Ok(t) => TransportMap::parse(&t).map_err(|e| format!("{}:{e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TransportMap::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<TransportMap, String> {
        let mut t = TransportMap::default();
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

/// Our limits on DNS, whatever else the options say: a dead server costs a delivery ten
/// seconds, not the library's default minute.
fn our_opts(mut o: ResolverOpts) -> ResolverOpts {
    o.timeout = Duration::from_secs(5);
    o.attempts = 2;
    o
}

/// A DNS resolver for MX delivery: `[forward] resolver = "ip:port"`, or /etc/resolv.conf.
pub struct Resolver {
    inner: hickory_resolver::Resolver,
}

impl Resolver {
    pub fn new(server: &str) -> Result<Resolver, String> {
        let inner = if server.is_empty() {
            // The system's servers and options (ndots, search), with our timeouts on top: the
            // options built here used to be dropped on this path.
            let (cfg, sys) = hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| format!("resolver from /etc/resolv.conf: {e}"))?;
            hickory_resolver::Resolver::new(cfg, our_opts(sys))
                .map_err(|e| format!("resolver from /etc/resolv.conf: {e}"))?
        } else {
            let sa: SocketAddr = server
                .parse()
                .or_else(|_| format!("{server}:53").parse())
                .map_err(|_| format!("[forward] resolver {server:?} is not ip:port"))?;
            let group = NameServerConfigGroup::from_ips_clear(&[sa.ip()], sa.port(), true);
            let cfg = ResolverConfig::from_parts(None, vec![], group);
            hickory_resolver::Resolver::new(cfg, our_opts(ResolverOpts::default()))
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

/// True for an address on the public internet. Loopback, unspecified, private (RFC 1918),
/// shared (CGNAT, RFC 6598), link-local, documentation, benchmarking, multicast, broadcast and
/// reserved IPv4 ranges; IPv6 loopback, unspecified, link-local, site-local, unique local (ULA),
/// documentation, multicast; and IPv6 forms that embed an IPv4 address (mapped, compatible,
/// NAT64, 6to4) are judged by that address. (std's `is_global` is not stable.)
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(a == 0
                || a == 10
                || a == 127
                || (a == 100 && (64..128).contains(&b))
                || (a == 169 && b == 254)
                || (a == 172 && (16..32).contains(&b))
                || (a == 192 && b == 0 && (c == 0 || c == 2))
                || (a == 192 && b == 88 && c == 99)
                || (a == 192 && b == 168)
                || (a == 198 && (b == 18 || b == 19))
                || (a == 198 && b == 51 && c == 100)
                || (a == 203 && b == 0 && c == 113)
                || a >= 224)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_global(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if s[..6] == [0, 0, 0, 0, 0, 0] {
                // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d: none is a real host.
                return false;
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let v4 = std::net::Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                );
                return is_global(IpAddr::V4(v4));
            }
            if s[0] == 0x2002 {
                let v4 = std::net::Ipv4Addr::new(
                    (s[1] >> 8) as u8,
                    s[1] as u8,
                    (s[2] >> 8) as u8,
                    s[2] as u8,
                );
                return is_global(IpAddr::V4(v4));
            }
            !((s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] & 0xff00) == 0xff00
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x3fff && s[1] < 0x1000)
                || s[0] == 0x0100 && s[1..4] == [0, 0, 0])
        }
    }
}

/// This host's own addresses (every interface's), for [`is_own_smtpd`]. Read at each new
/// connection: interfaces and their addresses change (DHCP) while the daemon runs.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(ifs) = nix::ifaddrs::getifaddrs() {
        for i in ifs {
            let Some(a) = i.address else { continue };
            if let Some(v4) = a.as_sockaddr_in() {
                out.push(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = a.as_sockaddr_in6() {
                out.push(IpAddr::V6(v6.ip()));
            }
        }
    }
    out
}

/// True when `addr` is where this gateway's smtpd listens: a port of `smtpd_ports` at a loopback,
/// unspecified or own (`local`) address. Mail sent there comes straight back into incoming/.
pub fn is_own_smtpd(addr: &SocketAddr, smtpd_ports: &[u16], local: &[IpAddr]) -> bool {
    if !smtpd_ports.contains(&addr.port()) {
        return false;
    }
    let ip = match addr.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        ip => ip,
    };
    ip.is_loopback() || ip.is_unspecified() || local.contains(&ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_limits_apply_to_the_system_options_too() {
        let mut sys = ResolverOpts::default();
        sys.ndots = 3;
        let o = our_opts(sys);
        assert_eq!(o.timeout, Duration::from_secs(5));
        assert_eq!(o.attempts, 2);
        assert_eq!(o.ndots, 3, "the system's own options are kept");
    }

    #[test]
    fn transport_map() {
        let t = TransportMap::parse(
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
        assert!(TransportMap::parse("only-one-field\n").is_err());
    }

    #[test]
    fn shipped_example_parses_to_an_empty_map() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/transport");
        let t = TransportMap::load(&p).unwrap();
        assert!(t.exact.is_empty() && t.suffix.is_empty());
    }

    #[test]
    fn domains() {
        assert_eq!(domain_of("<a@Example.COM>"), "example.com");
        assert_eq!(domain_of("<postmaster>"), "");
    }

    #[test]
    fn global_and_inside_addresses() {
        for a in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "::127.0.0.1",
        ] {
            assert!(!is_global(a.parse().unwrap()), "{a} is not global");
        }
        for a in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.0.3.1",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_global(a.parse().unwrap()), "{a} is global");
        }
    }

    #[test]
    fn own_smtpd() {
        let local: Vec<IpAddr> = vec!["192.0.2.10".parse().unwrap()];
        let own = |a: &str| is_own_smtpd(&a.parse().unwrap(), &[25], &local);
        assert!(own("127.0.0.1:25") && own("127.1.2.3:25") && own("[::1]:25"));
        assert!(own("0.0.0.0:25") && own("192.0.2.10:25") && own("[::ffff:192.0.2.10]:25"));
        assert!(!own("127.0.0.1:2525") && !own("192.0.2.11:25"));
        assert!(!is_own_smtpd(&"127.0.0.1:25".parse().unwrap(), &[], &local));
        // The loopback interface is among this host's addresses.
        assert!(local_addresses().iter().any(|a| a.is_loopback()));
    }
}
