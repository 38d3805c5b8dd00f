//! A private signature mirror in a directory: every signature file it holds is checked, then
//! copied into the database directory under a temp name and renamed into place, so clamd never
//! loads a half-copied or refused file.

use crate::error::{Error, IoAt, Result};
use clamav::database::{check_file, is_signature_name};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What one mirror run did.
#[derive(Debug, Default)]
pub struct Sync {
    pub copied: Vec<String>,
    pub unchanged: usize,
    pub rejected: Vec<Error>,
}

impl Sync {
    pub fn summary(&self) -> String {
        format!(
            "{} copied, {} unchanged, {} rejected",
            self.copied.len(),
            self.unchanged,
            self.rejected.len()
        )
    }
}

/// The staging directory inside the database directory: same file system (one rename commits),
/// and a dot-name without a signature extension, so clamd never loads from it.
fn staging_dir(db: &Path) -> PathBuf {
    db.join(".sigupdate.tmp")
}

/// Copy the mirror's new or changed signature files into `db`.
pub fn sync(mirror: &Path, db: &Path, sigtool: &str) -> Result<Sync> {
    let mut names = Vec::new();
    for de in fs::read_dir(mirror).at(mirror)? {
        let de = de.at(mirror)?;
        let Ok(name) = de.file_name().into_string() else {
            continue;
        };
        if is_signature_name(&name) && de.metadata().is_ok_and(|m| m.is_file()) {
            names.push(name);
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(Error::Io {
            path: mirror.to_path_buf(),
            source: io::Error::other("the mirror holds no signature files"),
        });
    }
    let staging = staging_dir(db);
    // A crash of an earlier run may have left half-copied files here.
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir(&staging).at(&staging)?;
    let mut out = Sync::default();
    for name in names {
        let src = mirror.join(&name);
        let dst = db.join(&name);
        if same_file_contents(&src, &dst).at(&src)? {
            out.unchanged += 1;
            continue;
        }
        match install_one(&src, &staging.join(&name), &dst, sigtool) {
            Ok(()) => out.copied.push(name),
            Err(e @ Error::Clamav(clamav::Error::Rejected { .. })) => out.rejected.push(e),
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                return Err(e);
            }
        }
    }
    fs::remove_dir_all(&staging).at(&staging)?;
    if !out.copied.is_empty() {
        fsync_dir(db)?;
    }
    Ok(out)
}

/// Same size, same modification time and same bytes: nothing to copy.
fn same_file_contents(a: &Path, b: &Path) -> io::Result<bool> {
    let (ma, mb) = match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) => return Err(e),
        (_, Err(_)) => return Ok(false),
    };
    if ma.len() != mb.len() || ma.mtime() != mb.mtime() {
        return Ok(false);
    }
    Ok(fs::read(a)? == fs::read(b)?)
}

/// Copy, fsync, keep the mirror's modification time (the signatures' age), check, then rename.
fn install_one(src: &Path, tmp: &Path, dst: &Path, sigtool: &str) -> Result<()> {
    {
        let mut from = File::open(src).at(src)?;
        // World-readable: clamd reads the database as its own user.
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(tmp)
            .at(tmp)?;
        io::copy(&mut from, &mut to).at(tmp)?;
        let mtime = from.metadata().and_then(|m| m.modified()).at(src)?;
        to.set_modified(mtime).at(tmp)?;
        to.sync_all().at(tmp)?;
    }
    // Check the copy, not the source: the mirror may change underneath us.
    if let Err(e) = check_file(sigtool, tmp) {
        let _ = fs::remove_file(tmp);
        return Err(match e {
            clamav::Error::Rejected { reason, .. } => clamav::Error::Rejected {
                path: src.to_path_buf(),
                reason,
            },
            other => other,
        }
        .into());
    }
    fs::rename(tmp, dst).at(dst)
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}
