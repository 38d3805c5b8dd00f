"""A stand-in internal server for the benchmarks (aiosmtpd on loopback).

Appends "<Message-ID> <arrival time>" for every message it accepts to OUT, so that a client's
time of the 250 can be matched to the arrival. Usage: arrivals.py PORT OUT
"""
import sys
import time

from aiosmtpd.controller import Controller

port, out = int(sys.argv[1]), open(sys.argv[2], "a", buffering=1)


class Recorder:
    async def handle_DATA(self, server, session, envelope):
        t = time.time()
        for line in envelope.content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                out.write("%s %.6f\n" % (line.split(b":", 1)[1].strip().decode(), t))
                break
        return "250 OK"


c = Controller(Recorder(), hostname="127.0.0.1", port=port)
c.start()
try:
    while True:
        time.sleep(3600)
finally:
    c.stop()
