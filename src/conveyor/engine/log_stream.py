"""A step's raw output turned into masked ``LogLines`` batches and workflow commands.

This is the hot path: a step that prints 50 MB goes through ``feed``. A chunk is
decoded incrementally (UTF-8, bad bytes replaced), split at its last newline, and
its complete lines leave as one ``LogLines`` event when none of them is a workflow
command and nothing needs masking: one decode, two substring searches, one event.
Only lines starting with ``::`` are looked at one by one. An unterminated line is
held back until its newline, but never more than ``max_line`` characters of it.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable

from conveyor.engine.events import Annotation, Event, LogLines
from conveyor.engine.log_cap import LogCap
from conveyor.engine.masking import Masker
from conveyor.engine.workflow_commands import WorkflowCommand, parse_command
from conveyor.records import field, record

MAX_LINE = 64 * 1024
_ANNOTATION_LEVELS = ("error", "warning", "notice")
UNSECURE_COMMANDS_VARIABLE = "ACTIONS_ALLOW_UNSECURE_COMMANDS"


def allows_unsecure_commands(env: dict[str, str]) -> bool:
    """Whether a step's env opts into ``set-env``/``add-path`` (GitHub reads a boolean)."""
    return env.get(UNSECURE_COMMANDS_VARIABLE, "").strip().lower() == "true"


@record
class CommandResults:
    """What a step's workflow commands asked for, beyond log lines and annotations."""

    outputs: dict[str, str] = field(default_factory=dict)  # ::set-output
    state: dict[str, str] = field(default_factory=dict)  # ::save-state
    env: dict[str, str] = field(default_factory=dict)  # ::set-env, when allowed
    path: list[str] = field(default_factory=list)  # ::add-path, when allowed, in order
    failed: bool = False  # a command could not be carried out: the step fails, as on GitHub


