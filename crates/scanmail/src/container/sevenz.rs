//! 7z, with `sevenz-rust2`: names from the header, content decoded block by block (one thread,
//! a bounded dictionary). An encrypted header hides even the names; encrypted blocks hide the
//! content of their members.

use super::{Body, Halt, Member, Reader, Status, Visit};
use sevenz_rust2::{Archive, ArchiveReader, EncoderMethod, EntryDecision, Error, Password};
use std::io::Cursor;

/// Decoder memory (dictionaries, models) one archive may ask for: 7-Zip's own ultra setting
/// uses 64 MiB. More is refused as unreadable rather than allocated.
const MEMORY_KB: usize = 96 * 1024;

/// Methods of the 7-Zip forks that clamd's 7z reader lacks: such members go to the scanner.
const FOREIGN: &[&[u8]] = &[
    EncoderMethod::ID_ZSTD,
    EncoderMethod::ID_BROTLI,
    EncoderMethod::ID_LZ4,
    EncoderMethod::ID_LZS,
    EncoderMethod::ID_LIZARD,
    EncoderMethod::ID_DEFLATE64,
];

fn why(e: &Error) -> Option<Status> {
    match e {
        Error::PasswordRequired | Error::MaybeBadPassword(_) => Some(Status::Encrypted),
        _ => None,
    }
}

pub(super) fn list(data: &[u8], r: &mut Reader, visit: &mut Visit<'_>) -> Result<Status, Halt> {
    let archive = match Archive::read_with_memory_limit(
        &mut Cursor::new(data),
        &Password::empty(),
        MEMORY_KB,
    ) {
        Ok(a) => a,
        Err(e) => return Ok(why(&e).unwrap_or_else(|| Status::Unreadable(e.to_string()))),
    };
    let n = archive.files.len();
    let mut bodies: Vec<Option<Body>> = vec![None; n];
    let mut scan = vec![false; n];
    let mut pending = 0;
    for (i, f) in archive.files.iter().enumerate() {
        r.member()?;
        let block = archive
            .stream_map
            .file_block_index
            .get(i)
            .copied()
            .flatten()
            .and_then(|b| archive.blocks.get(b));
        scan[i] = block.is_some_and(|b| {
            b.coders
                .iter()
                .any(|c| FOREIGN.contains(&c.encoder_method_id()))
        });
        bodies[i] = if f.is_directory || !f.has_stream {
            Some(Body::Empty)
        } else if archive.is_file_encrypted(i) {
            Some(Body::Encrypted)
        } else if f.size > r.lim.max_object_bytes {
            Some(Body::TooLarge(f.size))
        } else {
            pending += 1;
            None
        };
    }
    let names: Vec<(String, u64)> = archive
        .files
        .iter()
        .map(|f| (f.name.clone(), f.size))
        .collect();
    let mut status = Status::Complete;
    if pending > 0 {
        let mut halt = None;
        let res =
            ArchiveReader::new_with_memory_limit(Cursor::new(data), Password::empty(), MEMORY_KB)
                .and_then(|mut ar| {
                    ar.set_thread_count(1);
                    ar.for_each_entries_with_decision(|entry, rd| {
                        // Entries come block by block, in file order: the first unfilled one by name.
                        let Some(i) = (0..n).find(|&i| {
                            bodies[i].is_none()
                                && names[i].0 == entry.name
                                && names[i].1 == entry.size
                        }) else {
                            return Ok(EntryDecision::Continue);
                        };
                        match r.take(rd, Some(entry.size), true) {
                            Ok(b) => {
                                let too_large = matches!(b, Body::TooLarge(_));
                                bodies[i] = Some(b);
                                // The rest of a too large member is not worth decoding.
                                Ok(if too_large {
                                    EntryDecision::SkipBlock
                                } else {
                                    EntryDecision::Continue
                                })
                            }
                            Err(h) => {
                                halt = Some(h);
                                Err(Error::Other("limit".into()))
                            }
                        }
                    })
                });
        if let Some(h) = halt {
            return Err(h);
        }
        if let Err(e) = res {
            status = why(&e).unwrap_or_else(|| Status::Unreadable(e.to_string()));
        }
    }
    for (i, (name, size)) in names.into_iter().enumerate() {
        let body = bodies[i].take().unwrap_or_else(|| match &status {
            Status::Encrypted => Body::Encrypted,
            Status::Unreadable(w) => Body::Unreadable(w.clone()),
            Status::Complete => Body::Unreadable("not decoded".into()),
        });
        visit(Member {
            name,
            size: Some(size),
            body,
            scan: scan[i],
        })?;
    }
    // The members said what could not be read; the listing itself was complete.
    Ok(if status == Status::Encrypted {
        Status::Complete
    } else {
        status
    })
}
