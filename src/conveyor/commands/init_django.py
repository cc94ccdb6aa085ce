"""``conveyor init`` for a Django project: a Build, Test, Deploy pipeline that runs as it is.

It reads the project rather than guessing: what to install (requirements files or
pyproject.toml), whether the settings give collectstatic a STATIC_ROOT (or read one from
the environment, which the pipeline then sets), and whether the tests run under pytest.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from conveyor.commands import init_python
from conveyor.commands.init_yaml import Pipeline, Step

DEPLOY = Step("Deploy", 'echo "Deploying to server..."  # replace with your deploy command')
COLLECTED = "staticfiles"  # where the pipeline collects static files, in its workspace
_SETTINGS_DEFAULT = re.compile(
    r"""DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([A-Za-z_][\w.]*)['"]"""
)  # fmt: skip
# Calls that read one variable of the environment: os.environ.get, os.getenv, env(...),
# env.str/env.path (django-environ), config(...) (python-decouple).
_ENV_READERS = {"get", "getenv", "env", "str", "path", "config"}


@dataclass
class StaticRoot:
    state: str  # "set", "env", "missing", "no-staticfiles" or "unknown"
    where: str = ""  # the settings file(s), as the notes name them
    variable: str = ""  # for "env": the variable the settings read


def settings_module(root: Path) -> str | None:
    try:
        found = _SETTINGS_DEFAULT.search((root / "manage.py").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return found.group(1) if found else None


def settings_files(root: Path, module: str) -> list[Path]:
    base = root.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        if base.parent.name == "settings" and (base.parent / "__init__.py").is_file():
            # settings/local.py and its siblings: it usually imports the others.
            return sorted(base.parent.glob("*.py"))
        return [base.with_suffix(".py")]
    if (base / "__init__.py").is_file():
        # A settings package usually imports a base module: read them all.
        return sorted(base.glob("*.py"))
    return []


def _env_variable(value: ast.expr) -> str | None:
    """The variable an assignment's value reads from the environment, if it reads one."""
    for node in ast.walk(value):
        if isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                return key.value
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0] if node.args else None
            literal = first.value if isinstance(first, ast.Constant) else None
            if name in _ENV_READERS and isinstance(literal, str) and literal.isupper():
                return literal
    return None


def static_root(root: Path) -> StaticRoot:
    module = settings_module(root)
    files = settings_files(root, module) if module else []
    if not files:
        return StaticRoot("unknown")
    where = ", ".join(path.relative_to(root).as_posix() for path in files)
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in files]
    if not any("django.contrib.staticfiles" in text for text in texts):
        return StaticRoot("no-staticfiles", where)
    assigned = False
    for text in texts:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            if re.search(r"^\s*STATIC_ROOT\s*=", text, re.M):
                assigned = True
            continue
        for node in ast.walk(tree):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else []
            targets += node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(t, ast.Name) and t.id == "STATIC_ROOT" for t in targets):
                assigned = True
                variable = _env_variable(node.value) if node.value else None
                if variable:
                    return StaticRoot("env", where, variable)
    return StaticRoot("set" if assigned else "missing", where)


def _static_notes(static: StaticRoot) -> list[str]:
    if static.state == "missing":
        return [
            f"Build does not run `manage.py collectstatic`: {static.where} sets no STATIC_ROOT,",
            "so Django would refuse. Set one (e.g. STATIC_ROOT = BASE_DIR / 'staticfiles')",
            "and add `python manage.py collectstatic --noinput` to Build.",
        ]
    if static.state == "no-staticfiles":
        return [
            f"Build does not run `manage.py collectstatic`: {static.where} does not install",
            "django.contrib.staticfiles.",
        ]
    if static.state == "unknown":
        return [
            "Build does not run `manage.py collectstatic`: no settings module was found",
            "(manage.py names none), so whether STATIC_ROOT is set is unknown. Add",
            "`python manage.py collectstatic --noinput` to Build once it is.",
        ]
    if static.state == "env":
        return [
            f"{static.where} reads STATIC_ROOT from ${static.variable}: Build sets it to a",
            "folder of the workspace.",
        ]
    return []


def _install_notes(install: init_python.Install) -> list[str]:
    if install.command is not None:
        return [f"Build installs from {install.source}."]
    return [
        "Nothing here says what to install (no requirements.txt, requirements/*.txt or",
        "pyproject.toml dependencies), so the steps use the Django of the `python` on",
        "PATH. On a fresh machine, add `python -m pip install django` to Build first.",
    ]


def django_pipeline(root: Path) -> Pipeline:
    install = init_python.install(root)
    static = static_root(root)
    build = [install.command] if install.command else []
    build.append("python manage.py check")
    env: dict[str, str] = {}
    if static.state in ("set", "env"):
        build.append("python manage.py collectstatic --noinput")
    if static.state == "env":
        env[static.variable] = "${{ github.workspace }}/" + COLLECTED
    test = Step("Test", "python manage.py test")
    if init_python.uses_pytest(root):
        test = Step("Test", "python -m pytest")
        if not init_python.has_pytest_config(root):
            # Without a configuration pytest skips the tests.py that startapp writes.
            test.run = 'python -m pytest -o "python_files=tests.py test_*.py *_tests.py"'
        module = settings_module(root)
        if module and not init_python.pytest_names_settings(root):
            # pytest-django finds the settings through this variable when nothing
            # in the pytest configuration names them.
            test.env["DJANGO_SETTINGS_MODULE"] = module
    steps = [
        Step("Build", "\n".join(build), env, _install_notes(install) + _static_notes(static)),
        test,
        DEPLOY,
    ]
    return Pipeline("Django pipeline", steps)
