//! A bounded fuzzer for the grep BRE translator of the pattern files (`etc/matches.bad`,
//! `etc/matches.doc` are edited by hand, and one bad line must give a clean error naming the
//! line, never a crash that stops every scan).
//!
//! Random pattern strings drawn mostly from the characters that mean something in a BRE or in
//! the regex crate's syntax, plus mutations of the shipped lines, go through `bre_to_regex` and
//! `PatternSet::parse` (which compiles them); every result must be `Ok` or an `Err`, and a set
//! that compiled must match a few lines without panicking. Deterministic: a fixed seed.

use spool::patterns::{bre_to_regex, PatternError, PatternSet};
use std::path::Path;
use testkit::fuzz::{catch, Findings, Rng};
use testkit::repo_root;

const ITERATIONS: usize = 2_500;

/// Pieces a pattern is built from: BRE operators, the regex crate's own syntax (which must be
/// escaped when literal), bracket expressions and classes, and a few non-ASCII characters.
const PIECES: &[&str] = &[
    "\\",
    "\\(",
    "\\)",
    "\\{",
    "\\}",
    "\\|",
    "\\+",
    "\\?",
    "\\1",
    "\\<",
    "\\>",
    "\\`",
    "\\'",
    "\\w",
    "\\b",
    "\\.",
    "\\n",
    "\\x",
    "\\p",
    "(",
    ")",
    "{",
    "}",
    "|",
    "+",
    "?",
    "*",
    "^",
    "$",
    ".",
    "[",
    "]",
    "[^",
    "-",
    ",",
    ":",
    "=",
    "[:alpha:]",
    "[:digit:]",
    "[:nope:]",
    "[=a=]",
    "[=é=]",
    "[.-.]",
    "[.ab.]",
    "[:",
    ":]",
    "&&",
    "~~",
    "--",
    "{2}",
    "\\{2\\}",
    "\\{1,\\}",
    "\\{,3\\}",
    "\\{99999\\}",
    "\\{3,1\\}",
    "0",
    "9",
    "a",
    "Z",
    "é",
    "€",
    "\u{10FFFF}",
    "\0",
    " ",
    "\t",
    "#",
    "filename=",
    ".exe",
    "\"",
    "?$",
];

fn random_pattern(rng: &mut Rng) -> String {
    let n = rng.below(16);
    let mut s = String::new();
    for _ in 0..n {
        if rng.below(8) == 0 {
            // Any character at all.
            let c = char::from_u32(rng.below(0x3000) as u32).unwrap_or('x');
            s.push(c);
        } else {
            s.push_str(PIECES[rng.below(PIECES.len())]);
        }
    }
    s
}

/// A shipped line with a piece inserted, a character deleted, or cut short.
fn mutated_line(rng: &mut Rng, lines: &[String]) -> String {
    let mut chars: Vec<char> = lines[rng.below(lines.len())].chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 => {
                let p = PIECES[rng.below(PIECES.len())];
                chars.splice(at..at, p.chars());
            }
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ => chars.truncate(at),
        }
    }
    chars.into_iter().collect()
}

#[test]
fn random_patterns_give_ok_or_a_clean_error() {
    let mut shipped: Vec<String> = Vec::new();
    for f in ["matches.bad", "matches.doc"] {
        let text = std::fs::read_to_string(repo_root().join("etc").join(f)).unwrap();
        shipped.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    assert!(!shipped.is_empty(), "no shipped patterns found");

    let mut rng = Rng(0xb4e_2026);
    let (mut ok, mut err) = (0, 0);
    let mut findings = Findings::new("fuzz_bre");
    let check = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|p| check_pattern(p).err())
    };
    for n in 0..ITERATIONS {
        let pat = if n % 3 == 0 {
            mutated_line(&mut rng, &shipped)
        } else {
            random_pattern(&mut rng)
        };
        match catch(|| check_pattern(&pat)).and_then(|r| r) {
            Ok(true) => ok += 1,
            Ok(false) => err += 1,
            Err(p) => findings.add(p, pat.as_bytes(), &check),
        }
    }
    eprintln!(
        "fuzz_bre: {ITERATIONS} patterns, {ok} valid, {err} refused, {} failures",
        findings.count
    );
    assert!(
        ok > 0 && err > 0,
        "the fuzzer tested only one side: {ok} ok, {err} err"
    );
    findings.assert_none();
}

/// One pattern through the translator and the set parser: Ok(true) compiled and matched a few
/// lines, Ok(false) a clean error naming the line, Err the problem.
fn check_pattern(pat: &str) -> Result<bool, String> {
    let translated = bre_to_regex(pat);
    // A comment line before it, so a parse error must name line 2.
    let text = format!("# a comment\n{pat}\n");
    match PatternSet::parse(&text, Path::new("matches.bad")) {
        Ok(set) => {
            set.first_match(["filename=evil.exe", "Subject: é€", "", pat]);
            Ok(true)
        }
        Err(e) => {
            let blank = pat.trim().is_empty() || pat.starts_with('#');
            let named = matches!(&e, PatternError::Invalid { line: 2, .. });
            if blank || !named || !e.to_string().starts_with("matches.bad:2:") {
                return Err(format!("error does not name line 2: {e}"));
            }
            // The translator alone may accept what the regex crate then refuses (an interval
            // like {3,1}); the reverse never happens.
            let _ = translated;
            Ok(false)
        }
    }
}
