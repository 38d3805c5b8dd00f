#!/usr/bin/env bash
# install.sh — install the e-mail virus firewall the article's way, or show it working.
#
#   ./install.sh --demo                       the whole flow under ./demo, no root, no configuration
#   sudo ./install.sh --domain example.com --relay mail.internal:25 --admin postmaster@example.com
#   sudo ./install.sh --uninstall             remove the programs; the mail in the spool stays
#
# Idempotent: a second run changes nothing the admin edited (new defaults land beside edited files
# as NAME.dist). Run ./install.sh --help for every option.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROG=install.sh

ROOT=""             # --root DIR: install below DIR (tests, packaging); no services are started
DOMAIN=""
RELAY=""
ADMIN=""
HOSTNAME_OPT=""
MODE=install        # install | uninstall | demo
KEEP_RUNNING=0
NO_DEPS=0
NO_START=0
NO_CRONTAB=0
SPOOL_USER=uucp
SPOOL_GROUP=uucp
DEMO_DIR="$HERE/demo"
DEMO_PORT=2525
PROFILE=release

usage() {
    cat <<'EOF'
Usage: install.sh [OPTIONS]

Install the e-mail virus firewall: smtpd and smtpfwdd into /usr/local/sbin, scanmail, sigupdate
and daysumm into /var/spool/smtpd/bin, the spool tree owned by uucp with mode 700, the default
files of etc/, the uucp crontab, ClamAV, and the daemons.

Modes:
  --demo             Run a complete instance under ./demo as the current user: smtpd on
                     127.0.0.1:2525, clamd on a socket in demo/ with test signatures, a local SMTP
                     server standing in for the internal mail server; send a clean and an EICAR
                     mail, scan, forward, print where each ended, the admin alert and the summary.
  --keep-running     With --demo: leave the daemons up for trying by hand (stop: --demo-stop).
  --demo-dir DIR     With --demo: where the instance lives (default ./demo)
  --demo-port PORT   With --demo: smtpd's port (default 2525; the mail server stand-in uses PORT+1)
  --demo-stop        Stop what --demo --keep-running left running.
  --uninstall        Remove the programs, units, crontab; never the mail in the spool.

Settings written into etc/gateway.conf:
  --domain DOMAIN    local mail domain (repeatable; smtpd accepts mail only for these)
  --relay HOST:PORT  the internal mail server smtpfwdd forwards to
  --admin ADDRESS    where alerts and the nightly summary go
  --hostname NAME    the gateway's name in banners and notices

Other:
  --root DIR         install below DIR instead of / (tests, packaging); starts no services
  --no-deps          do not apt-get install ClamAV and cron
  --no-start         do not start or enable daemons
  --no-crontab       do not install the uucp crontab
  --profile P        cargo build profile for the installed programs: release (default) or debug
  -h, --help         this text
EOF
}

die() { echo "$PROG: $*" >&2; exit 1; }
say() { echo "$PROG: $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --demo) MODE=demo ;;
        --keep-running) KEEP_RUNNING=1 ;;
        --demo-stop) MODE=demo-stop ;;
        --demo-dir) DEMO_DIR="${2:?--demo-dir needs a directory}"; shift ;;
        --demo-port) DEMO_PORT="${2:?--demo-port needs a port}"; shift ;;
        --profile) PROFILE="${2:?--profile needs release or debug}"; shift ;;
        --uninstall) MODE=uninstall ;;
        --domain) DOMAIN="${DOMAIN:+$DOMAIN }${2:?--domain needs a value}"; shift ;;
        --relay) RELAY="${2:?--relay needs a value}"; shift ;;
        --admin) ADMIN="${2:?--admin needs a value}"; shift ;;
        --hostname) HOSTNAME_OPT="${2:?--hostname needs a value}"; shift ;;
        --root) ROOT="${2:?--root needs a directory}"; shift ;;
        --no-deps) NO_DEPS=1 ;;
        --no-start) NO_START=1 ;;
        --no-crontab) NO_CRONTAB=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT=$(cd "$ROOT" && pwd)
    NO_START=1
