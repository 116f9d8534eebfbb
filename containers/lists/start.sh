#!/bin/bash
# mailflow lists container entrypoint (runs under tini).
#
# 1. render exim4.conf and mailman.cfg from the environment,
# 2. load the ferm firewall (fails the container if it cannot),
# 3. start exim (daemon + queue runner every 5 s), Mailman 3, nginx and the
#    stub listeners for ssh/spamd/rsync,
# 4. print "mailflow-lists ready" once exim answers on 25 and Mailman's REST
#    API answers on 127.0.0.1:8001,
# 5. watch exim's daemon and Mailman's master: if either dies the container
#    exits non-zero, unless /run/mailflow/maintenance exists (a test stopped
#    one of them on purpose).
#
# Never print MAILFLOW_REST_PASSWORD; this script must not run with `set -x`.
set -euo pipefail

SHARE=/usr/local/share/mailflow
MAINTENANCE=/run/mailflow/maintenance
EXIM_PID_FILE=/run/exim4/exim.pid
MAILMAN_PID_FILE=/run/mailman3/master.pid
MAILMAN_CFG=/etc/mailman3/mailman.cfg

log() { echo "mailflow-lists: $*"; }
die() { echo "mailflow-lists: FATAL: $*" >&2; exit 1; }

# ---------------------------------------------------------------- settings
default_gateway() {
    # The Docker host, as seen from the container: the default route's gateway.
    local iface dest gw rest
    while read -r iface dest gw rest; do
        if [[ "$dest" == 00000000 ]]; then
            printf '%d.%d.%d.%d\n' "0x${gw:6:2}" "0x${gw:4:2}" "0x${gw:2:2}" "0x${gw:0:2}"
            return 0
        fi
    done </proc/net/route
}

export MAILFLOW_LIST_DOMAINS="${MAILFLOW_LIST_DOMAINS:-lists.example.test}"
export MAILFLOW_PROBE_DOMAIN="${MAILFLOW_PROBE_DOMAIN:-probe.test}"
export MAILFLOW_SINK_PORT="${MAILFLOW_SINK_PORT:-2525}"
if [[ -z "${MAILFLOW_SINK_HOST:-}" ]]; then
    MAILFLOW_SINK_HOST="$(default_gateway)"
    [[ -n "$MAILFLOW_SINK_HOST" ]] || die "MAILFLOW_SINK_HOST is not set and there is no default route to guess it from"
    log "MAILFLOW_SINK_HOST not set, using the default gateway $MAILFLOW_SINK_HOST"
fi
export MAILFLOW_SINK_HOST
MAILFLOW_OLD_HOST_ADDR="${MAILFLOW_OLD_HOST_ADDR:-172.31.250.10}"
MAILFLOW_BASTION_ADDR="${MAILFLOW_BASTION_ADDR:-172.31.250.11}"
READY_TIMEOUT="${MAILFLOW_READY_TIMEOUT:-120}"

[[ -n "${MAILFLOW_REST_PASSWORD:-}" ]] || die "MAILFLOW_REST_PASSWORD is not set (Mailman's REST password for restadmin)"
[[ "$MAILFLOW_REST_PASSWORD" != *$'\n'* ]] || die "MAILFLOW_REST_PASSWORD must be one line"
# Keep the password in an unexported variable only: no child process (exim,
# Mailman, nginx) inherits it.
REST_PASSWORD="$MAILFLOW_REST_PASSWORD"
unset MAILFLOW_REST_PASSWORD

domain_re='[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?'
[[ "$MAILFLOW_LIST_DOMAINS" =~ ^${domain_re}(:${domain_re})*$ ]] \
    || die "MAILFLOW_LIST_DOMAINS must be colon-separated domains, got '$MAILFLOW_LIST_DOMAINS'"
[[ "$MAILFLOW_PROBE_DOMAIN" =~ ^${domain_re}$ ]] \
    || die "MAILFLOW_PROBE_DOMAIN must be one domain, got '$MAILFLOW_PROBE_DOMAIN'"
[[ "$MAILFLOW_SINK_HOST" =~ ^${domain_re}$ ]] \
    || die "MAILFLOW_SINK_HOST must be an IPv4 address or a host name in /etc/hosts, got '$MAILFLOW_SINK_HOST'"
