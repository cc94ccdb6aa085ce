"""SVG status badges: "<label> | <status>" in the status's colour."""

from __future__ import annotations

from html import escape

# Status colours shared with the stylesheet's tokens (--status-*) so a badge matches the page.
STATUS_COLOURS = {
    "success": "#1a7f37",
    "failure": "#cf222e",
    "running": "#bf8700",
    "waiting": "#9a6700",
    "queued": "#6e7781",
    "cancelled": "#57606a",
    "skipped": "#8c959f",
    "unknown": "#8c959f",
}
_LABEL_COLOUR = "#24292f"


def _text_width(text: str) -> int:
    # Verdana 11px averages about 6.5 px a character; wide letters get a little more room.
    return int(sum(8.5 if ch in "mwMW" else 6.5 for ch in text)) + 12


def badge_svg(label: str, status: str) -> str:
    """A flat badge; ``status`` is one of the six statuses or "unknown" (no run yet)."""
    colour = STATUS_COLOURS.get(status, STATUS_COLOURS["unknown"])
    message = "no runs" if status == "unknown" else status
    left, right = _text_width(label), _text_width(message)
    total = left + right
    safe_label, safe_message = escape(label), escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{safe_label}: {safe_message}">'
        f"<title>{safe_label}: {safe_message}</title>"
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)">'
        f'<rect width="{left}" height="20" fill="{_LABEL_COLOUR}"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}" data-status="{status}"/>'
        f"</g>"
        f'<g fill="#fff" text-anchor="middle" '
        f'font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{safe_label}</text>'
        f'<text x="{left + right / 2}" y="14">{safe_message}</text>'
        f"</g></svg>"
    )
