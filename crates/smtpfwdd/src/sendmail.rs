//! Delivery through a sendmail-compatible program (`-s PROG`), the Obtuse smtpfwdd way:
//! `PROG -oi -f <from> -- <rcpt>...` with the message (everything after `BODY`, LF line ends) on
//! standard input, at most [`MAX_RCPTS`] recipients per run. The `--` ends the options: a
//! recipient such as `-bs@example.com` or `-C/tmp/x@y` is an address, never an option of the
//! program (the sender is `-f`'s own argument, which getopt never reads as an option).
//!
//! The program's exit status (sysexits) decides: 0 delivered; 75, 69, 71, 72, 74 retry later;
//! 67 unknown user (bounce); 78 (the program's own configuration is broken) retry later, because a
//! broken local setup must not bounce mail; killed by a signal: retry later; any other status:
//! a permanent failure (bounce).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Obtuse smtpfwdd's limit, kept so that command lines stay short on every system.
pub const MAX_RCPTS: usize = 98;

/// The result of one run for its batch of recipients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunResult {
    Delivered,
    Transient(String),
    /// An enhanced status code for the DSN and the diagnostic text.
    Permanent {
        status: &'static str,
        diag: String,
    },
}

/// Classify an exit status.
pub fn classify(code: Option<i32>, prog: &str) -> RunResult {
    match code {
        Some(0) => RunResult::Delivered,
        Some(c @ (75 | 69 | 71 | 72 | 74 | 78)) => {
            RunResult::Transient(format!("{prog} exited with status {c}"))
        }
        Some(67) => RunResult::Permanent {
            status: "5.1.1",
            diag: format!("{prog} exited with status 67 (unknown user)"),
        },
        Some(c) => RunResult::Permanent {
            status: "5.0.0",
            diag: format!("{prog} exited with status {c}"),
        },
        None => RunResult::Transient(format!("{prog} was killed by a signal")),
    }
}

/// Run the program once. `from` and `rcpts` are addresses with brackets (passed bare); `body` is
/// read to its end into the program's stdin.
pub fn run(prog: &Path, from: &str, rcpts: &[String], body: &mut dyn Read) -> RunResult {
    let name = prog.display().to_string();
    let mut cmd = Command::new(prog);
    cmd.arg("-oi")
        .arg("-f")
        .arg(spool::envelope::strip_brackets(from))
        .arg("--");
    for r in rcpts {
        cmd.arg(spool::envelope::strip_brackets(r));
    }
    let mut child = match cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return RunResult::Transient(format!("cannot run {name}: {e}")),
    };
    let copied = match child.stdin.take() {
        Some(mut stdin) => std::io::copy(body, &mut stdin).and_then(|_| stdin.flush()),
        None => Ok(()),
    };
    let status = match child.wait() {
        Ok(s) => s,
        Err(e) => return RunResult::Transient(format!("waiting for {name}: {e}")),
    };
    let result = classify(status.code(), &name);
    match (copied, &result) {
        // The program said it delivered but did not read all of the message: it may have cut it.
        (Err(e), RunResult::Delivered) => RunResult::Transient(format!(
            "{name} exited 0 before reading the whole message: {e}"
        )),
        _ => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(classify(Some(0), "s"), RunResult::Delivered);
        for c in [75, 69, 71, 72, 74, 78] {
            assert!(
                matches!(classify(Some(c), "s"), RunResult::Transient(_)),
                "{c}"
            );
        }
        assert!(matches!(
            classify(Some(67), "s"),
            RunResult::Permanent {
                status: "5.1.1",
                ..
            }
        ));
        assert!(matches!(
            classify(Some(1), "s"),
            RunResult::Permanent { .. }
        ));
        assert!(matches!(classify(None, "s"), RunResult::Transient(_)));
    }
}
