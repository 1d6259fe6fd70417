#!/usr/bin/env bash
# Stands up (or updates) a whole Beacon environment on Fly.io: creates what is
# missing, deploys the four apps in order and checks the result through the
# public URL. Safe to run again: it creates nothing twice.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/deploy-fly.sh ENVIRONMENT [deploy | rollback] [options]

deploy (the default) creates whatever is missing in the Fly organisation, then
deploys and verifies:
  1. apps <prefix>-nats, <prefix>-api, <prefix>-worker, <prefix>-web
     (matched by exact name)
  2. a Flycast private IPv6 address for -api: it never gets a public IP
     (-nats needs none: clients reach its machines at <prefix>-nats.internal)
  3. Managed Postgres <prefix>-db, attached to -api and -worker (DATABASE_URL,
     through PgBouncer) and MIGRATION_DATABASE_URL on -api (its direct URL)
  4. Upstash Redis <prefix>-redis, eviction off (it holds the job queue)
  5. secrets, generated or looked up once, staged for the deploy that
     follows, never printed: NATS_API_PASSWORD_<n>, NATS_WORKER_PASSWORD_<n>
     and NATS_ROUTE_PASSWORD on -nats; NATS_URL (user api-<n> or worker-<n>
     and its password), REDIS_URL and JWT_SECRET on the others. A client
     without NATS_URL gets a new generation on both sides, and both apps
     deploy; once the client runs on it, the older ones are removed from
     -nats (docs/RUNBOOK.md: rotating the NATS passwords).
  6. fly deploy, in order: nats (then scaled to 3 machines, a cluster), api
     (its release_command runs the migrations; a failed migration stops
     here), worker, web
  7. https://<prefix>-web.fly.dev/health and /api/ready must answer 200
A second run finds everything and only deploys and verifies.

rollback redeploys the previous successful image of web, worker, api and
nats (in that order) and verifies.

ENVIRONMENT is staging or production. Production asks for confirmation and
deploys the public-facing apps with a spare machine each (fly deploy --ha),
on Postgres plan "starter"; staging runs one machine of each on "basic".

Options:
  --prefix PREFIX  app name prefix (default: $APP_PREFIX), e.g. beacon-staging
  --org ORG        Fly organisation slug (default: $FLY_ORG, else personal)
  --region REGION  primary region of new machines, Postgres and Redis
                   (default: $FLY_REGION, else ams)
  --only APPS      comma-separated subset of nats,api,worker,web; every app
                   when one of them does not exist yet (still run in
                   that order)
  --yes            do not ask before changing production
  --dry-run        print the commands that change something instead of running
                   them; look-ups (what exists) still run when flyctl is logged
                   in, so the plan shown is exact
  -h, --help       show this help

Environment:
  FLY_API_TOKEN      used by flyctl when set (CI); otherwise run `fly auth login`
  VERIFY_ATTEMPTS    health check attempts after deploying (default 24)
  VERIFY_DELAY_SECS  seconds between attempts (default 5)
  DATABASE_USER      the Managed Postgres user `fly mpg attach` gives an app
                     that lacks DATABASE_URL (default: the cluster's own);
                     how credentials are rotated (docs/RUNBOOK.md)

Needs flyctl (fly or flyctl on PATH), jq and curl. Run from anywhere: it
deploys from the repository root, the Docker build context of every image.
EOF
}

# Every app in deploy order and where the others reach it (with "<prefix>"
# in it), from fly/apps; the secrets each gets and who makes them (generated
# here, attached by flyctl, or yours), from fly/secrets: the data the
# deployment tests and `cargo xtask fly-net` read too (xtask/src/fly_apps.rs,
# which also rejects a malformed line). "-" there is empty here.
ALL_APPS=()
declare -A APP_ADDRESS=() APP_SECRETS=() SECRET_KIND=()
read_fly_apps() {
    local app address name kind apps
    # A last line without its newline still counts.
    while read -r app address || [[ -n "$app" ]]; do
        [[ -n "$app" && "$app" != '#'* ]] || continue
        [[ "$address" != - ]] || address=""
        ALL_APPS+=("$app")
        APP_ADDRESS[$app]=$address
        APP_SECRETS[$app]=""
    done <"$1"
    while read -r name kind apps || [[ -n "$name" ]]; do
        [[ -n "$name" && "$name" != '#'* ]] || continue
        SECRET_KIND[$name]=$kind
        for app in $apps; do
            APP_SECRETS[$app]+="${APP_SECRETS[$app]:+ }$name"
        done
    done <"$2"
    readonly ALL_APPS APP_ADDRESS APP_SECRETS SECRET_KIND
}
read_fly_apps "$(dirname "$0")/../fly/apps" "$(dirname "$0")/../fly/secrets"

