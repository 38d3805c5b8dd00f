//! The test kit's peers really run: clamd detects EICAR over its socket, the relay stores what an
//! SMTP client sends, smtp-sink accepts mail.

use std::io::Read;
use std::process::Command;
use std::time::Duration;
use testkit::*;

#[test]
fn clamd_detects_eicar_and_passes_clean_bytes() {
    let c = Clamd::start();
    assert_eq!(
        c.scan(EICAR),
        "stream: Eicar-Test-Signature.UNOFFICIAL FOUND"
    );
    assert_eq!(c.scan(b"hello world\n"), "stream: OK");
}

#[test]
fn relay_stores_what_smtplib_sends_and_refuses_on_purpose() {
    let t = tempfile::tempdir().unwrap();
    let r = Relay::start(t.path(), &[]);
    let script = format!(
        "import smtplib\ns=smtplib.SMTP('127.0.0.1',{})\n\
         try:\n  s.sendmail('a@example.org',['b@example.com','reject@example.com'],b'Subject: t\\r\\n\\r\\nhi\\r\\n')\n\
         except smtplib.SMTPRecipientsRefused: pass\ns.quit()\n",
        r.port
    );
    let st = Command::new(PYTHON)
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert!(st.success());
    let m = r.wait_messages(1, Duration::from_secs(10));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].data_lf(), b"Subject: t\n\nhi\n");
    assert!(
        m[0].meta.contains("b@example.com") && !m[0].meta.contains("reject@"),
        "{}",
        m[0].meta
    );
}

#[test]
fn smtp_sink_accepts() {
    let s = SmtpSink::start(None, 10);
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 512];
    let n = c.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"220"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}
