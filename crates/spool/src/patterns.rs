//! The article's pattern files (`etc/matches.bad`, `etc/matches.doc`): one grep basic regular
//! expression per line, read as `grep -i -f` reads them.
//!
//! The regex crate speaks a different dialect, so every line is translated: in a BRE `\(` `\)`
//! `\{` `\}` `\|` `\+` `\?` are operators while `+ ? ( ) { } |` stand for themselves; `*` at the
//! start of an expression is literal; `^` and `$` anchor only at the ends. Back-references have no
//! equivalent and are refused. Blank lines and `#` lines are ignored, which closes the article's
//! trap where one blank line in the file matched (and quarantined) every mail.

use regex::{Regex, RegexSet, RegexSetBuilder};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error("{path}:{line}: invalid pattern {pattern:?}: {reason}")]
    Invalid {
        path: PathBuf,
        line: usize,
        pattern: String,
        reason: String,
    },
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One pattern as written in the file, with where it came from.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub line: usize,
    pub source: String,
}

/// The compiled patterns of one file.
#[derive(Clone, Debug)]
pub struct PatternSet {
    pub path: PathBuf,
    pub patterns: Vec<Pattern>,
    set: RegexSet,
}

/// The first pattern that matched, and the presented line it matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub pattern: String,
    pub line: String,
}

impl PatternSet {
    /// Read a pattern file. A missing file is an empty set (the admin removed the check); an
    /// unreadable one or any invalid line is an error naming the file and the line.
    pub fn load(path: &Path) -> Result<PatternSet, PatternError> {
        match std::fs::read(path) {
            Ok(bytes) => PatternSet::parse(&String::from_utf8_lossy(&bytes), path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PatternSet::parse("", path),
            Err(source) => Err(PatternError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<PatternSet, PatternError> {
        let mut patterns = Vec::new();
        let mut translated = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let invalid = |reason: String| PatternError::Invalid {
                path: path.to_path_buf(),
                line: i + 1,
                pattern: line.to_string(),
                reason,
            };
            // Compiled alone first, so the error names the line that is wrong.
            translated.push(line_regex(line).map_err(invalid)?);
            patterns.push(Pattern {
                line: i + 1,
                source: line.to_string(),
            });
        }
        let set = RegexSetBuilder::new(&translated)
            .case_insensitive(true)
            .size_limit(64 << 20)
            .build()
            .map_err(|e| PatternError::Invalid {
                path: path.to_path_buf(),
                line: 0,
                pattern: String::new(),
                reason: first_line(&e.to_string()),
            })?;
        Ok(PatternSet {
            path: path.to_path_buf(),
            patterns,
            set,
        })
    }

    /// Every invalid line of a pattern file, not only the first ([`PatternSet::load`] stops
    /// there): `mailwall check` names them all. A missing file has none.
    pub fn problems(path: &Path) -> Vec<PatternError> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(source) => {
                return vec![PatternError::Read {
                    path: path.to_path_buf(),
                    source,
                }]
            }
        };
        let mut found = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            if let Err(reason) = line_regex(line) {
                found.push(PatternError::Invalid {
                    path: path.to_path_buf(),
                    line: i + 1,
                    pattern: line.to_string(),
                    reason,
                });
            }
        }
        if found.is_empty() {
            // Each line is good; the set of them may still be too large to build.
            if let Err(e) = PatternSet::parse(&text, path) {
                found.push(e);
            }
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The first line (in presentation order) that any pattern matches; the pattern reported is
    /// the first one in the file that matches that line.
    pub fn first_match<'a, I>(&self, lines: I) -> Option<(usize, Hit)>
    where
        I: IntoIterator<Item = &'a str>,
    {
        if self.is_empty() {
            return None;
        }
        for (n, l) in lines.into_iter().enumerate() {
            if let Some(i) = self.set.matches(l).iter().next() {
                return Some((
                    n,
                    Hit {
                        pattern: self.patterns[i].source.clone(),
                        line: l.to_string(),
                    },
                ));
            }
        }
        None
    }
}

/// One line of a pattern file as the regex crate's syntax, checked to compile on its own.
fn line_regex(line: &str) -> Result<String, String> {
    let re = bre_to_regex(line)?;
    Regex::new(&format!("(?i){re}")).map_err(|e| first_line(&e.to_string()))?;
    Ok(re)
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or(s)
        .to_string()
}

/// Translate one GNU grep basic regular expression into the regex crate's syntax.
pub fn bre_to_regex(bre: &str) -> Result<String, String> {
    let chars: Vec<char> = bre.chars().collect();
    let mut out = String::with_capacity(bre.len() * 2);
    let mut i = 0;
    // True where `*` is literal and `^` anchors: at the start, after `\(` and after `\|`.
    let mut at_start = true;
    while i < chars.len() {
        let c = chars[i];
        let was_start = at_start;
        at_start = false;
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err("trailing backslash".into());
                };
                i += 2;
                match n {
                    '(' => {
                        out.push('(');
                        at_start = true;
                        continue;
                    }
                    ')' => out.push(')'),
                    '|' => {
                        out.push('|');
                        at_start = true;
                        continue;
                    }
                    '{' => {
                        // An interval: copy digits and comma up to `\}`.
                        let mut body = String::new();
                        loop {
                            match (chars.get(i), chars.get(i + 1)) {
                                (Some('\\'), Some('}')) => {
                                    i += 2;
                                    break;
                                }
                                (Some(&d), _) if d.is_ascii_digit() || d == ',' => {
                                    body.push(d);
                                    i += 1;
                                }
                                _ => return Err("unterminated or invalid \\{...\\}".into()),
                            }
                        }
                        if was_start {
                            return Err("interval without anything to repeat".into());
                        }
                        out.push('{');
                        out.push_str(&body);
                        out.push('}');
                    }
                    '}' => return Err("unmatched \\}".into()),
                    '+' | '?' if !was_start => out.push(n),
                    '1'..='9' => return Err("back-references are not supported".into()),
                    '<' => out.push_str(r"\b{start}"),
                    '>' => out.push_str(r"\b{end}"),
                    '`' => out.push_str(r"\A"),
                    '\'' => out.push_str(r"\z"),
                    'w' | 'W' | 's' | 'S' | 'b' | 'B' => {
                        out.push('\\');
                        out.push(n);
                    }
                    other => push_literal(&mut out, other),
                }
                continue;
            }
            '*' if was_start => push_literal(&mut out, '*'),
            '*' => out.push('*'),
            '^' if was_start => {
                out.push('^');
                // `^*` : the star after an anchor is literal too.
                at_start = true;
            }
            '$' if i + 1 == chars.len() || ends_group(&chars, i + 1) => out.push('$'),
            '.' => out.push('.'),
            '[' => {
                i = bracket(&chars, i, &mut out)?;
                continue;
            }
            other => push_literal(&mut out, other),
        }
        i += 1;
    }
    Ok(out)
}

