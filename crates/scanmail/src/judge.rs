//! One message's verdict: the article's two passes, hardened.
//!
//! 1. Banned names: `matches.bad` against every header line and every presented name of every
//!    part (see [`crate::mime`]). A hit quarantines the message; nothing else is needed.
//! 2. What cannot be seen into (see [`crate::mime::Blind`]): a verdict at once, no scan.
//! 3. Risky documents and the virus scan: with `scan_all` (the default) every message is scanned;
//!    without it (the article exactly) only messages that match `matches.doc` are. The scanner
//!    reads each byte about once: every leaf part once, decoded (attachments and encoded parts
//!    from `_d/`, parts shown inline as sent from memory), and the raw message whole only as a
//!    second opinion when the structure was ambiguous, or when it is one part as sent (nothing
//!    was decoded). clamd would otherwise decode the raw message's MIME itself and read every
//!    attachment twice.
//!
//! Preparing (decoding) and finishing (reading the scanner's outcome) are separate steps so that a
//! command scanner can run once over a whole batch.

use crate::decode::DecodedDir;
use crate::mime::{self, Analysis, BlindKind, Limits, MimeError, Sink};
use crate::scan::{Job, Object, ScanReport};
use spool::config::Policy;
use spool::patterns::PatternSet;
use spool::verdict::Verdict;
use spool::{Config, Envelope, Error as SpoolError, MessageId, Queue, Spool};
use std::sync::Arc;

/// The largest message handed to the scanner from memory (see [`Judge::prepare`]).
pub const KEEP_RAW_MAX: usize = 1 << 20;

/// How the message less its decoded parts is named in verdicts.
const REST: &str = "the message outside its decoded parts";

/// A decision about a message that moves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// One line for logs and the day file: the virus, the pattern, the reason.
    pub detail: String,
    /// The virus name (virus) or the pattern (banned).
    pub name: String,
    /// The part that matched or was infected.
    pub part: String,
}

impl Decision {
    pub fn new(verdict: Verdict, detail: impl Into<String>) -> Decision {
        Decision {
            verdict,
            detail: detail.into(),
            name: String::new(),
            part: String::new(),
        }
    }
}

/// Facts about the message that notices need.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub envelope: Option<Envelope>,
    pub subject: String,
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    pub size: u64,
    /// The walk created `incoming/<id>_d/` (it removed any leftover first).
    pub decoded_dir: bool,
    /// The `_d` index not yet written (see [`DecodedDir::take_index`]); written before a move
    /// to quarantine.
    pub index: Vec<u8>,
}

pub enum Prepared {
    /// Decided without a scan (banned, too complex, malformed, or clean by the article's rule).
    Decided(Decision),
    /// Needs the scanner.
    Scan(Job),
    /// Could not judge now: the message waits.
    Retry(String),
}

pub struct Judge {
    pub cfg: Config,
    pub spool: Spool,
    pub bad: PatternSet,
    pub doc: PatternSet,
}

struct DirSink<'a>(&'a mut DecodedDir);

impl Sink for DirSink<'_> {
    fn part(&mut self, label: &str, name: &str, ctype: &str, data: &[u8]) -> std::io::Result<()> {
        self.0.write(label, name, ctype, data).map(|_| ())
    }
}

