//! The shipped etc/gateway.conf: it loads with spool::Config::load, every value in it is the
//! built-in default, and every key of the configuration is written down in it.

use spool::Config;
use std::collections::BTreeSet;

/// Every key of spool::config::Config (keep in step with crates/spool/src/config.rs).
/// Every key the configuration has, taken from the defaults themselves, so that a new key
/// cannot be forgotten in the shipped file (nor in a list kept by hand).
fn keys() -> BTreeSet<String> {
    let table = toml::Table::try_from(Config::default()).expect("defaults serialise");
    let mut out = BTreeSet::new();
    for (k, v) in &table {
        match v {
            toml::Value::Table(t) => out.extend(t.keys().map(|k2| format!("{k}.{k2}"))),
            _ => {
                out.insert(k.clone());
            }
        }
    }
    out
}

fn shipped() -> (std::path::PathBuf, String) {
    let path = testkit::repo_root().join("etc/gateway.conf");
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

#[test]
fn shipped_gateway_conf_loads_and_holds_the_defaults() {
    let (path, _) = shipped();
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg, Config::default());
}

#[test]
fn shipped_gateway_conf_documents_every_key() {
    let (_, text) = shipped();
    let table: toml::Table = text.parse().unwrap();
    let mut found = BTreeSet::new();
    for (k, v) in &table {
        match v {
            toml::Value::Table(t) => {
                for k2 in t.keys() {
                    found.insert(format!("{k}.{k2}"));
                }
            }
            _ => {
                found.insert(k.clone());
            }
        }
    }
    // hostname's default is the machine's name, so the shipped line is a comment.
    assert!(
        text.lines().any(|l| l.starts_with("#hostname = ")),
        "hostname is not shown"
    );
    found.insert("hostname".into());
    let want = keys();
    assert!(want.len() > 60, "{want:?}");
    let missing: Vec<_> = want.difference(&found).collect();
    let extra: Vec<_> = found.difference(&want).collect();
    assert!(
        missing.is_empty(),
        "keys not in etc/gateway.conf: {missing:?}"
    );
    assert!(extra.is_empty(), "keys not in the test's list: {extra:?}");
    // Every key has a comment right above it or above its group.
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.contains(" = ") && !l.starts_with('#') {
            let above = lines[..i]
                .iter()
                .rev()
                .take_while(|p| !p.trim().is_empty() && !p.starts_with('['))
                .any(|p| p.starts_with('#'));
            assert!(above, "no comment above {l:?}");
        }
    }
}

#[test]
fn shipped_templates_have_subject_lines() {
    for name in ["summary.tmpl", "sigupdate-alert.tmpl"] {
        let text = std::fs::read_to_string(testkit::repo_root().join("etc").join(name)).unwrap();
        let (subject, body) = spool::notice::split_template(&text);
        assert!(!subject.is_empty(), "{name}: no Subject: line");
        assert!(!body.starts_with('\n') && !body.is_empty(), "{name}");
    }
}

#[test]
fn crontab_is_the_articles_table() {
    let text = std::fs::read_to_string(testkit::repo_root().join("cron/crontab")).unwrap();
    let entries: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    let norm: Vec<String> = entries
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        norm,
        [
            "MAILTO=\"\"",
            "*/2 * * * * /var/spool/smtpd/bin/scanmail",
            "59 23 * * * /var/spool/smtpd/bin/daysumm",
            "0 16 * * 4 /var/spool/smtpd/bin/sigupdate",
            // Beyond the article: the live metrics, a no-op until [report] metrics_dir is set.
            "* * * * * /usr/local/sbin/mailwall --spool /var/spool/smtpd metrics --if-set",
        ]
    );
}
