#!/usr/bin/env bash
# Tests scripts/deploy-fly.sh against a fake flyctl (and a fake curl) on PATH
# that record every call: the commands and their order on a first deploy, a
# second run that creates nothing, secrets that never reach the output, the
# refusals, a failed deploy, a failed health check and a rollback. Part of
# scripts/test.sh; touches nothing outside a temporary directory.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/test-deploy-fly.sh [--help]

Runs scripts/deploy-fly.sh against fake `fly` and `curl` commands that record
their calls and keep what they "created" in a temporary directory, and checks:
  - a first deploy runs the right commands in the right order
  - a second deploy creates nothing (it only deploys and verifies)
  - secret values never appear in the output, although the fake prints them
    where flyctl does (mpg create, redis create, mpg attach);
    MIGRATION_DATABASE_URL is the direct (non-PgBouncer) URL; JWT_SECRET and
    the NATS passwords are 64 random hex characters, and each client's
    NATS_URL carries its NATS user and the password the NATS app has for it
  - the runbook's NATS password rotation: a client without NATS_URL gets a
    new generation on both sides; NATS, then the client, are deployed; then
    the older generation is removed from NATS, which is deployed again; a
    new route password restarts a running cluster all at once
  - NATS is deployed as one machine, then scaled to a cluster of three once
  - every question flyctl would ask is answered by a flag: the fake fails
    a question without a terminal, as flyctl does (redis create: eviction,
    ProdPack)
  - an unknown environment, a missing prefix, a missing or logged-out flyctl
    are refused before anything runs
  - --dry-run changes nothing; --only keeps the deploy order, and in an
    environment that was never fully deployed deploys every app
  - production needs --yes without a terminal
  - a failed deploy stops the run; an unhealthy environment fails it
  - rollback redeploys the previous images of web, worker, api and nats, skipping
    newer releases of the image already running (restarts, secrets deploys)

Environment:
  KEEP_WORK=1  keep the temporary directory (calls, state, outputs) and print it
EOF
}

case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
"") ;;
*)
    usage >&2
    echo "error: unknown argument: $1" >&2
    exit 2
    ;;
esac

cd "$(dirname "$0")/.."
readonly SCRIPT="$PWD/scripts/deploy-fly.sh"
readonly PREFIX=bt-staging
readonly ORG=acme

WORK="$(mktemp -d)"
readonly WORK
if [[ -n "${KEEP_WORK:-}" ]]; then
    trap 'echo "kept $WORK" >&2' EXIT
else
    trap 'rm -rf "$WORK"' EXIT
fi

# --- the fakes ------------------------------------------------------------------

mkdir -p "$WORK/bin"
cat >"$WORK/bin/fly" <<'FAKE'
#!/usr/bin/env bash
# Fake flyctl: appends each call to $FAKE_LOG and keeps state in $FAKE_STATE.
set -euo pipefail
state=$FAKE_STATE
# Names that exist in every listing and must never be mistaken for ours.
decoys=(${FAKE_DECOYS:-})

flag() {
    local name=$1
    shift
    while (($# > 0)); do
        [[ "$1" == "$name" ]] && { echo "${2:-}"; return 0; }
        [[ "$1" == "$name="* ]] && { echo "${1#*=}"; return 0; }
        shift
    done
}
app="$(flag --app "$@")"
names_in() { [[ -d "$1" ]] && ls -1 "$1" || true; }

if [[ "$1 ${2:-}" != "secrets import" ]]; then
    printf '%s\n' "$*" >>"$FAKE_LOG"
fi

case "$1 ${2:-}" in
"auth whoami")
    [[ -e "$state/logged-out" ]] && { echo "Error: no access token available" >&2; exit 1; }
    echo "ada@example.com"
    ;;
"apps list")
    { names_in "$state/apps"; printf '%s\n' "${decoys[@]}"; } | jq -R . | jq -s 'map(select(. != "") | {Name: ., Status: "deployed"})'
    ;;
"apps create")
    mkdir -p "$state/apps"
    touch "$state/apps/$3"
    ;;
"ips list")
    names_in "$state/ips/$app" | jq -R '{Type: ., Address: "fdaa:0:1::2"}' | jq -s .
    ;;
