"""ANSI colour codes (SGR) in log lines turned into HTML spans, everything else escaped.

Only SGR sequences (``ESC[...m``) carry meaning for a log; other control
sequences (cursor moves, erase) are dropped. The colour state carries from one
line to the next, as in a terminal, through an ``AnsiState`` the caller keeps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape

_SEQUENCE = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")

_NAMES = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


@dataclass
class AnsiState:
    """The SGR attributes in force: CSS classes for colours and styles."""

    foreground: str | None = None
    background: str | None = None
    styles: set[str] = field(default_factory=set)

    def classes(self) -> list[str]:
        found = sorted(self.styles)
        if self.foreground:
            found.append(f"ansi-fg-{self.foreground}")
        if self.background:
            found.append(f"ansi-bg-{self.background}")
        return found

    def apply(self, parameters: str) -> None:
        codes = [int(part) if part.isdigit() else 0 for part in parameters.split(";")]
        position = 0
        while position < len(codes):
            code = codes[position]
            position += 1
            if code == 0:
                self.foreground, self.background, self.styles = None, None, set()
            elif code in (1, 2, 3, 4):
                self.styles.add(
                    {1: "ansi-bold", 2: "ansi-dim", 3: "ansi-italic", 4: "ansi-underline"}[code]
                )
            elif code in (22, 23, 24):
                drop = {
                    22: ("ansi-bold", "ansi-dim"),
                    23: ("ansi-italic",),
                    24: ("ansi-underline",),
                }
                self.styles.difference_update(drop[code])
            elif 30 <= code <= 37:
                self.foreground = _NAMES[code - 30]
            elif 90 <= code <= 97:
                self.foreground = f"bright-{_NAMES[code - 90]}"
            elif 40 <= code <= 47:
                self.background = _NAMES[code - 40]
            elif 100 <= code <= 107:
                self.background = f"bright-{_NAMES[code - 100]}"
            elif code == 39:
                self.foreground = None
            elif code == 49:
                self.background = None
            elif code in (38, 48):
                # 256-colour and true-colour forms: mapped to the nearest of the 16 names.
                colour, position = _extended_colour(codes, position)
                if code == 38:
                    self.foreground = colour
                else:
                    self.background = colour


def _extended_colour(codes: list[int], position: int) -> tuple[str | None, int]:
    if position < len(codes) and codes[position] == 5 and position + 1 < len(codes):
        index = codes[position + 1]
        if index < 8:
            return _NAMES[index], position + 2
        if index < 16:
            return f"bright-{_NAMES[index - 8]}", position + 2
        return None, position + 2
    if position < len(codes) and codes[position] == 2 and position + 3 < len(codes):
        red, green, blue = codes[position + 1 : position + 4]
        nearest = (1 if red > 127 else 0) | (2 if green > 127 else 0) | (4 if blue > 127 else 0)
        return _NAMES[nearest], position + 4
    return None, position


def ansi_to_html(line: str, state: AnsiState | None = None) -> str:
    """``line`` as safe HTML: text escaped, SGR colours as ``<span class="ansi-...">``."""
    state = state if state is not None else AnsiState()
    parts: list[str] = []
    position = 0
    open_span = False

    def text(piece: str) -> None:
        nonlocal open_span
        if not piece:
            return
        classes = state.classes()
        if classes and not open_span:
            parts.append(f'<span class="{" ".join(classes)}">')
            open_span = True
        parts.append(escape(piece, quote=False))

    for match in _SEQUENCE.finditer(line):
        text(line[position : match.start()])
        position = match.end()
        if match.group(2) == "m":
            if open_span:
                parts.append("</span>")
                open_span = False
            state.apply(match.group(1) or "0")
    text(line[position:])
    if open_span:
        parts.append("</span>")
    return "".join(parts)


def strip_ansi(line: str) -> str:
    return _SEQUENCE.sub("", line)
