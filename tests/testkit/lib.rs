//! The test kit: what every end-to-end test needs to run the real programs with real peers.
//!
//! - [`bin`]: the path of a built workspace binary (`tests/run` builds them all first);
//! - [`TestSpool`]: a spool tree in a fresh temporary directory with its own `gateway.conf`;
//! - [`Clamd`]: a real clamd on a Unix socket in a temp dir, with a signature database holding the
//!   EICAR test string as an `.ndb` body signature;
//! - [`Relay`]: a real SMTP server (aiosmtpd, `tests/support/relay.py`) standing in for the
//!   internal mail server, writing every message it accepts to a directory;
//! - [`SmtpSink`]: Postfix's `smtp-sink`;
//! - [`Proc`]: a child process that is killed (by its PID) when the test ends;
//! - [`Conf`]: the builder of `gateway.conf` text;
//! - [`smtp`]: the raw SMTP client and its strict reply parser;
//! - [`smtpd`]: the real smtpd started as a daemon or the inetd way;
//! - [`text`]: byte-exact CRLF/LF conversions;
//! - [`fuzz`]: the bounded fuzz tests' randomness, shrinking and reporting.
#![forbid(unsafe_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod conf;
pub mod fuzz;
pub mod smtp;
pub mod smtpd;
pub mod text;

pub use conf::Conf;

pub use spool;
pub use tempfile;

/// Debian's Python, which has python3-aiosmtpd (a pyenv `python3` on PATH may not).
pub const PYTHON: &str = "/usr/bin/python3";

/// The EICAR test string (the standard antivirus test file, harmless).
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Under CI a missing component is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Path of a binary of the workspace (`smtpd`, `scanmail`, ...), built into the same target
/// directory as the running test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/<test>-hash → target/debug/<name>
    let dir = exe
        .parent()
        .and_then(|d| {
            if d.ends_with("deps") {
                d.parent()
            } else {
                Some(d)
            }
        })
        .expect("target dir");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --workspace --bins` (tests/run does) first",
        p.display()
    );
    p
}

/// The repository's top directory (for `etc/`, `tests/data/`, `tests/support/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// Every file of `tests/data/<dir>` as (name, bytes), in name order. Never empty: a test over
/// test vectors that found none proves nothing, so that is a failure here.
pub fn data_files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let path = repo_root().join("tests/data").join(dir);
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no test data in {}", path.display());
    v
}

/// A free TCP port on 127.0.0.1 (bound then released; good enough for tests on one machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Poll `f` every 20 ms until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed by its PID when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            name: name.into(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Send a signal (e.g. SIGKILL, SIGTERM).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig);
    }

    /// Wait up to `timeout` for the process to exit; returns its status.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        wait_for(timeout, || self.child.try_wait().ok().flatten())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A spool tree in a temporary directory, with `etc/gateway.conf` written by the test.
///
/// When the tests run as root (CI does), the programs started on this spool switch to its owner,
/// as in production: the tree is then owned by `uucp`, and every file the test writes into it is
/// given to uucp too ([`TestSpool::chown_all`]).
pub struct TestSpool {
    pub dir: tempfile::TempDir,
    pub spool: spool::Spool,
    /// uid and gid the spool belongs to when running as root (uucp), else None.
    pub owner: Option<(u32, u32)>,
}

