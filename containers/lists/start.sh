#!/bin/bash
# mailflow lists container entrypoint (runs under tini).
#
# 1. render mailman.cfg (and the web side's configuration) and start
#    Mailman 3's master at once: its runners take most of the start-up time
#    (about 1.7 CPU-seconds each, a dozen of them, mostly Python imports),
# 2. meanwhile render exim4.conf, load the ferm firewall (fails the container
#    if it cannot), start exim (daemon + queue runner every 5 s), nginx and
#    the stub listeners for ssh/spamd/rsync (sshd instead of the ssh stub
#    when MAILFLOW_SSH_AUTHORIZED_KEY is set); with MAILFLOW_WEB=1 also the
#    web side (mailman3-web under uwsgi, behind nginx), all in parallel,
# 3. lower the priority (nice 10, until ready and started; needs
#    CAP_SYS_NICE) of what the first probe does not need: Mailman's
#    bounces, command, digest, retry and task runners and the web side's
#    qcluster, so that on a busy machine the REST, LMTP, in, pipeline, out,
#    archive and virgin runners and Django come up first (the archive
#    runner at nice 10 missed a first probe's archive window); and until
#    the REST API answers, of those too but the REST runner, so that the
#    harness can start provisioning early,
# 4. print "mailflow-lists rest answering" once Mailman's REST API answers
#    (the harness provisions the lists from then on), then
#    "mailflow-lists phases: ..." (seconds from this script's start
#    until exim answered, Mailman's master had initialised (its pid file;
#    it starts the runners then), its REST API and LMTP server answered, the
#    in, pipeline, out, archive and virgin runners had started, and, with the web side,
#    HyperKitty answered) and "mailflow-lists ready" once all that is so,
# 5. watch exim's daemon and Mailman's master (and uwsgi and nginx with the
#    web side, sshd with a key): if one dies the container exits non-zero, unless
#    /run/mailflow/maintenance exists (a test stopped one on purpose).
#
# Never print MAILFLOW_REST_PASSWORD; this script must not run with `set -x`.
set -euo pipefail

SHARE=/usr/local/share/mailflow
MAINTENANCE=/run/mailflow/maintenance
EXIM_PID_FILE=/run/exim4/exim.pid
MAILMAN_PID_FILE=/run/mailman3/master.pid
MAILMAN_CFG=/etc/mailman3/mailman.cfg
NGINX_PID_FILE=/run/nginx.pid
UWSGI_PID=
SSHD_PID=

