//! Bounded mutation fuzzing (stable Rust, no cargo-fuzz) of the spool's parsers of untrusted
//! bytes: [`Envelope::read_from`] (spool files are written by smtpd from what a stranger sent, and
//! by hand by an admin), [`MessageId::parse`] (names from directories and command lines) and
//! [`Config::parse`] (the admin's TOML).
//!
//! Each target starts from seeds (valid files and known malformed ones) and applies deterministic
//! pseudo-random mutations: bit flips, byte insertions and deletions, truncation, control
//! characters, lines around and far beyond the length limit, keywords, and splices of two seeds.
//! A run is reproducible: the PRNG is seeded by a constant (or `FUZZ_SEED`), and the number of
//! iterations can be raised with `FUZZ_ITERS` for a longer hunt.
//!
//! Every finding is collected by kind, shrunk to a small reproducer, and reported all at once, so
//! one run shows every distinct bug rather than only the first.

use spool::{Config, Envelope, Error, MessageId};
use std::io::{BufReader, Cursor, Read};
use std::path::Path;
use std::time::Instant;
use testkit::data_files;
use testkit::fuzz::{guarded, iterations, Findings, Rng};

/// Runs are reproducible: the same seed gives the same inputs.
const DEFAULT_SEED: u64 = 0x5eed_5000_1d00_f00d;

/// Bytes that tend to matter to these parsers.
const INTERESTING: &[u8] =
    b"\0\x01\x08\t\n\x0b\x0c\r\x1b\x1f\x7f\x80\xc3\xa9\xff <>@\". =#[]{},'\\";
const CONTROL: &[u8] = b"\0\x01\t\n\r\x0b\x0c\x1b\x7f";

