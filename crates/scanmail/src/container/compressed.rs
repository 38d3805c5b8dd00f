//! Single compressed streams: gzip (flate2; its stored original name `FNAME` is a name too),
//! bzip2, xz (lzma-rs) and zstd. Each holds one member, often a tar: the walker opens that in
//! turn.

use super::{le32, lossy, Body, Capped, Format, Halt, Member, Reader, Status, Visit};

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
            // The size modulo 2^32 stands in the last four bytes: a hint that can only make the
            // member too large, never small enough to skip the limits.
            let isize_ = data.len().checked_sub(4).and_then(|at| le32(data, at));
            let mut d = flate2::read::MultiGzDecoder::new(data);
            let body = r.take(&mut d, isize_.map(u64::from), false)?;
            let name = d
                .header()
                .and_then(|h| h.filename())
                .map(lossy)
                .unwrap_or_default();
            (name, isize_.map(u64::from), body)
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
        for c in [xz, zs] {
            let (v, _) = members(&c);
            assert!(matches!(v[0].body, Body::TooLarge(_)), "{:?}", v[0].body);
        }
    }
}
