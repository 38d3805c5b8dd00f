//! Microsoft cabinet files, with the `cab` crate (stored, MSZIP, LZX; Quantum is reported
//! unreadable).

use super::{Body, Halt, Member, Reader, Status, Visit};
use std::io::Cursor;

pub(super) fn list(data: &[u8], r: &mut Reader, visit: &mut Visit<'_>) -> Result<Status, Halt> {
    let mut cab = match cab::Cabinet::new(Cursor::new(data)) {
        Ok(c) => c,
        Err(e) => return Ok(Status::Unreadable(e.to_string())),
    };
    let mut files: Vec<(String, u64, bool)> = Vec::new();
    for folder in cab.folder_entries() {
        let known = !matches!(folder.compression_type(), cab::CompressionType::Quantum(..));
        for f in folder.file_entries() {
            files.push((
                f.name().to_string(),
                u64::from(f.uncompressed_size()),
                known,
            ));
        }
    }
    // A name read twice is the first file of that name (what `read_file` finds).
    let mut seen = std::collections::HashSet::new();
    for (name, size, known) in files {
        r.member()?;
        let body = if !known {
            Body::Unreadable("Quantum compression".into())
        } else if !seen.insert(name.clone()) {
            Body::Unreadable("a second member of the same name".into())
        } else {
            match cab.read_file(&name) {
                Ok(mut rd) => r.take(&mut rd, Some(size), true)?,
                Err(e) => Body::Unreadable(e.to_string()),
            }
        };
        visit(Member {
            name,
            size: Some(size),
            body,
            scan: true,
        })?;
    }
    Ok(Status::Complete)
}
