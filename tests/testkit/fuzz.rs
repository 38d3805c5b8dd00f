//! The bounded fuzz tests' harness (stable Rust, so no libFuzzer): splitmix64 randomness (tiny,
//! fast, reproducible; no dependency), the `FUZZ_SEED` and `FUZZ_ITERS` environment knobs, and
//! [`Findings`]: panics caught quietly ([`guarded`]), every failure kind shrunk to a small
//! reproducer, saved, and reported at once. Every parser of untrusted bytes has a bounded mutation
//! fuzz test built on this.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// splitmix64.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// A generator for one test: `FUZZ_SEED` (else `default_seed`) mixed with a per-test salt.
    pub fn new(default_seed: u64, salt: u64) -> Rng {
        let seed = std::env::var("FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default_seed);
        Rng(seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0..n (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    // The byte-level mutations every fuzz test shares (each test adds its format's own).

    /// One to eight single-bit flips.
    pub fn flip_bits(&mut self, input: &mut [u8]) {
        for _ in 0..1 + self.below(8) {
            if !input.is_empty() {
                let i = self.below(input.len());
                input[i] ^= 1 << self.below(8);
            }
        }
    }

    /// One to `max` random bytes inserted anywhere.
    pub fn insert_random(&mut self, input: &mut Vec<u8>, max: usize) {
        let at = self.below(input.len() + 1);
        let n = 1 + self.below(max);
        let bytes: Vec<u8> = (0..n).map(|_| self.next() as u8).collect();
        input.splice(at..at, bytes);
    }

    /// A range of one to `max` bytes deleted.
    pub fn delete_range(&mut self, input: &mut Vec<u8>, max: usize) {
        if !input.is_empty() {
            let at = self.below(input.len());
            let n = 1 + self.below(max.min(input.len() - at));
            input.drain(at..at + n);
        }
    }

    /// Cut anywhere.
    pub fn truncate(&mut self, input: &mut Vec<u8>) {
        let at = self.below(input.len() + 1);
        input.truncate(at);
    }

    /// Our head and another seed's tail.
    pub fn splice_seed(&mut self, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        let other = self.pick(seeds);
        let a = self.below(input.len() + 1);
        let b = self.below(other.len() + 1);
        input.truncate(a);
        input.extend_from_slice(&other[b..]);
    }
}

/// `FUZZ_ITERS`, else the test's default.
pub fn iterations(default: usize) -> usize {
    std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Failures of one fuzz test, by kind: the first input of each kind, shrunk to a small
/// reproducer, saved to a file, and all reported at once at the end ([`Findings::assert_none`]),
/// so that one run shows every distinct bug rather than only the first.
pub struct Findings {
    target: String,
    found: BTreeMap<String, Finding>,
    /// Failures seen in all (most are repeats of a kind already kept).
    pub count: usize,
}

struct Finding {
    problem: String,
    input: Vec<u8>,
    shown: String,
    saved: Option<PathBuf>,
}

impl Findings {
    pub fn new(target: &str) -> Findings {
        Findings {
            target: target.into(),
            found: BTreeMap::new(),
            count: 0,
        }
    }

    /// Record `problem` for `input`. `check` runs one input and returns its problem (None when it
    /// passes): the input is shrunk while the problem stays of the same [`kind`].
    pub fn add(&mut self, problem: String, input: &[u8], check: &dyn Fn(&[u8]) -> Option<String>) {
        self.add_shown(problem, input, check, &|b| show(b))
    }

    /// [`Findings::add`], with the reproducer rendered by `show` (e.g. with the test case's other
    /// parameters).
    pub fn add_shown(
        &mut self,
        problem: String,
        input: &[u8],
        check: &dyn Fn(&[u8]) -> Option<String>,
        show: &dyn Fn(&[u8]) -> String,
    ) {
        self.count += 1;
        let k = kind(&problem);
        if self.found.contains_key(&k) {
            return;
        }
        let small = shrink(input, &k, check);
        // The message of the small input: the one to debug.
        let problem = guarded(|| check(&small)).unwrap_or(problem);
        let saved = save(&self.target, self.found.len(), &small);
        let shown = show(&small);
        self.found.insert(
            k,
            Finding {
                problem,
                input: small,
                shown,
                saved,
            },
        );
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Panic with the report when anything was found.
    pub fn assert_none(&self) {
        if self.found.is_empty() {
            return;
        }
        let mut report = format!(
            "{}: {} failure(s) of {} kind(s) (FUZZ_SEED={} reproduces the run):\n",
            self.target,
            self.count,
            self.found.len(),
            std::env::var("FUZZ_SEED").unwrap_or_else(|_| "unset".into())
        );
        for f in self.found.values() {
            report.push_str(&format!(
                "- {}\n  reproducer ({} bytes{}): {}\n",
                f.problem,
                f.input.len(),
                f.saved
                    .as_ref()
                    .map(|p| format!(", in {}", p.display()))
                    .unwrap_or_default(),
                f.shown
            ));
        }
        panic!("{report}");
    }
}

/// The meaning of smtpd's rules glob (`*` any run, `?` one byte, anything else itself), by
/// dynamic programming: slow, obviously right; the oracle the glob's fuzz tests compare with.
pub fn glob_reference(p: &[u8], s: &[u8]) -> bool {
    // m[i][j]: p[..i] matches s[..j].
    let mut m = vec![vec![false; s.len() + 1]; p.len() + 1];
    m[0][0] = true;
    for i in 1..=p.len() {
        for j in 0..=s.len() {
            m[i][j] = match p[i - 1] {
                b'*' => m[i - 1][j] || (j > 0 && m[i][j - 1]),
                b'?' => j > 0 && m[i - 1][j - 1],
                c => j > 0 && s[j - 1] == c && m[i - 1][j - 1],
            };
        }
    }
    m[p.len()][s.len()]
}

/// A byte string as a Rust literal, long runs of one byte shown once with a count, cut after
/// about 2000 characters (the saved file has it all).
pub fn show(input: &[u8]) -> String {
    let mut out = String::from("b\"");
    let mut i = 0;
    while i < input.len() {
        if out.len() > 2000 {
            out.push_str(&format!("<{} more bytes>", input.len() - i));
            break;
        }
        let b = input[i];
        let run = input[i..].iter().take_while(|&&x| x == b).count();
        if run > 40 {
            out.push_str(&format!("<{run} x {}>", [b].escape_ascii()));
        } else {
            out.push_str(&input[i..i + run].escape_ascii().to_string());
        }
        i += run;
    }
    out.push('"');
    out
}

/// What makes one bug one kind: the message up to its first quote, with every number as `#`,
/// however many inputs reach it.
pub fn kind(problem: &str) -> String {
    let head = problem.split(['`', '\'', '"', ';']).next().unwrap_or("");
    let mut out = String::new();
    for c in head.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out.chars().take(80).collect()
}

/// Greedy shrinking: drop chunks, then single bytes, while the failure stays of the same kind;
/// bounded by 4000 tries and 20 seconds (a slow input must not make the report slower still).
pub fn shrink(input: &[u8], kind_of: &str, check: &dyn Fn(&[u8]) -> Option<String>) -> Vec<u8> {
    let same = |cand: &[u8]| guarded(|| check(cand)).is_some_and(|p| kind(&p) == kind_of);
    let end = Instant::now() + Duration::from_secs(20);
    let mut cur = input.to_vec();
    let mut chunk = (cur.len() / 2).max(1);
    let mut budget = 4000;
    loop {
        let mut i = 0;
        let mut changed = false;
        while i < cur.len() && budget > 0 && Instant::now() < end {
            budget -= 1;
            let mut cand = cur.clone();
            cand.drain(i..(i + chunk).min(cur.len()));
            if same(&cand) {
                cur = cand;
                changed = true;
            } else {
                i += chunk;
            }
        }
        if budget == 0 || Instant::now() >= end || (chunk == 1 && !changed) {
            return cur;
        }
        if !changed {
            chunk = (chunk / 2).max(1);
        }
    }
}

/// Write a reproducer under the target directory's `fuzz-findings/`.
fn save(target: &str, n: usize, input: &[u8]) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/debug/deps/<test> → target/fuzz-findings
    let dir = exe.parent()?.parent()?.parent()?.join("fuzz-findings");
    fs::create_dir_all(&dir).ok()?;
    let p = dir.join(format!("{target}-{n}.bin"));
    fs::write(&p, input).ok()?;
    Some(p)
}

thread_local! {
    /// Set while a fuzz input runs: its panics are findings, reported once at the end, not
    /// printed by the thousand.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Where the last quiet panic happened: with the message, what makes one bug one kind.
    static WHERE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Silence panics of fuzz inputs only; the tests' own assertion messages still print.
fn quiet_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(|q| q.get()) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                WHERE.with(|w| *w.borrow_mut() = at);
            } else {
                default(info);
            }
        }));
    });
}

