//! RAR 4 and RAR 5, read by hand: no well-kept pure-Rust reader exists, and clamd here has no
//! unrar either (the non-free libclamunrar is not in Debian). So every member name is read from
//! the headers; stored members are read directly; compressed content cannot be read here and is
//! reported unreadable (never passed as clean); encrypted members and archives whose headers are
//! encrypted are reported encrypted.

use super::{le16, le32, lossy, Body, Halt, Member, Reader, Status, Visit};

const RAR4: &[u8] = b"Rar!\x1a\x07\x00";
const RAR5: &[u8] = b"Rar!\x1a\x07\x01\x00";

pub(super) fn is_rar(data: &[u8]) -> bool {
    data.starts_with(RAR4) || data.starts_with(RAR5)
}

pub(super) fn list(data: &[u8], r: &mut Reader, visit: &mut Visit<'_>) -> Result<Status, Halt> {
    if data.starts_with(RAR5) {
        list5(data, r, visit)
    } else {
        list4(data, r, visit)
    }
}

/// A member's content, when it is stored whole and in the clear.
fn content(
    r: &mut Reader,
    raw: Option<&[u8]>,
    stored: bool,
    split: bool,
    size: u64,
) -> Result<Body, Halt> {
    match raw {
        _ if split => Ok(Body::Unreadable("RAR member split over volumes".into())),
        _ if !stored => Ok(Body::Unreadable(
            "RAR compression (no RAR reader here)".into(),
        )),
        Some(raw) if raw.len() as u64 == size => r.take(&mut &raw[..], Some(size), true),
        _ => Ok(Body::Unreadable("RAR member cut short".into())),
    }
}

fn list4(data: &[u8], r: &mut Reader, visit: &mut Visit<'_>) -> Result<Status, Halt> {
    let mut pos = RAR4.len();
    loop {
        let (Some(kind), Some(flags), Some(hsize)) = (
            data.get(pos + 2).copied(),
            le16(data, pos + 3),
            le16(data, pos + 5),
        ) else {
            // The end-of-archive block is optional.
            return Ok(Status::Complete);
        };
        let hsize = usize::from(hsize);
        if hsize < 7 {
            return Ok(Status::Unreadable("RAR header too short".into()));
        }
        let Some(h) = data.get(pos..pos + hsize) else {
            return Ok(Status::Unreadable("RAR header cut short".into()));
        };
        let mut add = if flags & 0x8000 != 0 {
            u64::from(le32(h, 7).unwrap_or(0))
        } else {
            0
        };
        match kind {
            // Main header: MHD_PASSWORD means every later header is encrypted.
            0x73 if flags & 0x80 != 0 => return Ok(Status::Encrypted),
            0x74 => {
                let (Some(pack), Some(unp), Some(method), Some(nlen)) =
                    (le32(h, 7), le32(h, 11), h.get(25), le16(h, 26))
                else {
                    return Ok(Status::Unreadable("RAR file header cut short".into()));
                };
                let (mut pack, mut unp) = (u64::from(pack), u64::from(unp));
                let mut at = 32;
                if flags & 0x100 != 0 {
                    pack |= u64::from(le32(h, 32).unwrap_or(0)) << 32;
                    unp |= u64::from(le32(h, 36).unwrap_or(0)) << 32;
                    at = 40;
                }
                add = pack;
                let Some(raw_name) = h.get(at..at + usize::from(nlen)) else {
                    return Ok(Status::Unreadable("RAR file name cut short".into()));
                };
                let dir = flags & 0xe0 == 0xe0;
                let start = pos + hsize;
                let raw = data.get(start..start.saturating_add(pack as usize));
                let body = if dir {
                    Body::Empty
                } else if flags & 0x04 != 0 {
                    Body::Encrypted
                } else {
                    content(r, raw, *method == 0x30, flags & 0x03 != 0, unp)?
                };
                let names = rar4_names(raw_name, flags & 0x200 != 0);
                let last = names.len() - 1;
                for (k, name) in names.into_iter().enumerate() {
                    r.member()?;
                    visit(Member {
                        name,
                        size: Some(unp),
                        // The second reading of a name carries no content of its own.
                        body: if k == last { body.clone() } else { Body::Empty },
                        scan: true,
                    })?;
                }
            }
            0x7b => return Ok(Status::Complete),
            _ => {}
        }
        pos = match pos
            .checked_add(hsize)
            .and_then(|p| p.checked_add(usize::try_from(add).ok()?))
        {
            Some(p) if p <= data.len() => p,
            _ => return Ok(Status::Unreadable("RAR block past the end".into())),
        };
    }
}

