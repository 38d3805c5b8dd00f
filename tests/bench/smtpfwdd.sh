#!/usr/bin/env bash
# Benchmark of smtpfwdd (not a timed test): N messages of SIZE bytes from outgoing/ into Postfix's
# smtp-sink with P parallel connections, against smtp-source writing the same load straight into
# the same smtp-sink (the ceiling: a C client with no spool to read, lock, rewrite or delete).
#
#   tests/bench/smtpfwdd.sh [N] [SIZE] [P]      defaults: 2000 10240 10
#   RUNS=5 (default 3): rounds of ceiling, smtpfwdd, smtpfwdd -q; the medians are printed last
#   WRAP="strace -c -f -o FILE": run smtpfwdd under a profiler
#
# Prints one line per run and the ratio. Loopback only; every process it starts is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-2000}
SIZE=${2:-10240}
P=${3:-10}
RUNS=${RUNS:-3}
WRAP=${WRAP:-}
PY=/usr/bin/python3
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)

cargo build --release -q -p smtpfwdd
BIN=${BIN:-$PWD/target/release/smtpfwdd}

# BENCH_DIR=DIR: where the work directory is made (the filesystem measured on).
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/smtpfwdd-bench.XXXXXX")
chmod 711 "$WORK"
SINK_PID=
cleanup() {
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SINK_ARGS=(-c)
[ "$(id -u)" = 0 ] && SINK_ARGS+=(-u nobody)
"$SINK" "${SINK_ARGS[@]}" "127.0.0.1:$PORT" 256 >"$WORK/sink.out" 2>&1 &
SINK_PID=$!
for _ in $(seq 50); do
  $PY -c "import socket; socket.create_connection(('127.0.0.1',$PORT)).close()" 2>/dev/null && break
  sleep 0.1
done

now() { date +%s.%N; }
rate() { $PY -c "print(f'{$1/($3-$2):.0f}')"; }

# --- smtpfwdd: outgoing/ -> smtp-sink ---------------------------------------------------------
run_fwd() {
  local label=$1; shift
  local SP=$WORK/spool
  rm -rf "$SP"
  mkdir -p "$SP"/{etc,bin,incoming,outgoing,quarantine}
  chmod -R 700 "$SP"
  printf 'hostname = "bench.test"\n[forward]\ntls = "off"\nrelay = "127.0.0.1:%s"\n' "$PORT" \
    >"$SP/etc/gateway.conf"
  $PY - "$SP/outgoing" "$N" "$SIZE" <<'PYEOF'
import os, sys, random, string
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
alpha = string.ascii_letters + string.digits
line = ("The quick brown fox jumps over the lazy dog 0123456789. " * 2)[:76] + "\n"
hdr = "Received: from bench.test\nFrom: bench@example.org\nTo: rcpt@example.com\nSubject: bench\n\n"
body = hdr + line * ((size - len(hdr)) // len(line))
body = body + "x" * (size - len(body) - 1) + "\n"
names = set()
for i in range(n):
    while True:
        name = "smtpd" + "".join(random.choice(alpha) for _ in range(6))
        if name not in names:
            names.add(name); break
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write("FROM <bench@example.org>\nRCPT <rcpt@example.com>\nBODY\n" + body)
    os.chmod(p, 0o750)
PYEOF
  [ "$(id -u)" = 0 ] && chown -R uucp:uucp "$SP"
  sync
  local t0 t1 left
  t0=$(now)
  GATEWAY_LOG=stderr $WRAP "$BIN" --spool "$SP" --once -M "$P" "$@" 2>"$WORK/fwd-$label.log" || true
  t1=$(now)
  left=$(find "$SP/outgoing" -name 'smtpd*' | wc -l)
  FWD=$(rate "$N" "$t0" "$t1")
  printf 'smtpfwdd (%-10s) -> sink : %5d msgs x %d B, -M %d:       %6.2f s  %6s msg/s  (%d left)\n' \
    "$label" "$N" "$SIZE" "$P" "$($PY -c "print($t1-$t0)")" "$FWD" "$left"
}

# --- rounds: ceiling (smtp-source, one connection per session reused for its messages: -d), ----
# --- then smtpfwdd logging per recipient, then smtpfwdd -q ----------------------------------------
ratios_log=()
ratios_q=()
for round in $(seq "$RUNS"); do
  echo "round $round ($(cut -d' ' -f1-3 /proc/loadavg) load)"
  t0=$(now)
  "$SOURCE" -d -c -l "$SIZE" -m "$N" -s "$P" -f bench@example.org -t rcpt@example.com \
    "127.0.0.1:$PORT" >/dev/null
  t1=$(now)
  CEIL=$(rate "$N" "$t0" "$t1")
  printf 'smtp-source -> smtp-sink : %5d msgs x %d B, %d sessions: %6.2f s  %6s msg/s\n' \
    "$N" "$SIZE" "$P" "$($PY -c "print($t1-$t0)")" "$CEIL"
  run_fwd "logging"
  FWD_LOG=$FWD
  run_fwd "-q" -q
  FWD_Q=$FWD
  RL=$($PY -c "print(round(100*$FWD_LOG/$CEIL))")
  RQ=$($PY -c "print(round(100*$FWD_Q/$CEIL))")
  ratios_log+=("$RL")
  ratios_q+=("$RQ")
  printf 'ratio: %s%% (per-recipient log lines), %s%% (-q)  of the ceiling; goal >= 70%%\n' "$RL" "$RQ"
done
med() { $PY -c "import statistics,sys; print(round(statistics.median(map(float,sys.argv[1:]))))" "$@"; }
printf 'median ratio over %d rounds: %s%% (per-recipient log lines), %s%% (-q)\n' \
  "$RUNS" "$(med "${ratios_log[@]}")" "$(med "${ratios_q[@]}")"
