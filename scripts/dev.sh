#!/usr/bin/env bash
# Brings the local stack up: Postgres, Redis and NATS on 127.0.0.1, then the
# api (migrated, answering /api/ready), the worker, and nginx serving the
# built dashboard, all from this checkout.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/dev.sh [--detach | --stop] [--dry-run] [--help]

Brings the local stack up, from any directory:
  1. Postgres, Redis and NATS answer on 127.0.0.1 (installed and started if needed)
  2. cargo build -p api -p worker (offline, from the committed .sqlx cache), and
     the dashboard (npm ci when its lock file changed, then npm run build)
  3. the database `beacon` exists (when DATABASE_URL is the default) and is migrated
  4. a NATS server of its own on NATS_PORT, from docker/nats/nats.conf (the
     configuration Fly runs): the api and the worker sign in as their own
     users, limited to their subjects, as in production
  5. `api serve` runs until /api/ready answers 200, logging to .artifacts/dev/api.log
  6. `worker` runs until its /ready answers 200, logging to .artifacts/dev/worker.log;
     locally it may check private addresses (ALLOW_PRIVATE_TARGETS=true), so a
     monitor can watch something on localhost
  7. nginx on WEB_PORT, rendered from docker/nginx/default.conf.template (the
     config Fly runs), serving frontend/dist and proxying /api/ to the api

Open the printed URL. Then it waits: Ctrl-C (or SIGTERM) stops everything gracefully and waits.

Options:
  --detach    leave the processes running in the background and return
  --stop      stop what an earlier --detach left running
  --dry-run   print the commands instead of running them (read-only probes still run)
  -h, --help  show this help

Environment (defaults in brackets):
  PORT          api HTTP port [8080]
  METRICS_PORT  api Prometheus port [9091]
  WORKER_PORT   worker /health, /ready, /metrics port [9092]
  WEB_PORT      the dashboard, through nginx [8000]
  NATS_PORT     this stack's NATS [4223]; its monitoring port is NATS_PORT + 4000
  DATABASE_URL  [postgres://postgres@127.0.0.1:5432/beacon]
  Every other variable in the README's configuration table reaches both as is.
EOF
}

MODE=foreground
while (($# > 0)); do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --detach) MODE=detach ;;
    --stop) MODE=stop ;;
    --dry-run) export DRY_RUN=1 ;;
    *)
        usage >&2
        echo "error: unknown option: $1" >&2
        exit 2
        ;;
    esac
    shift
done

cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib.sh

readonly DEFAULT_DATABASE_URL=postgres://postgres@127.0.0.1:5432/beacon
# Exported so the api and the URLs printed here agree.
export PORT="${PORT:-8080}"
export METRICS_PORT="${METRICS_PORT:-9091}"
export WORKER_PORT="${WORKER_PORT:-9092}"
WEB_PORT="${WEB_PORT:-8000}"
export DATABASE_URL="${DATABASE_URL:-$DEFAULT_DATABASE_URL}"
# Development only: lets local monitors watch localhost. Production refuses it.
export ALLOW_PRIVATE_TARGETS="${ALLOW_PRIVATE_TARGETS:-true}"
# Beside the machine's own NATS on 4222, which the tests use without users.
NATS_PORT="${NATS_PORT:-4223}"
readonly NATS_MONITOR_PORT=$((NATS_PORT + 4000))
readonly NATS_CLUSTER_PORT=6222
# Development passwords: this NATS listens on 127.0.0.1 only.
readonly NATS_DEV_PASSWORDS=(NATS_API_PASSWORD_1=dev-api NATS_WORKER_PASSWORD_1=dev-worker NATS_ROUTE_PASSWORD=dev-route)

readonly DEV_DIR=.artifacts/dev
readonly READY_TIMEOUT_SECS=60
# Longer than the api's own drain (SHUTDOWN_TIMEOUT_SECS, 20 s by default).
readonly STOP_TIMEOUT_SECS=30

