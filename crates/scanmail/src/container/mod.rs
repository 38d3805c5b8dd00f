//! Looking inside what a recipient can open: archives, compressed files, disk images, TNEF.
//!
//! Every reader here takes hostile bytes and the limits of one message, and hands each member it
//! finds to a visitor: its name (every member name is judged against `matches.bad`), its
//! declared size, and its content when that can be read within the limits, or why not
//! (encrypted, too large, unreadable). A reader never fails on bad input: what it cannot read it
//! reports, so the walker can fail closed with a reason. The format is always found from the
//! bytes ([`detect`]), never from the name.
//!
//! What the scanner must be handed: clamd opens zip, tar, gzip, 7z and TNEF itself, so the members
//! of those reach it inside the container the walker already hands it; every other member
//! ([`Member::scan`]) is handed to it on its own (a zip with data in front of it, a zip packed with
//! a method clamd may lack, bzip2, xz, zstd, cab, rar, ISO images). See docs/ARCHITECTURE.md.

use std::io::Read;

mod cab;
mod compressed;
mod iso;
mod rar;
mod sevenz;
mod tar;
mod tnef;
pub mod types;
mod zip;

/// A container format, found by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Zip,
    Tar,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    SevenZ,
    Rar,
    Cab,
    Iso,
    Tnef,
}

impl Format {
    /// Every format (the fuzz tests force each reader on every input).
    pub const ALL: [Format; 11] = [
        Format::Zip,
        Format::Tar,
        Format::Gzip,
        Format::Bzip2,
        Format::Xz,
        Format::Zstd,
        Format::SevenZ,
        Format::Rar,
        Format::Cab,
        Format::Iso,
        Format::Tnef,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::Gzip => "gzip",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
            Format::Zstd => "zstd",
            Format::SevenZ => "7z",
            Format::Rar => "rar",
            Format::Cab => "cab",
            Format::Iso => "ISO image",
            Format::Tnef => "TNEF",
        }
    }

    /// clamd opens this container itself (the cost rule): its members need not be handed
    /// to the scanner separately. RAR needs the non-free libclamunrar, absent from Debian's
    /// clamav; the others are counted as unknown to clamd so that nothing depends on its build.
    pub fn scanner_opens(self) -> bool {
        matches!(
            self,
            Format::Zip | Format::Tar | Format::Gzip | Format::SevenZ | Format::Tnef
        )
    }
}

/// The limits one listing works within (taken from the message's remaining budget).
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest member the scanner is trusted to read (`[scan] max_object_bytes`).
    pub max_object_bytes: u64,
    /// Decoded bytes the message may still produce.
    pub budget: u64,
    /// Members the message may still have.
    pub max_members: usize,
}

/// One member of a container.
#[derive(Clone, Debug)]
pub struct Member {
    /// The name as stored (lossily decoded to text); empty when the format stores none.
    pub name: String,
    /// The size the container declares, when it does.
    pub size: Option<u64>,
    pub body: Body,
    /// The scanner cannot see this member inside its container: hand it over on its own.
    pub scan: bool,
}

/// What could be read of a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// All of its content.
    Data(Vec<u8>),
    /// Its first bytes only (enough to find its type): the scanner reads the rest inside the
    /// container, and it is no container itself.
    Head(Vec<u8>),
    /// A directory, link or other entry without content.
    Empty,
    /// Encrypted: the name is known, the content is not.
    Encrypted,
    /// Larger than `max_object_bytes` (the size, or a lower bound).
    TooLarge(u64),
    /// Cannot be read (unsupported method, damaged): why.
    Unreadable(String),
}

/// Why a listing stopped before its end.
#[derive(Debug)]
pub enum Halt {
    /// A limit of the message was reached (members, decoded bytes): too complex.
    TooComplex(String),
    /// The visitor stopped the listing; it keeps its own reason.
    Visitor,
}

/// How a listing ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every member was seen.
    Complete,
    /// The container (or the rest of it) cannot be read: why. Members seen before were visited.
    Unreadable(String),
    /// The container's index is encrypted: not even the names can be read.
    Encrypted,
}

/// The visitor a reader hands each member to.
pub type Visit<'v> = dyn FnMut(Member) -> Result<(), Halt> + 'v;

/// How many bytes of a member are read when only its type is needed: enough for every magic
/// number [`detect`] and [`types::real_types`] look for, the ISO 9660 volume descriptor at
/// 32 KiB being the farthest in.
pub const HEAD_BYTES: usize = 34 * 1024;

