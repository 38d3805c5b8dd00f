//! smtpd, the SMTP store daemon of the e-mail virus firewall: a drop-in replica of Obtuse smtpd
//! 2.0 with modern SMTP. The binary (`main.rs`) parses options and hands them to [`start`];
//! everything lives here:
//! - [`session`]: one SMTP session over any byte stream, storing mail into the spool: the state
//!   machine (HELO, MAIL, RCPT, DATA, ...), the limits and the log lines;
//! - `conn`: the connection under it: buffering, replies, read timeouts and deadlines;
//! - [`command`]: parsing command lines;
//! - [`address`]: envelope addresses: syntax, relay tricks, the normal form;
//! - `data`: receiving DATA (the end of data, dot-stuffing, line ends, size, hops);
//! - `tls`: STARTTLS's configuration and handshake;
//! - [`spool::rules`] (shared with `mailwall check`): Obtuse's `etc/smtpd_check_rules`;
//! - [`stream`]: the byte streams (TCP, stdin/stdout) with read timeouts and shutdown;
//! - [`server`]: the daemon's accept loop, inetd and systemd socket activation;
//! - [`start`]: what smtpd reads, confirms and binds before it serves, and which way it serves;
//! - [`dns`]: the client's name from reverse DNS.
#![forbid(unsafe_code)]

pub mod address;
pub mod command;
mod conn;
pub mod counters;
mod data;
pub mod dns;
pub mod server;
pub mod session;
pub mod start;
pub mod stream;
mod tls;
