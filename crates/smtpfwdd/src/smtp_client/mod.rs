//! A small SMTP client for one job: hand a spooled message to the next server and know, for each
//! recipient, what that server said.
//!
//! Why hand-written: the gateway must know every recipient's own reply (to mark it `SENT`, retry it
//! or bounce it), must stream the body from the spool file (LF → CRLF and dot-stuffing on the fly,
//! never the whole message in memory), and must reuse one connection for several messages. The
//! protocol part that needs this is small (RFC 5321 client side, RFC 3207 STARTTLS, RFC 2920
//! PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME); TLS itself is rustls.
//!
//! Timeouts follow RFC 5321 §4.5.3.2: the greeting, MAIL, RCPT and the DATA command wait
//! `command` seconds (5 minutes by default), each write of the body may take `command` seconds (the
//! RFC's 3-minute data block timeout is shorter: a server that stalls a write that long is gone),
//! and the reply to the final dot waits `data_end` seconds (10 minutes by default).

//!
//! One file per role: `reply` (replies, extensions, transactions), `error`, `client` (the
//! session and `send`), `data` (the DATA encoder), `tls` (the rustls configurations).

mod client;
mod data;
mod error;
mod reply;
#[cfg(test)]
mod tests;
pub mod tls;

pub use client::{Client, ClientOptions, Timeouts, TlsPolicy};
pub use data::{DataEncoder, MAX_LINE};
pub use error::{Result, SmtpError};
pub use reply::{Extensions, Reply, Transaction};

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;
