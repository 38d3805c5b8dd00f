//! The layout of a spool root (the article's Figure 2):
//!
//! ```text
//! ROOT/etc/        gateway.conf, matches.bad, matches.doc, smtpd_check_rules, templates, day files
//! ROOT/etc/days/   the day files instead, when it exists (install.sh --hardened)
//! ROOT/bin/        scanmail, sigupdate, daysumm
//! ROOT/incoming/   written by smtpd
//! ROOT/outgoing/   read by smtpfwdd
//! ROOT/quarantine/ banned, infected, unscannable mail; <id>_d/ holds its decoded parts
//! ```
//!
//! Two ownerships of this tree are accepted (docs/SECURITY.md, "Layouts"): the article's, where
//! the spool's owner (uucp) owns everything, and `install.sh --hardened`'s, where root owns the
//! root, `etc/` and `bin/` (not writable by group or others) and the spool's owner only the
//! queues and `etc/days/`. [`Spool::owner`] finds the spool's owner in both; [`Spool::check`]
//! accepts both and nothing looser.
//!
//! Programs never build spool paths by hand: they ask a [`Spool`].

use crate::error::{Error, IoContext, Result};
use crate::id::MessageId;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/var/spool/smtpd";

/// The name of the day files' own directory below `etc/` ([`Spool::day_dir`]).
pub const DAYS_SUBDIR: &str = "days";

/// The spool root a directory names: `dir` itself, or its parent when it is the spool's
/// `queue` directory (smtpfwdd's `-d` takes the outgoing directory, as Obtuse's did, or a root).
pub fn root_of(dir: &Path, queue: Queue) -> PathBuf {
    match dir.parent() {
        Some(parent) if dir.file_name().is_some_and(|n| n == queue.dir_name()) => {
            if parent.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                parent.to_path_buf()
            }
        }
        _ => dir.to_path_buf(),
    }
}

/// The three queues a message can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Queue {
    Incoming,
    Outgoing,
    Quarantine,
}

impl Queue {
    pub const ALL: [Queue; 3] = [Queue::Incoming, Queue::Outgoing, Queue::Quarantine];

    pub fn dir_name(self) -> &'static str {
        match self {
            Queue::Incoming => "incoming",
            Queue::Outgoing => "outgoing",
            Queue::Quarantine => "quarantine",
        }
    }
}

/// What a name in a queue directory is. The one reader of the names [`Spool`] makes
/// ([`Spool::message`], [`Spool::temp`], [`Spool::decoded_dir`], [`Spool::state_file`]): no
/// program strips `_d` or `.state` itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueName {
    /// `<id>`: a message file (complete only with the owner-execute bit: [`crate::store::list`]).
    Message(MessageId),
    /// `.tmp.<id>` or another `.tmp.` name: a file being written.
    Temp,
    /// `<id>_d`: the message's decoded parts.
    Decoded(MessageId),
    /// `.<id>.state`: the message's retry state.
    State(MessageId),
    /// Anything else: program lock and counters files, an admin's stray file.
    Other,
}

impl QueueName {
    pub fn parse(name: &str) -> QueueName {
        let id = |s: &str| MessageId::parse(s).ok();
        if name.starts_with(".tmp.") {
            return QueueName::Temp;
        }
        if let Some(i) = name.strip_suffix("_d").and_then(id) {
            return QueueName::Decoded(i);
        }
        if let Some(i) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".state"))
            .and_then(id)
        {
            return QueueName::State(i);
        }
        match id(name) {
            Some(i) => QueueName::Message(i),
            None => QueueName::Other,
        }
    }
}

/// A spool root and every path below it.
#[derive(Clone, Debug)]
pub struct Spool {
    root: PathBuf,
}

impl Spool {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Spool { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn etc(&self) -> PathBuf {
        self.root.join("etc")
    }

    pub fn bin(&self) -> PathBuf {
        self.root.join("bin")
    }

