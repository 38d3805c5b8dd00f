"""Waits, without polling, until N messages have left a gateway spool's outgoing/ (smtpfwdd
deletes each one once the internal server took it) and incoming/ holds none; prints the time
(epoch seconds) that happened.

The e2e timing of tests/bench/peers used to ask every 10 ms how many messages were left, by a
bash glob over incoming/ and outgoing/: with a thousand files in the spool each look cost about
4 ms of CPU, a third of a core taken from the contestant being timed (amavisd-new's timing,
the client's last 250, costs nothing). This waiter sleeps in read(2) on an inotify descriptor
and wakes only for deletions in outgoing/, about 20 microseconds of CPU per message.

Usage: wait_spool.py SPOOL N TIMEOUT_SECONDS. Prints "ready" once its watch is in place (start
the client only then), then "<time>" when done (or when, deliveries begun, the spool stayed
empty for a second before N had gone: the caller's delivered and quarantined counts tell).
Exits 1 on timeout, printing what is left. If the kernel's event queue overflows it falls back
to looking at the directories every 10 ms.
"""
import ctypes
import os
import select
import struct
import sys
import time

IN_DELETE = 0x200
IN_MOVED_FROM = 0x40
IN_Q_OVERFLOW = 0x4000

spool, want, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
if fd < 0 or libc.inotify_add_watch(fd, os.path.join(spool, "outgoing").encode(), IN_DELETE | IN_MOVED_FROM) < 0:
    sys.exit("inotify: %s" % os.strerror(ctypes.get_errno()))


def is_message(name):
    """A message file of the spool (not a work directory _d, not a file being written)."""
    return name.startswith("smtpd") and not name.endswith("_d")


def left(queue):
    with os.scandir(os.path.join(spool, queue)) as it:
        return sum(1 for e in it if is_message(e.name) and e.is_file())


print("ready", flush=True)
gone, overflow = 0, False
deadline = time.monotonic() + timeout
poller = select.poll()
poller.register(fd, select.POLLIN)
while True:
    if overflow or gone >= want:
        # The count is reached (or lost): done when neither queue holds a message.
        if left("incoming") == 0 and left("outgoing") == 0:
            break
        wait_ms = 10
    else:
        wait_ms = 1000
    if time.monotonic() > deadline:
        print("timeout: %d gone, %d in incoming, %d in outgoing" % (gone, left("incoming"), left("outgoing")))
        sys.exit(1)
    if not poller.poll(wait_ms):
        # A quiet second once deliveries began: a message that left by another way
        # (quarantined) never reaches outgoing/, so an empty spool ends the wait too (the
        # caller checks the counts). Not before: the client may still be loading its corpus.
        if 0 < gone < want and left("incoming") == 0 and left("outgoing") == 0:
            break
        continue
    try:
        buf = os.read(fd, 65536)
    except BlockingIOError:
        continue
    off = 0
    while off < len(buf):
        _wd, mask, _cookie, n = struct.unpack_from("iIII", buf, off)
        name = buf[off + 16 : off + 16 + n].rstrip(b"\0").decode("utf-8", "replace")
        off += 16 + n
        if mask & IN_Q_OVERFLOW:
            overflow = True
        elif is_message(name):
            gone += 1
print("%.6f" % time.time(), flush=True)
