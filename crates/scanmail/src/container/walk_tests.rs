//! The walker over the container vectors (tests/data/scan, written by generate_containers.py),
//! without a scanner: a `banned` vector must meet its `matches.bad` line, an `encrypted` or
//! `unscannable` one must leave the right kind in `Analysis::blind`, a `clean` or `virus` one
//! neither. (The verdicts of the blind list are the judge's; vectors.rs runs them end to end.)

use crate::mime::{self, BlindKind, Limits, Sink};
use spool::patterns::PatternSet;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn limits(size: usize) -> Limits {
    let c = spool::Config::default().scan;
    Limits {
        max_depth: c.max_depth,
        max_parts: c.max_parts,
        max_decoded_bytes: c.max_decoded_bytes.min(size as u64 * 10),
        max_archive_members: c.max_archive_members,
        max_object_bytes: c.max_object_bytes,
        max_name_lines: c.max_name_lines,
    }
}

/// What the scanner would be handed, by part label.
#[derive(Default)]
struct Keep(Vec<(String, Vec<u8>)>);
impl Sink for Keep {
    fn part(&mut self, label: &str, _: &str, _: &str, data: &[u8]) -> std::io::Result<()> {
        self.0.push((label.to_string(), data.to_vec()));
        Ok(())
    }
}

#[test]
fn container_vectors_at_the_walker_level() {
    let dir = repo().join("tests/data/scan");
    let gen = std::fs::read_to_string(dir.join("generate_containers.py")).unwrap();
    let bad = PatternSet::load(&repo().join("etc/matches.bad")).unwrap();
    let mut ran = 0;
    let mut failures = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if p.extension().is_none_or(|x| x != "eml") || !gen.contains(&format!("V[\"{name}\"]")) {
            continue;
        }
        ran += 1;
        let raw = std::fs::read(&p).unwrap();
        let expect = std::fs::read_to_string(p.with_extension("expect")).unwrap();
        let expect = expect.trim();
        let mut sink = Keep::default();
        let a = match mime::analyze(&raw, &limits(raw.len()), &mut sink) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{name}: walk failed: {e}"));
                continue;
            }
        };
        let hit = bad.first_match(a.lines.iter().map(|l| l.text.as_str()));
        let kinds: Vec<BlindKind> = a.blind.iter().map(|b| b.kind).collect();
        let ok = match expect.split_once(' ') {
            Some(("banned", pat)) => hit.as_ref().is_some_and(|(_, h)| h.pattern == pat),
            _ => match expect {
                "encrypted" => hit.is_none() && kinds.contains(&BlindKind::Encrypted),
                "unscannable" => {
                    hit.is_none()
                        && kinds
                            .iter()
                            .any(|k| matches!(k, BlindKind::Unreadable | BlindKind::TooLarge))
                }
                _ => hit.is_none() && kinds.is_empty(),
            },
        };
        if !ok {
            failures.push(format!(
                "{name}: expected {expect}, got match {:?}, blind {:?}",
                hit.map(|(_, h)| (h.pattern, h.line)),
                a.blind
            ));
        }
    }
    assert!(ran >= 40, "only {ran} container vectors");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn walk(raw: &[u8]) -> (mime::Analysis, Keep) {
    let mut sink = Keep::default();
    let a = mime::analyze(raw, &limits(raw.len().max(1 << 20)), &mut sink).unwrap();
    (a, sink)
}

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/data/scan").join(format!("{name}.eml"))).unwrap()
}

#[test]
fn members_go_to_the_scanner_only_where_it_cannot_see_them() {
    const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR";
    let eicar_members = |k: &Keep| {
        k.0.iter()
            .filter(|(l, d)| l.contains(" member ") && d.starts_with(EICAR))
            .count()
    };
    // clamd opens zip and TNEF itself: only the attachment goes to it.
    for v in ["virus-eicar-in-zip", "virus-eicar-in-winmail"] {
        let (_, k) = walk(&vector(v));
        assert_eq!(eicar_members(&k), 0, "{v}");
    }
    // Data in front of the zip, LZMA in it: the member goes too.
    for v in ["virus-eicar-in-prefixed-zip", "virus-eicar-in-lzma-zip"] {
        let (_, k) = walk(&vector(v));
        assert_eq!(eicar_members(&k), 1, "{v}");
    }
}

#[test]
fn encrypted_members_keep_their_names() {
    let (a, _) = walk(&vector("encrypted-zipcrypto-eicar"));
    assert!(a.lines.iter().any(|l| l.text == "filename=eicar.txt"));
    assert_eq!(a.blind.len(), 1, "{:?}", a.blind);
    assert_eq!(a.blind[0].kind, BlindKind::Encrypted);
    assert!(a.blind[0].part.contains("eicar.txt"), "{:?}", a.blind);
    let (a, _) = walk(&vector("encrypted-7z-names-hidden"));
    assert_eq!(a.blind[0].kind, BlindKind::Encrypted);
}

#[test]
fn too_large_member_is_never_read() {
    let raw = vector("unscannable-zip-26mb-zeros-then-eicar");
    let (a, k) = walk(&raw);
    assert_eq!(a.blind.len(), 1, "{:?}", a.blind);
    assert_eq!(a.blind[0].kind, BlindKind::TooLarge);
    assert!(a.decoded_bytes < 1 << 20, "{}", a.decoded_bytes);
    assert!(k.0.iter().all(|(_, d)| d.len() < 1 << 20));
}

/// The attachments of a vector, decoded.
fn attachments(name: &str) -> Vec<Vec<u8>> {
    let (_, k) = walk(&vector(name));
    k.0.into_iter()
        .filter(|(l, _)| l.contains('(') && !l.contains(" member "))
        .map(|(_, d)| d)
        .collect()
}

#[test]
fn an_image_inside_a_zip_is_opened() {
    use std::io::Write;
    let iso = attachments("banned-exe-in-iso").remove(0);
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    z.start_file("scan.pdf", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(&iso).unwrap();
    z.finish().unwrap();
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(buf.into_inner());
    let m = format!(
        "Content-Type: application/zip; name=a.zip\nContent-Transfer-Encoding: base64\n\n{b}\n"
    );
    let (a, _) = walk(m.as_bytes());
    let texts: Vec<&str> = a.lines.iter().map(|l| l.text.as_str()).collect();
    assert!(texts.contains(&"filename=setup.exe"), "{texts:?}");
    assert!(texts.contains(&"filename=scan.pdf.iso"), "{texts:?}");
}

#[test]
fn a_gzip_bomb_hiding_a_virus_is_never_clean() {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&vec![0u8; 26 << 20]).unwrap();
    e.write_all(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
        .unwrap();
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap());
    let m = format!(
        "Content-Type: application/gzip; name=big.txt.gz\nContent-Transfer-Encoding: base64\n\n{b}\n"
    );
    // With the message's own budget (ten times its size) it is a bomb: too complex.
    let r = mime::analyze(m.as_bytes(), &limits(m.len()), &mut mime::Discard);
    assert!(matches!(r, Err(mime::MimeError::TooComplex(_))), "{r:?}");
    // With room to decode, it is larger than the scanner reads: too large.
    let mut lim = limits(m.len());
    lim.max_decoded_bytes = 64 << 20;
    let a = mime::analyze(m.as_bytes(), &lim, &mut mime::Discard).unwrap();
    assert_eq!(a.blind.len(), 1, "{:?}", a.blind);
    assert_eq!(a.blind[0].kind, BlindKind::TooLarge);
}