    /// `etc/days/`: where the day files live when it exists (the hardened layout, where `etc/`
    /// is root's and the writers, running as the spool's owner, cannot create files in it).
    pub fn days_subdir(&self) -> PathBuf {
        self.etc().join(DAYS_SUBDIR)
    }

    /// The directory of the day files (`email.YYYYMMDD`, `virus.…`, `sent.…`; see
    /// [`crate::daylog`]), the one answer for every writer and reader: `etc/days/` when it is a
    /// directory, else `etc/` (the article's place).
    ///
    /// Decided by the tree, not by the configuration or by who owns `etc/`: the layout is what
    /// install.sh made it, a reader and a writer looking at the same tree always agree, and the
    /// rule needs no root to test. A symbolic link named `days` is not taken (the day files stay
    /// in `etc/`, and [`Spool::check`] refuses the link). In the article's layout the spool's owner
    /// could create `etc/days/` itself, but it owns the day files there anyway; in the hardened
    /// layout only root can create or remove it (`etc/` is root's).
    pub fn day_dir(&self) -> PathBuf {
        let days = self.days_subdir();
        if fs::symlink_metadata(&days).is_ok_and(|m| m.is_dir()) {
            days
        } else {
            self.etc()
        }
    }

    /// A file in `etc/` by its plain name (`matches.bad`, `gateway.conf`, a template).
    pub fn etc_file(&self, name: &str) -> PathBuf {
        debug_assert!(!name.contains('/'), "etc_file takes a plain name");
        self.etc().join(name)
    }

    pub fn config_path(&self) -> PathBuf {
        self.etc_file("gateway.conf")
    }

    pub fn queue(&self, q: Queue) -> PathBuf {
        self.root.join(q.dir_name())
    }

    /// The committed file of a message in a queue.
    pub fn message(&self, q: Queue, id: &MessageId) -> PathBuf {
        self.queue(q).join(id.as_str())
    }

    /// The staging name of a message being written into a queue (never read by consumers).
    pub fn temp(&self, q: Queue, id: &MessageId) -> PathBuf {
        self.queue(q).join(format!(".tmp.{id}"))
    }

    /// The article's `<file>_d` directory of decoded parts.
    pub fn decoded_dir(&self, q: Queue, id: &MessageId) -> PathBuf {
        self.queue(q).join(format!("{id}_d"))
    }

    /// Per-message state kept beside a queue file (retry counts, next-try times): `.<id>.state`.
    /// A dot-file, so no reader ever takes it for mail.
    pub fn state_file(&self, q: Queue, id: &MessageId) -> PathBuf {
        self.queue(q).join(format!(".{id}.state"))
    }

    /// A lock file for a whole program (`.smtpfwdd.lock`), inside a queue directory.
    pub fn program_lock(&self, q: Queue, program: &str) -> PathBuf {
        self.queue(q).join(format!(".{program}.lock"))
    }

    /// Create the spool tree with mode 0700 (tests, demo, install). Existing directories are kept.
    pub fn create(&self) -> Result<()> {
        let mut b = fs::DirBuilder::new();
        b.recursive(true).mode(0o700);
        for d in self.dirs() {
            b.create(&d).at(&d)?;
        }
        Ok(())
    }

    /// The directories every layout has ([`Layout::dirs`]), as paths.
    fn dirs(&self) -> Vec<PathBuf> {
        Layout::Article
            .dirs()
            .iter()
            .map(|d| {
                if d.is_empty() {
                    self.root.clone()
                } else {
                    self.root.join(d)
                }
            })
            .collect()
    }