/// The name of a RAR 4 file header: the 8-bit name, and with the Unicode flag also the name
/// encoded after its NUL (which can differ: both are judged).
fn rar4_names(raw: &[u8], unicode: bool) -> Vec<String> {
    let Some(nul) = raw.iter().position(|&b| b == 0).filter(|_| unicode) else {
        return vec![lossy(raw)];
    };
    let ascii = &raw[..nul];
    let wide = decode_rar_unicode(ascii, &raw[nul + 1..]);
    let a = lossy(ascii);
    if wide.is_empty() || wide == a {
        vec![a]
    } else {
        vec![a, wide]
    }
}

/// RAR 4's compact Unicode name encoding (high bytes shared, runs copied from the 8-bit name).
fn decode_rar_unicode(ascii: &[u8], enc: &[u8]) -> String {
    let mut out: Vec<u16> = Vec::new();
    let Some(&high) = enc.first() else {
        return String::new();
    };
    let high = u16::from(high) << 8;
    let (mut pos, mut flags, mut bits) = (1, 0u8, 0);
    while pos < enc.len() && out.len() < 1024 {
        if bits == 0 {
            flags = enc[pos];
            pos += 1;
            bits = 8;
        }
        bits -= 2;
        let byte = |p: usize| enc.get(p).copied().map(u16::from);
        match (flags >> bits) & 3 {
            0 => match byte(pos) {
                Some(b) => {
                    out.push(b);
                    pos += 1;
                }
                None => break,
            },
            1 => match byte(pos) {
                Some(b) => {
                    out.push(b | high);
                    pos += 1;
                }
                None => break,
            },
            2 => match (byte(pos), byte(pos + 1)) {
                (Some(lo), Some(hi)) => {
                    out.push(lo | hi << 8);
                    pos += 2;
                }
                _ => break,
            },
            _ => {
                let Some(len) = byte(pos) else { break };
                pos += 1;
                if len & 0x80 != 0 {
                    let Some(corr) = byte(pos) else { break };
                    pos += 1;
                    for _ in 0..(len & 0x7f) + 2 {
                        let Some(&c) = ascii.get(out.len()) else {
                            break;
                        };
                        out.push((u16::from(c) + corr) & 0xff | high);
                    }
                } else {
                    for _ in 0..len + 2 {
                        let Some(&c) = ascii.get(out.len()) else {
                            break;
                        };
                        out.push(u16::from(c));
                    }
                }
            }
        }
    }
    String::from_utf16_lossy(&out)
}