target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$PWD/$target_dir"
# An absolute path, so `ps` shows which checkout a process belongs to (see running_pid).
readonly API_BIN="$target_dir/debug/api"
readonly WORKER_BIN="$target_dir/debug/worker"

# Names of the processes this run started, in start order.
STARTED=()
# Set once a --detach start succeeded, so the exit trap leaves the processes running.
KEEP_RUNNING=0

pid_file() { printf '%s/%s.pid\n' "$DEV_DIR" "$1"; }
log_file() { printf '%s/%s.log\n' "$DEV_DIR" "$1"; }

# A zombie has exited already; only its exit status is waiting to be collected.
process_alive() {
    local stat
    stat="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
    [[ "$stat" != *Z* ]]
}

process_gone() {
    ! process_alive "$1"
}

# A pid file can outlive its process and the pid be reused: only a live process
# whose command line names this checkout counts. Prints the pid.
running_pid() {
    local file pid
    file="$(pid_file "$1")"
    [[ -f "$file" ]] || return 1
    pid="$(<"$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    process_alive "$pid" || return 1
    [[ "$(ps -o args= -p "$pid" 2>/dev/null)" == *"$PWD/"* ]] || return 1
    printf '%s\n' "$pid"
}

# Starts one process of the stack in the background with its own log and pid file.
# Usage: start_process NAME COMMAND [ARGS...]
start_process() {
    local name=$1 pid log
    shift
    if pid="$(running_pid "$name")"; then
        die "$name is already running (pid $pid); stop it with scripts/dev.sh --stop"
    fi
    log="$(log_file "$name")"
    log "starting $name, logging to $log"
    # setsid: Ctrl-C reaches only this script, which stops the stack in order,
    # and a --detach'ed process survives the terminal closing.
    show setsid "$@"
    if is_dry_run; then
        return 0
    fi
    setsid "$@" >"$log" 2>&1 </dev/null &
    printf '%s\n' "$!" >"$(pid_file "$name")"
    STARTED+=("$name")
}

# Stops one process gracefully (SIGTERM, as Fly sends), killing it only if it will not stop.
stop_process() {
    local name=$1 pid
    if ! pid="$(running_pid "$name")"; then
        rm -f "$(pid_file "$name")"
        return 0
    fi
    log "stopping $name (pid $pid)"
    run kill -TERM "$pid"
    if ! wait_until "$STOP_TIMEOUT_SECS" process_gone "$pid"; then
        log "$name did not stop within ${STOP_TIMEOUT_SECS}s; killing it"
        run kill -KILL "$pid"
    fi
    # Collects the exit status when this shell started it; harmless otherwise.
    wait "$pid" 2>/dev/null || true
    rm -f "$(pid_file "$name")"
}

# Stops what this run started, last started first.
stop_started() {
    local i
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        stop_process "${STARTED[i]}"
    done
}

