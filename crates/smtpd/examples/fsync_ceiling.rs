//! This disk's durable-write ceiling, the yardstick of `tests/bench/smtpd.sh`: how many 10 KB
//! files per second can be made durable the way smtpd commits a message (write a temp file,
//! fsync it, rename it into place, fsync the directory), with 1 or N writers at once.
//!
//!     cargo run --release -p smtpd --example fsync_ceiling -- DIR COUNT WRITERS
//!
//! Prints `<files/s>` on stdout. DIR should be new; the files are left in it.
#![forbid(unsafe_code)]

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn writer(dir: &Path, me: usize, count: usize) -> std::io::Result<()> {
    let payload = vec![b'x'; 10 * 1024];
    for i in 0..count {
        let tmp = dir.join(format!(".tmp.w{me}.{i}"));
        let dest = dir.join(format!("w{me}.{i}"));
        let mut f = File::create(&tmp)?;
        f.write_all(&payload)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &dest)?;
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: fsync_ceiling DIR COUNT WRITERS");
        std::process::exit(64);
    }
    let dir = PathBuf::from(&args[1]);
    let count: usize = args[2].parse().expect("COUNT");
    let writers: usize = args[3].parse().expect("WRITERS");
    fs::create_dir_all(&dir).expect("DIR");
    let per = count.div_ceil(writers);
    let start = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let dir = dir.clone();
            std::thread::spawn(move || writer(&dir, w, per))
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread").expect("write");
    }
    let secs = start.elapsed().as_secs_f64();
    // The files stay: deleting them here would slow down whatever allocates inodes next
    // (ext4 skips recently deleted inodes); the caller removes DIR when it is done.
    println!("{:.0}", (per * writers) as f64 / secs);
}
