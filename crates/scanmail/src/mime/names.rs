//! The names a sender-supplied file name stands for, as clients save it.

/// Windows drops trailing dots and spaces from file names: `evil.exe. .` is `evil.exe`.
pub fn clean_name(name: &str) -> String {
    name.trim_end_matches(['.', ' ', '\t']).to_string()
}

/// The names to present for one sender-supplied name, each as a client could save it: as
/// written; with control characters turned into `_` (what most clients and file systems do) and
/// with them removed (what others do); the part before a NUL (what C-string clients see); and the
/// last component of a name decoded into a path. Trailing dots and spaces are removed from each.
pub(super) fn name_variants(name: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        let c = clean_name(s);
        if !c.is_empty() && !v.contains(&c) {
            v.push(c);
        }
    };
    let mut bases = vec![name.to_string()];
    if let Some((before, _)) = name.split_once('\0') {
        bases.push(before.to_string());
    }
    for base in bases {
        let mut forms = vec![base.clone()];
        if base.chars().any(char::is_control) {
            forms.push(
                base.chars()
                    .map(|c| if c.is_control() { '_' } else { c })
                    .collect(),
            );
            forms.push(base.chars().filter(|c| !c.is_control()).collect());
        }
        for f in forms {
            add(&f);
            if let Some(last) = f.rsplit(['/', '\\']).next() {
                add(last);
            }
        }
    }
    if v.is_empty() {
        v.push(clean_name(name));
    }
    v
}