/// Apply one to four random mutations to `data`; `tokens` are format keywords worth inserting,
/// `seeds` are spliced in.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, tokens: &[&[u8]], seeds: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        let at = rng.below(len + 1);
        match rng.below(13) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 => {
                let b = *rng.pick(INTERESTING);
                data.insert(at, b);
            }
            3 => {
                let b = *rng.pick(CONTROL);
                data.insert(at, b);
            }
            4 if len > 0 => {
                let n = 1 + rng.below(16.min(len - at.min(len - 1)));
                let a = at.min(len - 1);
                data.drain(a..(a + n).min(len));
            }
            5 => data.truncate(at),
            6 => {
                let t = *rng.pick(tokens);
                data.splice(at..at, t.iter().copied());
            }
            7 => {
                // A long run around the 1000-byte line limit, or far beyond it.
                let n = *rng.pick(&[990usize, 994, 995, 996, 999, 1000, 1001, 1002, 4096, 70_000]);
                let b = *rng.pick(b"a<@ .\xff");
                data.splice(at..at, std::iter::repeat_n(b, n));
            }
            8 => {
                // Splice: our head and another seed's tail.
                let other = rng.pick(seeds);
                let cut = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[cut..]);
            }
            9 if len > 0 => {
                // Duplicate a chunk (repeated lines: two FROMs, a second BODY...).
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let chunk = data[a..b].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, chunk);
            }
            10 => {
                // Line ends: LF to CRLF and back, or a bare CR.
                if let Some(i) = data.iter().skip(at).position(|&b| b == b'\n') {
                    let i = at + i;
                    if i > 0 && data[i - 1] == b'\r' {
                        data.remove(i - 1);
                    } else {
                        data.insert(i, b'\r');
                    }
                } else {
                    data.insert(at, b'\r');
                }
            }
            11 => {
                // A random UTF-8 character, sometimes a multi-byte one.
                let c = *rng.pick(&['é', 'ü', '€', '\u{85}', '\u{2028}', '\u{feff}', '😀', 'a']);
                let mut buf = [0u8; 4];
                data.splice(at..at, c.encode_utf8(&mut buf).bytes());
            }
            _ => {
                let b = rng.next() as u8;
                data.insert(at, b);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Envelope::read_from

/// The seeds: valid files, and known malformed ones (as in envelope.rs's unit tests), from
/// tests/data/envelope/.
fn envelope_seeds() -> Vec<Vec<u8>> {
    let mut s: Vec<Vec<u8>> = data_files("envelope/seeds")
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    s.extend(data_files("envelope/malformed").into_iter().map(|(_, b)| b));
    s
}

const ENVELOPE_TOKENS: &[&[u8]] = &[
    b"FROM ",
    b"RCPT ",
    b"SENT ",
    b"BODY\n",
    b"BODY",
    b"FROM <a@b>\n",
    b"RCPT <c@d>\n",
    b"SENT <e@f>\n",
    b"\n",
    b"\r\n",
    b"<>",
    b"FROM \n",
    b"RCPT  \n",
];

/// Check one input against every property; `Some(kind)` on a violation.
fn check_envelope(input: &[u8]) -> Option<String> {
    guarded(|| {
        let path = Path::new("fuzz/smtpdAb3xYz");
        let mut cur = Cursor::new(input);
        let result = Envelope::read_from(&mut cur, path);
        // The same parse through a tiny buffer: streaming must not change the verdict.
        let cap = 1 + input.len() % 7;
        let mut small = BufReader::with_capacity(cap, Cursor::new(input));
        let result_small = Envelope::read_from(&mut small, path);
        match (&result, &result_small) {
            (Ok(a), Ok(b)) if a == b => {}
            (Err(_), Err(_)) => {}
            _ => return Some("verdict depends on the reader's buffer size".into()),
        }
        let (env, off) = match result {
            Err(Error::Malformed { path: p, reason }) => {
                if p != path || reason.is_empty() {
                    return Some("malformed error without path or reason".into());
                }
                return None;
            }
            Err(e) => return Some(format!("unexpected error kind: {}", kind_of(&e))),
            Ok(x) => x,
        };
        let off = off as usize;
        if off > input.len() || cur.position() as usize != off {
            return Some("body offset is not where the reader stopped".into());
        }
        let mut rest = Vec::new();
        small.read_to_end(&mut rest).unwrap();
        if rest != input[off..] {
            return Some("reader not left at the first body byte".into());
        }
        match env.validate() {
            Ok(()) => {}
            Err(Error::Invalid { what, .. }) => {
                let line_over_limit = std::iter::once(env.from.len())
                    .chain(env.recipients.iter().map(|r| r.addr.len()))
                    .any(|n| 5 + n + 1 > spool::envelope::MAX_LINE);
                let why = if env.from.is_empty() {
                    "an empty FROM"
                } else if line_over_limit {
                    "a line over MAX_LINE"
                } else {
                    "something else"
                };
                return Some(format!(
                    "read_from accepts an envelope validate refuses ({what}: {why})"
                ));
            }
            Err(e) => return Some(format!("validate fails with {}", kind_of(&e))),
        }
        let mut written = Vec::new();
        env.write_to(&mut written).unwrap();
        if written != input[..off] {
            return Some("write_to does not reproduce the envelope bytes".into());
        }
        written.extend_from_slice(&input[off..]);
        match Envelope::read_from(&mut Cursor::new(&written), path) {
            Ok((env2, off2)) if env2 == env && off2 as usize == off => None,
            Ok(_) => Some("round trip changes the envelope or the offset".into()),
            Err(e) => Some(format!("round trip fails: {}", kind_of(&e))),
        }
    })
}

fn kind_of(e: &Error) -> &'static str {
    match e {
        Error::Io { .. } => "Io",
        Error::Malformed { .. } => "Malformed",
        Error::BadId(_) => "BadId",
        Error::Layout { .. } => "Layout",
        Error::Config { .. } => "Config",
        Error::Locked(_) => "Locked",
        Error::Exists(_) => "Exists",
        Error::Privileges(_) => "Privileges",
        Error::Invalid { .. } => "Invalid",
    }
}

#[test]
fn fuzz_envelope_read_from() {
    let started = Instant::now();
    let seeds = envelope_seeds();
    let mut rng = Rng::new(DEFAULT_SEED, 1);
    let mut findings = Findings::new("Envelope::read_from");
    let (mut ok, mut malformed) = (0usize, 0usize);
    let n = iterations(50_000);
    for i in 0..n {
        let mut input = seeds[i % seeds.len()].clone();
        // Stack mutations now and then, so that inputs drift further from the seeds.
        for _ in 0..1 + usize::from(rng.chance(30)) * rng.below(4) {
            mutate(&mut rng, &mut input, ENVELOPE_TOKENS, &seeds);
        }
        match check_envelope(&input) {
            None => {
                if Envelope::read_from(&mut Cursor::new(&input), Path::new("f")).is_ok() {
                    ok += 1;
                } else {
                    malformed += 1;
                }
            }
            Some(kind) => findings.add(kind, &input, &check_envelope),
        }
    }
    // The seeds themselves, unmutated, and the inputs that found bugs before.
    // tests/data/envelope/regressions: inputs that once broke a property (found by this fuzzer).
    let regressions = data_files("envelope/regressions");
    for s in seeds
        .iter()
        .map(Vec::as_slice)
        .chain(regressions.iter().map(|(_, b)| b.as_slice()))
    {
        if let Some(kind) = check_envelope(s) {
            findings.add(kind, s, &check_envelope);
        }
    }
    eprintln!(
        "envelope: {n} inputs ({ok} accepted, {malformed} malformed) in {:?}",
        started.elapsed()
    );
    // The mutations must reach both sides of the parser, or the fuzzing proves little.
    assert!(
        ok > n / 50 && malformed > n / 50,
        "ok={ok} malformed={malformed}"
    );
    findings.assert_none();
}

