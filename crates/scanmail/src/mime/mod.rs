//! Walking a message's MIME tree, every part at every depth, to present what the pattern files are
//! matched against, and to hand decoded parts to the scanner.
//!
//! For each part the walker presents (as lines, the way `grep` saw the article's files):
//! - each header line, unfolded, as written (`Name : value`, the obsolete form with white space
//!   before the colon, is a header too: clients and ClamAV read it);
//! - every decoded name of the part as `filename=<name>` and `name=<name>`: Content-Disposition
//!   `filename` and Content-Type `name` (and each the other way round), every duplicate, with
//!   RFC 2231 (charsets, continuations) and RFC 2047 encoded words undone, trailing dots and
//!   spaces removed as Windows does, and each name also as clients save it: control characters
//!   turned into `_` and removed (a name only of control characters is a "malformed name");
//! - names of uuencoded files (`begin <any octal mode> name`) inside text parts, also
//!   base64 or quoted-printable ones, and of the members of every container a recipient can
//!   open (zip, tar, gzip, bzip2, xz, zstd, 7z, rar, cab, ISO images, TNEF; recursively, see
//!   [`crate::container`]);
//! - the real type (see [`crate::container::types`]): a Windows, ELF or Mach-O program, a
//!   script with a shebang, a shortcut, an installer or other compound file, a help file, a
//!   Java archive, a disk image is also presented as `filename=<name>.<type>` (`.exe`, `.elf`,
//!   `.macho`, `.sh`, `.lnk`, `.msi`, `.chm`, `.jar`, `.iso`, `.vhd`...), so a program called
//!   `photo.jpg` still meets the `.exe` line;
//! - a part whose bytes are a message (an attached `.eml` sent as octet-stream) is walked as
//!   `message/rfc822` is.
//!
//! Body text is never presented. Structure a client could read in more than one way (two
//! boundaries, two content types, a transfer encoding on a multipart, lines that start with the
//! boundary and go on, delimiter lines after the close delimiter, no delimiter line at all) is
//! walked under every reading and recorded in [`Analysis::ambiguous`]: the judge then also has
//! the raw message scanned whole. What cannot be seen into is recorded in [`Analysis::blind`]
//! (`message/partial`, `message/external-body`, objects larger than the scanner reads).
//! Headers are split here, and RFC 2047 words decoded here ([`decode_words`]), by hand: hostile
//! mail must not make the whole message unreadable by one broken header line, and the decoding
//! must stay linear in the input.
//!
//! The files, by role: `walker` (the walk and its readings), `headers` (splitting a header
//! section), `params` (RFC 2045/2231 parameters), `words` (RFC 2047 encoded words), `multipart`
//! (splitting at delimiter lines), `names` (the names a file name stands for), `contents`
//! (uuencoded files, containers and real types inside a part).

mod contents;
mod headers;
mod multipart;
mod names;
mod params;
mod walker;
mod words;

pub use names::clean_name;
pub use params::{parse_params, Params, MAX_PARAMS};
pub use walker::analyze;
pub use words::decode_words;

use std::collections::BTreeMap;

/// Limits against decompression and nesting bombs.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_parts: usize,
    pub max_decoded_bytes: u64,
    pub max_archive_members: usize,
    /// The largest object (decoded part, archive member) the scanner is trusted to read.
    pub max_object_bytes: u64,
    /// Presented name lines per message (memory cap).
    pub max_name_lines: usize,
}

/// Why some content of the message could not be seen into. Such content is never "clean": the
/// judge turns each into a verdict (see `judge.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlindKind {
    /// An encrypted archive member (ZipCrypto, AES, encrypted 7z/rar).
    Encrypted,
    /// A container that could not be read (unknown method, damaged, refused by the reader).
    Unreadable,
    /// An object larger than `max_object_bytes`: the scanner would skip it and say OK.
    TooLarge,
    /// `message/partial` or `message/external-body`: the content is elsewhere.
    Partial,
}

/// One piece of content the walk could not see into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blind {
    pub kind: BlindKind,
    /// The part (and member) it concerns, for the log line and the alert.
    pub part: String,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MimeError {
    /// A limit was exceeded: the message is quarantined as too complex.
    #[error("too complex: {0}")]
    TooComplex(String),
    /// Writing a decoded part failed.
    #[error("writing decoded part: {0}")]
    Io(#[from] std::io::Error),
}

/// One line presented to the pattern files, and the part it came from.
#[derive(Clone, Debug)]
pub struct Line {
    pub text: String,
    pub part: String,
}

/// What the walk found.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    pub lines: Vec<Line>,
    /// Top-level header values (decoded), by lower-case name: first occurrence.
    pub headers: BTreeMap<String, String>,
    /// Parts that are attachments: named, not text, or disposition attachment.
    pub attachments: usize,
    pub parts: usize,
    pub decoded_bytes: u64,
    /// Content that could not be seen into (never clean).
    pub blind: Vec<Blind>,
    /// Why the structure can be read in more than one way (every reading was walked; the raw
    /// message must be scanned whole too).
    pub ambiguous: Vec<String>,
    /// Byte ranges (offset, length) of the message whose content reached the sink decoded,
    /// sorted: the scanner need not read them again in the raw message.
    pub handed_over: Vec<(usize, usize)>,
    /// Names made only of control characters: (part, the name made printable). Banned as
    /// "malformed name": no client saves them under a name anyone chose.
    pub malformed_names: Vec<(String, String)>,
}

impl Analysis {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Receives each decoded leaf part that should be scanned.
///
/// Attachments and parts with a transfer encoding come here, decoded; the ranges of the message
/// their bodies came from are recorded in [`Analysis::handed_over`], so that the scanner can be
/// given the rest of the message without them (each byte read about once).
pub trait Sink {
    fn part(&mut self, label: &str, name: &str, ctype: &str, data: &[u8]) -> std::io::Result<()>;
}

/// A sink that keeps nothing (pattern checks only).
pub struct Discard;
impl Sink for Discard {
    fn part(&mut self, _: &str, _: &str, _: &str, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
}
