//! ISO 9660 disk images (`.iso`, `.img`: Windows opens them with a double click), read by hand:
//! the primary tree, the Joliet tree (UCS-2 names, what Windows shows) and Rock Ridge `NM` names
//! (what Linux shows), so a name that differs between them is judged in every form. No
//! well-kept crate reads Joliet. UDF is not read: an image that carries UDF (Windows prefers it)
//! is reported unreadable after its ISO 9660 side is listed.

use super::{le16, le32, lossy, Body, Halt, Member, Reader, Status, Visit};
use std::collections::HashSet;

const SECTOR: usize = 2048;
const FIRST_DESCRIPTOR: usize = 16 * SECTOR;
/// Directories nested deeper than this are not followed (ISO 9660 allows 8).
const MAX_DEPTH: usize = 32;

pub(super) fn is_image(data: &[u8]) -> bool {
    let id = data.get(FIRST_DESCRIPTOR + 1..FIRST_DESCRIPTOR + 6);
    id == Some(b"CD001") || id == Some(b"BEA01")
}

struct Tree {
    joliet: bool,
    block: usize,
    root: (usize, usize),
}

pub(super) fn list(data: &[u8], r: &mut Reader, visit: &mut Visit<'_>) -> Result<Status, Halt> {
    let (trees, udf) = volume_descriptors(data);
    if trees.is_empty() {
        return Ok(Status::Unreadable(if udf {
            "UDF image (no UDF reader here)".into()
        } else {
            "no readable ISO 9660 volume".into()
        }));
    }
    let mut extents_read = HashSet::new();
    let mut status = Status::Complete;
    for t in &trees {
        walk_tree(data, t, r, visit, &mut extents_read, &mut status)?;
    }
    if udf && status == Status::Complete {
        status = Status::Unreadable("UDF file system not read (Windows shows that one)".into());
    }
    Ok(status)
}

/// The primary and Joliet directory trees the volume descriptors name, and whether the image
/// also carries UDF.
fn volume_descriptors(data: &[u8]) -> (Vec<Tree>, bool) {
    let mut trees = Vec::new();
    let mut udf = false;
    for k in 0..64 {
        let at = FIRST_DESCRIPTOR + k * SECTOR;
        let Some(d) = data.get(at..at + SECTOR) else {
            break;
        };
        match &d[1..6] {
            b"CD001" => {}
            b"BEA01" | b"NSR02" | b"NSR03" | b"TEA01" => {
                udf |= &d[1..6] != b"BEA01" && &d[1..6] != b"TEA01";
                continue;
            }
            _ => break,
        }
        let joliet = d[0] == 2 && d[88] == b'%' && d[89] == b'/' && b"@CE".contains(&d[90]);
        if d[0] == 1 || joliet {
            let block = usize::from(le16(d, 128).unwrap_or(0));
            let root = (
                le32(d, 156 + 2).unwrap_or(0) as usize,
                le32(d, 156 + 10).unwrap_or(0) as usize,
            );
            if block.is_power_of_two() && (512..=SECTOR).contains(&block) {
                trees.push(Tree {
                    joliet,
                    block,
                    root,
                });
            }
        }
    }
    (trees, udf)
}

/// Every member of one directory tree, each file's content read once over all trees (by extent);
/// what cannot be read sets `status`.
fn walk_tree(
    data: &[u8],
    t: &Tree,
    r: &mut Reader,
    visit: &mut Visit<'_>,
    extents_read: &mut HashSet<(usize, usize)>,
    status: &mut Status,
) -> Result<(), Halt> {
    let mut dirs_seen = HashSet::new();
    let mut stack = vec![(t.root, String::new(), 0usize)];
    while let Some(((lba, len), path, depth)) = stack.pop() {
        if depth > MAX_DEPTH || !dirs_seen.insert(lba) {
            continue;
        }
        let Some(dir) = lba
            .checked_mul(t.block)
            .and_then(|s| data.get(s..s.checked_add(len)?))
        else {
            *status = Status::Unreadable("directory outside the image".into());
            continue;
        };
        let mut pos = 0;
        while pos < dir.len() {
            let rlen = usize::from(dir[pos]);
            if rlen == 0 {
                // Records do not cross sector boundaries: go on at the next one.
                pos = (pos / SECTOR + 1) * SECTOR;
                continue;
            }
            let Some(rec) = dir.get(pos..pos + rlen).filter(|r| r.len() >= 34) else {
                *status = Status::Unreadable("directory record cut short".into());
                break;
            };
            pos += rlen;
            let nlen = usize::from(rec[32]);
            let Some(raw) = rec.get(33..33 + nlen) else {
                continue;
            };
            if raw == [0] || raw == [1] {
                continue;
            }
            let ext = le32(rec, 2).unwrap_or(0) as usize;
            let size = le32(rec, 10).unwrap_or(0) as usize;
            let is_dir = rec[25] & 2 != 0;
            let mut names = vec![file_name(raw, t.joliet)];
            if !t.joliet {
                let su = 33 + nlen + (1 - nlen % 2);
                if let Some(nm) = rock_ridge_name(rec.get(su..).unwrap_or(&[])) {
                    if !names.contains(&nm) {
                        names.push(nm);
                    }
                }
            }
            for (k, n) in names.iter().enumerate() {
                r.member()?;
                let name = format!("{path}{n}");
                let body = if is_dir || k > 0 || !extents_read.insert((ext, size)) {
                    Body::Empty
                } else {
                    match ext
                        .checked_mul(t.block)
                        .and_then(|s| data.get(s..s.checked_add(size)?))
                    {
                        Some(c) => r.take(&mut &c[..], Some(size as u64), true)?,
                        None => Body::Unreadable("file outside the image".into()),
                    }
                };
                visit(Member {
                    name,
                    size: (!is_dir).then_some(size as u64),
                    body,
                    scan: true,
                })?;
            }
            if is_dir {
                stack.push(((ext, size), format!("{path}{}/", names[0]), depth + 1));
            }
        }
    }
    Ok(())
}

