"""Bar charts as inline SVG, drawn on the server (no script, no CDN): one bar a bucket,
a gap where a bucket has no figure, each bar's value in its ``<title>`` (the browser's
tooltip)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

WIDTH = 640
HEIGHT = 170
LEFT = 56  # room for the axis labels
BOTTOM = 22  # room for the bucket labels
TOP = 8
TICK = 'class="tick" font-size="11" fill="#5f6b7a"'
BAR = 'class="bar" fill="#0b5cad"'
NO_BAR = 'class="bar-empty" fill="#c8ced6"'


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float | None]],
    show: Callable[[float], str],
    css_class: str = "",
) -> str:
    """An SVG of ``bars`` (label, value or None); ``show`` writes a value for people."""
    values = [value for _, value in bars if value is not None]
    top = max(values, default=0.0) or 1.0
    plot_width = WIDTH - LEFT - 4
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(bars), 1)
    label_every = max(1, round(len(bars) / 8))
    parts = [
        f'<svg class="chart {escape(css_class)}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" stroke="#9aa4b2" x1="{LEFT}" y1="{TOP + plot_height}" '
        f'x2="{WIDTH - 4}" y2="{TOP + plot_height}" />',
        f'<text {TICK} x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end">'
        f"{escape(show(top) if values else '')}</text>",
        f'<text {TICK} x="{LEFT - 6}" y="{TOP + plot_height}" text-anchor="end">0</text>',
    ]
    for index, (label, value) in enumerate(bars):
        x = LEFT + index * slot
        if value is not None:
            height = max(plot_height * value / top, 1.0 if value > 0 else 0.0)
            parts.append(
                f'<rect {BAR} x="{x + slot * 0.15:.1f}" y="{TOP + plot_height - height:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{height:.1f}">'
                f"<title>{escape(label)}: {escape(show(value))}</title></rect>"
            )
        else:
            parts.append(
                f'<rect {NO_BAR} x="{x + slot * 0.15:.1f}" y="{TOP + plot_height - 1}" '
                f'width="{slot * 0.7:.1f}" height="1">'
                f"<title>{escape(label)}: no data</title></rect>"
            )
        if index % label_every == 0:
            parts.append(
                f'<text {TICK} x="{x + slot / 2:.1f}" y="{HEIGHT - 6}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def per_day_text(value: float) -> str:
    return f"{value:.2f}/day"


def percent_text(value: float) -> str:
    return f"{value * 100:.0f}%"
