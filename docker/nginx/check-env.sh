#!/bin/sh
# Stops the web container with one clear line when a variable that
# default.conf.template needs is unset.
#
# Installed as /docker-entrypoint.d/05-beacon-check-env.sh, so the nginx
# image runs it before it renders /etc/nginx/templates
# (20-envsubst-on-templates.sh), which would leave an unset ${NAME} in the
# config as is and make nginx fail with a message that names nothing useful.
set -eu

template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}

set -- "$template_dir"/*.template
if [ ! -f "$1" ]; then
    echo "configuration error: no *.template in $template_dir" >&2
    exit 1
fi

# Names only (PORT, API_UPSTREAM, ...): splitting on whitespace is safe.
names=$(grep -ohE '[$][{][A-Z_][A-Z0-9_]*[}]' "$@" | sed -e 's/^[$][{]//' -e 's/[}]$//' | sort -u)

missing=""
for name in $names; do
    if [ -z "$(printenv "$name" || true)" ]; then
        missing="$missing $name"
    fi
done

if [ -n "$missing" ]; then
    echo "configuration error: not set:$missing (see docker/nginx/default.conf.template)" >&2
    exit 1
fi
