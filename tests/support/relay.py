#!/usr/bin/python3
"""A real SMTP server (aiosmtpd) standing in for the internal mail server in tests.

Each accepted message is written to OUTDIR as N.eml (the DATA bytes exactly as received, CRLF
line ends as on the wire) and N.json (mail_from, rcpt_tos, and the ESMTP options). A recipient
whose local part starts with "reject" gets 550, "tempfail" gets 451 the first --tempfail-times
times, "full" gets 552, "hostile" gets a 550 whose text holds template placeholders and control
characters (HOSTILE below: what a hostile or broken server may say). --drop-data N closes the connection in the middle of the first N DATA
phases (a relay that dies mid-transfer). --tls CERT KEY offers STARTTLS.
Prints "READY <port>" on stdout once it listens.
"""
import argparse, asyncio, json, os, signal, sys, threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

ap = argparse.ArgumentParser()
ap.add_argument("outdir")
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--tempfail-times", type=int, default=1)
ap.add_argument("--drop-data", type=int, default=0)
ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
args = ap.parse_args()
os.makedirs(args.outdir, exist_ok=True)
lock = threading.Lock()
state = {"n": 0, "tempfails": {}, "drops": 0}
HOSTILE = "550 5.1.1 {admin} {sender} {id} no\rsuch\x1b[2J user\x07\x08 \u202ehere"


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 No such user here"
        if local.startswith("hostile"):
            return HOSTILE
        if local.startswith("full"):
            return "552 5.2.2 Mailbox full"
        if local.startswith("tempfail"):
            with lock:
                n = state["tempfails"].get(address, 0)
                state["tempfails"][address] = n + 1
            if n < args.tempfail_times:
                return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with lock:
            if state["drops"] < args.drop_data:
                state["drops"] += 1
                session.transport.close() if hasattr(session, "transport") else None
                server.transport.close()
                return "421 dropping"
            state["n"] += 1
            n = state["n"]
        base = os.path.join(args.outdir, "%06d" % n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "tls": session.ssl is not None,
        }
        with open(base + ".json", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 2.0.0 OK queued as %06d" % n


tls_context = None
if args.tls:
    import ssl
    tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_context.load_cert_chain(args.tls[0], args.tls[1])

ctl = Controller(
    Handler(),
    hostname="127.0.0.1",
    port=args.port or 0,
    decode_data=False,
    enable_SMTPUTF8=True,
    tls_context=tls_context,
    require_starttls=False,
    data_size_limit=100 * 1024 * 1024,
)
if args.port == 0:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    ctl.port = s.getsockname()[1]
    s.close()
ctl.start()
print("READY %d" % ctl.port, flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
signal.signal(signal.SIGINT, lambda *a: stop.set())
stop.wait()
ctl.stop()