/// A directory record's name: Joliet's UCS-2 or the 8-bit one, without the `;1` version.
fn file_name(raw: &[u8], joliet: bool) -> String {
    let s = if joliet {
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        lossy(raw)
    };
    match s.rsplit_once(';') {
        Some((n, v)) if v.bytes().all(|b| b.is_ascii_digit()) => n.to_string(),
        _ => s,
    }
}

/// The Rock Ridge alternate name (`NM` entries, possibly continued) in a system use area.
fn rock_ridge_name(mut su: &[u8]) -> Option<String> {
    let mut name = Vec::new();
    let mut found = false;
    while su.len() >= 4 {
        let len = usize::from(su[2]);
        if len < 4 || len > su.len() {
            break;
        }
        if &su[..2] == b"NM" && len >= 5 {
            found = true;
            name.extend_from_slice(&su[5..len]);
        }
        su = &su[len..];
    }
    (found && !name.is_empty()).then(|| lossy(&name))
}

#[cfg(test)]
mod tests {
    use super::super::tests::members;
    use super::super::{detect, Body, Format, Status};
    use super::{FIRST_DESCRIPTOR, SECTOR};

    /// An image with one primary volume whose root holds one file, and optionally a Joliet
    /// volume naming the same file differently, or UDF descriptors.
    fn image(primary: &[u8], joliet: Option<&str>, udf: bool) -> Vec<u8> {
        let mut d = vec![0u8; SECTOR * 24];
        let desc = |d: &mut Vec<u8>, k: usize, kind: u8, root: usize, esc: bool| {
            let at = FIRST_DESCRIPTOR + k * SECTOR;
            d[at] = kind;
            d[at + 1..at + 6].copy_from_slice(b"CD001");
            d[at + 6] = 1;
            if esc {
                d[at + 88..at + 91].copy_from_slice(b"%/E");
            }
            d[at + 128..at + 130].copy_from_slice(&(SECTOR as u16).to_le_bytes());
            let r = at + 156;
            d[r] = 34;
            d[r + 2..r + 6].copy_from_slice(&(root as u32).to_le_bytes());
            d[r + 10..r + 14].copy_from_slice(&(SECTOR as u32).to_le_bytes());
            d[r + 25] = 2;
            d[r + 32] = 1;
        };
        let dir = |d: &mut Vec<u8>, sector: usize, name: &[u8]| {
            let at = sector * SECTOR;
            let len = 33 + name.len() + (1 - name.len() % 2);
            d[at] = len as u8;
            d[at + 2..at + 6].copy_from_slice(&22u32.to_le_bytes());
            d[at + 10..at + 14].copy_from_slice(&4u32.to_le_bytes());
            d[at + 32] = name.len() as u8;
            d[at + 33..at + 33 + name.len()].copy_from_slice(name);
        };
        desc(&mut d, 0, 1, 20, false);
        dir(&mut d, 20, primary);
        let mut k = 1;
        if let Some(j) = joliet {
            desc(&mut d, k, 2, 21, true);
            let units: Vec<u8> = j.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
            dir(&mut d, 21, &units);
            k += 1;
        }
        let term = FIRST_DESCRIPTOR + k * SECTOR;
        d[term] = 255;
        d[term + 1..term + 6].copy_from_slice(b"CD001");
        if udf {
            for (n, id) in [b"BEA01", b"NSR02", b"TEA01"].iter().enumerate() {
                let at = term + (n + 1) * SECTOR;
                d[at + 1..at + 6].copy_from_slice(*id);
            }
        }
        d[22 * SECTOR..22 * SECTOR + 4].copy_from_slice(b"MZ\x90\x00");
        d
    }

    #[test]
    fn primary_and_joliet_names_both_count() {
        let img = image(b"README.TXT;1", Some("invoice.pdf.exe"), false);
        assert_eq!(detect(&img), Some(Format::Iso));
        let (v, st) = members(&img);
        assert_eq!(st.unwrap(), Status::Complete);
        let names: Vec<&str> = v.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["README.TXT", "invoice.pdf.exe"]);
        // The content is read once, under the first name.
        assert_eq!(v[0].body, Body::Data(b"MZ\x90\x00".to_vec()));
        assert_eq!(v[1].body, Body::Empty);
    }

    #[test]
    fn udf_is_not_passed_over() {
        let (_, st) = members(&image(b"A.TXT;1", None, true));
        assert!(matches!(st.unwrap(), Status::Unreadable(w) if w.contains("UDF")));
    }

    #[test]
    fn rock_ridge_name() {
        let mut su = b"PX\x0c\x01".to_vec();
        su.extend([0u8; 8]);
        su.extend(b"NM\x0d\x01\x00evil.exe");
        assert_eq!(super::rock_ridge_name(&su).as_deref(), Some("evil.exe"));
    }
}
