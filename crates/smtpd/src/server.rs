//! The ways smtpd is started, and the daemon's accept loop.
//!
//! - inetd: one session on stdin/stdout (the article's `/etc/inetd.conf` line);
//! - systemd `Accept=yes` (`smtpd@.service`): fd 3 is the connection, served like inetd;
//! - systemd daemon unit (`smtpd.service` + `smtpd.socket`, `Accept=no`): fd 3 is a listening
//!   socket, served like `-D`;
//! - `-D`: bind the port ourselves, a thread per connection, at most `max_clients` at once and
//!   at most `max_connections_per_ip` from one client address (an IPv6 client by its /64).
//!
//! SIGTERM, SIGINT and SIGHUP are taken by a dedicated thread with sigwait(2). SIGTERM and
//! SIGINT: sessions answer `421` at their next read, the listener stops accepting, and the
//! process exits once they are done. SIGHUP: the listener rereads gateway.conf and the rules for
//! the sessions it starts next; sessions in progress keep theirs, nothing is dropped.

use crate::session::{Context, End, Session};
use crate::stream::{self, ClientStream, FdStream};
use log::{info, warn};
use nix::sys::signal::Signal;
use spool::rules::Client;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What systemd handed us (sd_listen_fds(3): `LISTEN_PID` is us and `LISTEN_FDS` ≥ 1).
pub enum Activation {
    /// Not socket-activated.
    None,
    /// `Accept=yes`: the connection, moved onto fd 0.
    Connection,
    /// `Accept=no`: a listening socket.
    Listener(TcpListener),
}

const SD_LISTEN_FDS_START: i32 = 3;

/// True when systemd handed this process descriptors (LISTEN_PID is ours, LISTEN_FDS ≥ 1); looks
/// at the environment only.
pub fn activation_expected() -> bool {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    pid_ok && fds >= 1
}

/// Look for systemd socket activation and take fd 3 over. Call before anything but the
/// logger opens files (fd 3 is taken, so nothing else lands on it before).
pub fn socket_activation() -> io::Result<Activation> {
    if !activation_expected() {
        return Ok(Activation::None);
    }
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    // Safe Rust cannot adopt a bare descriptor number; moving it onto fd 0 lets std's stdin
    // handle lend it to us.
    nix::unistd::dup2(SD_LISTEN_FDS_START, 0).map_err(io::Error::from)?;
    let _ = nix::unistd::close(SD_LISTEN_FDS_START);
    let stdin = io::stdin();
    let listening =
        nix::sys::socket::getsockopt(&stdin.as_fd(), nix::sys::socket::sockopt::AcceptConn)
            .map_err(io::Error::from)?;
    if !listening {
        return Ok(Activation::Connection);
    }
    let fd: OwnedFd = stdin.as_fd().try_clone_to_owned()?;
    // Keep fd 0 open (on /dev/null) so that nothing else lands on it.
    let null = std::fs::File::open("/dev/null")?;
    nix::unistd::dup2(null.as_raw_fd(), 0).map_err(io::Error::from)?;
    Ok(Activation::Listener(TcpListener::from(fd)))
}

/// The peer of the socket on stdin (inetd), if stdin is a socket.
pub fn stdin_peer() -> Option<SocketAddr> {
    sock_addr(nix::sys::socket::getpeername(io::stdin().as_raw_fd()).ok()?)
}

/// The local address of the socket on stdin (for `-l` in inetd mode).
pub fn stdin_local() -> Option<SocketAddr> {
    sock_addr(nix::sys::socket::getsockname(io::stdin().as_raw_fd()).ok()?)
}

fn sock_addr(s: nix::sys::socket::SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::new(IpAddr::V4(v4.ip()), v4.port()));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::new(IpAddr::V6(v6.ip()), v6.port()))
}

/// What the rules and the Received: line know about a peer.
pub fn client_for(peer: Option<SocketAddr>, dns: bool) -> Client {
    let ip = peer.map(|p| match p.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(p.ip()),
        v4 => v4,
    });
    Client {
        name: if dns {
            ip.and_then(crate::dns::client_name)
        } else {
            None
        },
        ip,
    }
}

/// Serve one session on an already connected client stream (inetd, `Accept=yes`).
pub fn serve_one<T: ClientStream>(ctx: &Context, t: T, peer: Option<SocketAddr>, dns: bool) -> End {
    let client = client_for(peer, dns);
    log::debug!(
        "connect from {}[{}]",
        client.name_or_unknown(),
        client.ip_or_unknown()
    );
    Session::new(ctx, t, client).run()
}

/// Block SIGTERM/SIGINT in every thread and turn them into [`stream::SHUTDOWN`], SIGHUP into
/// [`stream::RELOAD`].
/// Call before any other thread is started.
pub fn install_shutdown_handler() -> io::Result<()> {
    let set = spool::signals::block(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])?;
    spool::signals::spawn(set, |sig| match sig {
        Signal::SIGHUP => stream::RELOAD.store(true, Ordering::SeqCst),
        sig => {
            info!("{sig}: shutting down");
            stream::SHUTDOWN.store(true, Ordering::SeqCst);
        }
    })
    .map(|_| ())
}

