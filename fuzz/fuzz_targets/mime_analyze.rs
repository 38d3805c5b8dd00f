//! scanmail's MIME walker with name decoding (`scanmail::mime::analyze`): any bytes as a message
//! (headers and body, as after `BODY` in a spool file), walked with limits like the shipped ones
//! but smaller, so that a bomb is refused quickly. Checks: no panic, the limits hold (parts,
//! decoded bytes, presented lines, objects handed to the scanner), and the walk is deterministic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanmail::mime::{analyze, Limits, Sink};

struct Check<'a> {
    limits: &'a Limits,
    objects: usize,
}

impl Sink for Check<'_> {
    fn part(&mut self, label: &str, _: &str, _: &str, data: &[u8]) -> std::io::Result<()> {
        assert!(
            data.len() as u64 <= self.limits.max_decoded_bytes,
            "part {label}: {} bytes handed to the scanner",
            data.len()
        );
        self.objects += 1;
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_depth: 20,
        max_parts: 200,
        max_decoded_bytes: 4 << 20,
        max_archive_members: 200,
        max_object_bytes: 1 << 20,
        max_name_lines: 2000,
    };
    let mut sink = Check {
        limits: &limits,
        objects: 0,
    };
    let first = analyze(data, &limits, &mut sink);
    let Ok(a) = first else { return };
    assert!(a.parts <= limits.max_parts, "{} parts", a.parts);
    assert!(
        a.decoded_bytes <= limits.max_decoded_bytes,
        "{} decoded bytes",
        a.decoded_bytes
    );
    assert!(
        a.lines.len() <= limits.max_name_lines,
        "{} lines",
        a.lines.len()
    );
    assert!(sink.objects <= limits.max_parts, "{} objects", sink.objects);
    let mut sink2 = Check {
        limits: &limits,
        objects: 0,
    };
    let b = analyze(data, &limits, &mut sink2).expect("second walk fails, the first did not");
    let texts = |x: &scanmail::mime::Analysis| -> Vec<String> {
        x.lines.iter().map(|l| l.text.clone()).collect()
    };
    assert_eq!(texts(&a), texts(&b), "walk not deterministic");
});
