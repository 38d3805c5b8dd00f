//! The one way a daemon takes signals: block them in every thread, and let one thread wait for
//! them with sigwait(2) and hand each to ordinary code. No code runs in a signal handler, so the
//! handler may log, lock and allocate.

use nix::sys::signal::{SigSet, Signal};
use std::io;

/// Block `signals` in the calling thread (and so in every thread it starts afterwards). Call it
/// before any other thread is started, or a signal may be delivered to a thread that does not
/// wait for it and take its default action.
pub fn block(signals: &[Signal]) -> io::Result<SigSet> {
    let mut set = SigSet::empty();
    for s in signals {
        set.add(*s);
    }
    set.thread_block().map_err(io::Error::from)?;
    Ok(set)
}

/// Start the thread that waits for the signals of `set` (blocked with [`block`]) and calls
/// `on_signal` with each, in that thread, for as long as the process lives.
pub fn spawn(
    set: SigSet,
    mut on_signal: impl FnMut(Signal) + Send + 'static,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            if let Ok(sig) = set.wait() {
                on_signal(sig);
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_blocked_signal_reaches_the_waiting_thread() {
        // SIGUSR2: nothing else in this test binary uses it.
        let set = block(&[Signal::SIGUSR2]).unwrap();
        let (tx, rx) = mpsc::channel();
        let waiter = spawn(set, move |s| {
            let _ = tx.send(s);
        })
        .unwrap();
        // Directed at the waiting thread: a process-directed signal could reach the test
        // harness's own threads, which do not block it.
        use std::os::unix::thread::JoinHandleExt;
        nix::sys::pthread::pthread_kill(waiter.as_pthread_t(), Signal::SIGUSR2).unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            Signal::SIGUSR2
        );
    }
}
