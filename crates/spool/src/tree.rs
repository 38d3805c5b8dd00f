//! Setting up a spool tree as root (`mailwall init`) without following anything its owner
//! planted there.
//!
//! In the article's layout the spool's owner (uucp; maybe a compromised smtpd) can write the
//! whole tree, and root must not be tricked into writing, chmod-ing or chown-ing a file outside
//! it. So every path below the root is opened one component at a time from the root's
//! descriptor with `O_NOFOLLOW`, files are written under a new temporary name (`O_EXCL`) and
//! renamed into place, and owners and modes are changed through an opened descriptor, never by
//! name. A symbolic link anywhere in the tree stops the set-up, and so does a file with more
//! than one hard link in the root, `etc/` or `bin/` (on a system without
//! `fs.protected_hardlinks` the owner could link a file of root's into the tree, and root would
//! then chmod the original). In the queues a multiply-linked file is only left alone (never
//! chowned or chmod-ed): the spool's own no-replace rename falls back to link + unlink where
//! the filesystem lacks `RENAME_NOREPLACE`, and a crash between the two leaves one, which must
//! not stop an install.

use crate::daylog::DayFile;
use crate::error::{Error, Result};
use crate::layout::{Layout, Owner, Spool};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// An open spool root: every operation is relative to its descriptor.
pub struct Tree {
    root: OwnedFd,
    path: PathBuf,
}

fn errno(path: PathBuf, e: rustix::io::Errno) -> Error {
    Error::io(path, e.into())
}

