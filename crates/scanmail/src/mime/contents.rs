//! What is inside a part besides its headers: uuencoded files in text, containers (archives,
//! compressed files, disk images, TNEF; see [`crate::container`]) and their members, and the
//! real type of every object.

use super::names::clean_name;
use super::walker::Walker;
use super::{BlindKind, MimeError};
use crate::container;
use crate::decode;

fn contains_begin(text: &[u8]) -> bool {
    text.starts_with(b"begin") || text.windows(6).any(|w| w == b"\nbegin")
}

impl Walker<'_> {
    /// Present a part's real type (see [`container::types`]) as `filename=<name>.<type>`; a
    /// `#!` script only when it is an attachment (a text body may start with `#!`).
    pub(super) fn sniff(&mut self, data: &[u8], name: &str, attachment: bool, part: &str) {
        for t in container::types::real_types(data) {
            if t == "sh" && !attachment {
                continue;
            }
            let n = format!("{name}.{t}");
            self.push(format!("filename={n}"), part);
            self.push(format!("name={n}"), part);
        }
    }

    /// uuencoded files inside a text.
    pub(super) fn text_extras(
        &mut self,
        text: &[u8],
        depth: usize,
        part: &str,
    ) -> Result<(), MimeError> {
        if !contains_begin(text) {
            return Ok(());
        }
        for b in decode::find_uuencoded(text) {
            self.out.parts += 1;
            if self.out.parts > self.limits.max_parts {
                return Err(MimeError::TooComplex(format!(
                    "more than {} parts",
                    self.limits.max_parts
                )));
            }
            self.count_bytes(b.data.len())?;
            self.out.attachments += 1;
            let desc = format!("{part} uuencoded ({})", decode::printable_name(&b.name));
            self.push_name(&b.name, &desc);
            let clean = clean_name(&b.name);
            self.open_container(&b.data, depth + 1, &desc)?;
            self.sniff(&b.data, &clean, true, &desc);
            self.object(&desc, &b.name, "application/octet-stream", &b.data)?;
        }
        Ok(())
    }

    /// Look inside a container (archive, compressed file, disk image, TNEF; see
    /// [`container`]), recursively: every member name is presented, every member's real type
    /// sniffed, members that are containers opened in turn, and members the scanner cannot see
    /// inside their container handed to it. What cannot be seen into (encrypted, too large,
    /// unreadable) is recorded in [`Analysis::blind`], never passed over.
    pub(super) fn open_container(
        &mut self,
        data: &[u8],
        depth: usize,
        part: &str,
    ) -> Result<(), MimeError> {
        let Some(format) = container::detect(data) else {
            return Ok(());
        };
        if depth > self.limits.max_depth {
            return Err(MimeError::TooComplex(format!(
                "archives nested deeper than {}",
                self.limits.max_depth
            )));
        }
        let lim = container::Limits {
            max_object_bytes: self.limits.max_object_bytes,
            budget: self
                .limits
                .max_decoded_bytes
                .saturating_sub(self.out.decoded_bytes),
            max_members: self.limits.max_archive_members.saturating_sub(self.members),
        };
        let mut failed = None;
        let status = container::list(format, data, &lim, &mut |m| {
            self.member(format, m, depth, part).map_err(|e| {
                failed = Some(e);
                container::Halt::Visitor
            })
        });
        let what = format.as_str();
        match status {
            Ok(container::Status::Complete) => Ok(()),
            Ok(container::Status::Unreadable(why)) => {
                self.blind(
                    BlindKind::Unreadable,
                    part,
                    format!("unreadable archive ({what}): {why}"),
                );
                Ok(())
            }
            Ok(container::Status::Encrypted) => {
                self.blind(
                    BlindKind::Encrypted,
                    part,
                    format!("encrypted {what} (even the names)"),
                );
                Ok(())
            }
            Err(container::Halt::TooComplex(why)) => Err(MimeError::TooComplex(why)),
            Err(container::Halt::Visitor) => {
                Err(failed
                    .unwrap_or_else(|| MimeError::TooComplex("archive listing stopped".into())))
            }
        }
    }

    /// One member of a container.
    fn member(
        &mut self,
        format: container::Format,
        m: container::Member,
        depth: usize,
        part: &str,
    ) -> Result<(), MimeError> {
        self.members += 1;
        if self.members > self.limits.max_archive_members {
            return Err(MimeError::TooComplex(format!(
                "more than {} archive members",
                self.limits.max_archive_members
            )));
        }
        let what = format.as_str();
        let (desc, shown) = if m.name.is_empty() {
            (format!("{part} {what} content"), "unnamed".to_string())
        } else {
            let desc = format!("{part} member {}", decode::printable_name(&m.name));
            self.push_name(&m.name, &desc);
            (desc, clean_name(&m.name))
        };
        match m.body {
            container::Body::Empty => {}
            container::Body::Encrypted => {
                self.blind(
                    BlindKind::Encrypted,
                    &desc,
                    format!("encrypted {what} member"),
                );
            }
            container::Body::TooLarge(n) => {
                self.blind(
                    BlindKind::TooLarge,
                    &desc,
                    format!(
                        "{what} member of {n} bytes or more, past max_object_bytes ({})",
                        self.limits.max_object_bytes
                    ),
                );
            }
            container::Body::Unreadable(why) => {
                self.blind(
                    BlindKind::Unreadable,
                    &desc,
                    format!("unreadable archive member ({what}): {why}"),
                );
            }
            container::Body::Head(head) => {
                self.count_bytes(head.len())?;
                self.sniff(&head, &shown, true, &desc);
            }
            container::Body::Data(data) => {
                self.count_bytes(data.len())?;
                self.open_container(&data, depth + 1, &desc)?;
                self.sniff(&data, &shown, true, &desc);
                if m.scan {
                    self.sink
                        .part(&desc, &shown, "application/octet-stream", &data)?;
                }
            }
        }
        Ok(())
    }
}
