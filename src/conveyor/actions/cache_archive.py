"""Making and unpacking a cache archive INSIDE the job, with the job's own bash and tar.

The job's files are untrusted and, on the server, live in a sandbox that cannot see the
store; so the engine never walks, reads or writes them. It hands these scripts the
``path`` patterns as arguments (never pasted into the script) and moves only the
finished archive, through ``runner.temp`` (``runner_temp_files.py``).

Archive layout. A run's workspace and ``HOME`` have different names from run to run
(each server run has a checkout and a sandbox home of its own), so member names are
relative to three roots, made as symbolic links in a staging directory:
``workspace/...`` (``GITHUB_WORKSPACE``), ``home/...`` (``~``) and ``root/...``
(anything else, by its absolute path). Restoring makes the same links for the new
run and extracts there. GNU tar refuses members with ``..`` and strips a leading
``/`` (no ``-P``), so a crafted archive cannot write outside these roots; roots that
no pattern names (``root`` without an absolute pattern, ``home`` without ``~``) are
left out of the extraction as well.

Patterns follow ``@actions/glob`` (``*``, ``?``, ``[...]``, ``**``, dot files
included, ``~`` for ``HOME``, relative to the workspace, later patterns over earlier
ones). A ``!pattern`` removes what it matches even below an included directory, as
the actions/cache documentation shows (``~/.nuget/packages`` with
``!~/.nuget/packages/unwanted``); GitHub's own implementation drops such exclusions
(actions/toolkit#713), which its maintainers call a bug.
"""

from __future__ import annotations

import os
import shutil

NOTHING_TO_SAVE = 3  # the save script's exit status when no path matched

_COMMON = r"""
set -u
runner_temp=$1 archive=$2 compression=$3
shift 3
workspace=${GITHUB_WORKSPACE:-$PWD}
workspace=${workspace%/}
home=${HOME:-/nonexistent}
home=${home%/}
stage=$(mktemp -d "$runner_temp/conveyor-cache-stage.XXXXXX") || exit 1
trap 'rm -rf "$stage"' EXIT
ln -s "$workspace" "$stage/workspace"
ln -s "$home" "$stage/home"
ln -s / "$stage/root"
case $compression in
  zstd) compress=(--use-compress-program "zstd -T0") ;;
  gzip) compress=(-z) ;;
  *) compress=() ;;
esac
"""

_SAVE = (
    _COMMON
    + r"""
shopt -s globstar dotglob nullglob
shopt -u failglob
# The member name of an absolute path, in $REPLY (no subshell: there may be thousands):
# below the workspace, else HOME, else /.
member() {
  local p=$1
  if [[ $p == "$workspace" || $p == "$workspace"/* ]]; then
    REPLY=workspace${p#"$workspace"}
  elif [[ $p == "$home" || $p == "$home"/* ]]; then
    REPLY=home${p#"$home"}
  else
    REPLY=root$p
  fi
}
# The existing paths a pattern matches, absolute, one per line in $matches.
expand() {
  local pattern=$1 base m
  case $pattern in
    '~') base=$home; pattern=. ;;
    '~/'*) base=$home; pattern=${pattern#'~/'} ;;
    /*) base=/; pattern=${pattern#/} ;;
    *) base=$workspace ;;
  esac
  matches=()
  cd "$base" 2>/dev/null || return 0
  local IFS=
  for m in $pattern; do
    [[ -e $m ]] || continue
    m=${m%/}
    m=${m#./}
    if [[ $m == . || -z $m ]]; then m=$base; elif [[ $base == / ]]; then m=/$m; else m=$base/$m; fi
    matches+=("$m")
  done
  cd "$workspace" 2>/dev/null || cd /
}
declare -A chosen=()
declare -a paths=() excluded=()
for pattern in "$@"; do
  negate=0
  while [[ $pattern == '!'* ]]; do
    negate=$((1 - negate))
    pattern=${pattern#!}
    pattern=${pattern#"${pattern%%[![:space:]]*}"}
  done
  expand "$pattern"
  for m in "${matches[@]}"; do
    if ((negate)); then
      unset 'chosen[$m]'
      excluded+=("$m")
    elif [[ -z ${chosen[$m]:-} ]]; then
      chosen[$m]=1
      paths+=("$m")
    fi
  done
done
kept=()
for m in "${paths[@]}"; do [[ -n ${chosen[$m]:-} ]] && kept+=("$m"); done
# What a ! pattern removed stays out below an included directory too (unless a later
# pattern brought it back): such a directory is archived as its entries, down to it.
for e in "${excluded[@]}"; do
  [[ -n ${chosen[$e]:-} ]] && continue
  again=1
  while ((again)); do
    again=0
    for i in "${!kept[@]}"; do
      d=${kept[$i]}
      if [[ $e == "$d"/* ]]; then
        unset 'kept[i]'
        for child in "${d%/}"/*; do [[ $child == "$e" ]] || kept+=("$child"); done
        again=1
        break
      fi
    done
  done
done
declare -A seen=()
names=()
for m in "${kept[@]}"; do
  member "$m"
  if [[ $REPLY == workspace || $REPLY == home || $REPLY == root ]]; then
    # A whole root: its entries, so that the link itself is not what is archived.
    for child in "${m%/}"/*; do
      member "$child"
      [[ -n ${seen[$REPLY]:-} ]] || names+=("$REPLY")
      seen[$REPLY]=1
    done
  elif [[ -z ${seen[$REPLY]:-} ]]; then
    names+=("$REPLY")
    seen[$REPLY]=1
  fi
done
if ((${#names[@]} == 0)); then
  echo "No files matched the cache's path patterns."
  exit 3
fi
list=$stage/members
printf '%s\0' "${names[@]}" >"$list"
member "$runner_temp/$archive"
excludes=(--exclude "$REPLY")
member "$stage"
excludes+=(--exclude "$REPLY")
tar -c -f "$runner_temp/$archive" "${compress[@]}" -C "$stage" \
  --anchored --no-wildcards "${excludes[@]}" --null -T "$list"
"""
)

