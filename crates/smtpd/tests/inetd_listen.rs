//! `-l ADDR` from inetd (Obtuse's meaning): a connection that came to another local address is
//! answered 521 and closed; one that came to ADDR gets the banner. The connection is a real TCP
//! socket on stdin/stdout, as inetd hands it over.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use testkit::spool::Queue;
use testkit::TestSpool;

/// Accept one connection on `listen_on` and serve it with `smtpd -l only`; return the first reply.
fn first_reply(listen_on: &str, only: &str) -> (String, std::process::ExitStatus, TestSpool) {
    let ts = TestSpool::new(&conf(""));
    let l = TcpListener::bind((listen_on, 0)).unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    let out: OwnedFd = server.try_clone().unwrap().into();
    let mut child = Command::new(SMTPD)
        .args(["-H", "-l", only, "--spool"])
        .arg(ts.root())
        .env("GATEWAY_LOG", "stderr")
        .stdin(Stdio::from(OwnedFd::from(server)))
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    use std::io::Write;
    let _ = (&client).write_all(b"QUIT\r\n");
    let status = child.wait().unwrap();
    (line.trim_end().to_string(), status, ts)
}

#[test]
fn connection_to_another_local_address_gets_521() {
    let (reply, _, ts) = first_reply("127.0.0.2", "127.0.0.1");
    assert!(reply.starts_with("521 "), "{reply}");
    assert!(ts.ids(Queue::Incoming).is_empty());
}

#[test]
fn connection_to_the_named_address_gets_the_banner() {
    let (reply, status, _) = first_reply("127.0.0.2", "127.0.0.2");
    assert_eq!(reply, BANNER);
    assert!(status.success(), "{status:?}");
}
