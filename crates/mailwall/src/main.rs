//! NAME
//!     mailwall - the admin's entry point to the virus firewall: set-up, queue view and checks
//!
//! SYNOPSIS
//!     mailwall [--spool DIR] init [--domain D]... [--relay HOST:PORT] [--admin A]
//!              [--hostname NAME] [--set KEY=VALUE]... [--hardened] [--programs DIR] [--user U]
//!     mailwall [--spool DIR] [--config FILE] queue [--json]
//!     mailwall [--spool DIR] [--config FILE] check
//!     mailwall [--spool DIR] [--config FILE] conf [KEY]...
//!     mailwall [--spool DIR] [--config FILE] ping [--socket ADDR]
//!     mailwall [--spool DIR] [--config FILE] metrics [--stdout] [--if-set]
//!     mailwall [--spool DIR] flush
//!     mailwall --man [gateway.conf]
//!
//! DESCRIPTION
//!     `init` sets the spool up, or brings it up to date (install.sh runs it; so does the demo):
//!     the tree of the article's layout (everything the spool's owner's, directories 0700) or,
//!     with `--hardened`, the stricter one (root owns the root, etc/, bin/ and their files,
//!     read-only to the owner, who keeps the queues and etc/days/, where the day files move);
//!     the shipped files of etc/ (gateway.conf, matches.bad, matches.doc, smtpd_check_rules,
//!     transport, the templates), built into mailwall, each installed when absent and never
//!     overwritten when the admin edited it: it says what it kept and puts the shipped one
//!     beside it as NAME.dist; with `--programs DIR`, DIR's scanmail, sigupdate and daysumm into
//!     bin/; the chroot's copies of /etc's resolv.conf, hosts, nsswitch.conf and localtime; then
//!     owners and modes, and the programs' start-up check. gateway.conf's `user` and `group`
//!     are set to the spool owner's names (uucp; a trial tree's: whoever runs init).
//!     `--domain`, `--relay`, `--admin`, `--hostname` and `--set KEY=VALUE` (a dotted key,
//!     the value written as in TOML:
//!     --set 'forward.tls="off"') set those keys of gateway.conf and change nothing else in it:
//!     comments, order and spacing stay (toml_edit); a result any program would refuse is not
//!     written. Every write is a new temporary file renamed into place. A second run with the
//!     same options changes nothing.
//!
//!     `queue` lists what waits in incoming/ (not yet judged by scanmail) and outgoing/ (not yet
//!     delivered by smtpfwdd), like Postfix's mailq: id, queue, size, age, tries, the sender,
//!     the last error, the next try and the recipients still pending. `--json` prints one JSON
//!     array for scripts.
//!
//!     `check` validates what the programs read at start-up with the code they read it with, as
//!     `postfix check` does: gateway.conf (every key and value), matches.bad and matches.doc
//!     (every line compiles), the rules file smtpd reads (every line parses), and the spool tree
//!     (every directory present and owned as its layout says; no entry of the root, etc/,
//!     etc/days/ and bin/ a symbolic link, hard-linked, writable by group or others, or out of
//!     the programs' reach). Each finding is one line naming the file (and the line); nothing
//!     is changed.
//!
//!     `conf` prints the effective value of each dotted KEY (`forward.relay`, `domains`,
//!     `scan.clamd_socket`), one a line, as `postconf` does: the value the programs use, read
//!     with their own code, the default when gateway.conf does not set it. A string prints as it
//!     is, a list space-separated, a bool `true` or `false`, a section as TOML; with no KEY, the
//!     whole effective configuration as TOML. An unknown key prints nothing and exits 64.
//!     install.sh reads gateway.conf with it.
//!
//!     `ping` sends PING to every clamd endpoint of `[scan] clamd_socket` (a Unix socket path or
//!     HOST:PORT, or a comma-separated pool), or of `--socket ADDR`, and prints `ADDR: PONG` or
//!     why not, one line per endpoint (3 s each at most).
//!
//!     `metrics` writes the live metrics (every program's counters, kept in the spool, and the
//!     queue gauges) into `[report] metrics_dir`/mailwall.prom for node_exporter's textfile
//!     collector; run from cron every minute, it keeps smtpd's counters fresh too (smtpd runs
//!     chrooted and cannot reach that directory). `--stdout` prints them instead; `--if-set`
//!     does nothing when metrics_dir is not set (the shipped crontab's line).
//!
//!     `flush` makes the running smtpfwdd try deferred mail now, without waiting for each
//!     message's next-try time, like `postqueue -f` (SIGUSR1 to the pid smtpfwdd keeps in
//!     outgoing/.smtpfwdd.lock while it holds that lock).
//!
//!     `--man` prints this manual page (roff), `--man gateway.conf` the page gateway.conf(5);
//!     every program of the gateway has `--man`, and install.sh installs the pages from it.
//!
//! SECURITY
//!     Runs as: whoever starts it; started as root, every command but `init` switches to the
//!     spool root's owner before reading any spool file, so root never parses a file uucp could
//!     have written while root. Install the root-owned copy in /usr/local/sbin and run that one.
//!     They read the spool and write only the metrics file. `conf` and `ping` before `init`
//!     made the tree (no tree, or a root-owned root without incoming/: no owner yet) read
//!     gateway.conf as root, as `init` does. No network but `ping`'s to the clamd endpoints.
//!
//!     `init` runs as root (it gives the tree to its owner) and takes the tree as hostile: uucp
//!     can write it in the article's layout. Every path below the root is opened one component
//!     at a time with O_NOFOLLOW, owners and modes are changed through opened descriptors, and a
//!     symbolic link anywhere in the tree, or a hard-linked file outside the queues, stops it
//!     before it changes anything (in a queue such a file is left alone, with a warning;
//!     spool::tree). It parses only gateway.conf as root (at most 1 MiB, with
//!     toml_edit), and the pattern files only to compare their bytes. Started by another user it
//!     makes a trial tree owned by that user (no --hardened).
//!
//! EXIT STATUS
//!     0 done (check: no problem found; ping: every clamd answered); 64 usage (init: a --set
//!     value that is not TOML, --config, --hardened without root; conf: an unknown key);
//!     69 flush: smtpfwdd is not running; ping: a clamd did not answer PONG; 71 cannot switch
//!     user (init: no such --user, or it is root); 74 I/O error; 78 configuration or layout
//!     error (check: a problem found; init: a symbolic link in the tree or a hard link outside
//!     the queues, a gateway.conf the programs would refuse); 70 internal error.
//!
//! FILES
//!     DIR/etc/gateway.conf, DIR/etc/matches.bad, DIR/etc/matches.doc, DIR/etc/smtpd_check_rules,
//!     DIR/etc/NAME.dist (init: the shipped version of a file the admin edited), DIR/bin/,
//!     DIR/incoming/, DIR/outgoing/ and their state files.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use mailwall::{check, conf, init, queue};
use nix::sys::signal::Signal;
use spool::logging::Target;
use spool::{Config, Queue, Spool};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "mailwall", version, about = "The virus firewall's admin tool")]
struct Args {
    /// The spool directory (before or after the command).
    #[arg(long, global = true, default_value = spool::layout::DEFAULT_ROOT)]
    spool: PathBuf,
    /// Configuration file (default: SPOOL/etc/gateway.conf).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// What waits in incoming/ and outgoing/, and why (like mailq).
    Queue {
        /// One JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Create or update the spool tree, its default files and gateway.conf's settings.
    Init(InitArgs),
    /// Validate gateway.conf, the pattern and rules files, and the spool's owners and modes.
    Check,
    /// Make the running smtpfwdd try deferred mail now (like postqueue -f).
    Flush,
    /// Print the effective value of gateway.conf keys (like postconf), or the whole file.
    Conf {
        /// Dotted keys: `forward.relay`, `domains`, `scan.clamd_socket`.
        #[arg(value_name = "KEY")]
        keys: Vec<String>,
    },
    /// Ask every clamd of `[scan] clamd_socket` (or ADDR) for PONG.
    Ping {
        /// A Unix socket path or HOST:PORT (a comma-separated list: each), instead of
        /// `[scan] clamd_socket`.
        #[arg(long, value_name = "ADDR")]
        socket: Option<String>,
    },
    /// Write the live metrics file into [report] metrics_dir (for node_exporter).
    Metrics {
        /// Print the metrics instead of writing the file.
        #[arg(long)]
        stdout: bool,
        /// Do nothing (and succeed) when [report] metrics_dir is not set: for cron.
        #[arg(long)]
        if_set: bool,
    },
}

#[derive(clap::Args, Debug)]
struct InitArgs {
    /// A local mail domain (repeatable): gateway.conf's `domains`.
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// The internal mail server, HOST:PORT: `[forward] relay`.
    #[arg(long, value_name = "HOST:PORT")]
    relay: Option<String>,
    /// Where alerts and the nightly summary go: `admin`.
    #[arg(long, value_name = "ADDRESS")]
    admin: Option<String>,
    /// The gateway's name in banners and notices: `hostname`.
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Any other key, dotted, with its value written as in TOML (repeatable):
    /// --set 'forward.tls="off"' --set forward.poll_seconds=1
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = init::parse_set)]
    set: Vec<(String, toml_edit::Value)>,
    /// The stricter layout: root owns the root, etc/, bin/ and their files (read-only to the
    /// spool's owner), which keeps only the queues and etc/days/ (the day files move there).
    #[arg(long)]
    hardened: bool,
    /// Copy scanmail, sigupdate and daysumm from DIR into bin/ (uucp's cron runs them).
    #[arg(long, value_name = "DIR")]
    programs: Option<PathBuf>,
    /// The spool's owner when run as root (its primary group is the spool's group).
    #[arg(long, default_value = "uucp")]
    user: String,
}

