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
    """A lone ``${{ x }}`` gives x's raw value; containers are evaluated item by item.

    Inside containers GitHub's template rules apply: expression keys, ``${{ insert }}``
    and arrays spliced into sequences (see ``expressions.structure``).
    """
    if not has_expression(template):
        return template
    from conveyor.workflow.expressions import evaluate_structure

    try:
        return evaluate_structure(template, contexts)
    except (ExpressionError, ValueError, TypeError) as error:
        raise _problem(where, key, error) from None


def has_expression(template: Any) -> bool:
    """Whether ``${{`` appears anywhere in ``template``, mapping keys included."""
    if isinstance(template, str):
        return "${{" in template
    if isinstance(template, dict):
        return any(has_expression(k) or has_expression(v) for k, v in template.items())
    if isinstance(template, list):
        return any(has_expression(item) for item in template)
    return False


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
    return string_map(env, contexts, positions, where, "env")


def string_map(
    mapping: dict[str, Any],
    contexts: Contexts,
    positions: dict[str, Position],
    where: Position | None,
    prefix: str,
) -> dict[str, str]:
    """``env:``/``with:`` as strings; expression keys and ``${{ insert }}`` evaluated first."""
    if not any("${{" in name for name in mapping):
        return {
            name: string(
                raw, contexts, positions.get(f"{prefix}.{name}", where), f"{prefix}.{name}"
            )
            for name, raw in mapping.items()
        }
    from conveyor.workflow.expressions import evaluate_mapping, to_string

    try:
        evaluated = evaluate_mapping(mapping, contexts)
    except (ExpressionError, ValueError, TypeError) as error:
        raise _problem(where, prefix, error) from None
    result: dict[str, str] = {}
    for name, item in evaluated.items():
        if isinstance(item, dict | list):
            raise EngineProblem(f"{where}: {prefix}.{name}: a mapping or list is not a string")
        result[name] = item if isinstance(item, str) else to_string(item)
    return result
