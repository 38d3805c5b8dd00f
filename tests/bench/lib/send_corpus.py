"""Sends every message of a corpus directory over SESSIONS SMTP sessions at once (each session
sends its share, one message after another, RSET between them as smtplib does), to PORT.

Prints "<accepted> <t0> <t1>": how many got a 250, the time (epoch seconds) just before the
first connection and the time of the last 250. Exits 1 if any message was refused. Usage: send_corpus.py PORT SESSIONS DIR
"""
import os
import smtplib
import sys
import threading
import time

port, sessions, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
names = sorted(os.listdir(d))
msgs = [open(os.path.join(d, n), "rb").read() for n in names]
ok = [0] * sessions
errors = []


def work(k):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=600) as s:
            for i in range(k, len(msgs), sessions):
                s.sendmail("sender%d@example.org" % i, ["user%d@example.com" % (i % 37)], msgs[i])
                ok[k] += 1
    except Exception as e:  # reported below: the run does not count
        errors.append("session %d: %r" % (k, e))


t0 = time.time()
ts = [threading.Thread(target=work, args=(k,)) for k in range(sessions)]
for t in ts:
    t.start()
for t in ts:
    t.join()
t1 = time.time()
for e in errors:
    print(e, file=sys.stderr)
print("%d %.6f %.6f" % (sum(ok), t0, t1))
sys.exit(1 if errors or sum(ok) != len(msgs) else 0)
