//! scanmail's container readers (`scanmail::container`): every reader (zip, tar, gzip, bzip2, xz,
//! zstd, 7z, rar, cab, ISO 9660, TNEF) forced on every input, as the bounded test
//! crates/scanmail/tests/fuzz_containers.rs does, then the real-type sniffer. One target for all
//! eleven: the walker picks the reader from the magic bytes, so each reader's coverage grows from
//! the seeds of its own format, and any reader meeting any bytes is a case worth having.
//!
//! Checks, besides "no panic": no member larger than `max_object_bytes` is handed over, no more
//! members than `max_members`, no more bytes than the budget, and a reader never claims that the
//! visitor stopped it (this visitor never does).
//!
//! The cab reader catches the panics of the `cab` crate on hostile cabinets (an unreadable
//! cabinet, not a dead scanmail), but libFuzzer's panic hook aborts on every panic, caught or
//! not: this target puts a quiet hook in its place, and a panic that escapes the readers is still
//! a crash (libfuzzer-sys aborts on it), reported with its message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanmail::container::{self, types, Body, Format, Halt, Limits};
use std::cell::RefCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Once;

static QUIET: Once = Once::new();
thread_local! {
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

const LIMITS: Limits = Limits {
    max_object_bytes: 1 << 20,
    budget: 4 << 20,
    max_members: 300,
};

fuzz_target!(|data: &[u8]| {
    QUIET.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            LAST_PANIC.with(|l| *l.borrow_mut() = info.to_string());
        }))
    });
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| check(data))) {
        eprintln!(
            "panic out of the container readers: {}",
            LAST_PANIC.with(|l| l.take())
        );
        resume_unwind(p);
    }
});

fn check(data: &[u8]) {
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
}