"ips allocate-v6")
    mkdir -p "$state/ips/$app"
    touch "$state/ips/$app/private_v6"
    ;;
"machines list")
    count="$(cat "$state/machines/$app" 2>/dev/null || echo 0)"
    jq -n --argjson n "$count" '[range($n) | {id: ("m" + tostring), state: "started", region: "ams"}]'
    ;;
"scale count")
    mkdir -p "$state/machines"
    printf '%s' "$3" >"$state/machines/$app"
    ;;
"secrets list")
    names_in "$state/secrets/$app" | jq -R '{Name: ., Digest: "abc123"}' | jq -s .
    ;;
"secrets unset")
    for name in "$@"; do
        [[ "$name" == --* || "$name" == "$app" || "$name" == secrets || "$name" == unset ]] && continue
        rm -f "$state/secrets/$app/$name"
    done
    ;;
"secrets import")
    mkdir -p "$state/secrets/$app"
    imported=()
    while IFS= read -r line; do
        [[ -n "$line" ]] || continue
        printf '%s' "${line#*=}" >"$state/secrets/$app/${line%%=*}"
        imported+=("${line%%=*}")
    done
    printf '%s <<< %s\n' "$*" "${imported[*]}" >>"$FAKE_LOG"
    ;;
"mpg list")
    clusters="$(names_in "$state/mpg")"
    if [[ -z "$clusters" ]]; then
        echo "No managed postgres clusters found in organization $(flag --org "$@")"
    else
        { printf '%s\n' "$clusters"; printf '%s\n' "${decoys[@]}"; } | jq -R . |
            jq -s 'map(select(. != "") | {id: ("id-" + .), name: ., region: "ams", status: "ready"})'
    fi
    ;;
"mpg create")
    mkdir -p "$state/mpg"
    name="$(flag --name "$@")"
    touch "$state/mpg/$name"
    # As flyctl does: the new cluster's connection string, password included.
    printf 'Managed Postgres cluster created successfully!\n  Name: %s\n' "$name"
    printf '  Connection string: postgresql://fly-user:pg-password-123@pgbouncer.id-%s.flympg.net/fly-db\n' "$name"
    ;;
"mpg attach")
    [[ -e "$state/secrets/$app/DATABASE_URL" ]] && {
        echo "Error: app $app already has DATABASE_URL set" >&2
        exit 1
    }
    user="$(flag --username "$@")"
    url="postgresql://${user:-fly-user}:pg-password-123@pgbouncer.$3.flympg.net/fly-db"
    mkdir -p "$state/secrets/$app"
    printf '%s' "$url" >"$state/secrets/$app/DATABASE_URL"
    printf '\nPostgres cluster %s is being attached to %s\n' "$3" "$app"
    printf 'The following secret was added to %s:\n  DATABASE_URL=%s\n' "$app" "$url"
    ;;
"redis list")
    echo "ID      NAME    ORG     PLAN    PRIMARY REGION  READ REGIONS"
    { names_in "$state/redis"; printf '%s\n' "${decoys[@]}"; } | while read -r name; do
        [[ -n "$name" ]] && printf 'x1  %s  acme  Pay-as-you-go  ams\n' "$name"
    done
    ;;
"redis create")
    # Each question flyctl asks when its flag is missing; without a terminal a
    # question is an error, as in flyctl's prompt package.
    for answered in "--enable-eviction|--disable-eviction" "--enable-prodpack"; do
        if ! grep -Eq -- "(^| )(${answered})(=| |$)" <<<"$*"; then
            echo "Would you like to enable ${answered##*-}?" >&2
            echo "Error: prompt: non interactive" >&2
            exit 1
        fi
    done
    mkdir -p "$state/redis"
    name="$(flag --name "$@")"
    touch "$state/redis/$name"
    # As flyctl does: the new database's URL, password included.
    printf '\nYour database %s is ready. Apps in the acme org can connect to Redis at redis://default:redis-password-456@fly-%s.upstash.io:6379\n' "$name" "$name"
    ;;
"redis status")
    [[ -e "$state/redis/$3" ]] || { echo "Error: not found" >&2; exit 1; }
    printf 'Redis\n  ID           = x1\n  Name         = %s\n  Private URL  = redis://default:redis-password-456@fly-%s.upstash.io:6379\n' "$3" "$3"
    ;;
