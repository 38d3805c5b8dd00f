//! daysumm's page and metrics files land by a temp file and a rename; the temp file must never be
//! a name someone else can plant first (a symlink there would make daysumm overwrite its target).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// A symlink at every temp name the old code used (`.<name>.<pid>.tmp`), pointing at `victim`.
fn plant(dir: &Path, name: &str, victim: &Path) {
    std::os::unix::fs::symlink(
        victim,
        dir.join(format!(".{name}.{}.tmp", std::process::id())),
    )
    .unwrap();
}

fn assert_written(path: &Path, text: &str, victim: &Path) {
    assert_eq!(
        fs::read_to_string(victim).unwrap(),
        "precious\n",
        "the symlink was followed"
    );
    let md = fs::symlink_metadata(path).unwrap();
    assert!(
        md.file_type().is_file(),
        "{} is not a plain file",
        path.display()
    );
    assert_eq!(fs::read_to_string(path).unwrap(), text);
    assert_eq!(md.mode() & 0o022, 0, "writable by others");
    assert_eq!(md.mode() & 0o044, 0o044, "the web server must read it");
    let temps: Vec<_> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file() && e.file_name() != path.file_name().unwrap())
        .collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
}

#[test]
fn metrics_and_page_never_write_through_a_planted_symlink() {
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    fs::write(&victim, "precious\n").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();

    let out = d.path().join("metrics");
    fs::create_dir(&out).unwrap();
    plant(&out, "gateway.prom", &victim);
    let path = out.join("gateway.prom");
    daysumm::metrics::write(&path, "gateway_up 1\n").unwrap();
    assert_written(&path, "gateway_up 1\n", &victim);
    // Written again over the previous file: still a plain file, the victim untouched.
    daysumm::metrics::write(&path, "gateway_up 2\n").unwrap();
    assert_written(&path, "gateway_up 2\n", &victim);

    let www = d.path().join("www");
    fs::create_dir(&www).unwrap();
    plant(&www, "index.html", &victim);
    // The page itself a symlink: it is replaced, not written through.
    std::os::unix::fs::symlink(&victim, www.join("index.html")).unwrap();
    let page = daysumm::html::write(&www, "<html></html>\n").unwrap();
    assert_written(&page, "<html></html>\n", &victim);
}
