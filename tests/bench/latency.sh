#!/bin/sh
# Latency of the whole gateway (not a timed test): prints figures for docs/BENCHMARKS.md.
#
# smtpd -D, scanmail --watch with a real clamd (the EICAR test database, DisableCache), smtpfwdd
# and a stand-in internal server (aiosmtpd) on loopback. A client offers RATE messages a second
# for SECONDS seconds (one SMTP session each, 2 KB of text); for each message the time from the
# client's 250 to its arrival at the internal server is taken (matched by Message-ID), and the
# median, p90, p99 and maximum are printed. Every process the script starts is stopped by its
# PID. Usage: tests/bench/latency.sh [RATE] [SECONDS]   (builds the release binaries)
set -eu
RATE=${1:-50}
SECS=${2:-20}
cd "$(dirname "$0")/../.."
cargo build --release -q -p smtpd -p scanmail -p smtpfwdd
TARGET=${CARGO_TARGET_DIR:-$PWD/target}/release
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/latency-bench.XXXXXX)
chmod 711 "$WORK"
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM
port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SMTP_PORT=$(port)
RELAY_PORT=$(port)

# clamd with the EICAR body signature (the official database cannot be downloaded here).
mkdir -p "$WORK/clamd"; chmod 755 "$WORK/clamd"
printf 'Eicar-Test-Signature:0:*:58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a\n' > "$WORK/clamd/test.ndb"
USER_LINE=""; [ "$(id -u)" = 0 ] && USER_LINE="User root"
cat > "$WORK/clamd/clamd.conf" <<EOF
LocalSocket $WORK/clamd/clamd.sock
LocalSocketMode 666
DatabaseDirectory $WORK/clamd
Foreground yes
TCPSocket 0
DisableCache yes
$USER_LINE
EOF
/usr/sbin/clamd -c "$WORK/clamd/clamd.conf" >/dev/null 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 1 200); do [ -S "$WORK/clamd/clamd.sock" ] && break; sleep 0.05; done

# The internal server: aiosmtpd logging "<Message-ID> <arrival time>" per message.
$PY - "$RELAY_PORT" "$WORK/arrivals" <<'PYEOF' &
import asyncio, sys, time
from aiosmtpd.controller import Controller
port, out = int(sys.argv[1]), open(sys.argv[2], "a", buffering=1)
class H:
    async def handle_DATA(self, server, session, envelope):
        t = time.time()
        for line in envelope.content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                out.write("%s %.6f\n" % (line.split(b":", 1)[1].strip().decode(), t))
                break
        return "250 OK"
c = Controller(H(), hostname="127.0.0.1", port=port)
c.start()
try:
    while True:
        time.sleep(3600)
finally:
    c.stop()
PYEOF
PIDS="$PIDS $!"

SPOOL=$WORK/spool
mkdir -p "$SPOOL"
cat > "$WORK/gateway.conf" <<EOF
hostname = "gw.bench"
admin = "postmaster@example.com"
domains = ["example.com"]
[smtpd]
dns_lookups = false
[scan]
clamd_socket = "$WORK/clamd/clamd.sock"
[forward]
relay = "127.0.0.1:$RELAY_PORT"
tls = "off"
EOF
$PY - "$SPOOL" <<'PYEOF'
import os, sys
root = sys.argv[1]
for d in ["etc", "bin", "incoming", "outgoing", "quarantine"]:
    os.makedirs(os.path.join(root, d), mode=0o700, exist_ok=True)
PYEOF
cp "$WORK/gateway.conf" "$SPOOL/etc/gateway.conf"
cp etc/matches.bad etc/matches.doc "$SPOOL/etc/"
chmod 700 "$SPOOL"
if [ "$(id -u)" = 0 ]; then chown -R uucp:uucp "$SPOOL"; fi

GATEWAY_LOG=stderr "$TARGET/smtpd" -D -H -l 127.0.0.1 -p "$SMTP_PORT" --spool "$SPOOL" 2>"$WORK/smtpd.log" &
PIDS="$PIDS $!"
GATEWAY_LOG=stderr "$TARGET/scanmail" --watch --spool "$SPOOL" 2>"$WORK/scanmail.log" &
SCANMAIL_PID=$!
PIDS="$PIDS $SCANMAIL_PID"
GATEWAY_LOG=stderr "$TARGET/smtpfwdd" --foreground --spool "$SPOOL" 2>"$WORK/smtpfwdd.log" &
PIDS="$PIDS $!"
sleep 1

# The client: RATE sessions a second, each one message; the time of each 250 by Message-ID.
$PY - "$SMTP_PORT" "$RATE" "$SECS" "$WORK/accepted" <<'PYEOF'
import smtplib, sys, time, threading
port, rate, secs, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
body = ("The quarterly figures are attached in the usual place.\r\n" * 36)
lines, lock = [], threading.Lock()
def send(n):
    mid = "<bench%06d@client.example>" % n
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
    due = start + n / rate
    d = due - time.time()
    if d > 0:
        time.sleep(d)
    th = threading.Thread(target=send, args=(n,))
    th.start()
    threads.append(th)
for th in threads:
    th.join()
open(out, "w").writelines(lines)
PYEOF

# Wait for the last arrivals (at most 30 s), then the figures.
n_acc=$(wc -l < "$WORK/accepted")
for _ in $(seq 1 300); do
  [ "$(wc -l < "$WORK/arrivals" 2>/dev/null || echo 0)" -ge "$n_acc" ] && break
  sleep 0.1
done
# scanmail's own CPU time (user + system, clock ticks of 10 ms) over the run.
cpu_ticks=$(awk '{print $14 + $15}' "/proc/$SCANMAIL_PID/stat")
$PY - "$WORK/accepted" "$WORK/arrivals" "$RATE" "$SECS" "$cpu_ticks" "$(getconf CLK_TCK)" <<'PYEOF'
import sys
acc = dict(l.split() for l in open(sys.argv[1]))
arr = dict(l.split() for l in open(sys.argv[2]))
lat = sorted((float(arr[m]) - float(t)) * 1000 for m, t in acc.items() if m in arr)
missing = len(acc) - len(lat)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print("offered %s msg/s for %s s: %d accepted, %d arrived, %d not arrived" % (sys.argv[3], sys.argv[4], len(acc), len(lat), missing))
print("latency 250 -> arrival (ms): median %.1f, p90 %.1f, p99 %.1f, max %.1f" % (q(0.5), q(0.9), q(0.99), lat[-1]))
cpu_ms = int(sys.argv[5]) * 1000.0 / int(sys.argv[6])
print("scanmail --watch CPU: %.0f ms in all, %.2f ms per message" % (cpu_ms, cpu_ms / max(1, len(lat))))
PYEOF
