#!/usr/bin/env bash
# Runs every check Beacon has. CI runs exactly this (through .ci/run), so a
# green local run means a green CI run. The checks are `cargo xtask test`
# (xtask/src/test.rs); this door installs what they need on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib.sh

door_options "$@"
if ((DOOR_HELP == 1)); then
    door_help "Postgres, Redis and NATS, started if down; sqlx-cli, cargo-deny; nginx, Chromium, dnsmasq, python3-venv, wrk and pgbench from Debian; the frontend's npm packages"
else
    step "Installs: services, tools, the frontend's packages"
    ensure_services
    ensure_sqlx_cli
    ensure_cargo_deny
    ensure_nginx
    ensure_chromium
    ensure_dnsmasq
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    ensure_bench_tools
    command -v jq >/dev/null || apt_install jq # the deploy script needs it, and its tests
    ensure_frontend_modules
fi

# Compiled from the committed .sqlx cache: only the prepare check needs a
# live database (and it turns offline mode off for its own build).
export SQLX_OFFLINE=true
exec cargo xtask test "$@"
