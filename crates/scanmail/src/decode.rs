//! Undoing transfer encodings (base64, quoted-printable, uuencode) and writing decoded parts into
//! the article's `<id>_d/` directory.
//!
//! Decoders are lenient on purpose: a mail client that shows an attachment despite a broken
//! encoding must not meet a scanner that gave up on it. Files in `_d/` get generated names only
//! (`part001.bin`); the sender's name never becomes a path. The `index` file keeps, for each
//! generated name, the part it came from and its original name (control characters replaced).

use spool::{store, MessageId, Queue, Spool};
use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A Content-Transfer-Encoding, normalised from however the sender spelled it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Base64,
    QuotedPrintable,
    Uuencode,
    /// Unknown spelling: decoded as base64 when the body looks like base64, else kept as is.
    Unknown(String),
}

impl Encoding {
    pub fn parse(value: &str) -> Encoding {
        // Comments, quotes, spaces and case are noise that some clients forgive.
        let mut v = String::new();
        let mut depth = 0;
        for c in value.chars() {
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                _ if depth > 0 => {}
                c if c.is_alphanumeric() || c == '-' => v.push(c.to_ascii_lowercase()),
                _ => {}
            }
        }
        let compact: String = v.chars().filter(|c| *c != '-').collect();
        match compact.as_str() {
            "" | "7bit" | "8bit" | "binary" => Encoding::Identity,
            "base64" | "b64" => Encoding::Base64,
            "quotedprintable" | "qp" => Encoding::QuotedPrintable,
            "uuencode" | "xuuencode" | "xuue" | "uue" | "uu" => Encoding::Uuencode,
            _ if compact.contains("base64") => Encoding::Base64,
            _ if compact.contains("quotedprintable") => Encoding::QuotedPrintable,
            _ => Encoding::Unknown(v),
        }
    }

    pub fn is_identity(&self) -> bool {
        *self == Encoding::Identity
    }
}

/// Decode a body according to its encoding. Identity borrows: what is walked then lies in the
/// message as received, and the judge can leave it out of the rest it scans.
pub fn decode<'a>(enc: &Encoding, data: &'a [u8]) -> Cow<'a, [u8]> {
    Cow::Owned(match enc {
        Encoding::Identity => return Cow::Borrowed(data),
        Encoding::Base64 => base64_lenient(data),
        Encoding::QuotedPrintable => {
            quoted_printable::decode(data, quoted_printable::ParseMode::Robust)
                .unwrap_or_else(|_| data.to_vec())
        }
        Encoding::Uuencode => match find_uuencoded(data).into_iter().next() {
            Some(b) => b.data,
            None => data.to_vec(),
        },
        Encoding::Unknown(_) => {
            if looks_like_base64(data) {
                base64_lenient(data)
            } else {
                return Cow::Borrowed(data);
            }
        }
    })
}

fn b64_value(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        // RFC 2045's alphabet only: `-` and `_` (URL-safe base64) are skipped like any other
        // character outside it, as mail clients do.
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    })
}

/// Base64 that skips every character outside the alphabet (line breaks, spaces, stray `=` and
/// garbage), as the forgiving clients do.
pub fn base64_lenient(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 3);
    let mut acc = 0u32;
    let mut n = 0;
    for &c in data {
        let Some(v) = b64_value(c) else { continue };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

fn looks_like_base64(data: &[u8]) -> bool {
    let mut alpha = 0usize;
    for &c in data {
        if b64_value(c).is_some() || c == b'=' {
            alpha += 1;
        } else if !c.is_ascii_whitespace() {
            return false;
        }
    }
    alpha >= 4
}

/// A file found inside a text by its `begin` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UuBlock {
    pub name: String,
    pub data: Vec<u8>,
}

/// Every uuencoded (`begin 644 name`) or `begin-base64` block in a text, decoded.
pub fn find_uuencoded(text: &[u8]) -> Vec<UuBlock> {
    let mut out = Vec::new();
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    while let Some(line) = lines.next() {
        let Some((b64, name)) = begin_line(line) else {
            continue;
        };
        let mut data = Vec::new();
        let mut encoded = Vec::new();
        for l in lines.by_ref() {
            let t = l.trim_ascii_end();
            if t == b"end" || (b64 && t == b"====") {
                break;
            }
            if b64 {
                encoded.extend_from_slice(t);
            } else {
                uudecode_line(l, &mut data);
            }
        }
        if b64 {
            data = base64_lenient(&encoded);
        }
        out.push(UuBlock { name, data });
    }
    out
}