[[ "$MAILFLOW_SINK_PORT" =~ ^[0-9]{1,5}$ ]] && (( MAILFLOW_SINK_PORT > 0 && MAILFLOW_SINK_PORT < 65536 )) \
    || die "MAILFLOW_SINK_PORT must be a TCP port, got '$MAILFLOW_SINK_PORT'"
addr_list_re='^[0-9./]+( +[0-9./]+)*$'
[[ "$MAILFLOW_OLD_HOST_ADDR" =~ $addr_list_re ]] \
    || die "MAILFLOW_OLD_HOST_ADDR must be IPv4 addresses (space-separated), got '$MAILFLOW_OLD_HOST_ADDR'"
[[ "$MAILFLOW_BASTION_ADDR" =~ $addr_list_re ]] \
    || die "MAILFLOW_BASTION_ADDR must be IPv4 addresses (space-separated), got '$MAILFLOW_BASTION_ADDR'"

# render TEMPLATE DEST MODE OWNER:GROUP PLACEHOLDER=VALUE...
# Replaces @PLACEHOLDER@ in TEMPLATE and writes DEST; a VALUE of <stdin> is
# read from stdin, so that the REST password is never in any argv.
render() {
    local src=$1 dst=$2 mode=$3 owner=$4
    shift 4
    python3 -c '
import os, re, sys
src, dst, mode = sys.argv[1], sys.argv[2], int(sys.argv[3], 8)
text = open(src).read()
pairs = [a.split("=", 1) for a in sys.argv[4:]]
secret = sys.stdin.read()
for key, value in pairs:
    if value == "<stdin>":
        value = secret
    text = text.replace("@" + key + "@", value)
left = sorted(set(re.findall(r"@[A-Z_]+@", text)))
if left:
    sys.exit("placeholders left in %s: %s" % (dst, " ".join(left)))
tmp = dst + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
with os.fdopen(fd, "w") as f:
    f.write(text)
os.chmod(tmp, mode)
os.replace(tmp, dst)
' "$src" "$dst" "$mode" "$@"
    chown "$owner" "$dst"
}

# ---------------------------------------------------------------- configs
log "rendering /etc/exim4/exim4.conf (list domains $MAILFLOW_LIST_DOMAINS, probe domain $MAILFLOW_PROBE_DOMAIN, sink $MAILFLOW_SINK_HOST:$MAILFLOW_SINK_PORT)"
render "$SHARE/exim4.conf" /etc/exim4/exim4.conf 0644 root:root \
    "LIST_DOMAINS=$MAILFLOW_LIST_DOMAINS" "PROBE_DOMAIN=$MAILFLOW_PROBE_DOMAIN" \
    "SINK_HOST=$MAILFLOW_SINK_HOST" "SINK_PORT=$MAILFLOW_SINK_PORT" </dev/null \
    || die "could not render /etc/exim4/exim4.conf"
exim4 -bV >/dev/null || die "exim rejects /etc/exim4/exim4.conf (see exim4 -bV)"

log "rendering $MAILMAN_CFG"
printf '%s' "$REST_PASSWORD" | render "$SHARE/mailman.cfg" "$MAILMAN_CFG" 0640 root:list \
    "REST_PASSWORD=<stdin>" || die "could not render $MAILMAN_CFG"

# Runtime folders (a restarted container may hold stale pid files).
mkdir -p /run/mailflow /run/exim4 /run/mailman3
chown Debian-exim:Debian-exim /run/exim4
chown list:list /run/mailman3
rm -f "$EXIM_PID_FILE" "$MAILMAN_PID_FILE"

# ---------------------------------------------------------------- firewall
log "loading ferm (old host $MAILFLOW_OLD_HOST_ADDR, bastion $MAILFLOW_BASTION_ADDR)"
if ! ferm --def "\$OLD_HOST=($MAILFLOW_OLD_HOST_ADDR)" --def "\$BASTION=($MAILFLOW_BASTION_ADDR)" \
        /etc/ferm/ferm.conf; then
    die "ferm could not load /etc/ferm/ferm.conf; the container needs CAP_NET_ADMIN (docker run --cap-add NET_ADMIN)"
fi

# ---------------------------------------------------------------- services
alive() {
    local pid=$1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/status ]] || return 1
    ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}
pid_from() { tr -dc '0-9' 2>/dev/null <"$1" || true; }

