//! Message ids: `smtpd` followed by six characters of `[A-Za-z0-9]`, as Obtuse smtpd named its
//! files. An id read from disk or from a command line is validated before it reaches a path, so no
//! `/`, `..` or NUL ever does.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

const PREFIX: &str = "smtpd";
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// Parse and validate a name such as `smtpdAb3xYz`.
    pub fn parse(s: &str) -> Result<Self> {
        if is_valid(s) {
            Ok(MessageId(s.to_string()))
        } else {
            Err(Error::BadId(s.chars().take(64).collect()))
        }
    }

    /// A fresh random id. Uniqueness is enforced by the caller with O_EXCL and a no-replace rename.
    pub fn generate() -> Self {
        let mut raw = [0u8; 6];
        // getrandom only fails when the kernel has no entropy source at all; fall back to the
        // clock and pid so that a message is never refused for want of randomness (the O_EXCL
        // create still guarantees uniqueness).
        if getrandom::getrandom(&mut raw).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
                ^ u128::from(std::process::id()) << 64;
            for (i, b) in raw.iter_mut().enumerate() {
                *b = (t >> (i * 11)) as u8;
            }
        }
        let mut s = String::with_capacity(11);
        s.push_str(PREFIX);
        for b in raw {
            // 62 does not divide 256: the tiny bias is irrelevant for a file name.
            s.push(ALPHABET[(b as usize) % ALPHABET.len()] as char);
        }
        MessageId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// True for exactly `smtpd` + 6 of `[A-Za-z0-9]`.
pub fn is_valid(s: &str) -> bool {
    s.len() == PREFIX.len() + 6
        && s.starts_with(PREFIX)
        && s.as_bytes()[PREFIX.len()..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric())
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MessageId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        MessageId::parse(s)
    }
}

impl AsRef<str> for MessageId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_differ() {
        let a = MessageId::generate();
        let b = MessageId::generate();
        assert!(is_valid(a.as_str()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn hostile_ids_are_refused() {
        for bad in [
            "",
            "smtpd",
            "smtpdAb3xY",
            "smtpdAb3xYzz",
            "smtpd../../",
            "smtpdAb/xYz",
            "smtpdAb\0xYz",
            ".tmp.smtpdAb3xYz",
            "SMTPDAb3xYz",
            "smtpdAb3xYé",
            "smtpdAb3xY_",
            "smtpdAb3xYz_d",
            "/etc/passwd",
        ] {
            assert!(MessageId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(MessageId::parse("smtpdAb3xYz").is_ok());
    }
}
