//! scanmail's BRE loader (`spool::patterns`): any text as a `matches.bad` file, compiled, then
//! matched against the presented lines of a message: no panic, no runaway compile (the set has a
//! size limit), and a hit names a pattern of the file and the line it matched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spool::patterns::PatternSet;
use std::path::Path;

const LINES: &[&str] = &[
    "filename=invoice.pdf.exe",
    "name=\"photo.jpg\"",
    "Content-Type: application/octet-stream; name=\"a.scr\"",
    "filename=",
    "filename=.. .",
    "filename=r\u{e9}sum\u{e9}.doc",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(set) = PatternSet::parse(&text, Path::new("matches.bad")) else {
        return;
    };
    if let Some((i, hit)) = set.first_match(LINES.iter().copied()) {
        assert!(i < LINES.len());
        assert_eq!(hit.line, LINES[i]);
        assert!(set.patterns.iter().any(|p| p.source == hit.pattern));
    }
});
