//! A bounded mutation fuzzer for everything in scanmail that reads untrusted message bytes: the
//! MIME walk (headers, parameters, RFC 2231/2047, multipart splitting), the transfer decoders
//! (base64, quoted-printable, uuencode), zip member listing, and the whole of `Judge::prepare`
//! (envelope, walk, decoded parts written into `_d/`, pattern matching).
//!
//! Every `tests/data/scan/*.eml` is a seed. Each iteration stacks one to four deterministic
//! pseudo-random mutations (bit flips, byte insertions and deletions, truncation, splicing two
//! seeds, duplicated boundary lines, MIME tokens dropped in, generated deep nesting of multiparts,
//! messages and zips) and feeds the result in-process to the library, never through a scanner. It
//! asserts that nothing panics, that every outcome is a known one, and that nothing is written
//! anywhere but generated names inside the `_d` directory of a temporary spool.
//!
//! Stable Rust, no fuzzing engine: a fixed seed and a fixed number of iterations, so a failure
//! reproduces. Failures are collected by `testkit::fuzz::Findings`: each kind shrunk to a small
//! input, saved under the target directory's `fuzz-findings/` and named in the assertion message.
#![allow(clippy::too_many_lines)] // a test reads best as one story

use scanmail::decode::DecodedDir;
use scanmail::judge::{Facts, Judge, Prepared};
use scanmail::mime::{self, Limits, MimeError, Sink};
use scanmail::scan::Object;
use spool::verdict::Verdict;
use spool::{Config, MessageId, Queue, Spool};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use testkit::fuzz::{catch, Findings, Rng};
use testkit::repo_root;

/// Iterations over the in-process MIME walk; every JUDGE_EVERY-th also runs `Judge::prepare`.
const ITERATIONS: usize = 20_000;
const JUDGE_EVERY: usize = 8;
/// Slower than this for one input (debug build, busy machine) is a failure: a hostile message
/// must not stall the pass (10 s: a hang, not a loaded 2-core machine).
const SLOW: std::time::Duration = std::time::Duration::from_secs(10);

