//! scanmail's library: the article's scanmail script rebuilt. It judges every message in the
//! spool's `incoming/` and moves it to `outgoing/` (clean) or `quarantine/` (virus, banned name,
//! unscannable, too complex, malformed), never passing mail it could not judge.
//!
//! - [`spool::patterns`] (shared with `mailwall check`): the grep BRE pattern files `matches.bad` and `matches.doc`;
//! - [`mime`]: the walk over every MIME part, presenting names, headers and real types;
//! - [`decode`]: transfer decodings and the `<id>_d/` directory of decoded parts;
//! - [`scan`]: the virus scanners (clamd spoken directly, or a command per batch);
//! - [`judge`]: one message's verdict;
//! - [`pass`]: a pass over `incoming/` with locks, retries and moves;
//! - [`notify`]: admin alerts and sender notices;
//! - [`quarantine`]: the admin's tools for the quarantine;
//! - [`tools`]: those tools on the command line, their output and exit status;
//! - [`watch`]: one pass (cron) or `--watch`, as `main.rs` asks.
#![forbid(unsafe_code)]

pub mod container;
pub mod decode;
pub mod judge;
pub mod mime;
pub mod notify;
pub mod pass;
pub mod quarantine;
pub mod scan;
pub mod tools;
pub mod watch;
