//! Zip (and what is built on it: OOXML, ODF, jar, apk). Read with the `zip` crate (stored,
//! deflate, deflate64, bzip2, LZMA, zstd). Data in front of the archive is found from the end of
//! central directory record, as unzip does. A zip the crate refuses is listed tolerantly from its
//! central directory (or, without one, from its local headers); what even that cannot read is
//! reported unreadable, never passed over.

use super::{le16, le32, lossy, Body, Capped, Halt, Member, Reader, Status, Visit};
use ::zip::{CompressionMethod, ZipArchive};
use std::io::Cursor;

const EOCD: &[u8] = b"PK\x05\x06";
const CENTRAL: &[u8] = b"PK\x01\x02";
const LOCAL: &[u8] = b"PK\x03\x04";

/// The position of the end of central directory record: the last one whose comment ends exactly
/// at the end of the data (a record inside a comment, or random bytes, are not taken).
fn find_eocd(data: &[u8]) -> Option<usize> {
    let from = data.len().saturating_sub(22 + 0xffff);
    let mut pos = data.len().checked_sub(22)?;
    loop {
        if data[pos..].starts_with(EOCD)
            && le16(data, pos + 20).map(usize::from) == Some(data.len() - pos - 22)
        {
            return Some(pos);
        }
        if pos == from {
            return None;
        }
        pos -= 1;
    }
}

/// Where the central directory starts: measured back from the end record (so data in front of
/// the archive does not matter), else as recorded.
fn central_start(data: &[u8], eocd: usize) -> Option<usize> {
    let size = le32(data, eocd + 12)? as usize;
    let offset = le32(data, eocd + 16)? as usize;
    [eocd.checked_sub(size), Some(offset)]
        .into_iter()
        .flatten()
        .find(|&s| data.get(s..).is_some_and(|d| d.starts_with(CENTRAL)))
}

/// A zip that does not start at the first byte: data in front, a valid end record at the end.
pub(super) fn prefixed(data: &[u8]) -> bool {
    let Some(eocd) = find_eocd(data) else {
        return false;
    };
    // zip64: the locator stands just before the end record, whose own fields may be full.
    let zip64 = eocd >= 20 && data[eocd - 20..].starts_with(b"PK\x06\x07");
    zip64 || central_start(data, eocd).is_some()
}

/// The scanner reads zip members itself only for the methods every clamd has.
fn scanner_reads(m: CompressionMethod) -> bool {
    matches!(m, CompressionMethod::Stored | CompressionMethod::Deflated)
}

pub(super) fn list(data: &[u8], r: &mut Reader, visit: &mut Visit<'_>) -> Result<Status, Halt> {
    let mut za = match ZipArchive::new(Cursor::new(data)) {
        Ok(z) => z,
        Err(e) => return tolerant(data, r, visit, &e.to_string()),
    };
    // Data in front: clamd may not find the archive, so every member goes to it on its own.
    let front = za.offset() > 0 || !data.starts_with(b"PK");
    for i in 0..za.len() {
        r.member()?;
        let name = za.name_for_index(i).unwrap_or_default().to_string();
        let meta = za
            .by_index_raw(i)
            .map(|f| (f.size(), f.encrypted(), f.compression(), f.is_dir()));
        let (size, encrypted, method, dir) = match meta {
            Ok(m) => m,
            Err(e) => {
                visit(Member {
                    name,
                    size: None,
                    body: Body::Unreadable(e.to_string()),
                    scan: false,
                })?;
                continue;
            }
        };
        let scan = front || !scanner_reads(method);
        let body = if dir {
            Body::Empty
        } else if encrypted {
            Body::Encrypted
        } else if size > r.lim.max_object_bytes {
            Body::TooLarge(size)
        } else {
            if method == CompressionMethod::Lzma {
                // The crate's LZMA reader misreads zip's LZMA header: read it here.
                let mut raw = Vec::new();
                let res = za
                    .by_index_raw(i)
                    .map_err(|e| e.to_string())
                    .and_then(|mut f| {
                        std::io::Read::read_to_end(&mut f, &mut raw).map_err(|e| e.to_string())
                    });
                match res {
                    Ok(_) => lzma_member(&raw, size, r)?,
                    Err(e) => Body::Unreadable(e),
                }
            } else {
                match za.by_index(i) {
                    Ok(mut f) => r.take(&mut f, Some(size), scan)?,
                    Err(e) => Body::Unreadable(format!("{e} (method {method})")),
                }
            }
        };
        visit(Member {
            name,
            size: Some(size),
            body,
            scan,
        })?;
    }
    Ok(Status::Complete)
}