fn refused(path: PathBuf, reason: &str) -> Error {
    Error::Layout {
        path,
        reason: reason.into(),
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opening an entry to change it: never a symbolic link, never waiting on a FIFO, never taking
/// a terminal.
const ENTRY_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);

impl Tree {
    /// Open the spool root, creating it (mode 0700, and its missing parents) when it does not
    /// exist. A root that is a symbolic link is refused.
    pub fn open(spool: &Spool) -> Result<Tree> {
        let path = spool.root().to_path_buf();
        if std::fs::symlink_metadata(&path).is_err() {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            match rfs::mkdir(&path, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(errno(path, e)),
            }
        }
        let root = rfs::open(&path, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => refused(
                path.clone(),
                "a symbolic link or not a directory: refusing to set up a spool through it",
            ),
            e => errno(path.clone(), e),
        })?;
        Ok(Tree { root, path })
    }

    fn at(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    /// The directory `rel` below the root, no component of it a symbolic link.
    fn dir(&self, rel: &str) -> Result<OwnedFd> {
        let mut fd = rfs::openat(&self.root, ".", DIR_FLAGS, Mode::empty())
            .map_err(|e| errno(self.path.clone(), e))?;
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            fd = rfs::openat(&fd, part, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
                rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => refused(
                    self.at(rel),
                    "a symbolic link or not a directory: refusing to follow it",
                ),
                e => errno(self.at(rel), e),
            })?;
        }
        Ok(fd)
    }

    fn split(rel: &str) -> (&str, &str) {
        rel.rsplit_once('/').unwrap_or(("", rel))
    }

    /// Every symbolic link in the tree and every multiply linked file outside the queues: none
    /// may be there before root changes anything (their paths, at most `max`).
    pub fn links(&self, max: usize) -> Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        self.walk(|_, rel, st| {
            let ft = FileType::from_raw_mode(st.st_mode);
            let linked = ft != FileType::Directory && st.st_nlink > 1 && !in_queue(rel);
            if ft == FileType::Symlink || linked {
                found.push(self.at(rel));
            }
            Ok(found.len() < max)
        })?;
        Ok(found)
    }

    /// Refuse a tree with symbolic links or hard-linked files in it ([`Tree::links`]).
    pub fn refuse_links(&self) -> Result<()> {
        let found = self.links(10)?;
        if found.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
        Err(refused(
            self.path.clone(),
            &format!(
                "symbolic links or hard-linked files in the spool tree, which root would follow \
                 (remove them, and find out who made them): {}",
                list.join(", ")
            ),
        ))
    }

    /// Every entry below the root (not the root), parents before children, with its lstat;
    /// `f` returns false to stop. Directories are entered through descriptors opened with
    /// `O_NOFOLLOW`.
    fn walk(&self, mut f: impl FnMut(&OwnedFd, &str, &rfs::Stat) -> Result<bool>) -> Result<()> {
        let mut stack: Vec<(OwnedFd, String)> = vec![(self.dir("")?, String::new())];
        while let Some((dfd, base)) = stack.pop() {
            let mut names = Vec::new();
            for entry in rfs::Dir::read_from(&dfd).map_err(|e| errno(self.at(&base), e))? {
                let entry = entry.map_err(|e| errno(self.at(&base), e))?;
                let name = entry.file_name().to_bytes();
                if name != b"." && name != b".." {
                    names.push(OsStr::from_bytes(name).to_string_lossy().into_owned());
                }
            }
            for name in names {
                let rel = if base.is_empty() {
                    name.clone()
                } else {
                    format!("{base}/{name}")
                };
                let st = match rfs::statat(&dfd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    // Gone meanwhile (a program removed it): nothing to check or change.
                    Err(rustix::io::Errno::NOENT) => continue,
                    Err(e) => return Err(errno(self.at(&rel), e)),
                };
                if !f(&dfd, &rel, &st)? {
                    return Ok(());
                }
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    match rfs::openat(&dfd, name.as_str(), DIR_FLAGS, Mode::empty()) {
                        Ok(sub) => stack.push((sub, rel)),
                        Err(rustix::io::Errno::NOENT) => {}
                        Err(e) => return Err(errno(self.at(&rel), e)),
                    }
                }
            }
        }
        Ok(())
    }

    /// Create the directory `rel` (mode `mode`, before [`Tree::own`] fixes it); true when it
    /// was created, false when it was there.
    pub fn mkdir(&self, rel: &str, mode: u32) -> Result<bool> {
        let (parent, name) = Tree::split(rel);
        let dfd = self.dir(parent)?;
        match rfs::mkdirat(&dfd, name, Mode::from_raw_mode(mode)) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::EXIST) => {
                let st = rfs::statat(&dfd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| errno(self.at(rel), e))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    return Err(refused(
                        self.at(rel),
                        "exists and is not a directory (a symbolic link? refusing)",
                    ));
                }
                Ok(false)
            }
            Err(e) => Err(errno(self.at(rel), e)),
        }
    }

    /// The regular file `rel`, opened without following a link, and its size; None when it does
    /// not exist. A symbolic link or anything but a regular file is refused.
    fn open_regular(&self, rel: &str) -> Result<Option<(std::fs::File, u64)>> {
        let (parent, name) = Tree::split(rel);
        let dfd = self.dir(parent)?;
        let fd = match rfs::openat(&dfd, name, ENTRY_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => {
                return Err(refused(
                    self.at(rel),
                    "a symbolic link: refusing to read it",
                ))
            }
            Err(e) => return Err(errno(self.at(rel), e)),
        };
        let st = rfs::fstat(&fd).map_err(|e| errno(self.at(rel), e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(refused(self.at(rel), "not a regular file"));
        }
        Ok(Some((std::fs::File::from(fd), st.st_size as u64)))
    }

    /// The bytes of the regular file `rel`, None when it does not exist; more than `max` bytes,
    /// a symbolic link or anything but a regular file is refused.
    pub fn read(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let Some((f, _)) = self.open_regular(rel)? else {
            return Ok(None);
        };
        let mut data = Vec::new();
        f.take(max + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::io(self.at(rel), e))?;
        if data.len() as u64 > max {
            return Err(refused(
                self.at(rel),
                &format!("larger than {max} bytes: not a file of ours"),
            ));
        }
        Ok(Some(data))
    }

    /// True when something (of any type: a symbolic link too) is at `rel`.
    pub fn exists(&self, rel: &str) -> Result<bool> {
        let (parent, name) = Tree::split(rel);
        let dfd = self.dir(parent)?;
        match rfs::statat(&dfd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(errno(self.at(rel), e)),
        }
    }

    /// True when the regular file `rel` holds exactly `data` (false when it is missing or
    /// differs; compared without reading more than `data.len()` bytes of it, so a huge file
    /// planted in its place costs nothing). A symbolic link or anything but a regular file is
    /// refused.
    pub fn holds(&self, rel: &str, data: &[u8]) -> Result<bool> {
        let Some((f, size)) = self.open_regular(rel)? else {
            return Ok(false);
        };
        if size != data.len() as u64 {
            return Ok(false);
        }
        let mut old = Vec::with_capacity(data.len());
        f.take(data.len() as u64 + 1)
            .read_to_end(&mut old)
            .map_err(|e| Error::io(self.at(rel), e))?;
        Ok(old == data)
    }

    /// Write `data` as the regular file `rel` with mode `mode`: a new temporary file (`O_EXCL`)
    /// in the same directory, fsynced, renamed over the old one, the directory fsynced. A
    /// symbolic link or a directory in its place is refused.
    pub fn put(&self, rel: &str, data: &[u8], mode: u32) -> Result<()> {
        let (parent, name) = Tree::split(rel);
        let dfd = self.dir(parent)?;
        let tmp = format!(".init.{}.{name}", std::process::id());
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        // A temporary name left by an earlier run that died: ours to remove.
        let _ = rfs::unlinkat(&dfd, tmp.as_str(), AtFlags::empty());
        let fd = rfs::openat(&dfd, tmp.as_str(), flags, Mode::from_raw_mode(0o600))
            .map_err(|e| errno(self.at(rel), e))?;
        let written = (|| -> std::io::Result<()> {
            rfs::fchmod(&fd, Mode::from_raw_mode(mode))?;
            let mut f = std::fs::File::from(fd);
            f.write_all(data)?;
            f.sync_all()
        })();
        let refuse = match rfs::statat(&dfd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => matches!(
                FileType::from_raw_mode(st.st_mode),
                FileType::Symlink | FileType::Directory
            ),
            Err(_) => false,
        };
        if written.is_err() || refuse {
            let _ = rfs::unlinkat(&dfd, tmp.as_str(), AtFlags::empty());
            written.map_err(|e| Error::io(self.at(rel), e))?;
            return Err(refused(
                self.at(rel),
                "a symbolic link or a directory: refusing to write it",
            ));
        }
        rfs::renameat(&dfd, tmp.as_str(), &dfd, name).map_err(|e| errno(self.at(rel), e))?;
        rfs::fsync(&dfd).map_err(|e| errno(self.at(parent), e))?;
        Ok(())
    }

    /// Give every directory and regular file of the tree (the root too) the owner and mode of
    /// `layout` ([`Layout::expected`]): the spool's owner is `uid`, the group always `gid`.
    /// Changes only what differs, each through a descriptor opened without following links; a
    /// file with more than one link is refused outside the queues and left alone in them.
    /// Returns how many entries changed, and the multiply-linked files left alone.
    pub fn own(&self, layout: Layout, uid: u32, gid: u32) -> Result<(usize, Vec<PathBuf>)> {
        let mut changed = 0;
        let mut left = Vec::new();
        let root = self.dir("")?;
        changed += self.fix(&root, "", layout, uid, gid)?.unwrap_or(false) as usize;
        self.walk(|dfd, rel, st| {
            let ft = FileType::from_raw_mode(st.st_mode);
            if ft != FileType::Directory && ft != FileType::RegularFile {
                if ft == FileType::Symlink {
                    return Err(refused(
                        self.at(rel),
                        "a symbolic link: refusing to follow it",
                    ));
                }
                // Sockets and FIFOs are no files of the spool's: left alone.
                return Ok(true);
            }
            let name = Tree::split(rel).1;
            let fd = match rfs::openat(dfd, name, ENTRY_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOENT) => return Ok(true),
                Err(rustix::io::Errno::LOOP) => {
                    return Err(refused(
                        self.at(rel),
                        "a symbolic link: refusing to follow it",
                    ))
                }
                Err(e) => return Err(errno(self.at(rel), e)),
            };
            match self.fix(&fd, rel, layout, uid, gid)? {
                Some(c) => changed += c as usize,
                None => left.push(self.at(rel)),
            }
            Ok(true)
        })?;
        Ok((changed, left))
    }

    /// One entry: Some(changed), or None for a multiply-linked file in a queue, left alone.
    fn fix(
        &self,
        fd: &OwnedFd,
        rel: &str,
        layout: Layout,
        uid: u32,
        gid: u32,
    ) -> Result<Option<bool>> {
        let st = rfs::fstat(fd).map_err(|e| errno(self.at(rel), e))?;
        let ft = FileType::from_raw_mode(st.st_mode);
        let is_dir = ft == FileType::Directory;
        if !is_dir && ft != FileType::RegularFile {
            return Ok(Some(false));
        }
        if !is_dir && st.st_nlink > 1 {
            if in_queue(rel) {
                return Ok(None);
            }
            return Err(refused(
                self.at(rel),
                "has more than one hard link: refusing to change it (who linked it here?)",
            ));
        }
        let (owner, mode) = layout.expected(rel, is_dir, st.st_mode & 0o7777);
        let want_uid = match owner {
            Owner::Spool => uid,
            Owner::Root => 0,
        };
        let mut changed = false;
        if st.st_uid != want_uid || st.st_gid != gid {
            rfs::fchown(
                fd.as_fd(),
                Some(rfs::Uid::from_raw(want_uid)),
                Some(rfs::Gid::from_raw(gid)),
            )
            .map_err(|e| errno(self.at(rel), e))?;
            changed = true;
        }
        if st.st_mode & 0o7777 != mode {
            rfs::fchmod(fd, Mode::from_raw_mode(mode)).map_err(|e| errno(self.at(rel), e))?;
            changed = true;
        }
        Ok(Some(changed))
    }

    /// Move the day files (`email.YYYYMMDD`, …) from `etc/` into `etc/days/` (the hardened
    /// layout, where the writers take `etc/days/` once it exists). A file of the same name
    /// already there (a writer was quicker) gets the old lines appended, in one `O_APPEND`
    /// write as the writers do, so no line of either is lost. Returns how many moved.
    pub fn move_day_files(&self) -> Result<usize> {
        let etc = self.dir("etc")?;
        let days = self.dir(&format!("etc/{}", crate::layout::DAYS_SUBDIR))?;
        let mut names = Vec::new();
        for entry in rfs::Dir::read_from(&etc).map_err(|e| errno(self.at("etc"), e))? {
            let entry = entry.map_err(|e| errno(self.at("etc"), e))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes()).to_string_lossy();
            if DayFile::parse_name(&name).is_some() {
                names.push(name.into_owned());
            }
        }
        names.sort();
        for name in &names {
            let rel = format!("etc/{name}");
            let st = rfs::statat(&etc, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| errno(self.at(&rel), e))?;
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                return Err(refused(self.at(&rel), "not a regular file (refusing)"));
            }
            match rfs::statat(&days, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Err(rustix::io::Errno::NOENT) => {
                    rfs::renameat(&etc, name.as_str(), &days, name.as_str())
                        .map_err(|e| errno(self.at(&rel), e))?;
                    continue;
                }
                Err(e) => return Err(errno(self.at(&rel), e)),
                Ok(_) => {}
            }
            let data = self.read(&rel, u64::MAX - 1)?.unwrap_or_default();
            let target = self.at(&format!("etc/{}/{name}", crate::layout::DAYS_SUBDIR));
            let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rfs::openat(&days, name.as_str(), flags, Mode::empty())
                .map_err(|e| errno(target.clone(), e))?;
            let st = rfs::fstat(&fd).map_err(|e| errno(target.clone(), e))?;
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                return Err(refused(target, "not a regular file (refusing)"));
            }
            let mut f = std::fs::File::from(fd);
            f.write_all(&data)
                .and_then(|_| f.sync_all())
                .map_err(|e| Error::io(target.clone(), e))?;
            rfs::unlinkat(&etc, name.as_str(), AtFlags::empty())
                .map_err(|e| errno(self.at(&rel), e))?;
        }
        if !names.is_empty() {
            rfs::fsync(&etc).map_err(|e| errno(self.at("etc"), e))?;
            rfs::fsync(&days).map_err(|e| errno(self.at("etc/days"), e))?;
        }
        Ok(names.len())
    }
}