_RESTORE = (
    _COMMON
    + r"""
direct=$1
shift
if ((direct)); then
  # The store's own file, when this job can read it (it runs unsandboxed): no copy.
  if [[ ! -f $archive || ! -r $archive ]]; then
    echo "store-visible=false" >>"$GITHUB_OUTPUT"
    exit 0
  fi
else
  archive=$runner_temp/$archive
fi
excludes=()
for root in "$@"; do excludes+=(--exclude "$root"); done
# Reads of 1 MiB (-b 2048), not tar's 10 KiB: fewer trips through the decompressor's pipe.
tar -x -b 2048 -f "$archive" "${compress[@]}" -C "$stage" --keep-directory-symlink \
  --anchored --no-wildcards "${excludes[@]}"
status=$?
((direct)) || rm -f "$archive"
exit $status
"""
)


COMPRESSION_ENV = "CONVEYOR_CACHE_COMPRESSION"
COMPRESSIONS = ("zstd", "gzip", "none")


def compression_method(path: str | None = None, environ: dict[str, str] | None = None) -> str:
    """``CONVEYOR_CACHE_COMPRESSION`` (zstd, gzip or none) when set; else zstd when the
    machine has it (several times faster than gzip both ways, see bench/README.md), else
    gzip, as GitHub chooses. ``none`` trades twice the disk for the fastest restore."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(COMPRESSION_ENV, "").strip().lower()
    if chosen in COMPRESSIONS and (chosen != "zstd" or shutil.which("zstd", path=path)):
        return chosen
    return "zstd" if shutil.which("zstd", path=path) else "gzip"


def archive_suffix(compression: str) -> str:
    return {"zstd": ".tar.zst", "gzip": ".tar.gz"}.get(compression, ".tar")


def save_argv(runner_temp: str, archive: str, compression: str, patterns: list[str]) -> list[str]:
    """The job's command that archives what ``patterns`` match into runner_temp/archive.
    Lines starting with ``#`` are comments, as @actions/glob reads them."""
    kept = [pattern for pattern in patterns if not pattern.startswith("#")]
    return ["bash", "-c", _SAVE, "conveyor-cache-save", runner_temp, archive, compression, *kept]


def restore_argv(
    runner_temp: str, archive: str, compression: str, patterns: list[str], *, direct: bool
) -> list[str]:
    """The job's command that unpacks ``archive`` into the roots ``patterns`` name: with
    ``direct``, the store's file by its path (the output ``store-visible=false`` when the
    job cannot read it); else runner_temp/archive, removed afterwards."""
    left_out = [
        root
        for root, named in (
            ("home", any(_root_of(p) in ("home", "root") for p in patterns)),
            ("root", any(_root_of(p) == "root" for p in patterns)),
        )
        if not named
    ]
    return [
        "bash",
        "-c",
        _RESTORE,
        "conveyor-cache-restore",
        runner_temp,
        archive,
        compression,
        "1" if direct else "0",
        *left_out,
    ]


def _root_of(pattern: str) -> str:
    text = pattern.lstrip("!").strip()
    if text == "~" or text.startswith("~/"):
        return "home"
    if text.startswith("/"):
        return "root"  # may lie in the workspace or HOME too: all roots allowed
    return "workspace"


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is refused, as @actions/glob refuses it; None when it is fine."""
    text = pattern.lstrip("!").strip()
    segments = [segment for segment in text.split("/") if segment]
    if any(segment == ".." or (segment == "." and index) for index, segment in enumerate(segments)):
        return f"Invalid pattern '{text}'. Relative pathing '.' and '..' is not allowed."
    return None
