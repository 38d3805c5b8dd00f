//! `mailwall init`: the spool tree, its default files and the settings of `etc/gateway.conf`,
//! made the same way every time (install.sh and the demo call it).
//!
//! The tree and its owners and modes come from `spool::layout::Layout` (the table the programs'
//! own start-up check and `mailwall check` use), and every write goes through `spool::tree`,
//! which follows no link the spool's owner could have planted. The default files are the ones
//! shipped in the repository's `etc/`, built into this program, so an init needs no source tree.
//! An admin's edited file is never overwritten: the new default lands beside it as `NAME.dist`.
//! `gateway.conf` is edited with `toml_edit`: only the keys asked for change; the comments, the
//! order and the spacing of the rest stay as the admin left them.

use anyhow::{bail, Context};
use spool::layout::Layout;
use spool::tree::Tree;
use spool::{Config, Spool};
use std::path::Path;
use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

/// The files of `etc/` every spool gets, with the shipped contents.
pub const SHIPPED: &[(&str, &str)] = &[
    ("gateway.conf", include_str!("../../../etc/gateway.conf")),
    ("matches.bad", include_str!("../../../etc/matches.bad")),
    ("matches.doc", include_str!("../../../etc/matches.doc")),
    (
        "smtpd_check_rules",
        include_str!("../../../etc/smtpd_check_rules"),
    ),
    ("transport", include_str!("../../../etc/transport")),
    (
        "smb.conf.example",
        include_str!("../../../etc/smb.conf.example"),
    ),
    ("alert.tmpl", include_str!("../../../etc/alert.tmpl")),
    ("bounce.tmpl", include_str!("../../../etc/bounce.tmpl")),
    (
        "sender-notice.tmpl",
        include_str!("../../../etc/sender-notice.tmpl"),
    ),
    (
        "sigupdate-alert.tmpl",
        include_str!("../../../etc/sigupdate-alert.tmpl"),
    ),
    ("summary.tmpl", include_str!("../../../etc/summary.tmpl")),
];

/// The programs uucp's cron runs from `bin/` (the article's layout).
pub const SPOOL_PROGRAMS: &[&str] = &["scanmail", "sigupdate", "daysumm"];

/// What smtpd's chroot needs of the system's `/etc` (name lookups, the time zone): copied at
/// every init, so they follow the system's.
const CHROOT_FILES: &[&str] = &["resolv.conf", "hosts", "nsswitch.conf", "localtime"];

/// A configuration file larger than this is no gateway.conf (root reads what uucp may write).
const MAX_CONF: u64 = 1 << 20;

/// What to do.
#[derive(Debug)]
pub struct Options {
    /// Keys of gateway.conf to set, dotted (`forward.relay`), each with its TOML value.
    pub set: Vec<(String, Value)>,
    pub layout: Layout,
    /// The directory of the built scanmail, sigupdate and daysumm to copy into `bin/`.
    pub programs: Option<std::path::PathBuf>,
    /// The spool's owner: (uid, gid).
    pub ids: (u32, u32),
    /// Where the chroot's files come from (`/etc`; tests give another).
    pub system_etc: std::path::PathBuf,
}

/// Parse `KEY=VALUE` of `--set`: VALUE is a TOML value (`"text"`, `10`, `true`, `["a"]`).
pub fn parse_set(s: &str) -> Result<(String, Value), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: want KEY=VALUE"))?;
    let k = k.trim();
    if k.is_empty() || k.split('.').any(|p| p.is_empty()) {
        return Err(format!("{s:?}: bad key"));
    }
    let v: Value = v.trim().parse().map_err(|_| {
        format!("{s:?}: the value must be written as in TOML (a string in double quotes)")
    })?;
    Ok((k.to_string(), v))
}

/// Why gateway.conf could not be edited.
#[derive(Debug)]
pub enum EditError {
    /// The file is not TOML.
    Syntax(toml_edit::TomlError),
    /// A dotted key goes through something that is not a table (`admin.x`).
    NotATable(String),
}

/// Set dotted keys in a TOML text, keeping everything else byte for byte: an existing value
/// keeps its spacing and trailing comment, a missing key is added at the end of its table (a
/// missing table at the end of the file). Returns the text and the keys whose value changed.
pub fn edit_conf(text: &str, set: &[(String, Value)]) -> Result<(String, Vec<String>), EditError> {
    let mut doc: DocumentMut = text.parse().map_err(EditError::Syntax)?;
    let mut changed: Vec<String> = Vec::new();
    for (key, value) in set {
        let mut parts: Vec<&str> = key.split('.').collect();
        let name = parts.pop().expect("split gives one part at least");
        let mut table: &mut dyn TableLike = doc.as_table_mut();
        for (n, p) in parts.iter().enumerate() {
            if table.get(p).is_none() {
                table.insert(p, Item::Table(Table::new()));
            }
            table = table
                .get_mut(p)
                .and_then(Item::as_table_like_mut)
                .ok_or_else(|| EditError::NotATable(parts[..=n].join(".")))?;
        }
        let mut value = value.clone();
        match table.get_mut(name) {
            Some(Item::Value(old)) => {
                if bare(old) == bare(&value) {
                    continue;
                }
                *value.decor_mut() = old.decor().clone();
                *old = value;
            }
            _ => {
                table.insert(name, Item::Value(value));
            }
        }
        if !changed.contains(key) {
            changed.push(key.clone());
        }
    }
    Ok((doc.to_string(), changed))
}

