#!/usr/bin/env bash
# Helpers sourced by scripts/*.sh. Callers set `set -euo pipefail` first.
#
# The local services are those the project's machines and CI run: PostgreSQL
# on 127.0.0.1:5432 (trust auth), Redis on 127.0.0.1:6379, NATS with JetStream
# on 127.0.0.1:4222. Each ensure_* function leaves its service answering, and
# installs it from Debian's packages first when it is missing.
#
# DRY_RUN=1 makes `run` print commands instead of running them; read-only
# probes (is Postgres up? which sqlx-cli is installed?) still run. Paths are
# relative to the repository root, where every script changes directory first.

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    echo "scripts/lib.sh is sourced by the other scripts; run scripts/dev.sh or scripts/test.sh" >&2
    exit 2
fi

# Pinned so every machine and CI check the .sqlx cache with the same tool.
readonly SQLX_CLI_VERSION=0.9.0
readonly CARGO_DENY_VERSION=0.20.2
# How long a service that was just started gets to answer.
readonly SERVICE_START_TIMEOUT_SECS=30

# Prefix for commands that need root (apt-get, starting system services):
# empty when already root, as on CI and the project's machines.
if ((EUID == 0)); then
    AS_ROOT=()
else
    AS_ROOT=(sudo)
fi

# Progress goes to stderr so a script's stdout stays usable in pipes.
log() {
    printf '%s\n' "$*" >&2
}

# A failure the user must act on: one line saying what and how, then stop.
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Headers make the long output of a full check easy to scan for the failing step.
step() {
    printf '\n==> %s\n' "$*" >&2
}

# One place to ask whether commands should only be shown.
is_dry_run() {
    [[ "${DRY_RUN:-0}" == 1 ]]
}

