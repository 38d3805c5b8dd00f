//! TNEF (`winmail.dat`, `application/ms-tnef`), read by hand: a short attribute format with no
//! well-kept crate. Each attachment gives its title, its long file name from the MAPI
//! properties (both are judged) and its data; an embedded message's data is read too.

use super::{le16, le32, lossy, Body, Halt, Member, Reader, Status, Visit};

const ATT_REND_DATA: u32 = 0x0006_9002;
const ATT_TITLE: u32 = 0x0001_8010;
const ATT_DATA: u32 = 0x0006_800f;
const ATT_ATTACHMENT: u32 = 0x0006_9005;

#[derive(Default)]
struct Attachment<'a> {
    names: Vec<String>,
    data: Option<&'a [u8]>,
}

pub(super) fn list(data: &[u8], r: &mut Reader, visit: &mut Visit<'_>) -> Result<Status, Halt> {
    let mut atts: Vec<Attachment> = Vec::new();
    let mut pos = 6;
    let mut status = Status::Complete;
    while pos < data.len() {
        // Line ends or padding after the last attribute (files saved from mail have them).
        if data[pos..]
            .iter()
            .all(|b| b.is_ascii_whitespace() || *b == 0)
        {
            break;
        }
        let (Some(&level), Some(id), Some(len)) =
            (data.get(pos), le32(data, pos + 1), le32(data, pos + 5))
        else {
            status = Status::Unreadable("TNEF attribute cut short".into());
            break;
        };
        let start = pos + 9;
        let Some(value) = data.get(start..start.saturating_add(len as usize)) else {
            status = Status::Unreadable("TNEF attribute past the end".into());
            break;
        };
        pos = start + value.len() + 2;
        if level != 2 {
            continue;
        }
        if id == ATT_REND_DATA || atts.is_empty() {
            if atts.len() >= r.lim.max_members {
                return Err(Halt::TooComplex(format!(
                    "more than {} archive members",
                    r.lim.max_members
                )));
            }
            atts.push(Attachment::default());
        }
        let a = atts.last_mut().expect("pushed above");
        match id {
            ATT_TITLE => a
                .names
                .push(lossy(value.split(|&b| b == 0).next().unwrap_or(value))),
            ATT_DATA => a.data = Some(value),
            ATT_ATTACHMENT => {
                let props = mapi_props(value);
                for (pid, v) in props {
                    match pid {
                        // PR_ATTACH_FILENAME, PR_ATTACH_LONG_FILENAME, PR_DISPLAY_NAME,
                        // PR_ATTACH_PATHNAME, PR_ATTACH_LONG_PATHNAME.
                        0x3704 | 0x3707 | 0x3001 | 0x3708 | 0x370d => {
                            if let Some(s) = v.text() {
                                a.names.push(s)
                            }
                        }
                        // PR_ATTACH_DATA_OBJ: an embedded message (its IID first).
                        0x3701 => {
                            if let Value::Object(o) = v {
                                if a.data.is_none() && o.len() > 16 {
                                    a.data = Some(&o[16..]);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    for a in atts {
        let mut names: Vec<String> = Vec::new();
        for n in a.names {
            let n = n.trim_end_matches('\0').to_string();
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        }
        if names.is_empty() {
            names.push(String::new());
        }
        let body = match a.data {
            Some(d) => r.take(&mut &d[..], Some(d.len() as u64), false)?,
            None => Body::Empty,
        };
        let last = names.len() - 1;
        for (k, name) in names.into_iter().enumerate() {
            r.member()?;
            visit(Member {
                name,
                size: a.data.map(|d| d.len() as u64),
                body: if k == last { body.clone() } else { Body::Empty },
                scan: false,
            })?;
        }
    }
    Ok(status)
}

enum Value<'a> {
    Str8(&'a [u8]),
    Unicode(&'a [u8]),
    Object(&'a [u8]),
    Other,
}

impl Value<'_> {
    fn text(&self) -> Option<String> {
        match self {
            Value::Str8(b) => Some(lossy(b.split(|&c| c == 0).next().unwrap_or(b))),
            Value::Unicode(b) => {
                let u: Vec<u16> = b
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&c| c != 0)
                    .collect();
                Some(String::from_utf16_lossy(&u))
            }
            _ => None,
        }
    }
}

/// The MAPI properties of an attachment: (property id, value); parsing stops at the first
/// property it cannot size.
fn mapi_props(b: &[u8]) -> Vec<(u16, Value<'_>)> {
    let mut out = Vec::new();
    let Some(count) = le32(b, 0) else {
        return out;
    };
    let mut at = 4;
    let pad4 = |n: usize| n.div_ceil(4) * 4;
    for _ in 0..count.min(10_000) {
        let (Some(ty), Some(id)) = (le16(b, at), le16(b, at + 2)) else {
            break;
        };
        at += 4;
        if id >= 0x8000 {
            // Named property: a GUID, a kind, then a number or a name.
            at += 16;
            match le32(b, at) {
                Some(0) => at += 8,
                Some(1) => {
                    let Some(n) = le32(b, at + 4) else { break };
                    at += 8 + pad4(n as usize);
                }
                _ => break,
            }
        }
        let multi = ty & 0x1000 != 0;
        let base = ty & !0x1000;
        let fixed = match base {
            0x0002 | 0x0003 | 0x0004 | 0x000a | 0x000b => Some(4),
            0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => Some(8),
            0x0048 => Some(16),
            0x001e | 0x001f | 0x0102 | 0x000d => None,
            _ => break,
        };
        let n = if multi || fixed.is_none() {
            let Some(n) = le32(b, at) else { break };
            at += 4;
            n
        } else {
            1
        };
        let mut value = Value::Other;
        for _ in 0..n.min(10_000) {
            let bytes = match fixed {
                Some(s) => {
                    let v = b.get(at..at + s);
                    at += s;
                    v
                }
                None => {
                    let Some(len) = le32(b, at) else { break };
                    let v = b.get(at + 4..(at + 4).saturating_add(len as usize));
                    at = at.saturating_add(4 + pad4(len as usize));
                    v
                }
            };
            let Some(bytes) = bytes else {
                return out;
            };
            value = match base {
                0x001e => Value::Str8(bytes),
                0x001f => Value::Unicode(bytes),
                0x000d => Value::Object(bytes),
                _ => Value::Other,
            };
        }
        out.push((id, value));
        if at > b.len() {
            break;
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::tests::members;
    use super::super::{detect, Body, Format};

    fn attr(level: u8, id: u32, data: &[u8]) -> Vec<u8> {
        let mut v = vec![level];
        v.extend(id.to_le_bytes());
        v.extend((data.len() as u32).to_le_bytes());
        v.extend(data);
        let sum: u32 = data.iter().map(|&b| u32::from(b)).sum();
        v.extend(((sum & 0xffff) as u16).to_le_bytes());
        v
    }

    /// A winmail.dat with one attachment: 8.3 title, long name in the MAPI properties, data.
    pub fn winmail(title: &str, long: &str, data: &[u8]) -> Vec<u8> {
        let mut v = vec![0x78, 0x9f, 0x3e, 0x22, 0x01, 0x00];
        v.extend(attr(1, 0x0008_9006, &[0, 0, 0, 0, 0, 0, 1, 0]));
        v.extend(attr(
            2,
            super::ATT_REND_DATA,
            &[1, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0],
        ));
        let mut t = title.as_bytes().to_vec();
        t.push(0);
        v.extend(attr(2, super::ATT_TITLE, &t));
        v.extend(attr(2, super::ATT_DATA, data));
        let mut props = 1u32.to_le_bytes().to_vec();
        props.extend(0x001eu16.to_le_bytes());
        props.extend(0x3707u16.to_le_bytes());
        props.extend(1u32.to_le_bytes());
        let mut s = long.as_bytes().to_vec();
        s.push(0);
        props.extend((s.len() as u32).to_le_bytes());
        let padded = s.len().div_ceil(4) * 4;
        s.resize(padded, 0);
        props.extend(s);
        v.extend(attr(2, super::ATT_ATTACHMENT, &props));
        v
    }

    #[test]
    fn a_line_end_after_the_last_attribute_is_no_damage() {
        let mut w = winmail("A.TXT", "a.txt", b"hello");
        w.extend(b"\r\n");
        assert_eq!(members(&w).1.unwrap(), super::super::Status::Complete);
        w.extend(b"x");
        assert!(matches!(
            members(&w).1.unwrap(),
            super::super::Status::Unreadable(_)
        ));
    }

    #[test]
    fn titles_long_names_and_data() {
        let w = winmail("INVOIC~1.PDF", "invoice.pdf.exe", b"MZ\x90\x00");
        assert_eq!(detect(&w), Some(Format::Tnef));
        let (v, _) = members(&w);
        let names: Vec<&str> = v.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["INVOIC~1.PDF", "invoice.pdf.exe"]);
        assert_eq!(v[1].body, Body::Data(b"MZ\x90\x00".to_vec()));
    }
}
