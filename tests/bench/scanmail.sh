#!/bin/sh
# Benchmark of scanmail (not a timed test): prints figures for docs/benchmarks/scanmail.md.
#
# A deterministic corpus of 1,000 unique messages (90% plain or HTML text of about 10 KB, 10% with
# a zip or a Word document attached, 1% EICAR) is judged three ways:
#   1. scanmail with an instant scanner (a stub clamd in Rust answering OK at once, and a command
#      scanner that exits 0 at once): scanmail's own cost;
#   2. scanmail with a real clamd (DisableCache yes, so nothing is answered from a cache);
#   3. clamd alone streaming the same message bodies (zINSTREAM, one connection each), one
#      connection at a time and one per core at once (as scanmail does),
# and scanmail's peak memory (max RSS) is reported for run 2.
# Usage: tests/bench/scanmail.sh [N]   (run from the repository; builds the release binary)
set -eu
N=${1:-1000}
cd "$(dirname "$0")/../.."
cargo build --release -q -p scanmail --bin scanmail --example stub_clamd
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
BIN=$TARGET/release/scanmail
STUB=$TARGET/release/examples/stub_clamd
# REPEAT=k runs each measurement k times; ONLY_INSTANT=1 stops after the instant scanners;
# BASELINE_BIN=path also measures another scanmail build with clamd (before/after).
REPEAT=${REPEAT:-1}
PY=/usr/bin/python3
# scanmail streams to clamd over one connection per core (at most 4).
CONNS=$(nproc); [ "$CONNS" -gt 4 ] && CONNS=4
WORK=$(mktemp -d /tmp/scanmail-bench.XXXXXX)
chmod 711 "$WORK"
CLAMD_PID=
cleanup() { [ -n "$CLAMD_PID" ] && kill "$CLAMD_PID" 2>/dev/null; [ -s "$WORK/clamd/clamd.log" ] && tail -3 "$WORK/clamd/clamd.log" >&2; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

# The corpus: one body per file in $WORK/corpus, deterministic (seeded).
$PY - "$WORK/corpus" "$N" <<'PYEOF'
import base64, io, os, random, sys, zipfile
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
rnd = random.Random(42)
words = "the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part".split()
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
def text(k):
    return "\n".join(" ".join(rnd.choice(words) for _ in range(12)) for _ in range(k)) + "\n"
def b64(d):
    s = base64.b64encode(d).decode()
    return "\n".join(s[i:i+76] for i in range(0, len(s), 76)) + "\n"
for i in range(n):
    head = f"From: sender{i}@example.org\nTo: user{i % 37}@example.com\nSubject: message {i} {rnd.randrange(10**9)}\nMessage-ID: <{i}.{rnd.randrange(10**9)}@example.org>\nMIME-Version: 1.0\n"
    if i % 100 == 37:
        body = head + 'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n' + text(20) + '--b\nContent-Type: application/octet-stream; name="note.dat"\nContent-Transfer-Encoding: base64\n\n' + b64(EICAR + text(2).encode()) + "--b--\n"
    elif i % 10 == 3:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("report.txt", text(200))
        if i % 20 == 3:
            att, name, ct = buf.getvalue(), "report.zip", "application/zip"
        else:
            att, name, ct = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + text(150).encode(), "letter.doc", "application/msword"
        body = head + 'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n' + text(20) + f'--b\nContent-Type: {ct}; name="{name}"\nContent-Disposition: attachment; filename="{name}"\nContent-Transfer-Encoding: base64\n\n' + b64(att) + "--b--\n"
    elif i % 2:
        body = head + 'Content-Type: text/html; charset=us-ascii\n\n<html><body><p>' + text(130).replace("\n", "</p>\n<p>") + "</p></body></html>\n"
    else:
        body = head + "Content-Type: text/plain; charset=us-ascii\n\n" + text(140)
    with open(os.path.join(out, "%05d" % i), "w") as f:
        f.write(body)
PYEOF
BYTES=$(cat "$WORK"/corpus/* | wc -c)

# A spool filled with the corpus as smtpd would leave it.
fill() {
  rm -rf "$WORK/spool"; mkdir -p "$WORK/spool/etc" "$WORK/spool/bin" "$WORK/spool/incoming" "$WORK/spool/outgoing" "$WORK/spool/quarantine"
  chmod -R 700 "$WORK/spool"
  cp etc/matches.bad etc/matches.doc "$WORK/spool/etc/"
  printf 'hostname = "bench.example.com"\nadmin = "admin@example.com"\n[scan]\n%s\n' "$1" > "$WORK/spool/etc/gateway.conf"
  $PY - "$WORK/corpus" "$WORK/spool/incoming" <<'PYEOF'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
for k, name in enumerate(sorted(os.listdir(src))):
    i, id = int(name), ""
    x = k
    for _ in range(6):
        id += alpha[x % 62]; x //= 62
    p = os.path.join(dst, "smtpd" + id)
    with open(p, "wb") as f:
        f.write(b"FROM <sender%d@example.org>\nRCPT <user%d@example.com>\nBODY\n" % (i, i % 37))
        f.write(open(os.path.join(src, name), "rb").read())
    os.chmod(p, 0o750)
PYEOF
  if [ "$(id -u)" = 0 ]; then chown -R uucp:uucp "$WORK/spool"; chmod 755 "$WORK"; fi
  # Let the kernel write the new spool back before the clock starts.
  sync; sleep 1
}

now() { date +%s.%N; }
rate() { $PY -c "import sys; print('%.0f' % ($N / ($2 - $1)))" "$1" "$2"; }
secs() { $PY -c "import sys; print('%.2f' % ($2 - $1))" "$1" "$2"; }

echo "corpus: $N messages, $BYTES bytes"

# 1. instant scanners, scanmail's own cost:
#  a. clamd's protocol to a stub written in Rust (examples/stub_clamd.rs: one thread per
#     connection, reads every chunk, answers "stream: OK" at once): the default scanner's path;
#  b. scanner = "command" with /bin/true (exits 0 at once; it runs once per batch of 100, and
#     scanmail copies every message into its _d directory for it).
mkdir -p "$WORK/stub"; chmod 755 "$WORK/stub"
"$STUB" "$WORK/stub/stub.sock" &
STUB_PID=$!
for _ in $(seq 1 100); do [ -S "$WORK/stub/stub.sock" ] && break; sleep 0.05; done
# What the stub was sent since the last call: "<streams> streams, <bytes> bytes (<ratio>x the corpus)".
count() {
  $PY -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"zCOUNT\0"); print(s.recv(100).decode().strip("\0"))' "$WORK/stub/stub.sock" 2>/dev/null || echo "0 0"
}
sent() {
  c=$(count)
  $PY -c "import sys; s, b, s0, b0, n = map(int, sys.argv[1:]); print('%d streams, %d bytes (%.2fx the corpus)' % (s - s0, b - b0, (b - b0) / n))" $c ${LAST:-0 0} "$BYTES"
}
for k in $(seq 1 "$REPEAT"); do
  fill "clamd_socket = \"$WORK/stub/stub.sock\""
  LAST=$(count)
  t0=$(now); GATEWAY_LOG=stderr ${WRAP:-} "$BIN" --spool "$WORK/spool" 2>/dev/null || true; t1=$(now)
  echo "instant scanner (Rust stub clamd): $(secs "$t0" "$t1") s, $(rate "$t0" "$t1") messages/s; outgoing $(ls "$WORK/spool/outgoing" | grep -c '^smtpd') quarantine $(ls "$WORK/spool/quarantine" | grep -c '^smtpd[A-Za-z0-9]*$'); sent to the scanner: $(sent)"
  if [ -n "${BASELINE_BIN:-}" ]; then
    fill "clamd_socket = \"$WORK/stub/stub.sock\""
    LAST=$(count)
    t0=$(now); GATEWAY_LOG=stderr "$BASELINE_BIN" --spool "$WORK/spool" 2>/dev/null || true; t1=$(now)
    echo "baseline instant scanner (Rust stub clamd): $(secs "$t0" "$t1") s, $(rate "$t0" "$t1") messages/s; sent to the scanner: $(sent)"
  fi
done
kill $STUB_PID
for k in $(seq 1 "$REPEAT"); do
  fill "scanner = \"command\"
command = \"/bin/true {}\"
clean_exit_codes = [0]
virus_exit_codes = [1]"
  t0=$(now); GATEWAY_LOG=stderr ${WRAP2:-} "$BIN" --spool "$WORK/spool" 2>/dev/null || true; t1=$(now)
  echo "instant scanner (command /bin/true): $(secs "$t0" "$t1") s, $(rate "$t0" "$t1") messages/s; outgoing $(ls "$WORK/spool/outgoing" | grep -c '^smtpd') quarantine $(ls "$WORK/spool/quarantine" | grep -c '^smtpd[A-Za-z0-9]*$')"
  if [ -n "${BASELINE_BIN:-}" ]; then
    fill "scanner = \"command\"
command = \"/bin/true {}\"
clean_exit_codes = [0]
virus_exit_codes = [1]"
    t0=$(now); GATEWAY_LOG=stderr "$BASELINE_BIN" --spool "$WORK/spool" 2>/dev/null || true; t1=$(now)
    echo "baseline instant scanner (command /bin/true): $(secs "$t0" "$t1") s, $(rate "$t0" "$t1") messages/s"
  fi
done
[ "${ONLY_INSTANT:-}" = 1 ] && exit 0

# 2. clamd (test signature database, cache off)
mkdir -p "$WORK/clamd"; chmod 755 "$WORK/clamd"
HEX=$($PY -c "import sys; sys.stdout.write(b'X5O!P%@AP[4\\\\PZX54(P^)7CC)7}\$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!\$H+H*'.hex())")
echo "Eicar-Test-Signature:0:*:$HEX" > "$WORK/clamd/test.ndb"
cat > "$WORK/clamd/clamd.conf" <<CONF
LocalSocket $WORK/clamd/clamd.sock
LocalSocketMode 666
DatabaseDirectory $WORK/clamd
Foreground yes
DisableCache yes
LogFile $WORK/clamd/clamd.log
CONF
[ "$(id -u)" = 0 ] && echo "User root" >> "$WORK/clamd/clamd.conf"
/usr/sbin/clamd -c "$WORK/clamd/clamd.conf" >/dev/null 2>&1 &
CLAMD_PID=$!
for _ in $(seq 1 300); do [ -S "$WORK/clamd/clamd.sock" ] && break; sleep 0.1; done
[ -S "$WORK/clamd/clamd.sock" ] || { echo "clamd did not start" >&2; exit 1; }
sleep 0.5
# 2 and 3 alternate REPEAT times, so that both see the same state of the machine.
cat > "$WORK/alone.py" <<'PYEOF'
import os, socket, struct, sys, threading
sock, d, conns = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = sorted(os.listdir(d))
found = [0] * conns
def work(k):
    for name in names[k::conns]:
        data = open(os.path.join(d, name), "rb").read()
        s = socket.socket(socket.AF_UNIX); s.connect(sock)
        s.sendall(b"zINSTREAM\0" + struct.pack(">I", len(data)) + data + struct.pack(">I", 0))
        r = b""
        while not r.endswith(b"\0"):
            c = s.recv(4096)
            if not c: break
            r += c
        s.close()
        found[k] += r.rstrip(b"\0").endswith(b"FOUND")
ts = [threading.Thread(target=work, args=(k,)) for k in range(conns)]
for t in ts: t.start()
for t in ts: t.join()
print("clamd alone found", sum(found), file=sys.stderr)
PYEOF
for k in $(seq 1 "$REPEAT"); do
  fill "clamd_socket = \"$WORK/clamd/clamd.sock\""
  t0=$(now); GATEWAY_LOG=stderr /usr/bin/time -f "%M" -o "$WORK/rss" ${WRAP3:-} "$BIN" --spool "$WORK/spool" 2>/dev/null || true; t1=$(now)
  S=$(secs "$t0" "$t1")
  echo "scanmail + clamd: $S s, $(rate "$t0" "$t1") messages/s, peak RSS $(cat "$WORK/rss") KB; outgoing $(ls "$WORK/spool/outgoing" | grep -c '^smtpd') quarantine $(ls "$WORK/spool/quarantine" | grep -c '^smtpd[A-Za-z0-9]*$')"

  # BASELINE_BIN=path: another build of scanmail measured the same way, for before/after.
  if [ -n "${BASELINE_BIN:-}" ]; then
    fill "clamd_socket = \"$WORK/clamd/clamd.sock\""
    t0=$(now); GATEWAY_LOG=stderr "$BASELINE_BIN" --spool "$WORK/spool" 2>/dev/null || true; t1=$(now)
    echo "baseline scanmail + clamd: $(secs "$t0" "$t1") s, $(rate "$t0" "$t1") messages/s"
  fi

  # 3. clamd alone over the same bodies, one zINSTREAM connection per message: one connection
  #    at a time (the issue's baseline), and as many at once as scanmail uses (one per core).
  t0=$(now)
  $PY "$WORK/alone.py" "$WORK/clamd/clamd.sock" "$WORK/corpus" 1
  t1=$(now)
  A=$(secs "$t0" "$t1")
  echo "clamd alone, 1 connection: $A s, $(rate "$t0" "$t1") messages/s"
  t0=$(now)
  $PY "$WORK/alone.py" "$WORK/clamd/clamd.sock" "$WORK/corpus" "$CONNS"
  t1=$(now)
  P=$(secs "$t0" "$t1")
  echo "clamd alone, $CONNS connections: $P s, $(rate "$t0" "$t1") messages/s"
  $PY -c "import sys; print('ratio scanmail+clamd / clamd alone: %.2f (1 connection), %.2f (%s connections)' % (float(sys.argv[1]) / float(sys.argv[2]), float(sys.argv[1]) / float(sys.argv[3]), sys.argv[4]))" "$S" "$A" "$P" "$CONNS"
done
