//! Talking to clamd: `zPING`, `zVERSION` (engine, database version and build date) and
//! `zRELOAD`.
//! clamd is reached over a Unix socket path or `host:port`, as scan.clamd_socket says.

use crate::error::{Error, Result};
use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// What clamd says about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    /// `ClamAV 1.4.6`
    pub engine: String,
    /// The daily database version, when clamd has an official database loaded.
    pub database: Option<u64>,
    /// The daily database's build time, when known.
    pub built: Option<DateTime<Local>>,
}

/// Send one `z`-terminated command and read the NUL-terminated reply.
pub fn command(addr: &str, cmd: &str) -> Result<String> {
    let err = |reason: String| Error::Clamd {
        addr: addr.to_string(),
        reason,
    };
    let request = format!("z{cmd}\0");
    let mut reply = Vec::new();
    if addr.starts_with('/') {
        let mut s = UnixStream::connect(addr).map_err(|e| err(e.to_string()))?;
        s.set_read_timeout(Some(TIMEOUT)).ok();
        s.set_write_timeout(Some(TIMEOUT)).ok();
        s.write_all(request.as_bytes())
            .and_then(|_| s.read_to_end(&mut reply))
            .map_err(|e| err(e.to_string()))?;
    } else {
        let (host, port) = spool::config::split_host_port(addr, 3310);
        let mut s = TcpStream::connect((host.as_str(), port)).map_err(|e| err(e.to_string()))?;
        s.set_read_timeout(Some(TIMEOUT)).ok();
        s.set_write_timeout(Some(TIMEOUT)).ok();
        s.write_all(request.as_bytes())
            .and_then(|_| s.read_to_end(&mut reply))
            .map_err(|e| err(e.to_string()))?;
    }
    let text = String::from_utf8_lossy(&reply);
    Ok(text.trim_end_matches(['\0', '\n']).trim().to_string())
}

/// `ClamAV 1.4.6/27467/Thu Nov 26 09:23:01 2026`, or just `ClamAV 1.4.6` without an official
/// database. The date is clamd's local time in ctime form.
pub fn parse_version(reply: &str) -> Option<Version> {
    let mut parts = reply.splitn(3, '/');
    let engine = parts.next()?.trim();
    if !engine.starts_with("ClamAV ") {
        return None;
    }
    let database = parts.next().and_then(|v| v.trim().parse().ok());
    let built = parts.next().and_then(|d| {
        let d = d.split_whitespace().collect::<Vec<_>>().join(" ");
        NaiveDateTime::parse_from_str(&d, "%a %b %d %H:%M:%S %Y")
            .ok()
            .and_then(|n| Local.from_local_datetime(&n).earliest())
    });
    Some(Version {
        engine: engine.to_string(),
        database,
        built,
    })
}

/// `PING`: Ok when clamd answers `PONG` (it runs and its command loop is alive).
pub fn ping(addr: &str) -> Result<()> {
    let reply = command(addr, "PING")?;
    if reply == "PONG" {
        Ok(())
    } else {
        Err(Error::Clamd {
            addr: addr.to_string(),
            reason: format!("unexpected PING reply {reply:?}"),
        })
    }
}

pub fn version(addr: &str) -> Result<Version> {
    let reply = command(addr, "VERSION")?;
    parse_version(&reply).ok_or_else(|| Error::Clamd {
        addr: addr.to_string(),
        reason: format!("unexpected VERSION reply {reply:?}"),
    })
}

/// Ask clamd to load the database directory again. clamd answers `RELOADING` and loads in the
/// background; a database that fails to load leaves the previous one active (clamd logs why).
pub fn reload(addr: &str) -> Result<()> {
    let reply = command(addr, "RELOAD")?;
    if reply == "RELOADING" {
        Ok(())
    } else {
        Err(Error::Clamd {
            addr: addr.to_string(),
            reason: format!("unexpected RELOAD reply {reply:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    #[test]
    fn version_replies() {
        let v = parse_version("ClamAV 1.4.6/27467/Thu Nov 26 09:23:01 2026").unwrap();
        assert_eq!(v.engine, "ClamAV 1.4.6");
        assert_eq!(v.database, Some(27467));
        let b = v.built.unwrap();
        assert_eq!((b.year(), b.month(), b.day()), (2026, 11, 26));
        let v = parse_version("ClamAV 1.0.7/27000/Mon Sep  1 08:00:00 2025").unwrap();
        assert_eq!(v.built.unwrap().day(), 1);
        let v = parse_version("ClamAV 1.4.6").unwrap();
        assert_eq!(v.database, None);
        assert_eq!(v.built, None);
        assert!(parse_version("UNKNOWN COMMAND").is_none());
    }
}
