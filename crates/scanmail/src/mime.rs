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
//! Headers are split here (mailparse decodes the RFC 2047 words): hostile mail must not make the
//! whole message unreadable by one broken header line.

use crate::container;
use crate::decode::{self, Encoding};
use std::collections::BTreeMap;

/// Parameters in one Content-Type or Content-Disposition header, at most (real mail has a few;
/// a long name split by RFC 2231 some dozens).
pub const MAX_PARAMS: usize = 1000;

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

/// Walk a message (headers + body, as after `BODY` in the spool file).
pub fn analyze(raw: &[u8], limits: &Limits, sink: &mut dyn Sink) -> Result<Analysis, MimeError> {
    let mut w = Walker {
        limits,
        sink,
        out: Analysis::default(),
        members: 0,
        lines_capped: false,
        raw: (raw.as_ptr() as usize, raw.len()),
    };
    w.entity(raw, 0, "0".into(), "text/plain", true)?;
    w.lines_left()?;
    w.out.handed_over.sort_unstable();
    Ok(w.out)
}

struct Walker<'a> {
    limits: &'a Limits,
    sink: &'a mut dyn Sink,
    out: Analysis,
    members: usize,
    /// More name lines were offered than `max_name_lines`; the rest were dropped.
    lines_capped: bool,
    /// Where the message being walked lies in memory (address, length): bodies inside it that
    /// were handed to the sink decoded are recorded by their offsets.
    raw: (usize, usize),
}

/// What every reading of one part shares.
struct Part<'a> {
    depth: usize,
    label: &'a str,
    top: bool,
    names: &'a [String],
    attachment_disp: bool,
}

/// The label of a part's k-th child (1-based): `k` at the top, `label.k` below.
fn child_label(label: &str, top: bool, k: usize) -> String {
    if top {
        format!("{k}")
    } else {
        format!("{label}.{k}")
    }
}

/// A header: name and unfolded raw value.
struct Header {
    name: String,
    value: String,
}

