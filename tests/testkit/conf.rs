//! The one builder of the tests' `gateway.conf`: start from a preset, change keys, render TOML.
//!
//! ```
//! let text = testkit::Conf::new()
//!     .set("smtpd", "max_recipients", 5)
//!     .section("scan", "timeout = 10")
//!     .to_string();
//! assert!(text.contains("max_recipients = 5"));
//! ```
//!
//! Keys are set, not appended: setting a key twice keeps the last value (a test that wants another
//! value than the preset's just sets it), and the text is always valid TOML.

use std::fmt;
use std::path::Path;
use toml::{Table, Value};

/// A `gateway.conf` under construction. `TestSpool::new` and `write_conf` take it as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conf(pub Table);

impl Conf {
    /// Nothing set: every key at the programs' defaults.
    pub fn empty() -> Conf {
        Conf::default()
    }

    /// The tests' gateway: `gw.example.com`, admin `admin@example.com`, local domain
    /// `example.com`, and for smtpd no DNS look-ups and no free-space floor (a test machine's
    /// resolver and disk must not change the outcome).
    pub fn new() -> Conf {
        Conf::empty()
            .set("", "hostname", "gw.example.com")
            .set("", "admin", "admin@example.com")
            .set("", "domains", vec!["example.com"])
            .set("smtpd", "dns_lookups", false)
            .set("smtpd", "min_free_bytes", 0)
    }

    /// [`Conf::new`] forwarding to `relay` in plain text, with short timeouts: smtpfwdd's tests.
    pub fn forward(relay: &str) -> Conf {
        Conf::new()
            .set("forward", "relay", relay)
            .set("forward", "tls", "off")
            .set("forward", "connect_timeout", 5)
            .set("forward", "timeout", 20)
    }

    /// The whole gateway on loopback (the end-to-end tests): scanning with the clamd at
    /// `clamd_socket`, forwarding to `relay` with the default timeouts, smtpfwdd's daemon
    /// polling every second, smtpd with its default free-space floor (the disk-full tests need it).
    pub fn gateway(clamd_socket: &str, relay: &str) -> Conf {
        Conf::new()
            .remove("smtpd", "min_free_bytes")
            .set("smtpd", "max_recipients", 200)
            .set("scan", "clamd_socket", clamd_socket)
            .set("forward", "relay", relay)
            .set("forward", "poll_seconds", 1)
            .set("forward", "tls", "off")
    }

    /// sigupdate's tests: [`Conf::new`] with the scanner at `clamd_socket`, the updater
    /// program, the database directory, and signatures stale after 7 days.
    pub fn update(clamd_socket: &Path, updater: &Path, database_dir: &Path) -> Conf {
        Conf::new()
            .path("scan", "clamd_socket", clamd_socket)
            .path("update", "updater", updater)
            .path("update", "database_dir", database_dir)
            .set("update", "max_signature_age_days", 7)
    }

    /// Set one key to a path.
    pub fn path(self, section: &str, key: &str, p: impl AsRef<Path>) -> Conf {
        let text = p.as_ref().display().to_string();
        self.set(section, key, text)
    }

    /// Set one key; `section` "" is the top level.
    pub fn set(mut self, section: &str, key: &str, value: impl Into<Value>) -> Conf {
        self.table(section).insert(key.to_string(), value.into());
        self
    }

    /// Remove one key (back to the program's default).
    pub fn remove(mut self, section: &str, key: &str) -> Conf {
        self.table(section).remove(key);
        self
    }

    /// Merge TOML lines into `[section]` ("" for the top level); the lines may open further
    /// sections of their own. Panics on text that is not TOML (a broken test, not a finding).
    pub fn section(self, section: &str, lines: &str) -> Conf {
        if section.is_empty() {
            self.merge(lines)
        } else {
            self.merge(&format!("[{section}]\n{lines}"))
        }
    }

    /// Merge a TOML document, key by key (its values win).
    pub fn merge(mut self, doc: &str) -> Conf {
        let t: Table = doc
            .parse()
            .unwrap_or_else(|e| panic!("test config is not TOML: {e}\n{doc}"));
        merge(&mut self.0, t);
        self
    }

    fn table(&mut self, section: &str) -> &mut Table {
        if section.is_empty() {
            return &mut self.0;
        }
        let v = self
            .0
            .entry(section.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        match v {
            Value::Table(t) => t,
            other => panic!("[{section}] is not a section: {other}"),
        }
    }
}

fn merge(into: &mut Table, from: Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Table(a)), Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

impl fmt::Display for Conf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&toml::to_string(&self.0).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_toml_with_the_last_value_of_each_key() {
        let c = Conf::new()
            .set("smtpd", "max_recipients", 5)
            .section(
                "smtpd",
                "max_recipients = 7\nmax_size = 1000\n[scan]\ntimeout = 3",
            )
            .set("forward", "relay", "127.0.0.1:25")
            .remove("smtpd", "min_free_bytes");
        let t: Table = c.to_string().parse().unwrap();
        assert_eq!(t["hostname"].as_str(), Some("gw.example.com"));
        assert_eq!(t["smtpd"]["max_recipients"].as_integer(), Some(7));
        assert_eq!(t["smtpd"]["max_size"].as_integer(), Some(1000));
        assert_eq!(t["smtpd"]["dns_lookups"].as_bool(), Some(false));
        assert!(t["smtpd"].get("min_free_bytes").is_none());
        assert_eq!(t["scan"]["timeout"].as_integer(), Some(3));
        assert_eq!(t["forward"]["relay"].as_str(), Some("127.0.0.1:25"));
    }

    #[test]
    fn the_programs_read_what_it_writes() {
        let c =
            Conf::gateway("/tmp/clamd.sock", "127.0.0.1:2525").set("smtpd", "max_recipients", 5);
        let cfg = spool::Config::parse(&c.to_string(), std::path::Path::new("gateway.conf"))
            .expect("a valid gateway.conf");
        assert_eq!(cfg.hostname, "gw.example.com");
        assert_eq!(cfg.smtpd.max_recipients, 5);
        assert_eq!(Conf::empty().to_string(), "");
    }
}
