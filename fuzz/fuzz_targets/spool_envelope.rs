//! The spool reader (`spool::Envelope::read_from`): any bytes as a spool file. What it accepts
//! must validate, must survive a write and a second read unchanged, and its body offset must be
//! inside the file, just after the `BODY` line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spool::Envelope;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz");
    let mut r = data;
    let Ok((env, offset)) = Envelope::read_from(&mut r, path) else {
        return;
    };
    let offset = usize::try_from(offset).unwrap();
    assert!(offset <= data.len(), "body offset past the end");
    assert!(
        data[..offset].ends_with(b"\nBODY\n") || offset == 0,
        "body offset not after the BODY line"
    );
    assert_eq!(r.len(), data.len() - offset, "reader not left at the body");
    let mut again = Vec::new();
    env.write_to(&mut again).unwrap();
    let (env2, offset2) = Envelope::read_from(&mut again.as_slice(), path)
        .unwrap_or_else(|e| panic!("rewritten envelope unreadable: {e}"));
    assert_eq!(env, env2);
    assert_eq!(offset2 as usize, again.len());
});