"deploy "*)
    [[ -e "$state/fail-deploy-$app" ]] && { echo "Error: release command failed" >&2; exit 1; }
    mkdir -p "$state/releases"
    image="$(flag --image "$@")"
    version=$(($(names_in "$state/releases" | grep -c "^$app\." || true) + 1))
    printf '%s' "${image:-registry.fly.io/$app:deployment-$version}" >"$state/releases/$app.$version"
    # A first deploy makes one machine, or two with --ha=true.
    if [[ ! -e "$state/machines/$app" ]]; then
        mkdir -p "$state/machines"
        if [[ "$*" == *"--ha=true"* ]]; then echo 2; else echo 1; fi >"$state/machines/$app"
    fi
    ;;
"releases "*)
    for file in "$state/releases/$app".*; do
        [[ -e "$file" ]] || continue
        jq -n --arg image "$(cat "$file")" --argjson version "${file##*.}" \
            '{Version: $version, Status: "complete", ImageRef: $image}'
    done | jq -s .
    ;;
*)
    echo "fake fly: unexpected command: $*" >&2
    exit 64
    ;;
esac
FAKE

cat >"$WORK/bin/curl" <<'FAKE'
#!/usr/bin/env bash
# Fake curl: answers 200 (or 503 when $FAKE_STATE/unhealthy exists) and
# records the URL.
set -euo pipefail
out=/dev/stdout url=""
while (($# > 0)); do
    case "$1" in
    -o) out=$2; shift ;;
    -w | --max-time) shift ;;
    -*) ;;
    *) url=$1 ;;
    esac
    shift
done
printf 'curl %s\n' "$url" >>"$FAKE_LOG"
if [[ -e "$FAKE_STATE/unhealthy" ]]; then
    printf '{"status":"unavailable","failed":["postgres"]}' >"$out"
    printf '503'
else
    printf '{"status":"ok"}' >"$out"
    printf '200'
fi
FAKE
chmod +x "$WORK/bin/fly" "$WORK/bin/curl"

# --- the harness ----------------------------------------------------------------

FAILURES=0
CASE=""

fail() {
    printf '  FAIL [%s]: %s\n' "$CASE" "$*" >&2
    FAILURES=$((FAILURES + 1))
}

# A fresh, empty Fly organisation for each case.
fresh() {
    CASE=$1
    export FAKE_STATE="$WORK/state-$CASE" FAKE_LOG="$WORK/log-$CASE"
    rm -rf "$FAKE_STATE"
    mkdir -p "$FAKE_STATE"
    : >"$FAKE_LOG"
    printf '%s\n' "- $CASE" >&2
}

# Runs the deploy script with the fakes first on PATH; output goes to $OUT.
OUT=""
STATUS=0
deploy() {
    OUT="$WORK/out-$CASE"
    STATUS=0
    env PATH="$WORK/bin:$PATH" FAKE_DECOYS="$PREFIX-api-old $PREFIX-db-old $PREFIX-redis-old" \
        VERIFY_ATTEMPTS=2 VERIFY_DELAY_SECS=0 \
        bash "$SCRIPT" "$@" </dev/null >"$OUT" 2>&1 || STATUS=$?
}

# The calls that change something, in order (look-ups and curl left out).
changes() {
    grep -Ev '^(auth whoami|apps list|ips list|secrets list|machines list|mpg list|redis list|redis status|releases|curl) ?' "$FAKE_LOG" || true
}

expect_status() {
    if [[ "$STATUS" != "$1" ]]; then
        fail "exit status $STATUS, expected $1; output:"
        sed 's/^/      /' "$OUT" >&2
    fi
}

expect_output() {
    grep -Fq -- "$1" "$OUT" || fail "output lacks '$1'"
}

expect_no_calls() {
    [[ ! -s "$FAKE_LOG" ]] || fail "expected no fly call, got: $(tr '\n' ';' <"$FAKE_LOG")"
}

expect_changes() {
    local expected actual
    expected="$(printf '%s\n' "$@")"
    actual="$(changes)"
    if [[ "$actual" != "$expected" ]]; then
        fail "unexpected changes"
        diff <(echo "$expected") <(echo "$actual") | sed 's/^/      /' >&2 || true
    fi
}