/// The container format of `data`, from its magic bytes.
pub fn detect(data: &[u8]) -> Option<Format> {
    let f = if data.starts_with(b"PK\x03\x04")
        || data.starts_with(b"PK\x05\x06")
        || data.starts_with(b"PK\x07\x08")
    {
        Format::Zip
    } else if data.starts_with(b"\x1f\x8b\x08") {
        Format::Gzip
    } else if compressed::is_bzip2(data) {
        Format::Bzip2
    } else if data.starts_with(b"\xfd7zXZ\x00") {
        Format::Xz
    } else if data.starts_with(b"\x28\xb5\x2f\xfd") {
        Format::Zstd
    } else if data.starts_with(b"7z\xbc\xaf\x27\x1c") {
        Format::SevenZ
    } else if rar::is_rar(data) {
        Format::Rar
    } else if data.starts_with(b"MSCF\0\0\0\0") {
        Format::Cab
    } else if data.starts_with(b"\x78\x9f\x3e\x22") {
        Format::Tnef
    } else if iso::is_image(data) {
        Format::Iso
    } else if tar::is_tar(data) {
        Format::Tar
    } else if zip::prefixed(data) {
        // Data in front of a zip (self-extractors, or a disguise): found by its end record, as
        // unzip does. Last, because it looks at the end of every input.
        Format::Zip
    } else {
        return None;
    };
    Some(f)
}

/// List the members of `data` (in `format`), handing each to `visit`.
pub fn list(
    format: Format,
    data: &[u8],
    lim: &Limits,
    visit: &mut Visit<'_>,
) -> Result<Status, Halt> {
    let mut r = Reader {
        lim,
        used: 0,
        members: 0,
    };
    match format {
        Format::Zip => zip::list(data, &mut r, visit),
        Format::Tar => tar::list(data, &mut r, visit),
        Format::Gzip | Format::Bzip2 | Format::Xz | Format::Zstd => {
            compressed::list(format, data, &mut r, visit)
        }
        Format::SevenZ => sevenz::list(data, &mut r, visit),
        Format::Rar => rar::list(data, &mut r, visit),
        Format::Cab => cab::list(data, &mut r, visit),
        Format::Iso => iso::list(data, &mut r, visit),
        Format::Tnef => tnef::list(data, &mut r, visit),
    }
}

/// The first read of a member's head.
const SHORT_HEAD: usize = 1024;

/// The start of a disk image: zeros, or a boot record (hybrid images).
fn system_area(head: &[u8]) -> bool {
    head.iter().all(|&b| b == 0) || head.get(510..512) == Some(&[0x55, 0xaa])
}

/// The state one listing shares with its reader: limits and what was used of them.
pub(crate) struct Reader<'l> {
    lim: &'l Limits,
    used: u64,
    members: usize,
}

impl Reader<'_> {
    /// Count one member against the message's limit.
    fn member(&mut self) -> Result<(), Halt> {
        self.members += 1;
        if self.members > self.lim.max_members {
            return Err(Halt::TooComplex(format!(
                "more than {} archive members",
                self.members - 1
            )));
        }
        Ok(())
    }

    fn budget_left(&self) -> u64 {
        self.lim.budget.saturating_sub(self.used)
    }

    /// Read a member's content from `src` within the limits. With `whole` false only its head is
    /// read, unless the head shows a format the walker must look into (a container, a compound
    /// file, a zip-based type). `declared` is the size the container claims.
    fn take(
        &mut self,
        src: &mut dyn Read,
        declared: Option<u64>,
        whole: bool,
    ) -> Result<Body, Halt> {
        let max = self.lim.max_object_bytes;
        if let Some(d) = declared {
            if d > max {
                return Ok(Body::TooLarge(d));
            }
        }
        // A short head first: most members show their type in it. A disk image's first 32 KiB
        // are its system area (zeros, or a boot record in a hybrid image): only then is the head
        // read on to the volume descriptor.
        let mut data = Vec::new();
        for want in [SHORT_HEAD, HEAD_BYTES] {
            let want = (want as u64).min(self.budget_left().saturating_add(1));
            let have = data.len() as u64;
            if let Err(e) = src.take(want.saturating_sub(have)).read_to_end(&mut data) {
                return Ok(read_error(e));
            }
            if (data.len() as u64) < want {
                // The member ended within its head: this is all of it.
                self.spend(data.len() as u64)?;
                return Ok(Body::Data(data));
            }
            if whole || detect(&data).is_some() || types::needs_whole(&data) {
                break;
            }
            if !system_area(&data) || want as usize == HEAD_BYTES {
                self.spend(data.len() as u64)?;
                return Ok(Body::Head(data));
            }
        }
        // The rest, up to one byte past whichever limit comes first.
        let cap = max.min(self.budget_left()).saturating_add(1);
        if let Err(e) = src
            .take(cap.saturating_sub(data.len() as u64))
            .read_to_end(&mut data)
        {
            return Ok(read_error(e));
        }
        let n = data.len() as u64;
        if n > max {
            return Ok(Body::TooLarge(n));
        }
        self.spend(n)?;
        Ok(Body::Data(data))
    }

    /// After a head: decode the rest of the member without keeping it, to learn its real size
    /// (a compressed stream declares none that can be trusted). Past `max_object_bytes` the
    /// member is too large: the scanner would skip it and call it clean.
    fn drain(&mut self, src: &mut dyn Read, head: Vec<u8>) -> Result<Body, Halt> {
        let max = self.lim.max_object_bytes;
        let mut total = head.len() as u64;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => return Ok(Body::Head(head)),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Ok(read_error(e)),
            };
            total += n as u64;
            if total > max {
                return Ok(Body::TooLarge(total));
            }
            self.spend(n as u64)?;
        }
    }

    fn spend(&mut self, n: u64) -> Result<(), Halt> {
        self.used = self.used.saturating_add(n);
        if self.used > self.lim.budget {
            return Err(Halt::TooComplex(format!(
                "more than {} decoded bytes",
                self.lim.budget
            )));
        }
        Ok(())
    }
}

