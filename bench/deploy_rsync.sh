#!/usr/bin/env bash
# The deploy most teams write: rsync the project into place, pip install into one
# long-lived virtualenv, collectstatic and migrate, then a systemctl-style restart of
# the app server (stop the old gunicorn, start the new one on the same port).
# bench/deploy.py runs it side by side with `conveyor deploy`.
#
#   bench/deploy_rsync.sh PROJECT_DIR APP_DIR HOST:PORT
#
# APP_DIR/code: the project's files; APP_DIR/venv: the virtualenv (made with pip on the
# first deploy); APP_DIR/pip-cache: pip's cache; APP_DIR/gunicorn.pid: the running server.
set -euo pipefail

project=$1
app=$2
bind=$3
mkdir -p "$app/code"

# The code: everything but git's data and what the server keeps (database, static files).
rsync -a --delete --exclude .git --exclude db.sqlite3 --exclude staticfiles \
    --exclude __pycache__ "$project/" "$app/code/"

# The packages: one virtualenv for every release, updated in place.
if [ ! -x "$app/venv/bin/python" ]; then
    python3 -m venv "$app/venv"
fi
PIP_CACHE_DIR="$app/pip-cache" PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$app/venv/bin/pip" install -q -r "$app/code/requirements.txt"

cd "$app/code"
"$app/venv/bin/python" manage.py collectstatic --noinput -v 0
"$app/venv/bin/python" manage.py migrate --noinput -v 0

# `systemctl restart`: stop (SIGTERM, wait for the exit), then start.
if [ -f "$app/gunicorn.pid" ]; then
    old=$(cat "$app/gunicorn.pid")
    if kill -TERM "$old" 2>/dev/null; then
        while kill -0 "$old" 2>/dev/null; do sleep 0.05; done
    fi
    rm -f "$app/gunicorn.pid"
fi
"$app/venv/bin/gunicorn" --daemon --pid "$app/gunicorn.pid" --bind "$bind" \
    --chdir "$app/code" mysite.wsgi:application
