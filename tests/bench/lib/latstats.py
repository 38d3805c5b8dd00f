"""Latency figures from offer.py's ACCEPTED file and arrivals.py's ARRIVALS file.

Prints a human line, and with --raw one line "accepted arrived median p90 p99 max" (ms) for
scripts. Only the Message-IDs in ACCEPTED are looked up, so one ARRIVALS file can serve rounds.
Usage: latstats.py [--raw] ACCEPTED ARRIVALS
"""
import sys

args = sys.argv[1:]
raw = args[0] == "--raw"
if raw:
    args = args[1:]
acc = dict(l.split() for l in open(args[0]))
arr = dict(l.split() for l in open(args[1]))
lat = sorted((float(arr[m]) - float(t)) * 1000 for m, t in acc.items() if m in arr)
if not lat:
    lat = [float("nan")]
    arrived = 0
else:
    arrived = len(lat)


def q(p):
    return lat[min(len(lat) - 1, int(p * len(lat)))]


if raw:
    print("%d %d %.1f %.1f %.1f %.1f" % (len(acc), arrived, q(0.5), q(0.9), q(0.99), lat[-1]))
else:
    print("%d accepted, %d arrived, %d not arrived" % (len(acc), arrived, len(acc) - arrived))
    print("latency 250 -> arrival (ms): median %.1f, p90 %.1f, p99 %.1f, max %.1f"
          % (q(0.5), q(0.9), q(0.99), lat[-1]))
