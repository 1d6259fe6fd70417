#!/bin/sh
# Starts nats-server with docker/nats/nats.conf: checks the secrets are
# there, and derives every value the file reads from where it runs.
#
#   NATS_API_PASSWORD_<n>, NATS_WORKER_PASSWORD_<n>
#                     each generation of a service's password; generation n
#                     signs in as user api-<n> (or worker-<n>). The newest
#                     two are accepted, so clients can move from one to the
#                     next without being refused. At least one of each.
#   NATS_ROUTE_PASSWORD  what the cluster's nodes present to each other
#   NATS_PEERS        the name behind which every node answers; on Fly,
#                     <region>.<app>.internal (default), elsewhere set it
#   NATS_SERVER_NAME  unique per node; Fly's machine id, else the host name
#
# Passwords may hold letters, digits and . _ ~ - (they travel in URLs);
# scripts/deploy-fly.sh makes them hex.
set -eu

missing=""

# Exports NAME as a quoted string for nats.conf. nats-server parses an
# environment variable's value as configuration, so unquoted a password such
# as 4e5f... would be read as a number and refused; a Fly machine id too.
conf_string() {
    case "$2" in
    *[\"\\[:space:]]*)
        echo "beacon-nats: $1 may not hold quotes, backslashes or spaces" >&2
        exit 64
        ;;
    esac
    eval "$1=\"\\\"\$2\\\"\""
    export "${1?}"
}

# Passwords travel in URLs (NATS_URL, the route URL) as they are.
password() {
    case "$2" in
    "" | *[!A-Za-z0-9._~-]*)
        echo "beacon-nats: $1 must be letters, digits and . _ ~ - only" >&2
        exit 64
        ;;
    esac
    printf '%s' "$2"
}

# A password nobody has: the "previous" user of a service that has only one
# generation.
unusable() {
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# NATS_<ROLE>_USER/_PASSWORD (newest generation) and
# NATS_<ROLE>_PREVIOUS_USER/_PASSWORD (the one before, or an unusable one).
generations() {
    role=$1 user=$2
    numbers="$(env | sed -n "s/^NATS_${role}_PASSWORD_\([0-9][0-9]*\)=..*/\1/p" | sort -n)"
    newest="$(printf '%s\n' "$numbers" | tail -n 1)"
    before="$(printf '%s\n' "$numbers" | tail -n 2 | head -n 1)"
    if [ -z "$newest" ]; then
        missing="$missing NATS_${role}_PASSWORD_<n>"
        return 0
    fi
    # Assigned before use: set -e stops on a refused password only there.
    value="$(password "NATS_${role}_PASSWORD_$newest" "$(printenv "NATS_${role}_PASSWORD_$newest")")"
    conf_string "NATS_${role}_USER" "$user-$newest"
    conf_string "NATS_${role}_PASSWORD" "$value"
    if [ "$before" != "$newest" ]; then
        value="$(password "NATS_${role}_PASSWORD_$before" "$(printenv "NATS_${role}_PASSWORD_$before")")"
        conf_string "NATS_${role}_PREVIOUS_USER" "$user-$before"
        conf_string "NATS_${role}_PREVIOUS_PASSWORD" "$value"
    else
        conf_string "NATS_${role}_PREVIOUS_USER" "$user-none"
        conf_string "NATS_${role}_PREVIOUS_PASSWORD" "$(unusable)"
    fi
}
generations API api
generations WORKER worker

[ -n "${NATS_ROUTE_PASSWORD:-}" ] || missing="$missing NATS_ROUTE_PASSWORD"
if [ -z "${NATS_PEERS:-}" ]; then
    if [ -n "${FLY_APP_NAME:-}" ] && [ -n "${FLY_REGION:-}" ]; then
        NATS_PEERS="$FLY_REGION.$FLY_APP_NAME.internal"
    else
        missing="$missing NATS_PEERS"
    fi
fi
if [ -n "$missing" ]; then
    echo "beacon-nats: set$missing (see docker/nats/entrypoint.sh)" >&2
    exit 64
fi

# The route URL carries the route password: built here into the environment
# rather than passed as an argument any process on the machine could read.
route_password="$(password NATS_ROUTE_PASSWORD "$NATS_ROUTE_PASSWORD")"
conf_string NATS_ROUTES "nats-route://route:$route_password@$NATS_PEERS:6222"
conf_string NATS_ROUTE_PASSWORD "$route_password"
conf_string NATS_SERVER_NAME "${NATS_SERVER_NAME:-${FLY_MACHINE_ID:-$(hostname)}}"
exec nats-server --config "${NATS_CONFIG:-/etc/nats/nats.conf}" "$@"
