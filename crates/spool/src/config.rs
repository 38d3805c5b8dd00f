//! `etc/gateway.conf`: the gateway's one configuration file (TOML).
//!
//! Every key has a default, so an empty or missing file gives a working trial setup. An unknown key
//! or a bad value is an error that names the file, the line and the key.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Name in the banner, Received: lines and notices. Default: the machine's host name.
    pub hostname: String,
    /// Alerts and the nightly summary go here.
    pub admin: String,
    /// Local domains: smtpd accepts RCPT only for these (plus smtpd_check_rules `allow` lines).
    pub domains: Vec<String>,
    /// User and group owning the spool. Programs started as root take their ids from the owner
    /// of the spool root (spool::privs), never from here: a value naming other ids stops them.
    pub user: String,
    pub group: String,
    /// When set (e.g. "/usr/sbin/sendmail"), notices are piped to this program (`-oi -f FROM RCPT..`)
    /// instead of being written into outgoing/ (the article's way).
    pub sendmail: String,
    pub smtpd: SmtpdConfig,
    pub scan: ScanConfig,
    pub forward: ForwardConfig,
    pub update: UpdateConfig,
    pub report: ReportConfig,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpdConfig {
    /// Largest message in bytes (552 above it); 0 = no limit.
    pub max_size: u64,
    pub max_recipients: usize,
    pub max_clients: usize,
    /// PEM certificate chain and key for STARTTLS; both empty = no STARTTLS.
    pub tls_cert: String,
    pub tls_key: String,
    /// Seconds to wait for a command (421 after).
    pub command_timeout: u64,
    /// Seconds of silence allowed inside DATA (421 after).
    pub data_timeout: u64,
    /// Refuse mail with 452 when less than this many bytes are free in the spool.
    pub min_free_bytes: u64,
    /// Rules file in etc/ (Obtuse's smtpd_check_rules format).
    pub check_rules: String,
    /// Seconds to sleep for the `deny_delay` and `noto_delay` actions.
    pub delay_seconds: u64,
    /// Look up the client's name in DNS (smtpd -H turns it off).
    pub dns_lookups: bool,
    /// Accept recipients whose local part holds `%` (`user%elsewhere@example.com`, the percent
    /// hack: a request that the internal server relay it on). Postfix's `allow_percent_hack`.
    pub allow_percent_hack: bool,
    /// Accept recipients whose local part holds `!` (`elsewhere!user@example.com`, a UUCP bang
    /// path: the same request). Postfix's `swap_bangpath`.
    pub allow_bang_path: bool,
    /// A message with more `Received:` headers than this is refused (554 5.4.6): a mail loop.
    /// Postfix's `hopcount_limit`.
    pub max_hops: usize,
    /// Seconds for the whole DATA phase, however steadily the client sends (421 after).
    pub data_deadline: u64,
    /// Seconds for a whole session, whatever it does (421 after).
    pub session_deadline: u64,
    /// Simultaneous sessions from one client address (IPv6: one /64) in daemon mode (421 beyond
    /// it); 0 = no limit. Postfix's `smtpd_client_connection_count_limit`.
    pub max_connections_per_ip: usize,
    /// Networks (`address/bits`) exempt from `max_connections_per_ip`; loopback by default, as
    /// Postfix exempts `$mynetworks`.
    pub connection_limit_exceptions: Vec<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scanner {
    Clamd,
    Clamdscan,
    Clamscan,
    Uvscan,
    Command,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    pub scanner: Scanner,
    /// A Unix socket path, or "host:port" for clamd over TCP.
    pub clamd_socket: String,
    /// On a Unix socket, hand clamd each object as an open file (FILDES) instead of streaming
    /// it (INSTREAM).
    pub clamd_fdpass: bool,
    /// For scanner = "command": the command line, `{}` standing for the directory to scan.
    /// For clamscan/clamdscan/uvscan: extra arguments.
    pub command: String,
    /// Program path for clamdscan/clamscan/uvscan ("" = look it up in PATH).
    pub program: String,
    /// true: scan every message with an attachment or non-text part, and the raw message.
    /// false: the article exactly, only mail matching matches.doc is scanned.
    pub scan_all: bool,
    pub notify_sender: bool,
    /// Scanner failures before a message goes to quarantine as unscannable.
    pub max_tries: u32,
    /// Seconds a message may wait in incoming before it goes to quarantine as unscannable.
    pub max_age: u64,
    /// Seconds one scanner call may take.
    pub timeout: u64,
    pub virus_exit_codes: Vec<i32>,
    pub clean_exit_codes: Vec<i32>,
    /// Regex with one capture group for the virus name in a command scanner's output.
    pub virus_name_regex: String,
    /// Add `X-Virus-Scanned:` to clean mail.
    pub x_virus_scanned: bool,
    pub max_depth: usize,
    pub max_parts: usize,
    pub max_decoded_bytes: u64,
    pub max_archive_members: usize,
    /// Content scanmail cannot read because it is encrypted: quarantine (default) or pass.
    pub encrypted: Policy,
    /// `message/partial` and `message/external-body`: quarantine (default) or pass.
    pub partial: Policy,
    /// The largest object (decoded part or archive member) the scanner is trusted to read in
    /// full; larger ones make the mail unscannable at once. Below the packaged clamd's
    /// MaxFileSize (25 MB), which answers OK for what it skipped.
    pub max_object_bytes: u64,
    /// Presented name lines per message before it is too complex (memory cap).
    pub max_name_lines: usize,
}

/// What to do with mail whose content cannot be seen into.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Quarantine,
    Pass,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    Opportunistic,
    Require,
    Off,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardConfig {
    /// The internal mail server, "host[:port]". No default: smtpfwdd refuses to start until it is
    /// set (a default such as localhost:25 hands every mail back to smtpd, for ever), unless
    /// `deliver_to_mx` asks for MX delivery.
    pub relay: String,
    pub poll_seconds: u64,
    pub max_parallel: usize,
    pub tls: TlsMode,
    /// CA bundle to verify the relay's certificate ("" = the system's roots).
    pub ca_file: String,
    /// Seconds before an undeliverable message is bounced.
    pub max_age: u64,
    /// DNS server "ip:port" for MX lookups ("" = /etc/resolv.conf).
    pub resolver: String,
    /// Name in EHLO ("" = hostname).
    pub helo: String,
    pub connect_timeout: u64,
    pub timeout: u64,
    /// Deliver to each recipient domain's MX hosts instead of a relay (`relay` must then be "").
    pub deliver_to_mx: bool,
    /// MX delivery to loopback, private, link-local, ULA and other non-global addresses (an
    /// attacker's MX record can name any of them); off by default.
    pub allow_private_mx: bool,
    /// The ports smtpd listens on (smtpd -p, 25): a relay, transport host or MX host on one of
    /// them at one of this host's own addresses is the gateway itself (a mail loop), refused.
    pub smtpd_ports: Vec<u16>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateConfig {
    pub updater: String,
    /// A directory or URL of a private signature mirror ("" = run the updater).
    pub mirror: String,
    pub sigtool: String,
    pub database_dir: String,
    pub max_signature_age_days: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Day files older than this are removed.
    pub keep_days: u64,
    /// Where `daysumm` writes the statistics page each night ("" = not written).
    pub html_dir: String,
    /// Where `daysumm` writes Prometheus metrics each night ("" = not written).
    pub metrics_file: String,
    /// node_exporter's textfile directory: the live metrics file `mailwall.prom`, rewritten
    /// after each scan pass and delivery scan and by `mailwall metrics` ("" = not written).
    pub metrics_dir: String,
}

fn system_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: system_hostname(),
            admin: "postmaster".into(),
            domains: Vec::new(),
            user: "uucp".into(),
            group: "uucp".into(),
            sendmail: String::new(),
            smtpd: SmtpdConfig::default(),
            scan: ScanConfig::default(),
            forward: ForwardConfig::default(),
            update: UpdateConfig::default(),
            report: ReportConfig::default(),
        }
    }
}

