//! Every test vector in tests/data/scan/*.eml goes through the real scanmail binary with a real
//! clamd and the shipped pattern files; its verdict must be the one in NAME.expect. On a mismatch
//! the verdict and detail scanmail reached are written next to the vector as NAME.got.

use spool::daylog::read_email;
use spool::Queue;
use std::collections::BTreeMap;
use std::fs;
use testkit::{repo_root, Clamd, Conf};

mod common;
use common::scan_once;

#[test]
fn every_vector_gets_its_expected_verdict() {
    let dir = repo_root().join("tests/data/scan");
    let mut vectors: Vec<(String, Vec<u8>, String)> = Vec::new();
    for e in fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "eml") {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let expect = fs::read_to_string(p.with_extension("expect"))
                .unwrap_or_else(|_| panic!("{name}.expect missing"));
            vectors.push((name, fs::read(&p).unwrap(), expect.trim().to_string()));
        }
    }
    vectors.sort();
    assert!(!vectors.is_empty(), "no test vectors ran");

    let clamd = Clamd::start();
    let conf = Conf::new()
        .path("scan", "clamd_socket", &clamd.socket)
        .set("scan", "max_tries", 1)
        .set("scan", "timeout", 30);
    let messages: Vec<(String, Vec<u8>)> = vectors
        .iter()
        .map(|(name, body, _)| (name.clone(), body.clone()))
        .collect();
    let (ts, ids, out) = scan_once(&conf, &messages);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        ts.ids(Queue::Incoming).is_empty(),
        "messages left in incoming: {log}"
    );

    let (lines, _) = read_email(&ts.spool, spool::clock::today()).unwrap();
    let mut got: BTreeMap<String, (String, String)> = BTreeMap::new();
    for l in lines {
        if let Some(name) = ids.get(&l.id) {
            got.insert(name.clone(), (l.verdict.as_str().to_string(), l.detail));
        }
    }
    let outgoing = ts.ids(Queue::Outgoing);
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, _, expect) in &vectors {
        ran += 1;
        let id = ids.iter().find(|(_, n)| *n == name).unwrap().0;
        let (verdict, detail) = got.get(name).cloned().unwrap_or_default();
        let (want_verdict, want_detail) = expect.split_once(' ').unwrap_or((expect, ""));
        let in_right_queue = if verdict == "clean" {
            outgoing.contains(id)
        } else {
            ts.spool
                .message(Queue::Quarantine, &id.parse().unwrap())
                .exists()
        };
        let ok = verdict == want_verdict && detail.contains(want_detail) && in_right_queue;
        let got_path = dir.join(format!("{name}.got"));
        if ok {
            let _ = fs::remove_file(&got_path);
        } else {
            fs::write(&got_path, format!("{verdict} {detail}\n")).unwrap();
            failures.push(format!(
                "{name}: expected {expect:?}, got {verdict:?} {detail:?} (right queue: {in_right_queue})"
            ));
        }
    }
    assert!(ran > 0, "zero vectors ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} vectors failed:\n{}\n--- log:\n{log}",
        failures.len(),
        failures.join("\n")
    );
}
