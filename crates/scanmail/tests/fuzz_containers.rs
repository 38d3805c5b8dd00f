//! A bounded mutation fuzzer for every container reader (zip, tar, gzip, bzip2, xz, zstd, 7z,
//! rar, cab, ISO, TNEF), the real-type sniffer, and the walker that recurses through them.
//!
//! The seeds are the attachments of the container vectors (tests/data/scan, written by
//! generate_containers.py), decoded by the walker itself. Each iteration stacks one to four
//! deterministic mutations (bit flips, inserted and deleted bytes, truncation, splices of two
//! seeds, little-endian fields set to extreme values, a seed nested in another) and then runs
//! every reader on the result, not only the one its magic bytes name, with small limits. It
//! asserts that nothing panics, that no input takes long, that no reader returns more than its
//! limits allow, and that the process's peak memory stays bounded.
//!
//! Stable Rust, no fuzzing engine: a fixed seed (`FUZZ_SEED`) and a fixed number of iterations
//! (`FUZZ_ITERS`), so a failure reproduces. Failures are collected by `testkit::fuzz::Findings`:
//! each kind shrunk to a small input, saved under the target directory's `fuzz-findings/` and
//! named in the assertion message (`FUZZ_REPRO=<file>` runs one without catching its panic).

use scanmail::container::{self, types, Body, Format, Halt, Limits, Status};
use scanmail::mime::{self, Sink};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use testkit::fuzz::{catch, iterations, Findings, Rng};
use testkit::repo_root;

const ITERATIONS: usize = 6_000;
/// Slower than this for one input (all readers, debug build, busy machine) is a failure: what
/// it catches is a hang or a blow-up, so it is the libFuzzer targets' 10 s. (3 s failed on a
/// loaded 2-core machine for an 85 KB input that takes 0.9 s alone in a debug build.)
const SLOW: Duration = Duration::from_secs(10);
/// Peak resident memory of the whole test process.
const MAX_RSS_KB: u64 = 1536 * 1024;

const LIMITS: Limits = Limits {
    max_object_bytes: 1 << 20,
    budget: 4 << 20,
    max_members: 300,
};

/// Keeps every decoded attachment (the seeds).
#[derive(Default)]
struct Keep(Vec<Vec<u8>>);
impl Sink for Keep {
    fn part(&mut self, label: &str, _: &str, _: &str, data: &[u8]) -> std::io::Result<()> {
        // Attachments only, not the members handed over on their own.
        if label.contains('(') && !label.contains(" member ") && !data.is_empty() {
            self.0.push(data.to_vec());
        }
        Ok(())
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = repo_root().join("tests/data/scan");
    let gen = fs::read_to_string(dir.join("generate_containers.py")).unwrap();
    let mut names: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .filter(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            gen.contains(&format!("V[\"{stem}\"]")) || stem.contains("zip")
        })
        .collect();
    names.sort();
    let lim = mime::Limits {
        max_depth: 20,
        max_parts: 1000,
        max_decoded_bytes: 64 << 20,
        max_archive_members: 1000,
        max_object_bytes: 1 << 20,
        max_name_lines: 100_000,
    };
    let mut out = Vec::new();
    for p in names {
        let raw = fs::read(&p).unwrap();
        let mut k = Keep::default();
        let _ = mime::analyze(&raw, &lim, &mut k);
        // Big ones (ISO images) are mostly padding.
        for d in k.0 {
            if d.len() <= 600 << 10 {
                out.push(d);
            }
        }
    }
    out
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    match rng.below(9) {
        0 => rng.flip_bits(input),
        1 => rng.insert_random(input, 32),
        2 => rng.delete_range(input, 256),
        3 => rng.truncate(input),
        4 => rng.splice_seed(input, seeds),
        // Sizes, offsets, counts and lengths are little-endian fields near the start (headers)
        // or the end (zip's end record, gzip's size): aim there often.
        5 | 6 => {
            if input.is_empty() {
                return;
            }
            let at = match rng.below(3) {
                0 => rng.below(input.len().min(128)),
                1 => input
                    .len()
                    .saturating_sub(1 + rng.below(input.len().min(64))),
                _ => rng.below(input.len()),
            };
            let v: u64 = *rng.pick(&[
                0,
                1,
                0x7f,
                0xff,
                0x7fff,
                0xffff,
                0x7fff_ffff,
                0xffff_ffff,
                u64::MAX,
                0x8000_0000_0000_0000,
            ]);
            let width = *rng.pick(&[1, 2, 4, 8]);
            for (k, b) in v.to_le_bytes().iter().take(width).enumerate() {
                if let Some(x) = input.get_mut(at + k) {
                    *x = *b;
                }
            }
        }
        // A seed nested inside another (stored inside a zip or tar, or appended after data).
        7 => {
            let inner = rng.pick(seeds).clone();
            if rng.one_in(2) {
                let mut buf = std::io::Cursor::new(Vec::new());
                let mut z = zip::ZipWriter::new(&mut buf);
                z.start_file("inner", zip::write::SimpleFileOptions::default())
                    .unwrap();
                std::io::Write::write_all(&mut z, &inner).unwrap();
                z.finish().unwrap();
                *input = buf.into_inner();
            } else {
                input.truncate(rng.below(input.len() + 1));
                input.extend_from_slice(&inner);
            }
        }
        // A range repeated (member floods, long names).
        _ => {
            if !input.is_empty() {
                let at = rng.below(input.len());
                let len = 1 + rng.below(64.min(input.len() - at));
                let piece = input[at..at + len].to_vec();
                let n = 2 + rng.below(500);
                let mut rep = Vec::with_capacity(len * n);
                for _ in 0..n {
                    rep.extend_from_slice(&piece);
                }
                input.splice(at..at, rep);
            }
        }
    }
}