# Prints a command the way `set -x` would, quoted so it can be pasted back into a shell.
show() {
    local word line="+"
    for word in "$@"; do
        if [[ "$word" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            line+=" $word"
        else
            line+=" ${word@Q}"
        fi
    done
    printf '%s\n' "$line" >&2
}

# Shows every external command before it runs, and only shows it under DRY_RUN=1.
run() {
    show "$@"
    if is_dry_run; then
        return 0
    fi
    "$@"
}

# Polls a probe until it succeeds, so scripts never race a service that is still starting.
wait_until() {
    local timeout_secs=$1
    shift
    if is_dry_run; then
        return 0
    fi
    local deadline=$((SECONDS + timeout_secs))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.5
    done
}

# apt-get update is slow and needed only once per script run, before the first install.
APT_UPDATED=0
apt_install() {
    if ((EUID != 0)) && ! command -v sudo >/dev/null; then
        die "installing $* needs root: run as root or install sudo"
    fi
    if ((APT_UPDATED == 0)); then
        run "${AS_ROOT[@]}" apt-get update
        APT_UPDATED=1
    fi
    run "${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

# Accepting connections, not merely listening: what the API and tests need.
postgres_answers() {
    command -v pg_isready >/dev/null && pg_isready -q -t 2 -h 127.0.0.1 -p 5432
}

# PING proves the server is serving commands (not loading or refusing).
redis_answers() {
    command -v redis-cli >/dev/null &&
        [[ "$(timeout 5 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]]
}

# NATS greets every client with an INFO line; no client binary is needed to see it.
nats_answers() {
    (
        exec 3<>/dev/tcp/127.0.0.1/4222
        IFS= read -r -t 2 greeting <&3
        [[ "$greeting" == INFO* ]]
    ) 2>/dev/null
}

# The newest installed cluster version, so the start command works on any Debian release.
postgres_version() {
    local dirs=(/etc/postgresql/*/main)
    if [[ ! -d "${dirs[0]}" ]]; then
        # Under DRY_RUN the package may only have been "installed" on screen.
        is_dry_run && { echo VERSION; return 0; }
        die "no PostgreSQL cluster in /etc/postgresql/*/main; reinstall the postgresql package"
    fi
    printf '%s\n' "${dirs[@]}" | awk -F/ '{print $4}' | sort -V | tail -n 1
}

# Tests and the API need Postgres on 127.0.0.1:5432; start (or install) it when it is down.
ensure_postgres() {
    if postgres_answers; then
        log "postgres answers on 127.0.0.1:5432"
        return 0
    fi
    if ! command -v pg_ctlcluster >/dev/null || ! command -v pg_isready >/dev/null; then
        apt_install postgresql
    fi
    local version
    version="$(postgres_version)"
    log "starting postgres $version"
    run "${AS_ROOT[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_until "$SERVICE_START_TIMEOUT_SECS" postgres_answers ||
        die "postgres did not answer on 127.0.0.1:5432 within ${SERVICE_START_TIMEOUT_SECS}s; see /var/log/postgresql/"
}

# The job queue and the login rate limit live in Redis; start (or install) it when it is down.
ensure_redis() {
    if redis_answers; then
        log "redis answers on 127.0.0.1:6379"
        return 0
    fi
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        apt_install redis-server
    fi
    log "starting redis"
    # Nothing persisted: local and test data are disposable.
    run "${AS_ROOT[@]}" redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
        --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_until "$SERVICE_START_TIMEOUT_SECS" redis_answers ||
        die "redis did not answer on 127.0.0.1:6379 within ${SERVICE_START_TIMEOUT_SECS}s; see /var/log/redis/ci.log"
}

# Check results travel to the API over NATS; start (or install) it when it is down.
ensure_nats() {
    if nats_answers; then
        log "nats answers on 127.0.0.1:4222"
        return 0
    fi
    if [[ ! -x /usr/sbin/nats-server ]]; then
        apt_install nats-server
    fi
    log "starting nats"
    run "${AS_ROOT[@]}" start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
    wait_until "$SERVICE_START_TIMEOUT_SECS" nats_answers ||
        die "nats did not answer on 127.0.0.1:4222 within ${SERVICE_START_TIMEOUT_SECS}s; see /var/log/nats-server.log"
}

# Every script that talks to the stack needs all three, in this order.
ensure_services() {
    ensure_postgres
    ensure_redis
    ensure_nats
}

# Installs a pinned crate with `cargo install` unless that exact version is
# there. Usage: ensure_cargo_tool CRATE VERSION "VERSION COMMAND" [INSTALL ARGS...]
ensure_cargo_tool() {
    local crate=$1 version=$2 probe=$3 found
    shift 3
    found="$($probe --version 2>/dev/null || true)"
    if [[ "$found" == "$crate $version" ]]; then
        log "$found is installed"
        return 0
    fi
    log "installing $crate $version (found: ${found:-none})"
    run cargo install "$crate" --version "$version" --locked "$@"
}

# `cargo sqlx prepare --check` compares against what this exact version generates.
ensure_sqlx_cli() {
    ensure_cargo_tool sqlx-cli "$SQLX_CLI_VERSION" sqlx \
        --no-default-features --features postgres,rustls,sqlx-toml
}

# The same version as the CI workflow's supply-chain job.
ensure_cargo_deny() {
    ensure_cargo_tool cargo-deny "$CARGO_DENY_VERSION" "cargo deny"
}

# nginx and envsubst come from Debian's packages; the web front needs both.
ensure_nginx() {
    local missing=()
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v envsubst >/dev/null || missing+=(gettext-base)
    if ((${#missing[@]} > 0)); then
        apt_install "${missing[@]}"
    fi
}

# Fly's private DNS in `cargo xtask fly-net`: Debian's dnsmasq, without the
# system service the dnsmasq package would start.
ensure_dnsmasq() {
    command -v dnsmasq >/dev/null || [[ -x /usr/sbin/dnsmasq ]] || apt_install dnsmasq-base
}

# Node.js and npm are on these machines; the front end's own packages are
# installed from its lock file, only when they changed.
ensure_frontend_modules() {
    command -v npm >/dev/null || apt_install nodejs npm
    if [[ ! -d frontend/node_modules ]] || [[ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]]; then
        run npm --prefix frontend ci --no-audit --no-fund
    else
        log "frontend packages are installed"
    fi
}

# Debian's Chromium, which the browser tests drive through playwright-core.
ensure_chromium() {
    command -v chromium >/dev/null || apt_install chromium
}

# What the benchmark measures with and runs of its own, even when the shared
# Redis and NATS answer.
ensure_bench_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v redis-server >/dev/null || missing+=(redis-server)
    [[ -x /usr/sbin/nats-server ]] || missing+=(nats-server)
    # Debian's pgbench is a wrapper that needs the real one behind it
    # (postgresql-NN on bookworm, postgresql-client-NN later).
    pgbench --version >/dev/null 2>&1 || missing+=(postgresql-client postgresql-contrib)
    if ((${#missing[@]} > 0)); then
        apt_install "${missing[@]}"
    fi
}

# The doors (dev.sh, test.sh) install what a fresh machine lacks, then hand
# every argument to their cargo xtask task, which owns the options. Of
# those, the door reads only --help (it says what it installs, then the
# task's --help follows) and --dry-run (the installs are shown, not run).
# Usage: door TASK "what it installs" INSTALL_FUNCTION "$@"
door() {
    local task=$1 installs=$2 install=$3 argument help=0
    shift 3
    for argument in "$@"; do
        case "$argument" in
        -h | --help) help=1 ;;
        --dry-run) export DRY_RUN=1 ;;
        esac
    done
    if ((help == 1)); then
        printf '%s: installs what is missing (%s), then runs cargo xtask %s:\n\n' \
            "scripts/$(basename "$0")" "$installs" "$task"
    else
        step "Installs: $installs"
        "$install"
    fi
    # Compiled from the committed .sqlx cache: no database needed to build
    # (the .sqlx check turns offline mode off for its own build).
    export SQLX_OFFLINE=true
    exec cargo xtask "$task" "$@"
}