/// True for an entry below one of the queues (`incoming/...`), where the programs write.
fn in_queue(rel: &str) -> bool {
    let top = rel.split('/').next().unwrap_or("");
    rel.contains('/')
        && crate::layout::Queue::ALL
            .iter()
            .any(|q| q.dir_name() == top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn writes_reads_and_refuses_links() {
        let t = tempfile::tempdir().unwrap();
        let spool = Spool::new(t.path().join("a/spool"));
        let tree = Tree::open(&spool).unwrap();
        for d in Layout::Article.dirs().iter().filter(|d| !d.is_empty()) {
            assert!(tree.mkdir(d, 0o700).unwrap());
            assert!(!tree.mkdir(d, 0o700).unwrap());
        }
        assert_eq!(tree.read("etc/gateway.conf", 10).unwrap(), None);
        tree.put("etc/gateway.conf", b"admin = \"x\"\n", 0o600)
            .unwrap();
        tree.put("etc/gateway.conf", b"admin = \"y\"\n", 0o600)
            .unwrap();
        assert_eq!(
            tree.read("etc/gateway.conf", 100).unwrap().unwrap(),
            b"admin = \"y\"\n"
        );
        assert!(tree.read("etc/gateway.conf", 3).is_err());
        assert!(tree.holds("etc/gateway.conf", b"admin = \"y\"\n").unwrap());
        assert!(!tree.holds("etc/gateway.conf", b"admin = \"z\"\n").unwrap());
        assert!(!tree.holds("etc/gateway.conf", b"admin").unwrap());
        assert!(!tree.holds("etc/missing", b"").unwrap());
        assert!(!tree.exists("etc/missing").unwrap());
        assert!(tree.exists("etc/gateway.conf").unwrap());
        assert_eq!(
            fs::read_dir(spool.etc()).unwrap().count(),
            1,
            "no temp file left"
        );
        tree.refuse_links().unwrap();

        let victim = t.path().join("victim");
        fs::write(&victim, "secret").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&victim, spool.etc_file("matches.bad")).unwrap();
        let err = tree.refuse_links().unwrap_err().to_string();
        assert!(err.contains("matches.bad"), "{err}");
        assert!(tree.put("etc/matches.bad", b"x", 0o600).is_err());
        assert!(tree.read("etc/matches.bad", 100).is_err());
        assert!(tree.holds("etc/matches.bad", b"secret").is_err());
        assert!(tree.own(Layout::Article, 1, 1).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "secret");
        assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o777, 0o600);
        fs::remove_file(spool.etc_file("matches.bad")).unwrap();

        // A directory replaced by a link is never entered.
        fs::remove_dir(spool.bin()).unwrap();
        std::os::unix::fs::symlink(t.path(), spool.bin()).unwrap();
        assert!(tree.put("bin/scanmail", b"x", 0o700).is_err());
        assert!(!t.path().join("scanmail").exists());
        fs::remove_file(spool.bin()).unwrap();

        // A hard link to somebody else's file: refused in etc/, left alone in a queue.
        fs::hard_link(&victim, spool.etc_file("matches.doc")).unwrap();
        let err = tree.refuse_links().unwrap_err().to_string();
        assert!(err.contains("matches.doc"), "{err}");
        assert!(tree.own(Layout::Article, 1, 1).is_err());
        assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o777, 0o600);
        fs::remove_file(spool.etc_file("matches.doc")).unwrap();
        let queued = spool.root().join("incoming/smtpdAAAAAA");
        fs::hard_link(&victim, &queued).unwrap();
        tree.refuse_links().unwrap();
        let (_, left) = tree.own(Layout::Article, 1, 1).unwrap();
        assert_eq!(left, [queued]);
        let md = fs::metadata(&victim).unwrap();
        assert_eq!(
            (md.uid(), md.mode() & 0o777),
            (nix::unistd::geteuid().as_raw(), 0o600)
        );
    }

    #[test]
    fn day_files_move_and_merge() {
        let t = tempfile::tempdir().unwrap();
        let spool = Spool::new(t.path().join("spool"));
        let tree = Tree::open(&spool).unwrap();
        tree.mkdir("etc", 0o700).unwrap();
        tree.mkdir("etc/days", 0o700).unwrap();
        fs::write(spool.etc_file("email.20261127"), "old\n").unwrap();
        fs::write(spool.etc_file("virus.20261127"), "v\n").unwrap();
        fs::write(spool.etc_file("matches.bad"), "x\n").unwrap();
        fs::write(spool.days_subdir().join("email.20261127"), "new\n").unwrap();
        assert_eq!(tree.move_day_files().unwrap(), 2);
        assert_eq!(
            fs::read_to_string(spool.days_subdir().join("email.20261127")).unwrap(),
            "new\nold\n"
        );
        assert_eq!(
            fs::read_to_string(spool.days_subdir().join("virus.20261127")).unwrap(),
            "v\n"
        );
        assert!(spool.etc_file("matches.bad").exists());
        assert!(!spool.etc_file("email.20261127").exists());
    }

    #[test]
    fn own_gives_modes_of_the_layout() {
        let t = tempfile::tempdir().unwrap();
        let spool = Spool::new(t.path().join("spool"));
        let tree = Tree::open(&spool).unwrap();
        for d in Layout::Article.dirs().iter().filter(|d| !d.is_empty()) {
            tree.mkdir(d, 0o755).unwrap();
        }
        tree.put("bin/scanmail", b"#!", 0o755).unwrap();
        tree.put("etc/matches.bad", b"x", 0o644).unwrap();
        let (uid, gid) = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        assert!(tree.own(Layout::Article, uid, gid).unwrap().0 > 0);
        assert_eq!(
            tree.own(Layout::Article, uid, gid).unwrap(),
            (0, vec![]),
            "idempotent"
        );
        let mode = |p: PathBuf| fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(spool.root().into()), 0o700);
        assert_eq!(mode(spool.bin()), 0o700);
        assert_eq!(mode(spool.bin().join("scanmail")), 0o700);
        assert_eq!(mode(spool.etc_file("matches.bad")), 0o600);
    }
}
