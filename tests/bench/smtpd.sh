#!/usr/bin/env bash
# Benchmark of smtpd (not a timed test): 2,000 messages of 10 KB sent by Postfix's smtp-source at
# 1, 10 and 50 concurrent sessions, one connection per message,
#   - to smtpd (release build, fsync on: every 250 is a durable write),
#   - to Postfix's smtp-sink (accepts and forgets: the ceiling of the client and the loopback),
# plus this disk's durable-write ceiling in the same run (crates/smtpd/examples/fsync_ceiling.rs:
# 10 KB files written, fsynced, renamed, directory fsynced, with 1 and 10 writers).
# Prints messages/s and the ratios. Goal at 10 sessions: smtpd >= 20% of smtp-sink and >= 80% of
# the 10-writer durable-write ceiling.
#
#   tests/bench/smtpd.sh [MESSAGES]     (default 2000)
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${1:-2000}
SIZE=10240
for p in smtp-source smtp-sink; do
  command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || { echo "$p missing: apt-get install postfix" >&2; exit 1; }
done
PATH="$PATH:/usr/sbin"

cargo build --release -q -p smtpd --bin smtpd --example fsync_ceiling
SMTPD=target/release/smtpd
CEIL=target/release/examples/fsync_ceiling

WORK=$(mktemp -d /var/tmp/smtpd-bench.XXXXXX)
chmod 711 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# A fresh spool for every run, and nothing deleted until the end: on ext4 the allocation of new
# inodes next to thousands of just-deleted ones costs far more than the fsyncs (the kernel's
# recently_deleted() scan), and would measure the previous run's clean-up, not smtpd.
new_spool() {
  local spool="$WORK/spool.$1"
  mkdir -p "$spool"/{etc,bin,incoming,outgoing,quarantine}
  cat > "$spool/etc/gateway.conf" <<CONF
hostname = "bench.example.com"
domains = ["example.com"]
[smtpd]
max_clients = 200
dns_lookups = false
min_free_bytes = 0
CONF
  chmod -R go-rwx "$spool"
  if [ "$(id -u)" = 0 ]; then chown -R uucp:uucp "$spool"; fi
  echo "$spool"
}

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; exit 1; }

# msgs/s for N messages at $1 sessions to port $2
run_source() {
  local t0 t1
  t0=$(date +%s.%N)
  smtp-source -s "$1" -m "$N" -l "$SIZE" -f bench@example.org -t user@example.com "127.0.0.1:$2" >/dev/null
  t1=$(date +%s.%N)
  echo "$N / ($t1 - $t0)" | bc -l | xargs printf '%.0f'
}

SINK_PORT=$(free_port)
SINK_USER=()
if [ "$(id -u)" = 0 ]; then SINK_USER=(-u nobody); fi
smtp-sink "${SINK_USER[@]}" "127.0.0.1:$SINK_PORT" 256 >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$SINK_PORT"

echo "smtpd benchmark: $N messages of $SIZE bytes, one connection per message, $(nproc) cores"
echo "disk: $(df -P "$WORK" | awk 'NR==2 {print $1}') ($(stat -f -c %T "$WORK"))"
# This disk's fsync rate drifts by a factor of several within minutes on a shared VM: the
# ceiling is measured again right before each smtpd run (1 writer for 1 session, 10 otherwise).
printf '%-9s %10s %10s %10s %12s %14s\n' sessions "smtpd" "smtp-sink" "ceiling" "smtpd/sink" "smtpd/ceiling"
for s in 1 10 50; do
  if [ "$s" = 1 ]; then W=1; else W=10; fi
  C=$("$CEIL" "$WORK/ceiling.$s" "$N" "$W")
  SPOOL=$(new_spool "$s")
  SMTPD_PORT=$(free_port)
  GATEWAY_LOG=stderr "$SMTPD" -D -H -q -l 127.0.0.1 -p "$SMTPD_PORT" --spool "$SPOOL" 2>"$WORK/smtpd.$s.log" &
  SMTPD_PID=$!
  PIDS+=("$SMTPD_PID")
  wait_port "$SMTPD_PORT"
  SM=$(run_source "$s" "$SMTPD_PORT")
  got=$(find "$SPOOL/incoming" -name 'smtpd*' | wc -l)
  # The readiness probe is a session too; only messages count.
  [ "$got" = "$N" ] || { echo "smtpd stored $got of $N messages" >&2; cat "$WORK/smtpd.$s.log" >&2; exit 1; }
  kill "$SMTPD_PID"; wait "$SMTPD_PID" 2>/dev/null || true
  SK=$(run_source "$s" "$SINK_PORT")
  printf '%-9s %10s %10s %10s %11.0f%% %13.0f%%\n' "$s" "$SM" "$SK" "$C" \
    "$(echo "100 * $SM / $SK" | bc -l)" "$(echo "100 * $SM / $C" | bc -l)"
done
