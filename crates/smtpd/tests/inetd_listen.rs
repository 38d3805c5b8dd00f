//! `-l ADDR` from inetd (Obtuse's meaning): a connection that came to another local address is
//! answered 521 and closed; one that came to ADDR gets the banner. The connection is a real TCP
//! socket on stdin/stdout, as inetd hands it over.

mod common;

use common::*;
use std::time::Duration;
use testkit::spool::Queue;
use testkit::TestSpool;

/// Accept one connection on `listen_on` and serve it with `smtpd -l only`; return the first reply.
fn first_reply(listen_on: &str, only: &str) -> (String, std::process::ExitStatus, TestSpool) {
    let ts = TestSpool::new(&Conf::new());
    let (mut p, mut c) = inetd_tcp(&ts, listen_on, &["-H", "-l", only]);
    let reply = c.reply();
    // After a 521 the connection may be gone already.
    let _ = std::io::Write::write_all(&mut c.w, b"QUIT\r\n");
    let status = p
        .wait_timeout(Duration::from_secs(10))
        .expect("smtpd exits");
    (reply, status, ts)
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