/// A writer that refuses bytes past its cap (lzma-rs writes, it cannot be read from).
pub(crate) struct Capped {
    buf: Vec<u8>,
    cap: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let room = self.cap - self.buf.len();
        if room == 0 {
            return Err(std::io::Error::other("output limit"));
        }
        let n = b.len().min(room);
        self.buf.extend_from_slice(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A read error of a decoder: damaged or unsupported content.
fn read_error(e: std::io::Error) -> Body {
    Body::Unreadable(e.to_string())
}

/// Text from bytes that may be UTF-8 or a legacy code page: what a tool would show.
fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Little-endian fields of hand-read formats, bounds-checked.
fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn limits() -> Limits {
        Limits {
            max_object_bytes: 1 << 20,
            budget: 8 << 20,
            max_members: 100,
        }
    }

    /// All members of `data`, and how the listing ended.
    pub fn members(data: &[u8]) -> (Vec<Member>, Result<Status, Halt>) {
        let mut v = Vec::new();
        let f = detect(data).expect("a container");
        let st = list(f, data, &limits(), &mut |m| {
            v.push(m);
            Ok(())
        });
        (v, st)
    }

    #[test]
    fn nothing_is_a_container_by_accident() {
        for d in [
            &b""[..],
            b"PK",
            b"hello world",
            b"%PDF-1.4\n",
            b"\x89PNG\r\n\x1a\n",
            &[0u8; 4096],
        ] {
            assert_eq!(detect(d), None, "{d:?}");
        }
    }

    #[test]
    fn take_reads_head_or_whole_within_limits() {
        let lim = Limits {
            max_object_bytes: 50_000,
            budget: 200_000,
            max_members: 10,
        };
        let mut r = Reader {
            lim: &lim,
            used: 0,
            members: 0,
        };
        let data = vec![b'a'; 40_000];
        assert!(
            matches!(r.take(&mut &data[..], None, false), Ok(Body::Head(h)) if h.len() == SHORT_HEAD)
        );
        // What may be a disk image's system area is read on to its volume descriptor.
        let zeros = vec![0u8; 40_000];
        assert!(
            matches!(r.take(&mut &zeros[..], None, false), Ok(Body::Head(h)) if h.len() == HEAD_BYTES)
        );
        assert!(
            matches!(r.take(&mut &data[..], None, true), Ok(Body::Data(d)) if d.len() == 40_000)
        );
        let big = vec![b'a'; 60_000];
        assert!(matches!(
            r.take(&mut &big[..], None, true),
            Ok(Body::TooLarge(50_001))
        ));
        assert!(matches!(
            r.take(&mut &b"x"[..], Some(1 << 30), true),
            Ok(Body::TooLarge(_))
        ));
        // The budget runs out: too complex.
        let mut n = 0;
        let res = loop {
            match r.take(&mut &data[..], None, true) {
                Ok(_) => n += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(res, Halt::TooComplex(_)) && n < 10, "{res:?} {n}");
    }
}

#[cfg(test)]
mod walk_tests;
