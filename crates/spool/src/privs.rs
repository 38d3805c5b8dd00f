//! Dropping root: every program started as root switches to the spool's owner (default uucp)
//! before it reads any spool file, and stops if any step fails. Started as another user, a
//! program runs as that user.
//!
//! The one rule for the ids (every program): they come from the owner of the spool root
//! directory, or of `incoming/` when the root is root's (the hardened layout, see
//! [`crate::Spool::owner`]), never from `etc/gateway.conf` or anything else the spool's owner
//! can edit. Only root can give a directory to another user (chown), and only root can replace
//! `incoming/` in a root-owned root, so the owner is root-owned input. Its group must be the
//! owner's primary group in the user database: the owner could `chgrp` the directory to any
//! group it is a member of, but not change the passwd entry. A `user`/`group` named by the configuration or by `-u`/`-g` must name the same ids,
//! else the program refuses to start (a configuration error), so a compromised spool owner
//! cannot make a root-started daemon serve as `gid disk` or any other id.

use crate::error::{Error, Result};
use nix::unistd::{self, Gid, Group, Uid, User};
use std::path::Path;

/// A uid and gid a program runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    pub uid: Uid,
    pub gid: Gid,
}

impl std::fmt::Display for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "uid {} gid {}", self.uid, self.gid)
    }
}

/// True when running with effective uid 0.
pub fn is_root() -> bool {
    unistd::geteuid().is_root()
}

/// Look up a user and a group by name (or number).
pub fn lookup(user: &str, group: &str) -> Result<(Uid, Gid)> {
    let uid = match user.parse::<u32>() {
        Ok(n) => Uid::from_raw(n),
        Err(_) => {
            User::from_name(user)
                .map_err(|e| Error::Privileges(format!("user {user}: {e}")))?
                .ok_or_else(|| Error::Privileges(format!("no such user: {user}")))?
                .uid
        }
    };
    let gid = match group.parse::<u32>() {
        Ok(n) => Gid::from_raw(n),
        Err(_) => {
            Group::from_name(group)
                .map_err(|e| Error::Privileges(format!("group {group}: {e}")))?
                .ok_or_else(|| Error::Privileges(format!("no such group: {group}")))?
                .gid
        }
    };
    Ok((uid, gid))
}

fn refuse_zero(uid: Uid, gid: Gid) -> Result<()> {
    if uid.is_root() || gid.as_raw() == 0 {
        return Err(Error::Privileges(
            "refusing to run as uid 0 or gid 0: pick the spool's owner (uucp)".into(),
        ));
    }
    Ok(())
}

/// The ids a root-started program runs as: the spool's owner and group ([`crate::Spool::owner`]:
/// the spool root's, or `incoming/`'s when the root is root's). Refuses uid or gid 0 (a spool
/// that is root's all through), an owner without a passwd entry, and a group that is not the
/// owner's primary group.
pub fn spool_ids(spool: &crate::Spool) -> Result<Ids> {
    let (uid, gid, named_by) = spool.owner_named_by()?;
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
    let root = spool.root().to_path_buf();
    if uid.is_root() || gid.as_raw() == 0 {
        // No user to become: "cannot switch user" (71), as before the spool was checked.
        return Err(Error::Privileges(format!(
            "{}: the spool belongs to uid {uid} gid {gid} (the owner of the spool root, or of \
             incoming/ when the root is root's); the programs run as that owner and never as uid \
             or gid 0: chown it to the spool's user (uucp:uucp)",
            root.display()
        )));
    }
    let user = User::from_uid(uid)
        .map_err(|e| Error::Privileges(format!("uid {uid}: {e}")))?
        .ok_or_else(|| Error::Layout {
            path: named_by.clone(),
            reason: format!("the spool's owner, uid {uid}, has no passwd entry"),
        })?;
    if user.gid != gid {
        return Err(Error::Layout {
            path: named_by,
            reason: format!(
                "the spool's group is gid {gid}, not its owner {}'s primary group {}: \
                 chown it to {}:{} (the programs run as the owner and its primary group)",
                user.name, user.gid, user.name, user.gid
            ),
        });
    }
    Ok(Ids { uid, gid })
}