# Seconds since this script started, for the phases line.
START_TIME=$EPOCHREALTIME
since_start() { awk -v a="$START_TIME" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

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
export MAILFLOW_SINK_PROTOCOL="${MAILFLOW_SINK_PROTOCOL:-smtp}"
MAILFLOW_MAILBOX_HOST="${MAILFLOW_MAILBOX_HOST:-}"
MAILFLOW_MAILBOX_PORT="${MAILFLOW_MAILBOX_PORT:-24}"
MAILFLOW_REST_EXPOSE_TO="${MAILFLOW_REST_EXPOSE_TO:-}"
MAILFLOW_OLD_HOST_ADDR="${MAILFLOW_OLD_HOST_ADDR:-172.31.250.10}"
MAILFLOW_BASTION_ADDR="${MAILFLOW_BASTION_ADDR:-172.31.250.11}"
MAILFLOW_WEB="${MAILFLOW_WEB:-0}"
MAILFLOW_SSH_AUTHORIZED_KEY="${MAILFLOW_SSH_AUTHORIZED_KEY:-}"
[[ "$MAILFLOW_WEB" == 0 || "$MAILFLOW_WEB" == 1 ]] || die "MAILFLOW_WEB must be 0 or 1, got '$MAILFLOW_WEB'"
# The harness waits 240 s for "ready"; on a starved machine (every
# container in one CPU group beside compilers) REST answered after 146 s,
# and 120 s here killed healthy starts without the web side.
READY_TIMEOUT="${MAILFLOW_READY_TIMEOUT:-240}"

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
[[ "$MAILFLOW_SINK_PROTOCOL" == smtp || "$MAILFLOW_SINK_PROTOCOL" == lmtp ]] \
    || die "MAILFLOW_SINK_PROTOCOL must be smtp or lmtp, got '$MAILFLOW_SINK_PROTOCOL'"
ipv4_re='^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
[[ -z "$MAILFLOW_MAILBOX_HOST" || "$MAILFLOW_MAILBOX_HOST" =~ $ipv4_re ]] \
    || die "MAILFLOW_MAILBOX_HOST must be an IPv4 address, got '$MAILFLOW_MAILBOX_HOST'"
[[ "$MAILFLOW_MAILBOX_PORT" =~ ^[0-9]{1,5}$ ]] && (( MAILFLOW_MAILBOX_PORT > 0 && MAILFLOW_MAILBOX_PORT < 65536 )) \
    || die "MAILFLOW_MAILBOX_PORT must be a TCP port, got '$MAILFLOW_MAILBOX_PORT'"
[[ -z "$MAILFLOW_REST_EXPOSE_TO" || "$MAILFLOW_REST_EXPOSE_TO" =~ $ipv4_re ]] \
    || die "MAILFLOW_REST_EXPOSE_TO must be an IPv4 address, got '$MAILFLOW_REST_EXPOSE_TO'"
addr_list_re='^[0-9./]+( +[0-9./]+)*$'
[[ "$MAILFLOW_OLD_HOST_ADDR" =~ $addr_list_re ]] \
    || die "MAILFLOW_OLD_HOST_ADDR must be IPv4 addresses (space-separated), got '$MAILFLOW_OLD_HOST_ADDR'"
[[ "$MAILFLOW_BASTION_ADDR" =~ $addr_list_re ]] \
    || die "MAILFLOW_BASTION_ADDR must be IPv4 addresses (space-separated), got '$MAILFLOW_BASTION_ADDR'"
# One public key in authorized_keys form (`TYPE BASE64 [comment]`), nothing else.
key_re='^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*( [^[:cntrl:]]*)?$'
[[ -z "$MAILFLOW_SSH_AUTHORIZED_KEY" || "$MAILFLOW_SSH_AUTHORIZED_KEY" =~ $key_re ]] \
    || die "MAILFLOW_SSH_AUTHORIZED_KEY must be one public key (TYPE BASE64 [comment]) on one line"

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
# Mailman's first (it starts first); exim's while Mailman starts.
log "rendering $MAILMAN_CFG"
if [[ "$MAILFLOW_WEB" == 1 ]]; then HYPERKITTY_ENABLE=yes; else HYPERKITTY_ENABLE=no; fi
printf '%s' "$REST_PASSWORD" | render "$SHARE/mailman.cfg" "$MAILMAN_CFG" 0640 root:list \
    "REST_PASSWORD=<stdin>" "HYPERKITTY_ENABLE=$HYPERKITTY_ENABLE" || die "could not render $MAILMAN_CFG"

# The web side's configuration: the archiver key shared by Mailman's
# HyperKitty plugin and HyperKitty, Django's secret key (both random per
# container), Mailman's REST credentials, and the host names Django answers to
# (loopback, the container's addresses and name, the list domains).
WEB_CFG=/etc/mailman3/mailman-web.py
HYPERKITTY_CFG=/etc/mailman3/mailman-hyperkitty.cfg
if [[ "$MAILFLOW_WEB" == 1 ]]; then
    log "configuring the web side ($WEB_CFG, $HYPERKITTY_CFG; random archiver key)"
    WEB_HOSTS="localhost 127.0.0.1 ::1 $(hostname) $(hostname -i 2>/dev/null || true) ${MAILFLOW_LIST_DOMAINS//:/ } ${MAILFLOW_WEB_HOSTS:-}"
    printf '%s' "$REST_PASSWORD" | python3 -c '
import os, secrets, sys
web_cfg, hk_cfg, pristine, hosts = sys.argv[1:5]
rest_password = sys.stdin.read()
archiver_key = secrets.token_urlsafe(32)
secret_key = secrets.token_urlsafe(48)
def write(path, text, mode, uid, gid):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chown(tmp, uid, gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
import grp
web = open(pristine).read()
web += "\n# mailflow: set by the lists container at start (start.sh).\n"
web += "SECRET_KEY = %r\n" % secret_key
web += "ALLOWED_HOSTS = %r\n" % sorted(set(hosts.split()))
web += "MAILMAN_REST_API_URL = %r\n" % "http://127.0.0.1:8001"
web += "MAILMAN_REST_API_USER = %r\n" % "restadmin"
web += "MAILMAN_REST_API_PASS = %r\n" % rest_password
web += "MAILMAN_ARCHIVER_KEY = %r\n" % archiver_key
web += "MAILMAN_ARCHIVER_FROM = (%r, %r)\n" % ("127.0.0.1", "::1")
write(web_cfg, web, 0o640, 0, grp.getgrnam("www-data").gr_gid)
hk = "# mailflow: written by the lists container at start (start.sh).\n[general]\nbase_url: http://127.0.0.1/hyperkitty/\napi_key: %s\n" % archiver_key
write(hk_cfg, hk, 0o640, 0, grp.getgrnam("list").gr_gid)
' "$WEB_CFG" "$HYPERKITTY_CFG" /usr/local/share/mailman-web.py.debian "$WEB_HOSTS" \
        || die "could not write the web side's configuration"
    install -m 0644 "$SHARE/nginx-web.conf" /etc/nginx/sites-enabled/mailflow
else
    install -m 0644 "$SHARE/nginx-plain.conf" /etc/nginx/sites-enabled/mailflow
fi
# Mailman's REST API through nginx at /mailman-rest/, for one address only
# (the harness's machine, with `mailflow up --write-target`): a REST URL an
# operator exposes, reached directly. Mailman itself stays on loopback, and
# ferm's policy (8001 loopback only) is unchanged.
mkdir -p /etc/nginx/mailflow.d
rm -f /etc/nginx/mailflow.d/rest.conf
if [[ -n "$MAILFLOW_REST_EXPOSE_TO" ]]; then
    log "exposing Mailman's REST API at /mailman-rest/ on 80 and 443 to $MAILFLOW_REST_EXPOSE_TO only"
    printf '%s\n' 'location /mailman-rest/ {' "    allow $MAILFLOW_REST_EXPOSE_TO;" '    deny all;' \
        '    proxy_pass http://127.0.0.1:8001/;' '}' >/etc/nginx/mailflow.d/rest.conf
fi

# Runtime folders (a restarted container may hold stale pid files).
mkdir -p /run/mailflow /run/exim4 /run/mailman3 /run/mailman3-web /var/log/mailman3/web
chown Debian-exim:Debian-exim /run/exim4
chown list:list /run/mailman3
chown www-data:www-data /run/mailman3-web /var/log/mailman3/web
rm -f "$EXIM_PID_FILE" "$MAILMAN_PID_FILE" "$NGINX_PID_FILE" /run/mailman3-web/uwsgi.sock

# ---------------------------------------------------------------- Mailman
alive() {
    local pid=$1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/status ]] || return 1
    ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}