/// Run one fuzz input: a panic becomes `Err("panic at FILE:LINE: message")`, printed by nobody
/// (the thousands of panics of a bad run must not flood the output).
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    quiet_panics();
    let was = QUIET.with(|q| q.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|p| {
        let at = WHERE.with(|w| w.borrow().clone());
        format!("panic at {at}: {}", panic_text(p.as_ref()))
    })
}

/// [`catch`] for a check that returns its problem: a panic is one more problem.
pub fn guarded(f: impl FnOnce() -> Option<String>) -> Option<String> {
    catch(f).unwrap_or_else(Some)
}

/// The message of a caught panic.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_is_shrunk_kept_once_per_kind_and_reported() {
        let check = |b: &[u8]| -> Option<String> {
            if b.windows(3).any(|w| w == b"bad") {
                Some(format!("found bad at {}", b.len()))
            } else if b.contains(&b'!') {
                panic!("bang {}", b.len())
            } else {
                None
            }
        };
        let mut f = Findings::new("kit-selftest");
        f.add("found bad at 12".into(), b"xxxxbadyyyyy", &check);
        f.add("found bad at 5".into(), b"badxx", &check);
        let p = guarded(|| check(b"zz!zz")).unwrap();
        assert!(p.starts_with("panic at ") && p.contains("bang 5"), "{p}");
        f.add(p, b"zz!zz", &check);
        assert_eq!(f.count, 3);
        assert_eq!(f.found.len(), 2);
        let bad = &f.found[&kind("found bad at 3")];
        assert_eq!(bad.input, b"bad");
        assert_eq!(bad.problem, "found bad at 3");
        assert!(f.found.values().any(|x| x.input == b"!"));
        let report = catch_unwind(AssertUnwindSafe(|| f.assert_none())).unwrap_err();
        let report = panic_text(report.as_ref());
        assert!(
            report.contains("2 kind(s)") && report.contains("b\"bad\""),
            "{report}"
        );
        Findings::new("none").assert_none();
    }

    #[test]
    fn the_byte_mutations_stay_in_their_bounds() {
        let mut rng = Rng(7);
        let seeds = vec![b"0123456789".to_vec()];
        for _ in 0..1000 {
            let mut v = b"abcdefgh".to_vec();
            rng.insert_random(&mut v, 4);
            assert!((9..=12).contains(&v.len()));
            let mut v = b"abcdefgh".to_vec();
            rng.delete_range(&mut v, 3);
            assert!((5..=7).contains(&v.len()));
            let mut v = b"abcdefgh".to_vec();
            rng.flip_bits(&mut v);
            assert_eq!(v.len(), 8);
            rng.truncate(&mut v);
            assert!(v.len() <= 8);
            let mut v = b"abc".to_vec();
            rng.splice_seed(&mut v, &seeds);
            assert!(v.len() <= 13);
        }
        let mut empty = Vec::new();
        rng.delete_range(&mut empty, 3);
        rng.flip_bits(&mut empty);
        assert!(empty.is_empty());
    }

    #[test]
    fn the_glob_reference_means_what_it_says() {
        for (p, s, want) in [
            (&b"*@example.com"[..], &b"a@example.com"[..], true),
            (b"a?c", b"abc", true),
            (b"a?c", b"ac", false),
            (b"*", b"", true),
            (b"", b"x", false),
            (b"a*b*c", b"axxbyyc", true),
            (b"a*b*c", b"axxbyy", false),
        ] {
            assert_eq!(glob_reference(p, s), want, "{p:?} {s:?}");
        }
    }

    #[test]
    fn show_folds_long_runs() {
        assert_eq!(show(b"a\r\n"), "b\"a\\r\\n\"");
        let long = [b"x".repeat(50), b"\xff".to_vec()].concat();
        assert_eq!(show(&long), "b\"<50 x x>\\xff\"");
        let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        assert!(show(&big).len() < 2200 && show(&big).contains(" more bytes>"));
    }
}
