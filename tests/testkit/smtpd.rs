//! Starting the real smtpd on a [`TestSpool`]: as a daemon on a loopback port, or the inetd way
//! (the session on its stdin/stdout: pipes, or a real TCP connection handed over).

use crate::smtp::Client;
use crate::{free_port, wait_for, Proc, TestSpool};
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// The banner smtpd sends with the tests' `hostname = "gw.example.com"`.
pub const BANNER: &str = "220 gw.example.com SMTP ready, Who are you gonna pretend to be today?";

/// `smtpd --spool ROOT ARGS` logging to stderr, stdin from /dev/null: the base of every start.
pub fn command(ts: &TestSpool, args: &[&str]) -> Command {
    ts.command("smtpd", args)
}

/// smtpd as a daemon (`-D -H -l 127.0.0.1 -p PORT`), its log in the spool's scratch `run/`.
pub struct Daemon {
    pub proc: Proc,
    pub port: u16,
    pub log: PathBuf,
}

impl Daemon {
    /// On a free port (another one when that is taken meanwhile).
    pub fn start(ts: &TestSpool, extra: &[&str]) -> Daemon {
        for _ in 0..20 {
            if let Ok(d) = Daemon::try_start(ts, free_port(), extra, Duration::from_secs(10)) {
                return d;
            }
        }
        panic!("no free port for smtpd");
    }

    /// On a given port, waiting while the sockets of a daemon killed there close.
    pub fn start_on(ts: &TestSpool, port: u16, extra: &[&str]) -> Daemon {
        for _ in 0..100 {
            if let Ok(d) = Daemon::try_start(ts, port, extra, Duration::from_secs(3)) {
                return d;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("smtpd could not listen on {port}");
    }

    /// Start on `port`; Err when smtpd exited at once because the port was taken.
    fn try_start(
        ts: &TestSpool,
        port: u16,
        extra: &[&str],
        timeout: Duration,
    ) -> Result<Daemon, ()> {
        let log = ts.scratch("run").join(format!("smtpd.{port}.log"));
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let proc = Proc::spawn(
            "smtpd",
            command(
                ts,
                &["-D", "-H", "-l", "127.0.0.1", "-p", &port.to_string()],
            )
            .args(extra)
            .stdout(Stdio::null())
            .stderr(stderr),
        );
        let mut d = Daemon { proc, port, log };
        let up = wait_for(timeout, || {
            if d.proc.child.try_wait().ok().flatten().is_some() {
                return Some(false);
            }
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| true)
        });
        if up == Some(true) {
            // The probe's session counts against max_clients until it has ended.
            wait_for(Duration::from_secs(10), || {
                d.log_text().contains("session: ").then_some(())
            });
            return Ok(d);
        }
        let text = d.log_text();
        assert!(
            text.contains("cannot listen") || up.is_none(),
            "smtpd did not start: {text}"
        );
        d.kill9();
        Err(())
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn connect(&self) -> Client<TcpStream, TcpStream> {
        Client::tcp(("127.0.0.1", self.port))
    }

    /// The pid of the process serving connections (the daemon itself: threads, not forks).
    pub fn pid(&self) -> i32 {
        self.proc.pid()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        self.proc.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = self.proc.wait_timeout(Duration::from_secs(5));
    }
}

/// smtpd the inetd way on pipes (`-H ARGS`): the session is the child's stdin/stdout.
pub fn inetd(ts: &TestSpool, extra: &[&str]) -> (Proc, Client<ChildStdout, ChildStdin>) {
    let mut p = Proc::spawn(
        "smtpd",
        command(ts, &["-H"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let w = p.child.stdin.take().unwrap();
    let r = p.child.stdout.take().unwrap();
    (p, Client::new(r, w))
}

/// smtpd the inetd way on a real TCP connection to `listen_on` (port chosen here), handed over as
/// stdin/stdout, so that the session has real local and peer addresses. `args` are all of
/// smtpd's options (no `-H` added).
pub fn inetd_tcp(
    ts: &TestSpool,
    listen_on: &str,
    args: &[&str],
) -> (Proc, Client<TcpStream, TcpStream>) {
    let l = TcpListener::bind((listen_on, 0)).unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    let fd: OwnedFd = server.into();
    let p = Proc::spawn(
        "smtpd",
        command(ts, args)
            .stdin(Stdio::from(fd.try_clone().unwrap()))
            .stdout(Stdio::from(fd))
            .stderr(Stdio::null()),
    );
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (p, Client::new(client.try_clone().unwrap(), client))
}
