//! `mailwall conf`, like `postconf`: the effective value of gateway.conf's keys, the one the
//! programs use (the file's, else the default), read through the programs' own `spool::Config`
//! so a script never parses TOML of its own.

use spool::Config;
use std::fmt;

/// A key gateway.conf does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey(pub String);

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gateway.conf has no key {:?} (`mailwall conf` prints them all)",
            self.0
        )
    }
}

impl std::error::Error for UnknownKey {}

/// The whole effective configuration as TOML.
pub fn render_all(cfg: &Config) -> Result<String, toml::ser::Error> {
    toml::to_string(cfg)
}

/// The effective value of a dotted key (`forward.relay`), printed for a shell: a string as it
/// is, a list space-separated, a bool `true`/`false`, a section as TOML.
pub fn value(cfg: &Config, key: &str) -> Result<String, UnknownKey> {
    let unknown = || UnknownKey(key.to_string());
    let all = toml::Value::try_from(cfg).map_err(|_| unknown())?;
    let mut v = &all;
    for part in key.split('.') {
        v = v.get(part).ok_or_else(unknown)?;
    }
    Ok(match v {
        toml::Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(" "),
        toml::Value::Table(t) => toml::to_string(t).map_err(|_| unknown())?,
        other => scalar(other),
    })
}

fn scalar(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_defaults_lists_and_unknown_keys() {
        let mut cfg = Config {
            domains: vec!["a.example".into(), "b.example".into()],
            ..Config::default()
        };
        cfg.forward.relay = "mail.internal:25".into();
        assert_eq!(value(&cfg, "forward.relay").unwrap(), "mail.internal:25");
        assert_eq!(value(&cfg, "domains").unwrap(), "a.example b.example");
        assert_eq!(value(&cfg, "forward.deliver_to_mx").unwrap(), "false");
        assert_eq!(
            value(&cfg, "scan.max_tries").unwrap(),
            cfg.scan.max_tries.to_string()
        );
        assert!(value(&cfg, "scan").unwrap().contains("clamd_socket = "));
        assert_eq!(
            value(&cfg, "forward.nope"),
            Err(UnknownKey("forward.nope".into()))
        );
        assert!(value(&cfg, "domains.x").is_err());
        assert!(value(&cfg, "").is_err());
        let all: Config = toml::from_str(&render_all(&cfg).unwrap()).unwrap();
        assert_eq!(all, cfg);
    }
}
