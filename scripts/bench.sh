#!/usr/bin/env bash
# Measures what one small machine carries: the api and the worker built in
# release mode and run with production settings, beside baselines measured in
# the same run on the same machine (a bare axum server, pgbench on the same
# query), printed as a table with the targets of issue 6 and written to
# .artifacts/bench/results.md and results.json.
# shellcheck disable=SC2016 # jq filters are single-quoted: their $names are jq's
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/bench.sh [--smoke] [--debug] [--connections N] [--duration SECS]
                        [--checks N] [--samples N] [--dry-run] [--help]

Runs, from any directory, on 127.0.0.1 only:
  1. installs what is missing: wrk (Debian), pgbench (postgresql-client /
     postgresql-contrib), jq, curl, the frontend's npm packages; Postgres,
     Redis and NATS as scripts/dev.sh does
  2. cargo build --release: api, worker and the bench's own examples
     (api/examples/bench_hello.rs, bench_startup.rs, bench_sse_latency.rs,
     uptime/examples/bench_enqueue.rs), offline from the .sqlx cache
  3. a fresh database beacon_bench_<id>, migrated with `api migrate run`, and
     a Redis and a NATS of the bench's own on free ports, so nothing else on
     the machine shares their queues, subjects or command counters
  4. start-up: `api serve` started BENCH_STARTUP_RUNS times; time from the
     spawn to /api/health 200 and to /api/ready 200, polled every 5 ms (median)
  5. the stack with production settings (APP_ENV=production, LOG_FORMAT=json,
     RUST_LOG=info, a random JWT_SECRET, logs in .artifacts/bench/): the bare
     axum baseline, the api, a worker, and a second, idle worker on a Redis of
     its own whose commands are counted while everything else runs
  6. wrk, N connections for SECS each: the baseline, GET /api/health, and
     GET /api/monitors with a bearer token for a user with 20 monitors; then
     pgbench on the monitors query with the same connections and duration
  7. check now -> SSE `check` event latency, BENCH_SSE_SAMPLES samples in a row
  8. worker throughput: BENCH_CHECKS checks queued at once over
     BENCH_WORKER_MONITORS monitors pointed at the baseline server, from the
     first enqueue until the last is recorded in Postgres
  9. the api's peak RSS (VmHWM) right after BENCH_LOGIN_BURST (24) logins
     at once for emails with no account (each an argon2id check); idle and
     peak RSS (VmRSS, VmHWM) of the api and the worker; Redis
     commands per idle minute of the idle worker; the frontend's JS + CSS
     gzipped (gzip -9)
Every process it started is stopped and the database dropped on exit. Exits
non-zero when any measurement produced no number; a missed target is reported,
not an error.

Options:
  --smoke          tiny durations and counts (8 connections for 1 s, 50
                   checks, 10 samples, 2 start-ups, a 5 s idle window):
                   proves the harness works; the numbers mean nothing
  --debug          build and measure the debug profile instead of release;
                   for --smoke in scripts/test.sh, whose tests have built it
                   already (the numbers mean nothing)
  --connections N  wrk and pgbench connections [BENCH_CONNECTIONS, 64]
  --duration SECS  each wrk and pgbench run [BENCH_DURATION_SECS, 10]
  --checks N       checks for the worker throughput [BENCH_CHECKS, 5000]
  --samples N      check now -> SSE samples [BENCH_SSE_SAMPLES, 200]
  --cpu-quota PCT  run the api and the worker each in a cgroup of its own
                   limited to PCT % of one core [BENCH_CPU_QUOTA, none]:
                   100 models a shared-cpu-1x VM bursting, 6.25 its
                   baseline (root; cgroup v1 or v2)
  --dry-run        print the commands instead of running them (read-only
                   probes still run)
  -h, --help       show this help

Environment (defaults in brackets; flags win):
  BENCH_CONNECTIONS [64]  BENCH_DURATION_SECS [10]  BENCH_THREADS [2]
  BENCH_CHECKS [5000]  BENCH_WORKER_MONITORS [100]  BENCH_SSE_SAMPLES [200]
  BENCH_STARTUP_RUNS [5]  BENCH_IDLE_SECS [60]  BENCH_DIR [.artifacts/bench]
  BENCH_CPU_QUOTA [none]
EOF
}

SMOKE=0
PROFILE=release
while (($# > 0)); do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --smoke) SMOKE=1 ;;
    --debug) PROFILE=debug ;;
    --connections | --duration | --checks | --samples | --cpu-quota)
        (($# >= 2)) || {
            echo "error: $1 needs a value" >&2
            exit 2
        }
        case "$1" in
        --connections) BENCH_CONNECTIONS=$2 ;;
        --duration) BENCH_DURATION_SECS=$2 ;;
        --checks) BENCH_CHECKS=$2 ;;
        --samples) BENCH_SSE_SAMPLES=$2 ;;
        --cpu-quota) BENCH_CPU_QUOTA=$2 ;;
        esac
        shift
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

if ((SMOKE)); then
    # Few connections: the smoke runs inside scripts/test.sh, beside other
    # databases' pools, under Postgres' default max_connections of 100.
    : "${BENCH_CONNECTIONS:=8}" "${BENCH_DURATION_SECS:=1}" "${BENCH_CHECKS:=50}" "${BENCH_WORKER_MONITORS:=10}"
    : "${BENCH_SSE_SAMPLES:=10}" "${BENCH_STARTUP_RUNS:=2}" "${BENCH_IDLE_SECS:=5}"
