//! The scanner's signature database directory: which files are signatures, how to check one
//! (sigtool for the signed .cvd/.cld containers, a trial load by clamscan for the text formats),
//! and how old the newest signatures are.

use crate::{Error, Result};
use chrono::{DateTime, Local};
use spool::IoContext;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// File name endings ClamAV loads or updates from (containers, diffs and the text formats).
const EXTENSIONS: &[&str] = &[
    "cvd", "cld", "cud", "cdiff", "ndb", "ndu", "hdb", "hdu", "hsb", "hsu", "mdb", "mdu", "msb",
    "msu", "ldb", "ldu", "idb", "cdb", "crb", "cat", "cbc", "pdb", "gdb", "wdb", "fp", "sfp",
    "ign", "ign2", "ftm", "yar", "yara", "pwdb", "imp", "info", "cfg",
];

/// True for the name of a signature file (never a dot-file, so our own temp files never count).
pub fn is_signature_name(name: &str) -> bool {
    if name.starts_with('.') {
        return false;
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => EXTENSIONS.contains(&ext),
        _ => false,
    }
}

/// The signed container formats whose header sigtool reads.
pub fn is_container(name: &str) -> bool {
    name.ends_with(".cvd") || name.ends_with(".cld")
}

/// Signature files of a directory with their modification times, sorted by name.
pub fn signature_files(dir: &Path) -> Result<Vec<(PathBuf, SystemTime)>> {
    let mut out = Vec::new();
    for de in std::fs::read_dir(dir).at(dir)? {
        let de = de.at(dir)?;
        let name = de.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_signature_name(name) {
            continue;
        }
        let Ok(md) = de.metadata() else { continue };
        if md.is_file() {
            out.push((de.path(), md.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        }
    }
    out.sort();
    Ok(out)
}

/// The header of a signed database, as `sigtool --info` prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerInfo {
    pub version: Option<u64>,
    pub built: Option<DateTime<Local>>,
}

/// Parse `sigtool --info` output (`Build time: 26 Nov 2026 09:23 -0500`, `Version: 27467`).
pub fn parse_sigtool_info(out: &str) -> ContainerInfo {
    let mut info = ContainerInfo {
        version: None,
        built: None,
    };
    for line in out.lines() {
        if let Some(v) = line.strip_prefix("Version:") {
            info.version = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("Build time:") {
            info.built = DateTime::parse_from_str(v.trim(), "%d %b %Y %H:%M %z")
                .ok()
                .map(|d| d.with_timezone(&Local));
        }
    }
    info
}

/// `sigtool --info FILE`: the file's header, or why sigtool refuses it.
pub fn sigtool_info(sigtool: &str, file: &Path) -> Result<ContainerInfo> {
    let out = Command::new(sigtool)
        .arg("--info")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Tool {
            program: sigtool.to_string(),
            reason: format!("cannot run: {e}"),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Rejected {
            path: file.to_path_buf(),
            reason: format!(
                "sigtool --info: {}",
                last_line(&err).unwrap_or("exited with an error")
            ),
        });
    }
    let info = parse_sigtool_info(&text);
    if info.built.is_none() {
        return Err(Error::Rejected {
            path: file.to_path_buf(),
            reason: "sigtool --info shows no build time".into(),
        });
    }
    Ok(info)
}

fn last_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// clamscan next to sigtool, else from PATH; None when ClamAV's scanner is not installed.
fn clamscan_beside(sigtool: &str) -> Option<PathBuf> {
    let beside = Path::new(sigtool).parent().map(|d| d.join("clamscan"));
    if let Some(p) = beside.filter(|p| p.is_file()) {
        return Some(p);
    }
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join("clamscan"))
        .find(|p| p.is_file())
}

/// Check a signature file before it enters the database: a container must pass `sigtool
/// --info`; a text database must load in clamscan on its own (one malformed file would make
/// every later clamd reload fail). Diffs are applied by freshclam, so they are only copied.
pub fn check_file(sigtool: &str, file: &Path) -> Result<()> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if is_container(name) {
        return sigtool_info(sigtool, file).map(|_| ());
    }
    if name.ends_with(".cdiff") || name.ends_with(".info") || name.ends_with(".cfg") {
        return Ok(());
    }
    let Some(clamscan) = clamscan_beside(sigtool) else {
        log::debug!("{}: no clamscan to trial-load it", file.display());
        return Ok(());
    };
    let empty = tempfile::NamedTempFile::new().at(std::env::temp_dir())?;
    let out = Command::new(&clamscan)
        .args(["--quiet", "--no-summary", "-d"])
        .arg(file)
        .arg(empty.path())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Tool {
            program: clamscan.display().to_string(),
            reason: format!("cannot run: {e}"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(Error::Rejected {
            path: file.to_path_buf(),
            reason: format!(
                "clamscan cannot load it: {}",
                last_line(&err).unwrap_or("exited with an error")
            ),
        })
    }
}

