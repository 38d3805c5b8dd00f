//! Microsoft cabinet files, with the `cab` crate (stored, MSZIP, LZX; Quantum is reported
//! unreadable).

use super::{Body, Halt, Member, Reader, Status, Visit};
use std::io::Cursor;

pub(super) fn list(data: &[u8], r: &mut Reader, visit: &mut Visit<'_>) -> Result<Status, Halt> {
    let opened = std::panic::catch_unwind(|| cab::Cabinet::new(Cursor::new(data)));
    let mut cab = match opened {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Ok(Status::Unreadable(e.to_string())),
        Err(_) => return Ok(Status::Unreadable("damaged cabinet (reader failed)".into())),
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
            // The crate indexes its data blocks by offsets from the file: a hostile cabinet
            // makes it panic (found by tests/fuzz_containers.rs). That is an unreadable
            // cabinet, not a reason to stop judging the message.
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                cab.read_file(&name)
                    .map(|mut rd| r.take(&mut rd, Some(size), true))
            }));
            match read {
                Ok(Ok(body)) => body?,
                Ok(Err(e)) => Body::Unreadable(e.to_string()),
                Err(_) => Body::Unreadable("damaged cabinet (reader failed)".into()),
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