fi
readonly CONNECTIONS="${BENCH_CONNECTIONS:-64}"
readonly DURATION_SECS="${BENCH_DURATION_SECS:-10}"
readonly THREADS="${BENCH_THREADS:-2}"
readonly CHECKS="${BENCH_CHECKS:-5000}"
readonly WORKER_MONITORS="${BENCH_WORKER_MONITORS:-100}"
readonly SSE_SAMPLES="${BENCH_SSE_SAMPLES:-200}"
readonly STARTUP_RUNS="${BENCH_STARTUP_RUNS:-5}"
readonly IDLE_SECS="${BENCH_IDLE_SECS:-60}"
readonly LOGIN_BURST="${BENCH_LOGIN_BURST:-24}"
readonly CPU_QUOTA="${BENCH_CPU_QUOTA:-}"
if [[ -n "$CPU_QUOTA" ]]; then
    if ! [[ "$CPU_QUOTA" =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
        ! awk -v q="$CPU_QUOTA" 'BEGIN { exit !(q >= 1 && q <= 100) }'; then
        die "BENCH_CPU_QUOTA must be a percentage of one core between 1 and 100, got '$CPU_QUOTA'"
    fi
fi
for setting in CONNECTIONS DURATION_SECS THREADS CHECKS WORKER_MONITORS SSE_SAMPLES STARTUP_RUNS IDLE_SECS LOGIN_BURST; do
    [[ "${!setting}" =~ ^[1-9][0-9]*$ ]] || die "BENCH_$setting must be a positive whole number, got '${!setting}'"
done
((CONNECTIONS >= THREADS)) || die "BENCH_CONNECTIONS ($CONNECTIONS) must be at least BENCH_THREADS ($THREADS)"

readonly BENCH_DIR="${BENCH_DIR:-.artifacts/bench}"
# One JSON fragment per measurement; results.json merges them.
readonly RAW_DIR="$BENCH_DIR/raw"
# The monitors of the user whose GET /api/monitors is measured (as in the issue).
readonly API_MONITORS=20
readonly BENCH_EMAIL=bench@example.com
readonly BENCH_PASSWORD=bench-password-0123456789
readonly STOP_TIMEOUT_SECS=30
readonly READY_TIMEOUT_SECS=60

target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$PWD/$target_dir"
readonly BIN_DIR="$target_dir/$PROFILE"
readonly API_BIN="$BIN_DIR/api"
readonly WORKER_BIN="$BIN_DIR/worker"
readonly EXAMPLES_DIR="$BIN_DIR/examples"

# The pid in the name lets a later run tell a killed run's database from a live one's.
RUN_ID="$$_$(date +%s)"
readonly RUN_ID
readonly DATABASE="beacon_bench_$RUN_ID"
readonly DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DATABASE"
readonly QUEUE_PREFIX="beacon:bench"

# Processes this run started, in start order, and their pids.
STARTED=()
declare -A PIDS=()
DATABASE_CREATED=0
# Measurements that produced no number.
FAILED=()

# Percentiles by nearest rank, so a median is a value that was measured.
readonly JQ_DEFS='
def percentile(p): sort | .[([((p / 100) * length | ceil) - 1, 0] | max)];
def median: percentile(50);
'

# Prints N distinct free ports: all are held at once while they are picked.
free_ports() {
    python3 -c 'import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))' "$1"
}

log_file() { printf '%s/%s.log\n' "$BENCH_DIR" "$1"; }

# Usage: start_process NAME COMMAND [ARGS...]; output goes to $BENCH_DIR/NAME.log.
start_process() {
    local name=$1
    shift
    # setsid: Ctrl-C reaches only this script, which then stops everything in order.
    show setsid "$@"
    is_dry_run && return 0
    setsid "$@" >"$(log_file "$name")" 2>&1 </dev/null &
    PIDS[$name]=$!
    STARTED+=("$name")
}

# Moves NAME's process into a cgroup of its own limited to CPU_QUOTA % of
# one core (a 100 ms period), as a Fly shared-cpu VM limits it; every thread
# it starts later stays there.
CGROUPS=()
limit_cpu() {
    local name=$1 pid=${PIDS[$1]:-} quota_us dir
    [[ -n "$CPU_QUOTA" && -n "$pid" ]] || return 0
    quota_us="$(awk -v q="$CPU_QUOTA" 'BEGIN { printf "%d", q * 1000 }')"
    if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        dir="/sys/fs/cgroup/beacon-bench-$$-$name"
        echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
        mkdir -p "$dir"
        echo "$quota_us 100000" >"$dir/cpu.max"
    else
        dir="/sys/fs/cgroup/cpu/beacon-bench-$$-$name"
        mkdir -p "$dir"
        echo 100000 >"$dir/cpu.cfs_period_us"
        echo "$quota_us" >"$dir/cpu.cfs_quota_us"
    fi
    echo "$pid" >"$dir/cgroup.procs"
    CGROUPS+=("$dir")
    log "$name runs on $CPU_QUOTA % of one core ($dir)"
}

process_alive() {
    local stat
    stat="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
    [[ "$stat" != *Z* ]]
}

process_gone() { ! process_alive "$1"; }

# SIGTERM, as Fly sends, so the api and the worker drain as in production.
stop_process() {
    local name=$1 pid=${PIDS[$1]:-}
    [[ -n "$pid" ]] || return 0
    if process_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_until "$STOP_TIMEOUT_SECS" process_gone "$pid"; then
            log "$name did not stop within ${STOP_TIMEOUT_SECS}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    unset "PIDS[$name]"
}

# Last started, first stopped; then the database goes.
cleanup() {
    local status=$? i
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        stop_process "${STARTED[i]}"
    done
    for i in "${CGROUPS[@]}"; do
        rmdir "$i" 2>/dev/null || true
    done
    if ((DATABASE_CREATED)); then
        psql -h 127.0.0.1 -U postgres -X -q -c "DROP DATABASE IF EXISTS \"$DATABASE\" WITH (FORCE)" ||
            log "could not drop database $DATABASE"
    fi
    exit "$status"
}

# Waits for URL to answer 200 while NAME is still running.
wait_for_200() {
    local name=$1 url=$2 deadline
    log "waiting for $url"
    is_dry_run && return 0
    deadline=$((SECONDS + READY_TIMEOUT_SECS))
    until [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url")" == 200 ]]; do
        if ! process_alive "${PIDS[$name]}"; then
            tail -n 20 "$(log_file "$name")" >&2 || true
            die "$name exited during start-up; its log is $(log_file "$name")"
        fi
        ((SECONDS < deadline)) || die "$url did not answer 200 within ${READY_TIMEOUT_SECS}s; see $(log_file "$name")"
        sleep 0.05
    done
}

redis_on_port_answers() {
    [[ "$(redis-cli -p "$1" ping 2>/dev/null)" == PONG ]]
}

nats_on_port_answers() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A redis-server of the bench's own, nothing persisted. Usage: start_redis NAME PORT
start_redis() {
    start_process "$1" redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no
    is_dry_run || wait_until 10 redis_on_port_answers "$2" || die "$1 did not start; see $(log_file "$1")"
}

start_nats() {
    start_process "$1" /usr/sbin/nats-server -a 127.0.0.1 -p "$2"
    is_dry_run || wait_until 10 nats_on_port_answers "$2" || die "$1 did not start; see $(log_file "$1")"
}

psql_bench() {
    run psql -h 127.0.0.1 -U postgres -X -q -v ON_ERROR_STOP=1 -d "$DATABASE" "$@"
}

# Runs a measurement in a subshell with errexit on (a function called from an
# `if` would run with it off), so one failure is recorded and the rest still run.
measure() {
    local name=$1 status
    shift
    step "$name"
    set +e
    (
        set -e
        "$@"
    )
    status=$?
    set -e
    if ((status != 0)); then
        FAILED+=("$name")
        log "error: $name produced no number (exit $status)"
    fi
}

# Writes one measurement's JSON fragment: stdin through a jq filter, which
# can use JQ_DEFS. Usage: record NAME FILTER [JQ_OPTIONS...]
record() {
    local name=$1 filter=$2 fragment
    shift 2
    fragment="$(jq -c "$@" "$JQ_DEFS $filter")"
    printf '%s\n' "$fragment" >"$RAW_DIR/$name.json"
    log "$name: $fragment"
}

# VmRSS (resident now) or VmHWM (the peak so far) of a process, in kB.
memory_kb() {
    local kb
    kb="$(awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status")"
    [[ -n "$kb" ]] || die "no $2 in /proc/$1/status"
    printf '%s\n' "$kb"
}

