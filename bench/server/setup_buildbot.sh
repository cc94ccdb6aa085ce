#!/usr/bin/env bash
# Install Buildbot 4 from PyPI (master, worker, and buildbot-www: the web server that
# serves its change hook) into its own virtualenv under bench/.peers, away from the
# project's .venv. Idempotent.
set -euo pipefail

server_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$server_dir/../.peers/buildbot-venv"
python="${CONVEYOR_BENCH_BASE_PYTHON:-python3.11}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import buildbot_www, buildbot_worker' 2>/dev/null; then
    exit 0
fi
echo "setup_buildbot: installing buildbot and buildbot-worker 4.x into $venv" >&2
mkdir -p "$(dirname "$venv")"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet 'buildbot>=4,<5' 'buildbot-worker>=4,<5' 'buildbot-www>=4,<5'