impl TestSpool {
    /// A fresh spool whose gateway.conf is `conf` (TOML text or a [`Conf`]).
    pub fn new(conf: &(impl std::fmt::Display + ?Sized)) -> TestSpool {
        let dir = tempfile::Builder::new()
            .prefix("gw-test-")
            .tempdir()
            .expect("tempdir");
        let owner = nix::unistd::geteuid().is_root().then(|| {
            let (u, g) = spool::privs::lookup("uucp", "uucp").expect("user uucp");
            (u.as_raw(), g.as_raw())
        });
        // 0711: the spool's owner (uucp) must be able to reach the spool below it.
        fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o711),
        )
        .unwrap();
        let spool = spool::Spool::new(dir.path().join("spool"));
        spool.create().expect("create spool");
        let ts = TestSpool { dir, spool, owner };
        ts.write_conf(conf);
        ts
    }

    /// Give everything below the spool root (and the scratch directories) to the spool's owner.
    pub fn chown_all(&self) {
        let Some((u, g)) = self.owner else { return };
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{u}:{g}"))
            .arg(self.dir.path())
            .stderr(Stdio::null())
            .status()
            .expect("chown");
        // Running daemons rename files while chown walks the tree: a vanished file is fine.
        let _ = status;
    }

    fn chown_one(&self, p: &Path) {
        if let Some((u, g)) = self.owner {
            nix::unistd::chown(
                p,
                Some(nix::unistd::Uid::from_raw(u)),
                Some(nix::unistd::Gid::from_raw(g)),
            )
            .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
        }
    }

    pub fn root(&self) -> &Path {
        self.spool.root()
    }

    /// A workspace program on this spool: `PROG --spool ROOT ARGS`, logging to stderr, stdin
    /// from /dev/null.
    pub fn command(&self, prog: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin(prog));
        c.arg("--spool")
            .arg(self.root())
            .args(args)
            .env("GATEWAY_LOG", "stderr")
            .stdin(Stdio::null());
        c
    }

    /// Run a workspace program on this spool to its end ([`TestSpool::command`]).
    pub fn run(&self, prog: &str, args: &[&str]) -> std::process::Output {
        self.command(prog, args)
            .output()
            .unwrap_or_else(|e| panic!("{prog}: {e}"))
    }

    /// [`TestSpool::run`], for a test of exit codes: the code (-1 for a signal) and stderr.
    pub fn exit_of(&self, prog: &str, args: &[&str]) -> (i32, String) {
        let out = self.run(prog, args);
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code().unwrap_or(-1), log)
    }

    /// A scratch directory beside the spool (relay output, sockets, logs).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::create_dir_all(&p).unwrap();
        self.chown_one(&p);
        p
    }

    pub fn write_conf(&self, conf: &(impl std::fmt::Display + ?Sized)) {
        fs::write(self.spool.config_path(), conf.to_string()).unwrap();
        self.chown_all();
    }

    /// Write a file into the spool's `etc/` (patterns, rules, templates), owned like the spool.
    pub fn write_etc(&self, name: &str, contents: &[u8]) {
        fs::write(self.spool.etc_file(name), contents).unwrap();
        self.chown_all();
    }

    /// Copy a file from the repository's `etc/` into the spool's `etc/`.
    pub fn install_etc(&self, name: &str) {
        fs::copy(
            repo_root().join("etc").join(name),
            self.spool.etc_file(name),
        )
        .unwrap_or_else(|e| panic!("etc/{name}: {e}"));
        self.chown_all();
    }

    /// Names of the complete messages in a queue.
    pub fn ids(&self, q: spool::Queue) -> Vec<String> {
        spool::store::list(&self.spool, q)
            .unwrap()
            .into_iter()
            .map(|e| e.id.to_string())
            .collect()
    }

    /// Every entry of a queue directory, dot-files included (to prove nothing half-written stays).
    pub fn all_names(&self, q: spool::Queue) -> Vec<String> {
        // The programs' live counters (`.smtpd.metrics` and its lock) are state, not mail.
        let mut v: Vec<String> = fs::read_dir(self.spool.queue(q))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !spool::metrics::is_metrics_file(n))
            .collect();
        v.sort();
        v
    }

    /// Write a message straight into a queue (as smtpd would), returning its id.
    pub fn inject(&self, q: spool::Queue, from: &str, rcpts: &[&str], body: &[u8]) -> String {
        let env = spool::Envelope::new(from, rcpts.iter().map(|s| s.to_string()));
        let id = spool::store::write_message(&self.spool, q, &env, body)
            .unwrap()
            .to_string();
        self.chown_all();
        id
    }
}

