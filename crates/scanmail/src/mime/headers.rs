//! Header sections: split into unfolded headers (by hand, so that one broken header line cannot
//! make the whole message unreadable), and the test whether bytes start like a message.

/// A header: name and unfolded raw value.
pub(super) struct Header {
    pub(super) name: String,
    pub(super) value: String,
}

/// The headers called `name` (any case), in their order.
pub(super) fn all<'h>(headers: &'h [Header], name: &'h str) -> impl Iterator<Item = &'h Header> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
}

/// Split a part into headers (unfolded) and body. The header section ends at the first empty
/// line; a line that is neither a header nor a continuation is kept as a nameless header.
pub(super) fn split_headers(data: &[u8]) -> (Vec<Header>, &[u8]) {
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

/// True when the bytes start like a message: a header section (ending in an empty line) whose
/// first line is a header and which holds a header every message has. Only the first 8 KB are
/// looked at.
pub(super) fn looks_like_message(data: &[u8]) -> bool {
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
