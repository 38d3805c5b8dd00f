#!/usr/bin/env bash
# install.sh — install the e-mail virus firewall the article's way, or show it working.
#
#   ./install.sh --demo                       the whole flow under ./demo, no root, no configuration
#                                             (tests/demo)
#   sudo ./install.sh --domain example.com --relay mail.internal:25 --admin postmaster@example.com
#   sudo ./install.sh --check                 the self-test again: is the installed gateway scanning?
#   sudo ./install.sh --uninstall             remove the programs; the mail in the spool stays
#
# What stays in shell: packages, the uucp user, the programs and manual pages, systemd units,
# cron, inetd, clamd and the self-test. The spool (tree, default files, gateway.conf's settings,
# owners and modes) is `mailwall init`'s, the binary just built; the demo is tests/demo's.
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
MODE=install        # install | uninstall | demo | demo-stop | check
HARDENED=0          # --hardened: programs and configuration root-owned, read-only to uucp
CLAMD_CONF=/etc/clamav/clamd.conf
KEEP_RUNNING=0
NO_DEPS=0
NO_START=0
NO_CRONTAB=0
SPOOL_USER=uucp
SPOOL_GROUP=uucp
DEMO_DIR="$HERE/demo"
DEMO_PORT=2525
PROFILE=release
CLAMD_TMPFS=auto    # --clamd-tmpfs SIZE|no: the tmpfs clamd spools every stream to (auto: sized)
CLAMD_TMPDIR=/var/spool/mailwall-clamd

usage() {
    cat <<'EOF'
Usage: install.sh [OPTIONS]

Install the e-mail virus firewall: smtpd and smtpfwdd into /usr/local/sbin, scanmail, sigupdate
and daysumm into /var/spool/smtpd/bin (for uucp's cron) and root-owned copies of them and
mailwall into /usr/local/sbin (for the admin), the spool tree owned by uucp with mode 700, the
default files of etc/, the uucp crontab, a root cron line for freshclam, ClamAV, and the
daemons. A real install ends with a self-test (a clean and an EICAR mail through port 25,
scanmail once) and exits non-zero when the gateway is not scanning.

Modes:
  --demo             (tests/demo) Run a complete instance under ./demo as the current user: smtpd on
                     127.0.0.1:2525, clamd on a socket in demo/ with test signatures, a local SMTP
                     server standing in for the internal mail server; send a clean and an EICAR
                     mail, scan, forward, print where each ended, the admin alert and the summary.
  --keep-running     With --demo: leave the daemons up for trying by hand (stop: --demo-stop).
  --demo-dir DIR     With --demo: where the instance lives (default ./demo)
  --demo-port PORT   With --demo: smtpd's port (default 2525; the mail server stand-in uses PORT+1)
  --demo-stop        Stop what --demo --keep-running left running.
  --uninstall        Remove the programs, units, crontab; never the mail in the spool.
  --check            Only the self-test of the installed gateway (clamd answers PING, a clean
                     and an EICAR mail through port 25 end in outgoing/ and quarantine/);
                     exit 0 when it scans, 1 when it does not.

Settings written into etc/gateway.conf (by mailwall init, which keeps every other line):
  --domain DOMAIN    local mail domain (repeatable; smtpd accepts mail only for these)
  --relay HOST:PORT  the internal mail server smtpfwdd forwards to (required for a real
                     install unless gateway.conf already names one or sets deliver_to_mx =
                     true: never this gateway itself)
  --admin ADDRESS    where alerts and the nightly summary go
  --hostname NAME    the gateway's name in banners and notices

Other:
  --root DIR         install below DIR instead of / (tests, packaging); starts no services
  --hardened         the stricter layout (docs/SECURITY.md): the spool root, bin/ and etc/ and
                     the programs, configuration and pattern files in them root-owned and
                     read-only to uucp; uucp writes only in the queues and in etc/days/ (the
                     day files, moved there from etc/)
  --no-deps          do not apt-get install ClamAV and cron
  --no-start         do not start or enable daemons (so no self-test either)
  --no-crontab       do not install the uucp crontab
  --clamd-tmpfs SIZE clamd's TemporaryDirectory (where it writes what it unpacks, and the streams
                     it gets over TCP) on a tmpfs of SIZE (e.g. 2g) at /var/spool/mailwall-clamd,
                     mounted now and from /etc/fstab. Default: clamd's MaxThreads x
                     (StreamMaxLength + MaxScanSize), at most half the memory (a tmpfs uses
                     memory only for what is in it); a size set before is kept.
                     "no": leave clamd's TemporaryDirectory alone.
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
        --check) MODE=check ;;
        --hardened) HARDENED=1 ;;
        --domain) DOMAIN="${DOMAIN:+$DOMAIN }${2:?--domain needs a value}"; shift ;;
        --relay) RELAY="${2:?--relay needs a value}"; shift ;;
        --admin) ADMIN="${2:?--admin needs a value}"; shift ;;
        --hostname) HOSTNAME_OPT="${2:?--hostname needs a value}"; shift ;;
        --root) ROOT="${2:?--root needs a directory}"; shift ;;
        --no-deps) NO_DEPS=1 ;;
        --no-start) NO_START=1 ;;
        --no-crontab) NO_CRONTAB=1 ;;
        --clamd-tmpfs) CLAMD_TMPFS="${2:?--clamd-tmpfs needs a size (e.g. 2g) or no}"; shift ;;
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
    for b in smtpd smtpfwdd scanmail sigupdate daysumm mailwall; do
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

