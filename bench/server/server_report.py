"""The server benchmark's Markdown report: targets first, then the figures behind them."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from measure import percentile  # bench/measure.py
from report import format_bytes  # bench/report.py
from scenarios import BigLogResult, Breakdown, BurstResult, LatencyTarget

LATENCY_TARGET_SECONDS = 0.100
THROUGHPUT_TARGET_RATIO = 5.0
IDLE_TARGET_BYTES = 150 * 1024 * 1024
# A log streamed with bounded memory grows the server by far less than the log itself.
BIG_LOG_GROWTH_LIMIT_BYTES = 64 * 1024 * 1024


@dataclass
class ServerResults:
    header: dict[str, str]
    latency: list[LatencyTarget] = field(default_factory=list)
    plain_push_seconds: list[float] = field(default_factory=list)
    breakdown: list[Breakdown] = field(default_factory=list)
    bursts: list[BurstResult] = field(default_factory=list)
    idle_rss: dict[str, int] = field(default_factory=dict)
    idle_rss_after: dict[str, int] = field(default_factory=dict)
    big_log: BigLogResult | None = None
    failures: list[str] = field(default_factory=list)


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**missed**")


def _p(values: list[float], fraction: float) -> float | None:
    return percentile(values, fraction) if values else None


def _latency_of(results: ServerResults, name: str) -> LatencyTarget | None:
    return next((target for target in results.latency if target.peer.name == name), None)


def _burst_medians(results: ServerResults) -> dict[str, tuple[float, float]]:
    """Per peer: (median seconds until all done, runs per second at that median)."""
    medians = {}
    for name in dict.fromkeys(burst.peer for burst in results.bursts):
        mine = [burst for burst in results.bursts if burst.peer == name]
        seconds = statistics.median(burst.done_seconds for burst in mine)
        medians[name] = (seconds, mine[0].runs / seconds)
    return medians


def _targets(results: ServerResults) -> list[str]:
    lines = ["| target | figure | verdict |", "|---|---|---|"]
    conveyor = _latency_of(results, "conveyor")
    if conveyor and conveyor.timings:
        from_return = [timing.from_return for timing in conveyor.timings]
        from_start = [timing.from_start for timing in conveyor.timings]
        p50 = _p(from_return, 0.5)
        lines.append(
            f"| (a) push → first step, p50 < 100 ms | conveyor p50 {_ms(p50)} after `git push` "
            f"returned ({_ms(_p(from_start, 0.5))} after it started) "
            f"| {_verdict(p50 is not None and p50 < LATENCY_TARGET_SECONDS)} |")
    medians = _burst_medians(results)
    if "conveyor" in medians and "Buildbot" in medians:
        ratio = medians["conveyor"][1] / medians["Buildbot"][1]
        lines.append(
            f"| (b) throughput ≥ 5x Buildbot's | {ratio:.1f}x "
            f"({medians['conveyor'][1]:.1f} vs {medians['Buildbot'][1]:.2f} runs/s) "
            f"| {_verdict(ratio >= THROUGHPUT_TARGET_RATIO)} |")
    idle = results.idle_rss.get("conveyor")
    if idle:
        lines.append(f"| (c) server idle memory < 150 MB | {format_bytes(idle)} "
                     f"| {_verdict(idle < IDLE_TARGET_BYTES)} |")
    big = results.big_log
    if big and idle:
        peak = max(big.peak_rss_during_step, big.peak_rss_during_download)
        bounded = (big.status == "success" and big.downloaded_bytes == big.expected_bytes
                   and peak - idle < BIG_LOG_GROWTH_LIMIT_BYTES)
        lines.append(
            f"| (c) a {big.expected_bytes / 1e6:.0f} MB log into the database and out as "
            f"`log.txt`, bounded memory (growth < 64 MiB) | peak {format_bytes(peak)} "
            f"(+{format_bytes(peak - idle)} over idle) | {_verdict(bounded)} |")
        watched = big.watched
        if watched is not None:
            growth = big.peak_rss_while_watched - idle
            complete = watched.end_status == "success" and watched.last_line == big.expected_lines
            lines.append(
                f"| (c) the same run watched live in a browser (the run page's event stream), "
                f"bounded memory (growth < 64 MiB) | "
                f"peak {format_bytes(big.peak_rss_while_watched)} "
                f"(+{format_bytes(growth)} over idle) "
                f"| {_verdict(complete and growth < BIG_LOG_GROWTH_LIMIT_BYTES)} |")
    return lines


def _latency(results: ServerResults) -> list[str]:
    lines = [
        "| | pushes | p50 after push returned | p95 | p50 after push started | p95 | "
        "`git push` p50 |",
        "|---|---|---|---|---|---|---|",
    ]
    for target in results.latency:
        from_return = [timing.from_return for timing in target.timings]
        from_start = [timing.from_start for timing in target.timings]
        push = [timing.push_seconds for timing in target.timings]
        lines.append(
            f"| {target.peer.name} | {len(target.timings)} | {_ms(_p(from_return, 0.5))} | "
            f"{_ms(_p(from_return, 0.95))} | {_ms(_p(from_start, 0.5))} | "
            f"{_ms(_p(from_start, 0.95))} | {_ms(_p(push, 0.5))} |")
    if results.plain_push_seconds:
        lines.append(f"| `git push` to a repository without hooks | "
                     f"{len(results.plain_push_seconds)} | | | | | "
                     f"{_ms(_p(results.plain_push_seconds, 0.5))} |")
    conveyor, buildbot = _latency_of(results, "conveyor"), _latency_of(results, "Buildbot")
    if conveyor and buildbot and conveyor.timings and buildbot.timings:
        ours = _p([timing.from_start for timing in conveyor.timings], 0.5)
        theirs = _p([timing.from_start for timing in buildbot.timings], 0.5)
        if ours and theirs:
            lines.append("")
            lines.append(f"From push start to first step, Buildbot's p50 ÷ conveyor's: "
                         f"**{theirs / ours:.1f}x**.")
    return lines


def _breakdown(results: ServerResults) -> list[str]:
    if not results.breakdown:
        return []

    def median_of(attribute: str) -> float:
        return statistics.median(getattr(item, attribute) for item in results.breakdown)

    plain = _p(results.plain_push_seconds, 0.5)
    return [
        "",
        f"Where conveyor's time goes (medians of {len(results.breakdown)} pushes, from the "
        "server's own timestamps; the run is created *inside* `git push`, whose hook waits "
        "for the server's answer):",
        "",
        "| stretch | median |",
        "|---|---|",
        f"| `git push` itself (a repository without hooks) | {_ms(plain)} |",
        "| push started → run row written (git receive, hook start-up, HTTP, workflow read "
        f"at the commit, enqueue) | {_ms(median_of('push_to_created'))} |",
        f"| run row → a worker marks it running (wake-up, claim) | "
        f"{_ms(median_of('created_to_started'))} |",
        f"| running → first step's process (workspace checkout, step spawn) | "
        f"{_ms(median_of('started_to_step'))} |",
        f"| run row → `git push` returns (hook answer, git finishing) | "
        f"{_ms(median_of('created_to_push_return'))} |",
    ]


def _bursts(results: ServerResults) -> list[str]:
    if not results.bursts:
        return []
    lines = [
        "| | rounds | runs per round | all accepted (median) | all done (median) | "
        "runs/s | succeeded |",
        "|---|---|---|---|---|---|---|",
    ]
    medians = _burst_medians(results)
    for name, (seconds, rate) in medians.items():
        mine = [burst for burst in results.bursts if burst.peer == name]
        accepted = statistics.median(burst.accepted_seconds for burst in mine)
        succeeded = sum(burst.succeeded for burst in mine)
        total = sum(burst.runs for burst in mine)
        lines.append(f"| {name} | {len(mine)} | {mine[0].runs} | {accepted:.2f} s | "
                     f"{seconds:.2f} s | {rate:.2f} | {succeeded}/{total} |")
    lines.append("")
    lines.append("Every round: " + "; ".join(
        f"{burst.peer} {burst.done_seconds:.1f} s" for burst in results.bursts) + ".")
    return lines


def _memory(results: ServerResults) -> list[str]:
    lines = ["| | idle, after start-up and one run | idle, after everything |", "|---|---|---|"]
    for name, rss in results.idle_rss.items():
        after = results.idle_rss_after.get(name)
        lines.append(f"| {name} | {format_bytes(rss)} | "
                     f"{format_bytes(after) if after else '—'} |")
    big = results.big_log
    if big:
        whole = "all of it" if big.downloaded_bytes == big.expected_bytes else "NOT all of it"
        lines += [
            "",
            f"conveyor, one step printing {big.expected_bytes:,} bytes in "
            f"{big.expected_lines:,} lines (`seq`):",
            "",
            "| | run | seconds | server peak RSS | what the client got |",
            "|---|---|---|---|---|",
            f"| into the database, nobody watching | {big.status} | {big.step_seconds:.1f} s | "
            f"{format_bytes(big.peak_rss_during_step)} | |",
            f"| then `log.txt` downloaded (API, 64 KiB reads) | | {big.download_seconds:.1f} s | "
            f"{format_bytes(big.peak_rss_during_download)} | "
            f"{big.downloaded_bytes:,} bytes, {whole} |",
        ]
        watched = big.watched
        if watched is not None:
            lines.append(
                f"| a second run, watched live by a logged-in browser client "
                f"(`/repos/…/runs/N/events`, SSE) | {watched.end_status or 'no end event'} | "
                f"{big.watched_step_seconds:.1f} s | {format_bytes(big.peak_rss_while_watched)} | "
                f"{watched.log_events:,} log events, {watched.bytes_received / 1e6:,.0f} MB, "
                f"up to line {watched.last_line:,} of {big.expected_lines:,} |")
    return lines


def render_server_report(results: ServerResults) -> str:
    lines = ["# Server benchmark: `conveyor server` next to Buildbot", ""]
    lines += [f"- {key}: {value}" for key, value in results.header.items()]
    sections = [
        ("Targets", _targets(results)),
        ("(a) Push to first step", _latency(results) + _breakdown(results)),
        ("(b) A burst of runs queued at once", _bursts(results)),
        ("(c) Memory (RSS of the whole process tree)", _memory(results)),
    ]
    for title, body in sections:
        if body:
            lines += ["", f"### {title}", "", *body]
    if results.failures:
        lines += ["", "### Failures", ""] + [f"- {failure}" for failure in results.failures]
    return "\n".join(lines) + "\n"
