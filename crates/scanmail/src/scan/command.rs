//! Scanners run as programs over `_d` directories: `clamscan`, `clamdscan` (exit 0 clean, 1
//! virus, 2 error; `<path>: <Name> FOUND`), the article's McAfee `uvscan` (13 virus, 0 clean,
//! anything else an error; `Found ...`), or any `command` with `{}` for the directories and
//! configured exit codes and name regex.
//!
//! One run covers a whole batch of messages (start-up of a scanner with the full database takes
//! seconds). Detections are attributed to messages by the directory named in the report line.
//! When a batch cannot be read clearly (a virus exit status without attributable lines, an error,
//! a crash), every message not yet decided is scanned again alone, so one bad message neither
//! hides a virus in another nor keeps the others waiting.

use super::{detection, Job, ScanError, ScanReport, Scanner};
use regex::Regex;
use spool::config::{ScanConfig, Scanner as Kind};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct CommandScanner {
    label: String,
    argv: Vec<String>,
    virus_codes: Vec<i32>,
    clean_codes: Vec<i32>,
    name_re: Option<Regex>,
    timeout: Duration,
}

/// What one run of the program did.
#[derive(Debug)]
enum Run {
    Exited { code: i32, output: String },
    Failed(String),
}

impl CommandScanner {
    pub fn from_config(cfg: &ScanConfig, timeout: Duration) -> Result<CommandScanner, ScanError> {
        let extra: Vec<String> = cfg.command.split_whitespace().map(String::from).collect();
        let prog = |default: &str| {
            if cfg.program.is_empty() {
                default.to_string()
            } else {
                cfg.program.clone()
            }
        };
        let (label, argv, virus, clean, re): (&str, Vec<String>, Vec<i32>, Vec<i32>, &str) =
            match cfg.scanner {
                Kind::Clamscan => (
                    "clamscan",
                    [
                        vec![prog("clamscan"), "--no-summary".into(), "-r".into()],
                        extra,
                        vec!["{}".into()],
                    ]
                    .concat(),
                    vec![1],
                    vec![0],
                    r": ([^:]+?) FOUND\s*$",
                ),
                Kind::Clamdscan => {
                    // clamd runs as another user: stream the files unless told to pass descriptors.
                    let mut base = vec![prog("clamdscan"), "--no-summary".into()];
                    if !extra.iter().any(|a| a == "--fdpass" || a == "--stream") {
                        base.push("--stream".into());
                    }
                    (
                        "clamdscan",
                        [base, extra, vec!["{}".into()]].concat(),
                        vec![1],
                        vec![0],
                        r": ([^:]+?) FOUND\s*$",
                    )
                }
                Kind::Uvscan => (
                    "uvscan",
                    [vec![prog("uvscan"), "-r".into()], extra, vec!["{}".into()]].concat(),
                    vec![13],
                    vec![0],
                    r"Found(?::| the)\s*(.+?)(?: virus)?[\s!.]*$",
                ),
                Kind::Command | Kind::Clamd => {
                    if extra.is_empty() {
                        return Err(ScanError::Command("empty command".into()));
                    }
                    (
                        "command",
                        extra,
                        cfg.virus_exit_codes.clone(),
                        cfg.clean_exit_codes.clone(),
                        cfg.virus_name_regex.as_str(),
                    )
                }
            };
        let name_re = if re.is_empty() {
            None
        } else {
            let r = Regex::new(re).map_err(|e| ScanError::Regex(e.to_string()))?;
            if r.captures_len() < 2 {
                return Err(ScanError::Regex(format!(
                    "{re:?} has no capture group for the name"
                )));
            }
            Some(r)
        };
        if virus.iter().any(|c| clean.contains(c)) {
            return Err(ScanError::Command(
                "an exit code cannot mean both virus and clean".into(),
            ));
        }
        Ok(CommandScanner {
            label: label.into(),
            argv,
            virus_codes: virus,
            clean_codes: clean,
            name_re,
            timeout,
        })
    }

    /// True when the command line has a `{}` argument standing alone (it takes many directories).
    fn batchable(&self) -> bool {
        self.argv.iter().any(|a| a == "{}") || !self.argv.iter().any(|a| a.contains("{}"))
    }