/// True when `\)` or `\|` starts at `i` (so a `$` before it anchors).
fn ends_group(chars: &[char], i: usize) -> bool {
    chars.get(i) == Some(&'\\') && matches!(chars.get(i + 1), Some(')') | Some('|'))
}

fn push_literal(out: &mut String, c: char) {
    let mut b = [0u8; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut b)));
}

/// Translate a POSIX bracket expression starting at `chars[start] == '['`; returns the index after
/// its closing `]`. Inside brackets a backslash is an ordinary character in POSIX.
fn bracket(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let mut i = start + 1;
    let mut body = String::from("[");
    if chars.get(i) == Some(&'^') {
        body.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err("unterminated [ bracket expression".into());
        };
        if c == ']' && !first {
            body.push(']');
            out.push_str(&body);
            return Ok(i + 1);
        }
        first = false;
        if c == '[' && matches!(chars.get(i + 1), Some(':') | Some('=') | Some('.')) {
            let kind = chars[i + 1];
            // Counted in characters, not bytes: `[=é=]` is five characters.
            let rest = &chars[i + 2..];
            let end = rest
                .windows(2)
                .position(|w| w[0] == kind && w[1] == ']')
                .ok_or_else(|| format!("unterminated [{kind} in bracket expression"))?;
            let name: String = rest[..end].iter().collect();
            match kind {
                ':' => {
                    const CLASSES: &[&str] = &[
                        "alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print",
                        "punct", "space", "upper", "xdigit",
                    ];
                    if !CLASSES.contains(&name.as_str()) {
                        return Err(format!("unknown character class [:{name}:]"));
                    }
                    body.push_str(&format!("[:{name}:]"));
                }
                _ => {
                    // Equivalence classes and collating symbols: one character in the C locale.
                    let mut cs = name.chars();
                    match (cs.next(), cs.next()) {
                        (Some(ch), None) => push_class_literal(&mut body, ch),
                        _ => return Err(format!("unsupported collating element {name:?}")),
                    }
                }
            }
            i += 2 + end + 2;
            continue;
        }
        if c == '-' {
            // A range dash between two members; literal at the edges.
            let next_closes = chars.get(i + 1) == Some(&']');
            if body.ends_with('[') || body.ends_with("[^") || next_closes {
                body.push_str(r"\-");
            } else {
                body.push('-');
            }
        } else {
            push_class_literal(&mut body, c);
        }
        i += 1;
    }
}

