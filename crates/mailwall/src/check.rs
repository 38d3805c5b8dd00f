//! `mailwall check`, like `postfix check`: every file the programs read at start-up, checked
//! with the very code they read it with, and the spool's owners and modes. Each finding is one
//! line that names the file (and the line, for a file's content); nothing is changed.

use spool::layout::{Layout, Owner};
use spool::patterns::PatternSet;
use spool::rules::Rules;
use spool::{Config, Spool};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Everything wrong with the spool and its files, one line each (empty: nothing found).
pub fn findings(spool: &Spool, explicit_config: Option<&Path>) -> Vec<String> {
    let mut found = Vec::new();
    let cfg = match Config::for_spool(spool, explicit_config) {
        Err(e) => {
            found.push(e.to_string());
            None
        }
        Ok(cfg) => {
            // user/group that name other ids than the spool's owner stop every program.
            let named = spool::privs::spool_ids(spool).and_then(|ids| {
                spool::privs::confirm_named(ids, &cfg.user, &cfg.group, "gateway.conf")
            });
            if let Err(e) = named {
                found.push(e.to_string());
            }
            Some(cfg)
        }
    };
    for name in ["matches.bad", "matches.doc"] {
        found.extend(
            PatternSet::problems(&spool.etc_file(name))
                .iter()
                .map(|e| e.to_string()),
        );
    }
    // The rules file gateway.conf names (the default's when gateway.conf is bad: smtpd would
    // not start either way, but its rules are still worth checking).
    let rules = cfg
        .map(|c| c.smtpd.check_rules)
        .unwrap_or_else(|| spool::config::SmtpdConfig::default().check_rules);
    let rules = spool::config::etc_relative(spool, &rules);
    found.extend(Rules::problems(&rules).iter().map(|e| e.to_string()));
    found.extend(tree(spool));
    found
}

/// The tree: the programs' own start-up check, then every entry of the root, `etc/`,
/// `etc/days/` and `bin/` against the layout the tree is in.
fn tree(spool: &Spool) -> Vec<String> {
    let mut found = Vec::new();
    let owner = spool.owner().ok();
    if let Err(e) = spool.check(owner.map(|(uid, _)| uid)) {
        found.push(e.to_string());
    }
    let (Some((uid, gid)), Ok(layout)) = (owner, Layout::of(spool)) else {
        return found;
    };
    for dir in ["", "etc", "etc/days", "bin"] {
        let path = if dir.is_empty() {
            spool.root().to_path_buf()
        } else {
            spool.root().join(dir)
        };
        let Ok(entries) = fs::read_dir(&path) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let rel = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            if dir.is_empty() && !matches!(name.as_str(), "etc" | "bin") {
                continue; // the queues: spool.check above
            }
            if let Some(problem) = entry(&path.join(&name), &rel, layout, uid, gid) {
                found.push(format!("{}: {problem}", path.join(&name).display()));
            }
        }
    }
    found
}

/// What is wrong with one entry, if anything.
fn entry(path: &Path, rel: &str, layout: Layout, uid: u32, gid: u32) -> Option<String> {
    let md = fs::symlink_metadata(path).ok()?;
    if md.file_type().is_symlink() {
        return Some("a symbolic link in the spool tree (root's tools refuse it)".into());
    }
    if !md.is_dir() && !md.is_file() {
        return Some("neither a file nor a directory".into());
    }
    if md.is_file() && md.nlink() > 1 {
        return Some(format!(
            "{} hard links: a file of the spool has one",
            md.nlink()
        ));
    }
    let mode = md.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Some(format!("mode {mode:04o} is group or world writable"));
    }
    let (want, want_mode) = layout.expected(rel, md.is_dir(), mode);
    let want_uid = match want {
        Owner::Spool => uid,
        Owner::Root => 0,
    };
    if md.uid() != want_uid && md.uid() != uid && md.uid() != 0 {
        return Some(format!(
            "owned by uid {}, expected uid {want_uid} ({} layout)",
            md.uid(),
            layout.name()
        ));
    }
    // What the programs (as the spool's owner) must be able to do with it.
    let (r, x) = if md.uid() == uid {
        (0o400, 0o100)
    } else if md.gid() == gid {
        (0o040, 0o010)
    } else {
        (0o004, 0o001)
    };
    let program = rel.starts_with("bin/") && want_mode & 0o100 != 0;
    if mode & r == 0 || ((md.is_dir() || program) && mode & x == 0) {
        return Some(format!(
            "mode {mode:04o}, owner uid {} gid {}: the programs (uid {uid}) cannot {} it",
            md.uid(),
            md.gid(),
            if md.is_dir() {
                "enter"
            } else if program {
                "run"
            } else {
                "read"
            }
        ));
    }
    None
}
