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

    /// Encode one chunk. Runs of ordinary bytes are found with `memchr` and copied whole (a
    /// byte-at-a-time loop was a sixth of smtpfwdd's CPU per 10 KB message); the rules are those
    /// of the byte-at-a-time reference in the unit tests, which checks this against it.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while i < input.len() {
            self.empty = false;
            let b = input[i];
            if b == b'\n' || b == b'\r' {
                // The LF of a CRLF whose line end is already written.
                if !(b == b'\n' && self.after_cr) {
                    out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                    self.col = 0;
                }
                self.after_cr = b == b'\r';
                i += 1;
                continue;
            }
            self.after_cr = false;
            let end = memchr::memchr2(b'\r', b'\n', &input[i..]).map_or(input.len(), |k| i + k);
            let mut run = &input[i..end];
            if self.at_line_start && b == b'.' {
                out.push(b'.');
                self.col += 1;
            }
            self.at_line_start = false;
            loop {
                if self.col >= MAX_LINE {
                    out.extend_from_slice(b"\r\n ");
                    self.col = 1;
                }
                let take = (MAX_LINE - self.col).min(run.len());
                out.extend_from_slice(&run[..take]);
                self.col += take;
                run = &run[take..];
                if run.is_empty() {
                    break;
                }
            }
            i = end;
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
