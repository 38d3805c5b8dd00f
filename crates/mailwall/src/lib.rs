//! The admin's tool: the view of the queues (what waits in `incoming/` and `outgoing/` and why,
//! the way `mailq` shows Postfix's queue), `check` (like `postfix check`), `conf` (like `postconf`), and `init`, which
//! sets the spool up (install.sh and the demo call it). Only `init` writes to the spool.
#![forbid(unsafe_code)]

pub mod check;
pub mod conf;
pub mod init;
pub mod queue;
