//! The Obtuse smtpd 2.0 spool file format.
//!
//! ```text
//! FROM <sender@example.org>
//! RCPT <first@example.com>
//! SENT <already-delivered@example.com>
//! BODY
//! <the message, LF line ends, dot-stuffing removed>
//! ```
//!
//! One `FROM` line first, then one or more `RCPT`/`SENT` lines, then exactly `BODY`. Envelope lines
//! are at most [`MAX_LINE`] bytes and hold no control characters; the body is arbitrary bytes.
//! Reading is streaming: only the envelope is read, and the reader is left at the first body byte.

use crate::error::{Error, IoContext, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Longest envelope line, including the keyword and the newline.
pub const MAX_LINE: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The address as the client sent it, with its angle brackets.
    pub addr: String,
    /// Already delivered by smtpfwdd (a `SENT` line): never sent again.
    pub sent: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The sender as the client sent it, with angle brackets; `<>` is the null sender.
    pub from: String,
    pub recipients: Vec<Recipient>,
}

impl Envelope {
    pub fn new(from: impl Into<String>, rcpts: impl IntoIterator<Item = String>) -> Self {
        Envelope {
            from: from.into(),
            recipients: rcpts
                .into_iter()
                .map(|addr| Recipient { addr, sent: false })
                .collect(),
        }
    }

    /// Recipients not yet delivered.
    pub fn pending(&self) -> impl Iterator<Item = &Recipient> {
        self.recipients.iter().filter(|r| !r.sent)
    }

    /// True for the null sender `<>` (bounces and notices: never answered with mail).
    pub fn is_null_sender(&self) -> bool {
        strip_brackets(&self.from).is_empty()
    }

    /// Check every line against the format's rules.
    pub fn validate(&self) -> Result<()> {
        check_value("sender", "FROM ", &self.from)?;
        if self.recipients.is_empty() {
            return Err(Error::Invalid {
                what: "envelope",
                value: "no recipients".into(),
            });
        }
        for r in &self.recipients {
            check_value("recipient", "RCPT ", &r.addr)?;
        }
        Ok(())
    }

    /// Write the envelope and the `BODY` line.
    pub fn write_to<W: Write>(&self, w: &mut W) -> std::io::Result<()> {
        writeln!(w, "FROM {}", self.from)?;
        for r in &self.recipients {
            let kw = if r.sent { "SENT" } else { "RCPT" };
            writeln!(w, "{kw} {}", r.addr)?;
        }
        w.write_all(b"BODY\n")
    }

