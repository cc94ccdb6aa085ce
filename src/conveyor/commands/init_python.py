"""What a Python project says about itself: what to install, and whether it tests with pytest."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The requirements/ file a pipeline most likely wants, best first: test files usually
# pull in the base ones with `-r`.
PREFERRED_REQUIREMENTS = (
    "test", "tests", "testing", "ci", "dev", "development", "local", "base", "common",
)  # fmt: skip
TEST_EXTRAS = ("test", "tests", "testing", "dev")
_PYTEST_REQUIREMENT = re.compile(r"^\s*pytest(?:-django)?\b", re.I | re.M)


@dataclass
class Install:
    command: str | None  # None: nothing here says what to install
    source: str  # what the command came from, for the notes


def read_pyproject(root: Path) -> dict[str, Any]:
    try:
        return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}


def requirements_file(root: Path) -> Path | None:
    if (root / "requirements.txt").is_file():
        return root / "requirements.txt"
    folder = root / "requirements"
    files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    by_stem = {path.stem.lower(): path for path in files}
    for stem in PREFERRED_REQUIREMENTS:
        if stem in by_stem:
            return by_stem[stem]
    return files[0] if files else None


def _project_table(pyproject: dict[str, Any]) -> dict[str, Any]:
    project = pyproject.get("project")
    return project if isinstance(project, dict) else {}


def _test_extra(project: dict[str, Any]) -> str | None:
    extras = project.get("optional-dependencies")
    if isinstance(extras, dict):
        return next((name for name in TEST_EXTRAS if name in extras), None)
    return None


def install(root: Path) -> Install:
    requirements = requirements_file(root)
    if requirements is not None:
        relative = requirements.relative_to(root).as_posix()
        return Install(f"python -m pip install -r {shlex.quote(relative)}", relative)
    pyproject = read_pyproject(root)
    project = _project_table(pyproject)
    if "build-system" in pyproject or (root / "setup.py").is_file():
        # The project is a package: installing it brings its dependencies.
        extra = _test_extra(project)
        target = f'".[{extra}]"' if extra else "."
        return Install(f"python -m pip install -e {target}", "pyproject.toml")
    dependencies = [d for d in project.get("dependencies", []) if isinstance(d, str)]
    extra = _test_extra(project)
    if extra:
        dependencies += [d for d in project["optional-dependencies"][extra] if isinstance(d, str)]
    if dependencies:
        # No build system: not a package to install, so its dependencies are installed
        # instead (a flat Django layout would make `pip install -e .` fail).
        quoted = " ".join(shlex.quote(d) for d in dependencies)
        return Install(f"python -m pip install {quoted}", "pyproject.toml's [project] dependencies")
    return Install(None, "")


def has_pytest_config(root: Path) -> bool:
    pyproject = read_pyproject(root)
    tool = pyproject.get("tool", {})
    if isinstance(tool, dict) and "pytest" in tool:
        return True
    if (root / "pytest.ini").is_file() or (root / "conftest.py").is_file():
        return True
    for name, section in (("setup.cfg", "[tool:pytest]"), ("tox.ini", "[pytest]")):
        if section in _text(root / name):
            return True
    return False


def _requirement_texts(root: Path) -> list[str]:
    texts = [_text(root / "requirements.txt")]
    folder = root / "requirements"
    if folder.is_dir():
        texts += [_text(path) for path in sorted(folder.glob("*.txt"))]
    project = _project_table(read_pyproject(root))
    texts += [d for d in project.get("dependencies", []) if isinstance(d, str)]
    extras = project.get("optional-dependencies")
    if isinstance(extras, dict):
        texts += [d for group in extras.values() if isinstance(group, list) for d in group]
    return [text for text in texts if isinstance(text, str)]


def uses_pytest(root: Path) -> bool:
    if has_pytest_config(root):
        return True
    return any(_PYTEST_REQUIREMENT.search(text) for text in _requirement_texts(root))


def pytest_names_settings(root: Path) -> bool:
    """Whether the project's pytest configuration already names DJANGO_SETTINGS_MODULE."""
    names = ("pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini", "conftest.py")
    return any("DJANGO_SETTINGS_MODULE" in _text(root / name) for name in names)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
