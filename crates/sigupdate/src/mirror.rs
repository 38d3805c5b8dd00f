//! A private signature mirror in a directory: every signature file it holds is offered to
//! `clamav::database::install`, which checks each one and lands it in the database directory by
//! a temp copy and one rename, so clamd never loads a half-copied or refused file.

use crate::error::Result;
use clamav::database::{install, signature_files, Installed};
use std::path::Path;

/// Copy the mirror's new or changed signature files into `db`.
pub fn sync(mirror: &Path, db: &Path, sigtool: &str) -> Result<Installed> {
    let names: Vec<_> = signature_files(mirror)?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    if names.is_empty() {
        return Err(spool::Error::io(
            mirror,
            std::io::Error::other("the mirror holds no signature files"),
        )
        .into());
    }
    Ok(install(db, sigtool, &names)?)
}
