"""Who may do what (roles) and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin"
    MEMBER = "member"  # may trigger and cancel runs
    VIEWER = "viewer"


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    def __str__(self) -> str:
        return f"{self.user} ({self.effective_role})"

    @property
    def effective_role(self) -> str:
        """Superusers are admins whatever their profile says."""
        return Role.ADMIN if self.user.is_superuser else self.role


def role_of(user: object) -> str:
    """The role of a user (viewer for one without a profile; admin for superusers)."""
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    profile = getattr(user, "profile", None) if getattr(user, "pk", None) else None
    return profile.role if profile is not None else Role.VIEWER


TOKEN_PREFIX_LENGTH = 8


def hash_token(plain_text: str) -> str:
    return hashlib.sha256(plain_text.encode("utf-8")).hexdigest()


class ApiToken(models.Model):
    """A personal API token; only its sha256 is stored, the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=TOKEN_PREFIX_LENGTH, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user: object, name: str) -> tuple[ApiToken, str]:
        """Create a token for ``user``; returns it and its plain text (not kept anywhere)."""
        plain_text = "cvy_" + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            prefix=plain_text[4 : 4 + TOKEN_PREFIX_LENGTH],
            token_hash=hash_token(plain_text),
        )
        return token, plain_text

    @classmethod
    def authenticate(cls, plain_text: str) -> ApiToken | None:
        """The token with this plain text, its ``last_used_at`` updated; None if unknown."""
        from django.utils import timezone

        token = cls.objects.select_related("user").filter(token_hash=hash_token(plain_text)).first()
        if token is None or not token.user.is_active:
            return None
        token.last_used_at = timezone.now()
        token.save(update_fields=["last_used_at"])
        return token
