"""The branch and tag heads the server last saw per repository, and the claim on a change.

Hooks, webhooks, the poller and the start-up catch-up can all learn of one push;
whichever claims the change first (``claim``: a compare-and-set on one row)
creates its runs, the others see it is already claimed. The row is written with
an UPDATE guarded by the old value, and a new ref with an INSERT guarded by the
unique constraint, never check-then-insert.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, models, transaction


class KnownRef(models.Model):
    repository = models.ForeignKey(
        "repos.Repository", on_delete=models.CASCADE, related_name="known_refs"
    )
    ref = models.CharField(max_length=500)  # refs/heads/main, refs/tags/v1
    sha = models.CharField(max_length=64)  # the commit (tags peeled)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "repos"
        ordering = ["repository", "ref"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "ref"], name="known_ref_unique")
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.sha[:7]}"


@dataclass(frozen=True)
class RefChange:
    ref: str
    before: str | None  # None: a new ref
    after: str | None  # None: the ref was deleted


# A row with this (impossible) ref name says the refs were taken as seen once, so that
# an empty repository is told apart from one never looked at.
BASELINE_REF = ""


def known(repository_id: int) -> dict[str, str]:
    rows = KnownRef.objects.filter(repository_id=repository_id).exclude(ref=BASELINE_REF)
    return dict(rows.values_list("ref", "sha"))


def sha_of(repository_id: int, ref: str) -> str | None:
    """The commit ``ref`` was last seen at, or None if it was never seen."""
    return (
        KnownRef.objects.filter(repository_id=repository_id, ref=ref)
        .values_list("sha", flat=True)
        .first()
    )


def has_baseline(repository_id: int) -> bool:
    return KnownRef.objects.filter(repository_id=repository_id, ref=BASELINE_REF).exists()


def changes(repository_id: int, current: dict[str, str]) -> list[RefChange]:
    """How ``current`` (``{ref: sha}``) differs from what was last seen."""
    seen = known(repository_id)
    found = [
        RefChange(ref, seen.get(ref), sha) for ref, sha in current.items() if seen.get(ref) != sha
    ]
    found += [RefChange(ref, sha, None) for ref, sha in seen.items() if ref not in current]
    return sorted(found, key=lambda change: change.ref)


def claim(repository_id: int, ref: str, sha: str) -> bool:
    """Record ``ref`` at ``sha``; True if this call moved it there (the caller runs it)."""
    for _attempt in range(3):
        with transaction.atomic():
            moved = (
                KnownRef.objects.filter(repository_id=repository_id, ref=ref)
                .exclude(sha=sha)
                .update(sha=sha)
            )
            if moved:
                return True
            if KnownRef.objects.filter(repository_id=repository_id, ref=ref).exists():
                return False  # already at sha: someone else claimed this change
        try:
            with transaction.atomic():
                KnownRef.objects.create(repository_id=repository_id, ref=ref, sha=sha)
            return True
        except IntegrityError:
            continue  # created meanwhile by another claimant; compare again
    return False


def release(repository_id: int, ref: str, sha: str, previous: str | None) -> None:
    """Undo a claim whose runs could not be created, so that a later look tries again."""
    rows = KnownRef.objects.filter(repository_id=repository_id, ref=ref, sha=sha)
    if previous is None:
        rows.delete()
    else:
        rows.update(sha=previous)


def forget(repository_id: int, ref: str) -> None:
    KnownRef.objects.filter(repository_id=repository_id, ref=ref).delete()


def record_all(repository_id: int, current: dict[str, str]) -> None:
    """Take ``current`` as seen (a repository just added: its history is not new)."""
    with transaction.atomic():
        KnownRef.objects.filter(repository_id=repository_id).exclude(ref__in=current).exclude(
            ref=BASELINE_REF
        ).delete()
        KnownRef.objects.get_or_create(repository_id=repository_id, ref=BASELINE_REF, sha="")
        for ref, sha in current.items():
            KnownRef.objects.update_or_create(
                repository_id=repository_id, ref=ref, defaults={"sha": sha}
            )