// ---------------------------------------------------------------------------------------------
// MessageId::parse

/// The rule, written independently of id.rs: exactly `smtpd` and six ASCII letters or digits.
fn is_id(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    c.len() == 11
        && c[..5] == ['s', 'm', 't', 'p', 'd']
        && c[5..].iter().all(|c| c.is_ascii_alphanumeric())
}

fn check_id(input: &[u8]) -> Option<String> {
    guarded(|| {
        let s = String::from_utf8_lossy(input);
        let parsed = MessageId::parse(&s);
        match (&parsed, is_id(&s)) {
            (Ok(id), true) => {
                if id.as_str() != s || id.to_string() != s {
                    return Some("parsed id differs from its text".into());
                }
                if s.parse::<MessageId>().ok().as_ref() != Some(id) {
                    return Some("FromStr differs from parse".into());
                }
                None
            }
            (Err(Error::BadId(shown)), false) => {
                if shown.chars().count() > 64 {
                    return Some("BadId echoes more than 64 characters".into());
                }
                None
            }
            (Err(e), false) => Some(format!("wrong error kind {}", kind_of(e))),
            (Ok(_), false) => Some("accepts a name that is not an id".into()),
            (Err(_), true) => Some("refuses a valid id".into()),
        }
    })
}

#[test]
fn fuzz_message_id_parse() {
    let mut rng = Rng::new(DEFAULT_SEED, 2);
    let mut findings = Findings::new("MessageId::parse");
    let mut seeds: Vec<Vec<u8>> = vec![
        b"smtpdAb3xYz".to_vec(),
        b"smtpd000000".to_vec(),
        b"smtpdZZZZZZ".to_vec(),
        b".tmp.smtpdAb3xYz".to_vec(),
        b"smtpdAb3xYz.rw".to_vec(),
        b"../smtpdAb3xYz".to_vec(),
        b"SMTPDAb3xYz".to_vec(),
        b"".to_vec(),
    ];
    for _ in 0..8 {
        seeds.push(MessageId::generate().as_str().as_bytes().to_vec());
    }
    const TOKENS: &[&[u8]] = &[
        b"smtpd",
        b"/",
        b"..",
        b"\0",
        b".tmp.",
        "\u{e9}".as_bytes(),
        b"_",
    ];
    let (mut valid, mut invalid) = (0usize, 0usize);
    let n = iterations(50_000);
    for i in 0..n {
        let mut input = seeds[i % seeds.len()].clone();
        if rng.chance(85) {
            // Mostly small edits, so that many candidates stay 11 characters long.
            let at = rng.below(input.len().max(1));
            match rng.below(4) {
                0 if !input.is_empty() => input[at] = rng.next() as u8,
                1 if !input.is_empty() => input[at] = *rng.pick(b"aZ09/._-\0 \xc3"),
                2 if !input.is_empty() => {
                    input.remove(at);
                }
                _ => input.insert(at, *rng.pick(b"aZ09/._-\0 ")),
            }
        } else {
            mutate(&mut rng, &mut input, TOKENS, &seeds);
            input.truncate(64);
        }
        match check_id(&input) {
            None if is_id(&String::from_utf8_lossy(&input)) => valid += 1,
            None => invalid += 1,
            Some(kind) => findings.add(kind, &input, &check_id),
        }
    }
    eprintln!("message id: {n} inputs ({valid} valid, {invalid} refused)");
    assert!(
        valid > n / 50 && invalid > n / 50,
        "valid={valid} invalid={invalid}"
    );
    findings.assert_none();
}

// ---------------------------------------------------------------------------------------------
// Config::parse

/// The messages of Config's own checks (they come after TOML parsing and name a key, not a line).
const CHECK_MESSAGES: &[&str] = &[
    "hostname:",
    "admin:",
    "smtpd.tls_cert:",
    "scan.command:",
    "scan.max_tries:",
    "forward.max_parallel:",
    "smtpd.max_clients:",
];