# The effective value of one gateway.conf key (`forward.relay`: the file's, else the default),
# read by the programs' own code (`mailwall conf`, like postconf); "" when it cannot be read.
MAILWALL=""         # the mailwall binary: the one just built, or the installed one (--check)
conf_value() {
    "${MAILWALL:-$SBIN/mailwall}" --spool "$SPOOL" conf "$1" || true
}

# Mail loops (issue 14): a real install needs the internal mail server, and never this gateway.
check_relay() {
    [ -n "$ROOT" ] && return 0
    local relay=$RELAY
    [ -n "$relay" ] || relay=$(conf_value forward.relay)
    # MX delivery asked for explicitly in gateway.conf needs no relay.
    [ -z "$relay" ] && [ "$(conf_value forward.deliver_to_mx)" = true ] && return 0
    if [ -z "$RELAY" ] && { [ -z "$relay" ] || [ "$relay" = "localhost:25" ]; }; then
        die "--relay HOST:PORT is required: the internal mail server smtpfwdd forwards to (without it smtpfwdd would hand every mail back to this gateway's smtpd: a mail loop). Try --demo or --root DIR for a trial without one."
    fi
    local host port
    case "$relay" in
        \[*\]:*) host=${relay%:*}; port=${relay##*:} ;;
        *:*:*|\[*) host=$relay; port=25 ;;
        *:*) host=${relay%:*}; port=${relay##*:} ;;
        *) host=$relay; port=25 ;;
    esac
    host=${host#[}; host=${host%]}
    host=$(printf '%s' "$host" | tr '[:upper:]' '[:lower:]')
    [ "$port" = 25 ] || return 0
    local own=" localhost localhost. ::1 0.0.0.0 :: $(hostname 2>/dev/null) $(hostname -f 2>/dev/null) $(hostname -I 2>/dev/null) "
    case "$host" in 127.*) own=" $host " ;; esac
    case "$own" in
        *" $host "*) die "--relay $relay is this gateway's own smtpd (port 25 here): a mail loop. Name the internal mail server." ;;
    esac
    return 0
}

install_crontab() {
    [ "$NO_CRONTAB" = 1 ] && return 0
    command -v crontab >/dev/null 2>&1 || { say "warning: crontab missing (apt-get install cron): crontab not installed"; return 0; }
    is_root || { say "warning: not root: install the crontab by hand: crontab -u $SPOOL_USER cron/crontab"; return 0; }
    sed "s#/var/spool/smtpd#$SPOOL#g" "$HERE/cron/crontab" | crontab -u "$SPOOL_USER" -
    say "crontab of $SPOOL_USER installed (crontab -u $SPOOL_USER -l)"
}

# The signatures stay clamav's: uucp is not in group clamav and /var/lib/clamav is not group
# writable (a uucp compromise must not be able to add an .ign2 or .fp file). freshclam runs from
# root's cron and switches to clamav itself (DatabaseOwner).
install_freshclam_cron() {
    local d="$ROOT/etc/cron.d"
    mkdir -p "$d"
    local tmp
    tmp=$(mktemp "$d/.mailwall-freshclam.XXXXXX")
    cat "$HERE/cron/freshclam" > "$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$d/mailwall-freshclam"
    say "root cron line for freshclam installed ($d/mailwall-freshclam)"
}