/// A RAR 5 variable-length integer at `*at`.
fn vint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        if shift < 64 {
            v |= u64::from(byte & 0x7f) << shift;
        }
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn list5(data: &[u8], r: &mut Reader, visit: &mut Visit<'_>) -> Result<Status, Halt> {
    let mut pos = RAR5.len();
    while pos < data.len() {
        let mut at = pos + 4;
        let Some(hsize) = vint(data, &mut at) else {
            return Ok(Status::Unreadable("RAR 5 header cut short".into()));
        };
        let hstart = at;
        let Some(hend) = usize::try_from(hsize)
            .ok()
            .and_then(|s| hstart.checked_add(s))
            .filter(|&e| e <= data.len())
        else {
            return Ok(Status::Unreadable("RAR 5 header past the end".into()));
        };
        let h = &data[..hend];
        let (Some(kind), Some(hflags)) = (vint(h, &mut at), vint(h, &mut at)) else {
            return Ok(Status::Unreadable("RAR 5 header cut short".into()));
        };
        let extra = if hflags & 1 != 0 {
            vint(h, &mut at)
        } else {
            Some(0)
        };
        let dsize = if hflags & 2 != 0 {
            vint(h, &mut at)
        } else {
            Some(0)
        };
        let (Some(extra), Some(dsize)) = (extra, dsize) else {
            return Ok(Status::Unreadable("RAR 5 header cut short".into()));
        };
        match kind {
            // Archive encryption header: everything after it is encrypted, names too.
            4 => return Ok(Status::Encrypted),
            5 => return Ok(Status::Complete),
            2 => {
                let f = (|| {
                    let fflags = vint(h, &mut at)?;
                    let unp = vint(h, &mut at)?;
                    vint(h, &mut at)?; // attributes
                    if fflags & 2 != 0 {
                        at += 4;
                    }
                    if fflags & 4 != 0 {
                        at += 4;
                    }
                    let comp = vint(h, &mut at)?;
                    vint(h, &mut at)?; // host OS
                    let nlen = usize::try_from(vint(h, &mut at)?).ok()?;
                    let name = h.get(at..at.checked_add(nlen)?)?;
                    let extra_start = hend.checked_sub(usize::try_from(extra).ok()?)?;
                    Some((fflags, unp, comp, lossy(name), &h[extra_start.max(at)..]))
                })();
                let Some((fflags, unp, comp, name, extra_area)) = f else {
                    return Ok(Status::Unreadable("RAR 5 file header damaged".into()));
                };
                r.member()?;
                let encrypted = rar5_encrypted(extra_area);
                let raw = usize::try_from(dsize)
                    .ok()
                    .and_then(|d| data.get(hend..hend.checked_add(d)?));
                let body = if fflags & 1 != 0 {
                    Body::Empty
                } else if encrypted {
                    Body::Encrypted
                } else {
                    // Method 0 (bits 7-9) is stored.
                    let stored = (comp >> 7) & 7 == 0;
                    content(r, raw, stored, hflags & 0x18 != 0, unp)?
                };
                visit(Member {
                    name,
                    size: Some(unp),
                    body,
                    scan: true,
                })?;
            }
            _ => {}
        }
        pos = match usize::try_from(dsize)
            .ok()
            .and_then(|d| hend.checked_add(d))
        {
            Some(p) if p <= data.len() => p,
            _ => return Ok(Status::Unreadable("RAR 5 block past the end".into())),
        };
    }
    Ok(Status::Complete)
}

