//! `etc/smtpd_check_rules` lives in [`spool::rules`], so that `mailwall check` validates the rules
//! file with the very parser smtpd uses; this name stays for smtpd's modules, tests and fuzz targets.
pub use spool::rules::*;
