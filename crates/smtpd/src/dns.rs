//! The client's name, for the Received: line and the `KNOWN`/`UNKNOWN` rules.
//!
//! glibc's resolver answers it. Inside the chroot the resolver reads the spool's `etc/hosts`,
//! `etc/resolv.conf` and `etc/nsswitch.conf` (the chroot's `/etc`), which is why the installer
//! copies them there, as Obtuse's did. `-H` (or `smtpd.dns_lookups = false`) skips the lookup.

use std::net::IpAddr;

/// The reverse DNS name of `ip`, confirmed by a forward lookup that gives `ip` back, so that a
/// PTR record alone cannot make a client `KNOWN` under a name it does not own.
pub fn client_name(ip: IpAddr) -> Option<String> {
    let name = dns_lookup::lookup_addr(&ip).ok()?;
    let name = name.trim_end_matches('.').to_string();
    if !is_host_name(&name) || name.parse::<IpAddr>().is_ok() {
        return None;
    }
    let plain = |a: IpAddr| match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    };
    let confirmed = dns_lookup::lookup_host(&name)
        .ok()?
        .into_iter()
        .any(|a| plain(a) == plain(ip));
    confirmed.then_some(name)
}

/// A PTR record is the client's own text: it goes into the Received: line and into replies, so
/// only a plain host name is taken (letters, digits, `-`, `_`, dots; at most 253 bytes), whatever
/// the resolver lets through.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::is_host_name;

    #[test]
    fn only_plain_host_names() {
        assert!(is_host_name("mail-1.example.com"));
        assert!(is_host_name("_dmarc.example"));
        for bad in [
            "",
            "a\nX-Injected: yes",
            "a b",
            "a\0b",
            "caf\u{e9}.example",
            "a(b)",
            &"a".repeat(254),
        ] {
            assert!(!is_host_name(bad), "{bad:?}");
        }
    }
}
