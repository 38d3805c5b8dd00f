//! Writing, locking, listing and moving queue files. Every file that appears in a queue is created
//! here, and every move between queues happens here.
//!
//! The one commit point of each step (docs/ARCHITECTURE.md's table names these functions):
//! - new message ([`Staged`], [`write_message`]): `.tmp.<id>` (mode 0600) written, fsynced,
//!   chmod 0750, renamed (never over an existing file) to `<id>`, directory fsynced;
//! - move ([`move_message`]): one no-replace rename of `<id>` into the other queue, then both
//!   directories fsynced ([`move_message_unsynced`] + [`sync_queue`]: the fsyncs once per batch);
//! - move with a header ([`move_with_header`]): a new message under the same id
//!   ([`Staged::create_for`]) committed in the target queue, then the source removed
//!   ([`finish_moves`] after a crash in between);
//! - envelope rewrite ([`rewrite_envelope`], smtpfwdd's `SENT` lines): a new version written
//!   beside it, renamed over it;
//! - removal ([`remove_message`], [`remove_message_unsynced`] + [`sync_queue`]).

use crate::envelope::Envelope;
use crate::error::{Error, IoContext, Result};
use crate::id::MessageId;
use crate::layout::{Queue, QueueName, Spool};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, RenameFlags};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Mode of a complete queue file: readers take only files with the owner's execute bit.
pub const COMPLETE_MODE: u32 = 0o750;
const STAGING_MODE: u32 = 0o600;

/// A message being written into a queue under its temp name. Dropped without [`Staged::commit`],
/// the temp file is removed: a half-written file is never visible under its final name.
pub struct Staged {
    id: MessageId,
    tmp: PathBuf,
    dest: PathBuf,
    dir: PathBuf,
    out: Option<BufWriter<File>>,
}

impl Staged {
    /// Reserve a fresh id (unused in every queue) and create its temp file with O_EXCL.
    pub fn create(spool: &Spool, queue: Queue) -> Result<Staged> {
        let dir = spool.queue(queue);
        let mut last = None;
        for _ in 0..64 {
            let id = MessageId::generate();
            if Queue::ALL
                .iter()
                .any(|q| spool.message(*q, &id).exists() || spool.decoded_dir(*q, &id).exists())
            {
                continue;
            }
            let tmp = spool.temp(queue, &id);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(STAGING_MODE)
                .open(&tmp)
            {
                Ok(f) => {
                    return Ok(Staged {
                        dest: spool.message(queue, &id),
                        id,
                        tmp,
                        dir,
                        out: Some(BufWriter::with_capacity(64 * 1024, f)),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(Error::io(tmp, e)),
            }
        }
        Err(Error::io(
            dir,
            last.unwrap_or_else(|| io::Error::other("no free message id after 64 tries")),
        ))
    }

    /// Stage a new version of message `id` in `queue`, beside where it will land (`.tmp.<id>`,
    /// mode 0600, O_EXCL): for a message that moves with a change (scanmail's `X-Virus-Scanned:`
    /// header), so it keeps its id. The caller holds the message's lock, so a temp file of that
    /// name can only be a crashed run's and is removed first. [`Staged::commit`] never replaces
    /// a file already there ([`Error::Exists`]).
    pub fn create_for(spool: &Spool, queue: Queue, id: &MessageId) -> Result<Staged> {
        let tmp = spool.temp(queue, id);
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::io(tmp, e)),
            _ => {}
        }
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(STAGING_MODE)
            .open(&tmp)
            .at(&tmp)?;
        Ok(Staged {
            dest: spool.message(queue, id),
            id: id.clone(),
            tmp,
            dir: spool.queue(queue),
            out: Some(BufWriter::with_capacity(64 * 1024, f)),
        })
    }

    pub fn id(&self) -> &MessageId {
        &self.id
    }

    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Write, chmod 0750, fsync, rename to the final name, fsync the directory. Only after this
    /// returns Ok may the message be acknowledged.
    ///
    /// The completion mark is set before the fsync so that one fsync makes the data and the mark
    /// durable together: set after it, the mode change could be lost in a crash (the directory's
    /// fsync does not write the file's inode), leaving an acknowledged message under its final
    /// name without the mark, which every reader passes over.
    pub fn commit(mut self) -> Result<PathBuf> {
        let out = self.out.take().expect("commit once");
        let f = out
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, e.into_error()))?;
        f.set_permissions(fs::Permissions::from_mode(COMPLETE_MODE))
            .at(&self.tmp)?;
        f.sync_all().at(&self.tmp)?;
        drop(f);
        rename_noreplace(&self.tmp, &self.dest)?;
        fsync_dir(&self.dir)?;
        // The temp name is gone now; Drop must not touch anything.
        self.tmp = PathBuf::new();
        Ok(self.dest.clone())
    }
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.as_mut().expect("not committed").write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.as_mut().expect("not committed").write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("not committed").flush()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.out.take();
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Write a whole message (envelope + body) durably into a queue; returns its id.
/// Used for notices, alerts, bounces and summaries.
pub fn write_message(
    spool: &Spool,
    queue: Queue,
    env: &Envelope,
    body: &[u8],
) -> Result<MessageId> {
    env.validate()?;
    let mut st = Staged::create(spool, queue)?;
    let tmp = st.temp_path().to_path_buf();
    env.write_to(&mut st).at(&tmp)?;
    st.write_all(body).at(&tmp)?;
    let id = st.id().clone();
    st.commit()?;
    Ok(id)
}

/// Rename `from` to `to` unless `to` exists (never overwrite a queue file).
pub fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    match nix::fcntl::renameat2(None, from, None, to, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::EEXIST) => Err(Error::Exists(to.to_path_buf())),
        // Filesystems without RENAME_NOREPLACE: link() refuses an existing target just as well.
        Err(Errno::EINVAL) | Err(Errno::ENOSYS) => {
            fs::hard_link(from, to).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    Error::Exists(to.to_path_buf())
                } else {
                    Error::io(to, e)
                }
            })?;
            fs::remove_file(from).at(from)
        }
        Err(e) => Err(Error::io(from, io::Error::from(e))),
    }
}