fi
SPOOL="$ROOT/var/spool/smtpd"
SBIN="$ROOT/usr/local/sbin"
UNITDIR="$ROOT/etc/systemd/system"
RUNDIR="$ROOT/run/smtpd"

is_root() { [ "$(id -u)" = 0 ]; }

need_cargo() {
    command -v cargo >/dev/null 2>&1 && return 0
    die "cargo (Rust) is missing. Install it with: curl https://sh.rustup.rs -sSf | sh   (or: apt-get install cargo), then run $PROG again"
}

# Build the programs. PROFILE=release for installs, debug for the demo (already built by tests).
build() {
    need_cargo
    local profile=$1
    case "$profile" in release|debug) ;; *) die "--profile takes release or debug" ;; esac
    if [ "$profile" = release ]; then
        say "building release binaries (cargo build --release)"
        (cd "$HERE" && cargo build --release --workspace --bins --quiet)
    else
        (cd "$HERE" && cargo build --workspace --bins --quiet)
    fi
    BINDIR="${CARGO_TARGET_DIR:-$HERE/target}/$profile"
    for b in smtpd smtpfwdd scanmail sigupdate daysumm; do
        [ -x "$BINDIR/$b" ] || die "build did not produce $BINDIR/$b"
    done
}

apt_install() {
    local pkgs=("$@")
    if ! is_root; then
        die "missing packages. Run: sudo apt-get update && sudo apt-get install -y ${pkgs[*]}"
    fi
    say "installing ${pkgs[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

# Copy a default file into the spool's etc/ without touching what the admin edited.
install_etc_file() {
    local src=$1 dst=$2 mode=${3:-600}
    if [ ! -e "$dst" ]; then
        install -m "$mode" "$src" "$dst"
    elif ! cmp -s "$src" "$dst"; then
        install -m "$mode" "$src" "$dst.dist"
    fi
}

# Set `key = value` in one [section] of a TOML file ("" = top level). The shipped gateway.conf has
# every key as a line of its own, possibly commented out.
set_conf() {
    local file=$1 section=$2 key=$3 value=$4
    python3 - "$file" "$section" "$key" "$value" <<'PY'
import re, sys
path, section, key, value = sys.argv[1:]
lines = open(path).read().split("\n")
cur, done, out = "", False, []
pat = re.compile(r"^\s*#?\s*" + re.escape(key) + r"\s*=")
last_in_section = None
for i, l in enumerate(lines):
    m = re.match(r"^\s*\[([^\]]+)\]", l)
    if m:
        cur = m.group(1).strip()
    if not done and cur == section and pat.match(l):
        l = f"{key} = {value}"
        done = True
    out.append(l)
    if cur == section and l.strip():
        last_in_section = len(out)
if not done:
    if section and last_in_section is None:
        out += ["", f"[{section}]", f"{key} = {value}"]
    elif last_in_section is None:
        out.insert(0, f"{key} = {value}")
    else:
        out.insert(last_in_section, f"{key} = {value}")
open(path, "w").write("\n".join(out))
PY
}

toml_str() { printf '"%s"' "$1"; }

configure_gateway_conf() {
    local conf=$SPOOL/etc/gateway.conf
    [ -n "$HOSTNAME_OPT" ] && set_conf "$conf" "" hostname "$(toml_str "$HOSTNAME_OPT")"
    [ -n "$ADMIN" ] && set_conf "$conf" "" admin "$(toml_str "$ADMIN")"
    if [ -n "$DOMAIN" ]; then
        local list="" d
        for d in $DOMAIN; do list="${list:+$list, }$(toml_str "$d")"; done
        set_conf "$conf" "" domains "[$list]"
    fi
    [ -n "$RELAY" ] && set_conf "$conf" forward relay "$(toml_str "$RELAY")"
    return 0
}

install_crontab() {
    [ "$NO_CRONTAB" = 1 ] && return 0
    command -v crontab >/dev/null 2>&1 || { say "warning: crontab missing (apt-get install cron): crontab not installed"; return 0; }
    is_root || { say "warning: not root: install the crontab by hand: crontab -u $SPOOL_USER cron/crontab"; return 0; }
    sed "s#/var/spool/smtpd#$SPOOL#g" "$HERE/cron/crontab" | crontab -u "$SPOOL_USER" -
    say "crontab of $SPOOL_USER installed (crontab -u $SPOOL_USER -l)"
}

setup_clamav() {
    [ -n "$ROOT" ] && return 0
    # clamd's socket is mode 666 on Debian; the group makes it work where the admin tightened it.
    getent group clamav >/dev/null && usermod -a -G clamav "$SPOOL_USER" 2>/dev/null || true
    # sigupdate runs freshclam as uucp: the database and freshclam's log must be group-writable.
    if [ -d /var/lib/clamav ]; then
        chgrp clamav /var/lib/clamav && chmod g+rwx /var/lib/clamav || true
    fi
    if [ -d /var/log/clamav ]; then
        touch /var/log/clamav/freshclam.log
        chgrp clamav /var/log/clamav /var/log/clamav/freshclam.log && chmod g+rwx /var/log/clamav && chmod g+rw /var/log/clamav/freshclam.log || true
    fi
    if command -v freshclam >/dev/null 2>&1; then
        if freshclam --quiet 2>/dev/null; then
            say "freshclam: signatures updated"
        elif ! ls /var/lib/clamav/*.cvd /var/lib/clamav/*.cld >/dev/null 2>&1; then
            echo "***************************************************************************" >&2
            echo "$PROG: WARNING: freshclam could not download the ClamAV signatures (no internet?)." >&2
            echo "$PROG: Installing a TEST-ONLY signature (EICAR) so the flow can be tried." >&2
            echo "$PROG: This machine detects NO real virus until freshclam succeeds." >&2
            echo "***************************************************************************" >&2
            write_eicar_ndb /var/lib/clamav/eicar-test-only.ndb
            chown clamav:clamav /var/lib/clamav/eicar-test-only.ndb 2>/dev/null || true
        fi
    fi
}

write_eicar_ndb() {
    # The EICAR test string, hex-encoded, as a ClamAV body signature.
    local hex
    hex=$(printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' | od -An -tx1 -v | tr -d ' \n')
    printf 'Eicar-Test-Signature:0:*:%s\n' "$hex" > "$1"
}

start_daemons() {
    [ "$NO_START" = 1 ] && return 0
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        install -m 644 "$HERE"/etc/systemd/smtpd.socket "$HERE"/etc/systemd/smtpd@.service \
            "$HERE"/etc/systemd/smtpfwdd.service "$UNITDIR"/
        systemctl daemon-reload
        systemctl enable --now clamav-daemon.service 2>/dev/null || true
        systemctl enable --now smtpd.socket smtpfwdd.service
        systemctl enable --now cron.service 2>/dev/null || true
        say "systemd: smtpd.socket (inetd-style, Accept=yes) and smtpfwdd.service enabled"
        return 0
    fi
    mkdir -p "$RUNDIR"
    if [ -f /etc/inetd.conf ]; then
        if ! grep -q "^smtp[[:space:]].*$SBIN/smtpd" /etc/inetd.conf; then
            echo "smtp	stream	tcp	nowait	root	$SBIN/smtpd	smtpd" >> /etc/inetd.conf
            pkill -HUP -x inetd 2>/dev/null || pkill -HUP -x inetutils-inetd 2>/dev/null || true
        fi
        say "inetd: smtp line added to /etc/inetd.conf"
    else
        stop_pidfile "$RUNDIR/smtpd.pid"
        # smtpd -D stays in the foreground (binds port 25 as root, then chroot + uucp).
        setsid "$SBIN/smtpd" -D -i "$RUNDIR/smtpd.pid" </dev/null >/dev/null 2>&1 &
        say "smtpd -D started (pid file $RUNDIR/smtpd.pid)"
    fi
    stop_pidfile "$RUNDIR/smtpfwdd.pid"
    setsid "$SBIN/smtpfwdd" --foreground </dev/null >/dev/null 2>&1 &
    echo $! > "$RUNDIR/smtpfwdd.pid"
    say "smtpfwdd started (pid file $RUNDIR/smtpfwdd.pid)"
    # The system clamd (its socket), not any clamd: tests and demos run their own.
    if [ ! -S /run/clamav/clamd.ctl ] && [ -x /usr/sbin/clamd ]; then
        (service clamav-daemon start || /usr/sbin/clamd) >/dev/null 2>&1 || say "warning: could not start clamd"
        for _ in $(seq 1 150); do [ -S /run/clamav/clamd.ctl ] && break; sleep 0.2; done
        [ -S /run/clamav/clamd.ctl ] && say "clamd started" || say "warning: clamd's socket /run/clamav/clamd.ctl did not appear"
    fi
    if ! pgrep -x cron >/dev/null 2>&1; then
        (service cron start || cron) >/dev/null 2>&1 || say "warning: could not start cron"
    fi
}

stop_pidfile() {
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.3; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

print_followups() {
    cat <<EOF

Next steps
----------
1. Send port 25 to this gateway (today's form of the article's ipmasqadm line), on the firewall:
     nft add rule ip nat prerouting iif "eth0" tcp dport 25 dnat to GATEWAY_IP:25
   or with iptables:
     iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 25 -j DNAT --to-destination GATEWAY_IP:25
2. Edit $SPOOL/etc/matches.bad and matches.doc (one pattern per line, filename=.*\\.exe form).
3. Let the admins read the quarantine over Samba: add this to /etc/samba/smb.conf
   (also in $SPOOL/etc/smb.conf.example):
$(sed -n '/^\[quarantine\]/,$p' "$HERE/etc/smb.conf.example" | sed "s#/var/spool/smtpd#$SPOOL#; s/^/     /")
4. The nightly summary goes to the admin in gateway.conf at 23:59; release quarantined mail with
     $SPOOL/bin/scanmail --list     and     $SPOOL/bin/scanmail --release ID
EOF
}

do_install() {
    if [ -z "$ROOT" ] && ! is_root; then
        die "installing needs root (or --root DIR for a trial tree; or --demo)"
    fi
    build "$PROFILE"
    if [ "$NO_DEPS" = 0 ] && [ -z "$ROOT" ]; then
        local missing=()
        command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ] || missing+=(clamav clamav-daemon clamav-freshclam)
        command -v clamscan >/dev/null 2>&1 || missing+=(clamav)
        command -v crontab >/dev/null 2>&1 || missing+=(cron)
        [ ${#missing[@]} -gt 0 ] && apt_install "${missing[@]}"
    fi
    if is_root && ! id "$SPOOL_USER" >/dev/null 2>&1; then
        useradd --system --home-dir /var/spool/uucp --shell /usr/sbin/nologin "$SPOOL_USER"
    fi
    umask 077
    mkdir -p "$SBIN" "$SPOOL"/{etc,bin,incoming,outgoing,quarantine}
    install -m 755 "$BINDIR/smtpd" "$BINDIR/smtpfwdd" "$SBIN"/
    install -m 700 "$BINDIR/scanmail" "$BINDIR/sigupdate" "$BINDIR/daysumm" "$SPOOL/bin"/
    local f
    for f in gateway.conf matches.bad matches.doc smtpd_check_rules transport smb.conf.example "$HERE"/etc/*.tmpl; do
        f=$(basename "$f")
        [ -f "$HERE/etc/$f" ] && install_etc_file "$HERE/etc/$f" "$SPOOL/etc/$f"
    done
    configure_gateway_conf
    # The chroot needs its own resolver configuration and time zone.
    # (glibc's built-in files and dns lookups read these relative to the chroot.)
    local c
    for c in resolv.conf hosts nsswitch.conf; do
        [ -f "/etc/$c" ] && install -m 600 "/etc/$c" "$SPOOL/etc/$c"
    done
    [ -e /etc/localtime ] && install -m 600 "$(readlink -f /etc/localtime)" "$SPOOL/etc/localtime"
    if is_root; then
        chown -R "$SPOOL_USER:$SPOOL_GROUP" "$SPOOL"
    fi
    chmod -R go-rwx "$SPOOL"
    chmod 700 "$SPOOL" "$SPOOL"/{etc,bin,incoming,outgoing,quarantine}
    setup_clamav
    install_crontab
    start_daemons
    say "installed: $SBIN/{smtpd,smtpfwdd}, $SPOOL/bin/{scanmail,sigupdate,daysumm}, spool $SPOOL"
    print_followups
}

do_uninstall() {
    if [ -z "$ROOT" ] && ! is_root; then die "uninstalling needs root"; fi
    if [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now smtpd.socket smtpfwdd.service smtpd.service 2>/dev/null || true
        rm -f "$UNITDIR"/smtpd.socket "$UNITDIR"/smtpd@.service "$UNITDIR"/smtpd.service "$UNITDIR"/smtpfwdd.service
        systemctl daemon-reload
    fi
    stop_pidfile "$RUNDIR/smtpd.pid"
    stop_pidfile "$RUNDIR/smtpfwdd.pid"
    if [ -z "$ROOT" ] && [ -f /etc/inetd.conf ]; then
        sed -i "\#^smtp[[:space:]].*$SBIN/smtpd#d" /etc/inetd.conf
    fi
    if [ "$NO_CRONTAB" = 0 ] && is_root && command -v crontab >/dev/null 2>&1; then
        crontab -u "$SPOOL_USER" -r 2>/dev/null || true
    fi
    rm -f "$SBIN/smtpd" "$SBIN/smtpfwdd"
    rm -f "$SPOOL/bin/scanmail" "$SPOOL/bin/sigupdate" "$SPOOL/bin/daysumm"
    say "uninstalled. The spool $SPOOL (mail, quarantine, etc/) is kept; remove it by hand if you mean to."
}

# ---------------------------------------------------------------------------------------------
# The demo: everything under ./demo, as the current user, every process stopped at the end.

DEMO_PIDS=()
demo_stop_all() {
    local p
    for p in "$DEMO_DIR"/run/*.pid; do
        if [ -f "$p" ]; then stop_pidfile "$p"; fi
    done
    return 0
}

demo_cleanup() {
    if [ "$KEEP_RUNNING" = 0 ]; then
        demo_stop_all
    fi
}

demo_need_packages() {
    local missing=()
    command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ] || missing+=(clamav-daemon)
    [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing+=(python3-aiosmtpd)
    if [ ${#missing[@]} -gt 0 ]; then
        if is_root; then
            apt_install "${missing[@]}"
        else
            die "the demo needs: ${missing[*]}. Run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
        fi
    fi
}

wait_port() {
    local port=$1 i
    for i in $(seq 1 150); do
        /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

send_mail() {
    # A real SMTP client: Python's smtplib.
    /usr/bin/python3 - "$@" <<'PY'
import smtplib, sys
port, sender, rcpt, path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
data = open(path, "rb").read()
with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as s:
    s.ehlo("demo-client.example.org")
    s.sendmail(sender, [rcpt], data)
    print("  250 for %s: %s" % (path.rsplit("/", 1)[-1], s.noop()[0] == 250 and "accepted" or "?"))
PY
}

do_demo() {
    demo_need_packages
    build debug
    local clamd_bin
    clamd_bin=$(command -v clamd || echo /usr/sbin/clamd)
    demo_stop_all
    rm -rf "$DEMO_DIR"
    mkdir -p "$DEMO_DIR"/{run,clamav,mailbox,mail}
    DEMO_DIR=$(cd "$DEMO_DIR" && pwd)
    trap demo_cleanup EXIT
    local spool=$DEMO_DIR/spool
    mkdir -p "$spool"/{etc,bin,incoming,outgoing,quarantine}
    chmod 700 "$spool" "$spool"/*
    local smtp_port=$DEMO_PORT relay_port=$((DEMO_PORT + 1))
    cp "$HERE"/etc/matches.bad "$HERE"/etc/matches.doc "$spool/etc/"
    for f in "$HERE"/etc/*.tmpl; do [ -f "$f" ] && cp "$f" "$spool/etc/"; done
    cat > "$spool/etc/gateway.conf" <<EOF
# Demo configuration written by install.sh --demo
hostname = "gateway.demo.test"
admin    = "postmaster@example.com"
domains  = ["example.com"]

[smtpd]
dns_lookups = false

[scan]
scanner      = "clamd"
clamd_socket = "$DEMO_DIR/clamav/clamd.sock"

[forward]
relay        = "127.0.0.1:$relay_port"
poll_seconds = 1
tls          = "off"

[update]
database_dir = "$DEMO_DIR/clamav"
EOF
    # clamd with a test-only signature database: the EICAR test string.
    write_eicar_ndb "$DEMO_DIR/clamav/eicar-test-only.ndb"
    cat > "$DEMO_DIR/clamav/clamd.conf" <<EOF
LocalSocket $DEMO_DIR/clamav/clamd.sock
LocalSocketMode 666
DatabaseDirectory $DEMO_DIR/clamav
Foreground yes
LogFile $DEMO_DIR/clamav/clamd.log
TCPSocket 0
EOF
    if is_root; then
        # As root the programs drop to uucp, as in production: give it the demo spool.
        echo "User root" >> "$DEMO_DIR/clamav/clamd.conf"
        chmod 711 "$DEMO_DIR"
        chmod 755 "$DEMO_DIR/clamav"
        chown -R "$SPOOL_USER:$SPOOL_GROUP" "$spool"
    fi
    say "starting clamd (test signatures only), the internal mail server stand-in, smtpd, smtpfwdd"
    "$clamd_bin" -c "$DEMO_DIR/clamav/clamd.conf" >/dev/null 2>&1 &
    echo $! > "$DEMO_DIR/run/clamd.pid"
    /usr/bin/python3 "$HERE/tests/support/relay.py" "$DEMO_DIR/mailbox" --port "$relay_port" >/dev/null 2>"$DEMO_DIR/run/relay.log" &
    echo $! > "$DEMO_DIR/run/relay.pid"
    GATEWAY_LOG=stderr "$BINDIR/smtpd" -D -l 127.0.0.1 -p "$smtp_port" -H --spool "$spool" -i "$DEMO_DIR/run/smtpd.pid" 2>>"$DEMO_DIR/run/smtpd.log" &
    wait_port "$smtp_port" || die "smtpd did not start: see $DEMO_DIR/run/smtpd.log"
    wait_port "$relay_port" || die "the SMTP sink did not start: see $DEMO_DIR/run/relay.log"
    local i
    for i in $(seq 1 150); do [ -S "$DEMO_DIR/clamav/clamd.sock" ] && break; sleep 0.2; done
    [ -S "$DEMO_DIR/clamav/clamd.sock" ] || die "clamd did not start: see $DEMO_DIR/clamav/clamd.log"

    cat > "$DEMO_DIR/mail/clean.eml" <<'EOF'
From: Alice <alice@example.org>
To: Bob <bob@example.com>
Subject: Lunch on Friday?

Hi Bob, lunch on Friday at noon? -- Alice
EOF
    {
        printf 'From: Mallory <mallory@example.org>\nTo: Bob <bob@example.com>\nSubject: Invoice attached\n'
        printf 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\n\n--b1\n'
        printf 'Content-Type: text/plain\n\nPlease see the attached invoice.\n--b1\n'
        printf 'Content-Type: application/msword; name="invoice.doc"\n'
        printf 'Content-Disposition: attachment; filename="invoice.doc"\nContent-Transfer-Encoding: base64\n\n'
        printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' | base64
        printf -- '--b1--\n'
    } > "$DEMO_DIR/mail/eicar.eml"

    echo
    say "1. two mails arrive on port $smtp_port (Python smtplib, a real SMTP client)"
    send_mail "$smtp_port" alice@example.org bob@example.com "$DEMO_DIR/mail/clean.eml"
    send_mail "$smtp_port" mallory@example.org bob@example.com "$DEMO_DIR/mail/eicar.eml"
    echo "  incoming/: $(cd "$spool/incoming" && ls | tr '\n' ' ')"

    echo
    say "2. cron would run scanmail now; the demo runs it once"
    GATEWAY_LOG=stderr "$BINDIR/scanmail" --spool "$spool" -v 2>&1 | sed 's/^/  /' || true
    echo "  outgoing/:   $(cd "$spool/outgoing" && ls | tr '\n' ' ')"
    echo "  quarantine/: $(cd "$spool/quarantine" && ls | tr '\n' ' ')"

    echo
    say "3. smtpfwdd forwards outgoing/ to the internal mail server (127.0.0.1:$relay_port)"
    GATEWAY_LOG=stderr "$BINDIR/smtpfwdd" --once --spool "$spool" 2>&1 | sed 's/^/  /' || true
    echo
    say "the internal mail server received:"
    local m
    for m in "$DEMO_DIR"/mailbox/*.eml; do
        [ -f "$m" ] || continue
        printf '  %-45s %s\n' "$(grep -m1 -i '^To:' "$m" | tr -d '\r')" "$(grep -m1 -i '^Subject:' "$m" | tr -d '\r')"
    done
    echo
    say "where each mail ended:"
    local q
    for q in incoming outgoing quarantine; do
        echo "  $q/: $(cd "$spool/$q" && ls | tr '\n' ' ')"
    done
    echo
    say "the alert the admin got:"
    for m in "$DEMO_DIR"/mailbox/*.eml; do
        [ -f "$m" ] || continue
        if grep -qi '^To:.*postmaster@example.com' "$m"; then
            tr -d '\r' < "$m" | sed 's/^/  | /'
            break
        fi
    done
    echo
    say "daysumm's report (the nightly summary):"
    GATEWAY_LOG=stderr "$BINDIR/daysumm" --spool "$spool" --stdout 2>&1 | sed 's/^/  | /' || true
    echo
    if [ "$KEEP_RUNNING" = 1 ]; then
        GATEWAY_LOG=stderr "$BINDIR/smtpfwdd" --foreground --spool "$spool" 2>>"$DEMO_DIR/run/smtpfwdd.log" &
        echo $! > "$DEMO_DIR/run/smtpfwdd.pid"
        say "still running: smtpd on 127.0.0.1:$smtp_port, the internal server stand-in on $relay_port"
        say "try:  swaks --server 127.0.0.1:$smtp_port --to bob@example.com"
        say "then: $BINDIR/scanmail --spool $spool   (smtpfwdd is running and forwards within a second)"
        say "received mail lands in $DEMO_DIR/mailbox; stop everything with: ./install.sh --demo-stop"
    else
        say "done; every process the demo started is stopped. Files are in $DEMO_DIR"
    fi
}

case "$MODE" in
    install) do_install ;;
    uninstall) do_uninstall ;;
    demo) do_demo ;;
    demo-stop) demo_stop_all; say "demo stopped" ;;
esac
