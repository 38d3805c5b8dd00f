//! Real-world mail through the real scanmail binary and a real clamd, in one pass: CPython's
//! email test messages (`test_email/data/msg_*.txt`, Debian's `libpython3.11-testsuite`) and
//! ClamAV's test files (Debian's `clamav-testfiles`). Nothing may be left in incoming/ for a
//! retry, and each message must get the verdict written in `tests/data/corpora.expect`.
//!
//! The ClamAV test files are attached to a mail under a neutral name (`attachment.bin`), so that
//! only their content can give them away; the ones that are mail already (`clam.mail`, the
//! mbox files) are judged as they are. The test clamd knows EICAR and a signature for the test
//! program `clam.exe` made here from one of its strings (the test files are packed, archived and
//! encoded copies of it), named `ClamAV-Test-File`.
//!
//! On a mismatch the verdicts reached are written to `tests/data/corpora.got`; with
//! `CORPORA_WRITE=1` they replace `corpora.expect` (review the diff before committing it).

use spool::daylog::read_email;
use spool::Queue;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;
use testkit::{repo_root, wait_for, Clamd, Conf};

mod common;
use common::scan_once;

const PYTHON: &str = "/usr/lib/python3.11/test/test_email/data";
const CLAMAV: &str = "/usr/share/clamav-testfiles";

/// The corpus: (key, message body).
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let list = |dir: &str, pkg: &str| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{dir}: {e} (apt-get install {pkg}; tests/run does)"))
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    for p in list(PYTHON, "libpython3.11-testsuite") {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("msg_") && name.ends_with(".txt") {
            out.push((format!("python/{name}"), fs::read(&p).unwrap()));
        }
    }
    for p in list(CLAMAV, "clamav-testfiles") {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let data = fs::read(&p).unwrap();
        let body = if name == "clam.mail" || name.contains(".mbox.") {
            data
        } else {
            attached(&data)
        };
        out.push((format!("clamav/{name}"), body));
    }
    out
}

fn attached(data: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut m = String::from(
        "From: alice@example.org\nTo: bob@example.com\nSubject: the file\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n\
         see attached\n--b\nContent-Type: application/octet-stream; name=\"attachment.bin\"\n\
         Content-Disposition: attachment; filename=\"attachment.bin\"\n\
         Content-Transfer-Encoding: base64\n\n",
    );
    for c in b64.as_bytes().chunks(76) {
        m.push_str(std::str::from_utf8(c).unwrap());
        m.push('\n');
    }
    m.push_str("--b--\n");
    m.into_bytes()
}

/// Add the `ClamAV-Test-File` signature to the test clamd and wait until it is loaded.
fn add_test_file_signature(clamd: &Clamd) {
    testkit::write_ndb(
        &clamd.dir.path().join("clamav-test-file.ndb"),
        "ClamAV-Test-File",
        b"CLAMessageBoxA",
    );
    let talk = |cmd: &[u8], data: Option<&[u8]>| testkit::clamd_command(&clamd.socket, cmd, data);
    assert!(talk(b"zRELOAD\0", None).starts_with("RELOADING"));
    let exe = fs::read(Path::new(CLAMAV).join("clam.exe")).unwrap();
    let loaded = wait_for(Duration::from_secs(60), || {
        std::thread::sleep(Duration::from_millis(200));
        talk(b"zINSTREAM\0", Some(&exe))
            .contains("ClamAV-Test-File")
            .then_some(())
    });
    assert!(loaded.is_some(), "clamd did not load the test signature");
}

#[test]
fn real_world_corpora_are_judged_in_one_pass_as_expected() {
    let corpus = corpus();
    assert!(
        corpus.len() > 80,
        "only {} messages in the corpora",
        corpus.len()
    );
    let clamd = Clamd::start();
    add_test_file_signature(&clamd);
    let conf = Conf::new()
        .path("scan", "clamd_socket", &clamd.socket)
        .set("scan", "max_tries", 1)
        .set("scan", "timeout", 60)
        .set("scan", "notify_sender", false);
    let (ts, ids, out) = scan_once(&conf, &corpus);
    let log = String::from_utf8_lossy(&out.stderr);
    // One pass: nothing waits, nothing was retried (max_tries = 1 would have given up on it).
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        ts.ids(Queue::Incoming).is_empty(),
        "left in incoming: {log}"
    );
    assert!(
        !log.contains(": left for retry (try") && !log.contains(" tries ("),
        "{log}"
    );

    let (lines, _) = read_email(&ts.spool, spool::clock::today()).unwrap();
    let mut got: BTreeMap<String, String> = BTreeMap::new();
    for l in lines {
        if let Some(key) = ids.get(&l.id) {
            let outgoing = ts
                .spool
                .message(Queue::Outgoing, &l.id.parse().unwrap())
                .exists();
            // The queue must agree with the verdict.
            assert_eq!(
                outgoing,
                l.verdict.as_str() == "clean",
                "{key}: {}",
                l.detail
            );
            got.insert(key.clone(), l.verdict.as_str().to_string());
        }
    }
    assert_eq!(got.len(), corpus.len(), "verdicts missing: {log}");
    let text: String = got.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    let expect_path = repo_root().join("tests/data/corpora.expect");
    let got_path = repo_root().join("tests/data/corpora.got");
    if std::env::var_os("CORPORA_WRITE").is_some() {
        let head = "# The verdict scanmail must reach for each message of the real-world corpora\n\
                    # (crates/scanmail/tests/corpora.rs; re-made with CORPORA_WRITE=1, then reviewed).\n\
                    # python/msg_36.txt is message/external-body: quarantined by default ([scan] partial).\n\
                    # clamav/*: banned where scanmail sees the program itself, virus where clamd finds it.\n";
        fs::write(&expect_path, format!("{head}{text}")).unwrap();
    }
    let expect = fs::read_to_string(&expect_path).unwrap_or_default();
    let want: BTreeMap<&str, &str> = expect
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(' '))
        .collect();
    let mut failures = Vec::new();
    for (k, v) in &got {
        match want.get(k.as_str()) {
            Some(w) if w == v => {}
            w => failures.push(format!("{k}: expected {w:?}, got {v}")),
        }
    }
    if failures.is_empty() {
        let _ = fs::remove_file(&got_path);
    } else {
        fs::write(&got_path, &text).unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ (all verdicts in {}):\n{}\n--- log:\n{log}",
        failures.len(),
        got.len(),
        got_path.display(),
        failures.join("\n")
    );
}
