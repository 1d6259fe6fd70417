#!/usr/bin/env bash
# Brings the local stack up: Postgres, Redis and NATS on 127.0.0.1, then the
# api, the worker, a NATS of its own and nginx serving the built dashboard,
# all from this checkout. The stack is `cargo xtask dev` (xtask/src/dev.rs);
# this door installs what it needs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib.sh

install() {
    ensure_services
    ensure_nginx
    ensure_frontend_modules
}

door dev "Postgres, Redis and NATS, started if down; nginx from Debian; the frontend's npm packages" install "$@"