impl Default for SmtpdConfig {
    fn default() -> Self {
        SmtpdConfig {
            max_size: 26_214_400,
            max_recipients: 100,
            max_clients: 100,
            tls_cert: String::new(),
            tls_key: String::new(),
            command_timeout: 300,
            data_timeout: 600,
            min_free_bytes: 16 * 1024 * 1024,
            check_rules: "smtpd_check_rules".into(),
            delay_seconds: 50,
            dns_lookups: true,
            allow_percent_hack: false,
            allow_bang_path: false,
            max_hops: 50,
            data_deadline: 3600,
            session_deadline: 7200,
            max_connections_per_ip: 20,
            connection_limit_exceptions: vec!["127.0.0.0/8".into(), "::1/128".into()],
        }
    }
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            scanner: Scanner::Clamd,
            clamd_socket: "/run/clamav/clamd.ctl".into(),
            clamd_fdpass: true,
            command: String::new(),
            program: String::new(),
            scan_all: true,
            notify_sender: true,
            max_tries: 6,
            max_age: 86_400,
            timeout: 120,
            virus_exit_codes: vec![1],
            clean_exit_codes: vec![0],
            virus_name_regex: String::new(),
            x_virus_scanned: false,
            max_depth: 20,
            max_parts: 1000,
            max_decoded_bytes: 200 * 1024 * 1024,
            max_archive_members: 1000,
            encrypted: Policy::Quarantine,
            partial: Policy::Quarantine,
            max_object_bytes: 20 * 1024 * 1024,
            max_name_lines: 100_000,
        }
    }
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            relay: String::new(),
            poll_seconds: 10,
            max_parallel: 10,
            tls: TlsMode::Opportunistic,
            ca_file: String::new(),
            max_age: 5 * 86_400,
            resolver: String::new(),
            helo: String::new(),
            connect_timeout: 30,
            timeout: 300,
            deliver_to_mx: false,
            allow_private_mx: false,
            smtpd_ports: vec![25],
        }
    }
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            updater: "freshclam".into(),
            mirror: String::new(),
            sigtool: "sigtool".into(),
            database_dir: "/var/lib/clamav".into(),
            max_signature_age_days: 7,
        }
    }
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            keep_days: 400,
            html_dir: String::new(),
            metrics_file: String::new(),
            metrics_dir: String::new(),
        }
    }
}

