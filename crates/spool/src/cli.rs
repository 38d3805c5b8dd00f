//! The one way every program enters and leaves: parse the arguments, set up logging, run, and
//! turn an error into one log line and a documented exit code (`spool::exit`). And the manual
//! page of each program, generated from its clap definition and its `//!` header, so that the
//! two cannot drift (`PROGRAM --man`; `PROGRAM --man gateway.conf` for gateway.conf(5), from the
//! shipped etc/gateway.conf and its comments).

use crate::exit;
use crate::logging::{self, Target};
use std::error::Error as StdError;
use std::io::Write;
use std::process::ExitCode;

/// What a program tells the entry path about itself.
pub struct Program {
    pub name: &'static str,
    /// The source of its `main.rs` (`include_str!("main.rs")`): the `//!` header is the manual.
    pub source: &'static str,
    /// Manual section: 8 for the daemons and admin tools.
    pub section: &'static str,
    /// Exit codes of the program's own error types (`exit::no_codes` when it has none).
    pub codes: exit::Codes,
}

/// Run a program: `--man` pages, argument parsing (64 on a usage error), logging (`log` says
/// where, from the arguments), `run`, and the exit status of its error chain.
pub fn main<A, E>(
    p: Program,
    log: impl FnOnce(&A) -> (Target, bool),
    run: impl FnOnce(A) -> Result<ExitCode, E>,
) -> ExitCode
where
    A: clap::Parser,
    // anyhow::Error and Box<dyn Error> both give the error itself (so it can be downcast to
    // `spool::Error` for its exit code), not a wrapper.
    E: AsRef<dyn StdError + Send + Sync + 'static>,
{
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "--man") {
        let page = match argv.get(2).and_then(|a| a.to_str()) {
            Some("gateway.conf") => conf_page(),
            _ => man_page(&p, A::command()),
        };
        let mut out = std::io::stdout().lock();
        return match out.write_all(page.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(exit::IOERR),
        };
    }
    let args = match A::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let (target, verbose) = log(&args);
    logging::init(p.name, target, verbose);
    let code = match run(args) {
        Ok(code) => code,
        Err(e) => {
            let e = e.as_ref();
            let line = chain(e);
            log::error!("{line}");
            // A daemon logs to syslog: the admin who started it by hand sees why it stopped
            // too. Never under inetd, where stderr is the client.
            if logging::stderr_is_quiet() {
                eprintln!("{}: {line}", p.name);
            }
            ExitCode::from(exit::code_of_with(e, p.codes))
        }
    };
    // The EXIT STATUS section is the promise to cron, systemd and the admin's scripts: a debug
    // build (every test of the real binaries) stops on a status it does not list.
    if cfg!(debug_assertions) {
        assert!(
            is_listed(&p, code),
            "{}: exit status {code:?} is not in the EXIT STATUS of its header ({:?})",
            p.name,
            header_codes(p.source)
        );
    }
    code
}

/// True when the EXIT STATUS section of the program's header lists `code`.
pub fn is_listed(p: &Program, code: ExitCode) -> bool {
    header_codes(p.source)
        .into_iter()
        .any(|c| ExitCode::from(c) == code)
}