/// A zip LZMA member: a version, the size of the properties, the properties (as in an
/// `.lzma` header without the size), then the stream, with or without an end marker.
fn lzma_member(raw: &[u8], size: u64, r: &mut Reader) -> Result<Body, Halt> {
    let Some(stream) = raw.get(4..) else {
        return Ok(Body::Unreadable("LZMA header cut short".into()));
    };
    let cap = r
        .lim
        .max_object_bytes
        .min(r.budget_left())
        .saturating_add(1);
    let mut last = String::new();
    for known in [Some(size), None] {
        let opts = lzma_rs::decompress::Options {
            unpacked_size: lzma_rs::decompress::UnpackedSize::UseProvided(known),
            memlimit: Some(64 << 20),
            allow_incomplete: false,
        };
        let mut out = Capped {
            buf: Vec::new(),
            cap: cap as usize,
        };
        match lzma_rs::lzma_decompress_with_options(&mut &stream[..], &mut out, &opts) {
            Ok(()) => return r.take(&mut &out.buf[..], Some(size), true),
            Err(_) if out.buf.len() >= out.cap => return r.take(&mut &out.buf[..], None, true),
            Err(e) => last = e.to_string(),
        }
    }
    Ok(Body::Unreadable(format!("LZMA: {last}")))
}

