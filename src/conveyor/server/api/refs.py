"""Which commit a request means: a branch, tag or full ref (default: the default
branch), or a given commit, looked up in a freshly fetched mirror."""

from __future__ import annotations

from conveyor.server.api.errors import ApiError, bad_input
from conveyor.server.repos import git, refnames
from conveyor.server.repos.models import Repository
from conveyor.server.runs import workspace


def resolve_ref(repository: Repository, ref: str | None, sha: str | None) -> tuple[str, str]:
    """``(full ref, commit sha)`` for a trigger: the ref's tip, or ``sha`` when given."""
    wanted = (ref or repository.default_branch).strip()
    if not wanted:
        raise bad_input("ref", "must not be empty")
    # Checked before git sees them: a short name by a branch's rules (which a tag's
    # name meets too), and a commit as a full sha, never a revision like HEAD~1.
    if wanted.startswith("refs/"):
        problem = refnames.ref_problem(wanted)
    else:
        problem = refnames.branch_problem(wanted)
    if problem:
        shown = refnames.shown(wanted)
        raise bad_input("ref", f"not a valid git ref name: it {problem} (got {shown})")
    if sha:
        try:
            sha = refnames.check_sha(sha.strip(), "sha")
        except refnames.NameInvalid as invalid:
            raise bad_input("sha", invalid.problem) from None
    try:
        mirror = workspace.update_mirror(repository)
    except git.GitError as error:
        raise ApiError(502, f"cannot fetch repository {repository.name!r}: {error}") from None
    candidates = (
        [wanted]
        if wanted.startswith("refs/")
        else [
            f"refs/heads/{wanted}",
            f"refs/tags/{wanted}",
        ]
    )
    refs = git.list_refs(mirror)
    full_ref = next((candidate for candidate in candidates if candidate in refs), None)
    if full_ref is None:
        raise bad_input("ref", f"no branch or tag {wanted!r} in repository {repository.name!r}")
    if not sha:
        return full_ref, refs[full_ref]
    commit = git.resolve_commit(mirror, sha.strip())
    if commit is None:
        raise bad_input("sha", f"no commit {sha!r} in repository {repository.name!r}")
    return full_ref, commit