/// fsync a directory so that a rename in it survives a crash.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Move a message (and its `<id>_d` directory, if any) from one queue to another: one rename, then
/// both directories fsynced. The caller holds the message's lock.
pub fn move_message(spool: &Spool, id: &MessageId, from: Queue, to: Queue) -> Result<PathBuf> {
    let dst = move_message_unsynced(spool, id, from, to)?;
    sync_queue(spool, to)?;
    sync_queue(spool, from)?;
    Ok(dst)
}

/// [`move_message`] without the directory fsyncs, for a caller that calls [`sync_queue`] on both
/// queues once per batch (scanmail's clean mail). The rename is atomic, so a crash before those
/// fsyncs can only leave the message where it was, to be handled again: allowed for a move out of
/// `incoming/`, whose messages are judged again, never for one that must not come back.
pub fn move_message_unsynced(
    spool: &Spool,
    id: &MessageId,
    from: Queue,
    to: Queue,
) -> Result<PathBuf> {
    let src = spool.message(from, id);
    let dst = spool.message(to, id);
    rename_noreplace(&src, &dst)?;
    let dsrc = spool.decoded_dir(from, id);
    if dsrc.exists() {
        let ddst = spool.decoded_dir(to, id);
        if ddst.exists() {
            fs::remove_dir_all(&ddst).at(&ddst)?;
        }
        fs::rename(&dsrc, &ddst).at(&dsrc)?;
    }
    Ok(dst)
}

/// fsync a queue directory: the explicit sync after a batch of unsynced moves or removals.
pub fn sync_queue(spool: &Spool, queue: Queue) -> Result<()> {
    fsync_dir(&spool.queue(queue))
}

