//! tar (ustar, GNU, pax, and the old v7 headers), with the `tar` crate. Compressed tars are a
//! compressed file holding a tar: see `compressed.rs`.

use super::{lossy, Body, Halt, Member, Reader, Status, Visit};

/// A tar header at the start: the ustar magic, or a v7 header whose checksum is right.
pub(super) fn is_tar(data: &[u8]) -> bool {
    let Some(h) = data.get(..512) else {
        return false;
    };
    if &h[257..262] == b"ustar" {
        return true;
    }
    // v7: the checksum field is octal digits, and the sum of the header (that field counted as
    // spaces) equals it; a name must be there.
    let field = &h[148..156];
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    if digits.is_empty() || h[0] == 0 {
        return false;
    }
    let Ok(want) = u32::from_str_radix(std::str::from_utf8(&digits).unwrap_or("x"), 8) else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == want
}

pub(super) fn list(data: &[u8], r: &mut Reader, visit: &mut Visit<'_>) -> Result<Status, Halt> {
    let mut ar = tar::Archive::new(data);
    let entries = match ar.entries() {
        Ok(e) => e,
        Err(e) => return Ok(Status::Unreadable(e.to_string())),
    };
    for e in entries {
        let mut e = match e {
            Ok(e) => e,
            Err(err) => return Ok(Status::Unreadable(err.to_string())),
        };
        r.member()?;
        let name = lossy(&e.path_bytes());
        let size = e.size();
        let kind = e.header().entry_type();
        let body = if kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse() {
            r.take(&mut e, Some(size), false)?
        } else {
            Body::Empty
        };
        visit(Member {
            name,
            size: Some(size),
            body,
            scan: false,
        })?;
        // A link is saved under its own name; the target is a name a tool shows too.
        if let Some(target) = e.link_name_bytes() {
            let target = lossy(&target);
            r.member()?;
            visit(Member {
                name: target,
                size: None,
                body: Body::Empty,
                scan: false,
            })?;
        }
    }
    Ok(Status::Complete)
}

#[cfg(test)]
mod tests {
    use super::super::tests::members;
    use super::super::{Body, Status};

    pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (n, d) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, n, *d).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn members_and_long_names() {
        let long = format!("{}/evil.exe", "d".repeat(150));
        let t = tar_of(&[("a.txt", b"hello"), (&long, b"MZ\x90")]);
        let (v, st) = members(&t);
        assert_eq!(st.unwrap(), Status::Complete);
        assert_eq!(v[0].name, "a.txt");
        assert_eq!(v[1].name, long);
        assert_eq!(v[1].body, Body::Data(b"MZ\x90".to_vec()));
    }

    #[test]
    fn damaged_tar_is_unreadable() {
        let mut t = tar_of(&[("a.txt", b"hello"), ("b.txt", b"x")]);
        t[1024 + 148] = b'9';
        t.truncate(1100);
        let (_, st) = members(&t);
        assert!(matches!(st.unwrap(), Status::Unreadable(_)));
    }
}