/// Bytes that mean something to a MIME reader, dropped in at random places.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"\n\n",
    b"--",
    b"\n--",
    b"=_b1",
    b"\n--=_b1\n",
    b"\n--=_b1--\n",
    b"Content-Type: multipart/mixed; boundary=\"x\"\n",
    b"Content-Type: message/rfc822\n",
    b"Content-Type: multipart/digest; boundary=d\n",
    b"Content-Transfer-Encoding: base64\n",
    b"Content-Transfer-Encoding: quoted-printable\n",
    b"Content-Transfer-Encoding: x-uuencode\n",
    b"Content-Transfer-Encoding: (c) \"Base-64\"\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''a%; filename*1=b\n",
    b"; name*=iso-8859-1'en'%E9%",
    b"; filename*99999999999=x",
    b"; filename*=''",
    b"; boundary=",
    b"; boundary=\"\"",
    b"\"",
    b"\\",
    b"(",
    b")",
    b";",
    b"=?utf-8?B?ZXZpbC5leGU=?=",
    b"=?utf-8?Q?a=",
    b"=?",
    b"?=",
    b"=?unknown-charset?B?////?=",
    b"=\n",
    b"=3",
    b"=ZZ",
    b"begin 644 x.exe\n",
    b"begin 100644 z.exe\n",
    b"\n--=_b1x\n",
    b"\n--=_b1--\n\n--=_b1\nContent-Type: application/octet-stream; name=late.exe\n\n",
    b"Content-Type : multipart/mixed; boundary=\"x\"\n",
    b"Content-Type: message/partial; id=x; number=1\n",
    b"Content-Type: message/external-body; access-type=URL\n",
    b"Content-Type: application/octet-stream; name*=utf-8''%0A%0D\n",
    b"From: a@b\nSubject: s\n\n",
    b"%0A",
    b"-_",
    b"begin-base64 600 y.vbs\n",
    b"\nend\n",
    b"====\n",
    b"M",
    b"`\n",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"PK\x01\x02",
    b"MZ",
    b"\x7fELF",
    b"#!/bin/sh\n",
    b"\0",
    b"\xff\xfe",
    b"\xc3\xa9",
    b"\xe2\x80\xae",
    b" \t",
    b"\n\t",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    match rng.below(12) {
        0 => rng.flip_bits(input),
        1 => rng.insert_random(input, 16),
        2 => rng.delete_range(input, 64),
        3 => rng.truncate(input),
        // Spliced with another seed: our head, its tail.
        4 => rng.splice_seed(input, seeds),
        // Boundary lines duplicated, moved, or their closing dashes dropped.
        5 => {
            let lines = line_spans(input);
            let delims: Vec<(usize, usize)> = lines
                .iter()
                .copied()
                .filter(|&(s, e)| input[s..e].starts_with(b"--"))
                .collect();
            if !delims.is_empty() {
                let (s, e) = *rng.pick(&delims);
                let line = input[s..e].to_vec();
                let at = lines.get(rng.below(lines.len())).map(|l| l.0).unwrap_or(0);
                let copies = 1 + rng.below(3);
                for _ in 0..copies {
                    input.splice(at..at, line.iter().copied());
                }
            }
        }
        // A MIME token inserted.
        6 | 7 => {
            let at = rng.below(input.len() + 1);
            let t = rng.pick(TOKENS);
            input.splice(at..at, t.iter().copied());
        }
        // A line duplicated many times (header floods, part floods).
        8 => {
            let lines = line_spans(input);
            if !lines.is_empty() {
                let (s, e) = *rng.pick(&lines);
                let line = input[s..e].to_vec();
                let n = 1 + rng.below(200);
                let mut rep = Vec::with_capacity(line.len() * n);
                for _ in 0..n {
                    rep.extend_from_slice(&line);
                }
                input.splice(e..e, rep);
            }
        }
        // A short piece repeated thousands of times in place (parameter, name, part and
        // header floods): catches work that grows with the square of the input.
        9 => {
            if !input.is_empty() {
                let at = rng.below(input.len());
                let len = 1 + rng.below(40.min(input.len() - at));
                let piece = input[at..at + len].to_vec();
                let n = 100 + rng.below(4_000);
                let mut rep = Vec::with_capacity(len * n);
                for _ in 0..n {
                    rep.extend_from_slice(&piece);
                }
                input.splice(at..at, rep);
            }
        }
        // Deep nesting around the input.
        10 => *input = nest(rng, input),
        // The input zipped (possibly several times) and attached in base64.
        _ => *input = zip_nest(rng, input),
    }
}

/// (start, end including the line feed) of each line.
fn line_spans(data: &[u8]) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut s = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' {
            v.push((s, i + 1));
            s = i + 1;
        }
    }
    if s < data.len() {
        v.push((s, data.len()));
    }
    v
}

/// Wrap the input in layers of multipart/mixed, message/rfc822 or encoded message/rfc822.
fn nest(rng: &mut Rng, inner: &[u8]) -> Vec<u8> {
    let depth = 1 + rng.below(30);
    let mut m = inner.to_vec();
    for level in 0..depth {
        let mut out = Vec::with_capacity(m.len() + 200);
        match rng.below(4) {
            0 | 1 => {
                let b = format!("n{level}x{}", rng.below(1000));
                write!(
                    out,
                    "Content-Type: multipart/mixed; boundary=\"{b}\"\n\npreamble\n--{b}\n"
                )
                .unwrap();
                out.extend_from_slice(&m);
                // Sometimes no closing delimiter, as clients forgive.
                if !rng.one_in(4) {
                    write!(out, "\n--{b}--\n").unwrap();
                }
            }
            2 => {
                out.extend_from_slice(b"Content-Type: message/rfc822\n\n");
                out.extend_from_slice(&m);
            }
            _ => {
                out.extend_from_slice(
                    b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n",
                );
                out.extend_from_slice(base64(&m).as_bytes());
            }
        }
        m = out;
    }
    m
}