/// `begin 644 name` or `begin-base64 644 name` → (is base64, name).
fn begin_line(line: &[u8]) -> Option<(bool, String)> {
    let s = String::from_utf8_lossy(line);
    let (b64, rest) = if let Some(r) = s.strip_prefix("begin-base64 ") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("begin ") {
        (false, r)
    } else {
        return None;
    };
    let rest = rest.trim_start();
    let (mode, name) = rest.split_once([' ', '\t'])?;
    // Any octal mode (`100644`, `0755`): uudecode reads them all.
    if mode.is_empty() || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some((b64, name.to_string()))
}

fn uudecode_line(line: &[u8], out: &mut Vec<u8>) {
    let Some((&first, rest)) = line.split_first() else {
        return;
    };
    let len = (first.wrapping_sub(b' ') & 63) as usize;
    let mut got = Vec::with_capacity(len + 2);
    for quad in rest.chunks(4) {
        let v: Vec<u32> = quad
            .iter()
            .map(|&c| u32::from(c.wrapping_sub(b' ') & 63))
            .chain(std::iter::repeat(0))
            .take(4)
            .collect();
        let n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
        got.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        if got.len() >= len {
            break;
        }
    }
    got.truncate(len);
    out.extend_from_slice(&got);
}

/// Clean a sender-supplied name for the index file and log lines: control characters become
/// `?`, length is capped.
pub fn printable_name(name: &str) -> String {
    name.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The name of the index file in `_d/`.
pub const INDEX: &str = "index";

/// The `<id>_d/` directory being filled, created on the first part (by `spool::store`, which
/// owns the directory: its mode, exclusive creation, its removal).
pub struct DecodedDir {
    dir: store::DecodedDir,
    count: usize,
    index: Vec<u8>,
    files: Vec<(PathBuf, String)>,
}

impl DecodedDir {
    /// The `_d` directory of message `id` in `queue`, to be filled anew (a leftover from a
    /// crashed run is removed; the directory itself is created with the first part).
    pub fn for_message(spool: &Spool, queue: Queue, id: &MessageId) -> io::Result<DecodedDir> {
        store::DecodedDir::fresh(spool, queue, id)
            .map(DecodedDir::with)
            .map_err(spool::Error::into_io)
    }

    /// [`DecodedDir::for_message`] at a scratch path (the fuzz tests walk outside a spool).
    pub fn new(dir: &Path) -> io::Result<DecodedDir> {
        store::DecodedDir::fresh_at(dir)
            .map(DecodedDir::with)
            .map_err(spool::Error::into_io)
    }

    fn with(dir: store::DecodedDir) -> DecodedDir {
        DecodedDir {
            dir,
            count: 0,
            index: Vec::new(),
            files: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The decoded files written so far, with the part each came from.
    pub fn files(&self) -> &[(PathBuf, String)] {
        &self.files
    }

    /// Write one decoded part under a generated name; returns its path.
    pub fn write(
        &mut self,
        label: &str,
        name: &str,
        ctype: &str,
        data: &[u8],
    ) -> io::Result<PathBuf> {
        self.count += 1;
        let file = format!("part{:03}.bin", self.count);
        let mut f = self.dir.create_file(&file).map_err(spool::Error::into_io)?;
        f.write_all(data)?;
        writeln!(
            self.index,
            "{file}\t{}\t{}\t{}",
            printable_name(label),
            printable_name(ctype),
            printable_name(name)
        )?;
        let path = self.dir.path().join(&file);
        self.files
            .push((path.clone(), format!("part {}", printable_name(label))));
        Ok(path)
    }

    /// Write a file under a fixed generated name (the message, or what of it was not decoded,
    /// for the scanner); `what` says which, in the index and in verdicts.
    pub fn write_named(
        &mut self,
        file: &str,
        what: &str,
        data: &mut dyn io::Read,
    ) -> io::Result<PathBuf> {
        let mut f = self.dir.create_file(file).map_err(spool::Error::into_io)?;
        io::copy(data, &mut f)?;
        writeln!(self.index, "{file}\tmessage\tmessage/rfc822\t({what})")?;
        let path = self.dir.path().join(file);
        self.files.push((path.clone(), what.into()));
        Ok(path)
    }

    /// The index lines so far, taken out: for a message that may well be clean the index is
    /// written only when it goes to quarantine ([`write_index`]), saving a file per message.
    pub fn take_index(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.index)
    }

    /// Write the index file (when anything was decoded).
    pub fn finish(&mut self) -> io::Result<()> {
        self.dir
            .write_file(INDEX, &self.index)
            .map_err(spool::Error::into_io)
    }

    pub fn exists(&self) -> bool {
        self.dir.exists()
    }
}

/// Write an index taken with [`DecodedDir::take_index`] into the `_d` directory of message `id`;
/// Ok(false) when it is gone (a message given up after retries had its `_d` removed).
pub fn write_index(
    spool: &Spool,
    queue: Queue,
    id: &MessageId,
    index: &[u8],
) -> spool::Result<bool> {
    store::write_decoded_file(spool, queue, id, INDEX, index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn encodings_however_spelled() {
        assert_eq!(Encoding::parse("base64"), Encoding::Base64);
        assert_eq!(Encoding::parse(" BASE64 "), Encoding::Base64);
        assert_eq!(Encoding::parse("\"Base-64\""), Encoding::Base64);
        assert_eq!(Encoding::parse("base64 (really)"), Encoding::Base64);
        assert_eq!(Encoding::parse("x-base64"), Encoding::Base64);
        assert_eq!(
            Encoding::parse("Quoted-Printable"),
            Encoding::QuotedPrintable
        );
        assert_eq!(Encoding::parse("7BIT"), Encoding::Identity);
        assert_eq!(Encoding::parse("x-uuencode"), Encoding::Uuencode);
        assert!(matches!(Encoding::parse("rot13"), Encoding::Unknown(_)));
    }

    #[test]
    fn lenient_base64() {
        assert_eq!(base64_lenient(b"aGVs\nbG8g d29y*bGQ="), b"hello world");
        assert_eq!(base64_lenient(b"aGk"), b"hi");
        // `-` and `_` are not base64 digits in mail: skipped, not read as 62 and 63.
        assert_eq!(base64_lenient(b"-_aGVs_bG8="), b"hello");
        assert_eq!(
            &decode(&Encoding::Unknown("x".into()), b"aGVsbG8=\n")[..],
            b"hello"
        );
        assert_eq!(
            &decode(&Encoding::Unknown("x".into()), b"hello, world\n")[..],
            b"hello, world\n"
        );
    }

    #[test]
    fn uuencode_blocks() {
        // "hello world\n" uuencoded.
        let text = b"see attached\n\nbegin 644 evil.exe\n,:&5L;&\\@=V]R;&0*\n`\nend\nbye\n";
        let b = find_uuencoded(text);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].name, "evil.exe");
        assert_eq!(b[0].data, b"hello world\n");
        let b = find_uuencoded(b"begin-base64 600 x.vbs\naGVsbG8=\n====\n");
        assert_eq!(b[0].name, "x.vbs");
        assert_eq!(b[0].data, b"hello");
        assert!(find_uuencoded(b"begin now with the meeting\n").is_empty());
        for mode in ["100644", "0755", "7"] {
            let b = find_uuencoded(format!("begin {mode} e.exe\n`\nend\n").as_bytes());
            assert_eq!(b.len(), 1, "{mode}");
        }
    }

    #[test]
    fn decoded_dir_uses_generated_names() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("smtpdAAAAAA_d");
        let mut dd = DecodedDir::new(&d).unwrap();
        assert!(!dd.exists());
        let p = dd
            .write("1", "../../etc/passwd\0\n", "text/plain", b"x")
            .unwrap();
        dd.finish().unwrap();
        assert_eq!(p, d.join("part001.bin"));
        let index = fs::read_to_string(d.join("index")).unwrap();
        assert_eq!(index.lines().count(), 1);
        assert!(index.contains("../../etc/passwd??"), "{index}");
    }
}
