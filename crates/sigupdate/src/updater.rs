//! Running the signature updater (freshclam by default) with a time limit, keeping its output
//! for the log and the admin's alert.

use crate::error::{Error, Result};
use spool::IoContext;
use std::io::{Read, Seek};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// freshclam may retry mirrors for a long time; cron starts us weekly, so half an hour is plenty.
pub const TIMEOUT: Duration = Duration::from_secs(1800);

/// The last lines of the updater's output (stdout and stderr together).
#[derive(Debug, Default)]
pub struct Output {
    pub tail: Vec<String>,
}

/// Split the configured command line on white space (no shell: nothing is interpreted).
pub fn split_command(cmd: &str) -> Vec<String> {
    cmd.split_whitespace().map(String::from).collect()
}

/// Run `argv` (plus `extra` arguments); Ok with its output when it exits 0.
pub fn run(
    argv: &[String],
    extra: &[String],
    timeout: Duration,
) -> Result<Output, (Error, Output)> {
    let Some((prog, args)) = argv.split_first() else {
        return Err((
            Error::Updater {
                program: String::new(),
                reason: "update.updater is empty".into(),
            },
            Output::default(),
        ));
    };
    let fail = |reason: String, out: Output| {
        Err((
            Error::Updater {
                program: prog.clone(),
                reason,
            },
            out,
        ))
    };
    let log = match tempfile::tempfile() {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot create a temp file: {e}"), Output::default()),
    };
    let (Ok(out), Ok(err)) = (log.try_clone(), log.try_clone()) else {
        return fail(
            "cannot duplicate a file descriptor".into(),
            Output::default(),
        );
    };
    let mut child = match Command::new(prog)
        .args(args)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot run: {e}"), Output::default()),
    };
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => break None,
        }
    };
    let output = read_tail(log, 20);
    match status {
        Some(s) if s.success() => Ok(output),
        Some(s) => fail(format!("failed: {s}"), output),
        None => fail(format!("killed after {} s", timeout.as_secs()), output),
    }
}

fn read_tail(mut f: std::fs::File, n: usize) -> Output {
    let mut text = String::new();
    let _ = f.rewind();
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    text.push_str(&String::from_utf8_lossy(&buf));
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.chars().filter(|c| !c.is_control()).collect())
        .collect();
    Output {
        tail: lines[lines.len().saturating_sub(n)..].to_vec(),
    }
}

/// A freshclam configuration that fetches from a private mirror URL into `db`; written into
/// `dir` and passed with `--config-file`.
pub fn private_mirror_config(dir: &Path, url: &str, db: &Path) -> Result<std::path::PathBuf> {
    let path = dir.join("freshclam.conf");
    let text = format!(
        "# written by sigupdate for update.mirror = {url}\n\
         DatabaseDirectory {}\nPrivateMirror {url}\nScriptedUpdates no\nForeground yes\n",
        db.display()
    );
    std::fs::write(&path, text).at(&path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_keeps_output() {
        let argv = split_command("sh -c  'echo");
        assert_eq!(argv, ["sh", "-c", "'echo"]);
        let ok = run(
            &["sh".into(), "-c".into(), "echo one; echo two >&2".into()],
            &[],
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(ok.tail, ["one", "two"]);
        let (e, out) = run(
            &["sh".into(), "-c".into(), "echo nope; exit 3".into()],
            &[],
            TIMEOUT,
        )
        .unwrap_err();
        assert!(e.to_string().contains("failed"), "{e}");
        assert_eq!(out.tail, ["nope"]);
        let (e, _) = run(
            &["sleep".into(), "5".into()],
            &[],
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(e.to_string().contains("killed"), "{e}");
        let (e, _) = run(&["/nonexistent/freshclam".into()], &[], TIMEOUT).unwrap_err();
        assert!(e.to_string().contains("cannot run"), "{e}");
    }
}
