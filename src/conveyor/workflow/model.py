"""The typed workflow: what a validated YAML file means, with source positions.

This is Conveyor's schema. The parser (``conveyor.workflow.parse``) builds these
objects and refuses anything it cannot represent, so the engine never sees raw YAML.

Values that GitHub allows to be expressions stay as strings here (for example
``if_`` or an ``env`` value holding ``${{ ... }}``); the engine evaluates them when
their contexts exist. A field whose YAML value may be either a literal or an
expression is typed as the literal's type ``| str``.
"""

from __future__ import annotations

from typing import Any

from conveyor.records import field, record
from conveyor.workflow.errors import Position


@record
class EventFilter:
    """Filters of one ``on.<event>`` entry; ``None`` means the key was absent."""

    branches: list[str] | None = None
    branches_ignore: list[str] | None = None
    tags: list[str] | None = None
    tags_ignore: list[str] | None = None
    paths: list[str] | None = None
    paths_ignore: list[str] | None = None
    types: list[str] | None = None
    workflows: list[str] | None = None


@record
class DispatchInput:
    """One ``on.workflow_dispatch.inputs.<name>`` (or ``workflow_call`` input)."""

    name: str
    description: str = ""
    required: bool = False
    default: Any = None
    type: str = "string"  # string | boolean | number | choice | environment
    options: list[str] = field(default_factory=list)


@record
class CallSecret:
    """One ``on.workflow_call.secrets.<name>``."""

    name: str
    description: str = ""
    required: bool = False


@record
class WorkflowCall:
    """``on.workflow_call``: what a reusable workflow takes from its caller and gives back."""

    inputs: dict[str, DispatchInput] = field(default_factory=dict)
    secrets: dict[str, CallSecret] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # name -> value expression
    # "outputs.<name>" -> where its value is written, for errors while evaluating it
    positions: dict[str, Position] = field(default_factory=dict)


@record
class Triggers:
    """The ``on:`` section. ``events`` maps an event name to its filters."""

    events: dict[str, EventFilter] = field(default_factory=dict)
    schedule: list[str] = field(default_factory=list)  # cron lines, validated
    # cron line -> IANA time zone, for ``- cron: ...`` entries that give ``timezone:``
    timezones: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, DispatchInput] = field(default_factory=dict)  # workflow_dispatch
    call: WorkflowCall | None = None  # None: the workflow cannot be called (no workflow_call)


@record
class RunDefaults:
    shell: str | None = None
    working_directory: str | None = None


@record
class Concurrency:
    group: str
    cancel_in_progress: bool | str = False


@record
class Environment:
    name: str
    url: str | None = None


@record
class Step:
    """One ``run:`` command or one ``uses:`` action."""

    index: int  # 0-based position in the job
    position: Position
    id: str | None = None
    name: str | None = None
    if_: str | None = None
    run: str | None = None
    uses: str | None = None
    # env and with: a value is a string, or under an `${{ insert }}` key a mapping
    with_: dict[str, Any] = field(default_factory=dict)
    shell: str | None = None
    env: dict[str, Any] = field(default_factory=dict)
    working_directory: str | None = None
    continue_on_error: bool | str = False
    timeout_minutes: float | str | None = None
    # Where each key's value starts, for errors found while running.
    positions: dict[str, Position] = field(default_factory=dict)
    # The file's text as parsed: a job plan carries it to a worker, which parses it again.
    source: str = ""

    @property
    def display_name(self) -> str:
        """The name GitHub shows: ``name``, else ``Run <first line>``, else the action."""
        if self.name:
            return self.name
        if self.run is not None:
            first = self.run.strip().splitlines()[0] if self.run.strip() else ""
            return f"Run {first}"
        return f"Run {self.uses}"


@record
class Strategy:
    # A mapping of axis -> list of values plus optional include/exclude lists,
    # or an expression string such as ``${{ fromJSON(needs.a.outputs.m) }}``.
    matrix: dict[str, Any] | str | None = None
    fail_fast: bool | str = True
    max_parallel: int | str | None = None


@record
class Container:
    """``jobs.<id>.container``, or one ``jobs.<id>.services.<service id>``.

    Strings may hold ``${{ }}``; ``ports`` items are the text written (a number or a Docker
    ``[ip:][host:]container[/protocol]`` text). ``command`` and ``entrypoint`` exist
    only for services.
    """

    position: Position  # of the image (or of the mapping it belongs to)
    image: str = ""
    credentials: dict[str, str] = field(default_factory=dict)  # username, password
    env: dict[str, Any] = field(default_factory=dict)
    ports: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    options: str | None = None
    command: str | None = None
    entrypoint: str | None = None
    positions: dict[str, Position] = field(default_factory=dict)


@record
class Job:
    id: str
    position: Position
    name: str | None = None
    needs: list[str] = field(default_factory=list)
    if_: str | None = None
    runs_on: Any = None  # accepted and recorded; jobs run on this host
    env: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    strategy: Strategy | None = None
    timeout_minutes: float | str = 360
    continue_on_error: bool | str = False
    environment: Environment | None = None
    concurrency: Concurrency | None = None
    defaults: RunDefaults = field(default_factory=RunDefaults)
    steps: list[Step] = field(default_factory=list)
    # A job that calls a reusable workflow has ``uses`` and no steps: the called
    # workflow's jobs run in its place. ``with_`` values are typed as written (a plain
    # ``true`` is a bool, ``3`` a number); ``secrets`` is a mapping or "inherit".
    uses: str | None = None
    with_: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] | str | None = None
    # Where each key's value starts ("with.<name>" and "secrets.<name>" too).
    positions: dict[str, Position] = field(default_factory=dict)
    # ``container:`` (None: the steps run on the host) and ``services:`` by id, file order.
    container: Container | None = None
    services: dict[str, Container] = field(default_factory=dict)


@record
class Workflow:
    path: str  # as given by the user, used in every message
    position: Position
    name: str | None = None
    run_name: str | None = None
    on: Triggers = field(default_factory=Triggers)
    env: dict[str, Any] = field(default_factory=dict)
    defaults: RunDefaults = field(default_factory=RunDefaults)
    concurrency: Concurrency | None = None
    permissions: Any = None  # accepted; there is no token to scope locally
    jobs: dict[str, Job] = field(default_factory=dict)  # in file order
    # True for the seed's form: a file with a top-level ``steps:`` list and no ``jobs:``.
    shorthand: bool = False
    positions: dict[str, Position] = field(default_factory=dict)
    # The file's text as parsed: a job plan carries it to a worker, which parses it again.
    source: str = ""

    @property
    def display_name(self) -> str:
        return self.name or self.path


JAVASCRIPT_RUNTIMES = ("node12", "node16", "node20", "node24")


@record
class JavaScriptRuns:
    """``runs:`` of a JavaScript action: files relative to the action's directory."""

    main: str
    pre: str | None = None
    post: str | None = None
    pre_if: str = "always()"
    post_if: str = "always()"


@record
class CompositeAction:
    """An ``action.yml``: a composite action's steps, or a JavaScript or Docker entry point.

    The name is historical: ``using`` says which kind it is (``composite``, one of
    ``JAVASCRIPT_RUNTIMES``, or ``docker``).
    """

    path: str
    position: Position
    name: str | None = None
    description: str | None = None
    inputs: dict[str, DispatchInput] = field(default_factory=dict)
    # name -> value expression; a JavaScript or Docker action's outputs have none ("").
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    using: str = "composite"
    javascript: JavaScriptRuns | None = None
    docker_image: str | None = None  # runs.image of a Docker action
