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
