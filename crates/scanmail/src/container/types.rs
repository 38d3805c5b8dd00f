//! The real type of an object, from its bytes: what the recipient's system would run or open it
//! as, whatever its name says. The walker presents each as `filename=<name>.<type>`, so the
//! shipped `matches.bad` line for that type bans it under any name.

use super::{le16, le32};

/// The `infer` crate finds most types; these are the ones it lacks or that need the CLSID.
const LNK: &[u8] =
    b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46";
const OLE: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";

/// Root storage CLSIDs of compound files, as the registry writes them, and their type.
const CLSIDS: &[(&str, &str)] = &[
    ("000C1084-0000-0000-C000-000000000046", "msi"),
    ("000C1086-0000-0000-C000-000000000046", "msp"),
    ("000C1082-0000-0000-C000-000000000046", "mst"),
    ("00020906-0000-0000-C000-000000000046", "doc"),
    ("00020900-0000-0000-C000-000000000046", "doc"),
    ("00020820-0000-0000-C000-000000000046", "xls"),
    ("00020810-0000-0000-C000-000000000046", "xls"),
    ("64818D10-4F9B-11CF-86EA-00AA00B929E8", "ppt"),
    ("00020D0B-0000-0000-C000-000000000046", "msg"),
    ("0003000C-0000-0000-C000-000000000046", "package"),
];

/// The types of `data` (file name extensions, lower case, without the dot). `#!` scripts are
/// `sh`; a compound file with an unknown CLSID is `ole`.
pub fn real_types(data: &[u8]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    let mut add = |t: &'static str| {
        if !v.contains(&t) {
            v.push(t)
        }
    };
    if data.starts_with(b"MZ") {
        add("exe");
    }
    if data.starts_with(b"\x7fELF") {
        add("elf");
    }
    if is_macho(data) {
        add("macho");
    }
    if data.starts_with(b"\xca\xfe\xba\xbe") && !is_macho(data) {
        add("class");
    }
    if data.starts_with(b"#!") {
        add("sh");
    }
    if data.starts_with(LNK) {
        add("lnk");
    }
    if data.starts_with(OLE) {
        add(clsid(data)
            .and_then(|c| {
                CLSIDS
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&c))
                    .map(|(_, t)| *t)
            })
            .unwrap_or("ole"));
    }
    if data.starts_with(b"ITSF") {
        add("chm");
    }
    if super::iso::is_image(data) {
        add("iso");
    }
    if data.starts_with(b"vhdxfile") {
        add("vhdx");
    }
    // A fixed VHD has its footer at the end only; a dynamic one a copy at the start too.
    let tail = |n: usize| data.len().checked_sub(n).map(|at| &data[at..]);
    if data.starts_with(b"conectix")
        || tail(512).is_some_and(|t| t.starts_with(b"conectix"))
        || tail(511).is_some_and(|t| t.starts_with(b"conectix"))
    {
        add("vhd");
    }
    if tail(512).is_some_and(|t| t.starts_with(b"koly")) {
        add("dmg");
    }
    if data.starts_with(b"PK\x03\x04") && is_jar(data) {
        add("jar");
    }
    if let Some(t) = infer::get(data) {
        if t.matcher_type() == infer::MatcherType::App {
            add(match t.extension() {
                "mach" => "macho",
                e => e,
            });
        }
    }
    v
}

/// The head shows a type whose real type needs all of the bytes (a compound file's CLSID
/// stands in its directory, anywhere in the file).
pub fn needs_whole(head: &[u8]) -> bool {
    head.starts_with(OLE)
}

/// Mach-O: thin (32/64 bit, either byte order) or fat with a plausible number of slices (a
/// Java class starts with the same bytes, followed by its version, 45 or more).
fn is_macho(d: &[u8]) -> bool {
    let thin = [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
    ];
    if thin.iter().any(|m| d.starts_with(m)) {
        return true;
    }
    d.starts_with(&[0xca, 0xfe, 0xba, 0xbe])
        && d.get(4..8)
            .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]))
            .is_some_and(|n| (1..30).contains(&n))
}

/// A Java archive: a zip with a manifest and classes.
fn is_jar(data: &[u8]) -> bool {
    let names = super::zip::names(data);
    names
        .iter()
        .any(|n| n.eq_ignore_ascii_case("META-INF/MANIFEST.MF"))
        && names
            .iter()
            .any(|n| n.to_ascii_lowercase().ends_with(".class"))
}

/// The CLSID of a compound file's root storage, as `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`.
pub fn clsid(d: &[u8]) -> Option<String> {
    let shift = le16(d, 0x1e)?;
    if !(7..=16).contains(&shift) {
        return None;
    }
    let first_dir = le32(d, 0x30)? as usize;
    let at = first_dir.checked_add(1)?.checked_shl(u32::from(shift))?;
    let root = d.get(at..at.checked_add(128)?)?;
    // Entry type 5: the root storage.
    if root[0x42] != 5 {
        return None;
    }
    let c = &root[0x50..0x60];
    Some(format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{}",
        le32(c, 0)?,
        le16(c, 4)?,
        le16(c, 6)?,
        c[8],
        c[9],
        c[10..16]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compound file header and one directory sector whose root entry has `clsid`.
    pub fn compound(clsid: [u8; 16]) -> Vec<u8> {
        let mut d = vec![0u8; 512 * 3];
        d[..8].copy_from_slice(OLE);
        d[0x1e] = 9;
        d[0x30..0x34].copy_from_slice(&1u32.to_le_bytes());
        let root = 512 * 2;
        d[root + 0x42] = 5;
        d[root + 0x50..root + 0x60].copy_from_slice(&clsid);
        d
    }

    #[test]
    fn programs_by_their_bytes() {
        assert_eq!(real_types(b"MZ\x90\x00"), ["exe"]);
        assert_eq!(real_types(b"\x7fELF\x02\x01"), ["elf"]);
        assert!(real_types(b"\xcf\xfa\xed\xfe\x07\x00\x00\x01").contains(&"macho"));
        assert_eq!(real_types(b"#!/bin/sh\n"), ["sh"]);
        let mut lnk = LNK.to_vec();
        lnk.extend([0u8; 60]);
        assert_eq!(real_types(&lnk), ["lnk"]);
        assert_eq!(real_types(b"ITSF\x03\x00\x00\x00"), ["chm"]);
        assert_eq!(real_types(b"vhdxfile"), ["vhdx"]);
        let mut vhd = vec![0u8; 4096];
        vhd.extend(b"conectix");
        vhd.extend([0u8; 504]);
        assert_eq!(real_types(&vhd), ["vhd"]);
        assert!(real_types(b"%PDF-1.4").is_empty());
        assert!(real_types(b"hello").is_empty());
    }

    #[test]
    fn compound_files_by_clsid() {
        // 000C1084-0000-0000-C000-000000000046, stored little-endian in its first three fields.
        let msi = [
            0x84, 0x10, 0x0c, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46,
        ];
        assert_eq!(real_types(&compound(msi)), ["msi"]);
        assert_eq!(real_types(&compound([7; 16])), ["ole"]);
        assert_eq!(
            clsid(&compound(msi)).unwrap(),
            "000C1084-0000-0000-C000-000000000046"
        );
    }
}
