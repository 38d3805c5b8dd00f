//! Content-Type and Content-Disposition parameters: RFC 2045 syntax (quoted strings, comments)
//! and RFC 2231 (charsets, languages, continuations); plain values may hold RFC 2047 words.

use super::words::decode_words;
use std::collections::BTreeMap;

/// Parameters in one Content-Type or Content-Disposition header, at most (real mail has a few;
/// a long name split by RFC 2231 some dozens).
pub const MAX_PARAMS: usize = 1000;

/// Header parameters: every value of every key, RFC 2231 merged and decoded.
#[derive(Clone, Debug, Default)]
pub struct Params {
    map: Vec<(String, String)>,
}

impl Params {
    /// Every distinct decoded value given for `key`.
    pub fn values(&self, key: &str) -> Vec<String> {
        dedup(
            self.map
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .collect(),
        )
    }
}

/// Distinct values in their first order, in linear time (a hostile header can hold a hundred
/// thousand parameters).
pub(super) fn dedup(values: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(values.len());
    values
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .collect()
}

/// Parse `type/subtype; key=value; key*=charset'lang'%xx; key*0*=...` (RFC 2045, 2231).
pub fn parse_params(value: &str) -> (String, Params) {
    let items = split_semicolons(value);
    let mut it = items.into_iter();
    let kind = it.next().unwrap_or_default().trim().to_ascii_lowercase();
    let kind = strip_comments(&kind).trim().to_string();
    // Plain values, extended values, continuation segments (key → index → (extended, value)).
    let mut plain: Vec<(String, String)> = Vec::new();
    let mut segments: BTreeMap<String, BTreeMap<u32, (bool, String)>> = BTreeMap::new();
    for item in it {
        let Some((k, v)) = item.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        let v = unquote(v.trim());
        if let Some((base, rest)) = k.split_once('*') {
            let extended = rest.ends_with('*') || rest.is_empty();
            let idx = rest.trim_end_matches('*');
            let n: u32 = if idx.is_empty() {
                0
            } else {
                match idx.parse() {
                    Ok(n) => n,
                    Err(_) => continue,
                }
            };
            let entry = segments.entry(base.to_string()).or_default();
            match entry.entry(n) {
                // Two segments with one index: keep both readings visible.
                std::collections::btree_map::Entry::Occupied(_) => {
                    plain.push((base.to_string(), decode_2231(&[(extended, v)])))
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert((extended, v));
                }
            }
        } else {
            plain.push((k, v));
        }
    }
    let mut map: Vec<(String, String)> = plain
        .into_iter()
        .map(|(k, v)| (k, decode_words(&v)))
        .collect();
    for (k, segs) in segments {
        let segs: Vec<(bool, String)> = segs.into_values().collect();
        map.push((k, decode_2231(&segs)));
    }
    (kind, Params { map })
}

fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            c => out.push(c),
        }
    }
    out
}

fn split_semicolons(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            '\\' if quoted => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"') else {
        return strip_comments(v).trim().to_string();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Join RFC 2231 segments; extended ones are percent-decoded in the charset of the first.
fn decode_2231(segs: &[(bool, String)]) -> String {
    let mut charset = String::new();
    let mut bytes: Vec<u8> = Vec::new();
    for (i, (ext, v)) in segs.iter().enumerate() {
        let mut v = v.as_str();
        if *ext {
            if i == 0 {
                if let Some((cs, rest)) = v.split_once('\'') {
                    if let Some((_lang, rest)) = rest.split_once('\'') {
                        charset = cs.to_string();
                        v = rest;
                    }
                }
            }
            bytes.extend(percent_decode(v));
        } else {
            bytes.extend_from_slice(v.as_bytes());
        }
    }
    let text = match charset::Charset::for_label(charset.as_bytes()) {
        Some(cs) if !charset.is_empty() => cs.decode_without_bom_handling(&bytes).0.into_owned(),
        _ => String::from_utf8_lossy(&bytes).into_owned(),
    };
    decode_words(&text)
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_rfc2231_and_2047() {
        let (t, p) =
            parse_params("attachment; filename*0*=utf-8''ev%69l; filename*1=\".e\"; filename*2=xe");
        assert_eq!(t, "attachment");
        assert_eq!(p.values("filename"), vec!["evil.exe"]);
        let (_, p) = parse_params("application/x; name=\"=?utf-8?B?ZXZpbC5leGU=?=\"");
        assert_eq!(p.values("name"), vec!["evil.exe"]);
        let (_, p) = parse_params("a/b; name*=iso-8859-1'en'%E9t%E9.exe");
        assert_eq!(p.values("name"), vec!["été.exe"]);
        let (_, p) = parse_params("a/b; name=\"x;y.exe\"; boundary=a; BOUNDARY=b");
        assert_eq!(p.values("name"), vec!["x;y.exe"]);
        assert_eq!(p.values("boundary").len(), 2);
    }
}