# Databases of bench runs that were killed before their trap ran: the pid in
# the name is gone.
drop_leftover_databases() {
    local name pid
    while IFS= read -r name; do
        [[ -n "$name" ]] || continue
        pid="${name#beacon_bench_}"
        pid="${pid%%_*}"
        if [[ "$pid" =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then
            run psql -h 127.0.0.1 -U postgres -X -q -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
        fi
    done < <(psql -h 127.0.0.1 -U postgres -X -tAc \
        "SELECT datname FROM pg_database WHERE datname LIKE 'beacon\_bench\_%'" 2>/dev/null || true)
}

ensure_bench_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v jq >/dev/null || missing+=(jq)
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3)
    # The bench runs servers of its own, even when the shared ones answer.
    command -v redis-server >/dev/null || missing+=(redis-server)
    [[ -x /usr/sbin/nats-server ]] || missing+=(nats-server)
    # Debian's pgbench is a wrapper that needs the real one behind it
    # (postgresql-NN on bookworm, postgresql-client-NN later).
    pgbench --version >/dev/null 2>&1 || missing+=(postgresql-client postgresql-contrib)
    if ((${#missing[@]} > 0)); then
        apt_install "${missing[@]}"
    else
        log "wrk, pgbench, jq, curl, python3, redis-server and nats-server are installed"
    fi
}

# An api request as the seeding makes it; the token is never printed.
# Usage: api_request METHOD PATH [JSON_BODY]
api_request() {
    local method=$1 path=$2 body=${3:-} args
    args=(-sf -X "$method" -H 'Content-Type: application/json')
    [[ -n "$body" ]] && args+=(-d "$body")
    show curl "${args[@]}" -H 'Authorization: Bearer <token>' "$API_URL$path"
    is_dry_run && return 0
    curl "${args[@]}" -H "Authorization: Bearer $TOKEN" "$API_URL$path"
}

# A user with API_MONITORS monitors made through the api (its token is what
# wrk and the SSE client use), and WORKER_MONITORS monitors written straight
# into Postgres for the worker's throughput; none of them is due for a day,
# so the scheduler stays out of every measurement.
seed() {
    local credentials i
    credentials="$(jq -nc --arg email "$BENCH_EMAIL" --arg password "$BENCH_PASSWORD" '{email: $email, password: $password}')"
    run curl -sf -o /dev/null -H 'Content-Type: application/json' -d "$credentials" "$API_URL/api/auth/signup"
    show curl -sf -H 'Content-Type: application/json' -d "$credentials" "$API_URL/api/auth/token"
    if ! is_dry_run; then
        TOKEN="$(curl -sf -H 'Content-Type: application/json' -d "$credentials" "$API_URL/api/auth/token" |
            jq -er .token)" || die "POST /api/auth/token gave no token; see $(log_file api)"
    fi
    for ((i = 1; i <= API_MONITORS; i++)); do
        api_request POST /api/monitors \
            "$(jq -nc --arg name "bench $i" --arg url "$TARGET_URL" '{name: $name, url: $url, interval_seconds: 86400}')" \
            >/dev/null || die "POST /api/monitors failed; see $(log_file api)"
    done
    psql_bench -c "UPDATE monitors SET next_check_at = now() + interval '1 day'"
    psql_bench -c "INSERT INTO users (id, email, password_hash)
        VALUES (gen_random_uuid(), '$WORKER_EMAIL', 'none: this user never logs in')"
    psql_bench -c "INSERT INTO monitors (id, user_id, name, url, method, interval_seconds, timeout_ms,
            expected_status, next_check_at)
        SELECT gen_random_uuid(), u.id, 'worker bench ' || n, '$TARGET_URL', 'GET', 86400, 5000, 200,
            now() + interval '1 day'
        FROM users u, generate_series(1, $WORKER_MONITORS) n WHERE u.email = '$WORKER_EMAIL'"
    is_dry_run && return 0
    api_request GET /api/monitors >"$RAW_DIR/monitors.out" || die "GET /api/monitors failed"
    SSE_MONITOR_ID="$(jq -er --argjson n "$API_MONITORS" \
        'if (.monitors | length) == $n then .monitors[0].id else error("not \($n) monitors") end' \
        "$RAW_DIR/monitors.out")" || die "GET /api/monitors did not list $API_MONITORS monitors"
    BENCH_USER_ID="$(psql -h 127.0.0.1 -U postgres -X -tA -d "$DATABASE" \
        -c "SELECT id FROM users WHERE email = '$BENCH_EMAIL'")"
    WORKER_USER_ID="$(psql -h 127.0.0.1 -U postgres -X -tA -d "$DATABASE" \
        -c "SELECT id FROM users WHERE email = '$WORKER_EMAIL'")"
}

# --- the measurements --------------------------------------------------------

measure_startup() {
    run env "${API_ENV[@]}" PORT="$STARTUP_PORT" METRICS_PORT="$STARTUP_METRICS_PORT" \
        "$EXAMPLES_DIR/bench_startup" --runs "$STARTUP_RUNS" --interval-ms 5 \
        --health "http://127.0.0.1:$STARTUP_PORT/api/health" --ready "http://127.0.0.1:$STARTUP_PORT/api/ready" \
        --log "$(log_file startup)" -- "$API_BIN" serve >"$RAW_DIR/startup.out"
    is_dry_run && return 0
    record startup '{startup: {runs: (.health_ms | length), health_ms, ready_ms,
        health_ms_median: (.health_ms | median), ready_ms_median: (.ready_ms | median)}}' \
        <"$RAW_DIR/startup.out"
}

