"""Plain data shared by the job runner and the ``uses:`` actions it runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from conveyor.engine.events import Event, Status
from conveyor.records import field, record

if TYPE_CHECKING:
    from conveyor.engine.masking import Masker
    from conveyor.engine.options import RunOptions
    from conveyor.engine.results import StepResult
    from conveyor.workflow.model import Step


@record
class StepScope:
    """The steps a step sits among: the job's, or those of a composite action."""

    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # the `steps` context
    # `env:` of the enclosing `uses:` steps, outermost first (composite actions).
    env_layers: list[dict[str, str]] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    action_path: str = ""
    depth: int = 0  # 0: the job's own steps
    log_index: int = 0  # the job step whose log this scope writes to
    failed: bool = False  # a step here failed (read by success()/failure())
    cancelled: bool = False  # a step here was cancelled
    first_failure: str | None = None  # why, for the enclosing step's reason


@record
class StepOutcome:
    """How running a step went, before ``continue-on-error`` is applied."""

    outcome: Status
    exit_code: int | None = None
    reason: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    # Tests that the step's JUnit reports say failed (junit_reports.py).
    failed_tests: list[str] = field(default_factory=list)
    # What the process saved with GITHUB_STATE, for the action's post step.
    state: dict[str, str] = field(default_factory=dict)


@record
class PostStep:
    """Work an action leaves for the end of the job (a JavaScript action's ``post``,
    ``actions/cache`` saving), run after the job's steps, the last added first."""

    name: str  # shown as "Post <name>"
    # Called with the log index the post step writes to; returns how it went.
    run: Callable[[int], StepOutcome]
    # An ``if:`` expression judged at the job's end, as GitHub's ``post-if``.
    condition: str = "success()"


class ActionHost(Protocol):
    """What a ``uses:`` action may ask of the job that runs it."""

    workspace: str
    masker: Masker

    runner_temp: str

    @property
    def options(self) -> RunOptions: ...

    def execute_step(self, step: Step, scope: StepScope) -> StepResult: ...

    def run_process(
        self,
        step: Step,
        scope: StepScope,
        argv: list[str],
        env: dict[str, str],
        cwd: str | None = None,
        log_index: int | None = None,
    ) -> StepOutcome: ...

    def add_post_step(self, post: PostStep) -> None: ...

    def emit(self, event: Event) -> None: ...

    def can_use_tool(self, path: str) -> bool:
        """Whether a tool at ``path`` (an interpreter, node, uv) may serve the job: its
        processes see it and cannot change it. A sandboxed job: only the system's
        directories; an unsandboxed one: anything."""
        ...

    def log_line(self, step_index: int, text: str) -> None: ...

    def step_contexts(self, scope: StepScope, env: dict[str, str]) -> dict[str, Any]: ...

    def env_context(self, scope: StepScope) -> dict[str, str]: ...

    def warn(self, step_index: int, message: str) -> None: ...

    @property
    def job_key(self) -> str: ...  # the job (or matrix combination) running the action


ActionHandler = Callable[
    ["ActionHost", "Step", StepScope, dict[str, Any], dict[str, str]], StepOutcome
]