/// Replace a message's envelope (smtpfwdd marks delivered recipients `SENT`): the new version is
/// written beside the file, fsynced and renamed over it, so a crash leaves the old or the new one.
pub fn rewrite_envelope(spool: &Spool, queue: Queue, id: &MessageId, env: &Envelope) -> Result<()> {
    env.validate()?;
    let path = spool.message(queue, id);
    let (_, mut body) = Envelope::open(&path)?;
    let tmp = spool.queue(queue).join(format!(".tmp.{id}.rw"));
    let res = (|| {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(STAGING_MODE)
            .open(&tmp)
            .at(&tmp)?;
        let mut w = BufWriter::new(f);
        env.write_to(&mut w).at(&tmp)?;
        io::copy(&mut body, &mut w).at(&tmp)?;
        let f = w
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        // The mark before the fsync, as in Staged::commit.
        f.set_permissions(fs::Permissions::from_mode(COMPLETE_MODE))
            .at(&tmp)?;
        f.sync_all().at(&tmp)?;
        fs::rename(&tmp, &path).at(&path)?;
        fsync_dir(&spool.queue(queue))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Remove a delivered (or deleted by the admin) message and its `_d` directory and state file.
pub fn remove_message(spool: &Spool, queue: Queue, id: &MessageId) -> Result<()> {
    remove_message_unsynced(spool, queue, id)?;
    fsync_dir(&spool.queue(queue))
}

/// [`remove_message`] without the directory fsync, for a caller that fsyncs the queue directory
/// itself once per batch. A crash before that fsync can only bring a delivered file back (one
/// duplicate delivery), never lose one: that is why this is allowed for removals only.
pub fn remove_message_unsynced(spool: &Spool, queue: Queue, id: &MessageId) -> Result<()> {
    let p = spool.message(queue, id);
    fs::remove_file(&p).at(&p)?;
    let d = spool.decoded_dir(queue, id);
    if d.exists() {
        fs::remove_dir_all(&d).at(&d)?;
    }
    let _ = fs::remove_file(spool.state_file(queue, id));
    Ok(())
}

/// Move a message to another queue with one header field put first in its body (scanmail's
/// `X-Virus-Scanned:`), keeping its id. The caller holds the message's lock. The new version is
/// staged beside the target ([`Staged::create_for`]) and committed like a new message (fsync,
/// chmod 0750, no-replace rename, target directory fsynced); only then are the source, its state
/// file and decoded directory removed and the source directory fsynced. A crash in between
/// leaves the message complete in both queues: [`finish_moves`] (or this function run again,
/// which finds the target committed) removes the source copy, so it is never judged twice into
/// two queues.
pub fn move_with_header(
    spool: &Spool,
    id: &MessageId,
    from: Queue,
    to: Queue,
    field: (&str, &str),
) -> Result<PathBuf> {
    let (name, value) = field;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(Error::Invalid {
            what: "header field name",
            value: name.into(),
        });
    }
    if value.contains(['\r', '\n']) {
        return Err(Error::Invalid {
            what: "header field value",
            value: value.into(),
        });
    }
    let src = spool.message(from, id);
    let (env, body) = Envelope::read_body(&src)?;
    let mut st = Staged::create_for(spool, to, id)?;
    let tmp = st.temp_path().to_path_buf();
    env.write_to(&mut st).at(&tmp)?;
    writeln!(st, "{name}: {value}").at(&tmp)?;
    st.write_all(&body).at(&tmp)?;
    let dst = match st.commit() {
        Ok(p) => p,
        // Committed by a run that crashed before removing the source.
        Err(Error::Exists(p)) => p,
        Err(e) => return Err(e),
    };
    match remove_message_unsynced(spool, from, id) {
        // Removed meanwhile by finish_moves (it takes the lock, so only before ours).
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        r => r?,
    }
    sync_queue(spool, from)?;
    Ok(dst)
}

/// Finish the moves a crash cut between their commit and the removal of the source (see
/// [`move_with_header`]): a complete message of `from` whose id is also complete in `to` was
/// committed there (ids are unique across the queues, [`Staged::create`] sees to it), so the
/// `from` copy, its state file and decoded directory are removed, under its lock (a locked one
/// is being handled: skipped). Returns the ids finished.
pub fn finish_moves(spool: &Spool, from: Queue, to: Queue) -> Result<Vec<MessageId>> {
    // Names first (two readdirs, no stat): a full queue costs no look-up per message.
    let there = message_names(spool, to)?;
    let mut done = Vec::new();
    let mut both: Vec<MessageId> = message_names(spool, from)?
        .into_iter()
        .filter(|id| there.contains(id))
        .collect();
    both.sort();
    for id in both {
        if !is_complete(&spool.message(to, &id)) {
            continue;
        }
        let path = spool.message(from, &id);
        let Some(_lock) = FileLock::try_acquire(&path)? else {
            continue;
        };
        if !is_complete(&path) {
            continue;
        }
        // Only a copy this move made goes: the same file (a link left by the no-replace
        // fallback) or the same envelope and body with one header line put first. Anything else
        // under the same id is not ours to remove unscanned; it stays for the admin.
        if !is_moved_copy(&path, &spool.message(to, &id))? {
            log::warn!(
                "{id}: in {} and {} with different contents: both kept",
                from.dir_name(),
                to.dir_name()
            );
            continue;
        }
        remove_message_unsynced(spool, from, &id)?;
        done.push(id);
    }
    if !done.is_empty() {
        sync_queue(spool, from)?;
    }
    Ok(done)
}

/// True when `copy` is `src` moved: the same inode, or the same envelope with the body of `src`
/// after exactly one added header line ([`move_with_header`]).
fn is_moved_copy(src: &Path, copy: &Path) -> Result<bool> {
    let (a, b) = (fs::metadata(src).at(src)?, fs::metadata(copy).at(copy)?);
    if a.dev() == b.dev() && a.ino() == b.ino() {
        return Ok(true);
    }
    if b.len() <= a.len() {
        return Ok(false);
    }
    let (env_a, body_a) = Envelope::read_body(src)?;
    let (env_b, body_b) = Envelope::read_body(copy)?;
    let Some(added) = body_b.strip_suffix(body_a.as_slice()) else {
        return Ok(false);
    };
    Ok(env_a == env_b
        && added.ends_with(b"\n")
        && added.iter().filter(|&&c| c == b'\n').count() == 1)
}

/// The ids a queue's names stand for (complete or not: the caller checks).
fn message_names(spool: &Spool, queue: Queue) -> Result<std::collections::HashSet<MessageId>> {
    let dir = spool.queue(queue);
    let mut out = std::collections::HashSet::new();
    for de in fs::read_dir(&dir).at(&dir)? {
        let de = de.at(&dir)?;
        if let Some(QueueName::Message(id)) = de.file_name().to_str().map(QueueName::parse) {
            out.insert(id);
        }
    }
    Ok(out)
}

/// A regular file with the owner's execute bit: the Obtuse completion mark.
fn is_complete(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o100 != 0)
}

/// A message's `<id>_d/` directory of decoded parts, for a scanner that reads files (the article's
/// layout). Created (mode 0700) with its first file; its files are created exclusively under the
/// names the caller generates (never a name taken from mail: a plain name, no `/`). It leaves
/// with its message ([`move_message`], [`remove_message`]).
#[derive(Debug)]
pub struct DecodedDir {
    path: PathBuf,
    created: bool,
}

impl DecodedDir {
    /// The decoded directory of message `id` in `queue`, to be filled anew: a leftover of a
    /// crashed run is removed. The caller holds the message's lock.
    pub fn fresh(spool: &Spool, queue: Queue, id: &MessageId) -> Result<DecodedDir> {
        DecodedDir::fresh_at(&spool.decoded_dir(queue, id))
    }

    /// [`DecodedDir::fresh`] at a path of the caller's (a scratch directory: fuzzing).
    pub fn fresh_at(path: &Path) -> Result<DecodedDir> {
        remove_dir_if_there(path)?;
        Ok(DecodedDir {
            path: path.to_path_buf(),
            created: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once a file was created in it.
    pub fn exists(&self) -> bool {
        self.created
    }

    /// Create the file `name` (O_EXCL: never one that is there, never through a symlink),
    /// creating the directory first when it is the first file.
    pub fn create_file(&mut self, name: &str) -> Result<File> {
        let path = self.file_path(name)?;
        if !self.created {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&self.path)
                .at(&self.path)?;
            self.created = true;
        }
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => Error::Exists(path.clone()),
                _ => Error::io(&path, e),
            })
    }

    /// Write the file `name` whole, replacing an earlier one (an index); nothing when the
    /// directory was never created (nothing was decoded).
    pub fn write_file(&self, name: &str, data: &[u8]) -> Result<()> {
        let path = self.file_path(name)?;
        if self.created {
            fs::write(&path, data).at(&path)?;
        }
        Ok(())
    }

    fn file_path(&self, name: &str) -> Result<PathBuf> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(Error::Invalid {
                what: "decoded file name",
                value: name.into(),
            });
        }
        Ok(self.path.join(name))
    }
}

