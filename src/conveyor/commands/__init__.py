"""One module a ``conveyor`` sub-command; ``conveyor.cli`` imports only the one it runs."""


def plural(count: int, noun: str) -> str:
    """``1 step``, ``2 steps``: a count the CLI prints, with its noun agreeing."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