/// A real clamd on a Unix socket in a temp dir. Its database is `test.ndb`, which detects the EICAR
/// string as `Eicar-Test-Signature` (reported as `Eicar-Test-Signature.UNOFFICIAL`).
pub struct Clamd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub proc: Proc,
}

impl Clamd {
    pub fn start() -> Clamd {
        Clamd::start_with(&[])
    }

    /// Start with extra clamd.conf lines (e.g. `StreamMaxLength 1M`).
    pub fn start_with(extra_conf: &[&str]) -> Clamd {
        let clamd = which("clamd").or_else(|| {
            let p = PathBuf::from("/usr/sbin/clamd");
            p.exists().then_some(p)
        });
        let clamd =
            clamd.expect("clamd is not installed: apt-get install clamav-daemon (tests/run does)");
        let dir = tempfile::Builder::new().prefix("clamd-").tempdir().unwrap();
        // Programs that dropped root (uucp) must reach the socket.
        fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        write_eicar_db(dir.path());
        let socket = dir.path().join("clamd.sock");
        let mut conf = format!(
            "LocalSocket {sock}\nDatabaseDirectory {db}\nForeground yes\nLogFile {db}/clamd.log\n\
             LocalSocketMode 666\nDisableCache yes\n",
            sock = socket.display(),
            db = dir.path().display()
        );
        // No TCP unless asked for (`TCPSocket PORT` among the extra lines).
        if !extra_conf.iter().any(|l| l.starts_with("TCPSocket ")) {
            conf.push_str("TCPSocket 0\n");
        }
        if nix::unistd::geteuid().is_root() {
            conf.push_str("User root\n");
        }
        for l in extra_conf {
            conf.push_str(l);
            conf.push('\n');
        }
        let conf_path = dir.path().join("clamd.conf");
        fs::write(&conf_path, conf).unwrap();
        let proc = Proc::spawn(
            "clamd",
            Command::new(clamd)
                .arg("-c")
                .arg(&conf_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let c = Clamd { dir, socket, proc };
        let up = wait_for(Duration::from_secs(60), || c.ping().then_some(()));
        assert!(
            up.is_some(),
            "clamd did not answer PING within 60 s: see {}/clamd.log",
            c.dir.path().display()
        );
        c
    }

    /// Scan `data` (INSTREAM): clamd's reply, e.g. `stream: OK`.
    pub fn scan(&self, data: &[u8]) -> String {
        clamd_command(&self.socket, b"zINSTREAM\0", Some(data))
    }

    pub fn ping(&self) -> bool {
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&self.socket) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = Vec::new();
        s.write_all(b"zPING\0").is_ok()
            && s.read_to_end(&mut buf).is_ok()
            && buf.starts_with(b"PONG")
    }
}

/// Write `test.ndb` (the EICAR body signature) into a directory.
pub fn write_eicar_db(dir: &Path) {
    write_ndb(&dir.join("test.ndb"), "Eicar-Test-Signature", EICAR);
}

/// Write an `.ndb` file holding one body signature: `name` for the bytes `body`, anywhere in any
/// file (clamd reports it as `name.UNOFFICIAL`).
pub fn write_ndb(path: &Path, name: &str, body: &[u8]) {
    let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
    fs::write(path, format!("{name}:0:*:{hex}\n"))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// One command to the clamd at `socket` (`zINSTREAM\0` with `data` streamed in one chunk,
/// `zRELOAD\0`, ...); its reply, the trailing NUL removed ("" when clamd answers nothing).
pub fn clamd_command(socket: &Path, cmd: &[u8], data: Option<&[u8]>) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("{}: {e}", socket.display()));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(cmd).unwrap();
    if let Some(d) = data {
        s.write_all(&(d.len() as u32).to_be_bytes()).unwrap();
        s.write_all(d).unwrap();
        s.write_all(&0u32.to_be_bytes()).unwrap();
    }
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply)
        .trim_end_matches('\0')
        .to_string()
}