fn main() -> ExitCode {
    let me = spool::cli::Program {
        name: "mailwall",
        source: include_str!("main.rs"),
        section: "8",
        codes: spool::exit::no_codes,
    };
    spool::cli::main(me, |_: &Args| (Target::Stderr, false), run)
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spool = Spool::new(&args.spool);
    let command = match args.command {
        // As root, and without switching to the spool's owner: it makes the spool.
        Command::Init(a) => return init_command(&spool, args.config.is_some(), a),
        Command::Conf { keys } => {
            become_owner_if_any(&spool)?;
            return conf_command(&spool, args.config.as_deref(), &keys);
        }
        Command::Ping { socket } => {
            become_owner_if_any(&spool)?;
            return ping_command(&spool, args.config.as_deref(), socket);
        }
        c => c,
    };
    spool::privs::become_spool_owner(&spool)?;
    match command {
        Command::Init(_) | Command::Conf { .. } | Command::Ping { .. } => {
            unreachable!("returned above")
        }
        Command::Queue { json } => {
            let now = spool::clock::now();
            let rows = queue::rows(&spool, now.into())?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
            } else {
                out.write_all(queue::render_text(&rows, now.timestamp()).as_bytes())?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Metrics { stdout, if_set } => {
            let cfg = Config::for_spool(&spool, args.config.as_deref())?;
            if stdout {
                let s = spool::metrics::gather(&spool, std::time::SystemTime::now())?;
                print!("{}", s.render());
                return Ok(ExitCode::SUCCESS);
            }
            match spool::metrics::export(&spool, &cfg)? {
                Some(p) => log::debug!("wrote {}", p.display()),
                None if if_set => {}
                None => anyhow::bail!(spool::Error::Config {
                    path: spool.config_path(),
                    line: None,
                    message: "report.metrics_dir is not set: nowhere to write the metrics".into(),
                }),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Flush => match spool::store::lock_holder(&spool, Queue::Outgoing, "smtpfwdd")? {
            Some(pid) => {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGUSR1)
                    .map_err(|e| anyhow::anyhow!("cannot signal smtpfwdd (pid {pid}): {e}"))?;
                println!("mailwall: flush: smtpfwdd (pid {pid}) tries deferred mail now");
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!(
                    "mailwall: flush: smtpfwdd is not running: mail in outgoing/ waits for it"
                );
                Ok(ExitCode::from(spool::exit::UNAVAILABLE))
            }
        },
        Command::Check => {
            let problems = check::findings(&spool, args.config.as_deref());
            for p in &problems {
                println!("mailwall: check: {p}");
            }
            if problems.is_empty() {
                println!(
                    "mailwall: check: {}: no problem found",
                    spool.root().display()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(spool::exit::CONFIG))
            }
        }
    }
}

/// As root, become the spool's owner, as every command but `init` does; `conf` and `ping` also
/// run before `init` made the tree (install.sh asks for `forward.relay` first): with no tree, or
/// a root-owned root without incoming/, there is no owner yet and they read gateway.conf as
/// root, as `init` does.
fn become_owner_if_any(spool: &Spool) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !spool::privs::is_root() {
        return Ok(());
    }
    let no_owner_yet = match std::fs::metadata(spool.root()) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(md) => md.uid() == 0 && std::fs::symlink_metadata(spool.queue(Queue::Incoming)).is_err(),
    };
    if !no_owner_yet {
        spool::privs::become_spool_owner(spool)?;
    }
    Ok(())
}