# Resident memory right after start-up, before any traffic. Usage: measure_idle_rss NAME
measure_idle_rss() {
    is_dry_run && return 0
    # Settled: past the first connections to Postgres, Redis and NATS.
    sleep 1
    record "rss_idle_$1" '{rss: {($name + "_idle_mb"): ($kb / 1024)}}' -n \
        --arg name "$1" --argjson kb "$(memory_kb "${PIDS[$1]}" VmRSS)"
}

# LOGIN_BURST logins at once for emails that have no account, each a full
# argon2id verification (19 MiB while it runs). The api's peak RSS right
# after is what PASSWORD_HASH_CONCURRENCY holds down; measured before wrk
# can raise the peak for other reasons.
measure_login_burst() {
    show "$LOGIN_BURST x curl -X POST $API_URL/api/auth/login (random emails), all at once"
    is_dry_run && return 0
    seq "$LOGIN_BURST" | xargs -P "$LOGIN_BURST" -I{} curl -s -o /dev/null -w '%{http_code}\n' \
        -H 'Content-Type: application/json' \
        -d "{\"email\":\"burst-{}-$RANDOM@example.com\",\"password\":\"not the password\"}" \
        "$API_URL/api/auth/login" >"$RAW_DIR/login_burst.out"
    record login_burst '{login_burst: {logins: $n, peak_mb: ($kb / 1024),
        statuses: ($statuses | split("\n") | map(select(. != "")) | group_by(.)
            | map({key: .[0], value: length}) | from_entries)}}' -n \
        --argjson n "$LOGIN_BURST" --argjson kb "$(memory_kb "${PIDS[api]}" VmHWM)" \
        --arg statuses "$(cat "$RAW_DIR/login_burst.out")"
}

measure_peak_rss() {
    is_dry_run && return 0
    record rss_peak '{rss: {api_peak_mb: ($api / 1024), worker_peak_mb: ($worker / 1024)}}' -n \
        --argjson api "$(memory_kb "${PIDS[api]}" VmHWM)" --argjson worker "$(memory_kb "${PIDS[worker]}" VmHWM)"
}

# wrk prints its report, then one JSON line from this done() hook. The token
# comes from the environment so it never shows on a command line.
write_wrk_script() {
    cat >"$BENCH_DIR/wrk-report.lua" <<'LUA'
-- Generated by scripts/bench.sh. Latencies are in microseconds.
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"socket_errors":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA
}

