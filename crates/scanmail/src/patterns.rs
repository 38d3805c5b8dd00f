//! The article's pattern files (`etc/matches.bad`, `etc/matches.doc`) live in
//! [`spool::patterns`], so that `mailwall check` validates them with the very code scanmail
//! matches with; this name stays for scanmail's modules, its tests and the fuzz target.
pub use spool::patterns::*;