/// What [`install`] did.
#[derive(Debug, Default)]
pub struct Installed {
    /// Names of the files copied in.
    pub copied: Vec<String>,
    /// Files already there with the same size, modification time and bytes.
    pub unchanged: usize,
    /// Files [`check_file`] refused ([`Error::Rejected`], naming the source file): not installed.
    pub rejected: Vec<Error>,
}

impl Installed {
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

/// Install signature files (`sources`, each keeping its file name) into the database directory
/// `db`, so that clamd never loads a half-copied or refused file: each new or changed one is
/// copied into a staging directory inside `db`, fsynced, given its source's modification time
/// (the signatures' age), checked there ([`check_file`] on the copy: the source may change
/// underneath), and renamed over the old one; `db` is fsynced once at the end. A refused file
/// is reported and the rest still go in; any other error stops the install (what was renamed
/// in stays, each file whole).
pub fn install(db: &Path, sigtool: &str, sources: &[PathBuf]) -> Result<Installed> {
    let staging = staging_dir(db);
    // A crash of an earlier run may have left half-copied files here.
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging).at(&staging)?;
    let res = install_staged(db, &staging, sigtool, sources);
    let _ = std::fs::remove_dir_all(&staging);
    let out = res?;
    if !out.copied.is_empty() {
        spool::store::fsync_dir(db)?;
    }
    Ok(out)
}

fn install_staged(
    db: &Path,
    staging: &Path,
    sigtool: &str,
    sources: &[PathBuf],
) -> Result<Installed> {
    let mut out = Installed::default();
    for src in sources {
        let Some(name) = src.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let dst = db.join(name);
        if same_file_contents(src, &dst).at(src)? {
            out.unchanged += 1;
            continue;
        }
        match install_one(src, &staging.join(name), &dst, sigtool) {
            Ok(()) => out.copied.push(name.to_string()),
            Err(e @ Error::Rejected { .. }) => out.rejected.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Same size, same modification time and same bytes: nothing to copy.
fn same_file_contents(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let (ma, mb) = match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) => return Err(e),
        (_, Err(_)) => return Ok(false),
    };
    if ma.len() != mb.len() || ma.mtime() != mb.mtime() {
        return Ok(false);
    }
    Ok(std::fs::read(a)? == std::fs::read(b)?)
}

/// Copy, fsync, keep the source's modification time, check the copy, then rename it into place.
fn install_one(src: &Path, tmp: &Path, dst: &Path, sigtool: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    {
        let mut from = std::fs::File::open(src).at(src)?;
        // World-readable: clamd reads the database as its own user.
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(tmp)
            .at(tmp)?;
        std::io::copy(&mut from, &mut to).at(tmp)?;
        let mtime = from.metadata().and_then(|m| m.modified()).at(src)?;
        to.set_modified(mtime).at(tmp)?;
        to.sync_all().at(tmp)?;
    }
    if let Err(e) = check_file(sigtool, tmp) {
        let _ = std::fs::remove_file(tmp);
        return Err(match e {
            Error::Rejected { reason, .. } => Error::Rejected {
                path: src.to_path_buf(),
                reason,
            },
            other => other,
        });
    }
    std::fs::rename(tmp, dst).at(dst)?;
    Ok(())
}

/// Where the date of the newest signatures came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Clamd,
    Sigtool,
    Mtime,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Clamd => "clamd VERSION",
            Source::Sigtool => "sigtool --info",
            Source::Mtime => "file modification time",
        }
    }
}

/// The newest signatures known: their version (when a signed database says) and build time.
#[derive(Clone, Debug, PartialEq)]
pub struct Newest {
    pub version: Option<u64>,
    pub built: DateTime<Local>,
    pub source: Source,
}