# Set `Key value` in clamd.conf (replacing the line that sets that key, else appended). Prints
# "changed" when the file changed.
set_clamd_option() {
    local key=$1 value=$2 conf=$CLAMD_CONF
    [ -f "$conf" ] || return 0
    grep -qxF "$key $value" "$conf" && return 0
    # The value goes into sed's replacement: its \, / and & taken literally (a path has slashes).
    local v=${value//\\/\\\\}
    v=${v//\//\\/}
    v=${v//&/\\&}
    local tmp
    tmp=$(mktemp "$conf.XXXXXX")
    # Only a setting line is replaced: a comment that mentions the key (Debian's says why
    # TemporaryDirectory is unset) stays as it is.
    if grep -qE "^[[:space:]]*$key([[:space:]]|$)" "$conf"; then
        sed -E "0,/^[[:space:]]*$key([[:space:]]|\$).*/s//$key $v/" "$conf" > "$tmp"
    else
        { cat "$conf"; echo "$key $value"; } > "$tmp"
    fi
    chmod --reference="$conf" "$tmp" && chown --reference="$conf" "$tmp"
    mv -f "$tmp" "$conf"
    echo changed
}

# One of clamd's effective settings as a number (sizes in bytes), defaults included: clamconf's
# view of clamd.conf, else the file's line, else clamd's default ($2).
clamd_setting() {
    local v=""
    if command -v clamconf >/dev/null 2>&1; then
        v=$(clamconf -c "$(dirname "$CLAMD_CONF")" 2>/dev/null | sed -nE "s/^$1 = \"([0-9]+)\"\$/\1/p" | head -1)
    fi
    [ -n "$v" ] || v=$(clamd_conf_value "$1")
    [ -n "$v" ] || v=$2
    numfmt --from=iec "${v^^}" 2>/dev/null || echo "$2" | numfmt --from=iec
}

# The tmpfs for clamd's temporary files, sized for the worst case clamd allows (every thread
# holding a whole stream and as much unpacked content as it may scan), but at most half the
# memory; "" when not even one such scan would fit (then clamd keeps a directory on disk: a
# message whose scan could never fit would wait in incoming/ forever).
clamd_tmpfs_size() {
    local stream scan threads mem per total
    stream=$(clamd_setting StreamMaxLength 25M)
    scan=$(clamd_setting MaxScanSize 100M)
    threads=$(clamd_setting MaxThreads 10)
    mem=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 1024))
    per=$((stream + scan))
    total=$((threads * per))
    [ "$total" -le $((mem / 2)) ] || total=$((mem / 2))
    [ "$total" -ge "$per" ] || return 0
    echo "$(((total + 1048575) / 1048576))m"
}

# clamd writes what it unpacks (a mail's parts, archive members) and every stream it gets to its
# TemporaryDirectory: on a tmpfs the gateway ran 1.24-1.31x faster on 10 KB mail
# (docs/BENCHMARKS.md). When the
# tmpfs is full clamd answers "Error writing to temporary file": scanmail's verdict is an error
# and the mail waits in incoming/ for the next pass; it is never passed.
setup_clamd_tmpfs() {
    [ -f "$CLAMD_CONF" ] || return 0
    if [ "$CLAMD_TMPFS" = no ]; then
        say "clamd's TemporaryDirectory left as it is (--clamd-tmpfs no)"
        return 0
    fi
    local own
    own=$(clamd_conf_value TemporaryDirectory)
    if [ -n "$own" ] && [ "$own" != "$CLAMD_TMPDIR" ]; then
        say "clamd's TemporaryDirectory is the admin's ($own): left as it is"
        return 0
    fi
    local size=$CLAMD_TMPFS
    # A size set before (by --clamd-tmpfs or by hand in /etc/fstab) is kept by a plain re-run.
    if [ "$size" = auto ] && [ -f /etc/fstab ]; then
        size=$(awk -v d="$CLAMD_TMPDIR" '$2 == d { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] ~ /^size=/) { sub(/^size=/, "", o[i]); print o[i]; exit } }' /etc/fstab)
        size=${size:-auto}
    fi
    if [ "$size" = auto ]; then
        size=$(clamd_tmpfs_size)
        if [ -z "$size" ]; then
            say "warning: not enough memory for a tmpfs that holds one whole clamd scan: clamd keeps its TemporaryDirectory on disk"
            return 0
        fi
    elif ! printf '%s' "$size" | grep -qxE '[0-9]+[kKmMgG]?|[0-9]{1,2}%'; then
        die "--clamd-tmpfs takes a size (e.g. 2g, 512m, 25%) or no, not $size"
    fi
    local user uid gid
    user=$(clamd_conf_value User)
    user=${user:-clamav}
    uid=$(id -u "$user" 2>/dev/null) && gid=$(id -g "$user" 2>/dev/null) || {
        say "warning: clamd's user $user does not exist: clamd keeps its TemporaryDirectory"
        return 0
    }
    local opts="size=$size,mode=0700,uid=$uid,gid=$gid,nosuid,nodev,noexec"
    mkdir -p "$CLAMD_TMPDIR"
    if mountpoint -q "$CLAMD_TMPDIR"; then
        mount -o "remount,$opts" "$CLAMD_TMPDIR" || {
            say "warning: could not resize the tmpfs on $CLAMD_TMPDIR to $size (more is in it?): left as it is"
            return 0
        }
    elif ! mount -t tmpfs -o "$opts" tmpfs "$CLAMD_TMPDIR" 2>/dev/null; then
        rmdir "$CLAMD_TMPDIR" 2>/dev/null || true
        say "warning: could not mount a tmpfs on $CLAMD_TMPDIR (a container without the right?): clamd keeps its TemporaryDirectory"
        return 0
    fi
    # The same mount at every boot: one line in /etc/fstab (any other for this directory replaced).
    local tmp
    tmp=$(mktemp /etc/.fstab.mailwall.XXXXXX)
    { [ -f /etc/fstab ] && awk -v d="$CLAMD_TMPDIR" '$2 != d && $0 != "# mailwall: clamd'"'"'s TemporaryDirectory (install.sh)"' /etc/fstab
      echo "# mailwall: clamd's TemporaryDirectory (install.sh)"
      echo "tmpfs $CLAMD_TMPDIR tmpfs $opts 0 0"; } > "$tmp"
    if [ -f /etc/fstab ]; then chmod --reference=/etc/fstab "$tmp"; else chmod 644 "$tmp"; fi
    mv -f "$tmp" /etc/fstab
    # Debian's AppArmor profile for clamd lets it write only below /tmp and /var/lib/clamav.
    local aa=/etc/apparmor.d/local/usr.sbin.clamd
    if [ -d /etc/apparmor.d ] && ! grep -qF "$CLAMD_TMPDIR/**" "$aa" 2>/dev/null; then
        mkdir -p "$(dirname "$aa")"
        printf '# mailwall: clamd'"'"'s TemporaryDirectory (install.sh)\n%s/ rw,\n%s/** krw,\n' \
            "$CLAMD_TMPDIR" "$CLAMD_TMPDIR" >>"$aa"
        if [ -r /sys/module/apparmor/parameters/enabled ] && [ "$(cat /sys/module/apparmor/parameters/enabled)" = Y ] \
            && command -v apparmor_parser >/dev/null 2>&1 && [ -f /etc/apparmor.d/usr.sbin.clamd ]; then
            apparmor_parser -r /etc/apparmor.d/usr.sbin.clamd 2>/dev/null ||
                say "warning: apparmor_parser could not reload clamd's profile: clamd may not write to $CLAMD_TMPDIR (the self-test says)"
        fi
    fi
    [ -n "$(set_clamd_option TemporaryDirectory "$CLAMD_TMPDIR")" ] && CLAMD_CONF_CHANGED=1
    say "clamd's TemporaryDirectory: $CLAMD_TMPDIR, a tmpfs of $size (/etc/fstab)"
}

CLAMD_CONF_CHANGED=0
setup_clamav() {
    [ -n "$ROOT" ] && return 0
    # Content beyond clamd's limits and encrypted archives are reported, never passed as OK
    # (issue 9): scanmail turns Heuristics.Limits.Exceeded* and Heuristics.Encrypted* into verdicts.
    local c
    for c in "AlertExceedsMax yes" "AlertEncrypted yes"; do
        # shellcheck disable=SC2086
        [ -n "$(set_clamd_option $c)" ] && CLAMD_CONF_CHANGED=1
    done
    [ "$CLAMD_CONF_CHANGED" = 1 ] && say "$CLAMD_CONF: AlertExceedsMax yes, AlertEncrypted yes"
    setup_clamd_tmpfs
    if command -v freshclam >/dev/null 2>&1 && ! pgrep -x freshclam >/dev/null 2>&1; then
        # As root freshclam switches to clamav (DatabaseOwner) itself.
        if timeout 300 freshclam --quiet >/dev/null 2>&1; then
            say "freshclam: signatures updated"
        elif ! ls /var/lib/clamav/*.cvd /var/lib/clamav/*.cld >/dev/null 2>&1; then
            say "warning: freshclam could not download the ClamAV signatures (no internet?): clamd cannot detect viruses until it does (root's cron retries)"
        fi
    fi
}

# --- clamd: started whatever the init system does, and asked, not only looked for -------------

clamd_conf_value() {
    [ -f "$CLAMD_CONF" ] || return 0
    sed -nE "s/^[[:space:]]*$1[[:space:]]+([^[:space:]#]+).*/\1/p" "$CLAMD_CONF" | head -1
}

clamd_socket() {
    local s
    s=$(conf_value scan.clamd_socket)
    [ -n "$s" ] || s=$(clamd_conf_value LocalSocket)
    echo "${s:-/run/clamav/clamd.ctl}"
}

# zPING on clamd's socket (a Unix path or host:port); true when it answers PONG.
clamd_ping() {
    "${MAILWALL:-$SBIN/mailwall}" --spool "$SPOOL" ping --socket "$1" >/dev/null 2>&1
}

wait_pong() {
    local sock=$1 tries=$(($2 * 5)) pid=${3:-}
    while [ "$tries" -gt 0 ]; do
        clamd_ping "$sock" && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 0.2
        tries=$((tries - 1))
    done
    return 1
}

clamd_service_running() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        case "$(systemctl show -p ActiveState --value clamav-daemon.service 2>/dev/null)" in
            active|activating|reloading) return 0 ;;
        esac
        return 1
    fi
    [ -x /etc/init.d/clamav-daemon ] && /etc/init.d/clamav-daemon status >/dev/null 2>&1
}