secret() {
    cat "$FAKE_STATE/secrets/$1/$2" 2>/dev/null || true
}

readonly DEPLOY_FLAGS="--primary-region ams --remote-only"
readonly FIRST_DEPLOY=(
    "apps create $PREFIX-nats --org $ORG"
    "apps create $PREFIX-api --org $ORG"
    "apps create $PREFIX-worker --org $ORG"
    "apps create $PREFIX-web --org $ORG"
    "ips allocate-v6 --private --app $PREFIX-api"
    "mpg create --name $PREFIX-db --org $ORG --region ams --plan basic"
    "redis create --name $PREFIX-redis --org $ORG --region ams --no-replicas --disable-eviction --enable-prodpack=false"
    "secrets import --stage --app $PREFIX-api <<< NATS_URL"
    "secrets import --stage --app $PREFIX-worker <<< NATS_URL"
    "secrets import --stage --app $PREFIX-nats <<< NATS_API_PASSWORD_1 NATS_WORKER_PASSWORD_1 NATS_ROUTE_PASSWORD"
    "mpg attach id-$PREFIX-db --app $PREFIX-api"
    "secrets import --stage --app $PREFIX-api <<< MIGRATION_DATABASE_URL REDIS_URL JWT_SECRET"
    "mpg attach id-$PREFIX-db --app $PREFIX-worker"
    "secrets import --stage --app $PREFIX-worker <<< REDIS_URL"
    "deploy --config fly/fly.nats.toml --app $PREFIX-nats $DEPLOY_FLAGS --no-public-ips --ha=false"
    "scale count 3 --app $PREFIX-nats --region ams --yes"
    "deploy --config fly/fly.api.toml --app $PREFIX-api $DEPLOY_FLAGS --no-public-ips --ha=false"
    "deploy --config fly/fly.worker.toml --app $PREFIX-worker $DEPLOY_FLAGS --no-public-ips --ha=false"
    "deploy --config fly/fly.frontend.toml --app $PREFIX-web $DEPLOY_FLAGS --ha=false --env API_UPSTREAM=$PREFIX-api.flycast:80"
)
readonly REDEPLOY=(
    "deploy --config fly/fly.nats.toml --app $PREFIX-nats $DEPLOY_FLAGS --no-public-ips --ha=false"
    "deploy --config fly/fly.api.toml --app $PREFIX-api $DEPLOY_FLAGS --no-public-ips --ha=false"
    "deploy --config fly/fly.worker.toml --app $PREFIX-worker $DEPLOY_FLAGS --no-public-ips --ha=false"
    "deploy --config fly/fly.frontend.toml --app $PREFIX-web $DEPLOY_FLAGS --ha=false --env API_UPSTREAM=$PREFIX-api.flycast:80"
)
readonly STAGING=(staging --prefix "$PREFIX" --org "$ORG" --region ams)

# --- the cases --------------------------------------------------------------------

fresh first-and-second-run
deploy "${STAGING[@]}"
expect_status 0
expect_changes "${FIRST_DEPLOY[@]}"
grep -Fxq "curl https://$PREFIX-web.fly.dev/health" "$FAKE_LOG" || fail "did not check /health"
grep -Fxq "curl https://$PREFIX-web.fly.dev/api/ready" "$FAKE_LOG" || fail "did not check /api/ready"
[[ "$(secret "$PREFIX-api" MIGRATION_DATABASE_URL)" == "postgresql://fly-user:pg-password-123@direct.id-$PREFIX-db.flympg.net/fly-db" ]] ||
    fail "MIGRATION_DATABASE_URL is not the direct URL: $(secret "$PREFIX-api" MIGRATION_DATABASE_URL)"
nats_passwords=()
for role in api worker; do
    name="NATS_$(tr '[:lower:]' '[:upper:]' <<<"$role")_PASSWORD_1"
    password="$(secret "$PREFIX-nats" "$name")"
    [[ "$password" =~ ^[0-9a-f]{64}$ ]] || fail "$name is not 64 hex characters"
    [[ "$(secret "$PREFIX-$role" NATS_URL)" == "nats://$role-1:$password@$PREFIX-nats.internal:4222" ]] ||
        fail "NATS_URL of $role is not its NATS user and password at $PREFIX-nats.internal"
    nats_passwords+=("$password")
