#!/usr/bin/env bash
# install.sh — install the e-mail virus firewall the article's way, or show it working.
#
#   ./install.sh --demo                       the whole flow under ./demo, no root, no configuration
#   sudo ./install.sh --domain example.com --relay mail.internal:25 --admin postmaster@example.com
#   sudo ./install.sh --check                 the self-test again: is the installed gateway scanning?
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
  --demo             Run a complete instance under ./demo as the current user: smtpd on
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

Settings written into etc/gateway.conf:
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

# Every write, mode and owner change below the spool is done by this helper: as root, install.sh
# must never follow a symbolic link that uucp (the spool's owner, maybe a compromised smtpd)
# planted there. Each path is opened from the spool root one component at a time with
# O_NOFOLLOW, files are written to a new temporary name (O_EXCL) and renamed into place, and
# owners and modes are changed through the opened descriptor (never by name). A symbolic link
# anywhere in the tree stops the install.
#   spoolfs check                      refuse any symbolic link in the tree
#   spoolfs mkdir REL MODE             create a directory (kept when it exists)
#   spoolfs put SRC REL MODE           write SRC's bytes to REL (temporary file + rename)
#   spoolfs conf REL SECTION KEY VALUE set `key = value` in one [section] of a TOML file
#   spoolfs own UID GID LAYOUT         owners and modes of the whole tree (article | hardened)
#   spoolfs movedays                   day files from etc/ into etc/days/ (the hardened layout)
spoolfs() {
    python3 - "$SPOOL" "$@" <<'PY'
import os, re, stat, sys

root, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC

def die(msg):
    sys.stderr.write("install.sh: %s\n" % msg)
    sys.exit(1)

def open_root():
    try:
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW)
    except OSError as e:
        die("%s: %s (a symbolic link? refusing)" % (root, e.strerror))

def open_dir(rel):
    """The directory REL below the spool root, no component a symbolic link."""
    fd = open_root()
    for part in [p for p in rel.split("/") if p]:
        try:
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW, dir_fd=fd)
        except OSError as e:
            die("%s/%s: %s (a symbolic link? refusing)" % (root, rel, e.strerror))
        os.close(fd)
        fd = nfd
    return fd

def split(rel):
    d, _, name = rel.rpartition("/")
    return d, name

def links():
    found = []
    for dirpath, dirnames, filenames, dfd in os.fwalk(root, follow_symlinks=False):
        for n in dirnames + filenames:
            if stat.S_ISLNK(os.stat(n, dir_fd=dfd, follow_symlinks=False).st_mode):
                found.append(os.path.join(dirpath, n))
    return found

def write_new(dfd, name, data, mode):
    tmp = ".install.%d.%s" % (os.getpid(), name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600, dir_fd=dfd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode) or stat.S_ISDIR(st.st_mode):
            os.unlink(tmp, dir_fd=dfd)
            die("%s is a symbolic link or a directory: refusing to write it" % name)
    except FileNotFoundError:
        pass
    os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)

