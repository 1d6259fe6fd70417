#!/usr/bin/env bash
# The end-to-end run: the built SPA behind nginx (the same config template as
# on Fly), two api processes, a worker, and headless Chromium driving the
# dashboard. Part of scripts/test.sh.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/e2e.sh [--dry-run] [--help]

Builds the frontend, the api and the worker, then starts on 127.0.0.1:
  - a fresh database beacon_e2e_<random>, migrated with `api migrate run`
  - two api processes (two "machines") and one worker, on a queue of their own
  - two nginx servers rendered from docker/nginx/default.conf.template, one in
    front of each api
and runs the tests in frontend/e2e/ with Node's test runner: the web front's
headers and proxying, and Chromium (Debian's, via playwright-core) signing up,
adding a monitor and watching it turn green and red live in two tabs, one on
each api. Screenshots and logs go to .artifacts/e2e/. Everything it started
is stopped and the database dropped on exit.

Installs what is missing: nginx and chromium (Debian), the frontend's npm
packages (from frontend/package-lock.json).
USAGE
}

while (($# > 0)); do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
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

readonly ARTIFACTS=.artifacts/e2e
RUN_ID="$(date +%s)$$"
readonly RUN_ID
readonly DATABASE="beacon_e2e_$RUN_ID"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DATABASE"
export QUEUE_PREFIX="beacon:e2e:$RUN_ID"
export ALLOW_PRIVATE_TARGETS=true # the test's target listens on 127.0.0.1
export POLL_INTERVAL_MS=100
export SCHEDULER_TICK_MS=500
export RUST_LOG="${RUST_LOG:-info}"

PIDS=()

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Usage: start NAME COMMAND [ARGS...]; output goes to $ARTIFACTS/NAME.log.
start() {
    local name=$1
    shift
    show "$@"
    is_dry_run && return 0
    "$@" >"$ARTIFACTS/$name.log" 2>&1 &
    PIDS+=($!)
}

wait_for() {
    local url=$1
    log "waiting for $url"
    is_dry_run && return 0
    wait_until 60 curl -sf -o /dev/null -m 2 "$url" || die "$url did not answer 200 within 60 s; logs are in $ARTIFACTS"
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if ! is_dry_run; then
        psql -h 127.0.0.1 -U postgres -X -q -c "DROP DATABASE IF EXISTS \"$DATABASE\" WITH (FORCE)" || true
    fi
}

step "Services and tools"
ensure_services
ensure_nginx
command -v chromium >/dev/null || apt_install chromium
ensure_frontend_modules

step "Build"
run npm --prefix frontend run build
run env SQLX_OFFLINE=true cargo build -p api -p worker

step "Start"
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
trap cleanup EXIT
run createdb -h 127.0.0.1 -U postgres "$DATABASE"
run target/debug/api migrate run

api_a=$(free_port) api_b=$(free_port) web_a=$(free_port) web_b=$(free_port)
start api-a env PORT="$api_a" METRICS_PORT="$(free_port)" target/debug/api serve
start api-b env PORT="$api_b" METRICS_PORT="$(free_port)" target/debug/api serve
start worker env WORKER_PORT="$(free_port)" target/debug/worker
render_nginx "$PWD/$ARTIFACTS/nginx-a" "$web_a" "127.0.0.1:$api_a" "$PWD/frontend/dist"
render_nginx "$PWD/$ARTIFACTS/nginx-b" "$web_b" "127.0.0.1:$api_b" "$PWD/frontend/dist"
# The binary itself, not the nginx_bin function: a function runs in a
# subshell, whose pid is the one recorded, and cleanup would stop the
# subshell and leave nginx running.
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
start nginx-a "$NGINX" -p "$PWD/$ARTIFACTS/nginx-a" -c "$PWD/$ARTIFACTS/nginx-a/nginx.conf" -e "$PWD/$ARTIFACTS/nginx-a/logs/error.log"
start nginx-b "$NGINX" -p "$PWD/$ARTIFACTS/nginx-b" -c "$PWD/$ARTIFACTS/nginx-b/nginx.conf" -e "$PWD/$ARTIFACTS/nginx-b/logs/error.log"
wait_for "http://127.0.0.1:$web_a/api/ready"
wait_for "http://127.0.0.1:$web_b/api/ready"

step "End-to-end tests"
# Listed, not the folder: from Node 21 on, a folder argument is not searched.
mapfile -t E2E_TESTS < <(find frontend/e2e -name '*.test.mjs' | sort)
run env WEB_A="http://127.0.0.1:$web_a" WEB_B="http://127.0.0.1:$web_b" \
    ARTIFACTS_DIR="$PWD/$ARTIFACTS" CHROMIUM=/usr/bin/chromium \
    node --test --test-reporter=spec "${E2E_TESTS[@]}"