impl Walker<'_> {
    fn push(&mut self, text: String, part: &str) {
        if self.out.lines.len() >= self.limits.max_name_lines {
            self.lines_capped = true;
            return;
        }
        self.out.lines.push(Line {
            text,
            part: part.to_string(),
        });
    }

    fn push_name(&mut self, name: &str, part: &str) {
        if !name.is_empty()
            && name.chars().any(char::is_control)
            && name.chars().all(|c| c.is_control() || c.is_whitespace())
            && self.out.malformed_names.len() < 100
        {
            self.out
                .malformed_names
                .push((part.to_string(), decode::printable_name(name)));
        }
        for n in name_variants(name) {
            self.push(format!("filename={n}"), part);
            self.push(format!("name={n}"), part);
        }
    }

    /// Record content that could not be seen into.
    fn blind(&mut self, kind: BlindKind, part: &str, detail: impl Into<String>) {
        self.out.blind.push(Blind {
            kind,
            part: part.to_string(),
            detail: detail.into(),
        });
    }

    fn count_bytes(&mut self, n: usize) -> Result<(), MimeError> {
        self.out.decoded_bytes += n as u64;
        if self.out.decoded_bytes > self.limits.max_decoded_bytes {
            return Err(MimeError::TooComplex(format!(
                "more than {} decoded bytes",
                self.limits.max_decoded_bytes
            )));
        }
        Ok(())
    }

    fn entity(
        &mut self,
        data: &[u8],
        depth: usize,
        label: String,
        default_type: &str,
        top: bool,
    ) -> Result<(), MimeError> {
        if depth > self.limits.max_depth {
            return Err(MimeError::TooComplex(format!(
                "nested deeper than {}",
                self.limits.max_depth
            )));
        }
        self.out.parts += 1;
        if self.out.parts > self.limits.max_parts {
            return Err(MimeError::TooComplex(format!(
                "more than {} parts",
                self.limits.max_parts
            )));
        }
        self.lines_left()?;
        let (headers, body) = split_headers(data);
        for h in &headers {
            self.push(format!("{}: {}", h.name, h.value), &label);
            if top {
                self.out
                    .headers
                    .entry(h.name.to_ascii_lowercase())
                    .or_insert_with(|| decode_words(h.value.trim()));
            }
        }
        self.lines_left()?;
        let get_all = |n: &str| -> Vec<&Header> {
            headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(n))
                .collect()
        };

        // Memory: a header of a hundred thousand parameters would cost tens of bytes of
        // bookkeeping per byte before the cap on name lines is reached.
        for h in headers.iter().filter(|h| {
            h.name.eq_ignore_ascii_case("content-type")
                || h.name.eq_ignore_ascii_case("content-disposition")
        }) {
            if h.value.bytes().filter(|&b| b == b';').count() > MAX_PARAMS {
                return Err(MimeError::TooComplex(format!(
                    "part {label}: more than {MAX_PARAMS} parameters in one {} header",
                    h.name
                )));
            }
        }
        // Every Content-Type a client could take: several headers that disagree are each
        // judged (one client takes the first, another the last).
        let mut readings: Vec<(String, Params)> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for ct in get_all("content-type") {
            let (t, p) = parse_params(&ct.value);
            // Names from every header, also from those that read the same as another.
            names.extend(p.values("name"));
            names.extend(p.values("filename"));
            let t = if t.contains('/') {
                t
            } else {
                default_type.to_string()
            };
            if !readings
                .iter()
                .any(|(t0, p0)| *t0 == t && p0.values("boundary") == p.values("boundary"))
            {
                readings.push((t, p));
            }
        }
        if readings.len() > 1 {
            self.ambiguous(format!("part {label}: different Content-Type headers"));
        }
        if readings.is_empty() {
            readings.push((default_type.to_string(), Params::default()));
        }
        let mut attachment_disp = false;
        for cd in get_all("content-disposition") {
            let (disp, p) = parse_params(&cd.value);
            attachment_disp |= disp == "attachment";
            names.extend(p.values("filename"));
            names.extend(p.values("name"));
        }
        let names = dedup(names);
        for n in &names {
            self.push_name(n, &label);
        }
        self.lines_left()?;
        let mut encodings: Vec<Encoding> = Vec::new();
        for h in get_all("content-transfer-encoding") {
            let e = Encoding::parse(&h.value);
            if !encodings.contains(&e) {
                encodings.push(e);
            }
        }
        if encodings.len() > 1 {
            self.ambiguous(format!(
                "part {label}: different Content-Transfer-Encoding headers"
            ));
        }
        if encodings.is_empty() {
            encodings.push(Encoding::Identity);
        }
        let part = Part {
            depth,
            label: &label,
            top,
            names: &names,
            attachment_disp,
        };
        for (mimetype, params) in &readings {
            for encoding in &encodings {
                self.reading(&part, body, mimetype, params, encoding)?;
            }
        }
        Ok(())
    }

    /// One reading of a part's body: under one Content-Type and one transfer encoding.
    fn reading(
        &mut self,
        part: &Part,
        body: &[u8],
        mimetype: &str,
        params: &Params,
        encoding: &Encoding,
    ) -> Result<(), MimeError> {
        let (depth, label, top) = (part.depth, part.label, part.top);
        let mut mimetype = mimetype.to_string();
        if mimetype.starts_with("multipart/") {
            if self.multipart(part, body, &mimetype, params, encoding)? {
                return Ok(());
            }
            // No boundary, or no boundary line: a client shows the body as one text part.
            mimetype = "text/plain".into();
        }

        let decoded = decode::decode(encoding, body);
        self.count_bytes(decoded.len())?;

        if mimetype == "message/rfc822" || mimetype == "message/global" {
            self.out.attachments += 1;
            return self.entity(
                &decoded,
                depth + 1,
                child_label(label, top, 1),
                "text/plain",
                false,
            );
        }
        if mimetype == "message/partial" || mimetype == "message/external-body" {
            // The content is elsewhere (later fragments, a URL): never clean. What is here is
            // still walked for names (the first fragment holds the enclosed message's headers).
            self.out.attachments += 1;
            self.blind(
                BlindKind::Partial,
                label,
                format!("{mimetype}: the content is not in this message"),
            );
            return self.entity(
                &decoded,
                depth + 1,
                child_label(label, top, 1),
                "text/plain",
                false,
            );
        }

        let names = part.names;
        let is_text = mimetype.starts_with("text/");
        let attachment = !names.is_empty() || !is_text || part.attachment_disp;
        if attachment {
            self.out.attachments += 1;
        }
        let shown = names
            .first()
            .map(|n| clean_name(n))
            .unwrap_or_else(|| format!("part{label}"));
        let part_desc = if names.is_empty() {
            label.to_string()
        } else {
            format!("{label} ({})", decode::printable_name(&shown))
        };
        self.zip(&decoded, depth + 1, &part_desc)?;
        self.sniff(&decoded, &shown, attachment, &part_desc);
        if is_text {
            self.text_extras(&decoded, depth, &part_desc)?;
        }
        // An attached message saved as a file opens in the mail client: walk it as one.
        if (attachment && !is_text || !names.is_empty()) && looks_like_message(&decoded) {
            self.entity(
                &decoded,
                depth + 1,
                child_label(label, top, 1),
                "text/plain",
                false,
            )?;
        }
        if (attachment || !encoding.is_identity())
            && self.object(&part_desc, &shown, &mimetype, &decoded)?
        {
            self.handed_over(body);
        }
        Ok(())
    }

    /// A multipart body, under every boundary and every split a client could make. False when
    /// no reading found a boundary line (the body is then read as text).
    fn multipart(
        &mut self,
        part: &Part,
        body: &[u8],
        mimetype: &str,
        params: &Params,
        encoding: &Encoding,
    ) -> Result<bool, MimeError> {
        let (depth, label, top) = (part.depth, part.label, part.top);
        let boundaries = params.values("boundary");
        if boundaries.is_empty() {
            self.ambiguous(format!("part {label}: multipart without a boundary"));
            return Ok(false);
        }
        if boundaries.len() > 1 {
            self.ambiguous(format!(
                "part {label}: {} different boundary= parameters",
                boundaries.len()
            ));
        }
        // RFC 2045 forbids a transfer encoding on a multipart; some clients apply it anyway.
        let mut bodies: Vec<std::borrow::Cow<[u8]>> = vec![body.into()];
        if !encoding.is_identity() {
            self.ambiguous(format!("part {label}: multipart with a transfer encoding"));
            let d = decode::decode(encoding, body);
            self.count_bytes(d.len())?;
            bodies.push(d);
        }
        let child_type = if mimetype == "multipart/digest" {
            "message/rfc822"
        } else {
            "text/plain"
        };
        let mut split_any = false;
        for b in &bodies {
            for boundary in &boundaries {
                let split = match split_multipart(b, boundary.as_bytes()) {
                    Ok(s) => s,
                    Err(why) => {
                        self.ambiguous(format!("part {label}: {why}"));
                        continue;
                    }
                };
                split_any = true;
                // Preamble and epilogue are text a client may show: uuencoded files count.
                self.text_extras(split.preamble, depth, label)?;
                self.text_extras(split.epilogue, depth, label)?;
                for (k, p) in split.parts.iter().enumerate() {
                    self.entity(
                        p,
                        depth + 1,
                        child_label(label, top, k + 1),
                        child_type,
                        false,
                    )?;
                }
                if let Some(why) = split.odd {
                    // Another client splits elsewhere: the parts only that reading has.
                    self.ambiguous(format!("part {label}: {why}"));
                    let n = split.parts.len();
                    let extra = split.lenient.iter().filter(|p| {
                        !split
                            .parts
                            .iter()
                            .any(|q| q.as_ptr() == p.as_ptr() && q.len() == p.len())
                    });
                    for (k, p) in extra.enumerate() {
                        let child = child_label(label, top, n + k + 1);
                        self.entity(p, depth + 1, child, child_type, false)?;
                    }
                }
            }
        }
        Ok(split_any)
    }

    /// Hand one decoded object to the scanner, unless it is larger than the scanner reads
    /// (then false).
    fn object(
        &mut self,
        part: &str,
        name: &str,
        ctype: &str,
        data: &[u8],
    ) -> Result<bool, MimeError> {
        if data.len() as u64 > self.limits.max_object_bytes {
            self.blind(
                BlindKind::TooLarge,
                part,
                format!(
                    "{} bytes decoded, more than the scanner reads ({})",
                    data.len(),
                    self.limits.max_object_bytes
                ),
            );
            return Ok(false);
        }
        self.sink.part(part, name, ctype, data)?;
        Ok(true)
    }

    /// Record that `body` (when it lies in the message as received) reached the scanner decoded.
    fn handed_over(&mut self, body: &[u8]) {
        let (start, len) = self.raw;
        let at = body.as_ptr() as usize;
        if at >= start && at + body.len() <= start + len && !body.is_empty() {
            self.out.handed_over.push((at - start, body.len()));
        }
    }

    /// The structure can be read in more than one way: every reading is walked, and the raw
    /// message is scanned whole as well.
    fn ambiguous(&mut self, why: String) {
        if self.out.ambiguous.len() < 20 && !self.out.ambiguous.contains(&why) {
            self.out.ambiguous.push(why);
        }
    }

    /// Past the cap on presented name lines the message is too complex (memory).
    fn lines_left(&self) -> Result<(), MimeError> {
        if self.lines_capped {
            return Err(MimeError::TooComplex(format!(
                "more than {} presented name lines",
                self.limits.max_name_lines
            )));
        }
        Ok(())
    }

    /// Present a part's real type (see [`container::types`]) as `filename=<name>.<type>`; a
    /// `#!` script only when it is an attachment (a text body may start with `#!`).
    fn sniff(&mut self, data: &[u8], name: &str, attachment: bool, part: &str) {
        for t in container::types::real_types(data) {
            if t == "sh" && !attachment {
                continue;
            }
            let n = format!("{name}.{t}");
            self.push(format!("filename={n}"), part);
            self.push(format!("name={n}"), part);
        }
    }

    /// uuencoded files inside a text.
    fn text_extras(&mut self, text: &[u8], depth: usize, part: &str) -> Result<(), MimeError> {
        if !contains_begin(text) {
            return Ok(());
        }
        for b in decode::find_uuencoded(text) {
            self.out.parts += 1;
            if self.out.parts > self.limits.max_parts {
                return Err(MimeError::TooComplex(format!(
                    "more than {} parts",
                    self.limits.max_parts
                )));
            }
            self.count_bytes(b.data.len())?;
            self.out.attachments += 1;
            let desc = format!("{part} uuencoded ({})", decode::printable_name(&b.name));
            self.push_name(&b.name, &desc);
            let clean = clean_name(&b.name);
            self.zip(&b.data, depth + 1, &desc)?;
            self.sniff(&b.data, &clean, true, &desc);
            self.object(&desc, &b.name, "application/octet-stream", &b.data)?;
        }
        Ok(())
    }

    /// Look inside a container (archive, compressed file, disk image, TNEF; see
    /// [`container`]), recursively: every member name is presented, every member's real type
    /// sniffed, members that are containers opened in turn, and members the scanner cannot see
    /// inside their container handed to it. What cannot be seen into (encrypted, too large,
    /// unreadable) is recorded in [`Analysis::blind`], never passed over.
    fn zip(&mut self, data: &[u8], depth: usize, part: &str) -> Result<(), MimeError> {
        let Some(format) = container::detect(data) else {
            return Ok(());
        };
        if depth > self.limits.max_depth {
            return Err(MimeError::TooComplex(format!(
                "archives nested deeper than {}",
                self.limits.max_depth
            )));
        }
        let lim = container::Limits {
            max_object_bytes: self.limits.max_object_bytes,
            budget: self
                .limits
                .max_decoded_bytes
                .saturating_sub(self.out.decoded_bytes),
            max_members: self.limits.max_archive_members.saturating_sub(self.members),
        };
        let mut failed = None;
        let status = container::list(format, data, &lim, &mut |m| {
            self.member(format, m, depth, part).map_err(|e| {
                failed = Some(e);
                container::Halt::Visitor
            })
        });
        let what = format.as_str();
        match status {
            Ok(container::Status::Complete) => Ok(()),
            Ok(container::Status::Unreadable(why)) => {
                self.blind(
                    BlindKind::Unreadable,
                    part,
                    format!("unreadable archive ({what}): {why}"),
                );
                Ok(())
            }
            Ok(container::Status::Encrypted) => {
                self.blind(
                    BlindKind::Encrypted,
                    part,
                    format!("encrypted {what} (even the names)"),
                );
                Ok(())
            }
            Err(container::Halt::TooComplex(why)) => Err(MimeError::TooComplex(why)),
            Err(container::Halt::Visitor) => {
                Err(failed
                    .unwrap_or_else(|| MimeError::TooComplex("archive listing stopped".into())))
            }
        }
    }

    /// One member of a container.
    fn member(
        &mut self,
        format: container::Format,
        m: container::Member,
        depth: usize,
        part: &str,
    ) -> Result<(), MimeError> {
        self.members += 1;
        if self.members > self.limits.max_archive_members {
            return Err(MimeError::TooComplex(format!(
                "more than {} archive members",
                self.limits.max_archive_members
            )));
        }
        let what = format.as_str();
        let (desc, shown) = if m.name.is_empty() {
            (format!("{part} {what} content"), "unnamed".to_string())
        } else {
            let desc = format!("{part} member {}", decode::printable_name(&m.name));
            self.push_name(&m.name, &desc);
            (desc, clean_name(&m.name))
        };
        match m.body {
            container::Body::Empty => {}
            container::Body::Encrypted => {
                self.blind(
                    BlindKind::Encrypted,
                    &desc,
                    format!("encrypted {what} member"),
                );
            }
            container::Body::TooLarge(n) => {
                self.blind(
                    BlindKind::TooLarge,
                    &desc,
                    format!(
                        "{what} member of {n} bytes or more, past max_object_bytes ({})",
                        self.limits.max_object_bytes
                    ),
                );
            }
            container::Body::Unreadable(why) => {
                self.blind(
                    BlindKind::Unreadable,
                    &desc,
                    format!("unreadable archive member ({what}): {why}"),
                );
            }
            container::Body::Head(head) => {
                self.count_bytes(head.len())?;
                self.sniff(&head, &shown, true, &desc);
            }
            container::Body::Data(data) => {
                self.count_bytes(data.len())?;
                self.zip(&data, depth + 1, &desc)?;
                self.sniff(&data, &shown, true, &desc);
                if m.scan {
                    self.sink
                        .part(&desc, &shown, "application/octet-stream", &data)?;
                }
            }
        }
        Ok(())
    }
}

