//! scanmail's container readers (`scanmail::container`): every reader (zip, tar, gzip, bzip2, xz,
//! zstd, 7z, rar, cab, ISO 9660, TNEF) forced on every input, as the bounded test
//! crates/scanmail/tests/fuzz_containers.rs does, then the real-type sniffer. One target for all
//! eleven: the walker picks the reader from the magic bytes, so each reader's coverage grows from
//! the seeds of its own format, and any reader meeting any bytes is a case worth having.
//!
//! Checks, besides "no panic": no member larger than `max_object_bytes` is handed over, no more
//! members than `max_members`, no more bytes than the budget, and a reader never claims that the
//! visitor stopped it (this visitor never does).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanmail::container::{self, types, Body, Format, Halt, Limits};

const LIMITS: Limits = Limits {
    max_object_bytes: 1 << 20,
    budget: 4 << 20,
    max_members: 300,
};

fuzz_target!(|data: &[u8]| {
    for f in Format::ALL {
        let mut members = 0usize;
        let mut bytes = 0u64;
        let st = container::list(f, data, &LIMITS, &mut |m| {
            members += 1;
            let n = match &m.body {
                Body::Data(d) | Body::Head(d) => d.len() as u64,
                _ => 0,
            };
            assert!(n <= LIMITS.max_object_bytes, "{f:?}: a member of {n} bytes");
            bytes += n;
            Ok(())
        });
        assert!(members <= LIMITS.max_members, "{f:?}: {members} members");
        assert!(
            bytes <= LIMITS.budget,
            "{f:?}: {bytes} bytes past the budget"
        );
        assert!(
            !matches!(st, Err(Halt::Visitor)),
            "{f:?}: a visitor stop that never was"
        );
    }
    types::real_types(data);
});