def read(dfd, name):
    fd = os.open(name, os.O_RDONLY | NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            die("%s: not a regular file" % name)
        return f.read()

if cmd == "check":
    if os.path.islink(root):
        die("%s is a symbolic link: refusing to install through it" % root)
    if os.path.isdir(root):
        found = links()
        if found:
            die("refusing to install: symbolic links in the spool tree, which root would follow "
                "(remove them, and find out who made them):\n  " + "\n  ".join(found[:10]))

elif cmd == "mkdir":
    rel, mode = args[0], int(args[1], 8)
    d, name = split(rel)
    dfd = open_dir(d)
    try:
        os.mkdir(name, mode, dir_fd=dfd)
    except FileExistsError:
        if not stat.S_ISDIR(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
            die("%s/%s exists and is not a directory (a symbolic link? refusing)" % (root, rel))

elif cmd == "put":
    src, rel, mode = args[0], args[1], int(args[2], 8)
    d, name = split(rel)
    write_new(open_dir(d), name, open(src, "rb").read(), mode)

elif cmd == "conf":
    rel, section, key, value = args
    d, name = split(rel)
    dfd = open_dir(d)
    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    lines = read(dfd, name).decode().split("\n")
    cur, done, out = "", False, []
    pat = re.compile(r"^\s*#?\s*" + re.escape(key) + r"\s*=")
    last_in_section = None
    for l in lines:
        m = re.match(r"^\s*\[([^\]]+)\]", l)
        if m:
            cur = m.group(1).strip()
        if not done and cur == section and pat.match(l):
            l = "%s = %s" % (key, value)
            done = True
        out.append(l)
        if cur == section and l.strip():
            last_in_section = len(out)
    if not done:
        if section and last_in_section is None:
            out += ["", "[%s]" % section, "%s = %s" % (key, value)]
        elif last_in_section is None:
            out.insert(0, "%s = %s" % (key, value))
        else:
            out.insert(last_in_section, "%s = %s" % (key, value))
    write_new(dfd, name, "\n".join(out).encode(), stat.S_IMODE(st.st_mode))

elif cmd == "own":
    uid, gid, layout = int(args[0]), int(args[1]), args[2]
    queues = ("incoming", "outgoing", "quarantine")
    def fix(dfd, name, rel, top):
        """Owner and mode of one entry, through a descriptor opened without following links."""
        fd = os.open(name, os.O_RDONLY | NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dfd)
        try:
            st = os.fstat(fd)
            isdir = stat.S_ISDIR(st.st_mode)
            # uucp writes in the queues and, for the day files, etc/days/ (Spool::day_dir).
            uucps = top in queues or rel == "etc/days" or rel.startswith("etc/days/")
            if layout == "hardened" and not uucps:
                # The spool root, bin/ and etc/ and their files: root's; uucp (the group) reads
                # and runs them.
                os.fchown(fd, 0, gid)
                if isdir or (rel.startswith("bin/") and st.st_mode & 0o100):
                    os.fchmod(fd, 0o750)
                else:
                    os.fchmod(fd, 0o640)
            else:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, 0o700 if isdir else stat.S_IMODE(st.st_mode) & 0o700)
        finally:
            os.close(fd)
    found = links()
    if found:
        die("refusing to change owners: symbolic links in the spool tree:\n  " + "\n  ".join(found[:10]))
    rfd = open_root()
    fix(rfd, ".", "", "")
    for dirpath, dirnames, filenames, dfd in os.fwalk(root, follow_symlinks=False):
        relbase = os.path.relpath(dirpath, root)
        relbase = "" if relbase == "." else relbase + "/"
        for n in dirnames + filenames:
            rel = relbase + n
            fix(dfd, n, rel, rel.split("/")[0])
elif cmd == "movedays":
    # etc/email.YYYYMMDD... into etc/days/, where the programs look once it exists. A file of the
    # same name already there (a writer was quicker) gets the old lines appended, each write(2)
    # O_APPEND as the writers do, so no line of either is lost.
    efd, dfd = open_dir("etc"), open_dir("etc/days")
    for name in sorted(os.listdir(efd)):
        if not re.match(r"^(email|virus|sent)\.\d{8}$", name):
            continue
        st = os.stat(name, dir_fd=efd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            die("%s/etc/%s is not a regular file (a symbolic link? refusing)" % (root, name))
        try:
            os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            os.rename(name, name, src_dir_fd=efd, dst_dir_fd=dfd)
            continue
        data = read(efd, name)
        fd = os.open(name, os.O_WRONLY | os.O_APPEND | NOFOLLOW, dir_fd=dfd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                die("%s/etc/days/%s: not a regular file" % (root, name))
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(name, dir_fd=efd)
else:
    die("spoolfs: unknown command " + cmd)
PY
}

# Copy a default file into the spool's etc/ without touching what the admin edited.
install_etc_file() {
    local src=$1 rel=$2 mode=${3:-600}
    local dst=$SPOOL/$rel
    if [ ! -e "$dst" ] && [ ! -L "$dst" ]; then
        spoolfs put "$src" "$rel" "$mode"
    elif ! cmp -s "$src" "$dst"; then
        spoolfs put "$src" "$rel.dist" "$mode"
    fi
}

toml_str() { printf '"%s"' "$1"; }

configure_gateway_conf() {
    local conf=etc/gateway.conf
    [ -n "$HOSTNAME_OPT" ] && spoolfs conf "$conf" "" hostname "$(toml_str "$HOSTNAME_OPT")"
    [ -n "$ADMIN" ] && spoolfs conf "$conf" "" admin "$(toml_str "$ADMIN")"
    if [ -n "$DOMAIN" ]; then
        local list="" d
        for d in $DOMAIN; do list="${list:+$list, }$(toml_str "$d")"; done
        spoolfs conf "$conf" "" domains "[$list]"
    fi
    [ -n "$RELAY" ] && spoolfs conf "$conf" forward relay "$(toml_str "$RELAY")"
    return 0
}

# One value of the installed gateway.conf ("" when absent), read as TOML.
conf_value() {
    python3 - "$SPOOL/etc/gateway.conf" "$1" "$2" <<'PY' 2>/dev/null || true
import sys, tomllib
path, section, key = sys.argv[1:]
try:
    with open(path, "rb") as f:
        c = tomllib.load(f)
except OSError:
    sys.exit(0)
v = (c.get(section, {}) if section else c).get(key, "")
print(" ".join(v) if isinstance(v, list) else v)
PY
}

# Mail loops (issue 14): a real install needs the internal mail server, and never this gateway.
check_relay() {
    [ -n "$ROOT" ] && return 0
    local relay=$RELAY
    [ -n "$relay" ] || relay=$(conf_value forward relay)
    # MX delivery asked for explicitly in gateway.conf needs no relay.
    [ -z "$relay" ] && [ "$(conf_value forward deliver_to_mx)" = True ] && return 0
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

# Set `Key value` in clamd.conf (replacing a line with that key, commented or not). Prints
# "changed" when the file changed.
set_clamd_option() {
    local key=$1 value=$2 conf=$CLAMD_CONF
    [ -f "$conf" ] || return 0
    grep -qE "^[[:space:]]*$key[[:space:]]+$value[[:space:]]*$" "$conf" && return 0
    local tmp
    tmp=$(mktemp "$conf.XXXXXX")
    if grep -qE "^[[:space:]]*#?[[:space:]]*$key([[:space:]]|$)" "$conf"; then
        sed -E "0,/^[[:space:]]*#?[[:space:]]*$key([[:space:]]|\$).*/s//$key $value/" "$conf" > "$tmp"
    else
        { cat "$conf"; echo "$key $value"; } > "$tmp"
    fi
    chmod --reference="$conf" "$tmp" && chown --reference="$conf" "$tmp"
    mv -f "$tmp" "$conf"
    echo changed
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
    s=$(conf_value scan clamd_socket)
    [ -n "$s" ] || s=$(clamd_conf_value LocalSocket)
    echo "${s:-/run/clamav/clamd.ctl}"
}

# zPING on clamd's socket (a Unix path or host:port); true when it answers PONG.
clamd_ping() {
    python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
a = sys.argv[1]
try:
    if a.startswith("/"):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(3)
        s.connect(a)
    else:
        h, _, p = a.rpartition(":")
        s = socket.create_connection((h.strip("[]"), int(p)), 3)
    s.sendall(b"zPING\0")
    sys.exit(0 if s.recv(16).startswith(b"PONG") else 1)
except OSError:
    sys.exit(1)
PY
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
    domains=$(conf_value "" domains)
    admin=$(conf_value "" admin)
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

# The manual pages, from the programs themselves (PROGRAM --man; those without it are skipped).
install_man_pages() {
    local man8="$ROOT/usr/local/share/man/man8" man5="$ROOT/usr/local/share/man/man5" b tmp
    mkdir -p "$man8" "$man5"
    tmp=$(mktemp)
    for b in smtpd smtpfwdd $ADMIN_TOOLS mailwall; do
        if "$BINDIR/$b" --man >"$tmp" 2>/dev/null && head -c1 "$tmp" | grep -q '[.\\]'; then
            install -m 644 "$tmp" "$man8/$b.8"
        fi
    done
    if "$BINDIR/mailwall" --man gateway.conf >"$tmp" 2>/dev/null && head -c1 "$tmp" | grep -q '[.\\]'; then
        install -m 644 "$tmp" "$man5/gateway.conf.5"
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
    check_relay
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
    spoolfs check
    mkdir -p "$SBIN" "$(dirname "$SPOOL")"
    [ -d "$SPOOL" ] || mkdir -m 700 "$SPOOL"
    local d
    for d in etc bin incoming outgoing quarantine; do spoolfs mkdir "$d" 700; done
    if [ "$HARDENED" = 1 ]; then
        # etc/ becomes root's: the day files that scanmail and smtpfwdd write (as uucp) move to
        # etc/days/, which the programs take instead of etc/ once it exists (Spool::day_dir).
        spoolfs mkdir etc/days 700
        spoolfs movedays
    fi
    # Root's programs: smtpd and smtpfwdd, and the admin's copies of the tools (root runs these,
    # never the uucp-writable ones in bin/).
    local b
    for b in smtpd smtpfwdd $ADMIN_TOOLS mailwall; do
        install -m 755 "$BINDIR/$b" "$SBIN/.$b.new"
        mv -f "$SBIN/.$b.new" "$SBIN/$b"
    done
    install_man_pages
    # uucp's cron runs these (the article's layout).
    for b in $ADMIN_TOOLS; do spoolfs put "$BINDIR/$b" "bin/$b" 700; done
    local f
    for f in gateway.conf matches.bad matches.doc smtpd_check_rules transport smb.conf.example "$HERE"/etc/*.tmpl; do
        f=$(basename "$f")
        [ -f "$HERE/etc/$f" ] && install_etc_file "$HERE/etc/$f" "etc/$f"
    done
    configure_gateway_conf
    # The chroot needs its own resolver configuration and time zone.
    # (glibc's built-in files and dns lookups read these relative to the chroot.)
    local c
    for c in resolv.conf hosts nsswitch.conf; do
        [ -f "/etc/$c" ] && spoolfs put "/etc/$c" "etc/$c" 600
    done
    [ -e /etc/localtime ] && spoolfs put "$(readlink -f /etc/localtime)" etc/localtime 600
    local uid gid layout=article
    [ "$HARDENED" = 1 ] && layout=hardened
    if is_root; then
        uid=$(id -u "$SPOOL_USER")
        gid=$(getent group "$SPOOL_GROUP" | cut -d: -f3)
    else
        uid=$(id -u)
        gid=$(id -g)
    fi
    spoolfs own "$uid" "$gid" "$layout"
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
# The demo: everything under ./demo, as the current user, every process stopped at the end.

write_eicar_ndb() {
    # The EICAR test string, hex-encoded, as a ClamAV body signature.
    local hex
    hex=$(printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' | od -An -tx1 -v | tr -d ' \n')
    printf 'Eicar-Test-Signature:0:*:%s\n' "$hex" > "$1"
}

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
    # Up to a minute: a loaded machine takes its time to start Python and aiosmtpd.
    local port=$1 i
    for i in $(seq 1 300); do
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
AlertExceedsMax yes
AlertEncrypted yes
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
    check) do_check ;;
    uninstall) do_uninstall ;;
    demo) do_demo ;;
    demo-stop) demo_stop_all; say "demo stopped" ;;
esac