/// Refuse a `user`/`group` (from `source`: the configuration, `-u`/`-g`) that names other ids
/// than `ids`, the spool owner's.
pub fn confirm_named(ids: Ids, user: &str, group: &str, source: &str) -> Result<()> {
    let (uid, gid) = lookup(user, group)?;
    refuse_zero(uid, gid)?;
    if uid != ids.uid || gid != ids.gid {
        return Err(Error::Layout {
            path: source.into(),
            reason: format!(
                "user {user:?} group {group:?} (uid {uid} gid {gid}) is not the spool's owner \
                 ({ids}): the programs run as the owner of the spool root, and refuse other ids"
            ),
        });
    }
    Ok(())
}

/// `-u`/`-g` on a command line (root-owned, but the ids still come from the spool root): each
/// one given must name the spool owner's id; one left out stands for it.
pub fn confirm_options(ids: Ids, user: Option<&str>, group: Option<&str>) -> Result<()> {
    if user.is_none() && group.is_none() {
        return Ok(());
    }
    let user = user.map_or_else(|| ids.uid.to_string(), str::to_string);
    let group = group.map_or_else(|| ids.gid.to_string(), str::to_string);
    confirm_named(ids, &user, &group, "-u/-g")
}

/// setgroups, setgid, setuid, then verify that root cannot be regained. Refuses uid or gid 0.
pub fn drop_to(uid: Uid, gid: Gid) -> Result<()> {
    refuse_zero(uid, gid)?;
    unistd::setgroups(&[gid]).map_err(|e| Error::Privileges(format!("setgroups: {e}")))?;
    unistd::setgid(gid).map_err(|e| Error::Privileges(format!("setgid {gid}: {e}")))?;
    unistd::setuid(uid).map_err(|e| Error::Privileges(format!("setuid {uid}: {e}")))?;
    if unistd::setuid(Uid::from_raw(0)).is_ok() || unistd::geteuid().is_root() {
        return Err(Error::Privileges(
            "root privileges could be regained".into(),
        ));
    }
    Ok(())
}

/// `ids` as the effective ids (and the only group) until [`EffectiveIds::leave`] (or drop)
/// makes the process root again: for smtpd, which must read its configuration before it binds
/// port 25 and chroots, and must not read those spool files as root (a symlink planted by the
/// spool's owner would make root read any file of the machine, into an error message at least).
#[must_use = "the effective ids revert when this is dropped"]
pub struct EffectiveIds {
    active: bool,
}

impl EffectiveIds {
    pub fn enter(ids: Ids) -> Result<EffectiveIds> {
        refuse_zero(ids.uid, ids.gid)?;
        let err = |what: &str, e: nix::Error| Error::Privileges(format!("{what}: {e}"));
        unistd::setgroups(&[ids.gid]).map_err(|e| err("setgroups", e))?;
        unistd::setegid(ids.gid).map_err(|e| err("setegid", e))?;
        unistd::seteuid(ids.uid).map_err(|e| err("seteuid", e))?;
        Ok(EffectiveIds { active: true })
    }

    /// Become root again (the real and saved ids are still 0).
    pub fn leave(mut self) -> Result<()> {
        self.active = false;
        let err = |what: &str, e: nix::Error| Error::Privileges(format!("{what}: {e}"));
        unistd::seteuid(Uid::from_raw(0)).map_err(|e| err("seteuid 0", e))?;
        unistd::setegid(Gid::from_raw(0)).map_err(|e| err("setegid 0", e))?;
        Ok(())
    }
}

impl Drop for EffectiveIds {
    fn drop(&mut self) {
        if self.active {
            let _ = unistd::seteuid(Uid::from_raw(0));
            let _ = unistd::setegid(Gid::from_raw(0));
        }
    }
}

/// chroot into `dir` and chdir to its root.
pub fn chroot(dir: &Path) -> Result<()> {
    unistd::chroot(dir).map_err(|e| Error::Privileges(format!("chroot {}: {e}", dir.display())))?;
    unistd::chdir("/").map_err(|e| Error::Privileges(format!("chdir /: {e}")))?;
    Ok(())
}

/// What a root-started program switched to (its Display is the log line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switched(pub Ids);

impl std::fmt::Display for Switched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "switched from root to {}", self.0)
    }
}