fn contains_begin(text: &[u8]) -> bool {
    text.starts_with(b"begin") || text.windows(6).any(|w| w == b"\nbegin")
}

/// Windows drops trailing dots and spaces from file names: `evil.exe. .` is `evil.exe`.
pub fn clean_name(name: &str) -> String {
    name.trim_end_matches(['.', ' ', '\t']).to_string()
}

/// The names to present for one sender-supplied name, each as a client could save it: as
/// written; with control characters turned into `_` (what most clients and file systems do) and
/// with them removed (what others do); the part before a NUL (what C-string clients see); and the
/// last component of a name decoded into a path. Trailing dots and spaces are removed from each.
fn name_variants(name: &str) -> Vec<String> {
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

/// True when the bytes start like a message: a header section (ending in an empty line) whose
/// first line is a header and which holds a header every message has. Only the first 8 KB are
/// looked at.
fn looks_like_message(data: &[u8]) -> bool {
    const KNOWN: &[&str] = &[
        "from",
        "to",
        "subject",
        "date",
        "received",
        "return-path",
        "message-id",
        "mime-version",
        "content-type",
    ];
    let head = &data[..data.len().min(8192)];
    let mut known = false;
    for (i, line) in head.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return known && i > 0;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if i == 0 {
                return false;
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return false;
        };
        let name = line[..colon].trim_ascii_end();
        if name.is_empty() || !name.iter().all(|&b| b.is_ascii_graphic()) {
            return false;
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        known |= KNOWN.contains(&name.as_str());
    }
    false
}

/// Split a part into headers (unfolded) and body. The header section ends at the first empty
/// line; a line that is neither a header nor a continuation is kept as a nameless header.
fn split_headers(data: &[u8]) -> (Vec<Header>, &[u8]) {
    let mut headers: Vec<Header> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let end = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i + 1)
            .unwrap_or(data.len());
        let line = &data[pos..end];
        let content = line
            .strip_suffix(b"\n")
            .unwrap_or(line)
            .strip_suffix(b"\r")
            .unwrap_or_else(|| line.strip_suffix(b"\n").unwrap_or(line));
        if content.is_empty() {
            return (headers, &data[end..]);
        }
        let text = String::from_utf8_lossy(content);
        if (content[0] == b' ' || content[0] == b'\t') && !headers.is_empty() {
            // Unfolding removes only the line break.
            headers.last_mut().expect("not empty").value.push_str(&text);
        } else {
            // Obsolete syntax (RFC 5322 section 4.5.5) that clients and ClamAV still read: white
            // space between the name and the colon.
            match text
                .split_once(':')
                .map(|(n, v)| (n.trim_end_matches([' ', '\t']), v))
            {
                Some((n, v)) if !n.is_empty() && !n.contains([' ', '\t']) => headers.push(Header {
                    name: n.to_string(),
                    value: v.strip_prefix(' ').unwrap_or(v).to_string(),
                }),
                _ => headers.push(Header {
                    name: String::new(),
                    value: text.into_owned(),
                }),
            }
        }
        pos = end;
    }
    (headers, &data[data.len()..])
}

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
fn dedup(values: Vec<String>) -> Vec<String> {
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

/// Undo RFC 2047 encoded words (`=?charset?B|Q?text?=`) wherever they stand, as the lenient
/// clients do: also inside words and quoted strings, with white space between two adjacent encoded
/// words dropped. A word with an unknown charset or encoding is kept as written.
///
/// Linear in the input on purpose: a general-purpose decoder that looks for the end of every
/// `=?` to the end of the line takes seconds on a hostile header of a few hundred kilobytes
/// (found by tests/fuzz_mime.rs). Encoded text cannot contain `?`, so each `=?` is only
/// followed up to the next three question marks.
pub fn decode_words(v: &str) -> String {
    if !v.contains("=?") {
        return v.to_string();
    }
    let b = v.as_bytes();
    let mut out = String::with_capacity(v.len());
    // Start of text not yet copied, and where the last decoded word ended (for the white space
    // rule).
    let mut copied = 0;
    let mut last_word_end: Option<usize> = None;
    let mut i = 0;
    while i + 1 < b.len() {
        if !(b[i] == b'=' && b[i + 1] == b'?') {
            i += 1;
            continue;
        }
        let Some((end, text)) = encoded_word(v, i) else {
            i += 1;
            continue;
        };
        let between = &v[copied..i];
        let adjacent = last_word_end == Some(copied) && between.trim().is_empty();
        if !adjacent {
            out.push_str(between);
        }
        out.push_str(&text);
        copied = end;
        last_word_end = Some(end);
        i = end;
    }
    out.push_str(&v[copied..]);
    out
}

/// The encoded word starting at `start` (at `=?`): its end and decoded text.
fn encoded_word(v: &str, start: usize) -> Option<(usize, String)> {
    let b = v.as_bytes();
    let cs_start = start + 2;
    let q1 = cs_start + b[cs_start..].iter().position(|&c| c == b'?')?;
    let charset = &v[cs_start..q1];
    if charset.is_empty() || charset.len() > 64 || charset.bytes().any(|c| c <= b' ') {
        return None;
    }
    let enc = *b.get(q1 + 1)?;
    if b.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let t_start = q1 + 3;
    let q3 = t_start + b[t_start..].iter().position(|&c| c == b'?')?;
    if b.get(q3 + 1) != Some(&b'=') {
        return None;
    }
    let text = &b[t_start..q3];
    let bytes = match enc {
        b'B' | b'b' => decode::base64_lenient(text),
        b'Q' | b'q' => q_decode(text),
        _ => return None,
    };
    // RFC 2231 section 5: `charset*language`.
    let label = charset.split('*').next().unwrap_or(charset);
    let cs = charset::Charset::for_label_no_replacement(label.as_bytes())?;
    let (decoded, _) = cs.decode_without_bom_handling(&bytes);
    Some((q3 + 2, decoded.into_owned()))
}

/// The `Q` encoding: `_` is a space, `=XX` a byte; anything else stands for itself.
fn q_decode(text: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' if i + 2 < text.len() => match (hex(text[i + 1]), hex(text[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'='),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// The parts of a multipart body.
struct Multipart<'a> {
    preamble: &'a [u8],
    /// The parts as RFC 2046 reads them: between delimiter lines, up to the close delimiter.
    parts: Vec<&'a [u8]>,
    epilogue: &'a [u8],
    /// Why another client could split the body elsewhere; the parts of that reading are in
    /// `lenient`.
    odd: Option<String>,
    /// Every line that starts with the delimiter ends a part, also after the close delimiter.
    lenient: Vec<&'a [u8]>,
}

/// Split at delimiter lines `--boundary` (optionally `--boundary--`, trailing white space). A
/// missing close delimiter ends the last part at the end of the data, as clients do. Lines that
/// start with the delimiter but go on (some clients split there) and delimiter lines after the
/// close delimiter (Outlook Express for Mac reuses a boundary in a nested multipart) make a
/// second, lenient reading. Err when there is no delimiter line at all.
fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Result<Multipart<'a>, String> {
    if boundary.is_empty() || boundary.len() > 200 {
        return Err("invalid boundary".into());
    }
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    // Strict delimiter lines (line start, next line, closing) up to the first close; every
    // line starting with the delimiter for the lenient reading.
    let mut starts: Vec<(usize, usize, bool)> = Vec::new();
    let mut loose: Vec<(usize, usize, bool)> = Vec::new();
    let mut closed = false;
    let mut odd: Option<String> = None;
    let mut pos = 0;
    while pos < body.len() {
        let end = body[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i + 1)
            .unwrap_or(body.len());
        let line = &body[pos..end];
        if line.starts_with(&delim) {
            let rest = &line[delim.len()..];
            let (closing, rest) = match rest.strip_prefix(b"--") {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let exact = rest.iter().all(|b| b.is_ascii_whitespace());
            loose.push((pos, end, closing && exact));
            if !exact && odd.is_none() {
                odd = Some(format!(
                    "a line starts with the boundary but goes on: {:?}",
                    String::from_utf8_lossy(&line[..line.len().min(80)])
                ));
            }
            if exact && closed && odd.is_none() {
                odd = Some("boundary lines after the close delimiter".into());
            }
            if exact && !closed {
                starts.push((pos, end, closing));
                closed = closing;
            }
        }
        pos = end;
    }
    let Some(&(first, _, _)) = starts.first() else {
        return Err("no boundary line".into());
    };
    let trim_eol = |s: &'a [u8]| -> &'a [u8] {
        let s = s.strip_suffix(b"\n").unwrap_or(s);
        s.strip_suffix(b"\r").unwrap_or(s)
    };
    let segments = |lines: &[(usize, usize, bool)]| -> Vec<&'a [u8]> {
        let mut parts = Vec::new();
        for w in 0..lines.len() {
            let (_, body_start, closing) = lines[w];
            if closing && w + 1 == lines.len() {
                break;
            }
            let end = lines.get(w + 1).map(|s| s.0).unwrap_or(body.len());
            let part = &body[body_start..end];
            parts.push(if w + 1 < lines.len() {
                trim_eol(part)
            } else {
                part
            });
        }
        parts
    };
    // Strict: stop at the close delimiter.
    let strict_lines: Vec<(usize, usize, bool)> = starts.clone();
    let mut parts = Vec::new();
    for w in 0..strict_lines.len() {
        let (_, body_start, closing) = strict_lines[w];
        if closing {
            break;
        }
        let end = strict_lines.get(w + 1).map(|s| s.0).unwrap_or(body.len());
        let part = &body[body_start..end];
        parts.push(if w + 1 < strict_lines.len() {
            trim_eol(part)
        } else {
            part
        });
    }
    let epilogue = match starts.last() {
        Some(&(_, e, true)) => &body[e..],
        _ => &body[body.len()..],
    };
    let lenient = if odd.is_some() {
        segments(&loose)
            .into_iter()
            .filter(|p| !p.iter().all(u8::is_ascii_whitespace))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Multipart {
        preamble: &body[..first],
        parts,
        epilogue,
        odd,
        lenient,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_depth: 20,
            max_parts: 1000,
            max_decoded_bytes: 10 << 20,
            max_archive_members: 1000,
            max_object_bytes: 20 << 20,
            max_name_lines: 100_000,
        }
    }

    fn lines(raw: &str) -> Vec<String> {
        analyze(raw.as_bytes(), &limits(), &mut Discard)
            .unwrap()
            .lines
            .into_iter()
            .map(|l| l.text)
            .collect()
    }

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

    #[test]
    fn names_and_headers_are_presented_body_is_not() {
        let l = lines(
            "Subject: hi\nContent-Type: multipart/mixed;\n\tboundary=\"b1\"\n\n\
             --b1\nContent-Type: text/plain\n\nfilename=setup.exe in the text\n\
             --b1\nContent-Type: application/octet-stream;\n name=\"EVIL.EXE. . \"\n\nabc\n--b1--\n",
        );
        assert!(
            l.contains(&"Content-Type: multipart/mixed;\tboundary=\"b1\"".to_string()),
            "{l:?}"
        );
        assert!(l.contains(&"filename=EVIL.EXE".to_string()), "{l:?}");
        assert!(l.contains(&"name=EVIL.EXE".to_string()), "{l:?}");
        assert!(!l.iter().any(|x| x.contains("setup.exe")), "{l:?}");
    }

    #[test]
    fn encoded_words() {
        assert_eq!(decode_words("=?utf-8?B?ZXZpbC5leGU=?="), "evil.exe");
        assert_eq!(
            decode_words("=?iso-8859-1?q?caf=E9_au_lait?="),
            "café au lait"
        );
        assert_eq!(
            decode_words("a =?utf-8?B?Yg==?= \t =?utf-8?Q?c?= d"),
            "a bc d"
        );
        assert_eq!(decode_words("x=?utf-8?B?LmV4ZQ==?="), "x.exe");
        assert_eq!(decode_words("=?utf-8*en?Q?a?="), "a");
        // Kept as written: unknown charset or encoding, unfinished words.
        for v in [
            "=?x-nope?B?YQ==?=",
            "=?utf-8?X?a?=",
            "=?utf-8?B?YQ==",
            "=?",
            "a=?b",
            "=??=",
        ] {
            assert_eq!(decode_words(v), v);
        }
        assert_eq!(decode_words("=?=?utf-8?Q?a=3?="), "=?a=3");
    }

    #[test]
    fn hostile_encoded_words_take_linear_time() {
        let t = std::time::Instant::now();
        for piece in [
            "bob@exa=?unknown-charset?",
            "=?utf-8?B?YQ==?= ",
            "=?",
            "=?a?",
        ] {
            let v = piece.repeat(200_000 / piece.len());
            decode_words(&v);
        }
        // Quadratic work on 800 KB would take minutes in a debug build.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn parameter_floods_take_linear_time() {
        // Below the parameter cap, many headers.
        let mut h = String::new();
        for i in 0..300 {
            h.push_str("Content-Type: application/octet-stream");
            for k in 0..MAX_PARAMS / 2 {
                h.push_str(&format!("; name=n{i}x{k}; filename*{k}=x"));
            }
            h.push('\n');
        }
        h.push_str("\nbody\n");
        let t = std::time::Instant::now();
        let mut l = limits();
        l.max_name_lines = 10_000_000;
        let a = analyze(h.as_bytes(), &l, &mut Discard).unwrap();
        assert!(a.lines.len() > 100_000);
        // Past it: too complex, at once.
        let flood = format!(
            "Content-Type: a/b{}\n\nx\n",
            "; name=n".repeat(MAX_PARAMS + 1)
        );
        let r = analyze(flood.as_bytes(), &limits(), &mut Discard);
        assert!(matches!(r, Err(MimeError::TooComplex(_))), "{r:?}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
    }

    fn names(raw: &str) -> Vec<String> {
        lines(raw)
            .into_iter()
            .filter_map(|l| l.strip_prefix("filename=").map(String::from))
            .collect()
    }

    #[test]
    fn ambiguous_structure_is_walked_under_every_reading() {
        for raw in [
            "Content-Type: multipart/mixed; boundary=a; boundary=b\n\n--a\n\nx\n--b\nContent-Type: a/b; name=n.exe\n\nx\n--b--\n--a--\n",
            "Content-Type: multipart/mixed; boundary=a\n\n--a\n\nx\n--ab\nContent-Type: a/b; name=n.exe\n\ny\n--a--\n",
            "Content-Type: text/plain\nContent-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: a/b; name=n.exe\n\nx\n--a--\n",
            "Content-Type: multipart/mixed; boundary=a\n\n--a\n\nx\n--a--\n--a\nContent-Type: a/b; name=n.exe\n\nx\n--a--\n",
        ] {
            let a = analyze(raw.as_bytes(), &limits(), &mut Discard).unwrap();
            assert!(!a.ambiguous.is_empty(), "{raw}");
            assert!(names(raw).contains(&"n.exe".to_string()), "{raw}");
        }
        let plain = "Content-Type: multipart/mixed; boundary=a\n\n--a\n\nx\n--a--\n";
        let a = analyze(plain.as_bytes(), &limits(), &mut Discard).unwrap();
        assert!(a.ambiguous.is_empty(), "{:?}", a.ambiguous);
    }

    #[test]
    fn control_characters_in_names() {
        let n = names("Content-Type: a/b; name*=utf-8''x%0Aevil.exe%0D\n\nx\n");
        for want in ["x_evil.exe_", "xevil.exe"] {
            assert!(n.contains(&want.to_string()), "{n:?}");
        }
        let a = analyze(
            b"Content-Type: a/b; name*=utf-8''%0A%09\n\nx\n",
            &limits(),
            &mut Discard,
        )
        .unwrap();
        assert_eq!(a.malformed_names.len(), 1, "{a:?}");
    }

    #[test]
    fn names_from_every_header() {
        let n = names(
            "Content-Type: a/b; name=a.txt\nContent-Type: a/b; name=b.exe\n\
             Content-Disposition: attachment; filename=c.txt\nContent-Disposition: inline; filename=d.exe\n\nx\n",
        );
        for want in ["a.txt", "b.exe", "c.txt", "d.exe"] {
            assert!(n.contains(&want.to_string()), "{n:?}");
        }
    }

    #[test]
    fn white_space_before_the_colon() {
        let n = names("Content-Type : multipart/mixed; boundary=a\n\n--a\nContent-Disposition\t: attachment; filename=x.exe\n\nx\n--a--\n");
        assert_eq!(n, vec!["x.exe"]);
    }

    #[test]
    fn a_part_that_is_a_message_is_walked_as_one() {
        let inner = "From: a@example.org\nSubject: x\nContent-Type: a/b; name=inner.exe\n\nx\n";
        let raw = format!("Content-Type: application/octet-stream; name=fwd.dat\n\n{inner}");
        assert!(names(&raw).contains(&"inner.exe".to_string()));
        // Text that merely starts with a header-like line is not a message.
        assert!(!looks_like_message(b"Note: call me\n\nbye\n"));
        assert!(!looks_like_message(b"hello world\n"));
    }

    #[test]
    fn bodies_handed_over_decoded_are_recorded_by_offset() {
        let raw = b"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: text/plain\n\nhi\n\
                    --a\nContent-Type: a/b; name=x.pdf\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--a--\n";
        let a = analyze(raw, &limits(), &mut Discard).unwrap();
        assert_eq!(a.handed_over.len(), 1, "{a:?}");
        let (off, len) = a.handed_over[0];
        assert_eq!(&raw[off..off + len], b"aGVsbG8=");
    }

    #[test]
    fn bodies_inside_a_forwarded_message_are_recorded_too() {
        let raw = b"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: message/rfc822\n\n\
                    Subject: fwd\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\
                    Content-Type: a/b; name=x.pdf\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--b--\n--a--\n";
        let a = analyze(raw, &limits(), &mut Discard).unwrap();
        assert_eq!(a.handed_over.len(), 1, "{a:?}");
        let (off, len) = a.handed_over[0];
        assert_eq!(&raw[off..off + len], b"aGVsbG8=");
    }

    #[test]
    fn name_lines_are_capped() {
        let mut l = limits();
        l.max_name_lines = 50;
        let mut h = "Content-Type: application/octet-stream".to_string();
        for i in 0..100 {
            h.push_str(&format!("; name=n{i}"));
        }
        h.push_str("\n\nbody\n");
        let r = analyze(h.as_bytes(), &l, &mut Discard);
        assert!(matches!(r, Err(MimeError::TooComplex(_))), "{r:?}");
    }

    #[test]
    fn objects_larger_than_the_scanner_reads_are_blind() {
        let mut l = limits();
        l.max_object_bytes = 10;
        let a = analyze(
            b"Content-Type: application/octet-stream\n\n0123456789abcdef\n",
            &l,
            &mut Discard,
        )
        .unwrap();
        assert_eq!(a.blind.len(), 1);
        assert_eq!(a.blind[0].kind, BlindKind::TooLarge);
    }

    #[test]
    fn depth_limit() {
        let mut m = String::new();
        for i in 0..30 {
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=x{i}y\n\n--x{i}y\n"
            ));
        }
        m.push_str("\nx\n");
        let r = analyze(m.as_bytes(), &limits(), &mut Discard);
        assert!(matches!(r, Err(MimeError::TooComplex(_))), "{r:?}");
    }

    #[test]
    fn sniffed_executable_under_harmless_name() {
        let l = lines(
            "Content-Type: image/jpeg; name=photo.jpg\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n",
        );
        assert!(l.contains(&"filename=photo.jpg.exe".to_string()), "{l:?}");
    }
}
