//! smtpfwdd's library: the last stage of the gateway, which hands every complete message in
//! `outgoing/` to the internal mail server (or a sendmail program, or the recipients' MX hosts)
//! and deletes it only after success.
//!
//! - [`smtp_client`]: a small SMTP client that keeps every recipient's reply;
//! - [`deliver`]: one message — lock, envelope, send, `SENT` lines, bounce, retry state;
//! - [`dsn`]: RFC 3464 bounces and admin alerts;
//! - [`sendmail`]: the `-s PROG` way;
//! - [`mx`]: the transport map and MX lookups;
//! - [`state`]: the per-message retry state and backoff;
//! - [`daemon`]: the scanning loop, the parallel deliveries, signals;
//! - [`start`]: the ids, the configuration, the one-instance lock and detaching, before the loop.
#![forbid(unsafe_code)]

pub mod daemon;
pub mod deliver;
pub mod dsn;
pub mod mx;
pub mod sendmail;
pub mod smtp_client;
pub mod start;
pub mod state;