/// `mailwall conf [KEY...]`: every key's effective value, one a line, or the whole config.
fn conf_command(
    spool: &Spool,
    config: Option<&std::path::Path>,
    keys: &[String],
) -> anyhow::Result<ExitCode> {
    let cfg = Config::for_spool(spool, config)?;
    let mut out = String::new();
    if keys.is_empty() {
        out = conf::render_all(&cfg)?;
    }
    for k in keys {
        match conf::value(&cfg, k) {
            Ok(v) => {
                out.push_str(&v);
                out.push('\n');
            }
            // Nothing printed: a script reading several keys by position never gets a shifted list.
            Err(e) => {
                eprintln!("mailwall: conf: {e}");
                return Ok(ExitCode::from(spool::exit::USAGE));
            }
        }
    }
    let mut o = std::io::stdout().lock();
    o.write_all(out.as_bytes())?;
    o.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// How long one clamd may take to answer PING: a loaded clamd answers at once (PING is not
/// queued behind scans), and install.sh polls with it while clamd starts.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// `mailwall ping`: PING every clamd endpoint; all must answer.
fn ping_command(
    spool: &Spool,
    config: Option<&std::path::Path>,
    socket: Option<String>,
) -> anyhow::Result<ExitCode> {
    let setting = match socket {
        Some(s) => s,
        None => Config::for_spool(spool, config)?.scan.clamd_socket,
    };
    let endpoints = clamav::client::endpoints(&setting);
    if endpoints.is_empty() {
        eprintln!("mailwall: ping: no clamd endpoint in {setting:?}");
        return Ok(ExitCode::from(spool::exit::USAGE));
    }
    let mut all = true;
    for addr in &endpoints {
        match clamav::client::Clamd::new(addr, PING_TIMEOUT).ping() {
            Ok(()) => println!("{addr}: PONG"),
            Err(clamav::Error::Clamd { reason, .. }) => {
                all = false;
                println!("{addr}: {reason}");
            }
            Err(e) => {
                all = false;
                println!("{addr}: {e}");
            }
        }
    }
    Ok(if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(spool::exit::UNAVAILABLE)
    })
}

