//! Single compressed streams: gzip (flate2; its stored original name `FNAME` is a name too),
//! bzip2, xz (lzma-rs) and zstd. Each holds one member, often a tar: the walker opens that in
//! turn.

use super::{lossy, Body, Capped, Format, Halt, Member, Reader, Status, Visit};
use std::io::Read;

/// `BZh1`..`BZh9`, then the magic of a block or of the end of the stream.
pub(super) fn is_bzip2(data: &[u8]) -> bool {
    data.len() >= 10
        && data.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&data[3])
        && (data[4..10] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
            || data[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
}

pub(super) fn list(
    format: Format,
    data: &[u8],
    r: &mut Reader,
    visit: &mut Visit<'_>,
) -> Result<Status, Halt> {
    r.member()?;
    let (name, size, body) = match format {
        Format::Gzip => {
            let mut d = GzMembers::new(data);
            let body = match r.take(&mut d, None, false)? {
                Body::Head(h) => r.drain(&mut d, h)?,
                b => b,
            };
            (d.name.unwrap_or_default(), None, body)
        }
        Format::Bzip2 => {
            let mut d = bzip2::read::MultiBzDecoder::new(data);
            (String::new(), None, r.take(&mut d, None, true)?)
        }
        Format::Xz => {
            let cap = r
                .lim
                .max_object_bytes
                .min(r.budget_left())
                .saturating_add(1);
            let mut out = Capped {
                buf: Vec::new(),
                cap: cap as usize,
            };
            let res = lzma_rs::xz_decompress(&mut std::io::BufReader::new(data), &mut out);
            let body = match res {
                // Past the cap: `take` tells too large from too complex.
                Ok(()) => r.take(&mut &out.buf[..], None, true)?,
                Err(_) if out.buf.len() >= out.cap => r.take(&mut &out.buf[..], None, true)?,
                Err(e) => Body::Unreadable(format!("xz: {e}")),
            };
            (String::new(), None, body)
        }
        Format::Zstd => match zstd::stream::read::Decoder::with_buffer(data) {
            Ok(mut d) => (String::new(), None, r.take(&mut d, None, true)?),
            Err(e) => (String::new(), None, Body::Unreadable(format!("zstd: {e}"))),
        },
        _ => unreachable!("not a compressed stream"),
    };
    visit(Member {
        name,
        size,
        body,
        scan: !format.scanner_opens(),
    })?;
    Ok(Status::Complete)
}

/// The members of a gzip file one after the other, as gzip(1) reads them (concatenated files
/// are one file), with zeros or line ends after the last member ignored as gzip ignores them.
/// Other bytes after a member are an error: nothing reads them, so they are not passed over.
struct GzMembers<'a> {
    cur: Option<flate2::bufread::GzDecoder<&'a [u8]>>,
    /// The first member's stored name.
    name: Option<String>,
}

impl<'a> GzMembers<'a> {
    fn new(data: &'a [u8]) -> Self {
        GzMembers {
            cur: Some(flate2::bufread::GzDecoder::new(data)),
            name: None,
        }
    }
}

impl Read for GzMembers<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(d) = self.cur.as_mut() else {
                return Ok(0);
            };
            let n = d.read(buf)?;
            if self.name.is_none() {
                self.name = Some(
                    d.header()
                        .and_then(|h| h.filename())
                        .map(lossy)
                        .unwrap_or_default(),
                );
            }
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let rest = self.cur.take().expect("checked above").into_inner();
            if rest.iter().all(|&b| b == 0 || b.is_ascii_whitespace()) {
                return Ok(0);
            }
            if !rest.starts_with(b"\x1f\x8b") {
                return Err(std::io::Error::other("data after the gzip stream"));
            }
            self.cur = Some(flate2::bufread::GzDecoder::new(rest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::members;
    use super::super::{detect, Body, Format};
    use std::io::Write;

    #[test]
    fn gzip_name_and_content() {
        let mut e = flate2::GzBuilder::new()
            .filename("invoice.exe")
            .write(Vec::new(), flate2::Compression::default());
        e.write_all(b"MZ\x90\x00").unwrap();
        let g = e.finish().unwrap();
        assert_eq!(detect(&g), Some(Format::Gzip));
        let (v, _) = members(&g);
        assert_eq!(v[0].name, "invoice.exe");
        assert_eq!(v[0].body, Body::Data(b"MZ\x90\x00".to_vec()));
        assert!(!v[0].scan);
    }

    #[test]
    fn gzip_members_and_what_follows_them() {
        let gz = |d: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(d).unwrap();
            e.finish().unwrap()
        };
        let mut two = gz(b"first ");
        two.extend(gz(b"second"));
        two.extend([0u8; 100]);
        let (v, _) = members(&two);
        assert_eq!(v[0].body, Body::Data(b"first second".to_vec()));
        let mut junk = gz(b"MZ");
        junk.extend(b"garbage\n");
        // The last four bytes are no size: not "too large".
        let (v, _) = members(&junk);
        assert!(matches!(v[0].body, Body::Unreadable(_)), "{:?}", v[0].body);
    }

    #[test]
    fn bzip2_xz_zstd() {
        let data = b"#!/bin/sh\necho hi\n".repeat(3);
        let mut b = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        b.write_all(&data).unwrap();
        let bz = b.finish().unwrap();
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &data[..], &mut xz).unwrap();
        let zs = zstd::encode_all(&data[..], 3).unwrap();
        for (c, f) in [(bz, Format::Bzip2), (xz, Format::Xz), (zs, Format::Zstd)] {
            assert_eq!(detect(&c), Some(f));
            let (v, _) = members(&c);
            assert_eq!(v[0].body, Body::Data(data.clone()), "{f:?}");
            assert!(v[0].scan);
        }
    }

    #[test]
    fn bombs_are_too_large() {
        let zeros = vec![0u8; 3 << 20];
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &zeros[..], &mut xz).unwrap();
        let zs = zstd::encode_all(&zeros[..], 3).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&zeros).unwrap();
        let gz = gz.finish().unwrap();
        for c in [xz, zs, gz] {
            let (v, _) = members(&c);
            assert!(matches!(v[0].body, Body::TooLarge(_)), "{:?}", v[0].body);
        }
    }
}