pid_from() { tr -dc '0-9' 2>/dev/null <"$1" || true; }

# Mailman's runners write warnings and library chatter to stdout/stderr:
# keep that in a file so that this container's output stays readable.
# What `mailman start --force` does, without its own initialisation (a whole
# Mailman start-up, about 1.7 CPU-seconds, before the master even begins):
# the master watcher, run as list from Mailman's var folder.
MAILMAN_STDIO=/var/log/mailman3/stdio.log
# Where this start's lines begin in mailman.log (a restarted container has older ones).
MAILMAN_LOG_OFFSET=$(stat -c %s /var/log/mailman3/mailman.log 2>/dev/null || echo 0)
log "starting Mailman 3's master (as list; runner output in $MAILMAN_STDIO)"
(cd /var/lib/mailman3 && exec runuser -u list -- env MAILMAN_VAR_DIR=/var/lib/mailman3 \
    /usr/bin/python3 /usr/lib/mailman3/bin/master --force -C "$MAILMAN_CFG") </dev/null >>"$MAILMAN_STDIO" 2>&1 &
MAILMAN_LAUNCHER=$!
if [[ "$MAILFLOW_WEB" == 1 ]]; then
    # uwsgi's master drops to www-data and also runs Django-Q's qcluster
    # (HyperKitty's background tasks); its log is /var/log/mailman3/web/mailman-web.log.
    log "starting the web side (uwsgi --ini /etc/mailman3/uwsgi.ini: Postorius, HyperKitty)"
    uwsgi --ini /etc/mailman3/uwsgi.ini </dev/null >>/var/log/mailman3/web/uwsgi-stdio.log 2>&1 &
    UWSGI_PID=$!