/// A value as written, without the spaces and comment around it.
fn bare(v: &Value) -> String {
    let mut v = v.clone();
    v.decor_mut().clear();
    v.to_string()
}

/// The spool's owner: as root, `user` and its primary group (never root); otherwise whoever
/// runs init (a trial tree; it cannot give files to root, so no hardened layout either).
pub fn owner_ids(user: &str) -> anyhow::Result<(u32, u32)> {
    if !spool::privs::is_root() {
        return Ok((
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        ));
    }
    let u = nix::unistd::User::from_name(user)
        .map_err(|e| spool::Error::Privileges(format!("user {user}: {e}")))?
        .ok_or_else(|| spool::Error::Privileges(format!("no such user: {user}")))?;
    if u.uid.is_root() || u.gid.as_raw() == 0 {
        bail!(spool::Error::Privileges(format!(
            "{user} is uid {} gid {}: the spool's owner must not be root",
            u.uid, u.gid
        )));
    }
    Ok((u.uid.as_raw(), u.gid.as_raw()))
}

/// gateway.conf's `user` and `group` for the owner's ids, by name (none for an id without a
/// name: the key is then left as it is).
pub fn owner_names((uid, gid): (u32, u32)) -> Vec<(&'static str, String)> {
    use nix::unistd::{Gid, Group, Uid, User};
    let mut v = Vec::new();
    if let Ok(Some(u)) = User::from_uid(Uid::from_raw(uid)) {
        v.push(("user", u.name));
    }
    if let Ok(Some(g)) = Group::from_gid(Gid::from_raw(gid)) {
        v.push(("group", g.name));
    }
    v
}

/// One line of what init did, for the admin.
fn say(what: &str) {
    println!("mailwall: init: {what}");
}

/// Set up (or bring up to date) the spool tree. Idempotent: a second run with the same options
/// changes nothing.
pub fn run(spool: &Spool, o: &Options) -> anyhow::Result<()> {
    let tree = Tree::open(spool)?;
    tree.refuse_links()?;
    let layout = o.layout;
    let mut made = Vec::new();
    for d in layout.dirs().iter().filter(|d| !d.is_empty()) {
        if tree.mkdir(d, 0o700)? {
            made.push(format!("{d}/"));
        }
    }
    if !made.is_empty() {
        say(&format!("created {}", made.join(" ")));
    }
    if layout == Layout::Hardened {
        let n = tree.move_day_files()?;
        if n > 0 {
            say(&format!("moved {n} day file(s) from etc/ into etc/days/"));
        }
    }
    if let Some(dir) = &o.programs {
        for p in SPOOL_PROGRAMS {
            let src = dir.join(p);
            let bytes = std::fs::read(&src).map_err(|e| spool::Error::io(&src, e))?;
            let rel = format!("bin/{p}");
            if !tree.holds(&rel, &bytes)? {
                tree.put(&rel, &bytes, 0o700)?;
                say(&format!("installed {rel}"));
            }
        }
    }
    for (name, text) in SHIPPED {
        install_default(&tree, name, text.as_bytes())?;
    }
    configure(spool, &tree, &o.set)?;
    for name in CHROOT_FILES {
        // std::fs::read follows /etc/localtime's link to the zone file: the chroot gets the file.
        let src = o.system_etc.join(name);
        let Ok(bytes) = std::fs::read(&src) else {
            continue;
        };
        let rel = format!("etc/{name}");
        if !tree.holds(&rel, &bytes)? {
            tree.put(&rel, &bytes, 0o600)?;
        }
    }
    let (uid, gid) = o.ids;
    let (changed, left) = tree.own(layout, uid, gid)?;
    for p in &left {
        say(&format!(
            "warning: {}: more than one hard link: its owner and mode left alone (look at it)",
            p.display()
        ));
    }
    // The programs' own start-up check, on what was just made.
    spool.check(Some(uid))?;
    say(&format!(
        "{}: {} layout, owner uid {uid} gid {gid}{}",
        spool.root().display(),
        layout.name(),
        if changed > 0 {
            format!(" ({changed} owner or mode change(s))")
        } else {
            String::new()
        }
    ));
    Ok(())
}

/// A default file of `etc/`: installed when absent; an edited one is kept and the new default
/// written beside it as `NAME.dist`.
fn install_default(tree: &Tree, name: &str, data: &[u8]) -> anyhow::Result<()> {
    let rel = format!("etc/{name}");
    if !tree.exists(&rel)? {
        tree.put(&rel, data, 0o600)?;
        say(&format!("installed {rel}"));
    } else if !tree.holds(&rel, data)? {
        let dist = format!("{rel}.dist");
        if !tree.holds(&dist, data)? {
            tree.put(&dist, data, 0o600)?;
        }
        say(&format!("kept {rel} (edited); the shipped one is {dist}"));
    }
    Ok(())
}