/// The message less the bodies that reached the scanner decoded (`ranges`: sorted offsets and
/// lengths): its headers, the parts shown inline, preambles and epilogues, each read once.
pub fn rest_of(body: &[u8], ranges: &[(usize, usize)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for &(off, len) in ranges {
        let end = (off + len).min(body.len());
        if off > at {
            out.extend_from_slice(&body[at..off]);
        }
        at = at.max(end);
    }
    out.extend_from_slice(&body[at.min(body.len())..]);
    out
}

impl Judge {
    /// Load both pattern files; an invalid line is an error (and then nothing is judged).
    pub fn new(cfg: Config, spool: Spool) -> Result<Judge, spool::patterns::PatternError> {
        let bad = PatternSet::load(&spool.etc_file("matches.bad"))?;
        let doc = PatternSet::load(&spool.etc_file("matches.doc"))?;
        Ok(Judge {
            cfg,
            spool,
            bad,
            doc,
        })
    }

    fn limits(&self, size: u64) -> Limits {
        let s = &self.cfg.scan;
        Limits {
            max_depth: s.max_depth,
            max_parts: s.max_parts,
            // Ten times the message, but never less than one object the scanner reads: a
            // compressed log or CSV expands far more than ten times and is ordinary mail.
            max_decoded_bytes: s
                .max_decoded_bytes
                .min(size.saturating_mul(10).max(s.max_object_bytes)),
            max_archive_members: s.max_archive_members,
            max_object_bytes: s.max_object_bytes,
            max_name_lines: s.max_name_lines,
        }
    }

    /// Read, walk and decode one message (its lock is held by the caller). With `keep_raw` a
    /// message up to [`KEEP_RAW_MAX`] bytes is handed to the scanner from memory instead of
    /// being read from the spool file again.
    pub fn prepare(
        &self,
        id: &MessageId,
        wants_dir: bool,
        keep_raw: bool,
        facts: &mut Facts,
    ) -> Prepared {
        // A leftover `_d` from a crashed run goes first; the walk creates it anew when needed.
        let mut dd = match DecodedDir::for_message(&self.spool, Queue::Incoming, id) {
            Ok(d) => d,
            Err(e) => return Prepared::Retry(e.to_string()),
        };
        let p = self.prepare_in(id, wants_dir, keep_raw, facts, &mut dd);
        facts.decoded_dir = dd.exists();
        p
    }

    fn prepare_in(
        &self,
        id: &MessageId,
        wants_dir: bool,
        keep_raw: bool,
        facts: &mut Facts,
        dd: &mut DecodedDir,
    ) -> Prepared {
        let path = self.spool.message(Queue::Incoming, id);
        let (env, body) = match Envelope::read_body(&path) {
            Ok(x) => x,
            Err(SpoolError::Malformed { reason, .. }) => {
                return Prepared::Decided(Decision::new(Verdict::Malformed, reason))
            }
            Err(e) => return Prepared::Retry(e.to_string()),
        };
        facts.size = body.len() as u64;
        facts.envelope = Some(env);
        let ddir = dd.path().to_path_buf();
        let limits = self.limits(body.len() as u64);
        let analysis = match mime::analyze(&body, &limits, &mut DirSink(dd)) {
            Ok(a) => a,
            Err(MimeError::TooComplex(why)) => {
                let _ = dd.finish();
                return Prepared::Decided(Decision::new(Verdict::TooComplex, why));
            }
            Err(e) => return Prepared::Retry(e.to_string()),
        };
        facts.subject = analysis.header("subject").unwrap_or("").to_string();
        facts.auto_submitted = analysis.header("auto-submitted").map(String::from);
        facts.precedence = analysis.header("precedence").map(String::from);

        let texts = analysis.lines.iter().map(|l| l.text.as_str());
        if let Some((n, hit)) = self.bad.first_match(texts) {
            let _ = dd.finish();
            let part = analysis.lines[n].part.clone();
            return Prepared::Decided(Decision {
                verdict: Verdict::Banned,
                detail: format!("{} matched {:?} in part {part}", hit.pattern, hit.line),
                name: hit.pattern,
                part,
            });
        }
        if let Some(d) = self.unseen(&analysis) {
            let _ = dd.finish();
            return Prepared::Decided(d);
        }
        let doc_hit = self
            .doc
            .first_match(analysis.lines.iter().map(|l| l.text.as_str()))
            .is_some();
        if !self.cfg.scan.scan_all && !doc_hit {
            return Prepared::Decided(Decision::new(Verdict::Clean, "no risky document"));
        }
        let mut objects: Vec<Object> = dd
            .files()
            .iter()
            .map(|(p, d)| Object::File(p.clone(), d.clone()))
            .collect();
        let ambiguous = !analysis.ambiguous.is_empty();
        let raw_too = self.cfg.scan.scan_all || objects.is_empty() || ambiguous;
        // What of the message the scanner has not read decoded: all of it when the structure is
        // ambiguous (a second opinion) or nothing was decoded, else the rest without those bodies.
        let rest = (raw_too && !ambiguous && !analysis.handed_over.is_empty())
            .then(|| rest_of(&body, &analysis.handed_over));
        let whole_len = rest.as_ref().map_or(body.len(), Vec::len);
        if raw_too && whole_len as u64 > self.cfg.scan.max_object_bytes {
            let _ = dd.finish();
            return Prepared::Decided(Decision::new(
                Verdict::Unscannable,
                format!(
                    "the message ({whole_len} bytes outside its decoded parts) is larger than \
                     the scanner reads ({})",
                    self.cfg.scan.max_object_bytes
                ),
            ));
        }
        if !analysis.ambiguous.is_empty() {
            log::info!(
                "{id}: ambiguous MIME structure, every reading judged and the message scanned \
                 whole: {}",
                analysis.ambiguous.join("; ")
            );
        }
        if raw_too {
            if let Err(why) = add_whole(&path, &body, rest, keep_raw, wants_dir, dd, &mut objects) {
                return Prepared::Retry(why);
            }
        }
        // Most scanned mail is clean and its `_d` removed: the index waits for a verdict.
        facts.index = dd.take_index();
        Prepared::Scan(Job {
            id: id.clone(),
            objects,
            dir: ddir,
        })
    }

    /// A verdict for what the walk could not see into (or saw as malformed), given at once: it
    /// depends only on the message, so a retry cannot change it.
    fn unseen(&self, a: &Analysis) -> Option<Decision> {
        if let Some((part, name)) = a.malformed_names.first() {
            return Some(Decision {
                verdict: Verdict::Banned,
                detail: format!("malformed name {name:?} (only control characters) in part {part}"),
                name: "malformed name".into(),
                part: part.clone(),
            });
        }
        let s = &self.cfg.scan;
        let verdict = |k: BlindKind| match k {
            BlindKind::Unreadable | BlindKind::TooLarge => Some(Verdict::Unscannable),
            BlindKind::Encrypted => {
                (s.encrypted == Policy::Quarantine).then_some(Verdict::Encrypted)
            }
            BlindKind::Partial => (s.partial == Policy::Quarantine).then_some(Verdict::Unscannable),
        };
        // The most certain reason first: what cannot be read at all, then encrypted content,
        // then content that is elsewhere.
        let rank = |k: BlindKind| match k {
            BlindKind::Unreadable | BlindKind::TooLarge => 0,
            BlindKind::Encrypted => 1,
            BlindKind::Partial => 2,
        };
        let b = a
            .blind
            .iter()
            .filter(|b| verdict(b.kind).is_some())
            .min_by_key(|b| rank(b.kind))?;
        Some(Decision {
            verdict: verdict(b.kind)?,
            detail: format!("{} (part {})", b.detail, b.part),
            name: String::new(),
            part: b.part.clone(),
        })
    }

    /// The decision from the scanner's outcome; Err for "wait and retry".
    pub fn finish(&self, outcome: ScanReport) -> Result<Decision, String> {
        match outcome {
            ScanReport::Unscannable { reason, object } => Ok(Decision {
                verdict: Verdict::Unscannable,
                detail: format!("{reason} in {object}"),
                name: String::new(),
                part: object,
            }),
            ScanReport::Encrypted { name, object }
                if self.cfg.scan.encrypted == Policy::Quarantine =>
            {
                Ok(Decision {
                    verdict: Verdict::Encrypted,
                    detail: format!("{name}: encrypted content in {object}"),
                    name,
                    part: object,
                })
            }
            ScanReport::Encrypted { name, object } => Ok(Decision::new(
                Verdict::Clean,
                format!("scanned clean; {name} in {object} passed ([scan] encrypted = \"pass\")"),
            )),
            ScanReport::Clean => Ok(Decision::new(Verdict::Clean, "scanned clean")),
            ScanReport::Virus { name, object } => Ok(Decision {
                verdict: Verdict::Virus,
                detail: if object.is_empty() {
                    name.clone()
                } else {
                    format!("{name} in {object}")
                },
                name,
                part: object,
            }),
            ScanReport::Error(e) => Err(e),
        }
    }
}

/// Add what of the message the scanner must read whole to `objects` (or, when the caller wants
/// the `_d` directory, write it there as `message.eml`): the rest outside the decoded bodies, or
/// the whole message, from memory or from its spool file at the body's offset. Err for a retry.
fn add_whole(
    path: &std::path::Path,
    body: &[u8],
    rest: Option<Vec<u8>>,
    keep_raw: bool,
    wants_dir: bool,
    dd: &mut DecodedDir,
    objects: &mut Vec<Object>,
) -> Result<(), String> {
    let whole_len = rest.as_ref().map_or(body.len(), Vec::len);
    let keep = keep_raw && whole_len <= KEEP_RAW_MAX;
    if wants_dir || (rest.is_some() && !keep) {
        let (whole, what) = match rest.as_deref() {
            Some(r) => (r, REST),
            None => (body, "the whole message"),
        };
        match dd.write_named("message.eml", what, &mut &whole[..]) {
            Ok(p) if !wants_dir => objects.push(Object::File(p, REST.into())),
            Ok(_) => {}
            Err(e) => return Err(format!("{}: {e}", dd.path().display())),
        }
    } else if let Some(rest) = rest {
        objects.push(Object::Mem(Arc::from(rest), REST.into()));
    } else {
        // Last: a detection in a decoded part names the part.
        let offset = if keep {
            0
        } else {
            match std::fs::metadata(path) {
                Ok(m) => m.len().saturating_sub(body.len() as u64),
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        };
        objects.push(Object::Raw {
            path: path.to_path_buf(),
            offset,
            data: keep.then(|| Arc::from(body)),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rest_of;

    #[test]
    fn the_rest_leaves_out_exactly_the_ranges() {
        assert_eq!(rest_of(b"0123456789", &[(2, 3), (7, 1)]), b"015689");
        assert_eq!(rest_of(b"0123456789", &[]), b"0123456789");
        // Overlapping and out-of-range ranges never panic or repeat bytes.
        assert_eq!(rest_of(b"0123456789", &[(1, 5), (3, 4), (9, 50)]), b"078");
    }
}