fn zip_nest(rng: &mut Rng, inner: &[u8]) -> Vec<u8> {
    let depth = 1 + rng.below(25);
    let mut data = inner.to_vec();
    for level in 0..depth {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let opts =
                zip::write::SimpleFileOptions::default().compression_method(if rng.one_in(2) {
                    zip::CompressionMethod::Stored
                } else {
                    zip::CompressionMethod::Deflated
                });
            let name = match rng.below(4) {
                0 => format!("../../level{level}.zip"),
                1 => format!("/abs/level{level}.exe"),
                2 => format!("l{level}\\x\u{0}.zip"),
                _ => format!("level{level}.zip"),
            };
            z.start_file(name, opts).unwrap();
            z.write_all(&data).unwrap();
            z.finish().unwrap();
        }
        data = buf.into_inner();
        // Damage a layer now and then, the outermost one often: the walk must shrug it off.
        if rng.one_in(if level + 1 == depth { 2 } else { 6 }) {
            damage_zip(rng, &mut data);
        }
    }
    let mut out = b"Content-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: application/zip; name=\"a.zip\"\nContent-Transfer-Encoding: base64\n\n".to_vec();
    out.extend_from_slice(base64(&data).as_bytes());
    out.extend_from_slice(b"--z--\n");
    out
}

/// Flip bits, truncate, or overwrite a field with an extreme value (sizes, offsets, counts).
fn damage_zip(rng: &mut Rng, data: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    match rng.below(4) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
        }
        1 => {
            let at = rng.below(data.len());
            data.truncate(at);
        }
        _ => {
            // Fields of the end-of-central-directory record and the headers are little-endian
            // 16- and 32-bit numbers: aim at the last 22 bytes half of the time.
            let at = if rng.one_in(2) {
                data.len().saturating_sub(22) + rng.below(22.min(data.len()))
            } else {
                rng.below(data.len())
            };
            let v: u32 = *rng.pick(&[0, 1, 0x7fff, 0xffff, 0x7fff_ffff, 0xffff_ffff]);
            let width = if rng.one_in(2) { 2 } else { 4 };
            for (k, b) in v.to_le_bytes().iter().take(width).enumerate() {
                if let Some(x) = data.get_mut(at + k) {
                    *x = *b;
                }
            }
        }
    }
}

fn base64(data: &[u8]) -> String {
    use base64::Engine;
    let s = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(s.len() + s.len() / 76 + 2);
    for c in s.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(c).unwrap());
        out.push('\n');
    }
    out
}

/// Writes decoded parts into a DecodedDir, as the judge does.
struct DirSink<'a>(&'a mut DecodedDir);

impl Sink for DirSink<'_> {
    fn part(&mut self, label: &str, name: &str, ctype: &str, data: &[u8]) -> std::io::Result<()> {
        self.0.write(label, name, ctype, data).map(|_| ())
    }
}

