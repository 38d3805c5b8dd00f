//! Reading the locked spool file: in memory when small, streamed when large; the envelope (a
//! malformed file goes to quarantine), the body's size and whether it holds 8-bit bytes.

use super::*;

/// Files up to this size are read into memory with one read(2) (the envelope, the body and a
/// retry to the next host then need no seek and no second read); larger ones are streamed.
pub(super) const IN_MEMORY: u64 = 1024 * 1024;

/// A spool file being delivered: in memory when small, else read through a buffer.
pub(super) enum Spooled<'a> {
    Mem(std::io::Cursor<Vec<u8>>),
    File(BufReader<&'a File>),
}

impl<'a> Spooled<'a> {
    /// `size` is the locked file's size (fstat): nothing changes a locked complete file.
    pub(super) fn open(mut file: &'a File, size: u64) -> std::io::Result<Spooled<'a>> {
        if size > IN_MEMORY {
            return Ok(Spooled::File(BufReader::with_capacity(64 * 1024, file)));
        }
        let mut buf = vec![0u8; size as usize];
        file.read_exact(&mut buf)?;
        Ok(Spooled::Mem(std::io::Cursor::new(buf)))
    }
}

impl Read for Spooled<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Spooled::Mem(c) => c.read(buf),
            Spooled::File(f) => f.read(buf),
        }
    }
}

impl BufRead for Spooled<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        match self {
            Spooled::Mem(c) => c.fill_buf(),
            Spooled::File(f) => f.fill_buf(),
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            Spooled::Mem(c) => c.consume(n),
            Spooled::File(f) => f.consume(n),
        }
    }
}

impl Seek for Spooled<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match self {
            Spooled::Mem(c) => c.seek(pos),
            Spooled::File(f) => f.seek(pos),
        }
    }
}

/// Read step: the envelope (a malformed file goes to quarantine), the body's size and whether
/// it holds 8-bit bytes.
pub(super) fn read_message(
    ctx: &Context,
    id: &MessageId,
    reader: &mut Spooled<'_>,
    meta: &std::fs::Metadata,
    prior: Option<&RetryState>,
) -> Result<Message, Attempt> {
    let path = ctx.spool.message(Queue::Outgoing, id);
    let (env, body_off) = match Envelope::read_from(reader, &path) {
        Ok(v) => v,
        Err(spool::Error::Malformed { reason, .. }) => {
            return Err(quarantine_malformed(ctx, id, &reason));
        }
        Err(e) => {
            log::error!("{id}: cannot read: {e}");
            return Err(Attempt::Failed);
        }
    };
    let eight_bit = if ctx.opts.sendmail.is_some() {
        false
    } else {
        has_8bit(reader, body_off).map_err(|e| {
            log::error!("{id}: cannot read the body: {e}");
            Attempt::Failed
        })?
    };
    Ok(Message {
        env,
        body_off,
        body_size: meta.len().saturating_sub(body_off),
        eight_bit,
        queued: prior.map(|s| s.queued).unwrap_or(meta.mtime()),
        attempts: prior.map(|s| s.attempts).unwrap_or(0) + 1,
    })
}

/// True when the body (from `body_off`) holds a byte above 127.
pub(super) fn has_8bit(reader: &mut Spooled<'_>, body_off: u64) -> std::io::Result<bool> {
    if let Spooled::Mem(c) = reader {
        let b = c.get_ref();
        return Ok(b[(body_off as usize).min(b.len())..]
            .iter()
            .any(|&x| x >= 0x80));
    }
    reader.seek(SeekFrom::Start(body_off))?;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        if buf.iter().any(|&x| x >= 0x80) {
            return Ok(true);
        }
        let n = buf.len();
        reader.consume(n);
    }
}