fi

# ---------------------------------------------------------------- the rest, meanwhile
log "rendering /etc/exim4/exim4.conf (list domains $MAILFLOW_LIST_DOMAINS, probe domain $MAILFLOW_PROBE_DOMAIN, sink $MAILFLOW_SINK_PROTOCOL to $MAILFLOW_SINK_HOST:$MAILFLOW_SINK_PORT${MAILFLOW_MAILBOX_HOST:+, a copy over LMTP to the mailbox at $MAILFLOW_MAILBOX_HOST:$MAILFLOW_MAILBOX_PORT})"
render "$SHARE/exim4.conf" /etc/exim4/exim4.conf 0644 root:root \
    "LIST_DOMAINS=$MAILFLOW_LIST_DOMAINS" "PROBE_DOMAIN=$MAILFLOW_PROBE_DOMAIN" \
    "SINK_HOST=$MAILFLOW_SINK_HOST" "SINK_PORT=$MAILFLOW_SINK_PORT" "SINK_PROTOCOL=$MAILFLOW_SINK_PROTOCOL" \
    "MAILBOX_HOST=$MAILFLOW_MAILBOX_HOST" "MAILBOX_PORT=$MAILFLOW_MAILBOX_PORT" </dev/null \
    || die "could not render /etc/exim4/exim4.conf"
exim4 -bV >/dev/null || die "exim rejects /etc/exim4/exim4.conf (see exim4 -bV)"

log "loading ferm (old host $MAILFLOW_OLD_HOST_ADDR, bastion $MAILFLOW_BASTION_ADDR)"
if ! ferm --def "\$OLD_HOST=($MAILFLOW_OLD_HOST_ADDR)" --def "\$BASTION=($MAILFLOW_BASTION_ADDR)" \
        /etc/ferm/ferm.conf; then
    die "ferm could not load /etc/ferm/ferm.conf; the container needs CAP_NET_ADMIN (docker run --cap-add NET_ADMIN)"
fi

log "starting exim (exim4 -bd -q5s)"
exim4 -bd -q5s || die "exim4 -bd did not start (see /var/log/exim4/mainlog and paniclog)"

if [[ "$MAILFLOW_WEB" == 1 ]]; then
    log "starting nginx (80, 443: Postorius at /postorius/, HyperKitty at /hyperkitty/)"
else
    log "starting nginx (80, 443: a plain page; MAILFLOW_WEB=1 serves Postorius and HyperKitty)"
fi
nginx || die "nginx did not start"

