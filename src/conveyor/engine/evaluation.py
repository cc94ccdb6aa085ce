"""``${{ }}`` evaluation for the engine: expression errors become ``EngineProblem``s that
say where (file:line:column of the key) and what, ready to be a step's or job's reason."""

from __future__ import annotations

from typing import Any

from conveyor.workflow.errors import Position
from conveyor.workflow.expressions.errors import ExpressionError
from conveyor.workflow.expressions.status import JobStatus

Contexts = dict[str, Any]


class EngineProblem(Exception):
    """Something in the workflow that stops a step or job from running; ``str`` says what."""


def _problem(where: Position | None, key: str, error: ExpressionError | Exception) -> EngineProblem:
    message = getattr(error, "message", None) or str(error)
    prefix = f"{where}: " if where is not None else ""
    return EngineProblem(f"{prefix}{key}: {message}")


def condition(
    text: str | None, contexts: Contexts, status: JobStatus, where: Position | None, key: str = "if"
) -> bool:
    if text is None or not str(text).strip():
        return status.succeeded  # what the implicit `success()` says, without the parser
    source = text
    if isinstance(source, bool):
        return source
    from conveyor.workflow.expressions import evaluate_condition

    try:
        return bool(evaluate_condition(str(source), contexts, status))
    except (ExpressionError, ValueError, TypeError) as error:
        raise _problem(where, key, error) from None


def string(
    template: Any,
    contexts: Contexts,
    where: Position | None,
    key: str,
    status: JobStatus | None = None,
) -> str:
    if template is None:
        return ""
    text = template if isinstance(template, str) else _plain(template)
    if "${{" not in text:
        return text
    from conveyor.workflow.expressions import interpolate

    try:
        return interpolate(text, contexts, status)
    except (ExpressionError, ValueError, TypeError) as error:
        raise _problem(where, key, error) from None


def value(template: Any, contexts: Contexts, where: Position | None, key: str) -> Any:
    """A lone ``${{ x }}`` gives x's raw value; containers are evaluated item by item."""
    if isinstance(template, dict):
        return {k: value(v, contexts, where, key) for k, v in template.items()}
    if isinstance(template, list):
        return [value(item, contexts, where, key) for item in template]
    if not isinstance(template, str) or "${{" not in template:
        return template
    from conveyor.workflow.expressions import evaluate_value

    try:
        return evaluate_value(template, contexts)
    except (ExpressionError, ValueError, TypeError) as error:
        raise _problem(where, key, error) from None


def flag(template: bool | str | None, contexts: Contexts, where: Position | None, key: str) -> bool:
    result = value(template, contexts, where, key)
    if isinstance(result, str):
        return result.strip().lower() not in ("", "false", "0")
    return bool(result)


def minutes(template: Any, contexts: Contexts, where: Position | None, key: str) -> float | None:
    result = value(template, contexts, where, key)
    if result is None or result == "":
        return None
    try:
        number = float(result)
    except (TypeError, ValueError):
        raise EngineProblem(
            f"{where}: {key}: expected a number of minutes, got {result!r}"
        ) from None
    if number <= 0:
        raise EngineProblem(f"{where}: {key}: must be more than 0 minutes, got {result!r}")
    return number


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def env_values(
    env: dict[str, Any], contexts: Contexts, positions: dict[str, Position], where: Position | None
) -> dict[str, str]:
    return {
        name: string(raw, contexts, positions.get(f"env.{name}", where), f"env.{name}")
        for name, raw in env.items()
    }
