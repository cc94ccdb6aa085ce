"""Turn measured samples into the Markdown report: ratios first, absolutes after."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from measure import Sample, Summary, summarize

MIB = 1024 * 1024
SUBJECT = "conveyor"
MEMORY_TARGET_BYTES = 64 * MIB
PER_STEP_TARGET_SECONDS = 0.002
BIG_OUTPUT_TARGET_RATIO = 1.5
ACTIONS_TARGET_RATIO = 0.5
PER_STEP_FLOOR_TOOL = "bash-per-step"
PREFIXED_BASH_TOOL = "bash+sed prefix"
PER_STEP_PEERS = {"act", PER_STEP_FLOOR_TOOL}


@dataclass
class Contestant:
    """One tool on one workload: its project directory and everything measured there."""

    workload_key: str
    workload_title: str
    tool_name: str
    directory: Path
    samples: list[Sample] = field(default_factory=list)
    output_bytes: list[int] = field(default_factory=list)
    # What went wrong the first time (with the tool's stderr tail), for the report.
    failure_detail: str = ""
    skipped_reason: str = ""
    budget_note: str = ""

    @property
    def summary(self) -> Summary | None:
        return summarize(self.samples)

    @property
    def failures(self) -> int:
        return sum(1 for sample in self.samples if not sample.ok)


class Results:
    def __init__(self, contestants: list[Contestant]) -> None:
        self.contestants = contestants
        self._by_key = {(c.workload_key, c.tool_name): c for c in contestants}

    def get(self, workload_key: str, tool_name: str) -> Contestant | None:
        return self._by_key.get((workload_key, tool_name))

    def median(self, workload_key: str, tool_name: str) -> float | None:
        contestant = self.get(workload_key, tool_name)
        summary = contestant.summary if contestant else None
        return summary.median_seconds if summary else None

    def peak_text(self, workload_key: str, tool_name: str) -> str:
        contestant = self.get(workload_key, tool_name)
        summary = contestant.summary if contestant else None
        return format_peak(summary)

    def peak(self, workload_key: str, tool_name: str) -> int | None:
        contestant = self.get(workload_key, tool_name)
        summary = contestant.summary if contestant else None
        return summary.peak_rss_bytes if summary else None

    def per_step_overhead(self, tool_name: str) -> float | None:
        ten, hundred = self.median("b10", tool_name), self.median("b100", tool_name)
        if ten is None or hundred is None:
            return None
        return (hundred - ten) / 90

    def workload_keys(self) -> list[str]:
        return list(dict.fromkeys(c.workload_key for c in self.contestants))

    def tool_names(self) -> list[str]:
        return list(dict.fromkeys(c.tool_name for c in self.contestants))


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if abs(seconds) < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def format_bytes(count: int | None) -> str:
    if count is None:
        return "—"
    if count < MIB:
        return f"{count / 1024:.1f} KiB"
    return f"{count / MIB:.1f} MiB"


def format_peak(summary: Summary | None) -> str:
    if summary is None:
        return "—"
    prefix = "≤ " if summary.peak_is_upper_bound else ""
    return prefix + format_bytes(summary.peak_rss_bytes)


def format_ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator <= 0:
        return "—"
    return f"{numerator / denominator:.2f}x"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**MISSED**", None: "not measured"}[met]


def _targets(results: Results) -> list[str]:
    rows = [
        "| target | conveyor | against | ratio | verdict |",
        "|---|---|---|---|---|",
    ]

    def faster_than_act(key: str, label: str) -> None:
        mine, theirs = results.median(key, SUBJECT), results.median(key, "act")
        met = None if mine is None or theirs is None else mine < theirs
        rows.append(
            f"| {label} faster than act | {format_seconds(mine)} | act {format_seconds(theirs)} "
            f"| {format_ratio(mine, theirs)} | {_verdict(met)} |"
        )

    faster_than_act("a", "(a) seed")

    overhead = results.per_step_overhead(SUBJECT)
    act_overhead = results.per_step_overhead("act")
    met = None if overhead is None else overhead < PER_STEP_TARGET_SECONDS
    floor = results.per_step_overhead(PER_STEP_FLOOR_TOOL)
    floor_text = "" if floor is None else f"; floor (`bash -e` per step) {format_seconds(floor)}"
    rows.append(
        f"| (b) per-step overhead < 2 ms | {format_seconds(overhead)} "
        f"| act {format_seconds(act_overhead)}{floor_text} "
        f"| {format_ratio(overhead, act_overhead)} | {_verdict(met)} |"
    )

    # The target compares like with like: bash writing the lines conveyor writes, each
    # behind its job's prefix (bench/README.md, "(c) 50 MB of output", says why bare
    # bash, writing a third of the bytes, is no target). Bare bash stays as a reference.
    mine, bash = results.median("c", SUBJECT), results.median("c", "bash")
    prefixed = results.median("c", PREFIXED_BASH_TOOL)
    ratio_met = (
        None if mine is None or prefixed is None else mine <= BIG_OUTPUT_TARGET_RATIO * prefixed
    )
    rows.append(
        f"| (c) 50 MB output within 1.5x of bash writing the same lines | {format_seconds(mine)} "
        f"| bash+sed {format_seconds(prefixed)} | {format_ratio(mine, prefixed)} "
        f"| {_verdict(ratio_met)} |"
    )
    rows.append(
        f"| (c) reference: bare bash, 48 MB without prefixes | {format_seconds(mine)} "
        f"| bash {format_seconds(bash)} | {format_ratio(mine, bash)} | — |"
    )
    peak = results.peak("c", SUBJECT)
    memory_met = None if peak is None else peak < MEMORY_TARGET_BYTES
    rows.append(
        f"| (c) peak RSS of the tree < 64 MiB | {results.peak_text('c', SUBJECT)} "
        f"| bash {results.peak_text('c', 'bash')} | — | {_verdict(memory_met)} |"
    )

    faster_than_act("d", "(d) diamond")

    actions_mine, actions_act = results.median("e", SUBJECT), results.median("e", "act")
    met = (
        None
        if actions_mine is None or actions_act is None
        else actions_mine <= ACTIONS_TARGET_RATIO * actions_act
    )
    rows.append(
        f"| (e) checkout + setup-python + cache restore + 3 steps, warm: at most half of act "
        f"| {format_seconds(actions_mine)} | act {format_seconds(actions_act)} "
        f"| {format_ratio(actions_mine, actions_act)} | {_verdict(met)} |"
    )

    # A Python CLI pays its start-up once per run; taking (a) off (c) shows what
    # streaming 50 MB itself costs, next to bash doing the same.
    start_up = results.median("a", SUBJECT)
    bash_start_up = results.median("a", "bash")
    if None not in (mine, bash, start_up, bash_start_up):
        streaming = mine - start_up  # type: ignore[operator]
        bash_streaming = bash - bash_start_up  # type: ignore[operator]
        rows += [
            "",
            f"(c) without start-up, i.e. median(c) - median(a): conveyor "
            f"{format_seconds(streaming)}, bash {format_seconds(bash_streaming)}, "
            f"ratio {format_ratio(streaming, bash_streaming)}.",
        ]
    return rows


def _ratios(results: Results) -> list[str]:
    peers = [name for name in results.tool_names() if name != SUBJECT]
    rows = [
        "| workload | conveyor median | " + " | ".join(f"÷ {peer}" for peer in peers) + " |",
        "|---|---|" + "---|" * len(peers),
    ]
    for key in results.workload_keys():
        mine = results.median(key, SUBJECT)
        cells = [format_ratio(mine, results.median(key, peer)) for peer in peers]
        rows.append(f"| {key} | {format_seconds(mine)} | " + " | ".join(cells) + " |")
    overheads = [results.per_step_overhead(peer) for peer in peers]
    mine = results.per_step_overhead(SUBJECT)
    rows.append(
        f"| per step (b100-b10)/90 | {format_seconds(mine)} | "
        + " | ".join(
            # Only tools that start a process per step have a per-step cost to compare
            # (GitLab's script lines share one shell, bash runs them all in one process).
            format_ratio(mine, theirs) if peer in PER_STEP_PEERS else "—"
            for peer, theirs in zip(peers, overheads, strict=True)
        ) + " |"
    )
    return rows


def _absolutes(results: Results) -> list[str]:
    rows = [
        "| workload | tool | median | p90 | peak RSS (tree) | ok runs | stdout | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for contestant in results.contestants:
        summary = contestant.summary
        attempts = len(contestant.samples)
        ok_runs = f"{attempts - contestant.failures}/{attempts}"
        stdout = (
            format_bytes(max(contestant.output_bytes)) if contestant.output_bytes else "—"
        )
        note = contestant.skipped_reason or contestant.budget_note or (
            _one_line(contestant.failure_detail) if contestant.failure_detail else ""
        )
        rows.append(
            f"| {contestant.workload_key} | {contestant.tool_name} "
            f"| {format_seconds(summary.median_seconds if summary else None)} "
            f"| {format_seconds(summary.p90_seconds if summary else None)} "
            f"| {format_peak(summary)} "
            f"| {ok_runs} | {stdout} | {note} |"
        )
    return rows


def _per_step(results: Results) -> list[str]:
    rows = ["| tool | b10 median | b100 median | per step |", "|---|---|---|---|"]
    for name in results.tool_names():
        ten, hundred = results.median("b10", name), results.median("b100", name)
        if results.get("b10", name) is None:
            continue
        rows.append(
            f"| {name} | {format_seconds(ten)} | {format_seconds(hundred)} "
            f"| {format_seconds(results.per_step_overhead(name))} |"
        )
    return rows


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ⏎ ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    flat = flat.replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _failures(results: Results) -> list[str]:
    lines: list[str] = []
    for contestant in results.contestants:
        if contestant.failure_detail:
            lines.append(f"### {contestant.tool_name} on {contestant.workload_key}")
            lines.append("```")
            lines.append(contestant.failure_detail.rstrip())
            lines.append("```")
    return lines


def render_report(
    results: Results,
    machine: dict[str, str],
    versions: dict[str, str],
    workload_titles: dict[str, str],
    settings: dict[str, str],
) -> str:
    lines = ["# Conveyor benchmark", ""]
    lines += ["## Targets", "", *_targets(results), ""]
    lines += [
        "## Ratios (conveyor median ÷ peer median; below 1 means conveyor is faster)", "",
        *_ratios(results), "",
    ]
    lines += ["## Per-step overhead", "", *_per_step(results), ""]
    lines += ["## Absolute figures", "", *_absolutes(results), ""]
    lines += ["## Workloads", ""]
    lines += [f"- **{key}**: {title}" for key, title in workload_titles.items()]
    lines += ["", "## Machine and versions", ""]
    lines += [f"- {name}: {value}" for name, value in {**machine, **versions}.items()]
    lines += [f"- {name}: {value}" for name, value in settings.items()]
    failures = _failures(results)
    if failures:
        lines += ["", "## Failures (first failure of each tool, with its stderr tail)", ""]
        lines += failures
    return "\n".join(lines) + "\n"
