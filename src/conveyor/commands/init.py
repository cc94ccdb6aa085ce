"""``conveyor init``: write a ``.conveyor.yml`` fitted to the project it finds."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from conveyor.cli import EXIT_OK, UsageError
from conveyor.commands import init_python, plural
from conveyor.commands.init_django import DEPLOY, django_pipeline
from conveyor.commands.init_yaml import Pipeline, Step, render
from conveyor.workflow.discovery import ROOT_FILES, find_repository_root

DEPLOY_PLACEHOLDER = (DEPLOY.name, DEPLOY.run)


def _node(root: Path) -> tuple[str, list[tuple[str, str]]]:
    try:
        scripts = json.loads((root / "package.json").read_text(encoding="utf-8")).get("scripts", {})
    except (OSError, ValueError, AttributeError):
        scripts = {}
    install = "npm ci" if (root / "package-lock.json").exists() else "npm install"
    steps = [("Install", install)]
    if "build" in scripts:
        steps.append(("Build", "npm run build"))
    if "lint" in scripts:
        steps.append(("Lint", "npm run lint"))
    steps.append(("Test", "npm test"))
    return "Node.js pipeline", [*steps, DEPLOY_PLACEHOLDER]


def _python(root: Path) -> tuple[str, list[tuple[str, str]]]:
    requirements = init_python.requirements_file(root)
    # A package installs itself (and so its dependencies); a requirements file comes first.
    install = "python -m pip install -e ."
    if requirements is not None:
        listed = shlex.quote(requirements.relative_to(root).as_posix())
        install = f"python -m pip install -r {listed}\n{install}"
    return "Python pipeline", [
        ("Build", install),
        ("Test", "python -m pytest"),
        DEPLOY_PLACEHOLDER,
    ]


def _go(root: Path) -> tuple[str, list[tuple[str, str]]]:
    return "Go pipeline", [
        ("Build", "go build ./..."),
        ("Test", "go test ./..."),
        DEPLOY_PLACEHOLDER,
    ]


def _rust(root: Path) -> tuple[str, list[tuple[str, str]]]:
    return "Rust pipeline", [
        ("Build", "cargo build --locked"),
        ("Test", "cargo test --locked"),
        DEPLOY_PLACEHOLDER,
    ]


def _make(root: Path) -> tuple[str, list[tuple[str, str]]]:
    return "Make pipeline", [("Build", "make"), ("Test", "make test"), DEPLOY_PLACEHOLDER]


def _generic(root: Path) -> tuple[str, list[tuple[str, str]]]:
    return "Pipeline", [
        ("Build", 'echo "Add your build command here"'),
        ("Test", 'echo "Add your test command here"'),
        DEPLOY_PLACEHOLDER,
    ]


def _detect(root: Path) -> Pipeline:
    # Django first: a Django project often has a package.json for its front end.
    if (root / "manage.py").exists():
        return django_pipeline(root)
    for markers, detector in DETECTORS:
        if any((root / marker).exists() for marker in markers):
            name, steps = detector(root)
            break
    else:
        name, steps = _generic(root)
    return Pipeline(name, [Step(step_name, command) for step_name, command in steps])


# First match wins.
DETECTORS = [
    (("pyproject.toml", "setup.py", "setup.cfg"), _python),
    (("package.json",), _node),
    (("go.mod",), _go),
    (("Cargo.toml",), _rust),
    (("Makefile", "makefile"), _make),
]


def init_command(args: argparse.Namespace) -> int:
    root = Path(find_repository_root(Path.cwd()))
    existing = [root / name for name in ROOT_FILES if (root / name).exists()]
    if existing and not args.force:
        raise UsageError(f"{existing[0]} already exists (use --force to overwrite it)")
    pipeline = _detect(root)
    target = root / ".conveyor.yml"
    target.write_text(render(pipeline), encoding="utf-8")
    steps = plural(len(pipeline.steps), "step")
    print(f"wrote {target} ({pipeline.name}, {steps}): run it with `conveyor run`")
    return EXIT_OK