done
[[ "${nats_passwords[0]}" != "${nats_passwords[1]}" ]] || fail "api and worker share a NATS password"
route_password="$(secret "$PREFIX-nats" NATS_ROUTE_PASSWORD)"
[[ "$route_password" =~ ^[0-9a-f]{64}$ ]] || fail "NATS_ROUTE_PASSWORD is not 64 hex characters"
[[ "$(secret "$PREFIX-worker" REDIS_URL)" == "redis://default:redis-password-456@fly-$PREFIX-redis.upstash.io:6379" ]] ||
    fail "REDIS_URL is not the one fly redis status shows"
jwt="$(secret "$PREFIX-api" JWT_SECRET)"
[[ "$jwt" =~ ^[0-9a-f]{64}$ ]] || fail "JWT_SECRET is not 64 hex characters"
for value in pg-password-123 redis-password-456 "$jwt" "${nats_passwords[@]}" "$route_password"; do
    if grep -Fq -- "$value" "$OUT"; then fail "a secret value reached the output"; fi
done
# Same organisation again: everything exists now.
: >"$FAKE_LOG"
deploy "${STAGING[@]}"
expect_status 0
expect_changes "${REDEPLOY[@]}"
[[ "$(secret "$PREFIX-api" JWT_SECRET)" == "$jwt" ]] || fail "JWT_SECRET was generated again"
[[ "$(secret "$PREFIX-nats" NATS_API_PASSWORD_1)" == "${nats_passwords[0]}" ]] || fail "a NATS password was generated again"

# The runbook's rotation of the worker's NATS password: its NATS_URL unset
# (staged), then a deploy, even of only the api, makes generation 2, deploys
# NATS (accepting 1 and 2) and the worker on 2, then forgets 1.
fresh rotate-nats-password
deploy "${STAGING[@]}"
api_url="$(secret "$PREFIX-api" NATS_URL)"
rm "$FAKE_STATE/secrets/$PREFIX-worker/NATS_URL"
: >"$FAKE_LOG"
deploy "${STAGING[@]}" --only api
expect_status 0
expect_changes \
    "secrets import --stage --app $PREFIX-worker <<< NATS_URL" \
    "secrets import --stage --app $PREFIX-nats <<< NATS_WORKER_PASSWORD_2" \
    "deploy --config fly/fly.nats.toml --app $PREFIX-nats $DEPLOY_FLAGS --no-public-ips --ha=false" \
    "deploy --config fly/fly.api.toml --app $PREFIX-api $DEPLOY_FLAGS --no-public-ips --ha=false" \
    "deploy --config fly/fly.worker.toml --app $PREFIX-worker $DEPLOY_FLAGS --no-public-ips --ha=false" \
    "secrets unset NATS_WORKER_PASSWORD_1 --stage --app $PREFIX-nats" \
    "deploy --config fly/fly.nats.toml --app $PREFIX-nats $DEPLOY_FLAGS --no-public-ips --ha=false"
new_password="$(secret "$PREFIX-nats" NATS_WORKER_PASSWORD_2)"
[[ "$new_password" =~ ^[0-9a-f]{64}$ ]] || fail "no new generation of the worker's NATS password"
[[ "$(secret "$PREFIX-worker" NATS_URL)" == "nats://worker-2:$new_password@$PREFIX-nats.internal:4222" ]] ||
    fail "the worker's NATS_URL does not name generation 2"
[[ -z "$(secret "$PREFIX-nats" NATS_WORKER_PASSWORD_1)" ]] || fail "generation 1 was not removed after the worker moved"
[[ "$(secret "$PREFIX-api" NATS_URL)" == "$api_url" ]] || fail "the api's NATS password was touched"
grep -Fq -- "$new_password" "$OUT" && fail "the new NATS password reached the output"

# A new route password cannot roll: old and new nodes would not route to
# each other. A running cluster restarts all at once.
fresh rotate-nats-route-password
deploy "${STAGING[@]}"
old_route="$(secret "$PREFIX-nats" NATS_ROUTE_PASSWORD)"
rm "$FAKE_STATE/secrets/$PREFIX-nats/NATS_ROUTE_PASSWORD"
: >"$FAKE_LOG"
deploy "${STAGING[@]}" --only nats
expect_status 0
expect_changes \
    "secrets import --stage --app $PREFIX-nats <<< NATS_ROUTE_PASSWORD" \
    "deploy --config fly/fly.nats.toml --app $PREFIX-nats $DEPLOY_FLAGS --no-public-ips --ha=false --strategy immediate"
