"""Template filters of the UI: durations, status icons, short commit messages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()

_ICONS = {
    "waiting": "◷",
    "success": "✓",
    "failure": "✕",
    "running": "●",
    "queued": "○",
    "cancelled": "⊘",
    "skipped": "↷",
}


@register.filter
def duration_text(value: timedelta | float | None) -> str:
    """``1m 05s`` / ``42s`` / ``1h 02m``; empty for no duration."""
    if value is None:
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    whole = max(round(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.filter
def status_icon(status: str) -> str:
    return _ICONS.get(status, "?")


@register.filter
def first_line(text: str) -> str:
    return (text or "").strip().split("\n", 1)[0]


@register.filter
def trend_height(run: object, longest: float) -> int:
    """Bar height in percent for the dashboard's trend (longer runs, taller bars)."""
    duration = getattr(run, "duration", None)
    if not duration or not longest:
        return 20
    return max(20, min(100, int(100 * duration.total_seconds() / longest)))


@register.filter
def ago(moment: datetime | None) -> str:
    """``just now``, ``5 minutes ago``, ``2 days ago``."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment).split(',')[0]} ago"


@register.filter
def author_name(author: str) -> str:
    """``Ada Lovelace`` of ``Ada Lovelace <ada@example.com>``."""
    name = (author or "").split("<", 1)[0].strip()
    return name or author


@register.filter
def ref_name(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


@register.filter
def seen_ago(moment: datetime | None, now: datetime | None = None) -> str:
    """``4 s ago`` under a minute (heartbeats come every few seconds), else like ``ago``."""
    if moment is None:
        return "never"
    now = now or timezone.now()
    elapsed = now - moment
    if elapsed < timedelta(seconds=1):
        return "just now"
    if elapsed < timedelta(minutes=1):
        return f"{int(elapsed.total_seconds())} s ago"
    return f"{timesince(moment, now).split(',')[0]} ago"
