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