class StepLog:
    def __init__(
        self,
        job_key: str,
        step: int,
        emit: Callable[[Event], None],
        masker: Masker,
        debug: bool = False,
        max_line: int = MAX_LINE,
        cap: LogCap | None = None,
        allow_unsecure_commands: bool = False,
    ) -> None:
        self.job_key = job_key
        self.step = step
        self.results = CommandResults()
        self._emit = emit
        self._masker = masker
        self._debug = debug
        self._max_line = max_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._stop_token: str | None = None
        self._cap = cap
        self._allow_unsecure = allow_unsecure_commands

    # -- input -------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        if self._cap is None:
            self._feed(chunk)
            return
        # Output past the cap is not read at all: its workflow commands (add-mask,
        # set-output, annotations...) are not processed. Reading it would cost the time
        # the cap is there to save, and a command nobody can see in the log acting
        # anyway would be a surprise; what is dropped is dropped whole.
        was_reached = self._cap.reached
        kept = self._cap.take(chunk)
        if kept:
            self._feed(kept)  # ends with a newline when the cap was reached just now
        if self._cap.reached and not was_reached:
            self._drop_held_back()

    def _drop_held_back(self) -> None:
        # A line begun before the cut and not ended within it is never shown: shown in
        # part it could end with the first characters of a secret.
        assert self._cap is not None
        pending, _ = self._decoder.getstate()
        self._decoder.reset()
        held = len(self._partial.encode("utf-8", "replace")) + len(pending)
        self._partial = ""
        if held:
            self._cap.drop_held(held)

    def _feed(self, chunk: bytes) -> None:
        text = self._decoder.decode(chunk)
        if not text:
            return
        if self._partial:
            text = self._partial + text
        last_newline = text.rfind("\n")
        if last_newline < 0:
            self._partial = text
        else:
            self._partial = text[last_newline + 1 :]
            self._emit_block(text[:last_newline])
        if len(self._partial) >= self._max_line:
            self._emit_long_partial()

    def write_line(self, line: str) -> None:
        """A line the engine itself adds to the step's log (``##[error]...``, notes)."""
        self._flush_partial()
        self._emit_lines([self._masker.mask(line)])

    def close(self) -> None:
        """The step's process is gone: emit what is left of an unterminated last line."""
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._partial += tail
        self._flush_partial()

    # -- blocks of complete lines -------------------------------------------------

    def _emit_block(self, block: str) -> None:
        if "\r" in block:
            block = block.replace("\r\n", "\n")
            if block.endswith("\r"):
                block = block[:-1]
        # A single-character search is one memchr over the block, several times faster
        # than looking for "\n::": most output has no colon at all.
        if ":" not in block or (not block.startswith("::") and "\n::" not in block):
            self._emit_text(self._masker.mask(block))
            return
        pending: list[str] = []
        for line in block.split("\n"):
            if line.startswith("::"):
                self._handle_command_line(line, pending)
            else:
                pending.append(self._masker.mask(line))
        self._emit_lines(pending)

    def _emit_long_partial(self) -> None:
        # A line that never ends is shown in pieces rather than held in memory whole.
        while len(self._partial) >= self._max_line:
            piece, self._partial = self._partial[: self._max_line], self._partial[self._max_line :]
            self._emit_text(self._masker.mask(piece))

    def _flush_partial(self) -> None:
        if self._partial:
            partial, self._partial = self._partial, ""
            self._emit_block(partial.rstrip("\r"))

    def _emit_lines(self, lines: list[str]) -> None:
        if lines:
            self._emit_text("\n".join(lines))
            lines.clear()

    def _emit_text(self, text: str) -> None:
        self._emit(LogLines(job_key=self.job_key, step=self.step, text=text))

    # -- workflow commands ----------------------------------------------------------

    def _handle_command_line(self, line: str, pending: list[str]) -> None:
        command = parse_command(line)
        if command is None:
            pending.append(self._masker.mask(line))
            return
        if self._stop_token is not None:
            if command.name == self._stop_token:
                self._stop_token = None
            else:
                pending.append(self._masker.mask(line))
            return
        name = command.name
        if name == "add-mask":
            self._masker.add(command.data)
        elif name == "stop-commands":
            if command.data:
                self._stop_token = command.data
        elif name == "group":
            pending.append(self._masker.mask(f"##[group]{command.data}"))
        elif name == "endgroup":
            pending.append("##[endgroup]")
        elif name in _ANNOTATION_LEVELS:
            self._emit_lines(pending)
            self._annotate(name, command)
            pending.append(self._masker.mask(f"##[{name}]{command.data}"))
        elif name == "debug":
            if self._debug:
                pending.append(self._masker.mask(f"##[debug]{command.data}"))
        elif name == "set-output":
            self.results.outputs[command.properties.get("name", "")] = command.data
            self._deprecated(name, "GITHUB_OUTPUT", pending)
        elif name == "save-state":
            self.results.state[command.properties.get("name", "")] = command.data
            self._deprecated(name, "GITHUB_STATE", pending)
        elif name in ("set-env", "add-path"):
            self._unsecure_command(command, line, pending)
        elif name == "echo":
            pass  # Echoing commands is a display preference; nothing to do.
        else:
            pending.append(self._masker.mask(line))

    def _unsecure_command(self, command: WorkflowCommand, line: str, pending: list[str]) -> None:
        name = command.name
        problem = None
        if not self._allow_unsecure:
            problem = (
                f"The `{name}` command is disabled. Use the "
                f"{'GITHUB_ENV' if name == 'set-env' else 'GITHUB_PATH'} file instead, or opt "
                f"into unsecure commands by setting the `{UNSECURE_COMMANDS_VARIABLE}` "
                "environment variable to `true`."
            )
        elif name == "set-env":
            variable = command.properties.get("name", "")
            if not variable:
                problem = "The `set-env` command needs a `name` property."
            else:
                self.results.env[variable] = command.data
        elif not command.data:
            problem = "The `add-path` command needs a directory."
        else:
            self.results.path.append(command.data)
        if problem is None:
            return
        # GitHub fails the step whose command it could not carry out, but lets the
        # script run on; the line itself is shown so one can see which command it was.
        self.results.failed = True
        self._emit_lines(pending)
        for message in (f"Unable to process command '{line}' successfully.", problem):
            message = self._masker.mask(message)
            self._annotate("error", WorkflowCommand(name="error", data=message))
            pending.append(f"##[error]{message}")

    def _deprecated(self, name: str, file: str, pending: list[str]) -> None:
        self._emit_lines(pending)
        message = f"The `{name}` command is deprecated; write to the {file} file instead"
        self._annotate("warning", WorkflowCommand(name="warning", data=message))
        pending.append(f"##[warning]{message}")

    def _annotate(self, level: str, command: WorkflowCommand) -> None:
        properties = command.properties
        title = properties.get("title")
        self._emit(
            Annotation(
                job_key=self.job_key,
                step=self.step,
                level=level,
                message=self._masker.mask(command.data),
                file=properties.get("file"),
                line=_int_or_none(properties.get("line")),
                column=_int_or_none(properties.get("col")),
                title=self._masker.mask(title) if title is not None else None,
            )
        )


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None
