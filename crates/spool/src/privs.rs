//! Dropping root: every program started as root switches to the spool's owner (default uucp)
//! before it touches the spool, and stops if any step fails. Started as another user, a program
//! runs as that user.

use crate::error::{Error, Result};
use nix::unistd::{self, Gid, Group, Uid, User};
use std::path::Path;

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

/// setgroups, setgid, setuid, then verify that root cannot be regained. Refuses uid or gid 0.
pub fn drop_to(uid: Uid, gid: Gid) -> Result<()> {
    if uid.is_root() || gid.as_raw() == 0 {
        return Err(Error::Privileges(
            "refusing to run as uid 0 or gid 0: pick the spool's owner (uucp)".into(),
        ));
    }
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

/// chroot into `dir` and chdir to its root.
pub fn chroot(dir: &Path) -> Result<()> {
    unistd::chroot(dir).map_err(|e| Error::Privileges(format!("chroot {}: {e}", dir.display())))?;
    unistd::chdir("/").map_err(|e| Error::Privileges(format!("chdir /: {e}")))?;
    Ok(())
}

/// For the tools run from cron or by hand: when root, switch to the owner of the spool root (the
/// spool says who it belongs to; root-owned spools are refused). Returns a line for the log.
pub fn become_spool_owner(spool: &crate::Spool) -> Result<Option<String>> {
    if !is_root() {
        return Ok(None);
    }
    let (uid, gid) = spool.owner()?;
    drop_to(Uid::from_raw(uid), Gid::from_raw(gid))?;
    Ok(Some(format!("switched from root to uid {uid} gid {gid}")))
}
