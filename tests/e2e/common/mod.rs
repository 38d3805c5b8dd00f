//! The whole gateway on loopback for the end-to-end tests: a spool, a real clamd, a real SMTP
//! server as the internal mail server, smtpd as a daemon, and scanmail / smtpfwdd runs.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use testkit::smtpd::Daemon;
use testkit::spool::Queue;
use testkit::*;

/// The admin of [`Conf::gateway`] (which is [`Conf::new`]'s).
pub const ADMIN: &str = "admin@example.com";

pub struct Gateway {
    pub ts: TestSpool,
    pub clamd: Option<Clamd>,
    pub relay: Relay,
    pub smtpd: Option<Daemon>,
    pub smtp_port: u16,
}

impl Gateway {
    /// Everything up: clamd, relay, smtpd on a loopback port; matches.* from the repo's etc/.
    pub fn start() -> Gateway {
        Gateway::start_with("timeout = 10")
    }

    pub fn start_with(extra_scan: &str) -> Gateway {
        let clamd = Clamd::start();
        let mut g = Gateway::without_clamd(&clamd.socket.display().to_string(), extra_scan);
        g.clamd = Some(clamd);
        g
    }

    /// The gateway with a scanner socket the test provides (a stub, or none at all).
    pub fn without_clamd(socket: &str, extra_scan: &str) -> Gateway {
        let ts = TestSpool::new("");
        let relay_dir = ts.scratch("relay");
        let relay = Relay::start(&relay_dir, &[]);
        ts.write_conf(&Conf::gateway(socket, &relay.addr()).section("scan", extra_scan));
        for f in ["matches.bad", "matches.doc"] {
            ts.install_etc(f);
        }
        let mut g = Gateway {
            ts,
            clamd: None,
            relay,
            smtpd: None,
            smtp_port: 0,
        };
        g.start_smtpd();
        g
    }

    pub fn start_smtpd(&mut self) {
        let d = Daemon::start(&self.ts, &[]);
        self.smtp_port = d.port;
        self.smtpd = Some(d);
    }

    pub fn root(&self) -> String {
        self.ts.root().display().to_string()
    }

    /// One scanmail pass (as cron runs it).
    pub fn scanmail(&self) -> Output {
        self.run_tool("scanmail", &[])
    }

    /// One smtpfwdd pass.
    pub fn smtpfwdd_once(&self) -> Output {
        self.run_tool("smtpfwdd", &["--once"])
    }

    pub fn run_tool(&self, name: &str, args: &[&str]) -> Output {
        self.ts.run(name, args)
    }

    /// Send one message with Python's smtplib; returns smtplib's outcome line
    /// ("OK" or the refused reply).
    pub fn send(&self, from: &str, to: &[&str], data: &[u8]) -> String {
        send_smtplib(self.smtp_port, from, to, data)
    }

    pub fn ids(&self, q: Queue) -> Vec<String> {
        self.ts.ids(q)
    }

    /// Messages the internal server received, as LF text.
    pub fn delivered(&self) -> Vec<(String, Vec<u8>)> {
        self.relay
            .messages()
            .into_iter()
            .map(|m| (m.meta.clone(), m.data_lf()))
            .collect()
    }

    /// Pass everything through: scanmail, then smtpfwdd until outgoing is empty.
    pub fn flush(&self) {
        let out = self.scanmail();
        assert!(
            out.status.code() == Some(0),
            "scanmail: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        for _ in 0..5 {
            self.smtpfwdd_once();
            if self.ids(Queue::Outgoing).is_empty() {
                break;
            }
        }
    }
}

/// Send with Python's smtplib (a real SMTP client). Returns "OK" or the error.
pub fn send_smtplib(port: u16, from: &str, to: &[&str], data: &[u8]) -> String {
    let script = r#"
import smtplib, sys, json
port, sender, rcpts = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
data = sys.stdin.buffer.read()
try:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        refused = s.sendmail(sender, rcpts, data)
        print("OK" if not refused else "PARTIAL %r" % refused)
except smtplib.SMTPResponseException as e:
    print("ERR %d %s" % (e.smtp_code, e.smtp_error.decode(errors="replace")))
except Exception as e:
    print("ERR %r" % e)
"#;
    let rcpts = format!(
        "[{}]",
        to.iter()
            .map(|r| format!("\"{r}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut child = Command::new(PYTHON)
        .arg("-c")
        .arg(script)
        .arg(port.to_string())
        .arg(from)
        .arg(rcpts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Build a multipart message with one attachment.
pub fn with_attachment(
    subject: &str,
    filename: &str,
    content_type: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut m = format!(
        "From: sender@example.org\r\nTo: user@example.com\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n\r\n--XyZ\r\nContent-Type: text/plain\r\n\r\n\
         See attachment.\r\n--XyZ\r\nContent-Type: {content_type}; name=\"{filename}\"\r\n\
         Content-Disposition: attachment; filename=\"{filename}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(base64(payload).as_bytes());
    m.extend_from_slice(b"--XyZ--\r\n");
    m
}

/// Base64 with 76-character lines and CRLF.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    let mut line = 0;
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                T[(n >> (18 - 6 * i)) as usize & 63] as char
            } else {
                '='
            });
        }
        line += 4;
        if line >= 76 {
            out.push_str("\r\n");
            line = 0;
        }
    }
    if line > 0 {
        out.push_str("\r\n");
    }
    out
}

/// A zip archive holding one stored member (written by Python's zipfile, a real archiver).
pub fn zip_with(name: &str, content: &[u8]) -> Vec<u8> {
    let mut child = Command::new(PYTHON)
        .arg("-c")
        .arg(format!(
            "import zipfile,io,sys\nb=io.BytesIO()\nz=zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED)\n\
             z.writestr({name:?},sys.stdin.buffer.read())\nz.close()\nsys.stdout.buffer.write(b.getvalue())"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(content).unwrap();
    child.wait_with_output().unwrap().stdout
}

/// The body part of a delivered message after smtpd's Received: header.
pub fn strip_received(data: &[u8]) -> &[u8] {
    // The first header is ours: "Received: from ...\n\t...\n\t...;\n\tdate\n"; skip the folded lines.
    // Notices written by the gateway itself have no Received: line.
    if !data.starts_with(b"Received: ") {
        return data;
    }
    let mut i = 0;
    loop {
        let nl = data[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(data.len());
        i = nl;
        if i >= data.len() || !(data[i] == b' ' || data[i] == b'\t') {
            return &data[i..];
        }
    }
}
