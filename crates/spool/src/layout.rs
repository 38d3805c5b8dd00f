//! The layout of a spool root (the article's Figure 2):
//!
//! ```text
//! ROOT/etc/        gateway.conf, matches.bad, matches.doc, smtpd_check_rules, templates, day files
//! ROOT/bin/        scanmail, sigupdate, daysumm
//! ROOT/incoming/   written by smtpd
//! ROOT/outgoing/   read by smtpfwdd
//! ROOT/quarantine/ banned, infected, unscannable mail; <id>_d/ holds its decoded parts
//! ```
//!
//! Programs never build spool paths by hand: they ask a [`Spool`].

use crate::error::{Error, IoContext, Result};
use crate::id::MessageId;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/var/spool/smtpd";

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

    fn dirs(&self) -> Vec<PathBuf> {
        let mut v = vec![self.root.clone(), self.etc(), self.bin()];
        v.extend(Queue::ALL.iter().map(|q| self.queue(*q)));
        v
    }

    /// Start-up check: every directory exists, is a directory, is owned by `owner_uid` (when
    /// given) and is not writable by group or others. Errors name the path.
    pub fn check(&self, owner_uid: Option<u32>) -> Result<()> {
        for d in self.dirs() {
            let md = fs::symlink_metadata(&d).map_err(|e| Error::Layout {
                path: d.clone(),
                reason: format!("spool directory missing or unreadable: {e}"),
            })?;
            if !md.is_dir() {
                return Err(Error::Layout {
                    path: d,
                    reason: "not a directory".into(),
                });
            }
            if let Some(uid) = owner_uid {
                if md.uid() != uid {
                    return Err(Error::Layout {
                        path: d,
                        reason: format!("owned by uid {}, expected uid {uid}", md.uid()),
                    });
                }
            }
            let mode = md.permissions().mode() & 0o7777;
            if mode & 0o022 != 0 {
                return Err(Error::Layout {
                    path: d,
                    reason: format!("mode {mode:04o} is group or world writable"),
                });
            }
        }
        Ok(())
    }

    /// The uid that owns the spool root (the user every program switches to when run as root).
    pub fn owner(&self) -> Result<(u32, u32)> {
        let md = fs::metadata(&self.root).at(&self.root)?;
        Ok((md.uid(), md.gid()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