# Stops every process a detached run left behind.
stop_detached() {
    local file found=0
    for file in "$DEV_DIR"/*.pid; do
        [[ -e "$file" ]] || continue
        found=1
        stop_process "$(basename "$file" .pid)"
    done
    ((found)) || log "nothing is running (no pid files in $DEV_DIR)"
}

# Readiness, not liveness: the api is only useful once Postgres, Redis and NATS answer it.
wait_for_ready() {
    local name=$1 url=$2 deadline
    log "waiting for $url"
    if is_dry_run; then
        return 0
    fi
    deadline=$((SECONDS + READY_TIMEOUT_SECS))
    until [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url")" == 200 ]]; do
        if ! running_pid "$name" >/dev/null; then
            tail -n 20 "$(log_file "$name")" >&2 || true
            die "$name exited during start-up; its log is $(log_file "$name")"
        fi
        if ((SECONDS >= deadline)); then
            die "$url did not answer 200 within ${READY_TIMEOUT_SECS}s: $(curl -s -m 2 "$url" || true)"
        fi
        sleep 0.5
    done
}

# Only the default local database is created here; one named by DATABASE_URL is the user's to manage.
ensure_database() {
    if [[ "$DATABASE_URL" != "$DEFAULT_DATABASE_URL" ]]; then
        log "DATABASE_URL is set: not creating a database, only migrating it"
        return 0
    fi
    if [[ "$(psql -h 127.0.0.1 -U postgres -X -tAc "SELECT 1 FROM pg_database WHERE datname='beacon'")" == 1 ]]; then
        log "database beacon exists"
        return 0
    fi
    run createdb -h 127.0.0.1 -U postgres beacon
}

# Every process of the local stack, in start order. Adding one is a start and a wait here.
start_stack() {
    # A cluster of one: its route points at itself, which nats-server skips.
    start_process nats env "${NATS_DEV_PASSWORDS[@]}" NATS_PEERS=127.0.0.1 NATS_CONFIG="$PWD/docker/nats/nats.conf" \
        sh "$PWD/docker/nats/entrypoint.sh" -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" \
        --cluster "nats://route:dev-route@127.0.0.1:$NATS_CLUSTER_PORT"
    wait_for_ready nats "http://127.0.0.1:$NATS_MONITOR_PORT/healthz"
    start_process api env NATS_URL="nats://api-1:dev-api@127.0.0.1:$NATS_PORT" "$API_BIN" serve
    wait_for_ready api "http://127.0.0.1:$PORT/api/ready"
    start_process worker env NATS_URL="nats://worker-1:dev-worker@127.0.0.1:$NATS_PORT" "$WORKER_BIN"
    wait_for_ready worker "http://127.0.0.1:$WORKER_PORT/ready"
    render_nginx "$PWD/$DEV_DIR/nginx" "$WEB_PORT" "127.0.0.1:$PORT" "$PWD/frontend/dist"
    start_process web "$(command -v nginx || echo /usr/sbin/nginx)" \
        -p "$PWD/$DEV_DIR/nginx" -c "$PWD/$DEV_DIR/nginx/nginx.conf" -e "$PWD/$DEV_DIR/nginx/logs/error.log"
    wait_for_ready web "http://127.0.0.1:$WEB_PORT/api/ready"
}

# Whatever stops this script before a successful --detach also stops what it started.
on_exit() {
    if ((KEEP_RUNNING == 0)); then
        stop_started
    fi
}

print_endpoints() {
    cat <<EOF

Beacon is up. Open the dashboard: http://localhost:$WEB_PORT

  API       http://localhost:$PORT/api
  health    http://localhost:$PORT/api/health
  ready     http://localhost:$PORT/api/ready
  OpenAPI   http://localhost:$PORT/api/openapi.json
  metrics   http://localhost:$METRICS_PORT/metrics (api), http://localhost:$WORKER_PORT/metrics (worker)
  NATS      nats://127.0.0.1:$NATS_PORT (users api-1 and worker-1), monitoring http://localhost:$NATS_MONITOR_PORT
  logs      $(log_file api), $(log_file worker), $(log_file nats), $DEV_DIR/nginx/logs/
EOF
}

if [[ "$MODE" == stop ]]; then
    stop_detached
    exit 0
fi

step "Services: Postgres, Redis, NATS; nginx"
ensure_services
ensure_nginx

step "Build"
run env SQLX_OFFLINE=true cargo build -p api -p worker
ensure_frontend_modules
run npm --prefix frontend run build

step "Database"
ensure_database
run "$API_BIN" migrate run

step "Start"
mkdir -p "$DEV_DIR"
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_stack
print_endpoints

if is_dry_run; then
    exit 0
fi

if [[ "$MODE" == detach ]]; then
    KEEP_RUNNING=1
    echo
    echo "nats, api, worker and web run in the background; stop them with scripts/dev.sh --stop"
    exit 0
fi

echo
echo "Press Ctrl-C to stop."
# `wait -n` returns when a process exits by itself; a signal runs the traps above instead.
while true; do
    status=0
    wait -n || status=$?
    for name in "${STARTED[@]}"; do
        if ! running_pid "$name" >/dev/null; then
            tail -n 20 "$(log_file "$name")" >&2 || true
            die "$name exited by itself (status $status); its log is $(log_file "$name")"
        fi
    done
done