# Usage: measure_wrk NAME URL [--token]
measure_wrk() {
    local name=$1 url=$2 token=
    [[ "${3:-}" == --token ]] && token=$TOKEN
    show ${token:+env "BENCH_TOKEN=<token>"} wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION_SECS}s" \
        --timeout 5s -s "$BENCH_DIR/wrk-report.lua" "$url"
    is_dry_run && return 0
    BENCH_TOKEN="$token" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION_SECS}s" \
        --timeout 5s -s "$BENCH_DIR/wrk-report.lua" "$url" >"$RAW_DIR/$name.wrk"
    grep '^{' "$RAW_DIR/$name.wrk" | tail -n 1 | record "$name" '
        if .requests == 0 then error("no request completed")
        elif .non_2xx > 0 then error("\(.non_2xx) responses were not 2xx")
        else {($name): {rps: (.requests / (.duration_us / 1e6)), p50_ms: (.p50_us / 1000),
              p99_ms: (.p99_us / 1000), requests, socket_errors}} end' --arg name "$name"
}

# The query of `list_for_user` in api/src/monitors/db.rs, sent as the api
# sends it: prepared (-M prepared; sqlx prepares and caches every query), with
# the user id as a parameter. pgbench's \set holds only numbers, so the uuid
# comes in as a variable defined with -D user_id=...
write_pgbench_script() {
    cat >"$BENCH_DIR/list_for_user.sql" <<'SQL'
SELECT id, name, url, method, interval_seconds, timeout_ms, expected_status,
       state, last_checked_at, next_check_at, created_at, updated_at
FROM monitors WHERE user_id = :user_id
ORDER BY created_at, id;
SQL
}

measure_pgbench() {
    run pgbench -h 127.0.0.1 -U postgres -n -M prepared -c "$CONNECTIONS" -j "$THREADS" \
        -T "$DURATION_SECS" -D "user_id=$BENCH_USER_ID" -f "$BENCH_DIR/list_for_user.sql" \
        "$DATABASE" >"$RAW_DIR/pgbench.out"
    is_dry_run && return 0
    local tps latency
    tps="$(awk '$1 == "tps" { print $3; exit }' "$RAW_DIR/pgbench.out")"
    latency="$(awk '/^latency average/ { print $4; exit }' "$RAW_DIR/pgbench.out")"
    [[ -n "$tps" && -n "$latency" ]] || die "pgbench printed no tps; see $RAW_DIR/pgbench.out"
    record pgbench '{pgbench: {tps: $tps, latency_avg_ms: $latency}}' -n \
        --argjson tps "$tps" --argjson latency "$latency"
}

measure_sse() {
    show env BENCH_TOKEN='<token>' "$EXAMPLES_DIR/bench_sse_latency" --base-url "$API_URL" \
        --monitor-id "$SSE_MONITOR_ID" --samples "$SSE_SAMPLES"
    is_dry_run && return 0
    BENCH_TOKEN="$TOKEN" "$EXAMPLES_DIR/bench_sse_latency" --base-url "$API_URL" \
        --monitor-id "$SSE_MONITOR_ID" --samples "$SSE_SAMPLES" >"$RAW_DIR/sse.out"
    record sse '{sse: {samples: (.latencies_ms | length), p50_ms: (.latencies_ms | percentile(50)),
        p99_ms: (.latencies_ms | percentile(99)), max_ms: (.latencies_ms | max), latencies_ms}}' \
        <"$RAW_DIR/sse.out"
}

measure_worker_throughput() {
    run env DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" NATS_URL="$NATS_URL" QUEUE_PREFIX="$QUEUE_PREFIX" \
        "$EXAMPLES_DIR/bench_enqueue" --user-id "$WORKER_USER_ID" --checks "$CHECKS" \
        >"$RAW_DIR/worker.out"
    is_dry_run && return 0
    record worker_throughput '
        if .ok < .checks then error("only \(.ok) of \(.checks) checks reached the target")
        else {worker_throughput: (. + {checks_per_sec: (.checks / (.all_recorded_ms / 1000)),
            after_first_checks_per_sec: (if .all_recorded_ms > .first_recorded_ms
                then (.checks - 1) / ((.all_recorded_ms - .first_recorded_ms) / 1000) else null end)})} end' \
        <"$RAW_DIR/worker.out"
}

