"""The ``.conveyor.yml`` text ``conveyor init`` writes: steps, their env and notes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Step:
    name: str
    run: str  # one command, or several lines (a YAML block)
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # YAML comment lines written above the step


@dataclass
class Pipeline:
    name: str
    steps: list[Step]
    notes: list[str] = field(default_factory=list)  # YAML comment lines under the header


def _quote(command: str) -> str:
    """A YAML scalar for a command; a trailing `# comment` stays a YAML comment."""
    text, hash_, comment = command.partition("  # ")
    needs_quotes = text[:1] in "\"'&*!|>%@`{[" or ": " in text
    scalar = "'" + text.replace("'", "''") + "'" if needs_quotes else text
    return f"{scalar}  # {comment}" if hash_ else scalar


def _run_lines(run: str) -> list[str]:
    commands = run.strip("\n").splitlines()
    if len(commands) == 1:
        return [f"    run: {_quote(commands[0])}"]
    # A block keeps each command on its own line; the shell stops at the first failure.
    return ["    run: |", *(f"      {command}" for command in commands)]


def render(pipeline: Pipeline) -> str:
    lines = [
        f"# {pipeline.name} for Conveyor. Run it with `conveyor run`; see `conveyor run --help`.",
        "# The steps run in order and the pipeline stops at the first failure.",
        *(f"# {note}" for note in pipeline.notes),
        f"name: {pipeline.name}",
        "steps:",
    ]
    for step in pipeline.steps:
        lines += [f"  # {note}" for note in step.notes]
        lines += [f"  - name: {step.name}", *_run_lines(step.run)]
        if step.env:
            lines.append("    env:")
            # JSON strings are valid YAML and quote whatever a value holds.
            lines += [f"      {name}: {json.dumps(value)}" for name, value in step.env.items()]
    return "\n".join(lines) + "\n"