    fn run(&self, jobs: &[&Job]) -> Run {
        let dirs: Vec<String> = jobs.iter().map(|j| j.dir.display().to_string()).collect();
        let mut args: Vec<String> = Vec::new();
        let mut placed = false;
        for a in &self.argv {
            if a == "{}" {
                args.extend(dirs.iter().cloned());
                placed = true;
            } else if a.contains("{}") {
                args.push(a.replace("{}", dirs.first().map(String::as_str).unwrap_or("")));
                placed = true;
            } else {
                args.push(a.clone());
            }
        }
        if !placed {
            args.extend(dirs);
        }
        let mut child = match Command::new(&args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return Run::Failed(format!("{}: cannot run: {e}", args[0])),
        };
        let mut out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let t_out = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = (&mut out).take(16 << 20).read_to_end(&mut s);
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = (&mut err).take(1 << 20).read_to_end(&mut s);
            s
        });
        let deadline = Instant::now() + self.timeout;
        // Polled from 1 ms up to 50 ms: a quick scanner is not kept waiting for a fixed sleep.
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Ok(s),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!("{}: timed out after {:?}", args[0], self.timeout));
                }
                Ok(None) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => break Err(format!("{}: wait: {e}", args[0])),
            }
        };
        let stdout = t_out.join().unwrap_or_default();
        let stderr = t_err.join().unwrap_or_default();
        let mut output = String::from_utf8_lossy(&stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&stderr));
        match status {
            Err(e) => Run::Failed(e),
            Ok(s) => match s.code() {
                Some(code) => Run::Exited { code, output },
                None => Run::Failed(format!("{}: killed by a signal ({s})", args[0])),
            },
        }
    }

    /// Interpret one run over `jobs`; None for jobs that must be scanned again alone.
    fn interpret(&self, jobs: &[&Job], run: Run) -> Vec<Option<ScanReport>> {
        let alone = jobs.len() == 1;
        match run {
            Run::Failed(e) => jobs
                .iter()
                .map(|_| alone.then(|| ScanReport::Error(e.clone())))
                .collect(),
            Run::Exited { code, .. } if self.clean_codes.contains(&code) => {
                jobs.iter().map(|_| Some(ScanReport::Clean)).collect()
            }
            Run::Exited { code, output } if self.virus_codes.contains(&code) => {
                let mut res: Vec<Option<ScanReport>> = vec![None; jobs.len()];
                let mut first_name = None;
                if let Some(re) = &self.name_re {
                    for line in output.lines() {
                        let Some(c) = re.captures(line) else { continue };
                        let name = c.get(1).map(|m| m.as_str().trim().to_string());
                        let name = name.filter(|n| !n.is_empty()).unwrap_or("unknown".into());
                        first_name.get_or_insert(name.clone());
                        for (k, j) in jobs.iter().enumerate() {
                            let d = j.dir.display().to_string();
                            if let Some(pos) = line.find(&d) {
                                if res[k].is_none() {
                                    let rest = &line[pos + d.len()..];
                                    let object = rest
                                        .trim_start_matches('/')
                                        .split(':')
                                        .next()
                                        .unwrap_or("")
                                        .to_string();
                                    res[k] = Some(detection(name.clone(), object));
                                }
                            }
                        }
                    }
                }
                if alone && res[0].is_none() {
                    res[0] = Some(detection(
                        first_name.unwrap_or_else(|| "unknown".into()),
                        String::new(),
                    ));
                }
                res
            }
            Run::Exited { code, output } => jobs
                .iter()
                .map(|_| {
                    alone.then(|| {
                        let last = output.lines().rev().find(|l| !l.trim().is_empty());
                        ScanReport::Error(format!(
                            "{} exited with {code}{}",
                            self.label,
                            last.map(|l| format!(": {}", l.chars().take(160).collect::<String>()))
                                .unwrap_or_default()
                        ))
                    })
                })
                .collect(),
        }
    }
}

impl Scanner for CommandScanner {
    fn scan(&mut self, jobs: &[Job]) -> Vec<ScanReport> {
        if jobs.is_empty() {
            return Vec::new();
        }
        let all: Vec<&Job> = jobs.iter().collect();
        let first = if self.batchable() && jobs.len() > 1 {
            self.interpret(&all, self.run(&all))
        } else {
            vec![None; jobs.len()]
        };
        first
            .into_iter()
            .zip(jobs)
            .map(|(r, j)| match r {
                Some(o) => o,
                None => {
                    let one = [j];
                    self.interpret(&one, self.run(&one))
                        .pop()
                        .flatten()
                        .unwrap_or_else(|| ScanReport::Error("no verdict".into()))
                }
            })
            .collect()
    }

    fn wants_dir(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        self.label.clone()
    }
}