/// Write the file `name` into the existing decoded directory of message `id` (the index, before
/// a move to quarantine). Ok(false) when the directory is not there (removed after retries).
pub fn write_decoded_file(
    spool: &Spool,
    queue: Queue,
    id: &MessageId,
    name: &str,
    data: &[u8],
) -> Result<bool> {
    let dir = DecodedDir {
        path: spool.decoded_dir(queue, id),
        created: true,
    };
    match dir.write_file(name, data) {
        Ok(()) => Ok(true),
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Remove the decoded directory of message `id` (a clean message leaves without it; a released
/// one too). Ok(false) when there was none.
pub fn remove_decoded(spool: &Spool, queue: Queue, id: &MessageId) -> Result<bool> {
    remove_dir_if_there(&spool.decoded_dir(queue, id))
}

fn remove_dir_if_there(path: &Path) -> Result<bool> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Give a queue file the current time as its modification time: the start of a new queue life
/// (a message released from quarantine is new to smtpfwdd, whose bounce age counts from it).
pub fn touch_now(spool: &Spool, queue: Queue, id: &MessageId) -> Result<()> {
    let p = spool.message(queue, id);
    let f = File::options().write(true).open(&p).at(&p)?;
    f.set_modified(SystemTime::now()).at(&p)
}

/// An exclusive, non-blocking lock (flock) on one queue file, held through the descriptor it is
/// then read with, and what fstat said of the file (its size and modification time: nothing
/// changes a locked complete file). The lock goes with the descriptor: dropping this unlocks.
pub struct FileLock {
    file: File,
    meta: fs::Metadata,
    path: PathBuf,
}

impl FileLock {
    /// Lock a queue file: open, flock (exclusive, non-blocking), fstat, and a stat of the name.
    /// `Ok(None)` when another process holds it or the file has moved away (someone else
    /// already handled it) — the caller skips it.
    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
        }
        // The holder before us may have renamed the file away while we waited for nothing:
        // make sure the name still points at the inode we locked.
        let meta = file.metadata().at(path)?;
        match fs::metadata(path) {
            Ok(now) if now.ino() == meta.ino() && now.dev() == meta.dev() => Ok(Some(FileLock {
                file,
                meta,
                path: path.to_path_buf(),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// What fstat said when the lock was taken.
    pub fn metadata(&self) -> &fs::Metadata {
        &self.meta
    }
}

/// The pid of the program holding a queue's program lock (`.smtpfwdd.lock`), which the holder
/// writes into the file; `None` when nobody holds the lock (the program is not running). The
/// number is believed only while the lock is held, so a stale file never names a stranger.
pub fn lock_holder(spool: &Spool, queue: Queue, program: &str) -> Result<Option<i32>> {
    let path = spool.program_lock(queue, program);
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let mut f = match Flock::lock(f, FlockArg::LockSharedNonblock) {
        Ok(_free) => return Ok(None),
        Err((f, Errno::EWOULDBLOCK)) => f,
        Err((_, e)) => return Err(Error::io(&path, io::Error::from(e))),
    };
    let mut text = String::new();
    io::Read::read_to_string(&mut f, &mut text).at(&path)?;
    Ok(text.trim().parse().ok().filter(|p: &i32| *p > 0))
}

/// A complete message found in a queue.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: MessageId,
    pub path: PathBuf,
    pub mtime: SystemTime,
    pub size: u64,
}

/// What one readdir of a queue shows: its complete messages, oldest first, each with whether its
/// state file and decoded directory exist (so a message without them costs no look-up), and the
/// state files and decoded directories whose message is not there (a crash between decoding or
/// delivering and the move or removal).
#[derive(Clone, Debug, Default)]
pub struct Scan {
    pub messages: Vec<Scanned>,
    pub leftovers: Vec<Leftover>,
}

/// A complete message found by [`scan`].
#[derive(Clone, Debug)]
pub struct Scanned {
    pub entry: Entry,
    pub state_file: bool,
    pub decoded_dir: bool,
}

/// A state file or decoded directory without its message.
#[derive(Clone, Debug)]
pub struct Leftover {
    pub id: MessageId,
    pub path: PathBuf,
    pub decoded_dir: bool,
    pub mtime: SystemTime,
}

impl Leftover {
    /// Remove it (the directory with its contents). Not synced: a leftover that comes back after
    /// a crash is found and removed again.
    pub fn remove(&self) -> Result<()> {
        let r = if self.decoded_dir {
            fs::remove_dir_all(&self.path)
        } else {
            fs::remove_file(&self.path)
        };
        match r {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(&self.path, e)),
            _ => Ok(()),
        }
    }

    /// True when it was last changed more than `age` ago (a running program may be mid-way with
    /// a young one).
    pub fn older_than(&self, age: Duration) -> bool {
        SystemTime::now()
            .duration_since(self.mtime)
            .is_ok_and(|a| a > age)
    }
}

/// One readdir of `queue`: see [`Scan`]. Complete messages are the names that are ids, regular
/// files, owner execute bit set (the Obtuse completion mark); temp files, program files and stray
/// names are skipped.
pub fn scan(spool: &Spool, queue: Queue) -> Result<Scan> {
    use std::collections::HashMap;
    let dir = spool.queue(queue);
    let mut messages = Vec::new();
    // id → (path, is the decoded dir) of every state file and decoded directory seen.
    let mut beside: HashMap<MessageId, Vec<(PathBuf, bool)>> = HashMap::new();
    for de in fs::read_dir(&dir).at(&dir)? {
        let de = de.at(&dir)?;
        let name = de.file_name();
        let Some(name) = name.to_str() else { continue };
        let id = match QueueName::parse(name) {
            QueueName::Message(id) => id,
            QueueName::State(id) => {
                beside.entry(id).or_default().push((de.path(), false));
                continue;
            }
            QueueName::Decoded(id) => {
                beside.entry(id).or_default().push((de.path(), true));
                continue;
            }
            QueueName::Temp | QueueName::Other => continue,
        };
        let md = match de.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(de.path(), e)),
        };
        if !md.is_file() || md.permissions().mode() & 0o100 == 0 {
            continue;
        }
        messages.push(Scanned {
            entry: Entry {
                id,
                path: de.path(),
                mtime: md.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                size: md.len(),
            },
            state_file: false,
            decoded_dir: false,
        });
    }
    for m in &mut messages {
        for (_, is_dir) in beside.remove(&m.entry.id).unwrap_or_default() {
            if is_dir {
                m.decoded_dir = true;
            } else {
                m.state_file = true;
            }
        }
    }
    let mut leftovers = Vec::new();
    for (id, found) in beside {
        for (path, decoded_dir) in found {
            // Complete-mark missing (a message still being written under its final name cannot
            // exist: files are renamed in complete) or the message gone: either way it is not
            // one of `messages`. Its own name says whether it is still there.
            if spool.message(queue, &id).exists() {
                continue;
            }
            let mtime = fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or_else(|_| SystemTime::now());
            leftovers.push(Leftover {
                id: id.clone(),
                path,
                decoded_dir,
                mtime,
            });
        }
    }
    messages.sort_by(|a, b| {
        (a.entry.mtime.cmp(&b.entry.mtime)).then_with(|| a.entry.id.cmp(&b.entry.id))
    });
    Ok(Scan {
        messages,
        leftovers,
    })
}

/// The complete messages of a queue, oldest first ([`scan`] without what lies beside them).
pub fn list(spool: &Spool, queue: Queue) -> Result<Vec<Entry>> {
    Ok(scan(spool, queue)?
        .messages
        .into_iter()
        .map(|m| m.entry)
        .collect())
}

/// Remove `.tmp.*` files older than `max_age` (left by a crash); returns how many went.
pub fn clean_stale_temps(spool: &Spool, queue: Queue, max_age: Duration) -> Result<usize> {
    let dir = spool.queue(queue);
    let now = SystemTime::now();
    let mut n = 0;
    for de in fs::read_dir(&dir).at(&dir)? {
        let de = de.at(&dir)?;
        if !de.file_name().to_string_lossy().starts_with(".tmp.") {
            continue;
        }
        let Ok(md) = de.metadata() else { continue };
        let old = md
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > max_age);
        if old && md.is_file() && fs::remove_file(de.path()).is_ok() {
            n += 1;
        }
    }
    Ok(n)
}

/// Bytes available to unprivileged writers on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Result<u64> {
    let st = nix::sys::statvfs::statvfs(path).map_err(|e| Error::io(path, io::Error::from(e)))?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
}