/// Set the asked-for keys of gateway.conf; the file is written only when a value changes, and
/// only when the result is a configuration every program accepts.
fn configure(spool: &Spool, tree: &Tree, set: &[(String, Value)]) -> anyhow::Result<()> {
    let rel = "etc/gateway.conf";
    let path = spool.config_path();
    let Some(bytes) = tree.read(rel, MAX_CONF)? else {
        bail!("{}: missing after it was installed", path.display());
    };
    let text =
        String::from_utf8(bytes).with_context(|| format!("{}: not UTF-8", path.display()))?;
    let (new, changed) = edit_conf(&text, set).map_err(|e| match e {
        EditError::Syntax(e) => config_error(&path, &text, &e),
        EditError::NotATable(k) => spool::Error::Config {
            path: path.clone(),
            line: None,
            message: format!("{k}: not a section: no key can be set inside it"),
        },
    })?;
    // What the programs will read: refuse to leave a configuration that stops them.
    Config::parse(&new, &path)?;
    if new == text {
        return Ok(());
    }
    let mode = 0o600;
    tree.put(rel, new.as_bytes(), mode)?;
    say(&format!("{rel}: set {}", changed.join(", ")));
    Ok(())
}

fn config_error(path: &Path, text: &str, e: &toml_edit::TomlError) -> spool::Error {
    let line = e.span().map(|s| {
        text.as_bytes()[..s.start.min(text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    });
    spool::Error::Config {
        path: path.to_path_buf(),
        line,
        message: e.message().trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(kv: &[&str]) -> Vec<(String, Value)> {
        kv.iter().map(|s| parse_set(s).unwrap()).collect()
    }

    #[test]
    fn edits_keep_comments_and_layout() {
        let text = "# top\nadmin = \"postmaster\"   # who\n\n[forward]\n# the relay\n\
                    relay          = \"\"\npoll_seconds = 10\n";
        let new = edit_conf(
            text,
            &sets(&[
                r#"admin="it@example.com""#,
                r#"forward.relay="mail:25""#,
                r#"domains=["a.example", "b.example"]"#,
                "scan.scan_all=false",
            ]),
        )
        .unwrap();
        assert_eq!(
            new.1,
            ["admin", "forward.relay", "domains", "scan.scan_all"]
        );
        let new = new.0;
        assert!(
            new.starts_with("# top\nadmin = \"it@example.com\"   # who\n"),
            "{new}"
        );
        assert!(
            new.contains("# the relay\nrelay          = \"mail:25\"\npoll_seconds = 10\n"),
            "{new}"
        );
        let c = Config::parse(&new, Path::new("g")).unwrap();
        assert_eq!(c.admin, "it@example.com");
        assert_eq!(c.forward.relay, "mail:25");
        assert_eq!(c.domains, ["a.example", "b.example"]);
        assert!(!c.scan.scan_all);
        // Setting what is there already changes nothing.
        assert_eq!(
            edit_conf(&new, &sets(&[r#"admin="it@example.com""#])).unwrap(),
            (new, vec![])
        );
    }

    #[test]
    fn shipped_conf_takes_the_install_keys() {
        let shipped = SHIPPED[0].1;
        let new = edit_conf(
            shipped,
            &sets(&[
                r#"hostname="gw.example.com""#,
                r#"admin="it@example.com""#,
                r#"domains=["example.com"]"#,
                r#"forward.relay="mail.internal:25""#,
            ]),
        )
        .unwrap()
        .0;
        let c = Config::parse(&new, Path::new("g")).unwrap();
        assert_eq!(c.hostname, "gw.example.com");
        assert_eq!(c.forward.relay, "mail.internal:25");
        // Every comment line of the shipped file is still there.
        for l in shipped.lines().filter(|l| l.starts_with('#')) {
            assert!(new.contains(l), "{l}");
        }
    }

    #[test]
    fn keys_inside_values_are_refused_and_inline_tables_edited() {
        let e = edit_conf("admin = \"x\"\n", &sets(&["admin.y=1"])).unwrap_err();
        assert!(
            matches!(e, EditError::NotATable(ref k) if k == "admin"),
            "{e:?}"
        );
        let new = edit_conf(
            "forward = { relay = \"a\" }\n",
            &sets(&[r#"forward.relay="b""#]),
        )
        .unwrap();
        assert_eq!(new.0, "forward = { relay = \"b\" }\n");
    }

    #[test]
    fn bad_set_values_are_refused() {
        assert!(parse_set("forward.relay=mail:25").is_err());
        assert!(parse_set("relay").is_err());
        assert!(parse_set(".x=1").is_err());
        assert!(parse_set("forward.poll_seconds=1").is_ok());
    }

    #[test]
    fn every_shipped_template_is_built_in() {
        let etc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc");
        for e in std::fs::read_dir(etc).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".tmpl") || name.starts_with("matches.") {
                assert!(
                    SHIPPED.iter().any(|(n, _)| *n == name),
                    "{name} not in SHIPPED"
                );
            }
        }
    }
}
