"""Cross-check our parser with SchemaStore's GitHub workflow schema.

The schema is the copy vendored inside the installed ``check-jsonschema`` package,
read at test time (never copied into this repository). Every realistic workflow in
``valid/`` must pass both; every malformed fixture the schema can judge (those not
marked ``# semantic-only``) must fail both.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import load_workflow

HERE = Path(__file__).parent
VALID = sorted((HERE / "valid").glob("*.yml"))
MALFORMED = sorted((HERE / "malformed").glob("*.yml"))


@pytest.fixture(scope="module")
def validator() -> Any:
    schema_file = (
        resources.files("check_jsonschema") / "builtin_schemas/vendor/github-workflows.json"
    )
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def load_for_schema(path: Path) -> Any:
    # YAML 1.2, as GitHub reads workflows: ``on`` stays a string key.
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def schema_errors(validator: Any, path: Path) -> list[str]:
    try:
        document = load_for_schema(path)
    except YAMLError as error:
        return [f"YAML: {error}"]
    return [error.message for error in validator.iter_errors(document)]


def test_enough_valid_workflows() -> None:
    assert len(VALID) >= 20


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.stem)
def test_valid_workflow_passes_schema_and_parser(validator: Any, path: Path) -> None:
    assert schema_errors(validator, path) == []
    workflow = load_workflow(path)
    assert workflow.jobs
    assert workflow.on.events or workflow.on.schedule


def is_semantic_only(path: Path) -> bool:
    return "# semantic-only" in path.read_text(encoding="utf-8")


SCHEMA_LEVEL = [path for path in MALFORMED if not is_semantic_only(path)]


def test_enough_schema_level_fixtures() -> None:
    assert len(SCHEMA_LEVEL) >= 15


@pytest.mark.parametrize("path", SCHEMA_LEVEL, ids=lambda path: path.stem)
def test_schema_level_malformed_fails_both(validator: Any, path: Path) -> None:
    assert schema_errors(validator, path), "the schema accepted it"
    with pytest.raises(WorkflowInvalid):
        load_workflow(path)