/// Lock a message of `queue` ([`FileLock::try_acquire`] on its name).
pub fn lock_message(spool: &Spool, queue: Queue, id: &MessageId) -> Result<Option<FileLock>> {
    FileLock::try_acquire(&spool.message(queue, id))
}

/// What a caller (a [`scan`]) already knows lies beside a message: its state file and its
/// decoded directory. A removal then looks for neither when the listing showed it absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Beside {
    pub state_file: bool,
    pub decoded_dir: bool,
}

impl From<&Scanned> for Beside {
    fn from(m: &Scanned) -> Beside {
        Beside {
            state_file: m.state_file,
            decoded_dir: m.decoded_dir,
        }
    }
}

/// [`remove_message_unsynced`] for a message whose state file and decoded directory the caller's
/// [`scan`] saw (or did not): no look-up for what was absent. The caller fsyncs the queue
/// directory once per batch ([`fsync_dir`]); a crash before that can bring a delivered file back
/// (one duplicate delivery), never lose one.
pub fn remove_scanned_unsynced(
    spool: &Spool,
    queue: Queue,
    id: &MessageId,
    beside: Beside,
) -> Result<()> {
    let p = spool.message(queue, id);
    fs::remove_file(&p).at(&p)?;
    if beside.decoded_dir {
        let d = spool.decoded_dir(queue, id);
        match fs::remove_dir_all(&d) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::io(d, e)),
            _ => {}
        }
    }
    if beside.state_file {
        remove_state_file(spool, queue, id)?;
    }
    Ok(())
}

/// Remove a message's state file (after the message moved to another queue: its retry state
/// does not follow it). Not synced: a state file that comes back after a crash is a leftover
/// [`scan`] reports. Absent is fine.
pub fn remove_state_file(spool: &Spool, queue: Queue, id: &MessageId) -> Result<()> {
    let p = spool.state_file(queue, id);
    match fs::remove_file(&p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(p, e)),
        _ => Ok(()),
    }
}

/// A program's one-instance lock on a queue (`.smtpfwdd.lock`), holding the holder's pid for
/// [`lock_holder`]. Released on drop.
pub struct ProgramLock {
    _file: Flock<File>,
    path: PathBuf,
}

impl ProgramLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Take `program`'s lock on `queue` and write our pid into it. [`Error::Locked`] when another
/// instance holds it.
pub fn take_program_lock(spool: &Spool, queue: Queue, program: &str) -> Result<ProgramLock> {
    let path = spool.program_lock(queue, program);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .at(&path)?;
    let mut lock = match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((_, Errno::EWOULDBLOCK)) => return Err(Error::Locked(path)),
        Err((_, e)) => return Err(Error::io(path, io::Error::from(e))),
    };
    // Truncated only once held: a second instance must not wipe the holder's pid.
    lock.set_len(0).at(&path)?;
    writeln!(&mut *lock, "{}", std::process::id()).at(&path)?;
    Ok(ProgramLock { _file: lock, path })
}

#[cfg(test)]
mod lock_and_remove_tests {
    use super::*;