/// Names the decoder may create inside `_d/`.
fn generated_name(n: &str) -> bool {
    n == "index"
        || n == "message.eml"
        || n.strip_prefix("part")
            .and_then(|r| r.strip_suffix(".bin"))
            .is_some_and(|d| d.len() >= 3 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Everything under `root` must be one of `allowed` top-level entries, and inside a `_d`
/// directory only generated names, no subdirectories.
fn check_tree(root: &Path, allowed: &dyn Fn(&str) -> bool) -> Result<(), String> {
    for e in fs::read_dir(root).map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !allowed(&name) {
            return Err(format!("unexpected entry {:?}", e.path()));
        }
        let ft = e.file_type().map_err(|e| e.to_string())?;
        if name.ends_with("_d") {
            if !ft.is_dir() {
                return Err(format!("{name} is not a directory"));
            }
            for f in fs::read_dir(e.path()).map_err(|e| e.to_string())? {
                let f = f.map_err(|e| e.to_string())?;
                let n = f.file_name().to_string_lossy().into_owned();
                let is_file = f.file_type().map(|t| t.is_file()).unwrap_or(false);
                if !generated_name(&n) || !is_file {
                    return Err(format!("unexpected entry in _d: {:?}", f.path()));
                }
            }
        }
    }
    Ok(())
}

fn limits(size: usize) -> Limits {
    let c = Config::default().scan;
    Limits {
        max_depth: c.max_depth,
        max_parts: c.max_parts,
        max_decoded_bytes: c.max_decoded_bytes.min(size as u64 * 10),
        max_archive_members: c.max_archive_members,
        max_object_bytes: c.max_object_bytes,
        max_name_lines: c.max_name_lines,
    }
}

/// One walk of the MIME tree with decoded parts written to `<dir>/walk_d`.
fn walk_once(dir: &Path, input: &[u8]) -> Result<&'static str, String> {
    let ddir = dir.join("walk_d");
    let mut dd = DecodedDir::new(&ddir).map_err(|e| format!("DecodedDir::new: {e}"))?;
    let lim = limits(input.len());
    let res = mime::analyze(input, &lim, &mut DirSink(&mut dd));
    dd.finish().map_err(|e| format!("index: {e}"))?;
    let kind = match res {
        Ok(a) => {
            if a.decoded_bytes > lim.max_decoded_bytes {
                return Err(format!("decoded {} bytes past the limit", a.decoded_bytes));
            }
            if a.parts > lim.max_parts {
                return Err(format!("{} parts past the limit", a.parts));
            }
            if a.lines.len() > lim.max_name_lines {
                return Err(format!("{} name lines past the limit", a.lines.len()));
            }
            // The bodies handed over decoded lie inside the input, sorted (they may nest: an
            // attachment that is itself a message holds more). The rest of the message without
            // them is what the scanner reads besides the decoded parts.
            let mut last = 0;
            for &(off, len) in &a.handed_over {
                if off < last || off + len > input.len() {
                    return Err(format!("handed-over range {off}+{len} is wrong"));
                }
                last = off;
            }
            let rest = scanmail::judge::rest_of(input, &a.handed_over);
            let cut: usize = a.handed_over.iter().map(|r| r.1).sum();
            if rest.len() > input.len() || rest.len() + cut < input.len() {
                return Err(format!(
                    "rest of {} bytes from {} less {cut}",
                    rest.len(),
                    input.len()
                ));
            }
            if a.ambiguous.is_empty() {
                "walked"
            } else {
                // Read in more than one way: every reading was walked.
                "ambiguous"
            }
        }
        Err(MimeError::TooComplex(_)) => "too complex",
        Err(MimeError::Io(e)) => return Err(format!("I/O error inside the temp dir: {e}")),
    };
    for (p, _) in dd.files() {
        if p.parent() != Some(ddir.as_path()) {
            return Err(format!("decoded part outside _d: {}", p.display()));
        }
    }
    Ok(kind)
}