/// The exit codes the EXIT STATUS section of a `//!` header lists: every number in it.
pub fn header_codes(source: &str) -> Vec<u8> {
    let mut codes: Vec<u8> = header_sections(source)
        .into_iter()
        .filter(|(h, _)| h == "EXIT STATUS")
        .flat_map(|(_, body)| body)
        .flat_map(|l| {
            l.split(|c: char| !c.is_ascii_alphanumeric())
                .filter_map(|w| w.parse::<u8>().ok())
                .collect::<Vec<_>>()
        })
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// An error and its sources, `outer: inner: innermost`, without repeating a source that the
/// outer message already quotes.
pub fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// The `//!` header of a source file as (heading, body lines) sections.
pub fn header_sections(source: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in source.lines() {
        let Some(rest) = line.strip_prefix("//!") else {
            if line.starts_with("#!") || line.trim().is_empty() {
                continue;
            }
            break;
        };
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let heading = !rest.is_empty()
            && !rest.starts_with(' ')
            && rest
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == ' ' || c == '-');
        if heading {
            out.push((rest.to_string(), Vec::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push(rest.strip_prefix("    ").unwrap_or(rest).to_string());
        }
    }
    for (_, body) in &mut out {
        while body.last().is_some_and(|l| l.trim().is_empty()) {
            body.pop();
        }
    }
    out
}

/// Text made safe for roff: backslashes, and a leading dot or quote that would be a request.
fn roff_text(line: &str) -> String {
    // Non-ASCII as roff's Unicode escapes: groff reads its input as Latin-1 otherwise.
    let s: String = line
        .chars()
        .map(|c| match c {
            '\\' => "\\e".to_string(),
            c if c.is_ascii() => c.to_string(),
            c => format!("\\[u{:04X}]", c as u32),
        })
        .collect();
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

fn roff_section(out: &mut String, heading: &str, body: &[String]) {
    out.push_str(&format!(".SH {}\n", heading));
    if heading == "SYNOPSIS" {
        // One usage per line, as written.
        out.push_str(".nf\n");
        for l in body {
            out.push_str(&roff_text(l));
            out.push('\n');
        }
        out.push_str(".fi\n");
        return;
    }
    for l in body {
        if l.trim().is_empty() {
            out.push_str(".PP\n");
        } else if l.starts_with(' ') || l.starts_with('|') || l.starts_with('-') {
            // Indented lines are examples or lists: kept as they are laid out.
            out.push_str(&format!(".nf\n{}\n.fi\n", roff_text(l)));
        } else {
            out.push_str(&roff_text(l));
            out.push('\n');
        }
    }
}

/// The manual page: NAME and SYNOPSIS from the header, OPTIONS from clap, then every other
/// section of the header in its order.
pub fn man_page(p: &Program, cmd: clap::Command) -> String {
    let mut cmd = cmd.name(p.name);
    // Defaults, value counts and actions are settled only by a build.
    cmd.build();
    let sections = header_sections(p.source);
    let mut out = String::new();
    out.push_str(&format!(
        ".TH {} {} \"\" \"mailwall {}\" \"mailwall\"\n",
        p.name.to_uppercase(),
        p.section,
        env!("CARGO_PKG_VERSION")
    ));
    let mut rest = Vec::new();
    for (h, body) in &sections {
        match h.as_str() {
            "NAME" | "SYNOPSIS" | "DESCRIPTION" => roff_section(&mut out, h, body),
            _ => rest.push((h, body)),
        }
    }
    out.push_str(".SH OPTIONS\n");
    for a in cmd.get_arguments() {
        if a.is_hide_set() {
            continue;
        }
        let mut names = Vec::new();
        if let Some(s) = a.get_short() {
            names.push(format!("\\-{s}"));
        }
        if let Some(l) = a.get_long() {
            names.push(format!("\\-\\-{l}"));
        }
        if names.is_empty() {
            names.push(a.get_id().to_string().to_uppercase());
        }
        let takes_value = a.get_num_args().is_some_and(|n| n.takes_values())
            && !matches!(
                a.get_action(),
                clap::ArgAction::SetTrue | clap::ArgAction::Count | clap::ArgAction::Help
            );
        let value = if takes_value && (a.get_long().is_some() || a.get_short().is_some()) {
            let v = a
                .get_value_names()
                .and_then(|v| v.first())
                .map(|v| v.to_string())
                .unwrap_or_else(|| a.get_id().to_string().to_uppercase());
            format!(" \\fI{v}\\fR")
        } else {
            String::new()
        };
        out.push_str(&format!(".TP\n\\fB{}\\fR{value}\n", names.join(", ")));
        let help = a
            .get_long_help()
            .or(a.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        out.push_str(&roff_text(&help));
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() && takes_value {
            out.push_str(&format!(" (default: {})", roff_text(&defaults.join(","))));
        }
        out.push('\n');
    }
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
    if !subs.is_empty() {
        out.push_str(".SH COMMANDS\n");
        for c in subs {
            out.push_str(&format!(".TP\n\\fB{}\\fR\n", c.get_name()));
            out.push_str(&roff_text(
                &c.get_about().map(|a| a.to_string()).unwrap_or_default(),
            ));
            out.push('\n');
        }
    }
    for (h, body) in rest {
        roff_section(&mut out, h, body);
    }
    out.push_str(".SH SEE ALSO\n");
    let all = [
        "smtpd",
        "scanmail",
        "smtpfwdd",
        "sigupdate",
        "daysumm",
        "mailwall",
    ];
    let see: Vec<String> = all
        .iter()
        .filter(|n| **n != p.name)
        .map(|n| format!("\\fB{n}\\fR(8)"))
        .chain(std::iter::once("\\fBgateway.conf\\fR(5)".to_string()))
        .collect();
    out.push_str(&see.join(", "));
    out.push('\n');
    out
}

/// gateway.conf(5), from the shipped file: each `[section]` a subsection, each key with the
/// comment above it and its default.
pub fn conf_page() -> String {
    conf_page_from(include_str!("../../../etc/gateway.conf"))
}

fn conf_page_from(text: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        ".TH GATEWAY.CONF 5 \"\" \"mailwall {}\" \"mailwall\"\n",
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str(".SH NAME\ngateway.conf \\- the configuration of the mailwall virus firewall\n");
    out.push_str(".SH DESCRIPTION\n");
    out.push_str(
        "SPOOL/etc/gateway.conf (TOML) is read by every program of the gateway. Every key has \
         the default shown here; an unknown key or a bad value stops the program with the file, \
         the line and the key.\n",
    );
    out.push_str(".SH KEYS\n");
    let mut comment: Vec<String> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        // A commented-out key (`#hostname = "..."`) documents a default that depends on the
        // machine: it is a key like the others.
        let commented_key = l.strip_prefix('#').filter(|c| {
            c.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
        });
        let l = commented_key.unwrap_or(l);
        if let Some(c) = l.strip_prefix('#') {
            comment.push(c.trim().to_string());
        } else if l.starts_with('[') {
            out.push_str(&format!(".SS {}\n", roff_text(l)));
            if !comment.is_empty() {
                out.push_str(&roff_text(&comment.join(" ")));
                out.push('\n');
            }
            comment.clear();
        } else if let Some((k, v)) = l.split_once('=') {
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR = {}\n{}\n",
                roff_text(k.trim()),
                roff_text(v.trim()),
                roff_text(&comment.join(" "))
            ));
            comment.clear();
        } else if l.is_empty() {
            if !comment.is_empty() {
                out.push_str(".PP\n");
                out.push_str(&roff_text(&comment.join(" ")));
                out.push('\n');
            }
            comment.clear();
        }
    }
    out.push_str(".SH FILES\n/var/spool/smtpd/etc/gateway.conf\n");
    out.push_str(".SH SEE ALSO\n\\fBsmtpd\\fR(8), \\fBscanmail\\fR(8), \\fBsmtpfwdd\\fR(8), \\fBsigupdate\\fR(8), \\fBdaysumm\\fR(8), \\fBmailwall\\fR(8)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "//! NAME\n//!     x - a tool\n//!\n//! SYNOPSIS\n//!     x [-v]\n//!\n\
                       //! DESCRIPTION\n//!     Does .things\n//!\n//!     and more.\n//!\n\
                       //! EXIT STATUS\n//!     0 done; 64 usage.\n#![forbid(unsafe_code)]\n\nfn main() {}\n";

    #[test]
    fn header_becomes_sections() {
        let s = header_sections(SRC);
        let names: Vec<&str> = s.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(names, ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS"]);
        assert_eq!(s[2].1, vec!["Does .things", "", "and more."]);
    }

    #[test]
    fn exit_codes_are_read_from_the_header() {
        assert_eq!(header_codes(SRC), [0, 64]);
        let src =
            "//! NAME\n//!     x\n//!\n//! EXIT STATUS\n//!     0 done · 75 retry; 1 stale (or\n\
                   //!     missing); 70 a bug (never 5xx).\n//!\n//! FILES\n//!     /etc/x 99\n";
        assert_eq!(header_codes(src), [0, 1, 70, 75]);
        let p = Program {
            name: "x",
            source: src,
            section: "8",
            codes: exit::no_codes,
        };
        assert!(is_listed(&p, ExitCode::from(75)));
        assert!(is_listed(&p, ExitCode::SUCCESS));
        assert!(!is_listed(&p, ExitCode::from(exit::CONFIG)));
        assert!(
            !is_listed(&p, ExitCode::from(99)),
            "FILES is not EXIT STATUS"
        );
    }

    #[test]
    fn page_has_options_from_clap_and_the_header() {
        let cmd = clap::Command::new("x")
            .arg(
                clap::Arg::new("spool")
                    .long("spool")
                    .help("The spool directory.")
                    .default_value("/var/spool/smtpd"),
            )
            .arg(
                clap::Arg::new("verbose")
                    .short('v')
                    .long("verbose")
                    .action(clap::ArgAction::SetTrue)
                    .help("More."),
            );
        let p = Program {
            name: "x",
            source: SRC,
            section: "8",
            codes: exit::no_codes,
        };
        let page = man_page(&p, cmd);
        assert!(page.starts_with(".TH X 8 "), "{page}");
        assert!(page.contains(".SH OPTIONS\n.TP\n\\fB\\-\\-spool\\fR \\fISPOOL\\fR\nThe spool directory. (default: /var/spool/smtpd)\n"), "{page}");
        assert!(
            page.contains("\\fB\\-v, \\-\\-verbose\\fR\nMore.\n"),
            "{page}"
        );
        let opts = page.find(".SH OPTIONS").unwrap();
        assert!(page.find(".SH DESCRIPTION").unwrap() < opts);
        assert!(page.find(".SH EXIT STATUS").unwrap() > opts);
        assert!(page.contains("Does .things"));
    }

    #[test]
    fn conf_page_lists_every_key() {
        let page = conf_page();
        assert!(page.contains(".SS [scan]"), "{page}");
        assert!(page.contains("\\fBmax_object_bytes\\fR = "), "{page}");
        assert!(page.contains("\\fBhostname\\fR = "), "{page}");
    }
}
