//! How a send can fail, with whether the failure is permanent (bounce) or transient (retry).

use super::*;

/// What went wrong with a connection or a transaction as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("{stage}: {source}")]
    Io {
        stage: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{stage}: timed out")]
    Timeout { stage: &'static str },
    #[error("{stage}: server said {reply}")]
    Reply { stage: &'static str, reply: Reply },
    #[error("{stage}: protocol error: {what}")]
    Protocol { stage: &'static str, what: String },
    #[error("TLS: {0}")]
    Tls(String),
    /// The message holds 8-bit bytes and the server does not offer 8BITMIME (RFC 6152 §3: the
    /// client must convert or bounce; we bounce, see [`Client::send`]).
    #[error(
        "{peer} does not offer 8BITMIME and the message holds 8-bit bytes (not converted to 7 bit)"
    )]
    Needs8BitMime { peer: String },
    /// An address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531 §3.2: such mail
    /// must not be sent to it; bounced with 5.6.7).
    #[error("{peer} does not offer SMTPUTF8 and an address is not ASCII")]
    NeedsSmtpUtf8 { peer: String },
}

impl SmtpError {
    /// A 5xx from the server for the whole transaction (greeting, MAIL, DATA): a bounce. Everything
    /// else (4xx, network trouble, TLS trouble, a server that talks nonsense) is worth a retry:
    /// keeping mail a little longer never loses it.
    pub fn is_permanent(&self) -> bool {
        match self {
            SmtpError::Reply { reply, .. } => reply.is_permanent(),
            SmtpError::Needs8BitMime { .. } | SmtpError::NeedsSmtpUtf8 { .. } => true,
            _ => false,
        }
    }
    /// The RFC 3463 status for a DSN when the error is permanent.
    pub fn status(&self) -> Option<String> {
        match self {
            SmtpError::Reply { reply, .. } => reply.enhanced(),
            // "Conversion required but not supported".
            SmtpError::Needs8BitMime { .. } => Some("5.6.3".into()),
            // "Non-ASCII addresses not permitted for that sender/recipient".
            SmtpError::NeedsSmtpUtf8 { .. } => Some("5.6.7".into()),
            _ => None,
        }
    }
    pub fn is_transient(&self) -> bool {
        !self.is_permanent()
    }
    /// The server's reply, when the error is one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            SmtpError::Reply { reply, .. } => Some(reply),
            _ => None,
        }
    }
    pub(super) fn io(stage: &'static str, e: io::Error) -> SmtpError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => SmtpError::Timeout { stage },
            _ => SmtpError::Io { stage, source: e },
        }
    }
}

pub type Result<T, E = SmtpError> = std::result::Result<T, E>;
