//! The admin's view of the queues: what waits in `incoming/` and `outgoing/` and why, the way
//! `mailq` shows Postfix's queue. Everything here only reads the spool.
#![forbid(unsafe_code)]

pub mod queue;