/// The extra area of a RAR 5 file header holds a file encryption record (type 1).
fn rar5_encrypted(mut area: &[u8]) -> bool {
    while !area.is_empty() {
        let mut at = 0;
        let Some(size) = vint(area, &mut at) else {
            return false;
        };
        let body = at;
        let Some(kind) = vint(area, &mut at) else {
            return false;
        };
        if kind == 1 {
            return true;
        }
        match usize::try_from(size).ok().and_then(|s| body.checked_add(s)) {
            Some(next) if next > 0 && next <= area.len() => area = &area[next..],
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::tests::members;
    use super::super::{Body, Status};

    /// A RAR 4 archive of stored and "compressed" members, written by hand (headers only
    /// matter here; CRCs are not checked by this reader, nor by what judges names).
    pub fn rar4(files: &[(&str, &[u8], u8, u16)]) -> Vec<u8> {
        let mut v = b"Rar!\x1a\x07\x00".to_vec();
        v.extend([0x90, 0xcf, 0x73, 0x00, 0x00, 0x0d, 0x00, 0, 0, 0, 0, 0, 0]);
        for (name, data, method, extra_flags) in files {
            let mut h = Vec::new();
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.push(2);
            h.extend([0u8; 8]);
            h.push(29);
            h.push(*method);
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0x20u32.to_le_bytes());
            h.extend(name.as_bytes());
            let flags: u16 = 0x8000 | extra_flags;
            let size = (7 + h.len()) as u16;
            v.extend([0, 0, 0x74]);
            v.extend(flags.to_le_bytes());
            v.extend(size.to_le_bytes());
            v.extend(h);
            v.extend(*data);
        }
        v.extend([0xc4, 0x3d, 0x7b, 0x00, 0x40, 0x07, 0x00]);
        v
    }

    #[test]
    fn rar4_names_stored_compressed_encrypted() {
        let a = rar4(&[
            ("doc.txt", b"hello", 0x30, 0),
            ("setup.exe", b"xxxx", 0x33, 0),
            ("secret.exe", b"yyyy", 0x33, 0x04),
        ]);
        let (v, st) = members(&a);
        assert_eq!(st.unwrap(), Status::Complete);
        let names: Vec<&str> = v.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["doc.txt", "setup.exe", "secret.exe"]);
        assert_eq!(v[0].body, Body::Data(b"hello".to_vec()));
        assert!(matches!(v[1].body, Body::Unreadable(_)));
        assert_eq!(v[2].body, Body::Encrypted);
    }

    #[test]
    fn rar4_unicode_name_is_judged_too() {
        // 8-bit name "a.txt", Unicode part: high byte 0, flags 0 (4 literal bytes) "e.ex".
        let enc: Vec<u8> = [b"a.txt\0".as_slice(), &[0, 0x00], b"e.ex", &[0x00], b"e"].concat();
        let n = super::rar4_names(&enc, true);
        assert_eq!(n, ["a.txt", "e.exe"]);
    }

    pub fn rar5(name: &str, data: &[u8], method: u64, encrypted: bool) -> Vec<u8> {
        fn vint(mut v: u64, out: &mut Vec<u8>) {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    out.push(b);
                    return;
                }
                out.push(b | 0x80);
            }
        }
        fn block(body: &[u8], out: &mut Vec<u8>) {
            out.extend([0u8; 4]);
            vint(body.len() as u64, out);
            out.extend(body);
        }
        let mut v = b"Rar!\x1a\x07\x01\x00".to_vec();
        let mut main = Vec::new();
        vint(1, &mut main);
        vint(0, &mut main);
        vint(0, &mut main);
        block(&main, &mut v);
        let mut extra = Vec::new();
        if encrypted {
            let rec = [1u8, 0, 0, 0];
            vint(rec.len() as u64, &mut extra);
            extra.extend(rec);
        }
        let mut f = Vec::new();
        vint(2, &mut f);
        vint(if encrypted { 3 } else { 2 }, &mut f);
        if encrypted {
            vint(extra.len() as u64, &mut f);
        }
        vint(data.len() as u64, &mut f);
        vint(0, &mut f);
        vint(data.len() as u64, &mut f);
        vint(0x20, &mut f);
        vint(method << 7, &mut f);
        vint(1, &mut f);
        vint(name.len() as u64, &mut f);
        f.extend(name.as_bytes());
        f.extend(&extra);
        block(&f, &mut v);
        v.extend(data);
        let mut end = Vec::new();
        vint(5, &mut end);
        vint(0, &mut end);
        vint(0, &mut end);
        block(&end, &mut v);
        v
    }

    #[test]
    fn rar5_members() {
        let (v, st) = members(&rar5("run.exe", b"MZ stored", 0, false));
        assert_eq!(st.unwrap(), Status::Complete);
        assert_eq!(v[0].name, "run.exe");
        assert_eq!(v[0].body, Body::Data(b"MZ stored".to_vec()));
        let (v, _) = members(&rar5("run.exe", b"packed", 3, false));
        assert!(matches!(v[0].body, Body::Unreadable(_)));
        let (v, _) = members(&rar5("run.exe", b"secret", 3, true));
        assert_eq!(v[0].body, Body::Encrypted);
    }
}