# Whether the first argument is one of the others.
is_one_of() {
    local wanted=$1 item
    shift
    for item in "$@"; do
        [[ "$item" == "$wanted" ]] && return 0
    done
    return 1
}

# Machines in the NATS cluster: a majority survives the loss of one.
readonly NATS_NODES=3
# Managed Postgres plans (fly mpg create --plan): basic is 2 shared vCPUs and
# 1 GB, starter 2 GB.
readonly POSTGRES_PLAN_STAGING=basic
readonly POSTGRES_PLAN_PRODUCTION=starter

usage_error() {
    printf 'error: %s\n' "$*" >&2
    echo "run scripts/deploy-fly.sh --help for usage" >&2
    exit 2
}

ENVIRONMENT=""
ACTION=""
PREFIX="${APP_PREFIX:-}"
ORG="${FLY_ORG:-personal}"
REGION="${FLY_REGION:-ams}"
ONLY=""
ASSUME_YES=0

while (($# > 0)); do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --prefix | --org | --region | --only)
        (($# >= 2)) || usage_error "$1 needs a value"
        case "$1" in
        --prefix) PREFIX=$2 ;;
        --org) ORG=$2 ;;
        --region) REGION=$2 ;;
        --only) ONLY=$2 ;;
        esac
        shift
        ;;
    --prefix=*) PREFIX=${1#*=} ;;
    --org=*) ORG=${1#*=} ;;
    --region=*) REGION=${1#*=} ;;
    --only=*) ONLY=${1#*=} ;;
    --yes) ASSUME_YES=1 ;;
    --dry-run) export DRY_RUN=1 ;;
    -*) usage_error "unknown option: $1" ;;
    *)
        if [[ -z "$ENVIRONMENT" ]]; then
            ENVIRONMENT=$1
        elif [[ -z "$ACTION" ]]; then
            ACTION=$1
        else
            usage_error "unexpected argument: $1"
        fi
        ;;
    esac
    shift
done

# Every argument is checked before anything else runs.
case "$ENVIRONMENT" in
staging | production) ;;
"") usage_error "missing ENVIRONMENT: staging or production" ;;
*) usage_error "unknown environment '$ENVIRONMENT': use staging or production" ;;
esac
ACTION=${ACTION:-deploy}
case "$ACTION" in
deploy | rollback) ;;
*) usage_error "unknown action '$ACTION': use deploy or rollback" ;;
esac
[[ -n "$PREFIX" ]] || usage_error "no app prefix: set APP_PREFIX or pass --prefix (e.g. beacon-$ENVIRONMENT)"
# Fly app names are global and DNS labels: lowercase letters, digits, dashes.
[[ "$PREFIX" =~ ^[a-z][a-z0-9-]{0,38}[a-z0-9]$ ]] ||
    usage_error "prefix '$PREFIX' is not usable in app names: lowercase letters, digits and dashes, 2-40 characters"
[[ "$ORG" =~ ^[a-z0-9][a-z0-9-]*$ ]] || usage_error "organisation '$ORG' is not a Fly organisation slug"
[[ "$REGION" =~ ^[a-z]{3}$ ]] || usage_error "region '$REGION' is not a Fly region code like ams or iad"

SELECTED=()
if [[ -z "$ONLY" ]]; then
    SELECTED=("${ALL_APPS[@]}")
