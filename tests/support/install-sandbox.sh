#!/usr/bin/env bash
# A fresh root for a real install (tests/e2e/install.rs): run COMMAND as root in new mount, net
# and pid namespaces where /etc, /run, /var/spool, /var/lib/clamav, /var/log/clamav and
# /usr/local/sbin are private copies or empty, and the only network is a loopback of its own.
# So install.sh runs for real (the system clamd and its init script, port 25, crontabs, cron.d,
# /etc/clamav/clamd.conf) and changes nothing on the machine. When COMMAND ends, the kernel ends
# every process started inside (clamd, smtpd, smtpfwdd, cron): nothing else is stopped.
#
#   install-sandbox.sh WORKDIR DBDIR COMMAND...
#
# WORKDIR: an empty directory for the copies; DBDIR: what /var/lib/clamav holds (the test's
# signature database; the official one cannot be downloaded here).
set -euo pipefail
if [ "${SANDBOX_INSIDE:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "install-sandbox.sh: needs root" >&2; exit 1; }
    exec env SANDBOX_INSIDE=1 unshare --mount --net --pid --fork --mount-proc --propagation private "$0" "$@"
fi
work=$1 db=$2
shift 2
ip link set lo up
cp -a /etc "$work/etc"
mount --bind "$work/etc" /etc
# No mirror is reachable from here: freshclam fails at its first try instead of its fifth.
sed -i 's/^MaxAttempts .*/MaxAttempts 1/' /etc/clamav/freshclam.conf
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=755 tmpfs /var/spool
mkdir -p /var/spool/cron/crontabs
chgrp crontab /var/spool/cron/crontabs && chmod 1730 /var/spool/cron/crontabs
mount -t tmpfs -o mode=755 tmpfs /usr/local/sbin
chown -R clamav:clamav "$db" && chmod 755 "$db"
mount --bind "$db" /var/lib/clamav
mkdir -p /var/log/clamav
mount -t tmpfs -o mode=755 tmpfs /var/log/clamav
chown clamav:clamav /var/log/clamav
cd /
"$@"
