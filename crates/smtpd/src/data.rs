//! Receiving DATA (RFC 5321 4.1.1.4, 4.5.2): the message streamed line by line into its spool
//! temp file, with the defences that live at this level: the size limit, the hop count, and the
//! one end of data (`<CR><LF>.<CR><LF>`) that makes SMTP smuggling impossible.

use crate::conn::{Conn, Stop};
use crate::stream::ClientStream;
use spool::Staged;
use std::io::{self, Write};

/// What a DATA phase produced.
pub(crate) struct DataOutcome {
    pub(crate) size: u64,
    pub(crate) too_big: bool,
    /// `Received:` fields in the message's header section.
    pub(crate) hops: usize,
    /// More of them than `max_hops`: a mail loop.
    pub(crate) looping: bool,
    pub(crate) write_error: Option<io::Error>,
}

impl<T: ClientStream> Conn<T> {
    /// Read the message up to `<CR><LF>.<CR><LF>`, storing it into `sink` with every line end
    /// turned into LF and dot-stuffing removed. Past the size limit or after a write error the
    /// rest is read and thrown away, so that the session stays in step and can answer.
    ///
    /// SMTP smuggling (CVE-2023-51764 and kin): only a `.` line that ends in CRLF *and* follows a
    /// CRLF ends the data, as in Postfix's `smtpd_forbid_bare_newline = normalize`. A bare LF or a
    /// bare CR ends a line of the message (stored as LF) but never the message, so whatever a
    /// client puts after `\n.\n`, `\r\n.\n` or `\n.\r\n` is message text, never a command.
    /// Bare CRs become line ends rather than staying in the file: the scanner, the internal
    /// server and every reader of the spool then agree on where the lines are.
    pub(crate) fn receive(
        &mut self,
        sink: &mut Option<Staged>,
        limit: u64,
        max_hops: usize,
    ) -> Result<DataOutcome, Stop> {
        let mut out = DataOutcome {
            size: 0,
            too_big: false,
            hops: 0,
            looping: false,
            write_error: None,
        };
        let emit = |bytes: &[u8], sink: &mut Option<Staged>, out: &mut DataOutcome| {
            out.size += bytes.len() as u64;
            if limit > 0 && out.size > limit {
                out.too_big = true;
            }
            if out.too_big || out.looping || out.write_error.is_some() {
                // Free the disk now rather than at the end of a huge transfer.
                *sink = None;
                return;
            }
            if let Some(s) = sink.as_mut() {
                if let Err(e) = s.write_all(bytes) {
                    out.write_error = Some(e);
                    *sink = None;
                }
            }
        };
        let conn = self;
        let mut at_line_start = true;
        // Still in the message's header section (until its first empty line): where `Received:`
        // fields are counted, as Postfix's hopcount_limit counts them.
        let mut in_headers = true;
        let mut count_hop = |line: &[u8], out: &mut DataOutcome| {
            if !in_headers {
                return;
            }
            if line.is_empty() {
                in_headers = false;
            } else if is_received_field(line) {
                out.hops += 1;
                out.looping |= out.hops > max_hops;
            }
        };
        // The line before ended in CRLF (the DATA command counts as one).
        let mut after_crlf = true;
        // How much of the unread bytes is known to hold no CR or LF: a line that arrives in
        // many small reads is searched once, not once per read.
        let mut scanned = 0;
        loop {
            let avail = &conn.buf[conn.start..conn.end];
            let hit = avail[scanned..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map(|p| p + scanned);
            // (length of the line's text, bytes it takes up, ends in CRLF)
            let line_end = match hit {
                Some(p) if avail[p] == b'\n' => Some((p, p + 1, false)),
                Some(p) if p + 1 < avail.len() => {
                    let crlf = avail[p + 1] == b'\n';
                    Some((p, p + 1 + usize::from(crlf), crlf))
                }
                // Nothing yet, or a CR whose next byte decides between CRLF and a bare CR.
                _ => None,
            };
            if let Some((len, used, crlf)) = line_end {
                let mut line = &avail[..len];
                conn.start += used;
                scanned = 0;
                if at_line_start {
                    if crlf && after_crlf && line == b"." {
                        return Ok(out);
                    }
                    if line.first() == Some(&b'.') {
                        line = &line[1..];
                    }
                    count_hop(line, &mut out);
                }
                emit(line, sink, &mut out);
                emit(b"\n", sink, &mut out);
                at_line_start = true;
                after_crlf = crlf;
            } else if avail.len() >= conn.buf.len() / 2 {
                // A very long line: pass on what we have, keeping a trailing CR that may be
                // the first half of a CRLF.
                let keep = usize::from(avail.ends_with(b"\r"));
                let mut chunk = &avail[..avail.len() - keep];
                if at_line_start {
                    if chunk[0] == b'.' {
                        chunk = &chunk[1..];
                    }
                    count_hop(chunk, &mut out);
                }
                emit(chunk, sink, &mut out);
                conn.start = conn.end - keep;
                scanned = 0;
                at_line_start = false;
            } else {
                scanned = hit.unwrap_or(avail.len());
                conn.fill()?;
            }
        }
    }
}

/// A `Received:` header field (any case, blanks allowed before the colon, RFC 5322 obs-syntax).
fn is_received_field(line: &[u8]) -> bool {
    const NAME: &[u8] = b"received";
    line.len() > NAME.len()
        && line[..NAME.len()].eq_ignore_ascii_case(NAME)
        && line[NAME.len()..]
            .iter()
            .find(|&&b| b != b' ' && b != b'\t')
            == Some(&b':')
}