# Stop the system clamd: the init system's way, then the pid file install.sh gave it.
stop_clamd() {
    local sock=$1 i
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl stop clamav-daemon.service >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1 && [ -x /etc/init.d/clamav-daemon ]; then
        service clamav-daemon stop >/dev/null 2>&1 || true
    fi
    if clamd_ping "$sock" && [ "${sock#/}" != "$sock" ]; then
        stop_pidfile "$(dirname "$sock")/clamd.pid"
    fi
    for i in $(seq 1 50); do clamd_ping "$sock" || return 0; sleep 0.2; done
}

CLAMD_FAILURE=""
start_clamd() {
    local sock
    sock=$(clamd_socket)
    if clamd_ping "$sock"; then
        if [ "$CLAMD_CONF_CHANGED" = 0 ]; then
            say "clamd answers PING on $sock"
            return 0
        fi
        # clamd reads its configuration only when it starts.
        say "restarting clamd for its new settings"
        stop_clamd "$sock"
        if clamd_ping "$sock"; then
            say "warning: could not stop the running clamd: restart it to apply $CLAMD_CONF"
            return 0
        fi
    fi
    if [ ! -x /usr/sbin/clamd ]; then
        CLAMD_FAILURE="clamd is not installed (apt-get install clamav-daemon)"
        return 1
    fi
    # 1. The init system's way.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl enable clamav-daemon.service >/dev/null 2>&1 || true
        systemctl start clamav-daemon.service >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1 && [ -x /etc/init.d/clamav-daemon ]; then
        service clamav-daemon start >/dev/null 2>&1 || true
    fi
    # Wait while the init system says clamd is starting (loading the official database can take
    # a minute); it may also have started nothing and said so with exit status 0.
    local i
    for i in $(seq 1 240); do
        if clamd_ping "$sock"; then
            say "clamd started by the init system; it answers PING on $sock"
            return 0
        fi
        [ "$i" -gt 6 ] && ! clamd_service_running && break
        sleep 0.5
    done
    # 2. clamd itself. Debian's init script and unit start nothing without the official main and
    # daily databases (a machine whose freshclam cannot reach the mirrors); clamd switches to
    # its configured User itself.
    say "the init system did not start clamd: starting /usr/sbin/clamd -c $CLAMD_CONF"
    local user rundir logf out
    user=$(clamd_conf_value User)
    user=${user:-clamav}
    if [ "${sock#/}" != "$sock" ]; then
        rundir=$(dirname "$sock")
        mkdir -p "$rundir" && chown "$user" "$rundir" 2>/dev/null || true
    else
        rundir=/run/clamav
        mkdir -p "$rundir" && chown "$user" "$rundir" 2>/dev/null || true
    fi
    logf=$(clamd_conf_value LogFile)
    if [ -n "$logf" ]; then
        mkdir -p "$(dirname "$logf")" && touch "$logf" && chown "$user" "$logf" 2>/dev/null || true
    fi
    out=$(/usr/sbin/clamd -c "$CLAMD_CONF" --pid="$rundir/clamd.pid" </dev/null 2>&1) || {
        CLAMD_FAILURE="clamd did not start: $(printf '%s' "$out" | grep -v '^$' | tail -2 | tr '\n' ' ')"
        return 1
    }
    if wait_pong "$sock" 180; then
        say "clamd started (as $user); it answers PING on $sock"
        return 0
    fi
    CLAMD_FAILURE="clamd did not answer PING on $sock within 3 minutes (see ${logf:-its log})"
    return 1
}

