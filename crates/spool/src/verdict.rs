//! What scanmail decided about a message: written into the day files ([`crate::daylog`]), into
//! a quarantined message's state, and counted by daysumm.

use std::str::FromStr;

/// What scanmail decided about a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    Clean,
    Virus,
    Banned,
    Unscannable,
    TooComplex,
    Malformed,
    /// Content that could not be read because it is encrypted (zip, 7z, rar members).
    Encrypted,
    Released,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Virus => "virus",
            Verdict::Banned => "banned",
            Verdict::Unscannable => "unscannable",
            Verdict::TooComplex => "too-complex",
            Verdict::Malformed => "malformed",
            Verdict::Encrypted => "encrypted",
            Verdict::Released => "released",
        }
    }

    /// True for the verdicts that put the message in quarantine.
    pub fn quarantines(self) -> bool {
        !matches!(self, Verdict::Clean | Verdict::Released)
    }
}

impl FromStr for Verdict {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        Ok(match s {
            "clean" => Verdict::Clean,
            "virus" => Verdict::Virus,
            "banned" => Verdict::Banned,
            "unscannable" => Verdict::Unscannable,
            "too-complex" => Verdict::TooComplex,
            "malformed" => Verdict::Malformed,
            "encrypted" => Verdict::Encrypted,
            "released" => Verdict::Released,
            _ => return Err(()),
        })
    }
}