/// The whole of `Judge::prepare` on a spool file holding `input`.
fn judge_once(judge: &Judge, input: &[u8], wants_dir: bool) -> Result<&'static str, String> {
    let sp = &judge.spool;
    let id = MessageId::parse("smtpdFuzz01").unwrap();
    let path = sp.message(Queue::Incoming, &id);
    let mut file = b"FROM <fuzz@example.org>\nRCPT <bob@example.com>\nBODY\n".to_vec();
    file.extend_from_slice(input);
    fs::write(&path, &file).map_err(|e| e.to_string())?;
    let ddir = sp.decoded_dir(Queue::Incoming, &id);
    let mut facts = Facts::default();
    // Half the time the raw message is kept in memory for the scanner.
    let keep_raw = input.len().is_multiple_of(2);
    let outcome = judge.prepare(&id, wants_dir, keep_raw, &mut facts);
    let kind = match &outcome {
        Prepared::Decided(d) => match d.verdict {
            Verdict::Clean => "clean",
            Verdict::Banned => "banned",
            Verdict::TooComplex => "too-complex",
            Verdict::Malformed => "malformed",
            // Content the walk could not see into (message/partial, objects too large).
            Verdict::Unscannable => "unscannable",
            Verdict::Encrypted => "encrypted",
            v => return Err(format!("unexpected verdict before a scan: {v:?}")),
        },
        Prepared::Scan(job) => {
            if job.dir != ddir || job.id != id {
                return Err(format!("job for the wrong message: {job:?}"));
            }
            for o in &job.objects {
                match o {
                    Object::File(p, _) if p.parent() == Some(ddir.as_path()) => {}
                    // Parts shown inline, from memory: only for a scanner that streams.
                    Object::Mem(..) if !wants_dir => {}
                    Object::Raw {
                        path: p,
                        data: Some(d),
                        ..
                    } if *p == path && keep_raw && **d == *input => {}
                    Object::Raw {
                        path: p,
                        offset,
                        data: None,
                    } if *p == path && *offset as usize + input.len() == file.len() => {}
                    other => return Err(format!("object outside the message: {other:?}")),
                }
            }
            if wants_dir && job.objects.iter().any(|o| matches!(o, Object::Raw { .. })) {
                return Err("a directory scanner was handed a raw object".into());
            }
            "scan"
        }
        // A verdict that depends only on the message is given at once: nothing here may wait.
        Prepared::Retry(why) => return Err(format!("left for retry: {why}")),
    };
    if facts.decoded_dir != ddir.exists() {
        return Err("facts.decoded_dir is wrong".into());
    }
    check_tree(&sp.queue(Queue::Incoming), &|n| {
        n == id.as_str() || n == format!("{id}_d")
    })?;
    let _ = fs::remove_dir_all(&ddir);
    Ok(kind)
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = repo_root().join("tests/data/scan");
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn save_failure(n: usize, input: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz_mime");
    fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("failure-{n}.eml"));
    fs::write(&p, input).unwrap();
    p
}