    /// Start-up check: every directory exists, is a directory (not a symbolic link) and is not
    /// writable by group or others; with `owner_uid` (the spool owner's, [`Spool::owner`]) the
    /// queues and `etc/days/` must be owned by it, and the root, `etc/` and `bin/` by it or by
    /// root (the hardened layout: root's, read-only to the owner). When `etc/` is not the owner's,
    /// the day files need `etc/days/`: without it every scanmail run would judge mail and fail
    /// to write its day-file lines. Errors name the path.
    pub fn check(&self, owner_uid: Option<u32>) -> Result<()> {
        let queues: Vec<PathBuf> = Queue::ALL.iter().map(|q| self.queue(*q)).collect();
        for d in self.dirs() {
            let root_may_own = !queues.contains(&d);
            check_dir(&d, owner_uid, root_may_own)?;
        }
        let days = self.days_subdir();
        match fs::symlink_metadata(&days) {
            Ok(_) => check_dir(&days, owner_uid, false)?,
            Err(_) => {
                if let Some(uid) = owner_uid {
                    let etc = self.etc();
                    let etc_uid = fs::symlink_metadata(&etc).at(&etc)?.uid();
                    if etc_uid != uid {
                        return Err(Error::Layout {
                            path: days,
                            reason: format!(
                                "missing: etc/ belongs to uid {etc_uid}, so the day files need \
                                 etc/{DAYS_SUBDIR}/ owned by the spool's owner, uid {uid}, mode \
                                 0700 (install.sh --hardened creates it)"
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The spool's owner, as (uid, gid): the user every program switches to when run as root
    /// ([`crate::privs::spool_ids`], which refuses uid and gid 0 and checks the group).
    ///
    /// The owner of the spool root; when the root is root's (the hardened layout), the owner of
    /// `incoming/`. Both are root-controlled input: only root can chown a directory, and nobody
    /// but root can replace `incoming/` in a root-owned root that is not group- or
    /// world-writable (refused otherwise: then anyone could put their own `incoming/` there).
    /// The root's owner stays the rule whenever it is not root, so the article's layout works
    /// exactly as before; `incoming/` is the queue smtpd (the first root-started program) writes,
    /// so the owner is the user the mail has to reach anyway.
    pub fn owner(&self) -> Result<(u32, u32)> {
        self.owner_named_by().map(|(uid, gid, _)| (uid, gid))
    }

    /// [`Spool::owner`] and the directory that named it (the root, or `incoming/`), for messages.
    pub fn owner_named_by(&self) -> Result<(u32, u32, PathBuf)> {
        let md = fs::metadata(&self.root).at(&self.root)?;
        if md.uid() != 0 {
            return Ok((md.uid(), md.gid(), self.root.clone()));
        }
        let mode = md.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(Error::Layout {
                path: self.root.clone(),
                reason: format!(
                    "root's, with mode {mode:04o}, group or world writable: its incoming/ cannot \
                     name the spool's owner (chmod 750)"
                ),
            });
        }
        let inc = self.queue(Queue::Incoming);
        let q = fs::symlink_metadata(&inc).map_err(|e| Error::Layout {
            path: inc.clone(),
            reason: format!(
                "the spool root is root's, so incoming/ names the spool's owner, but it is \
                 missing or unreadable: {e}"
            ),
        })?;
        if !q.is_dir() {
            return Err(Error::Layout {
                path: inc,
                reason: "not a directory".into(),
            });
        }
        Ok((q.uid(), q.gid(), inc))
    }
}

/// One directory of [`Spool::check`]; `root_may_own`: uid 0 is accepted beside `owner_uid`.
fn check_dir(d: &Path, owner_uid: Option<u32>, root_may_own: bool) -> Result<()> {
    let md = fs::symlink_metadata(d).map_err(|e| Error::Layout {
        path: d.to_path_buf(),
        reason: format!("spool directory missing or unreadable: {e}"),
    })?;
    if !md.is_dir() {
        return Err(Error::Layout {
            path: d.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    if let Some(uid) = owner_uid {
        if md.uid() != uid && !(root_may_own && md.uid() == 0) {
            let or_root = if root_may_own { " (or root)" } else { "" };
            return Err(Error::Layout {
                path: d.to_path_buf(),
                reason: format!("owned by uid {}, expected uid {uid}{or_root}", md.uid()),
            });
        }
    }
    let mode = md.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Error::Layout {
            path: d.to_path_buf(),
            reason: format!("mode {mode:04o} is group or world writable"),
        });
    }
    Ok(())
}

/// The two ownerships of a spool tree (docs/SECURITY.md, "Layouts"); `mailwall init` makes one,
/// `mailwall check` checks the tree against the one it finds ([`Layout::of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The article's: the spool's owner (uucp) owns everything, directories 0700.
    Article,
    /// `--hardened`: root owns the root, `etc/` and `bin/` and what they hold (group: the spool
    /// owner's, read-only: 0750 directories and programs, 0640 files); the spool's owner only
    /// the queues and `etc/days/`.
    Hardened,
}

/// Who owns an entry of the tree in a [`Layout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The spool's owner ([`Spool::owner`]).
    Spool,
    Root,
}

impl Layout {
    /// The layout a tree is in: hardened when its root is root's.
    pub fn of(spool: &Spool) -> Result<Layout> {
        let md = fs::symlink_metadata(spool.root()).at(spool.root())?;
        Ok(if md.uid() == 0 {
            Layout::Hardened
        } else {
            Layout::Article
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Article => "article",
            Layout::Hardened => "hardened",
        }
    }

    /// The directories of the tree, relative to its root ("" is the root), parents first: the
    /// one list [`Spool::create`], [`Spool::check`] and `mailwall init` make and check.
    pub fn dirs(self) -> Vec<String> {
        let mut v: Vec<String> = ["", "etc", "bin"].iter().map(|s| s.to_string()).collect();
        v.extend(Queue::ALL.iter().map(|q| q.dir_name().to_string()));
        if self == Layout::Hardened {
            v.push(format!("etc/{DAYS_SUBDIR}"));
        }
        v
    }

    /// The owner and mode an entry (`rel`: its path relative to the root, "" for the root)
    /// should have; `mode`: its mode now (the owner's execute bit of a program is kept).
    pub fn expected(self, rel: &str, is_dir: bool, mode: u32) -> (Owner, u32) {
        let top = rel.split('/').next().unwrap_or("");
        let days = format!("etc/{DAYS_SUBDIR}");
        // The spool's owner writes in the queues and, for the day files, etc/days/.
        let owners = Queue::ALL.iter().any(|q| q.dir_name() == top)
            || rel == days
            || rel.starts_with(&format!("{days}/"));
        if self == Layout::Hardened && !owners {
            let program = rel.starts_with("bin/") && mode & 0o100 != 0;
            (Owner::Root, if is_dir || program { 0o750 } else { 0o640 })
        } else if is_dir {
            (Owner::Spool, 0o700)
        } else {
            (Owner::Spool, mode & 0o700)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_parse_back() {
        let s = Spool::new("/x");
        let id = MessageId::generate();
        let name = |p: PathBuf| QueueName::parse(p.file_name().unwrap().to_str().unwrap());
        assert_eq!(
            name(s.message(Queue::Incoming, &id)),
            QueueName::Message(id.clone())
        );
        assert_eq!(
            name(s.decoded_dir(Queue::Incoming, &id)),
            QueueName::Decoded(id.clone())
        );
        assert_eq!(
            name(s.state_file(Queue::Outgoing, &id)),
            QueueName::State(id.clone())
        );
        assert_eq!(name(s.temp(Queue::Outgoing, &id)), QueueName::Temp);
        assert_eq!(
            name(s.program_lock(Queue::Outgoing, "smtpfwdd")),
            QueueName::Other
        );
        for other in [
            "notmail",
            "x_d",
            ".x.state",
            ".smtpd.metrics",
            "_d",
            ".state",
        ] {
            assert_eq!(QueueName::parse(other), QueueName::Other, "{other}");
        }
    }

    #[test]
    fn create_and_check() {
        let t = tempfile::tempdir().unwrap();
        let s = Spool::new(t.path().join("spool"));
        s.create().unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        s.check(Some(uid)).unwrap();
        let err = s.check(Some(uid + 1)).unwrap_err().to_string();
        assert!(err.contains("expected uid"), "{err}");
        fs::set_permissions(s.queue(Queue::Outgoing), fs::Permissions::from_mode(0o777)).unwrap();
        let err = s.check(Some(uid)).unwrap_err().to_string();
        assert!(
            err.contains("outgoing") && err.contains("writable"),
            "{err}"
        );
        fs::set_permissions(s.queue(Queue::Outgoing), fs::Permissions::from_mode(0o700)).unwrap();
        fs::remove_dir(s.queue(Queue::Quarantine)).unwrap();
        let err = s.check(None).unwrap_err().to_string();
        assert!(
            err.contains("quarantine") && err.contains("missing"),
            "{err}"
        );
    }

    /// A spool laid out as `install.sh --hardened` does, by root: root, etc/ and bin/ root's
    /// (750), the queues and etc/days/ uucp's (700).
    fn hardened(t: &tempfile::TempDir) -> (Spool, u32, u32) {
        use nix::unistd::{chown, Uid};
        let s = Spool::new(t.path().join("spool"));
        s.create().unwrap();
        fs::create_dir(s.days_subdir()).unwrap();
        let (uid, gid) = crate::privs::lookup("uucp", "uucp").unwrap();
        for d in [s.root(), &s.etc(), &s.bin()] {
            chown(d, Some(Uid::from_raw(0)), Some(gid)).unwrap();
            fs::set_permissions(d, fs::Permissions::from_mode(0o750)).unwrap();
        }
        let mut mine: Vec<PathBuf> = Queue::ALL.iter().map(|q| s.queue(*q)).collect();
        mine.push(s.days_subdir());
        for d in mine {
            chown(&d, Some(uid), Some(gid)).unwrap();
        }
        (s, uid.as_raw(), gid.as_raw())
    }

    #[test]
    fn root_owned_root_with_uucp_queues_is_accepted_and_names_the_queues_owner() {
        let t = tempfile::tempdir().unwrap();
        if !nix::unistd::geteuid().is_root() {
            // Without root no directory can be root's: the article's rule, the root names the owner.
            let s = Spool::new(t.path().join("spool"));
            s.create().unwrap();
            let md = fs::metadata(s.root()).unwrap();
            assert_eq!(
                s.owner_named_by().unwrap(),
                (md.uid(), md.gid(), s.root().to_path_buf())
            );
            s.check(Some(md.uid())).unwrap();
            return;
        }
        let (s, uid, gid) = hardened(&t);
        assert_eq!(s.owner().unwrap(), (uid, gid));
        assert_eq!(s.owner_named_by().unwrap().2, s.queue(Queue::Incoming));
        s.check(Some(uid)).unwrap();
        s.check(None).unwrap();
        let ids = crate::privs::spool_ids(&s).unwrap();
        assert_eq!((ids.uid.as_raw(), ids.gid.as_raw()), (uid, gid));
        // The queues stay the owner's: a root-owned queue is refused.
        nix::unistd::chown(
            &s.queue(Queue::Outgoing),
            Some(nix::unistd::Uid::from_raw(0)),
            None,
        )
        .unwrap();
        let err = s.check(Some(uid)).unwrap_err().to_string();
        assert!(
            err.contains("outgoing") && err.contains("expected uid"),
            "{err}"
        );
        nix::unistd::chown(&s.queue(Queue::Outgoing), Some(uid.into()), None).unwrap();
        // etc/ root's and no etc/days/: the day files would have nowhere to go.
        fs::remove_dir(s.days_subdir()).unwrap();
        let err = s.check(Some(uid)).unwrap_err().to_string();
        assert!(err.contains("days") && err.contains("missing"), "{err}");
        fs::create_dir(s.days_subdir()).unwrap();
        let err = s.check(Some(uid)).unwrap_err().to_string();
        assert!(
            err.contains("days") && err.contains("expected uid"),
            "{err}"
        );
        nix::unistd::chown(&s.days_subdir(), Some(uid.into()), None).unwrap();
        s.check(Some(uid)).unwrap();
        // A root-owned root that others may write cannot name the owner: they could put their
        // own incoming/ there.
        fs::set_permissions(s.root(), fs::Permissions::from_mode(0o770)).unwrap();
        let err = s.owner().unwrap_err().to_string();
        assert!(err.contains("writable"), "{err}");
        assert!(crate::privs::spool_ids(&s).is_err());
        // Root's all through (the queues too): uid 0 is no user to become.
        fs::set_permissions(s.root(), fs::Permissions::from_mode(0o750)).unwrap();
        nix::unistd::chown(&s.queue(Queue::Incoming), Some(0.into()), Some(0.into())).unwrap();
        assert_eq!(s.owner().unwrap(), (0, 0));
        let e = crate::privs::spool_ids(&s).unwrap_err();
        assert!(matches!(e, Error::Privileges(_)), "{e}");
    }

    #[test]
    fn group_writable_root_owned_etc_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let uid = if nix::unistd::geteuid().is_root() {
            let (s, uid, _) = hardened(&t);
            s.check(Some(uid)).unwrap();
            uid
        } else {
            let s = Spool::new(t.path().join("spool"));
            s.create().unwrap();
            nix::unistd::geteuid().as_raw()
        };
        let s = Spool::new(t.path().join("spool"));
        for (d, name) in [
            (s.etc(), "etc"),
            (s.bin(), "bin"),
            (s.root().into(), "spool"),
        ] {
            fs::set_permissions(&d, fs::Permissions::from_mode(0o770)).unwrap();
            let err = s.check(Some(uid)).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains("writable"), "{err}");
            fs::set_permissions(&d, fs::Permissions::from_mode(0o750)).unwrap();
        }
        s.check(Some(uid)).unwrap();
    }

    #[test]
    fn layouts_give_the_queues_to_the_owner() {
        use Owner::*;
        let a = Layout::Article;
        assert_eq!(a.expected("", true, 0o755), (Spool, 0o700));
        assert_eq!(a.expected("etc/gateway.conf", false, 0o644), (Spool, 0o600));
        assert_eq!(a.expected("bin/scanmail", false, 0o755), (Spool, 0o700));
        let h = Layout::Hardened;
        assert_eq!(h.expected("", true, 0o700), (Root, 0o750));
        assert_eq!(h.expected("etc/matches.bad", false, 0o600), (Root, 0o640));
        assert_eq!(h.expected("bin/scanmail", false, 0o700), (Root, 0o750));
        assert_eq!(h.expected("etc/days", true, 0o750), (Spool, 0o700));
        assert_eq!(
            h.expected("etc/days/email.20261127", false, 0o600),
            (Spool, 0o600)
        );
        assert_eq!(
            h.expected("incoming/smtpdAb3xYz", false, 0o750),
            (Spool, 0o700)
        );
        assert_eq!(h.expected("quarantine", true, 0o700), (Spool, 0o700));
        assert!(h.dirs().contains(&"etc/days".to_string()));
        assert!(!a.dirs().contains(&"etc/days".to_string()));
    }

    #[test]
    fn paths() {
        let s = Spool::new("/var/spool/smtpd");
        let id = MessageId::parse("smtpdAb3xYz").unwrap();
        assert_eq!(
            s.message(Queue::Incoming, &id),
            Path::new("/var/spool/smtpd/incoming/smtpdAb3xYz")
        );
        assert_eq!(
            s.temp(Queue::Outgoing, &id),
            Path::new("/var/spool/smtpd/outgoing/.tmp.smtpdAb3xYz")
        );
        assert_eq!(
            s.decoded_dir(Queue::Quarantine, &id),
            Path::new("/var/spool/smtpd/quarantine/smtpdAb3xYz_d")
        );
    }
}
