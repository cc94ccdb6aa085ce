# Runs inside the job (sh -c): actions/checkout of a commit of the run's repository.
# Every git command runs with the job's rights, in its sandbox on the server: a
# repository's .git/config may name programs to run (core.fsmonitor, hooks).
# Settings come in CHECKOUT_* variables (see conveyor/actions/checkout.py).
set -eu

source_repo=$CHECKOUT_SOURCE
target=$CHECKOUT_TARGET

# git, trusting the workspace's repositories when set-safe-directory asks for it.
gq() {
    if [ "$CHECKOUT_SAFE_DIRECTORY" = true ]; then
        git -c "safe.directory=$target" -c "safe.directory=$source_repo" "$@"
    else
        git "$@"
    fi
}

# The same, shown in the log first.
g() {
    printf '[command]git %s\n' "$*"
    gq "$@"
}

fail() {
    printf '::error::%s\n' "$*"
    exit 1
}

# The commit the ref names in the source repository, and whether it is a branch.
commit=""
branch=""
ref=$CHECKOUT_REF
if [ -z "$ref" ]; then
    commit=$CHECKOUT_DEFAULT_SHA
    ref=$CHECKOUT_DEFAULT_REF
fi
verify() {
    gq -C "$source_repo" rev-parse --verify --quiet "$1^{commit}" 2>/dev/null
}
if [ -z "$commit" ]; then
    case $ref in
        refs/heads/*)
            branch=${ref#refs/heads/}
            commit=$(verify "$ref") || commit=$(verify "refs/remotes/origin/$branch") || true ;;
        refs/*)
            commit=$(verify "$ref") || true ;;
        *)
            if commit=$(verify "refs/heads/$ref") || commit=$(verify "refs/remotes/origin/$ref"); then
                branch=$ref
            elif commit=$(verify "refs/tags/$ref"); then
                :
            elif printf '%s' "$ref" | grep -Eq '^[0-9a-fA-F]{4,40}$'; then
                commit=$(verify "$ref") || true
            fi ;;
    esac
    [ -n "$commit" ] || fail "ref '$ref' is neither a branch, a tag nor a commit of the repository"
else
    case $ref in refs/heads/*) branch=${ref#refs/heads/} ;; esac
fi

# The source is read by a git upload-pack of its own, which takes no -c from here.
upload_pack="git upload-pack"
[ "$CHECKOUT_SAFE_DIRECTORY" = true ] && upload_pack="git -c safe.directory=* upload-pack"

progress=--no-progress
[ "$CHECKOUT_SHOW_PROGRESS" = true ] && progress=--progress

clean_tree() {
    g -C "$target" clean -ffdx
    g -C "$target" reset --hard HEAD
}

if [ "$CHECKOUT_SAME" = true ]; then
    # The workspace is the run's own clone: its objects are all here already.
    if [ "$CHECKOUT_CLEAN" = true ]; then clean_tree; fi
else
    if [ -e "$target/.git" ]; then
        if [ "$CHECKOUT_CLEAN" = true ] && gq -C "$target" rev-parse --verify --quiet HEAD >/dev/null; then
            clean_tree
        fi
    else
        if [ -d "$target" ] && [ -n "$(ls -A "$target")" ]; then
            fail "path $target is not empty and not a git repository; not overwriting it"
        fi
        mkdir -p "$target"
        g init -q "$target"
    fi
    g -C "$target" remote remove origin >/dev/null 2>&1 || true
    g -C "$target" remote add origin "$source_repo"
    destination="refs/remotes/origin/conveyor-checkout"
    [ -n "$branch" ] && destination="refs/remotes/origin/$branch"
    tags=--no-tags
    [ "$CHECKOUT_FETCH_TAGS" = true ] && tags=--tags
    if [ "$CHECKOUT_FETCH_DEPTH" -gt 0 ]; then
        # --depth needs a transport: a plain path would copy everything.
        g -C "$target" fetch --upload-pack="$upload_pack" $progress $tags --depth="$CHECKOUT_FETCH_DEPTH" \
            "file://$source_repo" "+$commit:$destination"
    else
        # The whole history: borrow the source's objects rather than copy them.
        objects=$(gq -C "$source_repo" rev-parse --absolute-git-dir)/objects
        printf '%s\n' "$objects" >> "$(gq -C "$target" rev-parse --absolute-git-dir)/objects/info/alternates"
        g -C "$target" fetch --upload-pack="$upload_pack" $progress --tags origin \
            "+refs/heads/*:refs/remotes/origin/*" "+refs/remotes/origin/*:refs/remotes/origin/*" \
            "$commit"
    fi
fi

if [ -n "$CHECKOUT_SPARSE" ]; then
    cone=--cone
    [ "$CHECKOUT_SPARSE_CONE" = true ] || cone=--no-cone
    # One pattern a line, as the input gives them.
    printf '%s\n' "$CHECKOUT_SPARSE" | g -C "$target" sparse-checkout set $cone --stdin
fi

if [ "$CHECKOUT_MOVE" = false ]; then
    : # the workspace already holds the commit (and maybe the user's changes): keep it
elif [ -n "$branch" ]; then
    g -C "$target" checkout $progress --force -B "$branch" "$commit"
else
    g -C "$target" checkout $progress --force --detach "$commit"
fi

if [ "$CHECKOUT_SUBMODULES" != false ]; then
    recursive=""
    [ "$CHECKOUT_SUBMODULES" = recursive ] && recursive=--recursive
    depth=""
    [ "$CHECKOUT_FETCH_DEPTH" -gt 0 ] && depth="--depth=$CHECKOUT_FETCH_DEPTH"
    g -C "$target" submodule sync $recursive
    # Submodules of a local repository are often local paths: allow that transport here.
    g -C "$target" -c protocol.file.allow=always submodule update --init --force $recursive $depth
fi

if [ "$CHECKOUT_LFS" = true ]; then
    git lfs version >/dev/null 2>&1 || fail "lfs: true needs git-lfs, which is not installed on this machine (install the git-lfs package)"
    g -C "$target" lfs install --local
    g -C "$target" lfs pull
fi

printf 'ref=%s\ncommit=%s\n' "$ref" "$commit" >> "$GITHUB_OUTPUT"
printf 'Checked out %s (%s) into %s\n' "$ref" "$commit" "$target"