else
    IFS=',' read -r -a wanted <<<"$ONLY"
    printf -v app_list '%s, ' "${ALL_APPS[@]}"
    for name in "${wanted[@]}"; do
        is_one_of "$name" "${ALL_APPS[@]}" || usage_error "unknown app '$name' in --only: use ${app_list%, }"
    done
    # Keep the deploy order whatever order --only lists them in.
    for name in "${ALL_APPS[@]}"; do
        if is_one_of "$name" "${wanted[@]}"; then
            SELECTED+=("$name")
        fi
    done
fi

cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib.sh

if [[ "$ENVIRONMENT" == production ]]; then
    HA=true
    POSTGRES_PLAN=$POSTGRES_PLAN_PRODUCTION
else
    HA=false
    POSTGRES_PLAN=$POSTGRES_PLAN_STAGING
fi
VERIFY_ATTEMPTS=${VERIFY_ATTEMPTS:-24}
VERIFY_DELAY_SECS=${VERIFY_DELAY_SECS:-5}
[[ "$VERIFY_ATTEMPTS" =~ ^[1-9][0-9]*$ ]] || usage_error "VERIFY_ATTEMPTS must be a positive whole number"
[[ "$VERIFY_DELAY_SECS" =~ ^[0-9]+$ ]] || usage_error "VERIFY_DELAY_SECS must be a whole number of seconds"

