//! The DATA encoder: LF → CRLF, dot-stuffing and folding of over-long lines on the fly.

/// Longest line sent, without its CRLF (RFC 5321 §4.5.3.1.6: 1000 with CRLF).
pub const MAX_LINE: usize = 998;

/// LF → CRLF and dot-stuffing (RFC 5321 §4.5.2) on a byte stream, plus the final `.` line.
///
/// Nothing but CRLF ends a line on the wire: a bare LF, a bare CR and a CRLF kept in the spool
/// each become one CRLF. A bare CR or LF passed on is what SMTP smuggling needs (a server that
/// takes `LF.LF` or `CR.CR` for the end of data would read what follows as new commands), so the
/// stream is normalised as Postfix's `smtpd_forbid_bare_newline = normalize` does, and the dot at
/// the start of every such line is stuffed.
///
/// Lines up to [`MAX_LINE`] bytes go out unchanged. A longer line (smtpd keeps what the sender
/// sent) would be refused by a conforming server, bouncing the whole message; it is broken by
/// inserting CRLF and a space, which keeps a folded header a header and damages MIME bodies least
/// (the same choice as other MTAs).
#[derive(Debug)]
pub struct DataEncoder {
    at_line_start: bool,
    empty: bool,
    col: usize,
    /// The last byte was a CR whose line end is already written: an LF right after it belongs
    /// to the same line end (it may come in the next chunk).
    after_cr: bool,
}

impl Default for DataEncoder {
    fn default() -> Self {
        DataEncoder::new()
    }
}

impl DataEncoder {
    pub fn new() -> Self {
        DataEncoder {
            at_line_start: true,
            empty: true,
            col: 0,
            after_cr: false,
        }
    }

    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            self.empty = false;
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            if b == b'\n' && after_cr {
                continue;
            }
            if b == b'\n' || b == b'\r' {
                out.extend_from_slice(b"\r\n");
                self.at_line_start = true;
                self.col = 0;
                continue;
            }
            if self.col >= MAX_LINE {
                out.extend_from_slice(b"\r\n ");
                self.col = 1;
            }
            if self.at_line_start && b == b'.' {
                out.push(b'.');
                self.col += 1;
            }
            out.push(b);
            self.col += 1;
            self.at_line_start = false;
        }
    }

    /// A body that does not end with a newline gets one: the dot must stand on its own line.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.at_line_start && !self.empty {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}