impl Config {
    /// Parse TOML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let mut message = e.message().trim().to_string();
            if message.is_empty() {
                message = "TOML syntax error".into();
            }
            Error::Config {
                path: path.to_path_buf(),
                line: e.span().map(|s| line_of(text, s.start)),
                message,
            }
        })?;
        cfg.check(path, text)?;
        Ok(cfg)
    }

    /// Load a file that must exist (`--config FILE`).
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, path)
    }

    /// Load `etc/gateway.conf` when present, defaults when it does not exist.
    pub fn load_or_default(path: &Path) -> Result<Config> {
        if path.exists() {
            Config::load(path)
        } else {
            Ok(Config::default())
        }
    }

    /// The config named by `--config`, else the spool's `etc/gateway.conf` (defaults if absent).
    pub fn for_spool(spool: &crate::Spool, explicit: Option<&Path>) -> Result<Config> {
        match explicit {
            Some(p) => Config::load(p),
            None => Config::load_or_default(&spool.config_path()),
        }
    }

    /// True when `domain` (of a recipient) is one of the local domains (case-insensitive).
    pub fn is_local_domain(&self, domain: &str) -> bool {
        let d = domain.trim_end_matches('.');
        self.domains.iter().any(|x| x.eq_ignore_ascii_case(d))
    }

    pub fn helo_name(&self) -> &str {
        if self.forward.helo.is_empty() {
            &self.hostname
        } else {
            &self.forward.helo
        }
    }

    /// Checks beyond the types; each error names the key at fault and the line it is on.
    fn check(&self, path: &Path, text: &str) -> Result<()> {
        let bad = |key: &str, why: &str| Error::Config {
            path: path.to_path_buf(),
            line: key_line(text, key),
            message: format!("{key}: {why}"),
        };
        if self.hostname.is_empty()
            || self
                .hostname
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad("hostname", "must be a host name without spaces"));
        }
        if self
            .admin
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        {
            return Err(bad(
                "admin",
                "must be a bare address such as postmaster@example.com",
            ));
        }
        if self.smtpd.tls_cert.is_empty() != self.smtpd.tls_key.is_empty() {
            return Err(bad("smtpd.tls_cert", "tls_cert and tls_key go together"));
        }
        if self.scan.scanner == Scanner::Command && self.scan.command.is_empty() {
            return Err(bad("scan.command", "scanner = \"command\" needs a command"));
        }
        if self.scan.max_tries == 0 {
            return Err(bad("scan.max_tries", "must be at least 1"));
        }
        if self.forward.max_parallel == 0 {
            return Err(bad("forward.max_parallel", "must be at least 1"));
        }
        if self.smtpd.max_clients == 0 {
            return Err(bad("smtpd.max_clients", "must be at least 1"));
        }
        if self.smtpd.max_recipients == 0 {
            return Err(bad("smtpd.max_recipients", "must be at least 1"));
        }
        Ok(())
    }
}