/// For every program: when root, switch to the owner of the spool root ([`spool_ids`]) before
/// anything reads a spool file. None when not root (nothing to switch).
pub fn become_spool_owner(spool: &crate::Spool) -> Result<Option<Switched>> {
    if !is_root() {
        return Ok(None);
    }
    let ids = spool_ids(spool)?;
    drop_to(ids.uid, ids.gid)?;
    Ok(Some(Switched(ids)))
}

/// After the configuration is read: a root-started program refuses a `user`/`group` that names
/// other ids than the ones it switched to.
pub fn confirm_config(switched: Option<Switched>, cfg: &crate::Config) -> Result<()> {
    match switched {
        Some(Switched(ids)) => confirm_named(ids, &cfg.user, &cfg.group, "gateway.conf"),
        None => Ok(()),
    }
}

/// For a root-started program, once the configuration is read: `-u`/`-g` (each one given) and
/// the configuration's `user`/`group` must name `ids`, the spool owner's.
pub fn confirm(
    ids: Ids,
    user: Option<&str>,
    group: Option<&str>,
    cfg: &crate::Config,
) -> Result<()> {
    confirm_options(ids, user, group)?;
    confirm_named(ids, &cfg.user, &cfg.group, "gateway.conf")
}

/// How every program but smtpd starts (smtpd must bind its port and chroot as root first, and
/// reads its files under [`EffectiveIds`]): when root, become the spool's owner before any spool
/// file is read, then read the configuration (`config`, else the spool's gateway.conf) and
/// refuse `-u`/`-g` (`user`, `group`: the program's options, when it has them) or a
/// configuration naming other ids.
pub fn enter(
    spool: &crate::Spool,
    config: Option<&Path>,
    user: Option<&str>,
    group: Option<&str>,
) -> Result<crate::Config> {
    let switched = become_spool_owner(spool)?;
    if let Some(Switched(ids)) = switched {
        log::debug!("{}", Switched(ids));
        // Before the configuration is read: a wrong -u/-g is the admin's mistake on the
        // command line, whatever the file says.
        confirm_options(ids, user, group)?;
    }
    let cfg = crate::Config::for_spool(spool, config)?;
    confirm_config(switched, &cfg)?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_ids_must_be_the_spool_owners() {
        let (uid, gid) = lookup("uucp", "uucp").unwrap();
        let ids = Ids { uid, gid };
        confirm_named(ids, "uucp", "uucp", "gateway.conf").unwrap();
        confirm_named(ids, &uid.to_string(), &gid.to_string(), "-u/-g").unwrap();
        let e = confirm_named(ids, "uucp", "disk", "gateway.conf").unwrap_err();
        assert!(e.to_string().contains("is not the spool's owner"), "{e}");
        assert_eq!(e.exit_code(), crate::exit::CONFIG);
        let e = confirm_named(ids, "root", "root", "-u/-g").unwrap_err();
        assert!(e.to_string().contains("uid 0"), "{e}");
        assert!(matches!(
            confirm_named(ids, "no-such-user-4711", "uucp", "x"),
            Err(Error::Privileges(_))
        ));
    }

    #[test]
    fn ids_come_from_the_spool_root() {
        let t = tempfile::tempdir().unwrap();
        let s = crate::Spool::new(t.path().join("spool"));
        s.create().unwrap();
        let me = unistd::geteuid();
        let got = spool_ids(&s);
        if me.is_root() {
            // A spool that is root's all through (root and incoming/) gives no user to become.
            assert!(matches!(got, Err(Error::Privileges(_))), "{got:?}");
            let (uid, gid) = lookup("uucp", "uucp").unwrap();
            unistd::chown(s.root(), Some(uid), Some(gid)).unwrap();
            assert_eq!(spool_ids(&s).unwrap(), Ids { uid, gid });
            let disk = Group::from_name("disk").unwrap().unwrap().gid;
            unistd::chown(s.root(), None, Some(disk)).unwrap();
            let e = spool_ids(&s).unwrap_err().to_string();
            assert!(e.contains("primary group"), "{e}");
        } else {
            let user = User::from_uid(me).unwrap().unwrap();
            if user.gid == unistd::getegid() {
                assert_eq!(
                    got.unwrap(),
                    Ids {
                        uid: me,
                        gid: user.gid
                    }
                );
            }
        }
    }
}