/// Every reader on `data`; the readers' outcomes by kind.
fn read_all(data: &[u8], outcomes: &mut BTreeMap<String, usize>) -> Result<(), String> {
    let detected = container::detect(data);
    for f in Format::ALL {
        let mut members = 0usize;
        let mut bytes = 0u64;
        let mut problem = None;
        let st = container::list(f, data, &LIMITS, &mut |m| {
            members += 1;
            let n = match &m.body {
                Body::Data(d) | Body::Head(d) => d.len() as u64,
                _ => 0,
            };
            if n > LIMITS.max_object_bytes {
                problem = Some(format!("{f:?}: a member of {n} bytes"));
            }
            bytes += n;
            Ok(())
        });
        if let Some(p) = problem {
            return Err(p);
        }
        if members > LIMITS.max_members {
            return Err(format!("{f:?}: {members} members past the limit"));
        }
        if bytes > LIMITS.budget {
            return Err(format!("{f:?}: {bytes} bytes past the budget"));
        }
        let kind = match st {
            Ok(Status::Complete) => "complete",
            Ok(Status::Unreadable(_)) => "unreadable",
            Ok(Status::Encrypted) => "encrypted",
            Err(Halt::TooComplex(_)) => "too complex",
            Err(Halt::Visitor) => return Err(format!("{f:?}: a visitor stop that never was")),
        };
        if Some(f) == detected {
            *outcomes.entry(format!("{f:?} {kind}")).or_insert(0) += 1;
        }
    }
    types::real_types(data);
    Ok(())
}

/// The walker through the containers, inside a message.
fn walk(data: &[u8]) -> Result<(), String> {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(data);
    let mut m = b"Content-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: application/octet-stream; name=\"a.bin\"\nContent-Transfer-Encoding: base64\n\n".to_vec();
    for c in b.as_bytes().chunks(76) {
        m.extend_from_slice(c);
        m.push(b'\n');
    }
    m.extend_from_slice(b"--z--\n");
    let lim = mime::Limits {
        max_depth: 20,
        max_parts: 1000,
        max_decoded_bytes: (m.len() as u64 * 10).min(16 << 20),
        max_archive_members: 300,
        max_object_bytes: 1 << 20,
        max_name_lines: 100_000,
    };
    match mime::analyze(&m, &lim, &mut mime::Discard) {
        Ok(a) if a.decoded_bytes > lim.max_decoded_bytes => {
            Err(format!("walk decoded {} bytes", a.decoded_bytes))
        }
        Ok(_) | Err(mime::MimeError::TooComplex(_)) => Ok(()),
        Err(e) => Err(format!("walk: {e}")),
    }
}