    #[test]
    fn a_message_lock_is_exclusive_and_follows_the_name() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let env = Envelope::new("<a@example.org>", ["<b@example.com>".to_string()]);
        let id = write_message(&s, Queue::Outgoing, &env, b"body\n").unwrap();
        let held = lock_message(&s, Queue::Outgoing, &id).unwrap().unwrap();
        assert_eq!(
            held.metadata().len(),
            fs::metadata(s.message(Queue::Outgoing, &id)).unwrap().len()
        );
        assert!(
            lock_message(&s, Queue::Outgoing, &id).unwrap().is_none(),
            "locked twice"
        );
        drop(held);
        assert!(lock_message(&s, Queue::Outgoing, &id).unwrap().is_some());
        let gone = MessageId::parse("smtpdZZZZZZ").unwrap();
        assert!(lock_message(&s, Queue::Outgoing, &gone).unwrap().is_none());
    }

    #[test]
    fn a_scanned_removal_takes_the_state_file_and_decoded_dir() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        let env = Envelope::new("<a@example.org>", ["<b@example.com>".to_string()]);
        let id = write_message(&s, Queue::Outgoing, &env, b"body\n").unwrap();
        crate::state::State::default()
            .save(&s, Queue::Outgoing, &id)
            .unwrap();
        fs::create_dir(s.decoded_dir(Queue::Outgoing, &id)).unwrap();
        let scanned = scan(&s, Queue::Outgoing).unwrap();
        let beside = Beside::from(&scanned.messages[0]);
        assert_eq!(
            beside,
            Beside {
                state_file: true,
                decoded_dir: true
            }
        );
        remove_scanned_unsynced(&s, Queue::Outgoing, &id, beside).unwrap();
        fsync_dir(&s.queue(Queue::Outgoing)).unwrap();
        let after = scan(&s, Queue::Outgoing).unwrap();
        assert!(
            after.messages.is_empty() && after.leftovers.is_empty(),
            "{after:?}"
        );
        remove_state_file(&s, Queue::Outgoing, &id).unwrap();
    }

    #[test]
    fn one_program_lock_holder_with_its_pid() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        assert_eq!(lock_holder(&s, Queue::Outgoing, "smtpfwdd").unwrap(), None);
        let l = take_program_lock(&s, Queue::Outgoing, "smtpfwdd").unwrap();
        assert!(matches!(
            take_program_lock(&s, Queue::Outgoing, "smtpfwdd"),
            Err(Error::Locked(_))
        ));
        assert_eq!(
            lock_holder(&s, Queue::Outgoing, "smtpfwdd").unwrap(),
            Some(std::process::id() as i32)
        );
        drop(l);
        assert_eq!(lock_holder(&s, Queue::Outgoing, "smtpfwdd").unwrap(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn spool() -> (tempfile::TempDir, Spool) {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path());
        s.create().unwrap();
        (t, s)
    }

    #[test]
    fn staged_is_invisible_until_commit() {
        let (_t, s) = spool();
        let mut st = Staged::create(&s, Queue::Incoming).unwrap();
        st.write_all(b"FROM <a@b>\nRCPT <c@d>\nBODY\nhi\n").unwrap();
        assert!(list(&s, Queue::Incoming).unwrap().is_empty());
        let mode = fs::metadata(st.temp_path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let id = st.id().clone();
        let p = st.commit().unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o750
        );
        let l = list(&s, Queue::Incoming).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].id, id);
        assert!(!s.temp(Queue::Incoming, &id).exists());
    }

    #[test]
    fn dropped_stage_leaves_nothing() {
        let (_t, s) = spool();
        {
            let mut st = Staged::create(&s, Queue::Incoming).unwrap();
            st.write_all(b"partial").unwrap();
        }
        assert_eq!(fs::read_dir(s.queue(Queue::Incoming)).unwrap().count(), 0);
    }

    #[test]
    fn list_skips_incomplete_and_foreign_names() {
        let (_t, s) = spool();
        let d = s.queue(Queue::Incoming);
        fs::write(d.join("smtpdAAAAAA"), b"x").unwrap(); // mode 0644: not complete
        fs::write(d.join("notmail"), b"x").unwrap();
        fs::write(d.join(".tmp.smtpdBBBBBB"), b"x").unwrap();
        fs::create_dir(d.join("smtpdCCCCCC")).unwrap();
        assert!(list(&s, Queue::Incoming).unwrap().is_empty());
    }

    #[test]
    fn scan_pairs_state_and_decoded_and_reports_leftovers() {
        let (_t, s) = spool();
        let q = Queue::Outgoing;
        let env = Envelope::new("<a@b>", ["<c@d>".to_string()]);
        let with = write_message(&s, q, &env, b"x\n").unwrap();
        let bare = write_message(&s, q, &env, b"y\n").unwrap();
        fs::write(s.state_file(q, &with), b"{}").unwrap();
        fs::create_dir(s.decoded_dir(q, &with)).unwrap();
        let gone = MessageId::generate();
        fs::write(s.state_file(q, &gone), b"{}").unwrap();
        fs::create_dir(s.decoded_dir(q, &gone)).unwrap();
        fs::write(s.decoded_dir(q, &gone).join("part"), b"p").unwrap();

        let scan = scan(&s, q).unwrap();
        let by_id = |id: &MessageId| scan.messages.iter().find(|m| &m.entry.id == id).unwrap();
        assert_eq!(scan.messages.len(), 2);
        assert!(by_id(&with).state_file && by_id(&with).decoded_dir);
        assert!(!by_id(&bare).state_file && !by_id(&bare).decoded_dir);
        assert_eq!(scan.leftovers.len(), 2);
        assert!(scan.leftovers.iter().all(|l| l.id == gone));
        assert!(!scan.leftovers[0].older_than(Duration::from_secs(60)));
        for l in &scan.leftovers {
            l.remove().unwrap();
            l.remove().unwrap(); // gone already: not an error
        }
        assert!(!s.state_file(q, &gone).exists() && !s.decoded_dir(q, &gone).exists());
        assert_eq!(list(&s, q).unwrap().len(), 2);
    }

    #[test]
    fn move_and_lock() {
        let (_t, s) = spool();
        let env = Envelope::new("<a@b>", ["<c@d>".to_string()]);
        let id = write_message(&s, Queue::Incoming, &env, b"body\n").unwrap();
        fs::create_dir(s.decoded_dir(Queue::Incoming, &id)).unwrap();
        fs::write(s.decoded_dir(Queue::Incoming, &id).join("part1"), b"p").unwrap();
        let p = s.message(Queue::Incoming, &id);
        let lock = FileLock::try_acquire(&p).unwrap().expect("lock");
        assert!(FileLock::try_acquire(&p).unwrap().is_none(), "second lock");
        move_message(&s, &id, Queue::Incoming, Queue::Quarantine).unwrap();
        drop(lock);
        assert!(!p.exists());
        assert!(s.decoded_dir(Queue::Quarantine, &id).join("part1").exists());
        assert!(FileLock::try_acquire(&p).unwrap().is_none(), "gone");
    }

    #[test]
    fn move_never_overwrites() {
        let (_t, s) = spool();
        let env = Envelope::new("<a@b>", ["<c@d>".to_string()]);
        let id = write_message(&s, Queue::Incoming, &env, b"one\n").unwrap();
        fs::write(s.message(Queue::Outgoing, &id), b"other").unwrap();
        let err = move_message(&s, &id, Queue::Incoming, Queue::Outgoing).unwrap_err();
        assert!(matches!(err, Error::Exists(_)), "{err}");
        assert!(s.message(Queue::Incoming, &id).exists());
        assert_eq!(fs::read(s.message(Queue::Outgoing, &id)).unwrap(), b"other");
    }

    #[test]
    fn rewrite_keeps_body() {
        let (_t, s) = spool();
        let mut env = Envelope::new("<a@b>", ["<c@d>".to_string(), "<e@f>".to_string()]);
        let body = b"Subject: x\n\n\xff\x00binary\n.\n";
        let id = write_message(&s, Queue::Outgoing, &env, body).unwrap();
        env.recipients[0].sent = true;
        rewrite_envelope(&s, Queue::Outgoing, &id, &env).unwrap();
        let (got, mut r) = Envelope::open(&s.message(Queue::Outgoing, &id)).unwrap();
        assert_eq!(got, env);
        let mut b = Vec::new();
        r.read_to_end(&mut b).unwrap();
        assert_eq!(b, body);
        assert_eq!(list(&s, Queue::Outgoing).unwrap().len(), 1);
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn body_of(p: &Path) -> (Envelope, Vec<u8>) {
        Envelope::read_body(p).unwrap()
    }

    #[test]
    fn staged_for_an_id_lands_beside_and_never_replaces() {
        let (_t, s) = spool();
        let q = Queue::Outgoing;
        let id = MessageId::generate();
        // A crashed run's temp file of the same id is replaced, not appended to.
        fs::write(s.temp(q, &id), b"half of an old try").unwrap();
        let mut st = Staged::create_for(&s, q, &id).unwrap();
        assert_eq!(st.temp_path(), s.temp(q, &id));
        assert_eq!(st.id(), &id);
        st.write_all(b"FROM <a@b>\nRCPT <c@d>\nBODY\nnew\n")
            .unwrap();
        assert!(list(&s, q).unwrap().is_empty(), "invisible before commit");
        let p = st.commit().unwrap();
        assert_eq!(p, s.message(q, &id));
        assert_eq!(mode(&p), COMPLETE_MODE);
        assert_eq!(body_of(&p).1, b"new\n");
        assert!(!s.temp(q, &id).exists());
        // A second version of the same id is refused and leaves nothing behind.
        let mut again = Staged::create_for(&s, q, &id).unwrap();
        again
            .write_all(b"FROM <a@b>\nRCPT <c@d>\nBODY\nother\n")
            .unwrap();
        assert!(matches!(again.commit(), Err(Error::Exists(_))));
        assert_eq!(body_of(&p).1, b"new\n");
        assert!(!s.temp(q, &id).exists());
    }

    #[test]
    fn unsynced_move_then_one_sync() {
        let (_t, s) = spool();
        let env = Envelope::new("<a@b>", ["<c@d>".to_string()]);
        let ids: Vec<_> = (0..3)
            .map(|_| write_message(&s, Queue::Incoming, &env, b"x\n").unwrap())
            .collect();
        for id in &ids {
            move_message_unsynced(&s, id, Queue::Incoming, Queue::Outgoing).unwrap();
        }
        sync_queue(&s, Queue::Outgoing).unwrap();
        sync_queue(&s, Queue::Incoming).unwrap();
        assert!(list(&s, Queue::Incoming).unwrap().is_empty());
        assert_eq!(list(&s, Queue::Outgoing).unwrap().len(), 3);
        let err = move_message_unsynced(&s, &ids[0], Queue::Outgoing, Queue::Outgoing);
        assert!(matches!(err, Err(Error::Exists(_))), "{err:?}");
    }

    #[test]
    fn move_with_header_puts_it_first_and_takes_all_of_the_source() {
        let (_t, s) = spool();
        let env = Envelope::new("<a@b>", ["<c@d>".to_string()]);
        let body = b"Subject: x\n\n\xff\x00binary\n";
        let id = write_message(&s, Queue::Incoming, &env, body).unwrap();
        fs::write(s.state_file(Queue::Incoming, &id), b"{}").unwrap();
        let mut dd = DecodedDir::fresh(&s, Queue::Incoming, &id).unwrap();
        dd.create_file("part001.bin").unwrap();
        let p = move_with_header(
            &s,
            &id,
            Queue::Incoming,
            Queue::Outgoing,
            ("X-Virus-Scanned", "scanmail on gw"),
        )
        .unwrap();
        let (got, b) = body_of(&p);
        assert_eq!(got, env);
        assert_eq!(
            b,
            [&b"X-Virus-Scanned: scanmail on gw\n"[..], body].concat()
        );
        assert_eq!(mode(&p), COMPLETE_MODE);
        assert_eq!(fs::read_dir(s.queue(Queue::Incoming)).unwrap().count(), 0);
        assert!(!s.temp(Queue::Outgoing, &id).exists());
        for bad in [("X-A", "a\r\nBcc: x"), ("X A", "v"), ("", "v"), ("X:", "v")] {
            let err = move_with_header(&s, &id, Queue::Outgoing, Queue::Quarantine, bad);
            assert!(matches!(err, Err(Error::Invalid { .. })), "{bad:?}");
        }
        assert!(p.exists());
    }

    /// The crash window of a move with a header: the outgoing copy committed, the incoming one
    /// still there. The next run finishes the move, whichever way it comes to it, and never
    /// replaces or doubles the committed copy.
    #[test]
    fn a_move_cut_after_its_commit_is_finished_by_the_next_run() {
        let (_t, s) = spool();
        let env = Envelope::new("<a@b>", ["<c@d>".to_string()]);
        let crashed = |body: &[u8]| {
            let id = write_message(&s, Queue::Incoming, &env, body).unwrap();
            let p =
                move_with_header(&s, &id, Queue::Incoming, Queue::Outgoing, ("X-S", "1")).unwrap();
            // Put the source back as the crash left it (with its state file).
            write_message_as(&s, Queue::Incoming, &id, &env, body);
            fs::write(s.state_file(Queue::Incoming, &id), b"{}").unwrap();
            (id, fs::read(p).unwrap())
        };
        // a. The start-up clean-up finds it.
        let (a, committed_a) = crashed(b"a\n");
        let alone = write_message(&s, Queue::Incoming, &env, b"alone\n").unwrap();
        // An outgoing name without the completion mark is no committed copy.
        let half = write_message(&s, Queue::Incoming, &env, b"half\n").unwrap();
        fs::write(s.message(Queue::Outgoing, &half), b"x").unwrap();
        // Another message under the same id (not this move's copy): neither is removed.
        let other = write_message(&s, Queue::Incoming, &env, b"other\n").unwrap();
        write_message_as(
            &s,
            Queue::Outgoing,
            &other,
            &env,
            b"X-S: 1\nsomething else\n",
        );
        // A locked one is being handled by a running pass: left to it.
        let (held, _) = crashed(b"held\n");
        let lock = FileLock::try_acquire(&s.message(Queue::Incoming, &held))
            .unwrap()
            .unwrap();
        assert_eq!(
            finish_moves(&s, Queue::Incoming, Queue::Outgoing).unwrap(),
            vec![a.clone()]
        );
        assert!(!s.message(Queue::Incoming, &a).exists());
        assert!(!s.state_file(Queue::Incoming, &a).exists());
        assert_eq!(
            fs::read(s.message(Queue::Outgoing, &a)).unwrap(),
            committed_a
        );
        assert!(s.message(Queue::Incoming, &alone).exists());
        assert!(s.message(Queue::Incoming, &half).exists());
        assert!(s.message(Queue::Incoming, &other).exists());
        remove_message(&s, Queue::Outgoing, &other).unwrap();
        assert!(s.message(Queue::Incoming, &held).exists());
        drop(lock);
        fs::remove_file(s.message(Queue::Outgoing, &half)).unwrap();
        // b. The pass judges it again and moves it again: the committed copy stays as it was.
        let (b, committed_b) = crashed(b"b\n");
        move_with_header(&s, &b, Queue::Incoming, Queue::Outgoing, ("X-S", "2")).unwrap();
        assert!(!s.message(Queue::Incoming, &b).exists());
        assert_eq!(
            fs::read(s.message(Queue::Outgoing, &b)).unwrap(),
            committed_b
        );
        assert_eq!(list(&s, Queue::Outgoing).unwrap().len(), 3);
    }

    /// A complete message under a given id, as an earlier version of it was.
    fn write_message_as(s: &Spool, q: Queue, id: &MessageId, env: &Envelope, body: &[u8]) {
        let mut st = Staged::create_for(s, q, id).unwrap();
        env.write_to(&mut st).unwrap();
        st.write_all(body).unwrap();
        st.commit().unwrap();
    }

    #[test]
    fn decoded_dir_is_made_with_its_first_file_and_leaves_on_request() {
        let (_t, s) = spool();
        let q = Queue::Incoming;
        let id = MessageId::generate();
        // A crashed run's leftover goes.
        fs::create_dir(s.decoded_dir(q, &id)).unwrap();
        fs::write(s.decoded_dir(q, &id).join("part001.bin"), b"old").unwrap();
        let mut dd = DecodedDir::fresh(&s, q, &id).unwrap();
        assert!(!dd.exists() && !s.decoded_dir(q, &id).exists());
        assert!(!write_decoded_file(&s, q, &id, "index", b"i").unwrap());
        dd.write_file("index", b"nothing decoded").unwrap();
        assert!(
            !s.decoded_dir(q, &id).exists(),
            "an index alone makes no directory"
        );
        dd.create_file("part001.bin")
            .unwrap()
            .write_all(b"new")
            .unwrap();
        assert!(dd.exists());
        assert_eq!(dd.path(), s.decoded_dir(q, &id));
        assert_eq!(mode(dd.path()), 0o700);
        assert!(matches!(
            dd.create_file("part001.bin"),
            Err(Error::Exists(_))
        ));
        for bad in ["", ".", "..", "../x", "a/b", "a\0b"] {
            assert!(
                matches!(dd.create_file(bad), Err(Error::Invalid { .. })),
                "{bad:?}"
            );
        }
        dd.write_file("index", b"one").unwrap();
        assert!(write_decoded_file(&s, q, &id, "index", b"two").unwrap());
        assert_eq!(fs::read(dd.path().join("index")).unwrap(), b"two");
        assert_eq!(fs::read(dd.path().join("part001.bin")).unwrap(), b"new");
        assert!(remove_decoded(&s, q, &id).unwrap());
        assert!(!remove_decoded(&s, q, &id).unwrap());
        assert!(!s.decoded_dir(q, &id).exists());
    }

    #[test]
    fn spool_errors_keep_their_kind_as_io_errors() {
        let e = Error::io("/x", io::Error::from(io::ErrorKind::NotFound)).into_io();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("/x"), "{e}");
        assert_eq!(
            Error::Exists("/y".into()).into_io().kind(),
            io::ErrorKind::AlreadyExists
        );
    }

    /// docs/ARCHITECTURE.md's commit-point table can be checked against this file alone: every
    /// function its last column names is defined here.
    #[test]
    fn commit_point_table_names_store_functions() {
        let doc = include_str!("../../../docs/ARCHITECTURE.md");
        let src = include_str!("store.rs");
        let table: Vec<&str> = doc
            .split("## The one commit point of each step")
            .nth(1)
            .expect("the section")
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .collect();
        assert!(table.len() >= 6, "{table:?}");
        for row in table {
            let last = row.trim_end_matches('|').rsplit('|').next().unwrap();
            let names: Vec<&str> = last.split('`').skip(1).step_by(2).collect();
            assert!(!names.is_empty(), "a row without a store function: {row}");
            for name in names {
                let (ty, f) = name
                    .rsplit_once("::")
                    .map_or((None, name), |(t, f)| (Some(t), f));
                let def = format!("pub fn {f}(");
                let at = src
                    .find(&def)
                    .unwrap_or_else(|| panic!("{name}: not in store.rs"));
                if let Some(ty) = ty {
                    let imp = src[..at].rfind("\nimpl ").expect("an impl");
                    assert!(
                        src[imp..].starts_with(&format!("\nimpl {ty} ")),
                        "{name}: not a method of {ty}"
                    );
                }
            }
        }
    }

    #[test]
    fn stale_temps_go_fresh_ones_stay() {
        let (_t, s) = spool();
        let d = s.queue(Queue::Incoming);
        fs::write(d.join(".tmp.smtpdAAAAAA"), b"x").unwrap();
        assert_eq!(
            clean_stale_temps(&s, Queue::Incoming, Duration::from_secs(86400)).unwrap(),
            0
        );
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            clean_stale_temps(&s, Queue::Incoming, Duration::from_millis(1)).unwrap(),
            1
        );
        assert!(!d.join(".tmp.smtpdAAAAAA").exists());
    }
}
