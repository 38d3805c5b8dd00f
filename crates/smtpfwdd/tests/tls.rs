//! STARTTLS to the relay with test certificates made by openssl in the test.

mod common;
use common::*;
use std::path::Path;
use testkit::spool::Queue;
use testkit::{Relay, TestSpool};

/// A self-signed certificate for CN=localhost (what an internal server often has).
fn self_signed(dir: &Path) {
    sh(
        dir,
        "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 \
         -keyout self.key -out self.pem",
    );
}

/// A CA and a server certificate it signed, valid for localhost and 127.0.0.1.
fn ca_and_leaf(dir: &Path) {
    sh(
        dir,
        "openssl req -x509 -newkey rsa:2048 -nodes -subj '/CN=Gateway Test CA' -days 2 \
           -keyout ca.key -out ca.pem && \
         openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout leaf.key -out leaf.csr && \
         printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext && \
         openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
           -extfile ext -out leaf.pem",
    );
}

fn path(dir: &Path, f: &str) -> String {
    dir.join(f).display().to_string()
}

#[test]
fn opportunistic_starttls_with_a_self_signed_certificate() {
    let ts = TestSpool::new("");
    let certs = ts.scratch("certs");
    self_signed(&certs);
    let r = Relay::start(
        &ts.scratch("relay"),
        &[
            "--tls",
            &path(&certs, "self.pem"),
            &path(&certs, "self.key"),
        ],
    );
    ts.write_conf(&Conf::forward(&r.addr()).set("forward", "tls", "opportunistic"));
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.com>"],
        b"Subject: tls\n\nsecret\n",
    );
    let (code, log) = once(&ts, &["-v"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains(", TLS"), "{log}");
    let m = r.messages();
    assert_eq!(m.len(), 1);
    assert!(m[0].meta.contains("\"tls\": true"), "{}", m[0].meta);
    assert_eq!(m[0].data_lf(), b"Subject: tls\n\nsecret\n");
    assert!(!exists(&ts, Queue::Outgoing, &id));
}

#[test]
fn required_tls_verifies_the_certificate() {
    let ts = TestSpool::new("");
    let certs = ts.scratch("certs");
    ca_and_leaf(&certs);
    self_signed(&certs);
    ts.chown_all();
    let good = Relay::start(
        &ts.scratch("good"),
        &[
            "--tls",
            &path(&certs, "leaf.pem"),
            &path(&certs, "leaf.key"),
        ],
    );
    let extra = format!("ca_file = \"{}\"", path(&certs, "ca.pem"));
    let c = Conf::forward(&good.addr())
        .section("forward", &extra)
        .set("forward", "tls", "require");
    ts.write_conf(&c);
    ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<a@example.com>"],
        b"Subject: verified\n\nx\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 0, "{log}");
    let m = good.messages();
    assert_eq!(m.len(), 1);
    assert!(m[0].meta.contains("\"tls\": true"), "{}", m[0].meta);

    // A certificate our CA did not sign: the message waits.
    let bad = Relay::start(
        &ts.scratch("bad"),
        &[
            "--tls",
            &path(&certs, "self.pem"),
            &path(&certs, "self.key"),
        ],
    );
    ts.write_conf(&c.clone().set("forward", "relay", bad.addr()));
    let id = ts.inject(
        Queue::Outgoing,
        SENDER,
        &["<b@example.com>"],
        b"Subject: mitm\n\nx\n",
    );
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 75, "{log}");
    assert!(log.contains("TLS"), "{log}");
    assert!(exists(&ts, Queue::Outgoing, &id));
    assert!(bad.messages().is_empty(), "sent to an unverified server");

    // A relay without STARTTLS: the message waits too.
    let plain = Relay::start(&ts.scratch("plain"), &[]);
    ts.write_conf(&c.clone().set("forward", "relay", plain.addr()));
    std::fs::remove_file(state_file(&ts, &id)).unwrap();
    let (code, log) = once(&ts, &[]);
    assert_eq!(code, 75, "{log}");
    assert!(log.contains("does not offer STARTTLS"), "{log}");
    assert!(plain.messages().is_empty());
    assert!(exists(&ts, Queue::Outgoing, &id));
}