fn peak_rss_kb() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Read every member of one input (and walk it, when `walk_too`), timed: its problem, if any.
fn one_input(
    input: &[u8],
    walk_too: bool,
    outcomes: &mut BTreeMap<String, usize>,
) -> (Duration, Option<String>) {
    let t0 = Instant::now();
    let mut r = catch(|| read_all(input, outcomes));
    if walk_too && matches!(r, Ok(Ok(()))) {
        r = catch(|| walk(input));
    }
    let took = t0.elapsed();
    let problem = match r {
        Ok(Ok(())) if took > SLOW => Some(format!("slow: {:.2} s", took.as_secs_f64())),
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(p) => Some(p),
    };
    (took, problem)
}

/// `FUZZ_REPRO=<saved input>`: run one failing input without catching its panic (for the
/// backtrace).
#[test]
fn reproduce_one_input() {
    let Some(p) = std::env::var_os("FUZZ_REPRO") else {
        return;
    };
    let data = fs::read(p).unwrap();
    read_all(&data, &mut BTreeMap::new()).unwrap();
    walk(&data).unwrap();
}

/// `CONTAINERS_LIST=<dir>`: list what the readers and the type sniffer find in every file of a
/// directory (to compare with real tools' output, e.g. Debian's clamav-testfiles).
#[test]
fn list_a_directory() {
    let Some(dir) = std::env::var_os("CONTAINERS_LIST") else {
        return;
    };
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for p in paths {
        let data = fs::read(&p).unwrap();
        let f = container::detect(&data);
        print!("{}: {f:?} {:?}", p.display(), types::real_types(&data));
        if let Some(f) = f {
            let st = container::list(f, &data, &LIMITS, &mut |m| {
                let body = match &m.body {
                    Body::Data(d) => format!("{} bytes", d.len()),
                    Body::Head(d) => format!("head {} {:?}", d.len(), types::real_types(d)),
                    b => format!("{b:?}"),
                };
                print!("\n    {:?} {:?} {body} scan={}", m.name, m.size, m.scan);
                Ok(())
            });
            print!("\n    => {st:?}");
        } else {
            // A message: what the walk could not see into.
            let lim = mime::Limits {
                max_depth: 20,
                max_parts: 1000,
                max_decoded_bytes: 64 << 20,
                max_archive_members: 1000,
                max_object_bytes: 20 << 20,
                max_name_lines: 100_000,
            };
            if let Ok(a) = mime::analyze(&data, &lim, &mut mime::Discard) {
                for b in a.blind {
                    print!("\n    blind {b:?}");
                }
            }
        }
        println!();
    }
}

#[test]
fn mutated_containers_never_panic_hang_or_grow() {
    let seeds = seeds();
    assert!(seeds.len() >= 30, "too few seeds: {}", seeds.len());
    // Every reader has at least one seed of its own.
    for f in Format::ALL {
        assert!(
            seeds.iter().any(|s| container::detect(s) == Some(f)),
            "no seed for {f:?}"
        );
    }
    let mut rng = Rng::new(0xc0a7_a1e5_2026_0009, 9);
    let iters = iterations(ITERATIONS);
    let mut findings = Findings::new("fuzz_containers");
    let mut outcomes = BTreeMap::new();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    // One input, for shrinking a finding: the same checks, the outcomes not counted.
    let check = |input: &[u8]| one_input(input, true, &mut BTreeMap::new()).1;
    for n in 0..iters {
        let mut input = rng.pick(&seeds).clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &seeds, &mut input);
        }
        input.truncate(1 << 20);
        let (took, problem) = one_input(&input, n % 4 == 0, &mut outcomes);
        slowest = slowest.max(took);
        if let Some(p) = problem {
            findings.add(format!("iteration {n}: {p}"), &input, &check);
        }
    }
    let rss = peak_rss_kb();
    eprintln!(
        "fuzz_containers: {iters} inputs, {:.1} s, slowest {:.3} s, peak RSS {} MB, {} failures\n{outcomes:?}",
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64(),
        rss / 1024,
        findings.count
    );
    findings.assert_none();
    assert!(rss < MAX_RSS_KB, "peak RSS {} MB", rss / 1024);
    // Mutations that never reach a reader's inside test nothing: each must list some inputs
    // to the end.
    for f in Format::ALL {
        let complete = outcomes
            .get(&format!("{f:?} complete"))
            .copied()
            .unwrap_or(0);
        assert!(complete > 0, "{f:?} never listed to the end: {outcomes:?}");
    }
}
