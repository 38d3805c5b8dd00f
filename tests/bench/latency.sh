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
$PY tests/bench/lib/arrivals.py "$RELAY_PORT" "$WORK/arrivals" &
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
$PY tests/bench/lib/offer.py "$SMTP_PORT" "$RATE" "$SECS" "$WORK/accepted"

# Wait for the last arrivals (at most 30 s), then the figures.
n_acc=$(wc -l < "$WORK/accepted")
for _ in $(seq 1 300); do
  [ "$(wc -l < "$WORK/arrivals" 2>/dev/null || echo 0)" -ge "$n_acc" ] && break
  sleep 0.1
done
# scanmail's own CPU time (user + system, clock ticks of 10 ms) over the run.
cpu_ticks=$(awk '{print $14 + $15}' "/proc/$SCANMAIL_PID/stat")
echo "offered $RATE msg/s for $SECS s:"
$PY tests/bench/lib/latstats.py "$WORK/accepted" "$WORK/arrivals"
$PY -c "import sys; cpu = int(sys.argv[1]) * 1000.0 / int(sys.argv[2]); n = max(1, sum(1 for _ in open(sys.argv[3]))); print('scanmail --watch CPU: %.0f ms in all, %.2f ms per message' % (cpu, cpu / n))" \
  "$cpu_ticks" "$(getconf CLK_TCK)" "$WORK/arrivals"