    /// Read the envelope from a spool file; the reader is left at the first body byte.
    /// Returns the envelope and the body's offset in the file.
    pub fn read_from<R: BufRead>(r: &mut R, path: &Path) -> Result<(Envelope, u64)> {
        let malformed = |reason: String| Error::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let mut from: Option<String> = None;
        let mut recipients = Vec::new();
        let mut offset = 0u64;
        let mut line = Vec::with_capacity(128);
        for lineno in 1.. {
            line.clear();
            let n = r
                .by_ref()
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .at(path)?;
            if n == 0 {
                return Err(malformed(format!(
                    "no BODY line (file ends at line {lineno})"
                )));
            }
            if n > MAX_LINE {
                return Err(malformed(format!(
                    "line {lineno} longer than {MAX_LINE} bytes"
                )));
            }
            if line.last() != Some(&b'\n') {
                return Err(if n > MAX_LINE {
                    malformed(format!("line {lineno} longer than {MAX_LINE} bytes"))
                } else {
                    malformed(format!(
                        "line {lineno} truncated (no newline, no BODY line)"
                    ))
                });
            }
            offset += n as u64;
            line.pop();
            if line.iter().any(|&b| b < 0x20 || b == 0x7f) {
                return Err(malformed(format!(
                    "line {lineno} holds a control character"
                )));
            }
            let text = std::str::from_utf8(&line)
                .map_err(|_| malformed(format!("line {lineno} is not UTF-8")))?;
            if text == "BODY" {
                let from = from.ok_or_else(|| malformed("no FROM line".into()))?;
                if recipients.is_empty() {
                    return Err(malformed("no RCPT line".into()));
                }
                return Ok((Envelope { from, recipients }, offset));
            }
            // Keywords are ASCII: split on bytes only when the first five are a keyword, so a
            // multi-byte character near the start never splits inside itself.
            let (kw, value) = match text.get(..5) {
                Some(k) => (k, &text[5..]),
                None => ("", text),
            };
            match (kw, from.is_some()) {
                ("FROM ", false) if lineno == 1 && !value.is_empty() => {
                    from = Some(value.to_string())
                }
                ("RCPT ", true) | ("SENT ", true) if !value.is_empty() => {
                    recipients.push(Recipient {
                        addr: value.to_string(),
                        sent: kw == "SENT ",
                    })
                }
                _ => {
                    let shown: String = text.chars().take(40).collect();
                    return Err(malformed(format!(
                        "line {lineno}: unexpected envelope line {shown:?}"
                    )));
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// Open a spool file and read its envelope; the returned reader is positioned at the body.
    pub fn open(path: &Path) -> Result<(Envelope, BufReader<File>)> {
        let f = File::open(path).at(path)?;
        let mut r = BufReader::new(f);
        let (env, _) = Envelope::read_from(&mut r, path)?;
        Ok((env, r))
    }

    /// Read the whole body of a spool file into memory (for parsers that need it all).
    pub fn read_body(path: &Path) -> Result<(Envelope, Vec<u8>)> {
        let (env, mut r) = Envelope::open(path)?;
        let mut body = Vec::new();
        r.read_to_end(&mut body).at(path)?;
        Ok((env, body))
    }
}

/// `<a@b>` → `a@b`; anything without brackets is returned trimmed.
pub fn strip_brackets(addr: &str) -> &str {
    let a = addr.trim();
    a.strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(a)
}

fn check_value(what: &'static str, kw: &str, v: &str) -> Result<()> {
    if v.is_empty() || kw.len() + v.len() + 1 > MAX_LINE || v.bytes().any(|b| b < 0x20 || b == 0x7f)
    {
        return Err(Error::Invalid {
            what,
            value: v.chars().take(80).collect(),
        });
    }
    Ok(())
}

/// Seek a spool file's reader to the body, given the offset from [`Envelope::read_from`].
pub fn seek_body(f: &mut File, offset: u64, path: &Path) -> Result<()> {
    f.seek(SeekFrom::Start(offset)).at(path).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn parse(bytes: &[u8]) -> Result<(Envelope, u64)> {
        Envelope::read_from(&mut Cursor::new(bytes), Path::new("t"))
    }

    #[test]
    fn round_trip() {
        let mut env = Envelope::new("<a@example.org>", ["<b@example.com>".to_string()]);
        env.recipients.push(Recipient {
            addr: "<c@example.com>".into(),
            sent: true,
        });
        let mut buf = Vec::new();
        env.write_to(&mut buf).unwrap();
        buf.extend_from_slice(b"Subject: x\n\nbody\n");
        let (got, off) = parse(&buf).unwrap();
        assert_eq!(got, env);
        assert_eq!(&buf[off as usize..], b"Subject: x\n\nbody\n");
        assert_eq!(got.pending().count(), 1);
    }

    #[test]
    fn null_sender() {
        let (env, _) = parse(b"FROM <>\nRCPT <x@y>\nBODY\n").unwrap();
        assert!(env.is_null_sender());
    }

    #[test]
    fn malformed_files() {
        let cases: &[&[u8]] = &[
            b"",
            b"FROM <a@b>\n",
            b"FROM <a@b>\nRCPT <c@d>\n",
            b"FROM <a@b>\nRCPT <c@d>\nBOD",
            b"FROM <a@b>\nBODY\n",
            b"RCPT <c@d>\nBODY\n",
            b"FROM <a@b>\nFROM <a@b>\nRCPT <c@d>\nBODY\n",
            b"FROM <a@b>\nXXXX <c@d>\nBODY\n",
            b"FROM <a@b>\nRCPT <c\x01d>\nBODY\n",
            b"FROM <a@b>\nRCPT <c@d>\r\nBODY\n",
            b"FROM <a@b>\nRCPT \nBODY\n",
            b"\x00\xff\xfe garbage",
            b"body first\nFROM <a@b>\n",
            b"FROM \nSENT\xc3\xa9\n",
            b"FROM \nRCPT <\nBODY\n",
        ];
        for c in cases {
            match parse(c) {
                Err(Error::Malformed { .. }) => {}
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(c)),
            }
        }
    }

    #[test]
    fn long_line_is_malformed_without_reading_on() {
        let mut f = b"FROM <".to_vec();
        f.extend(std::iter::repeat_n(b'a', 5000));
        f.extend_from_slice(b">\nRCPT <x@y>\nBODY\n");
        let err = parse(&f).unwrap_err().to_string();
        assert!(err.contains("longer than"), "{err}");
    }

    #[test]
    fn reader_and_validate_agree_on_the_longest_line() {
        // A line of exactly MAX_LINE bytes (newline included) is the longest either accepts.
        for len in [MAX_LINE - 1, MAX_LINE, MAX_LINE + 1] {
            let addr = format!("<{}>", "a".repeat(len - "FROM <>\n".len()));
            let file = format!("FROM {addr}\nRCPT <x@y>\nBODY\n");
            let read = parse(file.as_bytes());
            let env = Envelope::new(addr, ["<x@y>".to_string()]);
            assert_eq!(read.is_ok(), env.validate().is_ok(), "line of {len} bytes");
            assert_eq!(read.is_ok(), len <= MAX_LINE, "line of {len} bytes");
        }
    }

    #[test]
    fn validate_refuses_control_characters() {
        let env = Envelope::new("<a@b>", ["<x@y>\nRCPT <evil@z>".to_string()]);
        assert!(env.validate().is_err());
        let env = Envelope::new("<a@b>", Vec::<String>::new());
        assert!(env.validate().is_err());
        let env = Envelope::new(format!("<{}>", "a".repeat(1000)), ["<x@y>".to_string()]);
        assert!(env.validate().is_err());
        assert_eq!(strip_brackets(" <a@b> "), "a@b");
    }
}
