//! What scanmail's vector tests share: one scanmail pass over many messages.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::Output;
use testkit::spool::Queue;
use testkit::{Conf, TestSpool};

/// A spool with `conf` and the shipped pattern files, each of `messages` (key, body) in
/// incoming/ (from alice to bob), and one scanmail run over them. Returns the spool, the map from
/// message id to key, and the run.
pub fn scan_once(
    conf: &Conf,
    messages: &[(String, Vec<u8>)],
) -> (TestSpool, BTreeMap<String, String>, Output) {
    let ts = TestSpool::new(conf);
    ts.install_etc("matches.bad");
    ts.install_etc("matches.doc");
    let mut ids = BTreeMap::new();
    for (key, body) in messages {
        let id = ts.inject(
            Queue::Incoming,
            "<alice@example.org>",
            &["<bob@example.com>"],
            body,
        );
        ids.insert(id, key.clone());
    }
    let out = ts.run("scanmail", &[]);
    (ts, ids, out)
}