/// The names of a zip's members (for types that are zips with a known layout).
pub(super) fn names(data: &[u8]) -> Vec<String> {
    match ZipArchive::new(Cursor::new(data)) {
        Ok(z) => z.file_names().take(10_000).map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

/// The members of a zip the crate refused, from the raw records.
fn tolerant(data: &[u8], r: &mut Reader, visit: &mut Visit<'_>, why: &str) -> Result<Status, Halt> {
    let Some(eocd) = find_eocd(data) else {
        return local_walk(data, r, visit, why);
    };
    let Some(mut pos) = central_start(data, eocd) else {
        return local_walk(data, r, visit, why);
    };
    // Local header offsets are relative to the archive's start: shift them by the data in front.
    let shift = pos as i64 - i64::from(le32(data, eocd + 16).unwrap_or(0));
    while data.get(pos..).is_some_and(|d| d.starts_with(CENTRAL)) {
        let field = |at: usize| le16(data, pos + at).map(usize::from);
        let (Some(flags), Some(method), Some(nlen), Some(xlen), Some(clen)) =
            (field(8), field(10), field(28), field(30), field(32))
        else {
            return Ok(Status::Unreadable(format!(
                "{why}; central directory cut short"
            )));
        };
        let Some(name) = data.get(pos + 46..pos + 46 + nlen) else {
            return Ok(Status::Unreadable(format!(
                "{why}; central directory cut short"
            )));
        };
        r.member()?;
        let csize = le32(data, pos + 20).unwrap_or(0);
        let usize_ = le32(data, pos + 24).unwrap_or(0);
        let local = i64::from(le32(data, pos + 42).unwrap_or(0)) + shift;
        let body = if flags & 1 != 0 {
            Body::Encrypted
        } else {
            match usize::try_from(local) {
                Ok(l) => local_body(data, l, method as u16, csize, usize_, r)?,
                Err(_) => Body::Unreadable("local header outside the archive".into()),
            }
        };
        visit(Member {
            name: lossy(name),
            size: Some(u64::from(usize_)),
            body,
            scan: true,
        })?;
        pos += 46 + nlen + xlen + clen;
    }
    Ok(Status::Complete)
}

/// Without a central directory: the local headers one after the other, as a streaming reader
/// sees them.
fn local_walk(
    data: &[u8],
    r: &mut Reader,
    visit: &mut Visit<'_>,
    why: &str,
) -> Result<Status, Halt> {
    let mut pos = 0;
    while data.get(pos..).is_some_and(|d| d.starts_with(LOCAL)) {
        let field = |at: usize| le16(data, pos + at).map(usize::from);
        let (Some(flags), Some(method), Some(nlen), Some(xlen)) =
            (field(6), field(8), field(26), field(28))
        else {
            break;
        };
        let (Some(csize), Some(size)) = (le32(data, pos + 18), le32(data, pos + 22)) else {
            break;
        };
        let Some(name) = data.get(pos + 30..pos + 30 + nlen) else {
            break;
        };
        r.member()?;
        // Sizes after the data (flag 8) are unknown here: the member cannot be delimited.
        let known = flags & 8 == 0;
        let body = if flags & 1 != 0 {
            Body::Encrypted
        } else if !known {
            Body::Unreadable("sizes only after the data".into())
        } else {
            local_body(data, pos, method as u16, csize, size, r)?
        };
        visit(Member {
            name: lossy(name),
            size: known.then_some(u64::from(size)),
            body,
            scan: true,
        })?;
        if !known {
            return Ok(Status::Unreadable(format!("{why}; no central directory")));
        }
        pos += 30 + nlen + xlen + csize as usize;
    }
    if pos < data.len() {
        // Bytes no local header accounts for: what they hold is unknown.
        return Ok(Status::Unreadable(format!(
            "{why}; {} bytes after the last member",
            data.len() - pos
        )));
    }
    Ok(Status::Complete)
}

/// A member's content from its local header at `at`: stored or deflated only.
fn local_body(
    data: &[u8],
    at: usize,
    method: u16,
    csize: u32,
    size: u32,
    r: &mut Reader,
) -> Result<Body, Halt> {
    if !data.get(at..).is_some_and(|d| d.starts_with(LOCAL)) {
        return Ok(Body::Unreadable("no local header".into()));
    }
    let (Some(nlen), Some(xlen)) = (le16(data, at + 26), le16(data, at + 28)) else {
        return Ok(Body::Unreadable("local header cut short".into()));
    };
    let start = at + 30 + usize::from(nlen) + usize::from(xlen);
    let Some(raw) = data.get(start..start.saturating_add(csize as usize)) else {
        return Ok(Body::Unreadable("member data cut short".into()));
    };
    match method {
        0 => r.take(&mut &raw[..], Some(u64::from(size)), true),
        8 => r.take(
            &mut flate2::read::DeflateDecoder::new(raw),
            Some(u64::from(size)),
            true,
        ),
        m => Ok(Body::Unreadable(format!("compression method {m}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::members;
    use super::super::{detect, Body, Format, Status};
    use std::io::Write;

    fn zip_of(method: ::zip::CompressionMethod, files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut z = ::zip::ZipWriter::new(&mut buf);
        let o = ::zip::write::SimpleFileOptions::default().compression_method(method);
        for (n, d) in files {
            z.start_file(*n, o).unwrap();
            z.write_all(d).unwrap();
        }
        z.finish().unwrap();
        buf.into_inner()
    }

    #[test]
    fn every_method_is_read() {
        use ::zip::CompressionMethod as M;
        for m in [M::Stored, M::Deflated, M::Bzip2, M::Zstd] {
            let z = zip_of(m, &[("a.exe", b"MZ program")]);
            let (v, st) = members(&z);
            assert_eq!(st.unwrap(), Status::Complete);
            assert_eq!(v[0].name, "a.exe");
            assert_eq!(v[0].body, Body::Data(b"MZ program".to_vec()), "{m}");
            assert_eq!(v[0].scan, !matches!(m, M::Stored | M::Deflated), "{m}");
        }
    }

    #[test]
    fn data_in_front_is_found_and_members_go_to_the_scanner() {
        let mut z = b"#!/bin/sh\necho a self-extractor\nexit 0\n".to_vec();
        z.extend(zip_of(
            ::zip::CompressionMethod::Deflated,
            &[("x.txt", b"hello")],
        ));
        assert_eq!(detect(&z), Some(Format::Zip));
        let (v, st) = members(&z);
        assert_eq!(st.unwrap(), Status::Complete);
        assert_eq!(v[0].name, "x.txt");
        assert!(v[0].scan);
    }

    #[test]
    fn refused_zip_is_listed_from_its_records() {
        let mut z = zip_of(::zip::CompressionMethod::Deflated, &[("evil.exe", b"MZ")]);
        // Break the end record's entry count: the crate refuses, the records remain.
        let eocd = super::find_eocd(&z).unwrap();
        z[eocd + 10] = 9;
        let (v, st) = members(&z);
        assert_eq!(st.unwrap(), Status::Complete);
        assert_eq!(v[0].name, "evil.exe");
        assert_eq!(v[0].body, Body::Data(b"MZ".to_vec()));
        // No end record: the local headers.
        let z = zip_of(::zip::CompressionMethod::Stored, &[("run.bat", b"x")]);
        let cut = &z[..super::find_eocd(&z).unwrap() - 10];
        let (v, _) = members(cut);
        assert_eq!(v[0].name, "run.bat");
        // Nothing readable at all.
        let (v, st) = members(b"PK\x03\x04garbage");
        assert!(v.is_empty());
        assert!(matches!(st.unwrap(), Status::Unreadable(_)));
    }
}