fn push_class_literal(body: &mut String, c: char) {
    // Characters with a meaning inside the regex crate's classes (nesting, set operations,
    // escapes) are escaped; everything else stands for itself as in POSIX.
    if matches!(c, '\\' | '[' | ']' | '&' | '~' | '^' | '-') {
        body.push('\\');
    }
    body.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pat: &str, line: &str) -> bool {
        let s = PatternSet::parse(pat, Path::new("t")).unwrap();
        s.first_match([line]).is_some()
    }

    #[test]
    fn article_form() {
        assert!(m(r"filename=.*\.exe", "filename=evil.exe"));
        assert!(m(r"filename=.*\.exe", "FILENAME=\"EVIL.EXE\""));
        assert!(!m(r"filename=.*\.exe$", "filename=evilxexe.txt"));
        assert!(m(r"filename=.*\.exe$", "filename=a.exe"));
        assert!(!m(r"filename=.*\.exe$", "filename=a.exe.txt"));
    }

    #[test]
    fn operators_and_literals() {
        assert_eq!(bre_to_regex(r"a\(b\|c\)d").unwrap(), "a(b|c)d");
        assert_eq!(bre_to_regex(r"a\{2,3\}").unwrap(), "a{2,3}");
        assert_eq!(
            bre_to_regex("a+b?(c){d}|e").unwrap(),
            r"a\+b\?\(c\)\{d\}\|e"
        );
        assert_eq!(bre_to_regex("*a").unwrap(), r"\*a");
        assert_eq!(bre_to_regex(r"\(*a\)").unwrap(), r"(\*a)");
        assert_eq!(bre_to_regex("a^b$c$").unwrap(), r"a\^b\$c$");
        assert_eq!(bre_to_regex("^a").unwrap(), "^a");
        assert_eq!(bre_to_regex(r"x\.y").unwrap(), r"x\.y");
        assert!(m("a+b", "xa+by"));
        assert!(!m("a+b", "aab"));
        assert!(m(r"a\+b", "aab"));
        assert!(m("(x)", "(x)"));
        assert!(!m("(x)", "x"));
        assert!(m(r"\(ab\)\{2\}", "ababc"));
        assert!(m(r"x\|y", "y"));
        assert!(m("x|y", "x|y"));
        assert!(!m("x|y", "y"));
    }

    #[test]
    fn brackets() {
        assert!(m("[]a]", "]"));
        assert!(m("[^]a]", "b"));
        assert!(m(r"[\]", r"\"));
        assert!(m("[[:digit:]]x", "3x"));
        assert!(m("[a-c]z", "bz"));
        assert!(m("[a-]z", "-z"));
        assert!(m("[&&]", "&"));
        assert!(!m("[[:digit:]]x", "ax"));
        // Non-ASCII members and equivalence classes (positions counted in characters).
        assert_eq!(bre_to_regex("[[=é=]]x").unwrap(), "[é]x");
        assert_eq!(bre_to_regex("[[=é=]b]x").unwrap(), "[éb]x");
        assert!(m("[[=é=]b]x", "bx"));
        assert!(m("[[.€.]]", "€"));
    }

    #[test]
    fn invalid_lines_name_file_and_line() {
        for bad in [r"a\(b", r"a\{x\}", r"\1", "a\\", "[abc", "[[:nope:]]"] {
            let text = format!("# comment\n\nfilename=.*\\.exe\n{bad}\n");
            let err = PatternSet::parse(&text, Path::new("/etc/matches.bad"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("/etc/matches.bad:4:"), "{bad}: {err}");
        }
    }

    #[test]
    fn problems_names_every_bad_line() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("matches.bad");
        assert!(
            PatternSet::problems(&p).is_empty(),
            "a missing file is fine"
        );
        std::fs::write(&p, "# x\nfilename=.*\\.exe\na\\(b\n\n[abc\nok\n").unwrap();
        let found: Vec<String> = PatternSet::problems(&p)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with(&format!("{}:3:", p.display())),
            "{found:?}"
        );
        assert!(
            found[1].starts_with(&format!("{}:5:", p.display())),
            "{found:?}"
        );
    }

    #[test]
    fn blank_and_comment_lines_are_ignored() {
        let s = PatternSet::parse("\n   \n# x\n\r\n", Path::new("t")).unwrap();
        assert!(s.is_empty());
        assert!(s.first_match(["anything"]).is_none());
    }

    #[test]
    fn reports_first_matching_pattern() {
        let s = PatternSet::parse(
            "zzz\nfilename=.*\\.com\nfilename=.*\\.exe\n",
            Path::new("t"),
        )
        .unwrap();
        let (n, hit) = s.first_match(["Subject: hi", "filename=a.exe"]).unwrap();
        assert_eq!(n, 1);
        assert_eq!(hit.pattern, r"filename=.*\.exe");
    }
}
