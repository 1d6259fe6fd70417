#!/usr/bin/env bash
# Runs every check Beacon has. CI runs exactly this (through .ci/run), so a
# green local run means a green CI run. The checks are `cargo xtask test`
# (xtask/src/test.rs); this door installs what they need on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib.sh

install() {
    ensure_services
    ensure_sqlx_cli
    ensure_cargo_deny
    ensure_nginx
    ensure_chromium
    ensure_dnsmasq
    # The linters' virtualenv (cargo xtask lint).
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    # The deploy script needs it, and so do its tests.
    command -v jq >/dev/null || apt_install jq
    ensure_bench_tools
    ensure_frontend_modules
}

door test "Postgres, Redis and NATS, started if down; sqlx-cli, cargo-deny; nginx, Chromium, dnsmasq, python3-venv, jq, wrk and pgbench from Debian; the frontend's npm packages" install "$@"
