//! Unit tests of the encoder, the extension parser and the reply classes.

use super::*;

fn enc(chunks: &[&[u8]]) -> Vec<u8> {
    let mut e = DataEncoder::new();
    let mut out = Vec::new();
    for c in chunks {
        e.encode(c, &mut out);
    }
    e.finish(&mut out);
    out
}

#[test]
fn crlf_and_dot_stuffing_across_chunks() {
    assert_eq!(enc(&[b"a\n.\n..x\n"]), b"a\r\n..\r\n...x\r\n.\r\n");
    assert_eq!(enc(&[b"a\n", b".", b"b\n"]), b"a\r\n..b\r\n.\r\n");
    assert_eq!(enc(&[b".start"]), b"..start\r\n.\r\n");
    assert_eq!(enc(&[]), b".\r\n");
    // A bare CR is a line end; a CRLF stays one line end, even split across chunks.
    assert_eq!(enc(&[b"x\rno\n"]), b"x\r\nno\r\n.\r\n");
    assert_eq!(enc(&[b"a\r", b"\n.b\r"]), b"a\r\n..b\r\n.\r\n");
    assert_eq!(enc(&[b"a\r\r\n\n"]), b"a\r\n\r\n\r\n.\r\n");
    assert_eq!(enc(&[b"\r.\r"]), b"\r\n..\r\n.\r\n");
}

/// The encoder's rules one byte at a time: the reference [`DataEncoder::encode`] must match.
fn reference(chunks: &[&[u8]]) -> Vec<u8> {
    let (mut at_line_start, mut empty, mut col, mut after_cr) = (true, true, 0usize, false);
    let mut out = Vec::new();
    for &b in chunks.iter().flat_map(|c| c.iter()) {
        empty = false;
        let was_cr = std::mem::replace(&mut after_cr, b == b'\r');
        if b == b'\n' && was_cr {
            continue;
        }
        if b == b'\n' || b == b'\r' {
            out.extend_from_slice(b"\r\n");
            at_line_start = true;
            col = 0;
            continue;
        }
        if col >= MAX_LINE {
            out.extend_from_slice(b"\r\n ");
            col = 1;
        }
        if at_line_start && b == b'.' {
            out.push(b'.');
            col += 1;
        }
        out.push(b);
        col += 1;
        at_line_start = false;
    }
    if !at_line_start && !empty {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Thousands of bodies made of the bytes that matter (dots, CR, LF, long runs), cut into
/// chunks at random places: the fast encoder writes exactly what the reference does.
#[test]
fn the_encoder_matches_its_byte_at_a_time_reference() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..3000 {
        let len = (next() % 5000) as usize;
        // Line ends every few bytes, every few dozen, or rarely (lines past 998 to fold).
        let every = [4, 40, 1500][(next() % 3) as usize];
        let body: Vec<u8> = (0..len)
            .map(|_| {
                if next() % every == 0 {
                    [b'\n', b'\r'][(next() % 2) as usize]
                } else if next() % 6 == 0 {
                    b'.'
                } else {
                    b'a'
                }
            })
            .collect();
        let mut chunks = Vec::new();
        let mut at = 0;
        while at < body.len() {
            let n = 1 + (next() % 1200) as usize;
            let end = (at + n).min(body.len());
            chunks.push(&body[at..end]);
            at = end;
        }
        assert_eq!(
            enc(&chunks),
            reference(&chunks),
            "{body:?} in {} chunks",
            chunks.len()
        );
    }
}

#[test]
fn long_lines_are_folded_at_998() {
    let exact = vec![b'a'; MAX_LINE];
    let out = enc(&[&exact, b"\n"]);
    assert_eq!(out.len(), MAX_LINE + 2 + 3, "a 998-byte line is kept");
    let long = vec![b'b'; 2500];
    let out = enc(&[&long[..1000], &long[1000..]]);
    let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
    assert!(lines.iter().all(|l| l.len() <= MAX_LINE + 1), "CR counted");
    assert_eq!(lines[1][0], b' ');
    let body: usize = out.iter().filter(|&&b| b == b'b').count();
    assert_eq!(body, 2500);
}

#[test]
fn extensions() {
    let r = Reply {
        code: 250,
        lines: vec![
            "mx.example.com hello".into(),
            "PIPELINING".into(),
            "SIZE 1000".into(),
            "8bitmime".into(),
            "STARTTLS".into(),
        ],
    };
    let e = Extensions::parse(&r);
    assert!(e.pipelining && e.eightbitmime && e.starttls && !e.smtputf8);
    assert_eq!(e.size, Some(1000));
}

#[test]
fn reply_classes() {
    let r = Reply {
        code: 550,
        lines: vec!["5.1.1 No such user".into()],
    };
    assert!(r.is_permanent() && !r.is_transient());
    assert_eq!(r.enhanced().as_deref(), Some("5.1.1"));
    let r = Reply {
        code: 451,
        lines: vec!["Try later".into()],
    };
    assert!(r.is_transient());
    assert_eq!(r.enhanced(), None);
    let e = SmtpError::Reply {
        stage: "MAIL",
        reply: r,
    };
    assert!(e.is_transient());
    let e = SmtpError::Timeout { stage: "DATA" };
    assert!(e.is_transient());
}
