#!/bin/sh
# Memory of smtpd per session (not a timed test): smtpd -D on loopback, its resident memory
# (VmRSS, /proc) with no session and with N sessions open at once, each in the middle of a
# DATA phase; prints the base and the cost per session. Every process it starts is stopped by
# its PID. Usage: tests/bench/memory.sh [N]   (builds the release binary)
set -eu
N=${1:-50}
cd "$(dirname "$0")/../.."
cargo build --release -q -p smtpd
TARGET=${CARGO_TARGET_DIR:-$PWD/target}/release
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/memory-bench.XXXXXX)
chmod 711 "$WORK"
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM
SPOOL=$WORK/spool
for d in etc bin incoming outgoing quarantine; do mkdir -p "$SPOOL/$d"; done
chmod -R 700 "$SPOOL"
printf 'hostname = "gw.bench"\ndomains = ["example.com"]\n[smtpd]\ndns_lookups = false\nmax_clients = 1000\nconnection_limit_exceptions = ["127.0.0.0/8"]\n' > "$SPOOL/etc/gateway.conf"
[ "$(id -u)" = 0 ] && chown -R uucp:uucp "$SPOOL"
PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
GATEWAY_LOG=stderr "$TARGET/smtpd" -D -H -l 127.0.0.1 -p "$PORT" --spool "$SPOOL" 2>/dev/null &
PID=$!
sleep 0.5
$PY - "$PORT" "$N" "$PID" <<'PYEOF'
import socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def rss():
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
def talk(s, line):
    s.sendall(line)
    return s.recv(4096)
base = rss()
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.recv(4096)
    talk(s, b"EHLO client.example\r\n")
    talk(s, b"MAIL FROM:<a@client.example>\r\n")
    talk(s, b"RCPT TO:<bob@example.com>\r\n")
    talk(s, b"DATA\r\n")
    s.sendall(b"Subject: half\r\n\r\n" + b"x" * 60000 + b"\r\n")
    socks.append(s)
time.sleep(1)
with_n = rss()
print("smtpd -D resident memory: %d KB with no session, %d KB with %d sessions in DATA: %.0f KB per session" % (base, with_n, n, (with_n - base) / n))
PYEOF
