//! Splitting a multipart body at its delimiter lines (RFC 2046), strictly and as lenient clients
//! do.

/// The parts of a multipart body.
pub(super) struct Multipart<'a> {
    pub(super) preamble: &'a [u8],
    /// The parts as RFC 2046 reads them: between delimiter lines, up to the close delimiter.
    pub(super) parts: Vec<&'a [u8]>,
    pub(super) epilogue: &'a [u8],
    /// Why another client could split the body elsewhere; the parts of that reading are in
    /// `lenient`.
    pub(super) odd: Option<String>,
    /// Every line that starts with the delimiter ends a part, also after the close delimiter.
    pub(super) lenient: Vec<&'a [u8]>,
}

/// Split at delimiter lines `--boundary` (optionally `--boundary--`, trailing white space). A
/// missing close delimiter ends the last part at the end of the data, as clients do. Lines that
/// start with the delimiter but go on (some clients split there) and delimiter lines after the
/// close delimiter (Outlook Express for Mac reuses a boundary in a nested multipart) make a
/// second, lenient reading. Err when there is no delimiter line at all.
pub(super) fn split_multipart<'a>(
    body: &'a [u8],
    boundary: &[u8],
) -> Result<Multipart<'a>, String> {
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