/// The line of a dotted key (`smtpd.max_recipients`) in the file, when it is written there.
fn key_line(text: &str, key: &str) -> Option<usize> {
    // The text already parsed as TOML; the key is found in its section by reading the lines
    // (toml's Table keeps no spans).
    let (section, name) = match key.rsplit_once('.') {
        Some((s, n)) => (s, n),
        None => ("", key),
    };
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            current = h.trim().to_string();
            continue;
        }
        if current == section {
            if let Some((k, _)) = l.split_once('=') {
                if k.trim().trim_matches('"') == name {
                    return Some(i + 1);
                }
            }
        }
    }
    None
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parse a "host:port" or "[v6]:port" string with a default port.
pub fn split_host_port(s: &str, default_port: u16) -> (String, u16) {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once(']') {
            let port = p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .unwrap_or(default_port);
            return (h.to_string(), port);
        }
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h.to_string(), port),
            Err(_) => (s.to_string(), default_port),
        },
        _ => (s.to_string(), default_port),
    }
}

/// Resolve a path from the config: relative names are taken inside the spool's etc/.
pub fn etc_relative(spool: &crate::Spool, value: &str) -> PathBuf {
    let p = Path::new(value);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        spool.etc().join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("", Path::new("g.conf")).unwrap();
        assert_eq!(c.smtpd.max_size, 26_214_400);
        assert_eq!(c.scan.scanner, Scanner::Clamd);
        assert!(c.scan.scan_all);
        assert_eq!(c.forward.poll_seconds, 10);
    }

    #[test]
    fn shipped_smtpd_section_is_the_defaults() {
        // etc/gateway.conf documents every [smtpd] key with its default value.
        let text = include_str!("../../../etc/gateway.conf");
        let c = Config::parse(text, Path::new("etc/gateway.conf")).unwrap();
        assert_eq!(c.smtpd, SmtpdConfig::default());
    }

    #[test]
    fn design_example_parses() {
        let text = r#"
hostname = "email.firewall.com"
admin    = "postmaster@example.com"
domains  = ["example.com"]

[smtpd]
max_size       = 26214400
max_recipients = 100
max_clients    = 100

[scan]
scanner        = "clamd"
clamd_socket   = "127.0.0.1:3310"
command        = ""
scan_all       = false
notify_sender  = true
max_tries      = 6

[forward]
relay          = "mail.example.com:25"
poll_seconds   = 10
max_parallel   = 10
"#;
        let c = Config::parse(text, Path::new("g.conf")).unwrap();
        assert_eq!(c.hostname, "email.firewall.com");
        assert!(c.is_local_domain("EXAMPLE.com"));
        assert!(!c.is_local_domain("example.org"));
        assert!(!c.scan.scan_all);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = Config::parse(
            "hostname = \"a\"\n\n[scan]\nscaner = \"clamd\"\n",
            Path::new("/x/gateway.conf"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("/x/gateway.conf:4:"), "{err}");
        assert!(err.contains("scaner"), "{err}");
    }

    #[test]
    fn bad_value_names_line() {
        let err = Config::parse("[smtpd]\nmax_size = \"big\"\n", Path::new("g"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("g:2:"), "{err}");
        let err = Config::parse("[scan]\nscanner = \"norton\"\n", Path::new("g"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("norton") || err.contains("unknown variant"),
            "{err}"
        );
        let err = Config::parse("[smtpd]\ntls_cert = \"a.pem\"\n", Path::new("g"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls_key"), "{err}");
        assert!(err.starts_with("g:2:"), "{err}");
    }

    #[test]
    fn checked_values_name_their_own_key_and_line() {
        let err = Config::parse(
            "[smtpd]\nmax_clients = 5\nmax_recipients = 0\n",
            Path::new("g"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("g:3:"), "{err}");
        assert!(err.contains("smtpd.max_recipients"), "{err}");
        let err = Config::parse("hostname = \"a b\"\n", Path::new("g"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("g:1: hostname"), "{err}");
    }

    #[test]
    fn host_port() {
        assert_eq!(split_host_port("mail:2525", 25), ("mail".into(), 2525));
        assert_eq!(split_host_port("mail", 25), ("mail".into(), 25));
        assert_eq!(split_host_port("[::1]:26", 25), ("::1".into(), 26));
    }
}
