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

/// The exit status for an error chain: the code of the first error in it that has one
/// (`spool::Error`, an I/O error), else 70 (a bug: nothing said what went wrong).
pub fn code_of(err: &(dyn std::error::Error + 'static)) -> u8 {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
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