[[ "$(secret "$PREFIX-nats" NATS_ROUTE_PASSWORD)" =~ ^[0-9a-f]{64}$ && "$(secret "$PREFIX-nats" NATS_ROUTE_PASSWORD)" != "$old_route" ]] ||
    fail "no new route password"

fresh dry-run
deploy "${STAGING[@]}" --dry-run
expect_status 0
expect_changes
expect_output "+ fly apps create $PREFIX-api --org $ORG"
expect_output "+ fly deploy --config fly/fly.api.toml --app $PREFIX-api"
expect_output "dry run: nothing was changed"

fresh dry-run-without-flyctl
# PATH without any fly or flyctl: only the fake curl and the system's tools.
no_fly_path="$WORK/nofly"
mkdir -p "$no_fly_path"
cp "$WORK/bin/curl" "$no_fly_path/"
clean_path="$no_fly_path"
IFS=':' read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
    [[ -x "$dir/fly" || -x "$dir/flyctl" ]] || clean_path+=":$dir"
done
OUT="$WORK/out-$CASE"
STATUS=0
env PATH="$clean_path" bash "$SCRIPT" "${STAGING[@]}" --dry-run >"$OUT" 2>&1 || STATUS=$?
expect_status 0
expect_output "flyctl is not installed"
expect_output "+ fly mpg create --name $PREFIX-db"

fresh missing-flyctl
OUT="$WORK/out-$CASE"
STATUS=0
env PATH="$clean_path" bash "$SCRIPT" "${STAGING[@]}" >"$OUT" 2>&1 || STATUS=$?
expect_status 1
expect_output "flyctl is not installed"

fresh logged-out
touch "$FAKE_STATE/logged-out"
deploy "${STAGING[@]}"
expect_status 1
expect_output "not logged in"
expect_changes

fresh unknown-environment
deploy qa --prefix "$PREFIX"
expect_status 2
expect_output "unknown environment 'qa'"
expect_no_calls

fresh missing-prefix
OUT="$WORK/out-$CASE"
STATUS=0
env -u APP_PREFIX PATH="$WORK/bin:$PATH" bash "$SCRIPT" staging >"$OUT" 2>&1 || STATUS=$?
expect_status 2
expect_output "no app prefix"
expect_no_calls

fresh bad-arguments
deploy staging --prefix Not_A_Name
expect_status 2
deploy staging --prefix "$PREFIX" --only api,db
expect_status 2
expect_output "unknown app 'db'"
deploy staging --prefix "$PREFIX" --region amsterdam
expect_status 2
expect_no_calls

fresh only-keeps-order
deploy "${STAGING[@]}"
: >"$FAKE_LOG"
deploy "${STAGING[@]}" --only web,api
expect_status 0
expect_changes \
    "deploy --config fly/fly.api.toml --app $PREFIX-api $DEPLOY_FLAGS --no-public-ips --ha=false" \
    "deploy --config fly/fly.frontend.toml --app $PREFIX-web $DEPLOY_FLAGS --ha=false --env API_UPSTREAM=$PREFIX-api.flycast:80"

# What CI's first push to an empty organisation does: --only the app whose
# files changed. Half a stack would not work; all of it is deployed.
fresh only-in-an-empty-org-deploys-everything
deploy "${STAGING[@]}" --only api
expect_status 0
expect_output "was never fully deployed, so every app is deployed, not only api"
expect_changes "${FIRST_DEPLOY[@]}"

fresh production-needs-confirmation
deploy production --prefix "$PREFIX" --org "$ORG"
expect_status 1
expect_output "pass --yes"
expect_changes
deploy production --prefix "$PREFIX" --org "$ORG" --yes
expect_status 0
changes | grep -Fxq "mpg create --name $PREFIX-db --org $ORG --region ams --plan starter" || fail "production does not use the starter plan"
changes | grep -Fxq "deploy --config fly/fly.api.toml --app $PREFIX-api $DEPLOY_FLAGS --no-public-ips --ha=true" || fail "production api is not deployed with --ha=true"
changes | grep -Fxq "deploy --config fly/fly.nats.toml --app $PREFIX-nats $DEPLOY_FLAGS --no-public-ips --ha=false" || fail "production NATS does not start from one machine"
changes | grep -Fxq "scale count 3 --app $PREFIX-nats --region ams --yes" || fail "production NATS is not scaled to a cluster"

