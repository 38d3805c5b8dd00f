//! Line-end conversions between the spool (LF) and the wire (CRLF). Byte-exact: 8-bit bytes,
//! bare CRs and invalid UTF-8 pass through unchanged.

/// CRLF → LF (what smtpd stores, what a relay's copy looks like in the spool). A CR not followed
/// by LF stays.
pub fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

/// LF → CRLF (what must arrive on the wire for a spool body, before dot-stuffing). Every LF gets
/// a CR, as smtpfwdd's encoder does with the spool's LF-only bodies.
pub fn lf_to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for &b in data {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_byte_exact() {
        let wire = b"Subject: caf\xc3\xa9 \xff\xfe\r\n\r\nbare\rcr\r\nend\r\n";
        let spool = b"Subject: caf\xc3\xa9 \xff\xfe\n\nbare\rcr\nend\n";
        assert_eq!(crlf_to_lf(wire), spool);
        assert_eq!(lf_to_crlf(spool), wire);
        assert_eq!(crlf_to_lf(b"\r\r\n\r"), b"\r\n\r");
        assert_eq!(lf_to_crlf(b"\n\n"), b"\r\n\r\n");
        assert_eq!(crlf_to_lf(b""), b"");
    }
}
