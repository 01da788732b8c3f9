# shellcheck shell=bash
# Helpers shared by scripts/up, scripts/test and scripts/smoke-up.
# Source it; it is not meant to be run. It defines functions only and leaves
# the caller's shell options (set -euo pipefail) alone.

# The name printed in front of every message, e.g. "[up]".
SCRIPT_NAME="${SCRIPT_NAME:-$(basename "$0")}"

log() { printf '[%s] %s\n' "$SCRIPT_NAME" "$*"; }
warn() { printf '[%s] warning: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() {
    printf '[%s] error: %s\n' "$SCRIPT_NAME" "$*" >&2
    exit 1
}

# apt_install PKG...: installs Debian packages without prompting. Another
# apt/dpkg run may hold the lock (e.g. unattended upgrades on a fresh CI
# machine), so apt waits for the lock and the whole thing is retried a few
# times before giving up.
apt_install() {
    local -a sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "need root or sudo to install: $*"
        sudo=(sudo -n)
    fi
    command -v apt-get >/dev/null || die "apt-get not found; install by hand: $*"
    local -a apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive
        apt-get -q -o DPkg::Lock::Timeout=120)
    local attempt
    for attempt in 1 2 3 4 5; do
        log "installing $* (apt-get, attempt $attempt/5)"
        if "${apt[@]}" update && "${apt[@]}" install -y --no-install-recommends "$@"; then
            return 0
        fi
        warn "apt-get failed (dpkg lock held or network hiccup?); retrying in $((attempt * 5))s"
        sleep $((attempt * 5))
    done
    die "could not install: $*"
}

# ensure_commands CMD:PACKAGE...: installs, in one apt run, the packages of
# the commands that are not on PATH. Does nothing (and no apt) when all are.
ensure_commands() {
    local pair cmd pkg
    local -a missing=()
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        command -v "$cmd" >/dev/null || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    # Two commands may come from one package; install each package once.
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    apt_install "${missing[@]}"
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || die "${pair%%:*} still missing after installing ${pair#*:}"
    done
}

# pip_into VENV PIP_ARGS...: creates the virtualenv VENV (installing
# python3-venv when it is missing) and pip-installs PIP_ARGS into it.
pip_into() {
    local venv=$1
    shift
    python3 -m venv "$venv" || {
        apt_install python3-venv
        python3 -m venv "$venv"
    }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}

# port_in_use PORT: true when something accepts TCP connections on
# 127.0.0.1:PORT.
port_in_use() {
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash
    timeout 2 bash -c ': <>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# alive PID: true while PID runs. A zombie (exited, not yet reaped) counts as
# gone; `kill -0` alone would still succeed on it. The stat file is read with
# the `read` builtin: a forked reader lets bash reap the child meanwhile.
alive() {
    local pid=$1 stat
    kill -0 "$pid" 2>/dev/null || return 1
    [[ -d /proc/self ]] || return 0 # no /proc: trust kill -0
    { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1 # just vanished
    stat=${stat##*) }                                           # skip "pid (comm) "
    [[ ${stat%% *} != Z ]]
}

# Health checks, each true once its target answers on 127.0.0.1 (2 s at
# most per try). redis_answers PORT: PING gets PONG. zk_answers PORT:
# ZooKeeper's "ruok" gets "imok". http_ok URL: GET answers 200.
redis_answers() { [[ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]; }

zk_answers() {
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash
    [[ "$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf ruok >&3; cat <&3' _ "$1" 2>/dev/null)" == imok ]]
}

http_ok() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" == 200 ]]; }

# pick_ports N: prints N distinct free ports in 20000-31999, below Linux's
# ephemeral range and away from the stack's defaults.
pick_ports() {
    local -A taken=([3100]=1 [5000]=1 [5300]=1 [5400]=1 [5500]=1 [5600]=1)
    local -a ports=()
    local port tries=0
    while ((${#ports[@]} < $1)); do
        ((++tries < 1000)) || die "no free ports found"
        port=$((20000 + RANDOM % 12000))
        [[ -z ${taken[$port]:-} ]] || continue
        taken[$port]=1
        port_in_use "$port" || ports+=("$port")
    done
    echo "${ports[@]}"
}

# up_on_spare_ports RUN_DIR LOG TIMEOUT: starts scripts/up in the background
# on spare ports (three data nodes of 32, 48 and 64 MB, no RESP port), its
# output in LOG, and waits up to TIMEOUT s (a first release build included)
# for it to be ready. Sets UP_PID and DLB_URL; returns 1 with a warning when
# up exits first or is not ready in time (the caller stops UP_PID).
up_on_spare_ports() {
    local run_dir=$1 up_log=$2 timeout=$3 start=$SECONDS
    local -a ports
    read -r -a ports <<<"$(pick_ports 7)"
    DLB_URL="http://127.0.0.1:${ports[0]}"
    log "scripts/up: balancer $DLB_URL, three data nodes"
    DLB_PORT=${ports[0]} INDEX_PORT=${ports[1]} PROBE_PORT=${ports[2]} ZK_PORT=${ports[3]} \
        NODE_PORTS="${ports[4]} ${ports[5]} ${ports[6]}" NODE_MAXMEMORY="32mb 48mb 64mb" \
        RESP_PORT='' RUN_DIR="$run_dir" bash "$REPO_ROOT/scripts/up" </dev/null >"$up_log" 2>&1 &
    UP_PID=$!
    until [[ -e $run_dir/ready ]]; do
        alive "$UP_PID" || { warn "scripts/up exited before it was ready" && return 1; }
        ((SECONDS - start < timeout)) || { warn "scripts/up not ready after ${timeout}s" && return 1; }
        sleep 0.2
    done
    log "stack ready after $((SECONDS - start))s"
}