# --- the daemons ----------------------------------------------------------------------------

wait_port() {
    # Up to a minute: a loaded machine takes its time to start.
    local port=$1 i
    for i in $(seq 1 300); do
        /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

start_smtpd() {
    [ "$NO_START" = 1 ] && return 0
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        install -m 644 "$HERE"/etc/systemd/smtpd.socket "$HERE"/etc/systemd/smtpd@.service \
            "$HERE"/etc/systemd/smtpfwdd.service "$UNITDIR"/
        systemctl daemon-reload
        systemctl enable --now smtpd.socket
        say "systemd: smtpd.socket (inetd-style, Accept=yes) enabled"
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
        wait_port 25 || say "warning: smtpd -D does not accept connections on port 25"
        say "smtpd -D started (pid file $RUNDIR/smtpd.pid)"
    fi
}

start_smtpfwdd() {
    [ "$NO_START" = 1 ] && return 0
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl enable --now smtpfwdd.service
        systemctl enable --now cron.service 2>/dev/null || true
        say "systemd: smtpfwdd.service enabled"
        return 0
    fi
    stop_pidfile "$RUNDIR/smtpfwdd.pid"
    setsid "$SBIN/smtpfwdd" --foreground </dev/null >/dev/null 2>&1 &
    echo $! > "$RUNDIR/smtpfwdd.pid"
    say "smtpfwdd started (pid file $RUNDIR/smtpfwdd.pid)"
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

# --- the self-test ----------------------------------------------------------------------------
# A clean and an EICAR mail through port 25 (smtplib, a real SMTP client), scanmail once as the
# spool's owner (as cron runs it), the clean one in outgoing/ (or already delivered) and the EICAR
# one in quarantine/, then both and their notices removed. Everything touching the spool runs as
# uucp: root trusts nothing there. Prints three lines; the failures go to SELFTEST_FAILURES.

SELFTEST_FAILURES=""
SELFTEST_LINES=""
self_test() {
    SELFTEST_FAILURES=""
    SELFTEST_LINES=""
    local sock
    sock=$(clamd_socket)
    if ! clamd_ping "$sock"; then
        SELFTEST_FAILURES="clamd does not answer PING on $sock${CLAMD_FAILURE:+: $CLAMD_FAILURE}"
        return 1
    fi
    local domains rcpt admin
    domains=$(conf_value domains)
    admin=$(conf_value admin)
    if [ -z "$domains" ]; then
        SELFTEST_FAILURES="gateway.conf names no domains: smtpd accepts no mail (--domain DOMAIN)"
        return 1
    fi
    rcpt="postmaster@${domains%% *}"
    case " $domains " in *" ${admin##*@} "*) rcpt=$admin ;; esac
    local out rc=0 script
    script=$(cat <<'PY'
import base64, glob, os, re, shutil, smtplib, subprocess, sys, time

spool, scanmail, rcpt, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
fails = []

def mail(subject, attachment):
    head = ("From: install.sh self-test <MAILER-DAEMON@localhost>\r\nTo: <%s>\r\n"
            "Subject: mailwall self-test: %s\r\nAuto-Submitted: auto-generated\r\n"
            "X-Mailwall-Self-Test: yes\r\nMIME-Version: 1.0\r\n" % (rcpt, subject))
    if attachment is None:
        return head + "Content-Type: text/plain\r\n\r\nA clean test mail of install.sh.\r\n"
    return head + ('Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
                   "Content-Type: text/plain\r\n\r\nThe EICAR test file, attached.\r\n--b1\r\n"
                   'Content-Type: application/octet-stream; name="eicar.com"\r\n'
                   'Content-Disposition: attachment; filename="eicar.com"\r\n'
                   "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b1--\r\n"
                   % base64.b64encode(attachment).decode())

def send(text):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        s.ehlo("selftest.invalid")
        s.mail("")
        code, resp = s.rcpt(rcpt)
        if code != 250:
            raise smtplib.SMTPException("RCPT TO:<%s> answered %d %s" % (rcpt, code, resp.decode()))
        code, resp = s.data(text.encode())
        m = re.search(r"queued as (\S+)", resp.decode())
        if code != 250 or not m:
            raise smtplib.SMTPException("DATA answered %d %s" % (code, resp.decode()))
        return m.group(1)

def where(i):
    for q in ("incoming", "outgoing", "quarantine"):
        if os.path.isfile(os.path.join(spool, q, i)):
            return q
    # The day files: etc/, or etc/days/ when it exists (the hardened layout, Spool::day_dir).
    days = os.path.join(spool, "etc", "days")
    if not os.path.isdir(days) or os.path.islink(days):
        days = os.path.join(spool, "etc")
    for f in glob.glob(os.path.join(days, "sent.*")):
        if i in open(f, errors="replace").read():
            return "delivered"
    return "nowhere"

def remove(i):
    """The message, its decoded parts, state and notices (which name its id) in every queue."""
    gone = 0
    for q in ("incoming", "outgoing", "quarantine"):
        d = os.path.join(spool, q)
        for n in (i, ".tmp." + i, "." + i + ".state", i + "_d"):
            p = os.path.join(d, n)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.lexists(p):
                os.unlink(p)
        for n in os.listdir(d):
            p = os.path.join(d, n)
            if n.startswith(".") or n == i or not os.path.isfile(p) or os.path.islink(p):
                continue
            try:
                if i.encode() in open(p, "rb").read(1 << 20):
                    os.unlink(p)
                    gone += 1
                    st = os.path.join(d, "." + n + ".state")
                    if os.path.lexists(st):
                        os.unlink(st)
            except OSError:
                pass
    return gone

ids = {}
try:
    ids["clean"] = send(mail("clean", None))
    ids["EICAR"] = send(mail("EICAR", EICAR))
except (OSError, smtplib.SMTPException) as e:
    fails.append("smtpd on port %d: %s" % (port, e))
if len(ids) == 2:
    # cron's scanmail may hold a message's lock at this moment: then it is judged by that run,
    # or by ours a moment later.
    for attempt in range(3):
        r = subprocess.run([scanmail, "--spool", spool], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=600)
        if "incoming" not in (where(ids["clean"]), where(ids["EICAR"])):
            break
        time.sleep(2)
    c, v = where(ids["clean"]), where(ids["EICAR"])
    ok_c = c in ("outgoing", "delivered")
    ok_v = v == "quarantine"
    print("self-test 1/3: a clean mail through port 25 (%s): %s%s"
          % (ids["clean"], c, "" if ok_c else "  FAILED"))
    print("self-test 2/3: an EICAR mail through port 25 (%s): %s%s"
          % (ids["EICAR"], v, "" if ok_v else "  FAILED"))
    if not ok_c:
        fails.append("the clean mail is in %s/ after scanmail ran (exit %d: %s)"
                     % (c, r.returncode, r.stderr.decode(errors="replace").strip()[-300:]))
    if v == "outgoing":
        fails.append("the EICAR mail was judged CLEAN: clamd's signatures do not detect it")
    elif not ok_v:
        fails.append("the EICAR mail is in %s/ after scanmail ran (exit %d: %s)"
                     % (v, r.returncode, r.stderr.decode(errors="replace").strip()[-300:]))
notices = sum(remove(i) for i in ids.values())
left = [i for i in ids.values() if where(i) not in ("nowhere", "delivered")]
if left:
    fails.append("could not remove the test mails " + " ".join(left))
print("self-test 3/3: both removed with %d notice%s: %s"
      % (notices, "" if notices == 1 else "s",
         "the gateway is scanning" if not fails else "the gateway is NOT scanning"))
for f in fails:
    sys.stderr.write("FAIL: %s\n" % f)
sys.exit(1 if fails else 0)
PY
)
    out=$(cd / && runuser -u "$SPOOL_USER" -- python3 -c "$script" "$SPOOL" "$SPOOL/bin/scanmail" "$rcpt" 25 2>&1) || rc=$?
    SELFTEST_LINES=$(printf '%s\n' "$out" | grep '^self-test' | sed "s/^/$PROG: /" || true)
    if [ "$rc" != 0 ]; then
        SELFTEST_FAILURES=$(printf '%s\n' "$out" | grep -v '^self-test' | sed 's/^FAIL: //')
        [ -n "$SELFTEST_FAILURES" ] || SELFTEST_FAILURES="the self-test failed (exit $rc)"
        return 1
    fi
    return 0
}

# The one block a newcomer must not miss, last on the screen.
report_not_scanning() {
    {
        echo
        echo "*****************************************************************************"
        echo "$PROG: the gateway is NOT scanning: mail will wait in incoming/ until clamd answers"
        printf '%s\n' "$SELFTEST_FAILURES" | sed 's/^/  - /'
        echo "  Fix it, then check again with: sudo $HERE/install.sh --check"
        echo "*****************************************************************************"
    } >&2
}

do_check() {
    is_root || die "--check needs root (it runs scanmail as $SPOOL_USER)"
    [ -n "$ROOT" ] && die "--check tests the installed gateway: no --root"
    [ -d "$SPOOL" ] || die "no gateway installed in $SPOOL"
    MAILWALL=$SBIN/mailwall
    if self_test; then
        printf '%s\n' "$SELFTEST_LINES"
        return 0
    fi
    [ -n "$SELFTEST_LINES" ] && printf '%s\n' "$SELFTEST_LINES"
    report_not_scanning
    exit 1
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
   the root-owned copies (never run uucp's $SPOOL/bin/ programs as root):
     $SBIN/scanmail --list     and     $SBIN/scanmail --release ID
EOF
}

ADMIN_TOOLS="scanmail sigupdate daysumm"

# One manual page into place by a rename (install(1) unlinks then creates, and two installs at
# once, as the tests run them, could meet in between: "File exists").
put_man() {
    local t
    t=$(mktemp "$(dirname "$2")/.mailwall-man.XXXXXX")
    cat "$1" >"$t" && chmod 644 "$t" && mv -f "$t" "$2" || { rm -f "$t"; return 1; }
}

# The manual pages, from the programs themselves (PROGRAM --man; those without it are skipped).
install_man_pages() {
    local man8="$ROOT/usr/local/share/man/man8" man5="$ROOT/usr/local/share/man/man5" b tmp
    mkdir -p "$man8" "$man5"
    tmp=$(mktemp)
    for b in smtpd smtpfwdd $ADMIN_TOOLS mailwall; do
        if "$BINDIR/$b" --man >"$tmp" 2>/dev/null && head -c1 "$tmp" | grep -q '[.\\]'; then
            put_man "$tmp" "$man8/$b.8"
        fi
    done
    if "$BINDIR/mailwall" --man gateway.conf >"$tmp" 2>/dev/null && head -c1 "$tmp" | grep -q '[.\\]'; then
        put_man "$tmp" "$man5/gateway.conf.5"
    fi
    rm -f "$tmp"
}

do_install() {
    if [ -z "$ROOT" ] && ! is_root; then
        die "installing needs root (or --root DIR for a trial tree; or --demo)"
    fi
    if [ "$HARDENED" = 1 ] && ! is_root; then
        die "--hardened gives the programs and the configuration to root: it needs root"
    fi
    build "$PROFILE"
    MAILWALL=$BINDIR/mailwall
    # Before anything is installed (it reads gateway.conf with the mailwall just built).
    check_relay
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
    # The spool: its tree, uucp's programs in bin/ (the article's layout), the default files of
    # etc/ (an edited one kept, the new default beside it as NAME.dist), gateway.conf's keys,
    # the chroot's resolv.conf, hosts, nsswitch.conf and localtime, owners and modes. mailwall
    # init follows no symbolic link and refuses a tree with one (uucp can write the tree).
    local init=(init --spool "$SPOOL" --programs "$BINDIR" --user "$SPOOL_USER") d layout=article
    [ -n "$HOSTNAME_OPT" ] && init+=(--hostname "$HOSTNAME_OPT")
    [ -n "$ADMIN" ] && init+=(--admin "$ADMIN")
    for d in $DOMAIN; do init+=(--domain "$d"); done
    [ -n "$RELAY" ] && init+=(--relay "$RELAY")
    if [ "$HARDENED" = 1 ]; then
        init+=(--hardened)
        layout=hardened
    fi
    "$BINDIR/mailwall" "${init[@]}" || die "the spool was not set up (mailwall init, above)"
    mkdir -p "$SBIN"
    # Root's programs: smtpd and smtpfwdd, and the admin's copies of the tools (root runs these,
    # never the uucp-writable ones in bin/).
    local b
    for b in smtpd smtpfwdd $ADMIN_TOOLS mailwall; do
        install -m 755 "$BINDIR/$b" "$SBIN/.$b.new"
        mv -f "$SBIN/.$b.new" "$SBIN/$b"
    done
    install_man_pages
    install_freshclam_cron
    setup_clamav
    install_crontab
    local scanning=1
    if [ "$NO_START" = 0 ]; then
        start_clamd || true
        start_smtpd
        self_test || scanning=0
        start_smtpfwdd
    fi
    say "installed ($layout layout): $SBIN/{smtpd,smtpfwdd,scanmail,sigupdate,daysumm,mailwall}, $SPOOL/bin/{scanmail,sigupdate,daysumm}, spool $SPOOL"
    print_followups
    if [ -n "$SELFTEST_LINES" ]; then
        echo
        printf '%s\n' "$SELFTEST_LINES"
    fi
    if [ "$scanning" = 0 ]; then
        report_not_scanning
        exit 1
    fi
    [ "$NO_START" = 0 ] && say "(the same self-test at any time: $HERE/install.sh --check)"
    return 0
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
    rm -f "$SBIN/smtpd" "$SBIN/smtpfwdd" "$SBIN/scanmail" "$SBIN/sigupdate" "$SBIN/daysumm" "$SBIN/mailwall"
    local b
    for b in smtpd smtpfwdd $ADMIN_TOOLS mailwall; do rm -f "$ROOT/usr/local/share/man/man8/$b.8"; done
    rm -f "$ROOT/usr/local/share/man/man5/gateway.conf.5"
    rm -f "$ROOT/etc/cron.d/mailwall-freshclam"
    rm -f "$SPOOL/bin/scanmail" "$SPOOL/bin/sigupdate" "$SPOOL/bin/daysumm"
    say "uninstalled. The spool $SPOOL (mail, quarantine, etc/) is kept; remove it by hand if you mean to."
}

# ---------------------------------------------------------------------------------------------
# The demo lives in tests/demo (it needs no root and changes nothing outside its directory).

do_demo() {
    local args=(--dir "$DEMO_DIR" --port "$DEMO_PORT")
    [ "$KEEP_RUNNING" = 1 ] && args+=(--keep-running)
    [ "$MODE" = demo-stop ] && args+=(--stop)
    exec "$HERE/tests/demo" "${args[@]}"
}

case "$MODE" in
    install) do_install ;;
    check) do_check ;;
    uninstall) do_uninstall ;;
    demo|demo-stop) do_demo ;;
esac