log "starting exim (exim4 -bd -q5s)"
exim4 -bd -q5s || die "exim4 -bd did not start (see /var/log/exim4/mainlog and paniclog)"

# Mailman's runners write warnings and library chatter to stdout/stderr:
# keep that in a file so that this container's output stays readable.
MAILMAN_STDIO=/var/log/mailman3/stdio.log
log "starting Mailman 3 (mailman start --force, as list; runner output in $MAILMAN_STDIO)"
if ! runuser -u list -- mailman -C "$MAILMAN_CFG" start --force </dev/null >>"$MAILMAN_STDIO" 2>&1; then
    tail -n 20 "$MAILMAN_STDIO" 2>/dev/null || true
    die "mailman start failed (see $MAILMAN_STDIO and /var/log/mailman3/mailman.log)"
fi

log "starting nginx (80, 443)"
nginx || die "nginx did not start"

log "starting stub listeners (22, 783, 873)"
python3 /usr/local/lib/mailflow/listeners.py \
    "22=SSH-2.0-mailflow-stub" "783=SPAMD/1.5 0 EX_OK mailflow-stub" "873=@RSYNCD: 31.0 mailflow-stub" &

if [[ "${MAILFLOW_TAIL_LOGS:-0}" == 1 ]]; then
    tail -n 0 -F /var/log/exim4/mainlog /var/log/mailman3/mailman.log 2>/dev/null &
fi

stop_all() {
    # What `mailman stop` does (SIGTERM to the master), without its start-up
    # cost; the master stops its runners.
    log "stopping"
    local pid i
    for pid in "$(pid_from "$MAILMAN_PID_FILE")" "$(pid_from "$EXIM_PID_FILE")"; do
        [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null || true
    done
    nginx -s quit 2>/dev/null || true
    for (( i = 0; i < 30; i++ )); do
        alive "$(pid_from "$MAILMAN_PID_FILE")" || break
        sleep 0.2
    done
    exit 0
}
trap stop_all TERM INT

# ---------------------------------------------------------------- ready
smtp_answers() {
    python3 -c '
import smtplib, sys
try:
    s = smtplib.SMTP("127.0.0.1", 25, local_hostname="localhost", timeout=5)
    code, _ = s.noop()
    s.quit()
except Exception:
    sys.exit(1)
sys.exit(0 if code == 250 else 1)'
}
rest_answers() {
    local pw=${REST_PASSWORD//\\/\\\\}
    pw=${pw//\"/\\\"}
    printf 'user = "restadmin:%s"\n' "$pw" \
        | curl -fsS -o /dev/null --max-time 5 -K - http://127.0.0.1:8001/3.1/system/versions 2>/dev/null
}

# check_alive: dies unless exim's daemon and Mailman's master are running
# (or the maintenance file says one is down on purpose).
check_alive() {
    [[ -e "$MAINTENANCE" ]] && return 0
    local pid
    pid=$(pid_from "$EXIM_PID_FILE")
    if ! alive "$pid"; then
        tail -n 20 /var/log/exim4/paniclog 2>/dev/null || true
        die "exim daemon (pid ${pid:-unknown, pid file gone}) is not running; see /var/log/exim4/mainlog"
    fi
    pid=$(pid_from "$MAILMAN_PID_FILE")
    if ! alive "$pid"; then
        tail -n 20 /var/log/mailman3/mailman.log 2>/dev/null || true
        die "Mailman's master runner (pid ${pid:-unknown, pid file gone}) is not running; see /var/log/mailman3/mailman.log"
    fi
}

started=$SECONDS
for (( ; ; )); do
    if smtp_answers && rest_answers; then
        break
    fi
    if (( SECONDS - started >= READY_TIMEOUT )); then
        die "not ready after ${READY_TIMEOUT}s (exim on 25 and/or Mailman REST on 127.0.0.1:8001 do not answer)"
    fi
    # Mailman writes its pid file a moment after `mailman start` returns.
    if (( SECONDS - started >= 5 )); then
        check_alive
    fi
    sleep 0.5
done
log "exim answers on 25, Mailman REST on 127.0.0.1:8001 (startup took $(( SECONDS - started ))s after services were started)"
echo "mailflow-lists ready"

# ---------------------------------------------------------------- watchdog
while :; do
    check_alive
    sleep 2 &
    wait $! || true
done
