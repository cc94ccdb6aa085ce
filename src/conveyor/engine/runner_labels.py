"""Which ``runs-on`` labels this machine can serve.

A job runs where a runner has every one of its labels. Steps written for Windows or
macOS do not mean the same on Linux, so a job asking for a system this machine is not
is reported as not run here instead of being run on the wrong one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from conveyor.records import field, record

# os.uname().sysname -> the GitHub-hosted image prefix and the OS label of that system.
_SYSTEMS = {
    "Linux": ("ubuntu-", "linux"),
    "Darwin": ("macos-", "macos"),
    "Windows": ("windows-", "windows"),
}
# os.uname().machine -> GitHub's architecture label.
_ARCHITECTURES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}


def labels_of(runs_on: Any) -> list[str]:
    """The labels of an (evaluated) ``runs-on``: a label, a list, or ``{group, labels}``.

    A runner group alone names no label: nothing here can tell it is not this machine.
    """
    if isinstance(runs_on, dict):
        runs_on = runs_on.get("labels")
    if runs_on is None:
        return []
    if isinstance(runs_on, str):
        return [runs_on.strip()] if runs_on.strip() else []
    if isinstance(runs_on, list):
        return [str(label).strip() for label in runs_on if str(label).strip()]
    return [str(runs_on)]


@record(frozen=True)
class HostLabels:
    """The labels this machine answers to; ``mapped`` are extra ones the user allowed."""

    # os.uname, not platform: platform costs milliseconds of start-up to import.
    system: str = field(default_factory=lambda: os.uname().sysname)
    machine: str = field(default_factory=lambda: os.uname().machine)
    mapped: frozenset[str] = frozenset()
    # How to run such a job anyway, said after the reason (the CLI names its option).
    advice: str = ""

    @classmethod
    def of_this_machine(cls, mapped: Iterable[str] = (), advice: str = "") -> HostLabels:
        return cls(mapped=frozenset(label.lower() for label in mapped), advice=advice)

    def serves(self, label: str) -> bool:
        label = label.lower()
        if label in self.mapped or label == "self-hosted":
            return True
        prefix, os_label = _SYSTEMS.get(self.system, ("", ""))
        architecture = _ARCHITECTURES.get(self.machine.lower(), self.machine.lower())
        if label in (os_label, architecture):
            return True
        if prefix and label.startswith(prefix):
            # GitHub's ARM images end in -arm: only an ARM machine is one.
            return not label.endswith("-arm") or architecture == "arm64"
        return False

    def own_labels(self) -> list[str]:
        """This system's and architecture's labels (``linux``, ``x64``): what a
        self-hosted runner on this machine announces besides ``self-hosted``."""
        _prefix, os_label = _SYSTEMS.get(self.system, ("", ""))
        architecture = _ARCHITECTURES.get(self.machine.lower(), self.machine.lower())
        return [label for label in (os_label, architecture) if label]

    def not_served(self, labels: list[str]) -> str | None:
        """Why a job with these labels does not run here, or None if it does."""
        missing = [label for label in labels if not self.serves(label)]
        if not missing:
            return None
        names = ", ".join(missing)
        where = f"{self.system} {self.machine}".strip()
        advice = f" ({self.advice.format(label=missing[0])})" if self.advice else ""
        return f"not run here: runs-on {names}, which this machine ({where}) does not serve{advice}"
