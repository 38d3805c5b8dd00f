//! The admin's quarantine tools on the command line (`--list`, `--show`, `--release`,
//! `--delete`, `--purge-older`): what they print and the exit status each outcome gives (the
//! `//!` header of `main.rs`: 69 no such message, 75 busy, 64 a bad id or address). The work
//! itself is [`crate::quarantine`]'s.

use crate::quarantine::{self, ToolError};
use spool::exit::{self, Failure};
use spool::{MessageId, Spool};
use std::process::ExitCode;

/// One quarantine tool, as the command line asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tool {
    List { json: bool },
    Show { id: String, json: bool },
    Release { id: String, to: Option<String> },
    Delete { id: String },
    PurgeOlder { days: u64 },
}

/// Run a tool: its output on stdout, its failure as one log line and an exit status; an error
/// of the spool itself is returned (its own exit status, [`spool::Error::exit_code`]).
pub fn run(sp: &Spool, tool: &Tool) -> Result<ExitCode, Failure> {
    let parse = |s: &str| MessageId::parse(s.trim_start_matches("quarantine/"));
    let id_of = |s: &str| parse(s).map_err(|_| s.to_string());
    let res: Result<(), ToolError> = match tool {
        Tool::List { json: true } => quarantine::held_all(sp).map(|h| print_json(&h)),
        Tool::List { json: false } => quarantine::list(sp).map(|s| print!("{s}")),
        Tool::Show { id, json } => {
            let Ok(id) = id_of(id) else {
                return Ok(usage(id));
            };
            if *json {
                quarantine::shown(sp, &id).map(|s| print_json(&s))
            } else {
                quarantine::show(sp, &id).map(|s| print!("{s}"))
            }
        }
        Tool::Release { id, to } => {
            let Ok(id) = id_of(id) else {
                return Ok(usage(id));
            };
            quarantine::release(sp, &id, to.as_deref())
                .map(|()| println!("{id}: released to outgoing"))
        }
        Tool::Delete { id } => {
            let Ok(id) = id_of(id) else {
                return Ok(usage(id));
            };
            quarantine::delete(sp, &id).map(|()| println!("{id}: deleted"))
        }
        Tool::PurgeOlder { days } => {
            quarantine::purge_older(sp, *days).map(|n| println!("{n} messages purged"))
        }
    };
    match res {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(ToolError::Spool(e)) => Err(e.into()),
        Err(e) => {
            log::error!("{e}");
            Ok(ExitCode::from(match e {
                ToolError::NotFound(_) => exit::UNAVAILABLE,
                ToolError::Busy(_) => exit::TEMPFAIL,
                // ToolError::Address: the --to of a release.
                _ => exit::USAGE,
            }))
        }
    }
}

/// JSON output of the quarantine tools (serialising our own plain structs cannot fail).
fn print_json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn usage(id: &str) -> ExitCode {
    log::error!("not a message id: {id:?}");
    ExitCode::from(exit::USAGE)
}
