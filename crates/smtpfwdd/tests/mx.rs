//! Direct MX delivery (`deliver_to_mx = true`) through a DNS server on loopback, written here with
//! hickory-proto, and the per-domain transport map.
//!
//! MX hosts are always reached on port 25 in production; the test points `--mx-port` at the
//! relay's port instead (the records themselves carry no port).

mod common;
use common::*;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, MX};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use std::net::{Ipv4Addr, UdpSocket};
use testkit::spool::Queue;
use testkit::{Relay, TestSpool};

/// A tiny authoritative DNS server for a fixed zone; returns its address. The thread ends with the
/// test process.
fn dns_server() -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                return;
            };
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::new();
            r.set_id(q.id())
                .set_message_type(MessageType::Response)
                .set_op_code(q.op_code())
                .set_recursion_desired(q.recursion_desired())
                .set_recursion_available(true)
                .set_authoritative(true);
            for query in q.queries() {
                r.add_query(query.clone());
                let name = query.name().to_ascii().to_ascii_lowercase();
                let n = query.name().clone();
                let a = |ip: [u8; 4]| {
                    Record::from_rdata(n.clone(), 60, RData::A(A(Ipv4Addr::from(ip))))
                };
                let mx = |p: u16, host: &str| {
                    Record::from_rdata(
                        n.clone(),
                        60,
                        RData::MX(MX::new(p, Name::from_ascii(host).unwrap())),
                    )
                };
                match (name.as_str(), query.query_type()) {
                    // Preference 5 points at an address where nobody listens: the client must
                    // fall back to preference 10.
                    ("example.net.", RecordType::MX) => {
                        r.add_answer(mx(10, "mx1.example.net."));
                        r.add_answer(mx(5, "mx0.example.net."));
                    }
                    ("mx1.example.net.", RecordType::A) => {
                        r.add_answer(a([127, 0, 0, 1]));
                    }
                    ("mx0.example.net.", RecordType::A) => {
                        r.add_answer(a([127, 0, 0, 2]));
                    }
                    ("direct.example.org.", RecordType::A) => {
                        r.add_answer(a([127, 0, 0, 1]));
                    }
                    (
                        "example.net."
                        | "mx1.example.net."
                        | "mx0.example.net."
                        | "direct.example.org.",
                        _,
                    ) => {}
                    _ => {
                        r.set_response_code(ResponseCode::NXDomain);
                    }
                }
            }
            if let Ok(bytes) = r.to_bytes() {
                let _ = sock.send_to(&bytes, peer);
            }
        }
    });
    addr
}

#[test]
fn mx_delivery_through_a_local_dns_server() {
    let ts = TestSpool::new("");
    let r = Relay::start(&ts.scratch("relay"), &[]);
    let dns = dns_server();
    // The test's MX hosts are on loopback: allowed here, refused by default (see below).
    ts.write_conf(&Conf::forward("").section(
        "forward",
        &format!("resolver = \"{dns}\"\ndeliver_to_mx = true\nallow_private_mx = true"),
    ));
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &[
            "<a@example.net>",
            "<b@direct.example.org>",
            "<c@nowhere.example.org>",
        ],
        b"Subject: mx\n\nvia MX\n",
    );
    let port = r.port.to_string();
    let (code, log) = once(&ts, &["--mx-port", &port, "-v"]);
    assert_eq!(code, 0, "{log}");
    assert!(!exists(&ts, Queue::Outgoing, &id));
    let m = r.messages();
    assert_eq!(m.len(), 2, "{log}");
    let metas: String = m.iter().map(|x| x.meta.clone()).collect();
    assert!(
        metas.contains("\"rcpt_tos\": [\"a@example.net\"]"),
        "{metas}"
    );
    assert!(
        metas.contains("\"rcpt_tos\": [\"b@direct.example.org\"]"),
        "{metas}"
    );
    assert!(log.contains("relay=mx1.example.net[127.0.0.1:"), "{log}");
    // The domain that does not exist is bounced.
    let dsn = outgoing(&ts);
    assert_eq!(dsn.len(), 1);
    let text = read(&ts, Queue::Outgoing, &dsn[0]);
    assert!(
        text.contains("Final-Recipient: rfc822; c@nowhere.example.org"),
        "{text}"
    );
    assert!(text.contains("Status: 5.1.2"), "{text}");
    assert!(!text.contains("a@example.net"), "{text}");
}

#[test]
fn transport_map_overrides_relay_and_mx() {
    let ts = TestSpool::new("");
    let r = Relay::start(&ts.scratch("relay"), &[]);
    // The relay named in the configuration is down; the map sends example.com elsewhere.
    ts.write_conf(&Conf::forward("127.0.0.1:1"));
    ts.write_etc(
        "transport",
        format!("# test map\nexample.com   127.0.0.1:{}\n", r.port).as_bytes(),
    );
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.com>", "<b@elsewhere.example>"],
        b"Subject: map\n\nx\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 75, "{log}");
    let m = r.messages();
    assert_eq!(m.len(), 1);
    assert!(m[0].meta.contains("\"rcpt_tos\": [\"a@example.com\"]"));
    let f = read(&ts, Queue::Outgoing, &id);
    assert!(
        f.contains("SENT <a@example.com>\nRCPT <b@elsewhere.example>\n"),
        "{f}"
    );
}

#[test]
fn mx_records_naming_inside_addresses_are_refused_by_default() {
    let ts = TestSpool::new("");
    let r = Relay::start(&ts.scratch("relay"), &[]);
    let dns = dns_server();
    ts.write_conf(&Conf::forward("").section(
        "forward",
        &format!("resolver = \"{dns}\"\ndeliver_to_mx = true"),
    ));
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.net>", "<b@direct.example.org>"],
        b"Subject: mx\n\nvia MX\n",
    );
    let port = r.port.to_string();
    let (code, log) = once(&ts, &["--mx-port", &port]);
    assert_eq!(code, 0, "{log}");
    assert!(!exists(&ts, Queue::Outgoing, &id));
    assert!(r.messages().is_empty(), "nothing may reach a loopback MX");
    let dsn = outgoing(&ts);
    assert_eq!(dsn.len(), 1, "{log}");
    let text = read(&ts, Queue::Outgoing, &dsn[0]);
    assert!(
        text.contains("Final-Recipient: rfc822; a@example.net"),
        "{text}"
    );
    assert!(
        text.contains("Final-Recipient: rfc822; b@direct.example.org"),
        "{text}"
    );
    assert!(text.contains("Status: 5.4.4"), "{text}");
    assert!(text.contains("non-global addresses"), "{text}");
}