/// Look a program up in PATH and the sbin directories.
pub fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file());
    found
}

/// One message received by the [`Relay`].
#[derive(Debug, Clone)]
pub struct Received {
    /// The DATA bytes exactly as they came over the wire (CRLF line ends, dot-stuffing removed).
    pub data: Vec<u8>,
    /// The JSON metadata line: mail_from, rcpt_tos, mail_options, tls.
    pub meta: String,
}

impl Received {
    /// The data with LF line ends, as the spool held it.
    pub fn data_lf(&self) -> Vec<u8> {
        text::crlf_to_lf(&self.data)
    }
}

/// aiosmtpd standing in for the internal mail server (see `tests/support/relay.py` for the
/// recipients it refuses on purpose).
pub struct Relay {
    pub port: u16,
    pub outdir: PathBuf,
    pub proc: Proc,
}

impl Relay {
    pub fn start(outdir: &Path, extra: &[&str]) -> Relay {
        Relay::start_on(outdir, 0, extra)
    }

    /// Start on a given port (0 = any): restart a relay on the same port to test "down, then up".
    pub fn start_on(outdir: &Path, port: u16, extra: &[&str]) -> Relay {
        assert!(
            Path::new(PYTHON).exists(),
            "{PYTHON} missing: apt-get install python3-aiosmtpd (tests/run does)"
        );
        let mut proc = Proc::spawn(
            "relay",
            Command::new(PYTHON)
                .arg(repo_root().join("tests/support/relay.py"))
                .arg(outdir)
                .arg("--port")
                .arg(port.to_string())
                .args(extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let out = proc.child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!("relay did not start: {line:?} (is python3-aiosmtpd installed?)")
            });
        Relay {
            port,
            outdir: outdir.to_path_buf(),
            proc,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = fs::read_dir(&self.outdir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .into_iter()
            .map(|p| Received {
                data: fs::read(&p).unwrap(),
                meta: fs::read_to_string(p.with_extension("json")).unwrap_or_default(),
            })
            .collect()
    }

    /// Wait until at least `n` messages arrived.
    pub fn wait_messages(&self, n: usize, timeout: Duration) -> Vec<Received> {
        wait_for(timeout, || {
            let m = self.messages();
            (m.len() >= n).then_some(m)
        })
        .unwrap_or_else(|| self.messages())
    }
}

/// Postfix's smtp-sink on a loopback port; with a dump directory each message lands in a file.
pub struct SmtpSink {
    pub port: u16,
    pub proc: Proc,
}

impl SmtpSink {
    /// `dump`: a directory for `-d` (one file per message), or None (count only, the ceiling).
    pub fn start(dump: Option<&Path>, backlog: u32) -> SmtpSink {
        SmtpSink::start_with(dump, backlog, &[])
    }

    /// With extra smtp-sink options (e.g. `-8`: no 8BITMIME in the EHLO reply).
    pub fn start_with(dump: Option<&Path>, backlog: u32, extra: &[&str]) -> SmtpSink {
        let prog = which("smtp-sink")
            .expect("smtp-sink missing: apt-get install postfix (tests/run does)");
        let port = free_port();
        let mut cmd = Command::new(prog);
        cmd.arg("-c").args(extra);
        if nix::unistd::geteuid().is_root() {
            // smtp-sink refuses to run as root; with a dump directory, that user must write there.
            cmd.arg("-u").arg("nobody");
        }
        if let Some(d) = dump {
            cmd.arg("-d").arg(format!("{}/%Y%m%d%H/%M.", d.display()));
        }
        cmd.arg(format!("127.0.0.1:{port}"))
            .arg(backlog.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let proc = Proc::spawn("smtp-sink", &mut cmd);
        let up = wait_for(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "smtp-sink did not listen on {port}");
        SmtpSink { port, proc }
    }
}
