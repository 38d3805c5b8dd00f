//! The walk over a message's MIME tree: every entity at every depth, under every reading a
//! client could make of it.

use super::headers::{all, looks_like_message, split_headers, Header};
use super::multipart::split_multipart;
use super::names::{clean_name, name_variants};
use super::params::{dedup, parse_params, Params, MAX_PARAMS};
use super::words::decode_words;
use super::{Analysis, Blind, BlindKind, Limits, Line, MimeError, Sink};
use crate::decode::{self, Encoding};

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

pub(super) struct Walker<'a> {
    pub(super) limits: &'a Limits,
    pub(super) sink: &'a mut dyn Sink,
    pub(super) out: Analysis,
    pub(super) members: usize,
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

impl Walker<'_> {
    pub(super) fn push(&mut self, text: String, part: &str) {
        if self.out.lines.len() >= self.limits.max_name_lines {
            self.lines_capped = true;
            return;
        }
        self.out.lines.push(Line {
            text,
            part: part.to_string(),
        });
    }

    pub(super) fn push_name(&mut self, name: &str, part: &str) {
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
    pub(super) fn blind(&mut self, kind: BlindKind, part: &str, detail: impl Into<String>) {
        self.out.blind.push(Blind {
            kind,
            part: part.to_string(),
            detail: detail.into(),
        });
    }

    pub(super) fn count_bytes(&mut self, n: usize) -> Result<(), MimeError> {
        self.out.decoded_bytes += n as u64;
        if self.out.decoded_bytes > self.limits.max_decoded_bytes {
            return Err(MimeError::TooComplex(format!(
                "more than {} decoded bytes",
                self.limits.max_decoded_bytes
            )));
        }
        Ok(())
    }

    /// One entity (the message, a part, an enclosed message): its headers presented, its names
    /// decoded, and its body walked under every Content-Type and transfer encoding a client
    /// could read it with.
    fn entity(
        &mut self,
        data: &[u8],
        depth: usize,
        label: String,
        default_type: &str,
        top: bool,
    ) -> Result<(), MimeError> {
        self.enter(depth)?;
        let (headers, body) = split_headers(data);
        self.present_headers(&headers, &label, top)?;
        params_within_cap(&headers, &label)?;
        let (readings, type_names) = self.content_types(&headers, &label, default_type);
        let (attachment_disp, disp_names) = dispositions(&headers);
        let names = dedup(type_names.into_iter().chain(disp_names).collect());
        for n in &names {
            self.push_name(n, &label);
        }
        self.lines_left()?;
        let encodings = self.encodings(&headers, &label);
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

    /// Count one more part at `depth`, within the limits.
    fn enter(&mut self, depth: usize) -> Result<(), MimeError> {
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
        self.lines_left()
    }

    /// Present each header line; keep the message's own (top-level) header values, decoded.
    fn present_headers(
        &mut self,
        headers: &[Header],
        label: &str,
        top: bool,
    ) -> Result<(), MimeError> {
        for h in headers {
            self.push(format!("{}: {}", h.name, h.value), label);
            if top {
                self.out
                    .headers
                    .entry(h.name.to_ascii_lowercase())
                    .or_insert_with(|| decode_words(h.value.trim()));
            }
        }
        self.lines_left()
    }

    /// Every Content-Type a client could take, and the names they give: several headers that
    /// disagree are each judged (one client takes the first, another the last).
    fn content_types(
        &mut self,
        headers: &[Header],
        label: &str,
        default_type: &str,
    ) -> (Vec<(String, Params)>, Vec<String>) {
        let mut readings: Vec<(String, Params)> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for ct in all(headers, "content-type") {
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
        (readings, names)
    }

    /// Every Content-Transfer-Encoding a client could take (identity when none is given).
    fn encodings(&mut self, headers: &[Header], label: &str) -> Vec<Encoding> {
        let mut encodings: Vec<Encoding> = Vec::new();
        for h in all(headers, "content-transfer-encoding") {
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
        encodings
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
        self.open_container(&decoded, depth + 1, &part_desc)?;
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
    pub(super) fn object(
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
}

/// Memory: a header of a hundred thousand parameters would cost tens of bytes of bookkeeping
/// per byte before the cap on name lines is reached.
fn params_within_cap(headers: &[Header], label: &str) -> Result<(), MimeError> {
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
    Ok(())
}

/// Whether any Content-Disposition says attachment, and the names they give.
fn dispositions(headers: &[Header]) -> (bool, Vec<String>) {
    let mut attachment = false;
    let mut names = Vec::new();
    for cd in all(headers, "content-disposition") {
        let (disp, p) = parse_params(&cd.value);
        attachment |= disp == "attachment";
        names.extend(p.values("filename"));
        names.extend(p.values("name"));
    }
    (attachment, names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::Discard;

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
