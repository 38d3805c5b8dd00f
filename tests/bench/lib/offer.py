"""The latency client: RATE new SMTP sessions a second for SECONDS seconds, one message each.

Each message (about 2 KB of text) carries Message-ID <PREFIXnnnnnn@client.example>; the time of
its 250 is written as "<Message-ID> <time>" to OUT, for latstats.py.
Usage: offer.py PORT RATE SECONDS OUT [PREFIX]
"""
import smtplib
import sys
import threading
import time

port, rate, secs, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
prefix = sys.argv[5] if len(sys.argv) > 5 else "bench"
body = "The quarterly figures are attached in the usual place.\r\n" * 36
lines, lock = [], threading.Lock()


def send(n):
    mid = "<%s%06d@client.example>" % (prefix, n)
    msg = ("From: a@client.example\r\nTo: bob@example.com\r\nSubject: figures %d\r\n"
           "Message-ID: %s\r\n\r\n%s" % (n, mid, body))
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("a@client.example", ["bob@example.com"], msg)
            t = time.time()
        with lock:
            lines.append("%s %.6f\n" % (mid, t))
    except Exception as e:
        print("send %d: %s" % (n, e), file=sys.stderr)


start = time.time()
threads = []
for n in range(int(rate * secs)):
    d = start + n / rate - time.time()
    if d > 0:
        time.sleep(d)
    th = threading.Thread(target=send, args=(n,))
    th.start()
    threads.append(th)
for th in threads:
    th.join()
open(out, "w").writelines(lines)