/// Counts live sessions; the guard gives the slot back however the session ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Live sessions per client address, as Postfix's anvil counts them for
/// `smtpd_client_connection_count_limit`.
type PerClient = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// What counts as one client: an IPv4 address (also when seen as `::ffff:a.b.c.d`), or an IPv6
/// /64, the block one host or one customer usually holds; counting single IPv6 addresses would
/// give one machine 2^64 allowances.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// The daemon's limits on sessions.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Sessions at once (`max_clients`).
    pub max_clients: usize,
    /// Sessions at once from one client address (`max_connections_per_ip`); 0 = no limit.
    pub max_per_client: usize,
    /// Networks `max_per_client` does not apply to (`connection_limit_exceptions`).
    pub exempt: Vec<(IpAddr, u8)>,
}

impl Limits {
    fn per_client_for(&self, ip: IpAddr) -> usize {
        if self
            .exempt
            .iter()
            .any(|&(net, bits)| spool::rules::in_net(ip, net, bits))
        {
            0
        } else {
            self.max_per_client
        }
    }
}

/// A session's place in [`PerClient`], given back however the session ends.
struct ClientSlot(PerClient, IpAddr);

impl ClientSlot {
    /// Take a place for `ip`, unless it already has `max` (0 = no limit).
    fn take(map: &PerClient, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let key = client_key(ip);
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(key).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot(map.clone(), key))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// The daemon loop: accept, one thread per connection, `421` beyond the [`Limits`], until
/// shutdown.
/// How the daemon builds its context again on SIGHUP.
pub type Reload<'a> = &'a dyn Fn(&Context) -> Result<Context, String>;

pub fn serve_listener(
    mut ctx: Arc<Context>,
    listener: TcpListener,
    limits: &Limits,
    dns: bool,
    reload: Reload,
) -> io::Result<()> {
    let max_clients = limits.max_clients;
    listener.set_nonblocking(true)?;
    let active = Arc::new(AtomicUsize::new(0));
    let per_client: PerClient = Arc::default();
    crate::counters::daemon_mode();
    while !stream::shutting_down() {
        crate::counters::flush_if_due(&ctx.spool, ctx.queue);
        if stream::RELOAD.swap(false, Ordering::SeqCst) {
            match reload(&ctx) {
                Ok(c) => {
                    info!(
                        "SIGHUP: configuration and rules reread ({} rule(s)); sessions in progress keep theirs",
                        c.rules.len()
                    );
                    ctx = Arc::new(c);
                }
                Err(e) => log::error!("SIGHUP: configuration not reloaded, the old one stays: {e}"),
            }
        }
        let mut fds = [nix::poll::PollFd::new(
            listener.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(500u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let (stream, peer) = match listener.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // EMFILE and friends: log, breathe, go on; the daemon must not die of a burst.
                warn!("accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let _ = stream.set_nonblocking(false);
        let t = match FdStream::from_tcp(stream) {
            Ok(t) => t,
            Err(e) => {
                warn!("{peer}: {e}");
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= max_clients {
            active.fetch_sub(1, Ordering::SeqCst);
            let client = client_for(Some(peer), false);
            Session::new(&ctx, t, client).refuse("4.3.2", "Too many connections, try again later");
            continue;
        }
        let slot = Slot(active.clone());
        let max_per_client = limits.per_client_for(peer.ip());
        let Some(client_slot) = ClientSlot::take(&per_client, peer.ip(), max_per_client) else {
            drop(slot);
            let client = client_for(Some(peer), false);
            info!(
                "client=[{}]: more than {max_per_client} connections from one client",
                client.ip_or_unknown()
            );
            Session::new(&ctx, t, client).refuse(
                "4.7.0",
                "Too many connections from your address, try again later",
            );
            continue;
        };
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("session".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let _slot = slot;
                let _client_slot = client_slot;
                serve_one(&ctx, t, Some(peer), dns);
            });
        if let Err(e) = spawned {
            warn!("{peer}: cannot start a session thread: {e}");
        }
    }
    drop(listener);
    // Sessions notice the shutdown at their next read (within half a second) and answer 421.
    let end = Instant::now() + Duration::from_secs(30);
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    crate::counters::flush(&ctx.spool, ctx.queue);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_and_places() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        let map = PerClient::default();
        let a = ClientSlot::take(&map, ip("2001:db8:1:2::5"), 2).unwrap();
        let b = ClientSlot::take(&map, ip("2001:db8:1:2::6"), 2).unwrap();
        assert!(
            ClientSlot::take(&map, ip("2001:db8:1:2::7"), 2).is_none(),
            "same /64"
        );
        let other = ClientSlot::take(&map, ip("2001:db8:1:3::7"), 2);
        assert!(other.is_some(), "another /64");
        drop(a);
        assert!(ClientSlot::take(&map, ip("2001:db8:1:2::7"), 2).is_some());
        drop((b, other));
        assert!(map.lock().unwrap().is_empty(), "places given back");
        let limits = Limits {
            max_clients: 10,
            max_per_client: 3,
            exempt: vec![(ip("127.0.0.0"), 8)],
        };
        assert_eq!(limits.per_client_for(ip("127.0.0.9")), 0);
        assert_eq!(limits.per_client_for(ip("::ffff:127.0.0.9")), 0);
        assert_eq!(limits.per_client_for(ip("192.0.2.1")), 3);
    }
}