# Every command the idle worker sent its Redis since CONFIG RESETSTAT, less
# this script's own INFO and CONFIG.
measure_idle_redis() {
    is_dry_run && return 0
    local now remaining
    now="$(date +%s.%N)"
    remaining="$(awk -v a="$IDLE_STARTED" -v b="$now" -v w="$IDLE_SECS" 'BEGIN { r = w - (b - a); print (r > 0 ? r : 0) }')"
    if [[ "$remaining" != 0 ]]; then
        log "waiting ${remaining}s more, so the window lasts ${IDLE_SECS}s"
        sleep "$remaining"
        now="$(date +%s.%N)"
    fi
    redis-cli -p "$IDLE_REDIS_PORT" INFO commandstats | tr -d '\r' >"$RAW_DIR/idle-redis.out"
    awk -F'[:,=]' '/^cmdstat_/ { sub("cmdstat_", "", $1); print $1, $3 }' "$RAW_DIR/idle-redis.out" |
        jq -R 'split(" ") | {(.[0]): (.[1] | tonumber)}' | jq -s 'add // {}' |
        record worker_idle_redis '
            with_entries(select(.key | test("^(info|config)") | not)) as $by | ([$by[]] | add // 0) as $total | ($ended - $started) as $window |
            {worker_idle_redis: {window_secs: $window, commands: $total,
             commands_per_min: ($total / $window * 60), by_command: $by}}' \
            --argjson started "$IDLE_STARTED" --argjson ended "$now"
}

measure_frontend() {
    ensure_frontend_modules
    show npm --prefix frontend run build ">$(log_file frontend)"
    is_dry_run && return 0
    npm --prefix frontend run build >"$(log_file frontend)" 2>&1 ||
        die "npm run build failed; see $(log_file frontend)"
    local file total=0 files=0
    for file in frontend/dist/assets/*.js frontend/dist/assets/*.css; do
        [[ -f "$file" ]] || continue
        total=$((total + $(gzip -9 -c "$file" | wc -c)))
        files=$((files + 1))
    done
    ((files > 0)) || die "npm run build left no JS or CSS in frontend/dist/assets"
    record frontend '{frontend: {js_css_gzip_bytes: $bytes, js_css_gzip_kb: ($bytes / 1024), files: $files}}' -n \
        --argjson bytes "$total" --argjson files "$files"
}

# --- results -------------------------------------------------------------------

write_meta() {
    local commit cpu
    commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    git diff --quiet HEAD 2>/dev/null || commit+=" with uncommitted changes"
    cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    jq -n '{meta: {date: $date, commit: $commit, profile: $profile, cpu: $cpu, cores: $cores,
            smoke: ($smoke == 1), connections: $connections, duration_secs: $duration, wrk_threads: $threads,
            checks: $checks, worker_monitors: $worker_monitors, api_monitors: $api_monitors,
            sse_samples: $sse_samples, startup_runs: $startup_runs, idle_window_min_secs: $idle,
            cpu_quota_percent: (if $quota == "" then null else ($quota | tonumber) end),
            wrk: $wrk, pgbench: $pgbench}}' \
        --arg quota "$CPU_QUOTA" \
        --arg date "$(date -u '+%Y-%m-%d %H:%M UTC')" --arg commit "$commit" --arg profile "$PROFILE" \
        --arg cpu "${cpu:-unknown}" --argjson cores "$(nproc)" --argjson smoke "$SMOKE" \
        --argjson connections "$CONNECTIONS" --argjson duration "$DURATION_SECS" --argjson threads "$THREADS" \
        --argjson checks "$CHECKS" --argjson worker_monitors "$WORKER_MONITORS" \
        --argjson api_monitors "$API_MONITORS" --argjson sse_samples "$SSE_SAMPLES" \
        --argjson startup_runs "$STARTUP_RUNS" --argjson idle "$IDLE_SECS" \
        --arg wrk "$(wrk --version 2>&1 | awk 'NR == 1 { print $2 }')" \
        --arg pgbench "$(pgbench --version | awk '{ print $3 }')" >"$RAW_DIR/meta.json"
}

# Merges the fragments and judges each target of issue 6, once, here.
write_results_json() {
    local failed='[]'
    ((${#FAILED[@]} == 0)) || failed="$(printf '%s\n' "${FAILED[@]}" | jq -R . | jq -sc .)"
    jq -s '
        def ratio(a; b): if a != null and b != null and b > 0 then a / b else null end;
        def target(id; value; unit; limit; op):
            {id: id, value: value, unit: unit, limit: limit, op: op,
             met: (if value == null then null elif op == ">=" then value >= limit else value <= limit end)};
        reduce .[] as $fragment ({}; . * $fragment)
        | .failed = $failed
        | .ratios = {health_vs_hello: ratio(.api_health.rps; .hello.rps),
                     monitors_vs_pgbench: ratio(.api_monitors.rps; .pgbench.tps)}
        | .targets = [
            target("health_vs_hello"; .ratios.health_vs_hello; "×"; 0.8; ">="),
            target("monitors_vs_pgbench"; .ratios.monitors_vs_pgbench; "×"; 0.6; ">="),
            target("sse_p50_ms"; .sse.p50_ms; "ms"; 25; "<="),
            target("sse_p99_ms"; .sse.p99_ms; "ms"; 100; "<="),
            target("worker_checks_per_sec"; .worker_throughput.checks_per_sec; "checks/s"; 1000; ">="),
            target("api_idle_mb"; .rss.api_idle_mb; "MB"; 25; "<="),
            target("api_peak_mb"; .rss.api_peak_mb; "MB"; 100; "<="),
            target("login_burst_peak_mb"; .login_burst.peak_mb; "MB"; 256; "<="),
            target("worker_idle_mb"; .rss.worker_idle_mb; "MB"; 25; "<="),
            target("worker_peak_mb"; .rss.worker_peak_mb; "MB"; 100; "<="),
            target("start_to_health_ms"; .startup.health_ms_median; "ms"; 100; "<="),
            target("start_to_ready_ms"; .startup.ready_ms_median; "ms"; 500; "<="),
            target("frontend_gzip_kb"; .frontend.js_css_gzip_kb; "KB"; 60; "<=")
          ]' --argjson failed "$failed" "$RAW_DIR"/*.json >"$BENCH_DIR/results.json"
}

# The table, in Markdown, so it can be pasted into the README as it is.
write_results_md() {
    jq -r '
        def n(d): if . == null then "—" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
        def met(id): (.targets[] | select(.id == id) | .met)
            | if . == null then "no number" elif . then "met" else "**not met**" end;
        def wrk: if . == null then "failed"
            else "\(.rps | n(0)) req/s · p50 \(.p50_ms | n(2)) ms · p99 \(.p99_ms | n(2)) ms" end;
        .meta as $m |
        "## Beacon benchmark, \($m.date)\(if $m.smoke then ", smoke run: these numbers mean nothing" else "" end)",
        "",
        "Commit \($m.commit), \($m.profile) build, \($m.cores) cores (\($m.cpu)). wrk \($m.wrk) and pgbench \($m.pgbench): \($m.connections) connections for \($m.duration_secs) s each, \($m.wrk_threads) threads.\(if $m.cpu_quota_percent then " The api and the worker each ran in a cgroup limited to \($m.cpu_quota_percent) % of one core; the baselines ran unlimited." else "" end) MB and KB are 2^20 and 2^10 bytes. Reproduce with `scripts/bench.sh\(if $m.cpu_quota_percent then " --cpu-quota \($m.cpu_quota_percent)" else "" end)`.",
        "",
        "| measurement | Beacon | baseline, same run | Beacon / baseline | target | |",
        "| --- | --- | --- | --- | --- | --- |",
        "| `GET /api/health` | \(.api_health | wrk) | bare axum (`api/examples/bench_hello.rs`): \(.hello | wrk) | \(.ratios.health_vs_hello | n(2)) | ≥ 0.8 | \(met("health_vs_hello")) |",
        "| `GET /api/monitors`, \($m.api_monitors) monitors, bearer token | \(.api_monitors | wrk) | pgbench, the same query, prepared: \(if .pgbench then "\(.pgbench.tps | n(0)) TPS · avg \(.pgbench.latency_avg_ms | n(2)) ms" else "failed" end) | \(.ratios.monitors_vs_pgbench | n(2)) | ≥ 0.6 | \(met("monitors_vs_pgbench")) |",
        "| check now → SSE `check` event, p50 of \(.sse.samples // $m.sse_samples) in a row | \(.sse.p50_ms | n(1)) ms | | | ≤ 25 ms | \(met("sse_p50_ms")) |",
        "| check now → SSE `check` event, p99 | \(.sse.p99_ms | n(1)) ms | | | ≤ 100 ms | \(met("sse_p99_ms")) |",
        "| worker: checks/s, enqueued → recorded, \($m.checks) checks, one process | \(.worker_throughput.checks_per_sec | n(0))\(if .worker_throughput then " (\(.worker_throughput.after_first_checks_per_sec | n(0)) once the first was recorded \(.worker_throughput.first_recorded_ms | n(0)) ms in)" else "" end) | | | ≥ 1000 | \(met("worker_checks_per_sec")) |",
        "| worker: Redis commands per idle minute, \(.worker_idle_redis.window_secs | n(0)) s window | \(.worker_idle_redis.commands_per_min | n(0)) | | | none; ≈ \(if .worker_idle_redis then (.worker_idle_redis.commands_per_min * 43200 / 1e6 | n(1)) else "—" end) M commands a month | |",
        "| api peak RSS after \(.login_burst.logins // "—") logins at once, random emails (\(.login_burst.statuses // {} | to_entries | map("\(.value)×\(.key)") | join(", "))) | \(.login_burst.peak_mb | n(1)) MB | | | ≤ 256 MB, the VM in `fly/fly.api.toml` | \(met("login_burst_peak_mb")) |",
        "| api RSS, idle / peak | \(.rss.api_idle_mb | n(1)) / \(.rss.api_peak_mb | n(1)) MB | | | ≤ 25 / ≤ 100 MB | \(met("api_idle_mb")) / \(met("api_peak_mb")) |",
        "| worker RSS, idle / peak | \(.rss.worker_idle_mb | n(1)) / \(.rss.worker_peak_mb | n(1)) MB | | | ≤ 25 / ≤ 100 MB | \(met("worker_idle_mb")) / \(met("worker_peak_mb")) |",
        "| start → `/api/health` 200, median of \(.startup.runs // $m.startup_runs) | \(.startup.health_ms_median | n(1)) ms | | | ≤ 100 ms | \(met("start_to_health_ms")) |",
        "| start → `/api/ready` 200, median | \(.startup.ready_ms_median | n(1)) ms | | | ≤ 500 ms | \(met("start_to_ready_ms")) |",
        "| frontend JS + CSS, gzip -9 | \(.frontend.js_css_gzip_kb | n(1)) KB | | | ≤ 60 KB | \(met("frontend_gzip_kb")) |",
        (if (.failed | length) > 0 then "", "No number from: \(.failed | join("; "))." else empty end)
    ' "$BENCH_DIR/results.json" >"$BENCH_DIR/results.md"
}

# --- the run -------------------------------------------------------------------

started=$SECONDS

step "Services: Postgres, Redis, NATS; tools: wrk, pgbench, jq"
ensure_services
ensure_bench_tools

step "Build ($PROFILE): api, worker and the bench's examples"
build_args=(-p api -p worker -p uptime --bins --examples)
[[ "$PROFILE" == release ]] && build_args=(--release "${build_args[@]}")
run env SQLX_OFFLINE=true cargo build "${build_args[@]}"

step "Database $DATABASE; a Redis and a NATS of the bench's own"
if ! is_dry_run; then
    mkdir -p "$RAW_DIR"
    # Everything in BENCH_DIR then comes from this run.
    rm -f "$RAW_DIR"/* "$BENCH_DIR"/*.log
fi
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
drop_leftover_databases
run createdb -h 127.0.0.1 -U postgres "$DATABASE"
is_dry_run || DATABASE_CREATED=1
run env DATABASE_URL="$DATABASE_URL" "$API_BIN" migrate run >&2

read -r REDIS_PORT IDLE_REDIS_PORT NATS_PORT HELLO_PORT API_PORT API_METRICS_PORT \
    STARTUP_PORT STARTUP_METRICS_PORT WORKER_PORT IDLE_WORKER_PORT < <(free_ports 10)
readonly REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
readonly NATS_URL="nats://127.0.0.1:$NATS_PORT"
readonly API_URL="http://127.0.0.1:$API_PORT"
readonly TARGET_URL="http://127.0.0.1:$HELLO_PORT/"
readonly WORKER_EMAIL=bench-worker@example.com
start_redis redis "$REDIS_PORT"
start_redis redis-idle "$IDLE_REDIS_PORT"
start_nats nats "$NATS_PORT"

# Production settings, as on Fly. The signing key is this run's alone, and
# exported rather than put on a command line so it is never printed.
JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export JWT_SECRET
PRODUCTION_ENV=(APP_ENV=production LOG_FORMAT=json RUST_LOG=info
    DATABASE_URL="$DATABASE_URL" NATS_URL="$NATS_URL")
# The SSE latency samples are "check now" requests, and every wrk request
# carries one token: the per-user limits are lifted for the measurement.
API_ENV=("${PRODUCTION_ENV[@]}" REDIS_URL="$REDIS_URL" QUEUE_PREFIX="$QUEUE_PREFIX"
    MANUAL_CHECKS_PER_MINUTE=10000)
# The worker probes the baseline server on 127.0.0.1, which only
# ALLOW_PRIVATE_TARGETS=true permits, and the worker refuses that with
# APP_ENV=production (see platform/src/outbound.rs). APP_ENV changes nothing else
# for the worker: it only picks the defaults of the URLs and of LOG_FORMAT,
# and all of those are set here.
WORKER_ENV=(APP_ENV=development ALLOW_PRIVATE_TARGETS=true LOG_FORMAT=json RUST_LOG=info
    DATABASE_URL="$DATABASE_URL" NATS_URL="$NATS_URL" REDIS_URL="$REDIS_URL"
    QUEUE_PREFIX="$QUEUE_PREFIX" WORKER_PORT="$WORKER_PORT")
# The idle worker probes nothing, so it runs in production mode as it is.
IDLE_WORKER_ENV=("${PRODUCTION_ENV[@]}" REDIS_URL="redis://127.0.0.1:$IDLE_REDIS_PORT"
    QUEUE_PREFIX="beacon:bench:idle" WORKER_PORT="$IDLE_WORKER_PORT")
# Placeholders for --dry-run; a real run replaces each.
TOKEN=
SSE_MONITOR_ID='<monitor id>'
BENCH_USER_ID='<user id>'
WORKER_USER_ID='<user id>'

if ! is_dry_run; then
    write_wrk_script
    write_pgbench_script
fi

measure "Start-up: spawn -> /api/health and /api/ready 200, $STARTUP_RUNS runs" measure_startup

step "Start: the baseline server and the api"
start_process hello env PORT="$HELLO_PORT" "$EXAMPLES_DIR/bench_hello"
wait_for_200 hello "$TARGET_URL"
start_process api env "${API_ENV[@]}" PORT="$API_PORT" METRICS_PORT="$API_METRICS_PORT" "$API_BIN" serve
is_dry_run || limit_cpu api
wait_for_200 api "$API_URL/api/ready"
measure "Idle RSS: api" measure_idle_rss api

step "Seed: a user with $API_MONITORS monitors through the api; $WORKER_MONITORS monitors for the worker"
seed

measure "Login burst: $LOGIN_BURST at once, then the api's peak RSS" measure_login_burst

step "Start: the worker, and an idle one on a Redis of its own"
start_process worker env "${WORKER_ENV[@]}" "$WORKER_BIN"
is_dry_run || limit_cpu worker
wait_for_200 worker "http://127.0.0.1:$WORKER_PORT/ready"
measure "Idle RSS: worker" measure_idle_rss worker
start_process worker-idle env "${IDLE_WORKER_ENV[@]}" "$WORKER_BIN"
wait_for_200 worker-idle "http://127.0.0.1:$IDLE_WORKER_PORT/ready"
# Past its start-up (registration, first heartbeat), the idle worker's
# commands are counted from here while everything else is measured.
is_dry_run || sleep 2
run redis-cli -p "$IDLE_REDIS_PORT" CONFIG RESETSTAT >/dev/null
IDLE_STARTED="$(date +%s.%N)"

measure "wrk: bare axum baseline, $CONNECTIONS connections, ${DURATION_SECS}s" \
    measure_wrk hello "$TARGET_URL"
measure "wrk: GET /api/health" measure_wrk api_health "$API_URL/api/health"
measure "wrk: GET /api/monitors, $API_MONITORS monitors, bearer token" \
    measure_wrk api_monitors "$API_URL/api/monitors" --token
measure "pgbench: the monitors query, $CONNECTIONS connections, ${DURATION_SECS}s" measure_pgbench
measure "Check now -> SSE check event, $SSE_SAMPLES samples" measure_sse
measure "Worker throughput: $CHECKS checks over $WORKER_MONITORS monitors" measure_worker_throughput
measure "Peak RSS: api and worker" measure_peak_rss
measure "Redis commands of the idle worker, a window of at least ${IDLE_SECS}s" measure_idle_redis
measure "Frontend: JS + CSS gzipped" measure_frontend

if is_dry_run; then
    echo "dry run: nothing was measured"
    exit 0
fi

step "Results"
write_meta
write_results_json
write_results_md
echo
cat "$BENCH_DIR/results.md"
echo
log "written to $BENCH_DIR/results.md and results.json, logs in $BENCH_DIR/ ($((SECONDS - started))s)"
((${#FAILED[@]} == 0)) || die "${#FAILED[@]} measurement(s) produced no number: ${FAILED[*]}"