#[test]
fn mutated_messages_never_panic_and_stay_inside_the_temp_dir() {
    let seeds = seeds();
    assert!(seeds.len() >= 10, "too few seeds: {}", seeds.len());
    let bodies: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();

    // Tens of thousands of small files are created and removed: on tmpfs when there is one.
    let shm = Path::new("/dev/shm");
    let tmp = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let walk_dir = tmp.path().join("walk");
    // Anything a hostile name managed to write beside `_d` would land here or in the root.
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&walk_dir).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let sp = Spool::new(tmp.path().join("spool"));
    sp.create().unwrap();
    for f in ["matches.bad", "matches.doc"] {
        fs::copy(repo_root().join("etc").join(f), sp.etc_file(f)).unwrap();
    }
    // Both readings of the rules: scan everything (the default), and the article's (only mail
    // that matches matches.doc is scanned, the rest is clean at once).
    let judge_all = Judge::new(Config::default(), sp.clone()).unwrap();
    let mut article = Config::default();
    article.scan.scan_all = false;
    let judge_article = Judge::new(article, sp.clone()).unwrap();

    // The tree after one input: nothing outside `_d`, nothing but generated names inside.
    let tree_problem = || {
        let stray = fs::read_dir(&outside).unwrap().count();
        let tree = check_tree(tmp.path(), &|n| matches!(n, "walk" | "outside" | "spool"))
            .and_then(|()| check_tree(&walk_dir, &|n| n == "walk_d"));
        if stray > 0 {
            Some(format!("{stray} files written outside _d"))
        } else {
            tree.err()
        }
    };
    // One input, for shrinking a finding: walked, judged, the tree checked.
    let check = |input: &[u8]| -> Option<String> {
        let walked = match catch(|| walk_once(&walk_dir, input)) {
            Ok(r) => r.err(),
            Err(p) => Some(p),
        };
        let judged = || match catch(|| judge_once(&judge_all, input, true)) {
            Ok(r) => r.err().map(|e| format!("judge: {e}")),
            Err(p) => Some(format!("judge {p}")),
        };
        walked.or_else(judged).or_else(tree_problem)
    };

    let started = Instant::now();
    let mut rng = Rng(0x5ca1_ab1e_f00d_2026);
    let mut findings = Findings::new("fuzz_mime");
    let mut ran = 0;
    let mut judged = 0;
    let mut slowest = (std::time::Duration::ZERO, 0, 0);
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut verdicts: BTreeMap<&str, usize> = BTreeMap::new();
    for n in 0..ITERATIONS {
        // The large zip-member seed is slow to walk in a debug build: pick it less often.
        let (name, seed) = loop {
            let s = rng.pick(&seeds);
            if s.1.len() < 20_000 || rng.one_in(8) {
                break s;
            }
        };
        let mut input = seed.clone();
        let rounds = 1 + rng.below(4);
        for _ in 0..rounds {
            mutate(&mut rng, &bodies, &mut input);
        }
        // Keep inputs bounded (nesting and floods grow them).
        input.truncate(256 << 10);
        ran += 1;

        let t0 = Instant::now();
        let r = catch(|| walk_once(&walk_dir, &input));
        let took = t0.elapsed();
        // For hunting slow inputs by hand: FUZZ_SAVE_SLOW=1 keeps every input over 300 ms.
        if std::env::var_os("FUZZ_SAVE_SLOW").is_some() && took.as_millis() > 300 {
            save_failure(n, &input);
        }
        if took > slowest.0 {
            slowest = (took, n, input.len());
        }
        let problem = match r {
            Ok(Ok(kind)) => {
                *outcomes.entry(kind).or_insert(0) += 1;
                None
            }
            Ok(Err(e)) => Some(e),
            Err(p) => Some(p),
        };
        // Linear work only: even a 1 MB input walks in well under a second (debug build).
        let problem = problem.or_else(|| {
            (took > SLOW).then(|| {
                format!(
                    "slow: {:.2} s for {} bytes",
                    took.as_secs_f64(),
                    input.len()
                )
            })
        });
        let problem = problem.or_else(|| {
            if n % JUDGE_EVERY != 0 {
                return None;
            }
            judged += 1;
            let wants_dir = n % (2 * JUDGE_EVERY) == 0;
            let judge = if n % (3 * JUDGE_EVERY) == 0 {
                &judge_article
            } else {
                &judge_all
            };
            match catch(|| judge_once(judge, &input, wants_dir)) {
                Ok(Ok(kind)) => {
                    *verdicts.entry(kind).or_insert(0) += 1;
                    None
                }
                Ok(Err(e)) => Some(format!("judge: {e}")),
                Err(p) => Some(format!("judge {p}")),
            }
        });
        let problem = problem.or_else(tree_problem);
        if let Some(p) = problem {
            findings.add(format!("iteration {n} (seed {name}): {p}"), &input, &check);
        }
    }
    eprintln!(
        "fuzz_mime: {ran} inputs walked ({outcomes:?}), {judged} judged ({verdicts:?}), {} \
         failures, {:.1} s; slowest walk {:.3} s (iteration {}, {} bytes)",
        findings.count,
        started.elapsed().as_secs_f64(),
        slowest.0.as_secs_f64(),
        slowest.1,
        slowest.2
    );
    assert!(ran == ITERATIONS && judged > 0, "the fuzzer did not run");
    // A fuzzer whose inputs all fail early tests nothing: every kind of outcome must occur.
    for k in ["walked", "ambiguous", "too complex"] {
        assert!(
            outcomes.get(k).copied().unwrap_or(0) > 0,
            "no input {k}: {outcomes:?}"
        );
    }
    for k in ["clean", "banned", "scan"] {
        assert!(
            verdicts.get(k).copied().unwrap_or(0) > 0,
            "no input judged {k}: {verdicts:?}"
        );
    }
    findings.assert_none();
}
