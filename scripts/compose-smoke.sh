#!/usr/bin/env bash
# The images and docker/docker-compose.yml, for real: builds the four images,
# starts the stack, and drives it through the web port only. Run by the CI
# workflow (where Docker builds) and by scripts/test.sh (where it may not).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/compose-smoke.sh [--dry-run] [--help]

With Docker (docker compose) or Podman (podman compose):
  1. builds the api, worker, web and nats images (BuildKit, cache mounts as
     written)
  2. starts docker/docker-compose.yml under a project name of its own, with a
     random JWT_SECRET and the web port on a free local port
  3. through the web port only: /health and /api/ready answer 200; signs up,
     logs in, opens /api/events, adds a monitor pointed at a target inside
     the compose network (http://web:8080/health), and waits for its first
     check to arrive on the stream, refused by the production outbound guard:
     that refusal, recorded and streamed, proves the whole path (nginx, api,
     Postgres, Redis, worker, NATS, SSE)
  4. `compose down`, which must finish within the services' grace periods
Everything it started is removed on exit (`compose down --volumes`).

Where no engine runs, or the engine cannot build (base images cannot be
pulled), it says why and exits 0: the CI workflow is where it must pass.

Options:
  --dry-run   print the commands instead of running them
  -h, --help  show this help
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

readonly ARTIFACTS=.artifacts/compose
readonly COMPOSE_FILE=docker/docker-compose.yml
# stop_grace_period is 30 s; `down` stops every service in parallel.
readonly DOWN_BUDGET_SECS=40
PROJECT="beacon-smoke-$(date +%s)$$"
readonly PROJECT

skip() {
    log "compose smoke test skipped: $*"
    exit 0
}

# The engine, as a command prefix for compose; empty when none runs here.
COMPOSE=()
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 &&
    docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1 &&
    podman compose version >/dev/null 2>&1; then
    COMPOSE=(podman compose)
fi
if ((${#COMPOSE[@]} == 0)); then
    is_dry_run || skip "no container engine with compose runs here (docker compose or podman compose)"
    COMPOSE=(docker compose)
fi
COMPOSE+=(--project-name "$PROJECT" --file "$COMPOSE_FILE")

WEB_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
readonly WEB_PORT
readonly WEB="http://127.0.0.1:$WEB_PORT"
export WEB_PORT
# This run's own signing key, exported (never on a command line).
JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export JWT_SECRET
# BuildKit: the Dockerfiles' cache mounts need it.
export DOCKER_BUILDKIT=1

mkdir -p "$ARTIFACTS"
STARTED=0
cleanup() {
    local status=$?
    if ((STARTED == 1)) && ! is_dry_run; then
        "${COMPOSE[@]}" logs --no-color >"$ARTIFACTS/compose.log" 2>&1 || true
        "${COMPOSE[@]}" down --volumes --timeout 5 >/dev/null 2>&1 || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "Build the images ($PROJECT)"
show "${COMPOSE[@]}" build
if ! is_dry_run; then
    if ! "${COMPOSE[@]}" build >"$ARTIFACTS/build.log" 2>&1; then
        # No registry, no base image: nothing here can build, which is not
        # this project's failure. Anything else is.
        unreachable="$(grep -Ei -m 1 'pull|registry|manifest|no such host|name resolution|dial tcp|i/o timeout|x509' \
            "$ARTIFACTS/build.log" || true)"
        [[ -z "$unreachable" ]] || skip "the engine cannot fetch the base images ($unreachable)"
        tail -n 40 "$ARTIFACTS/build.log" >&2
        die "building the images failed; the whole log is $ARTIFACTS/build.log"
    fi
fi

step "Start the stack on $WEB"
STARTED=1
run "${COMPOSE[@]}" up --detach
ready() {
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$WEB/api/ready" || true)" == 200 ]]
}
wait_until 300 ready || die "$WEB/api/ready did not answer 200 within 300 s; see $ARTIFACTS/compose.log"
run curl -sf --max-time 5 -o /dev/null "$WEB/health"

step "Sign up, log in, open the event stream"
readonly EMAIL="smoke-$PROJECT@example.com"
CREDENTIALS="$(jq -nc --arg email "$EMAIL" '{email: $email, password: "correct horse battery"}')"
readonly CREDENTIALS
readonly COOKIES="$ARTIFACTS/cookies.txt"
readonly EVENTS="$ARTIFACTS/events.txt"
json_post() {
    curl -sS --max-time 10 -b "$COOKIES" -c "$COOKIES" -H 'Content-Type: application/json' \
        -o "$ARTIFACTS/response.json" -w '%{http_code}' -d "$2" "$WEB$1"
}
expect_code() {
    local path=$1 body=$2 want=$3 code
    show curl -X POST "$WEB$path"
    is_dry_run && return 0
    code="$(json_post "$path" "$body")"
    [[ "$code" == "$want" ]] || die "POST $path answered $code, not $want: $(cat "$ARTIFACTS/response.json")"
}
expect_code /api/auth/signup "$CREDENTIALS" 202
expect_code /api/auth/login "$CREDENTIALS" 200
STREAM_PID=""
if ! is_dry_run; then
    curl -sN --max-time 120 -b "$COOKIES" "$WEB/api/events" >"$EVENTS" 2>/dev/null &
    STREAM_PID=$!
    wait_until 30 grep -q '^event: snapshot' "$EVENTS" || die "no snapshot on /api/events"
fi

step "A monitor inside the compose network: its check is refused, recorded and streamed"
# The worker runs with APP_ENV=production: a private target is refused, and
# the refusal is a check like any other.
expect_code /api/monitors '{"name": "inside", "url": "http://web:8080/health"}' 201
refused_check_streamed() {
    grep -A1 '^event: check' "$EVENTS" | grep -q '"ok":false.*refused: web resolves to'
}
if ! is_dry_run; then
    wait_until 60 refused_check_streamed ||
        die "no refused check on the stream within 60 s; got: $(tr '\n' ' ' <"$EVENTS" | head -c 2000)"
    kill "$STREAM_PID" 2>/dev/null || true
    log "the check arrived: $(grep -A1 '^event: check' "$EVENTS" | grep '^data:' | head -n 1 | cut -c1-300)"
fi

step "Stop within the grace periods"
started_down=$SECONDS
run "${COMPOSE[@]}" down --volumes
STARTED=0
took=$((SECONDS - started_down))
((took <= DOWN_BUDGET_SECS)) || die "compose down took ${took}s, more than ${DOWN_BUDGET_SECS}s: a service ignores SIGTERM"
if is_dry_run; then
    echo "dry run: nothing was started"
else
    log "compose smoke test passed (down in ${took}s)"
fi
