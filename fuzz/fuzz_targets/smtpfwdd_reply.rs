//! smtpfwdd's reply parser (`smtpfwdd::smtp_client`): the bytes are everything the next server
//! says. A server thread on loopback sends them and reads whatever the client writes; the real
//! client connects (greeting, EHLO or HELO, the extensions), sends two messages on the connection
//! (MAIL, pipelined RCPTs, DATA, the body, RSET between) and quits.
//!
//! Checks: no panic, no hang (the bytes end in EOF, never in silence); every reply it keeps has a
//! code in 200..=599 and at most 100 lines; a transaction has one reply per recipient. TLS stays
//! off: a STARTTLS offer would only feed these bytes to rustls.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpfwdd::smtp_client::{tls, Client, ClientOptions, Reply, Timeouts, TlsPolicy};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

struct Server {
    addr: SocketAddr,
    /// The next connection's bytes; the reply says the connection is over.
    send: Mutex<(SyncSender<Vec<u8>>, Receiver<()>)>,
}

static SERVER: LazyLock<Server> = LazyLock::new(|| {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = sync_channel::<Vec<u8>>(0);
    let (done_tx, done_rx) = sync_channel::<()>(1);
    std::thread::spawn(move || {
        for data in rx {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(&data);
            let _ = s.shutdown(Shutdown::Write);
            // Read until the client hangs up, so that it never meets a reset.
            let mut sink = [0u8; 65536];
            while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
            done_tx.send(()).unwrap();
        }
    });
    Server {
        addr,
        send: Mutex::new((tx, done_rx)),
    }
});

static OPTS: LazyLock<ClientOptions> = LazyLock::new(|| ClientOptions {
    helo: "gw.example.com".into(),
    tls: TlsPolicy::Off,
    tls_verified: None,
    tls_unverified: tls::unverified(),
    timeouts: Timeouts::from_secs(2, 2),
});

fn check(r: &Reply) {
    assert!((200..600).contains(&r.code), "reply code {}", r.code);
    assert!(
        !r.lines.is_empty() && r.lines.len() <= 100,
        "{} lines",
        r.lines.len()
    );
}

fuzz_target!(|data: &[u8]| {
    let server = &*SERVER;
    let link = server.send.lock().unwrap();
    link.0.send(data.to_vec()).unwrap();
    if let Ok(mut c) = Client::connect(&[server.addr], "relay.example", &OPTS) {
        check(&c.greeting);
        let rcpts = vec!["<b@example.com>".to_string(), "<c@example.com>".to_string()];
        // The second message is 8-bit: refused before MAIL unless 8BITMIME was offered.
        for eight_bit in [false, true] {
            let body = b"Subject: fuzz\n\n.leading dot\nbody \xc3\xa9\r\n";
            let size = body.len() as u64;
            match c.send("<a@example.org>", &rcpts, &mut &body[..], size, eight_bit) {
                Ok(t) => {
                    assert_eq!(t.rcpt.len(), rcpts.len());
                    t.rcpt.iter().for_each(check);
                    if let Some(d) = &t.data {
                        check(d);
                    }
                    for i in 0..rcpts.len() {
                        check(t.outcome(i));
                    }
                }
                Err(e) => {
                    if let Some(r) = e.reply() {
                        check(r);
                    }
                    break;
                }
            }
        }
        let _ = c.quit();
    }
    link.1.recv().unwrap();
});
