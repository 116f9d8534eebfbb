# Shared by scripts/bench-*: peer tools installed on demand, timing,
# medians, waiting for a port, and killing what a script started.
# Source it after `cd` to the repository's root.

POSTFIX_ROOT=${POSTFIX_ROOT:-/opt/postfix}
RUNS=${RUNS:-3}
# The system's python3 (where apt puts python3-aiosmtpd), not a pyenv shim.
SYSTEM_PYTHON=/usr/bin/python3

# need_apt PACKAGE...: installs the Debian packages that are missing.
need_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    (( ${#missing[@]} == 0 )) && return 0
    echo "installing ${missing[*]}" >&2
    local sudo=; (( EUID == 0 )) || sudo=sudo
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
        || { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
}

# need_postfix_tools: smtp-source and smtp-sink from Debian's postfix
# package, extracted under $POSTFIX_ROOT, never installed (installing postfix
# would replace exim).
need_postfix_tools() {
    SOURCE=$POSTFIX_ROOT/usr/sbin/smtp-source
    SMTP_SINK=$POSTFIX_ROOT/usr/sbin/smtp-sink
    export LD_LIBRARY_PATH=$POSTFIX_ROOT/usr/lib/postfix${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    [[ -x "$SOURCE" && -x "$SMTP_SINK" ]] && return 0
    echo "extracting smtp-source and smtp-sink from postfix's .deb into $POSTFIX_ROOT" >&2
    local tmp sudo=; (( EUID == 0 )) || sudo=sudo
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download postfix >&2) || { echo "apt-get download postfix failed" >&2; exit 2; }
    $sudo mkdir -p "$POSTFIX_ROOT"
    $sudo dpkg -x "$tmp"/postfix_*.deb "$POSTFIX_ROOT"
    rm -rf "$tmp"
}

# Processes this script started, killed on exit.
BENCH_PIDS=()
bench_cleanup() { local p; for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap bench_cleanup EXIT

wait_port() { # HOST PORT
    local i
    for (( i = 0; i < 200; i++ )); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on $1:$2" >&2
    exit 1
}

# seconds COMMAND...: runs it (output to /dev/null) and prints its wall time.
seconds() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null || { echo "failed: $*" >&2; return 1; }
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

# median VALUE...
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# ratio A B: A / B to two places.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

load_line() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"; }