/// `mailwall init`: run as root, and never as the spool's owner (it makes the spool).
fn init_command(spool: &Spool, config: bool, a: InitArgs) -> anyhow::Result<ExitCode> {
    let InitArgs {
        domains,
        relay,
        admin,
        hostname,
        set,
        hardened,
        programs,
        user,
    } = a;
    if config {
        eprintln!("mailwall: init writes SPOOL/etc/gateway.conf: --config does not apply");
        return Ok(ExitCode::from(spool::exit::USAGE));
    }
    let mut keys = Vec::new();
    let text = |s: &str| toml_edit::Value::from(s);
    if let Some(h) = hostname {
        keys.push(("hostname".to_string(), text(&h)));
    }
    if let Some(a) = admin {
        keys.push(("admin".to_string(), text(&a)));
    }
    if !domains.is_empty() {
        let list: toml_edit::Array = domains.iter().map(String::as_str).collect();
        keys.push(("domains".to_string(), toml_edit::Value::Array(list)));
    }
    if let Some(r) = relay {
        keys.push(("forward.relay".to_string(), text(&r)));
    }
    if hardened && !spool::privs::is_root() {
        eprintln!(
            "mailwall: init: --hardened gives the programs and the configuration to root: \
             it needs root"
        );
        return Ok(ExitCode::from(spool::exit::USAGE));
    }
    let ids = init::owner_ids(&user)?;
    // gateway.conf's user and group name the spool's owner (the programs refuse other names).
    for (key, name) in init::owner_names(ids) {
        keys.push((key.to_string(), text(&name)));
    }
    keys.extend(set);
    let layout = if hardened {
        spool::layout::Layout::Hardened
    } else {
        spool::layout::Layout::Article
    };
    let opts = init::Options {
        set: keys,
        layout,
        programs,
        ids,
        system_etc: "/etc".into(),
    };
    init::run(spool, &opts)?;
    Ok(ExitCode::SUCCESS)
}