# sshd for the user mailflow, with the one key the harness made for this
# run, and a host key made now (none is baked into the image); without a key
# a stub holds 22, as for 783 and 873.
STUBS=("783=SPAMD/1.5 0 EX_OK mailflow-stub" "873=@RSYNCD: 31.0 mailflow-stub")
if [[ -n "$MAILFLOW_SSH_AUTHORIZED_KEY" ]]; then
    log "starting sshd on 22 (user mailflow, one authorized key; ferm lets only the bastion in)"
    mkdir -p /run/sshd /etc/ssh/authorized_keys
    printf '%s\n' "$MAILFLOW_SSH_AUTHORIZED_KEY" >/etc/ssh/authorized_keys/mailflow
    chmod 0644 /etc/ssh/authorized_keys/mailflow
    [[ -e /etc/ssh/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C '' -f /etc/ssh/ssh_host_ed25519_key
    /usr/sbin/sshd -t || die "sshd rejects its configuration (see /usr/sbin/sshd -t)"
    /usr/sbin/sshd -D -e </dev/null >>/var/log/sshd.log 2>&1 &
    SSHD_PID=$!
else
    STUBS=("22=SSH-2.0-mailflow-stub" "${STUBS[@]}")
fi
log "starting stub listeners (${STUBS[*]%%=*})"
python3 /usr/local/lib/mailflow/listeners.py "${STUBS[@]}" &

# What the first probe does not need runs at nice 10 until the container is
# ready and those runners have started (at most 20 s more), then at 0 again:
# on a busy machine the runners and the web app the first probe needs come
# up first, the others' start does not compete with the harness's first
# REST calls, and nothing stays starved afterwards. Runners appear as the
# master forks them; qcluster's workers are forked from it and inherit its
# priority. Giving a process its priority back takes CAP_SYS_NICE (docker
# run --cap-add SYS_NICE, as the harness does); without it nothing is
# lowered in the first place.
DEPRIORITIZED='--runner=(bounces|command|digest|retry|task):|manage\.py qcluster'
# Until Mailman's REST API answers, the runners and web app the first probe
# needs run at nice 10 too: the REST runner, which the harness provisions
# the lists through, then starts about twice as fast, and the others finish
# starting while the lists are made.
AFTER_REST='--runner=(in|lmtp|pipeline|out|archive|virgin):|^uwsgi --ini'
READY_FLAG=/run/mailflow/ready
REST_FLAG=/run/mailflow/rest-answered
rm -f "$READY_FLAG" "$REST_FLAG"
can_renice() { ( renice -n -1 -p "$BASHPID" >/dev/null 2>&1 ); }
deferred_runners_started() {
    local started
    started=$(tail -c "+$(( MAILMAN_LOG_OFFSET + 1 ))" /var/log/mailman3/mailman.log 2>/dev/null \
        | grep -c -E '\) (bounces|command|digest|retry|task) runner started\.' || true)
    (( started >= 5 ))
}
# lower PATTERN SEEN: nice 10 for each process matching PATTERN that is not
# yet in the associative array named SEEN (then noted there).
lower() {
    local -n seen=$2
    local pid
    for pid in $(pgrep -f -- "$1" 2>/dev/null || true); do
        [[ -n "${seen[$pid]:-}" ]] && continue
        renice -n 10 -p "$pid" >/dev/null 2>&1 || true
        seen[$pid]=1
    done
}
# restore PATTERN: nice 0 again for every process matching PATTERN.
restore() {
    local pids
    pids=$(pgrep -f -- "$1" 2>/dev/null || true)
    [[ -z "$pids" ]] || renice -n 0 -p $pids >/dev/null 2>&1 || true
}
deprioritize() {
    local i ready_at= rest_done=
    local -A reniced=() held=()
    for (( i = 0; i < 900; i++ )); do
        if [[ -z "$rest_done" ]]; then
            if [[ -e "$REST_FLAG" ]] || (( i >= 300 )); then
                rest_done=1
                restore "$AFTER_REST"
            else
                lower "$AFTER_REST" held
            fi
        fi
        if [[ -e "$READY_FLAG" ]]; then
            [[ -n "$ready_at" ]] || ready_at=$i
            if (( i - ready_at >= 100 )) || deferred_runners_started; then
                break
            fi
        fi
        lower "$DEPRIORITIZED" reniced
        sleep 0.2
    done
    restore "$DEPRIORITIZED"
}
if can_renice; then
    deprioritize &
else
    log "no CAP_SYS_NICE: every service starts at the same priority (--cap-add SYS_NICE lets what the first probe needs go first)"
fi

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
    # uwsgi's master reloads on SIGTERM; SIGINT shuts it down.
    [[ -n "$UWSGI_PID" ]] && kill -INT "$UWSGI_PID" 2>/dev/null || true
    nginx -s quit 2>/dev/null || true
    for (( i = 0; i < 30; i++ )); do
        alive "$(pid_from "$MAILMAN_PID_FILE")" || break
        sleep 0.2
    done
    exit 0
}
trap stop_all TERM INT

# ---------------------------------------------------------------- ready
# greets PORT: something on 127.0.0.1:PORT answers with a 220 greeting
# (exim on 25, Mailman's LMTP server on 8024).
greets() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r -t 3 line <&3 || exit 1
        printf 'QUIT\r\n' >&3 || true
        [[ "$line" == 220* ]]
    ) 2>/dev/null
}
# sshd answers with its banner (only asked when it was started).
ssh_answers() {
    (
        exec 3<>/dev/tcp/127.0.0.1/22 || exit 1
        IFS= read -r -t 3 line <&3 || exit 1
        [[ "$line" == SSH-* ]]
    ) 2>/dev/null
}
rest_answers() {
    local pw=${REST_PASSWORD//\\/\\\\}
    pw=${pw//\"/\\\"}
    printf 'user = "restadmin:%s"\n' "$pw" \
        | curl -fsS -o /dev/null --max-time 5 -K - http://127.0.0.1:8001/3.1/system/versions 2>/dev/null
}

# Mailman's runners that the scenarios' first probes pass through (in,
# pipeline, out; archive for the archive steps and virgin for notices; LMTP
# answers on its own) have logged "<name> runner started." since this start.
# Ready before the archive and virgin runners, a first probe was delivered
# but missed its archive window on a busy machine.
MAILMAN_LOG=/var/log/mailman3/mailman.log
runners_started() {
    local started
    started=$(tail -c "+$(( MAILMAN_LOG_OFFSET + 1 ))" "$MAILMAN_LOG" 2>/dev/null | grep -c -E '\) (in|pipeline|out|archive|virgin) runner started\.' || true)
    (( started >= 5 ))
}

# HyperKitty answers through nginx (a list-less archive index is a 200 page).
web_answers() {
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 http://127.0.0.1/hyperkitty/ 2>/dev/null)" == 200 ]]
}

# check_alive: dies unless exim's daemon and Mailman's master (and, with the
# web side, uwsgi's master and nginx) are running (or the maintenance file
# says one is down on purpose).
check_alive() {
    [[ -e "$MAINTENANCE" ]] && return 0
    local pid
    pid=$(pid_from "$EXIM_PID_FILE")
    if ! alive "$pid"; then
        tail -n 20 /var/log/exim4/paniclog 2>/dev/null || true
        die "exim daemon (pid ${pid:-unknown, pid file gone}) is not running; see /var/log/exim4/mainlog"
    fi
    pid=$(pid_from "$MAILMAN_PID_FILE")
    # Until it has initialised, Mailman's master has no pid file: its
    # launcher (runuser, which waits for it) stands for it then. On a
    # starved machine (containers weighted low, builds beside them) that
    # took over 45 s, and a fixed grace killed healthy starts.
    if [[ -z "$pid" && ! -e "$READY_FLAG" ]] && alive "$MAILMAN_LAUNCHER"; then
        pid=$MAILMAN_LAUNCHER
    fi
    if ! alive "$pid"; then
        tail -n 20 /var/log/mailman3/mailman.log 2>/dev/null || true
        die "Mailman's master runner (pid ${pid:-unknown, pid file gone}) is not running; see /var/log/mailman3/mailman.log"
    fi
    if [[ "$MAILFLOW_WEB" == 1 ]]; then
        if ! alive "$UWSGI_PID"; then
            tail -n 20 /var/log/mailman3/web/mailman-web.log /var/log/mailman3/web/uwsgi-stdio.log 2>/dev/null || true
            die "uwsgi (mailman3-web: Postorius, HyperKitty; pid ${UWSGI_PID:-unknown}) is not running; see /var/log/mailman3/web/mailman-web.log"
        fi
        pid=$(pid_from "$NGINX_PID_FILE")
        if ! alive "$pid"; then
            tail -n 20 /var/log/nginx/error.log 2>/dev/null || true
            die "nginx (pid ${pid:-unknown, pid file gone}) is not running; see /var/log/nginx/error.log"
        fi
    fi
    if [[ -n "$SSHD_PID" ]] && ! alive "$SSHD_PID"; then
        tail -n 20 /var/log/sshd.log 2>/dev/null || true
        die "sshd (pid $SSHD_PID) is not running; see /var/log/sshd.log"
    fi
}

# HyperKitty's first request can take seconds (nginx holds it until uwsgi's
# worker has loaded Django), so it is polled on its own, beside the loop
# below, which must not wait on it: it writes when it first answered.
WEB_ANSWERED=/run/mailflow/web-answered
rm -f "$WEB_ANSWERED"
if [[ "$MAILFLOW_WEB" == 1 ]]; then
    (
        until web_answers; do sleep 0.2; done
        since_start >"$WEB_ANSWERED.tmp" && mv "$WEB_ANSWERED.tmp" "$WEB_ANSWERED"
    ) &
fi

# During start-up the launcher's own liveness is checked on every pass
# (below); the pid files are only required after this grace, and Mailman's
# only once it exists or the container is ready (check_alive). 5 s without
# the web side was too short on a loaded 2-core machine: the master had not
# written its pid file yet and a healthy start was killed.
if [[ "$MAILFLOW_WEB" == 1 ]]; then STARTUP_GRACE=60; else STARTUP_GRACE=45; fi
# When each first answered, in seconds since this script started.
EXIM_AT= MASTER_AT= REST_AT= LMTP_AT= RUNNERS_AT= WEB_AT=
started=$SECONDS
for (( ; ; )); do
    if [[ -z "$EXIM_AT" ]] && greets 25; then EXIM_AT=$(since_start); fi
    if [[ -z "$MASTER_AT" ]] && alive "$(pid_from "$MAILMAN_PID_FILE")"; then MASTER_AT=$(since_start); fi
    if [[ -z "$REST_AT" ]] && rest_answers; then
        REST_AT=$(since_start)
        # The harness provisions the lists through REST from here on,
        # while the runners and the web side finish starting.
        echo "mailflow-lists rest answering"
        touch "$REST_FLAG"
    fi
    if [[ -z "$LMTP_AT" ]] && greets 8024; then LMTP_AT=$(since_start); fi
    if [[ -z "$RUNNERS_AT" ]] && runners_started; then RUNNERS_AT=$(since_start); fi
    if [[ -z "$WEB_AT" && -s "$WEB_ANSWERED" ]]; then WEB_AT=$(<"$WEB_ANSWERED"); fi
    if [[ -n "$EXIM_AT" && -n "$REST_AT" && -n "$LMTP_AT" && -n "$RUNNERS_AT" ]] && [[ "$MAILFLOW_WEB" == 0 || -n "$WEB_AT" ]] \
        && { [[ -z "$SSHD_PID" ]] || ssh_answers; }; then
        break
    fi
    if (( SECONDS - started >= READY_TIMEOUT )); then
        die "not ready after ${READY_TIMEOUT}s (answering: exim on 25 ${EXIM_AT:-no}, Mailman REST on 127.0.0.1:8001 ${REST_AT:-no}, LMTP on 127.0.0.1:8024 ${LMTP_AT:-no}, in/pipeline/out/archive/virgin runners ${RUNNERS_AT:-no}, HyperKitty on 80 ${WEB_AT:-no})"
    fi
    if ! alive "$MAILMAN_LAUNCHER" && [[ ! -e "$MAINTENANCE" ]]; then
        tail -n 20 "$MAILMAN_STDIO" 2>/dev/null || true
        die "Mailman's master exited during start-up (see $MAILMAN_STDIO and /var/log/mailman3/mailman.log)"
    fi
    # Mailman's master writes its pid file once it has initialised; on a
    # busy machine that was seen to take well over 5 s.
    if (( SECONDS - started >= STARTUP_GRACE )); then
        check_alive
    fi
    sleep 0.2
done
# One line for the harness's start-up report: seconds from this script's
# start until each service first answered.
echo "mailflow-lists phases: exim=${EXIM_AT}s master=${MASTER_AT:-?}s rest=${REST_AT}s lmtp=${LMTP_AT}s runners=${RUNNERS_AT}s${WEB_AT:+ web=${WEB_AT}s}"
touch "$READY_FLAG"
echo "mailflow-lists ready"

# ---------------------------------------------------------------- watchdog
while :; do
    check_alive
    sleep 2 &
    wait $! || true
done