fn check_config(input: &[u8]) -> Option<String> {
    guarded(|| {
        let text = String::from_utf8_lossy(input);
        let path = Path::new("/etc/g.conf");
        match Config::parse(&text, path) {
            Ok(_) => None,
            Err(
                ref e @ Error::Config {
                    path: ref p,
                    line,
                    ref message,
                },
            ) => {
                if p != path {
                    return Some("config error does not name the file".into());
                }
                if message.is_empty() {
                    return Some("config error without a message".into());
                }
                let shown = e.to_string();
                match line {
                    Some(l) => {
                        let lines = text.split('\n').count();
                        if l == 0 || l > lines {
                            return Some("config error names a line outside the file".into());
                        }
                        if !shown.starts_with(&format!("/etc/g.conf:{l}: ")) {
                            return Some("config error text does not start with file:line".into());
                        }
                        None
                    }
                    None if CHECK_MESSAGES.iter().any(|m| message.starts_with(m)) => None,
                    None => Some("TOML error without a line".to_string()),
                }
            }
            Err(e) => Some(format!("unexpected error kind: {}", kind_of(&e))),
        }
    })
}

const CONFIG_TOKENS: &[&[u8]] = &[
    b"[",
    b"]",
    b"[[smtpd]]\n",
    b"[smtpd]\n",
    b"[scan.x]\n",
    b"=",
    b" = ",
    b"\"",
    b"'",
    b"'''",
    b"\"\"\"",
    b"#",
    b"\n",
    b"\r\n",
    b"{",
    b"}",
    b",",
    b".",
    b"\\u0000",
    b"\\",
    b"1e400",
    b"-1",
    b"-0",
    b"0x10",
    b"99999999999999999999999",
    b"18446744073709551616",
    b"inf",
    b"nan",
    b"true",
    b"1979-05-27T07:32:00Z",
    b"hostname = \"\"\n",
    b"admin = \"<a@b>\"\n",
    b"max_tries = 0\n",
    b"scanner = \"command\"\n",
    b"tls_cert = \"c.pem\"\n",
    b"nosuchkey = 1\n",
    b"smtpd.max_size = 1\n",
    b"domains = [\"a\", 1]\n",
];

#[test]
fn fuzz_config_parse() {
    let started = Instant::now();
    let conf = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../etc/gateway.conf"
    ))
    .expect("etc/gateway.conf");
    // The whole shipped file, and small pieces of it: mutations of a short text reach the
    // interesting corners (and parse much faster) than ones lost in 150 lines of comments.
    let text = String::from_utf8(conf.clone()).unwrap();
    let mut seeds: Vec<Vec<u8>> = vec![conf.clone(), Vec::new()];
    let sections: Vec<&str> = text.split("\n[").collect();
    for (i, sec) in sections.iter().enumerate() {
        let body: String = sec
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| format!("{l}\n"))
            .collect();
        seeds.push(if i == 0 { body } else { format!("[{body}") }.into_bytes());
    }
    let mut rng = Rng::new(DEFAULT_SEED, 3);
    let mut findings = Findings::new("Config::parse");
    let (mut ok, mut err) = (0usize, 0usize);
    let n = iterations(20_000);
    for i in 0..n {
        // One in twenty is the whole file; the rest are pieces.
        let mut input = if i % 20 == 0 {
            conf.clone()
        } else {
            let mut s = seeds[1 + i % (seeds.len() - 1)].clone();
            if rng.chance(30) {
                let other = rng.pick(&seeds).clone();
                s.extend_from_slice(&other);
            }
            s
        };
        mutate(&mut rng, &mut input, CONFIG_TOKENS, &seeds);
        match check_config(&input) {
            None if Config::parse(&String::from_utf8_lossy(&input), Path::new("c")).is_ok() => {
                ok += 1
            }
            None => err += 1,
            Some(kind) => findings.add(kind, &input, &check_config),
        }
    }
    // Deep nesting must be an error, not a stack overflow (which no catch_unwind could catch).
    for deep in [
        format!("domains = {}", "[".repeat(100_000)),
        format!("x = {}", "{a=".repeat(100_000)),
        format!("{}\n", "[a.".repeat(30_000)),
    ] {
        if let Some(kind) = check_config(deep.as_bytes()) {
            findings.add(kind, deep.as_bytes(), &check_config);
        }
    }
    eprintln!(
        "config: {n} inputs ({ok} accepted, {err} refused) in {:?}",
        started.elapsed()
    );
    assert!(ok > n / 50 && err > n / 50, "ok={ok} err={err}");
    findings.assert_none();
}
