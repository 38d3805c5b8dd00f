//! RFC 2047 encoded words in header values and parameters.

use crate::decode;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