/// The newest signatures on disk: the latest build time among the signed containers, else the
/// latest modification time of any signature file. None when the directory has none.
pub fn newest_on_disk(sigtool: &str, dir: &Path) -> Result<Option<Newest>> {
    let files = signature_files(dir)?;
    let mut best: Option<Newest> = None;
    for (path, _) in files.iter().filter(|(p, _)| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_container)
    }) {
        match sigtool_info(sigtool, path) {
            Ok(ContainerInfo {
                version,
                built: Some(built),
            }) => {
                if best.as_ref().is_none_or(|b| built > b.built) {
                    best = Some(Newest {
                        version,
                        built,
                        source: Source::Sigtool,
                    });
                }
            }
            Ok(_) => {}
            Err(e) => log::warn!("{e}"),
        }
    }
    if best.is_some() {
        return Ok(best);
    }
    Ok(files.iter().map(|(_, m)| *m).max().map(|m| Newest {
        version: None,
        built: DateTime::<Local>::from(m),
        source: Source::Mtime,
    }))
}

/// [`newest_on_disk`] for a caller that asks often (the metrics, after every scan pass): the
/// answer is kept until a signature file of the directory changes (a readdir and a stat per
/// file, instead of a sigtool run per container each time).
pub fn newest_cached(sigtool: &str, dir: &Path) -> Option<Newest> {
    type Key = (PathBuf, Vec<(PathBuf, SystemTime)>);
    static CACHE: std::sync::Mutex<Option<(Key, Option<Newest>)>> = std::sync::Mutex::new(None);
    let key = (dir.to_path_buf(), signature_files(dir).ok()?);
    let mut c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((k, v)) = c.as_ref() {
        if *k == key {
            return v.clone();
        }
    }
    let v = newest_on_disk(sigtool, dir).ok().flatten();
    *c = Some((key, v.clone()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    #[test]
    fn names() {
        assert!(is_signature_name("daily.cvd"));
        assert!(is_signature_name("daily-27001.cdiff"));
        assert!(is_signature_name("local.ndb"));
        assert!(!is_signature_name(".local.ndb"));
        assert!(!is_signature_name("freshclam.dat"));
        assert!(!is_signature_name("clamd.log"));
        assert!(!is_signature_name("ndb"));
        assert!(is_container("main.cld"));
    }

    #[test]
    fn sigtool_output() {
        let i = parse_sigtool_info(
            "File: daily.cvd\nBuild time: 26 Nov 2026 09:23 -0500\nVersion: 27467\nSignatures: 2071034\n",
        );
        assert_eq!(i.version, Some(27467));
        let b = i.built.unwrap().with_timezone(&chrono::Utc);
        assert_eq!((b.year(), b.month(), b.day(), b.hour()), (2026, 11, 26, 14));
    }

    /// The real sigtool and clamscan check each file: a good text database goes in with its
    /// source's time, a bogus container is refused and never lands, an unchanged file is left,
    /// and nothing of the staging is left behind.
    #[test]
    fn install_checks_each_file_and_lands_it_whole() {
        let t = tempfile::tempdir().unwrap();
        let (src, db) = (t.path().join("mirror"), t.path().join("db"));
        std::fs::create_dir(&src).unwrap();
        std::fs::create_dir(&db).unwrap();
        let good = src.join("gateway.ndb");
        std::fs::write(&good, "Gateway-Test:0:*:58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a\n").unwrap();
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        std::fs::File::options()
            .write(true)
            .open(&good)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let bogus = src.join("daily.cvd");
        std::fs::write(&bogus, b"not a signed database").unwrap();
        std::fs::write(db.join("daily.cvd"), b"the old one").unwrap();
        let sources = [bogus.clone(), good.clone()];

        let got = install(&db, "/usr/bin/sigtool", &sources).unwrap();
        assert_eq!(got.copied, ["gateway.ndb"]);
        assert_eq!(got.rejected.len(), 1);
        assert!(
            matches!(&got.rejected[0], Error::Rejected { path, .. } if *path == bogus),
            "{:?}",
            got.rejected
        );
        assert_eq!(
            std::fs::read(db.join("gateway.ndb")).unwrap(),
            std::fs::read(&good).unwrap()
        );
        let md = std::fs::metadata(db.join("gateway.ndb")).unwrap();
        assert_eq!(md.modified().unwrap(), old);
        assert_eq!(std::fs::read(db.join("daily.cvd")).unwrap(), b"the old one");
        assert!(!staging_dir(&db).exists());

        let again = install(&db, "/usr/bin/sigtool", &[good]).unwrap();
        assert_eq!((again.copied.len(), again.unchanged), (0, 1));
    }
}