fresh failed-deploy-stops
mkdir -p "$FAKE_STATE"
touch "$FAKE_STATE/fail-deploy-$PREFIX-api"
deploy "${STAGING[@]}"
expect_status 1
expect_output "deploying $PREFIX-api failed"
if changes | grep -q "^deploy --config fly/fly.worker.toml"; then fail "the worker was deployed after the api failed"; fi
if grep -q '^curl' "$FAKE_LOG"; then fail "verified after a failed deploy"; fi

fresh unhealthy-fails
touch "$FAKE_STATE/unhealthy"
deploy "${STAGING[@]}"
expect_status 1
expect_output "unhealthy after 2 attempts"
expect_output '"failed":["postgres"]'

# The runbook's rotation: a new Postgres user, the old URLs unset (staged),
# then the script attaches the new user to both apps and deploys them.
fresh rotate-database-user
deploy "${STAGING[@]}"
rm "$FAKE_STATE/secrets/$PREFIX-api/DATABASE_URL" "$FAKE_STATE/secrets/$PREFIX-api/MIGRATION_DATABASE_URL" \
    "$FAKE_STATE/secrets/$PREFIX-worker/DATABASE_URL"
: >"$FAKE_LOG"
DATABASE_USER=beacon_2 deploy "${STAGING[@]}" --only api,worker
expect_status 0
expect_changes \
    "mpg attach id-$PREFIX-db --app $PREFIX-api --username beacon_2" \
    "secrets import --stage --app $PREFIX-api <<< MIGRATION_DATABASE_URL" \
    "mpg attach id-$PREFIX-db --app $PREFIX-worker --username beacon_2" \
    "deploy --config fly/fly.api.toml --app $PREFIX-api $DEPLOY_FLAGS --no-public-ips --ha=false" \
    "deploy --config fly/fly.worker.toml --app $PREFIX-worker $DEPLOY_FLAGS --no-public-ips --ha=false"
for secret_of in "$PREFIX-api DATABASE_URL" "$PREFIX-api MIGRATION_DATABASE_URL" "$PREFIX-worker DATABASE_URL"; do
    # shellcheck disable=SC2086 # two words: the app and the secret
    [[ "$(secret $secret_of)" == postgresql://beacon_2:* ]] || fail "$secret_of is not the new user's: $(secret $secret_of)"
done

fresh rollback
deploy "${STAGING[@]}"
deploy "${STAGING[@]}"
# What `fly secrets deploy` or a restart leaves: a newer release with the
# image already running. Rolling back must skip it.
for app in nats api worker web; do
    cp "$FAKE_STATE/releases/$PREFIX-$app.2" "$FAKE_STATE/releases/$PREFIX-$app.3"
done
: >"$FAKE_LOG"
deploy staging rollback --prefix "$PREFIX" --org "$ORG" --region ams
expect_status 0
expect_changes \
    "deploy --config fly/fly.frontend.toml --app $PREFIX-web --image registry.fly.io/$PREFIX-web:deployment-1 --env API_UPSTREAM=$PREFIX-api.flycast:80" \
    "deploy --config fly/fly.worker.toml --app $PREFIX-worker --image registry.fly.io/$PREFIX-worker:deployment-1" \
    "deploy --config fly/fly.api.toml --app $PREFIX-api --image registry.fly.io/$PREFIX-api:deployment-1" \
    "deploy --config fly/fly.nats.toml --app $PREFIX-nats --image registry.fly.io/$PREFIX-nats:deployment-1"

fresh rollback-without-history
deploy "${STAGING[@]}"
deploy staging rollback --prefix "$PREFIX" --org "$ORG" --only api
expect_status 1
expect_output "no earlier successful release"

if ((FAILURES > 0)); then
    echo "deploy-fly.sh: $FAILURES check(s) failed" >&2
    exit 1
fi
echo "deploy-fly.sh: all checks passed"
