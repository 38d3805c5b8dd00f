//! Exit status codes (sysexits.h), as the Obtuse tools and cron expect.

pub const OK: u8 = 0;
pub const USAGE: u8 = 64;
pub const DATAERR: u8 = 65;
pub const UNAVAILABLE: u8 = 69;
pub const SOFTWARE: u8 = 70;
pub const OSERR: u8 = 71;
pub const CANTCREAT: u8 = 73;
pub const IOERR: u8 = 74;
pub const TEMPFAIL: u8 = 75;
pub const CONFIG: u8 = 78;

/// An error that carries its exit status: what a program's `run` returns for a mistake it
/// found itself (a usage error, a configuration it refuses).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A [`Failure`] with this exit status and message.
pub fn fail(code: u8, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

impl Failure {
    /// Any error as a [`Failure`]: its chain as the message ([`crate::cli::chain`]), the code
    /// [`code_of`] finds in it.
    pub fn of(e: &(dyn std::error::Error + 'static)) -> Failure {
        fail(code_of(e), crate::cli::chain(e))
    }
}

/// A spool error as a [`Failure`], with the code the error says ([`crate::Error::exit_code`]).
impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Failure {
        fail(e.exit_code(), e.to_string())
    }
}

/// Exit codes of a program's own error types, for [`code_of`].
pub type Codes = fn(&(dyn std::error::Error + 'static)) -> Option<u8>;

/// No error types of its own.
pub fn no_codes(_: &(dyn std::error::Error + 'static)) -> Option<u8> {
    None
}

/// The exit status for an error chain: the code of the first error in it that has one
/// (a [`Failure`], `spool::Error`, an I/O error), else 70 (a bug: nothing said what went
/// wrong).
pub fn code_of(err: &(dyn std::error::Error + 'static)) -> u8 {
    code_of_with(err, no_codes)
}

/// [`code_of`], asking `own` first about each error of the chain (a program's own types).
pub fn code_of_with(err: &(dyn std::error::Error + 'static), own: Codes) -> u8 {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(c) = own(e) {
            return c;
        }
        if let Some(f) = e.downcast_ref::<Failure>() {
            return f.code;
        }
        if let Some(s) = e.downcast_ref::<crate::Error>() {
            return s.exit_code();
        }
        if e.downcast_ref::<std::io::Error>().is_some() {
            return IOERR;
        }
        cur = e.source();
    }
    SOFTWARE
}
