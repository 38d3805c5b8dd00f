"""Sends every message of a corpus directory over SESSIONS SMTP sessions at once (each session
sends its share, one message after another: MAIL, RCPT, DATA, each waiting for its reply; no
pipelining), to PORT.

A plain SMTP client on a socket rather than smtplib: the client shares the machine's cores with
what it measures, and smtplib's per-message work (the line-end fixing and dot-stuffing of every
message, reply parsing through several layers) cost about 0.4 ms of CPU per 10 KB message, more
than the gateway's smtpd (0.31 ms), so that it held the gateway back (3,200 msg/s into smtp-sink
at most). Here each message is dot-stuffed once, before the clock starts, and a session does no
more than write commands and read reply lines: about 0.13 ms per message, 7,700-8,500 msg/s into
smtp-sink (1 Dec 2026, 1,000 x 10 KB, 10 sessions).

Prints "<accepted> <t0> <t1> <cpu>": how many got a 250, the time (epoch seconds) just before the
first connection, the time of the last 250, and the CPU seconds this client used between them.
Exits 1 if any message was refused. Usage: send_corpus.py PORT SESSIONS DIR
"""
import os
import socket
import sys
import threading
import time

port, sessions, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
names = sorted(os.listdir(d))


def stuffed(raw):
    """The DATA payload: CRLF line ends (the corpus has them), leading dots doubled, the end."""
    if raw.startswith(b"."):
        raw = b"." + raw
    raw = raw.replace(b"\r\n.", b"\r\n..")
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    return raw + b".\r\n"


msgs = [stuffed(open(os.path.join(d, n), "rb").read()) for n in names]
ok = [0] * sessions
errors = []


def reply(f):
    """One SMTP reply (its last line): the code."""
    while True:
        line = f.readline()
        if len(line) < 4:
            raise OSError("connection closed: %r" % line)
        if line[3:4] != b"-":
            return int(line[:3])


def expect(f, want, what):
    code = reply(f)
    if code != want:
        raise OSError("%s: %d" % (what, code))


def work(k):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=600)
        f = s.makefile("rb")
        expect(f, 220, "banner")
        s.sendall(b"EHLO bench.example.org\r\n")
        expect(f, 250, "EHLO")
        for i in range(k, len(msgs), sessions):
            s.sendall(b"MAIL FROM:<sender%d@example.org>\r\n" % i)
            expect(f, 250, "MAIL")
            s.sendall(b"RCPT TO:<user%d@example.com>\r\n" % (i % 37))
            expect(f, 250, "RCPT")
            s.sendall(b"DATA\r\n")
            expect(f, 354, "DATA")
            s.sendall(msgs[i])
            expect(f, 250, "end of data")
            ok[k] += 1
        s.sendall(b"QUIT\r\n")
        reply(f)
        s.close()
    except Exception as e:  # reported below: the run does not count
        errors.append("session %d: %r" % (k, e))


c0 = time.process_time()
t0 = time.time()
ts = [threading.Thread(target=work, args=(k,)) for k in range(sessions)]
for t in ts:
    t.start()
for t in ts:
    t.join()
t1 = time.time()
c1 = time.process_time()
for e in errors:
    print(e, file=sys.stderr)
print("%d %.6f %.6f %.6f" % (sum(ok), t0, t1, c1 - c0))
sys.exit(1 if errors or sum(ok) != len(msgs) else 0)