readonly DB_NAME="$PREFIX-db"
readonly REDIS_NAME="$PREFIX-redis"
# Every started machine of the NATS app, from Fly's private DNS.
readonly NATS_ADDRESS_VALUE=${APP_ADDRESS[nats]//<prefix>/"$PREFIX"}
# Flycast reaches the api's http_service through Fly's proxy: port 80, plain HTTP.
readonly API_UPSTREAM_VALUE=${APP_ADDRESS[api]//<prefix>/"$PREFIX"}
readonly WEB_URL=${APP_ADDRESS[web]//<prefix>/"$PREFIX"}

app_name() {
    printf '%s-%s\n' "$PREFIX" "$1"
}

is_selected() {
    is_one_of "$1" "${SELECTED[@]}"
}

# Adds an app to this run, keeping the deploy order.
select_too() {
    is_selected "$1" && return 0
    local app selected=()
    for app in "${ALL_APPS[@]}"; do
        if is_selected "$app" || [[ "$app" == "$1" ]]; then
            selected+=("$app")
        fi
    done
    SELECTED=("${selected[@]}")
    log "$(app_name "$1") is deployed too: its secrets changed"
}

config_of() {
    case "$1" in
    web) echo fly/fly.frontend.toml ;;
    *) echo "fly/fly.$1.toml" ;;
    esac
}

# --- flyctl -----------------------------------------------------------------

FLY=""
# Set when a dry run cannot ask Fly what exists; it then shows a first deploy.
OFFLINE=0

preflight() {
    if command -v fly >/dev/null; then
        FLY=fly
    elif command -v flyctl >/dev/null; then
        FLY=flyctl
    elif is_dry_run; then
        log "note: flyctl is not installed; showing what a first deploy into an empty organisation runs"
        FLY=fly
        OFFLINE=1
    else
        die "flyctl is not installed (neither fly nor flyctl is on PATH): see https://fly.io/docs/flyctl/install/"
    fi
    command -v jq >/dev/null || die "jq is not installed: apt-get install jq (or brew install jq)"
    command -v curl >/dev/null || die "curl is not installed: apt-get install curl (or brew install curl)"
    if ((OFFLINE == 0)) && ! "$FLY" auth whoami >/dev/null 2>&1; then
        if is_dry_run; then
            log "note: flyctl is not logged in; showing what a first deploy into an empty organisation runs"
            OFFLINE=1
        else
            die "flyctl is not logged in: run \`$FLY auth login\` (or set FLY_API_TOKEN)"
        fi
    fi
}

# A read-only question to Fly: runs even in a dry run (so the plan is exact),
# shown with "?" where changes are shown with "+". Fails when Fly cannot be asked.
ask() {
    ((OFFLINE == 0)) || return 1
    printf '? %s %s\n' "$FLY" "$*" >&2
    "$FLY" "$@"
}

# A change: shown, and under --dry-run only shown.
change() {
    run "$FLY" "$@"
}

# --- what exists --------------------------------------------------------------

EXISTING_APPS=""
load_existing_apps() {
    local listing
    if listing="$(ask apps list --org "$ORG" --json)"; then
        EXISTING_APPS="$(jq -r '.[] | (.Name // .name)' <<<"$listing")" ||
            die "cannot read \`$FLY apps list --json\`: is flyctl up to date?"
    elif ((OFFLINE == 0)); then
        die "cannot list the apps of organisation $ORG"
    fi
}

# Exact names only: prefix "beacon" must not find "beacon-api-old".
app_exists() {
    grep -Fxq -- "$1" <<<"$EXISTING_APPS"
}

# How many machines an app has.
machine_count() {
    local app=$1 listing
    app_exists "$app" || { echo 0; return 0; }
    listing="$(ask machines list --app "$app" --json)" || {
        ((OFFLINE == 1)) && { echo 0; return 0; }
        die "cannot list the machines of $app"
    }
    jq 'length' <<<"$listing"
}

# Newline-separated names of the secrets an app has (staged or deployed).
secret_names() {
    local app=$1 listing
    app_exists "$app" || return 0
    listing="$(ask secrets list --app "$app" --json)" || die "cannot list the secrets of $app"
    jq -r '.[] | (.Name // .name)' <<<"$listing"
}

ip_types() {
    local app=$1 listing
    app_exists "$app" || return 0
    listing="$(ask ips list --app "$app" --json)" || die "cannot list the IP addresses of $app"
    jq -r '.[] | (.Type // .type)' <<<"$listing"
}

# The id of the Managed Postgres cluster named DB_NAME, or nothing.
postgres_id() {
    local listing ids
    listing="$(ask mpg list --org "$ORG" --json)" || {
        ((OFFLINE == 1)) && return 0
        die "cannot list the Managed Postgres clusters of $ORG"
    }
    # With no cluster at all, flyctl prints a sentence instead of JSON.
    jq -e 'type == "array"' >/dev/null 2>&1 <<<"$listing" || return 0
    ids="$(jq -r --arg name "$DB_NAME" '.[] | select(.name == $name) | .id' <<<"$listing")"
    if (($(grep -c . <<<"$ids") > 1)); then
        die "more than one Managed Postgres cluster is named $DB_NAME in $ORG: delete or rename the extra one"
    fi
    printf '%s' "$ids"
}

redis_exists() {
    local listing
    listing="$(ask redis list --org "$ORG")" || {
        ((OFFLINE == 1)) && return 1
        die "cannot list the Upstash Redis databases of $ORG"
    }
    # A table: the name is one whitespace-separated field of a row.
    awk -v name="$REDIS_NAME" '{ for (i = 1; i <= NF; i++) if ($i == name) found = 1 } END { exit !found }' <<<"$listing"
}

# --- provisioning -------------------------------------------------------------

ensure_app() {
    local app=$1
    if app_exists "$app"; then
        log "app $app exists"
        return 0
    fi
    change apps create "$app" --org "$ORG"
    # In a dry run the app is not really there: later look-ups skip it.
    is_dry_run || EXISTING_APPS+=$'\n'"$app"
}

# Private apps get their Flycast address before their first deploy: a first
# deploy of an app with services and no IPs would allocate public ones.
ensure_private_ip() {
    local app=$1 types
    types="$(ip_types "$app")"
    if grep -Exq 'v4|v6|shared_v4' <<<"$types"; then
        log "WARNING: $app has a public IP address and must not: list them with \`$FLY ips list --app $app\` and remove each with \`$FLY ips release ADDRESS --app $app\`"
    fi
    if grep -Fxq private_v6 <<<"$types"; then
        log "$app has its Flycast address"
        return 0
    fi
    change ips allocate-v6 --private --app "$app"
}

POSTGRES_ID=""
ensure_postgres() {
    POSTGRES_ID="$(postgres_id)"
    if [[ -n "$POSTGRES_ID" ]]; then
        log "Managed Postgres $DB_NAME exists ($POSTGRES_ID)"
        return 0
    fi
    # flyctl ends with the new cluster's connection string, password and all:
    # kept, not shown (the step's output is a CI log).
    change mpg create --name "$DB_NAME" --org "$ORG" --region "$REGION" --plan "$POSTGRES_PLAN" >/dev/null ||
        die "creating Managed Postgres $DB_NAME failed: see \`$FLY mpg list --org $ORG\`"
    if is_dry_run; then
        POSTGRES_ID="<id of $DB_NAME>"
        return 0
    fi
    POSTGRES_ID="$(postgres_id)"
    [[ -n "$POSTGRES_ID" ]] || die "created $DB_NAME but \`$FLY mpg list\` does not show it yet: run this script again in a minute"
}

ensure_redis() {
    if redis_exists; then
        log "Upstash Redis $REDIS_NAME exists"
        return 0
    fi
    # Eviction would silently drop queued jobs when memory runs out. Every
    # question flyctl would ask is answered here: without a terminal a
    # question is an error, and by hand it would stop on a paid add-on
    # (ProdPack). flyctl prints the new URL, password and all: kept, not shown.
    change redis create --name "$REDIS_NAME" --org "$ORG" --region "$REGION" \
        --no-replicas --disable-eviction --enable-prodpack=false >/dev/null ||
        die "creating Upstash Redis $REDIS_NAME failed: see \`$FLY redis list --org $ORG\`"
}

redis_url() {
    local status url
    if is_dry_run; then
        echo "<from $FLY redis status $REDIS_NAME>"
        return 0
    fi
    status="$(ask redis status "$REDIS_NAME")" || die "cannot read the status of Upstash Redis $REDIS_NAME"
    url="$(grep -oE 'rediss?://[^[:space:]]+' <<<"$status" | head -n 1)" || true
    [[ -n "$url" ]] || die "\`$FLY redis status $REDIS_NAME\` shows no redis:// URL: is flyctl up to date?"
    printf '%s' "$url"
}

random_secret() {
    # 32 random bytes as 64 hex characters, as `openssl rand -hex 32` would print.
    od -An -vtx1 -N32 /dev/urandom | tr -d ' \n'
}

# Sets the secrets APP lacks among NAMES. Values travel on stdin only (never in
# argv, never printed) and are staged: the deploy that follows applies them.
ensure_secrets() {
    local app=$1
    shift
    local have missing=() name lines=() attached="" value names_shown
    have="$(secret_names "$app")"
    for name in "$@"; do
        grep -Fxq -- "$name" <<<"$have" || missing+=("$name")
    done
    if ((${#missing[@]} == 0)); then
        log "$app has its secrets"
        return 0
    fi
    # Yours first: nothing is made for an app that cannot start anyway.
    for name in "${missing[@]}"; do
        [[ "${SECRET_KIND[$name]}" == yours ]] || continue
        local how="printf '$name=%s\\n' VALUE | $FLY secrets import --stage --app $app"
        if is_dry_run; then
            log "$app lacks $name, which only you have (fly/secrets): a real run stops here until you set it: $how"
        else
            die "$app needs the secret $name, which only you have (fly/secrets): $how; then run this again"
        fi
    done
    for name in "${missing[@]}"; do
        [[ "${SECRET_KIND[$name]}" != yours ]] || continue
        case "$name" in
        DATABASE_URL)
            # Sets DATABASE_URL (the PgBouncer URL) on the app itself; flyctl
            # prints the URL, so its output is kept, not shown.
            local attach=(mpg attach "$POSTGRES_ID" --app "$app")
            [[ -n "${DATABASE_USER:-}" ]] && attach+=(--username "$DATABASE_USER")
            attached="$(change "${attach[@]}")" ||
                die "attaching $DB_NAME to $app failed"
            ;;
        MIGRATION_DATABASE_URL)
            # The same user and database on the direct host: migrations hold a
            # session-level advisory lock, which PgBouncer cannot carry.
            local direct
            direct="$(sed -nE 's/^[[:space:]]*DATABASE_URL=(.*@)pgbouncer\.(.*)$/\1direct.\2/p' <<<"$attached" | head -n 1)"
            if [[ -n "$direct" ]]; then
                lines+=("MIGRATION_DATABASE_URL=$direct")
            elif is_dry_run; then
                lines+=("MIGRATION_DATABASE_URL=<the direct URL of $DB_NAME>")
            else
                log "WARNING: cannot derive MIGRATION_DATABASE_URL for $app; set it to the direct URL of $DB_NAME (fly.io dashboard > Managed Postgres > Connect): printf 'MIGRATION_DATABASE_URL=%s\\n' URL | $FLY secrets import --app $app"
            fi
            ;;
        REDIS_URL)
            value="$(redis_url)"
            lines+=("REDIS_URL=$value")
            ;;
        # Made with the NATS app's password, by ensure_nats_secrets.
        NATS_URL) ;;
        JWT_SECRET)
            value="$(random_secret)"
            lines+=("JWT_SECRET=$value")
            ;;
        *) die "fly/secrets says this script makes $name ($app), but it has no way to: teach ensure_secrets, or make it 'yours'" ;;
        esac
    done
    ((${#lines[@]} > 0)) || return 0
    stage_secrets "$app" "${lines[@]}"
}

# Stages NAME=VALUE lines on APP for its next deploy.
stage_secrets() {
    local app=$1 names_shown
    shift
    names_shown="$(printf '%s\n' "$@" | cut -d= -f1 | tr '\n' ' ')"
    log "$app: setting ${names_shown% } (values on stdin, not shown)"
    # The values travel through a pipe, never argv or a file. What the
    # command leaves unread (a dry run reads nothing) is drained, or printf
    # could die of SIGPIPE and fail the step under pipefail.
    printf '%s\n' "$@" | (
        status=0
        change secrets import --stage --app "$app" || status=$?
        cat >/dev/null
        exit "$status"
    )
}

# NATS_API_PASSWORD for api, NATS_WORKER_PASSWORD for worker.
nats_password_name() {
    printf 'NATS_%s_PASSWORD\n' "$(tr '[:lower:]' '[:upper:]' <<<"$1")"
}

# The generations of a NATS client's password on the NATS app
# (NATS_API_PASSWORD_<n> for role api), oldest first, one number a line.
nats_generations() {
    secret_names "$(app_name nats)" | sed -nE "s/^$(nats_password_name "$1")_([0-9]+)$/\1/p" | sort -n
}

# Set when this run gives a running NATS cluster a new route password.
NATS_ALL_AT_ONCE=0

# Each NATS client password lives twice: on the NATS app, which checks it,
# and inside NATS_URL of the app that uses it. Fly never gives a value back,
# so a client without NATS_URL (a first deploy, or a rotation: the runbook
# unsets it) gets a new generation on both sides, and both apps are deployed
# in this run: nats first, which accepts the newest two generations, so
# machines still on the old password keep signing in while the client rolls
# onto the new one. The client's NATS_URL always names the newest.
ensure_nats_secrets() {
    local nats role app newest lines=()
    nats="$(app_name nats)"
    for role in api worker; do
        app="$(app_name "$role")"
        newest="$(nats_generations "$role" | tail -n 1)"
        if [[ -n "$newest" ]] && grep -Fxq NATS_URL <<<"$(secret_names "$app")"; then
            continue
        fi
        newest=$((${newest:-0} + 1))
        local password
        password="$(random_secret)"
        lines+=("$(nats_password_name "$role")_$newest=$password")
        stage_secrets "$app" "NATS_URL=nats://$role-$newest:$password@$NATS_ADDRESS_VALUE"
        select_too nats
        select_too "$role"
    done
    if ! grep -Fxq NATS_ROUTE_PASSWORD <<<"$(secret_names "$nats")"; then
        lines+=("NATS_ROUTE_PASSWORD=$(random_secret)")
        # Nodes with different route passwords cannot route to each other:
        # a running cluster takes a new one all at once, not node by node.
        (($(machine_count "$nats") > 0)) && NATS_ALL_AT_ONCE=1
    fi
    if ((${#lines[@]} == 0)); then
        log "$nats has its secrets"
        return 0
    fi
    stage_secrets "$nats" "${lines[@]}"
    select_too nats
}

# After the clients deployed on their newest NATS password, the generations
# before it are removed from the NATS app, and it is deployed once more to
# forget them. Only for clients deployed in this run: a client that was not
# may still run on an older one.
retire_nats_generations() {
    local nats role generation older=()
    nats="$(app_name nats)"
    for role in api worker; do
        is_selected "$role" || continue
        # Every generation but the newest (the last line).
        while read -r generation; do
            older+=("$(nats_password_name "$role")_$generation")
        done < <(nats_generations "$role" | sed '$d')
    done
    ((${#older[@]} > 0)) || return 0
    step "Retire old NATS passwords"
    change secrets unset "${older[@]}" --stage --app "$nats" ||
        die "removing ${older[*]} from $nats failed"
    deploy_app nats
}

provision() {
    local app missing=()
    step "Apps in $ORG"
    load_existing_apps
    # A subset (--only; CI deploys what changed) relies on the rest of the
    # stack: in an environment that was never fully deployed, deploy it all
    # rather than create half of it.
    if ((${#SELECTED[@]} < ${#ALL_APPS[@]})); then
        for app in "${ALL_APPS[@]}"; do
            app_exists "$(app_name "$app")" || missing+=("$(app_name "$app")")
        done
        if ((${#missing[@]} > 0)); then
            log "${missing[*]} missing: $ENVIRONMENT was never fully deployed, so every app is deployed, not only ${SELECTED[*]}"
            SELECTED=("${ALL_APPS[@]}")
        fi
    fi
    for app in "${SELECTED[@]}"; do
        ensure_app "$(app_name "$app")"
    done

    if is_selected api; then
        step "Flycast address"
        ensure_private_ip "$(app_name api)"
    fi

    if is_selected api || is_selected worker; then
        step "Postgres and Redis"
        ensure_postgres
        ensure_redis
    fi
    if is_selected nats || is_selected api || is_selected worker; then
        step "Secrets"
        ensure_nats_secrets
        local secrets
        for app in "${SELECTED[@]}"; do
            read -r -a secrets <<<"${APP_SECRETS[$app]}"
            ((${#secrets[@]} == 0)) || ensure_secrets "$(app_name "$app")" "${secrets[@]}"
        done
    fi
    return 0
}

# --- deploying ----------------------------------------------------------------

deploy_app() {
    local app=$1 name
    name="$(app_name "$app")"
    step "Deploy $name"
    local args=(deploy --config "$(config_of "$app")" --app "$name" --primary-region "$REGION" --remote-only)
    case "$app" in
    # One machine first; ensure_nats_nodes makes it a cluster.
    nats)
        args+=(--no-public-ips --ha=false)
        ((NATS_ALL_AT_ONCE == 1)) && args+=(--strategy immediate)
        ;;
    api | worker) args+=(--no-public-ips --ha="$HA") ;;
    web) args+=(--ha="$HA" --env "API_UPSTREAM=$API_UPSTREAM_VALUE") ;;
    esac
    change "${args[@]}" || die "deploying $name failed (for the api this includes the migrations): see the output above and \`$FLY logs --app $name\`"
    [[ "$app" == nats ]] && ensure_nats_nodes
    return 0
}

# A first deploy makes one machine; the cluster needs NATS_NODES. Never
# scales down: more nodes, or nodes in other regions, are the operator's.
ensure_nats_nodes() {
    local name count
    name="$(app_name nats)"
    count="$(machine_count "$name")"
    if ((count >= NATS_NODES)); then
        log "$name runs $count nodes"
        return 0
    fi
    change scale count "$NATS_NODES" --app "$name" --region "$REGION" --yes ||
        die "scaling $name to $NATS_NODES machines failed: see \`$FLY machines list --app $name\`"
}

# The previous successful release's image of an app.
previous_image() {
    local name=$1 listing image
    listing="$(ask releases --app "$name" --image --json)" || die "cannot list the releases of $name"
    # The newest complete release with another image than the running one:
    # a restart or `fly secrets deploy` makes a release with the same image,
    # and "the release before" would then redeploy what already runs.
    image="$(jq -r '
        [ .[] | select(((.Status // .status // "") | ascii_downcase) == "complete")
              | {version: (.Version // .version), image: (.ImageRef // .imageRef)} ]
        | sort_by(.version) | reverse
        | (.[0].image) as $running
        | map(select(.image != null and .image != $running)) | .[0].image // empty' <<<"$listing")"
    [[ -n "$image" ]] || die "$name has no earlier successful release to roll back to"
    printf '%s' "$image"
}

rollback_app() {
    local app=$1 name image
    name="$(app_name "$app")"
    step "Roll back $name"
    if is_dry_run && ((OFFLINE == 1)); then
        image="<previous image of $name>"
    else
        image="$(previous_image "$name")"
    fi
    local args=(deploy --config "$(config_of "$app")" --app "$name" --image "$image")
    [[ "$app" == web ]] && args+=(--env "API_UPSTREAM=$API_UPSTREAM_VALUE")
    change "${args[@]}" || die "rolling back $name failed: see \`$FLY logs --app $name\`"
}

# --- verifying ----------------------------------------------------------------

http_status() {
    curl -sS -o "$1" -w '%{http_code}' --max-time 10 "$2" 2>/dev/null || true
}

# Through the public URL: nginx answers /health itself; /api/ready crosses
# Flycast to the api, which asks Postgres, Redis and NATS.
verify() {
    local path url attempt code body
    step "Verify $WEB_URL"
    if is_dry_run; then
        for path in /health /api/ready; do
            show curl -sS --max-time 10 "$WEB_URL$path"
        done
        return 0
    fi
    body="$(mktemp)"
    for path in /health /api/ready; do
        url="$WEB_URL$path"
        for ((attempt = 1; ; attempt++)); do
            code="$(http_status "$body" "$url")"
            if [[ "$code" == 200 ]]; then
                log "$url answers 200"
                break
            fi
            if ((attempt >= VERIFY_ATTEMPTS)); then
                log "$url answered ${code:-nothing}: $(head -c 500 "$body" 2>/dev/null || true)"
                rm -f "$body"
                # /health is nginx's own; /api/ready is the api and what it depends on.
                local suspect="$PREFIX-api"
                [[ "$path" == /health ]] && suspect="$PREFIX-web"
                die "unhealthy after $attempt attempts: $url did not answer 200; look at \`$FLY checks list --app $suspect\` and \`$FLY logs --app $suspect\`"
            fi
            sleep "$VERIFY_DELAY_SECS"
        done
    done
    rm -f "$body"
}

confirm_production() {
    [[ "$ENVIRONMENT" == production ]] || return 0
    if ((ASSUME_YES == 1)) || is_dry_run; then
        return 0
    fi
    [[ -t 0 ]] || die "refusing to $ACTION production without confirmation: pass --yes"
    local answer
    read -r -p "About to $ACTION PRODUCTION ($PREFIX-*: ${SELECTED[*]}). Type the prefix to go on: " answer
    [[ "$answer" == "$PREFIX" ]] || die "not confirmed; nothing was changed"
}

main() {
    preflight
    log "$ACTION $ENVIRONMENT: ${SELECTED[*]} as $PREFIX-* in $ORG ($REGION)"
    confirm_production
    if [[ "$ACTION" == rollback ]]; then
        load_existing_apps
        # The deploy order backwards.
        local i
        for ((i = ${#ALL_APPS[@]} - 1; i >= 0; i--)); do
            is_selected "${ALL_APPS[i]}" && rollback_app "${ALL_APPS[i]}"
        done
    else
        provision
        local app
        for app in "${SELECTED[@]}"; do
            deploy_app "$app"
        done
        retire_nats_generations
    fi
    if is_dry_run || app_exists "$PREFIX-web"; then
        verify
    else
        log "$PREFIX-web does not exist yet: deploy it to verify the environment end to end"
    fi
    if is_dry_run; then
        echo "dry run: nothing was changed"
    else
        echo "$ENVIRONMENT is up: $WEB_URL"
    fi
}

main
