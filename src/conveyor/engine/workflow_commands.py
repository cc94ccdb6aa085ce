"""Parsing of workflow command lines: ``::name key=value,key=value::data``."""

from __future__ import annotations

from conveyor.records import field, record

# GitHub's escaping: data escapes %, CR and LF; properties also escape : and ,.
# ``%25`` is undone last so that ``%250A`` stays the literal text ``%0A``.
_DATA_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROPERTY_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


@record(frozen=True)
class WorkflowCommand:
    name: str
    properties: dict[str, str] = field(default_factory=dict)
    data: str = ""


def _unescape(text: str, escapes: tuple[tuple[str, str], ...]) -> str:
    if "%" not in text:
        return text
    for escaped, plain in escapes:
        text = text.replace(escaped, plain)
    return text


def parse_command(line: str) -> WorkflowCommand | None:
    """The command on ``line`` (which starts with ``::``), or None if it is not one."""
    end = line.find("::", 2)
    if end < 0:
        return None
    head = line[2:end]
    data = line[end + 2 :]
    name, _, raw_properties = head.partition(" ")
    if not name or any(c.isspace() for c in name):
        return None
    properties: dict[str, str] = {}
    for part in raw_properties.split(","):
        if not part.strip():
            continue
        key, equals, value = part.partition("=")
        if not equals:
            continue
        properties[key.strip()] = _unescape(value, _PROPERTY_ESCAPES)
    return WorkflowCommand(name=name, properties=properties, data=_unescape(data, _DATA_ESCAPES))
