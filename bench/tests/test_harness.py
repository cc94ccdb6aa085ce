"""The harness end to end, on real tools: projects, markers, interleaving, the report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from measure import Sample
from peers import BENCH_DIR, Tool, all_tools, prepare_project
from report import Contestant, Results, render_report
from run import Bench, main
from workloads import Job, Step, Workload, all_workloads, render_bash_script


def _bench(tmp_path: Path, tools: dict[str, Tool]) -> Bench:
    for folder in ("markers", "logs"):
        (tmp_path / folder).mkdir()
    return Bench(tools, all_workloads(1), tmp_path, timeout_seconds=60)


def test_a_tool_that_exits_0_without_doing_the_work_is_a_failure(tmp_path: Path) -> None:
    idle = Tool("idle", lambda workload: {"run.sh": render_bash_script(workload)}, ["true"])
    bench = _bench(tmp_path, {"idle": idle})
    bench.run_group("a", ["a"], repetitions=2)
    (contestant,) = bench.contestants
    assert "no marker" in contestant.failure_detail
    assert contestant.skipped_reason and contestant.samples == []


def test_bash_runs_every_workload_and_is_measured(tmp_path: Path) -> None:
    bench = _bench(tmp_path, {"bash": all_tools()["bash"]})
    bench.run_group("b", ["b10", "b100"], repetitions=2)
    bench.run_group("c", ["c"], repetitions=1)
    bench.run_group("d", ["d"], repetitions=1)
    for contestant in bench.contestants:
        assert not contestant.failure_detail, contestant.failure_detail
        assert all(sample.ok for sample in contestant.samples)
    results = Results(bench.contestants)
    (big,) = [c for c in bench.contestants if c.workload_key == "c"]
    assert big.output_bytes == [all_workloads(1)["c"].expected_output_bytes]
    assert results.per_step_overhead("bash") is not None


def test_interleaving_rotates_the_order(tmp_path: Path) -> None:
    log = tmp_path / "order"
    tools = {
        name: Tool(name, lambda workload: {"run.sh": render_bash_script(workload)},
                   ["bash", "-c", f"echo {name} >> {log} && bash run.sh"])
        for name in ("first", "second", "third")
    }
    bench = _bench(tmp_path, tools)
    bench.run_group("a", ["a"], repetitions=3)
    order = log.read_text().split()
    warm_up, repetitions = order[:3], order[3:]
    assert warm_up == ["first", "second", "third"]
    # Round-robin: every repetition runs each tool once, starting one further along.
    assert repetitions == ["first", "second", "third", "second", "third", "first",
                           "third", "first", "second"]


def _contestant(key: str, tool: str, seconds: float, peak: int = 1) -> Contestant:
    return Contestant(key, key, tool, Path("."), samples=[Sample(seconds, peak, 0)])


def test_report_judges_each_target() -> None:
    results = Results([
        _contestant("a", "conveyor", 0.040), _contestant("a", "act", 0.050),
        _contestant("b10", "conveyor", 0.100), _contestant("b100", "conveyor", 0.190),
        _contestant("b10", "act", 0.090), _contestant("b100", "act", 0.540),
        _contestant("c", "conveyor", 0.300, peak=80 * 1024 * 1024), _contestant("c", "bash", 0.1),
        _contestant("c", "bash+sed prefix", 0.1),
        _contestant("d", "conveyor", 0.200), _contestant("d", "act", 0.100),
        _contestant("e", "conveyor", 0.500), _contestant("e", "act", 1.100),
    ])
    markdown = render_report(results, {}, {}, {}, {})
    lines = {line.split("|")[1].strip(): line for line in markdown.splitlines()
             if line.startswith("| (")}
    assert lines["(a) seed faster than act"].endswith("| met |")
    assert "1.0 ms" in lines["(b) per-step overhead < 2 ms"]
    assert lines["(b) per-step overhead < 2 ms"].endswith("| met |")
    same_lines = lines["(c) 50 MB output within 1.5x of bash writing the same lines"]
    assert "3.00x" in same_lines and same_lines.endswith("**MISSED** |")
    assert lines["(c) peak RSS of the tree < 64 MiB"].endswith("**MISSED** |")
    assert lines["(d) diamond faster than act"].endswith("**MISSED** |")
    (actions,) = [line for key, line in lines.items() if key.startswith("(e)")]
    assert "0.45x" in actions and actions.endswith("| met |")
    slower = Results([_contestant("e", "conveyor", 0.600), _contestant("e", "act", 1.100)])
    assert "0.55x" in render_report(slower, {}, {}, {}, {})
    assert "| 0.55x | **MISSED** |" in render_report(slower, {}, {}, {}, {})


def test_the_50_mb_target_compares_like_with_like() -> None:
    results = Results([
        _contestant("c", "conveyor", 0.300), _contestant("c", "bash", 0.1),
        _contestant("c", "bash+sed prefix", 0.600),
    ])
    markdown = render_report(results, {}, {}, {}, {})
    lines = {line.split("|")[1].strip(): line for line in markdown.splitlines()
             if line.startswith("| (c)")}
    target = lines["(c) 50 MB output within 1.5x of bash writing the same lines"]
    assert "bash+sed 600.0 ms" in target and "| 0.50x | met |" in target
    reference = lines["(c) reference: bare bash, 48 MB without prefixes"]
    assert "| 3.00x | — |" in reference
    without = render_report(Results([_contestant("c", "conveyor", 0.3)]), {}, {}, {}, {})
    assert "not measured" in without


@pytest.mark.slow
@pytest.mark.parametrize("tool_name", ["conveyor", "act", "gitlab-ci-local"])
def test_every_tool_runs_the_rendered_workloads(tmp_path: Path, tool_name: str) -> None:
    tool = all_tools()[tool_name]
    if tool.missing_reason():
        pytest.skip(f"{tool_name} is not installed (bench/setup_peers.sh installs it)")
    bench = _bench(tmp_path, {tool_name: tool})
    bench.run_group("a", ["a"], repetitions=1)
    bench.run_group("d", ["d"], repetitions=1)
    for contestant in bench.contestants:
        assert not contestant.failure_detail, contestant.failure_detail
        assert contestant.samples[0].ok


def test_projects_are_git_repositories_with_the_tool_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    prepare_project(all_tools()["act"], all_workloads(1)["a"], project)
    tracked = subprocess.run(["git", "ls-files"], cwd=project, capture_output=True, text=True,
                             check=True).stdout.split()
    assert tracked == [".github/workflows/ci.yml"]


def test_command_line_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "report.md"
    exit_code = main(["--no-setup", "--groups", "a", "--tools", "bash,python -c pass",
                      "--repetitions", "2", "--output", str(output)])
    assert exit_code == 0
    report = output.read_text()
    assert "| a | bash |" in report and "| a | python -c pass |" in report
    assert "2/2" in report
    assert report in capsys.readouterr().out


def test_bad_tool_name_is_a_clear_error() -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCH_DIR / "run.py"), "--no-setup", "--tools", "jenkins"],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode != 0
    assert "unknown tool(s) jenkins" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_slow_tool_stops_at_its_time_budget_and_the_others_go_on(tmp_path: Path) -> None:
    def tool(name: str, delay: float) -> Tool:
        return Tool(name, lambda workload: {"run.sh": render_bash_script(workload)},
                    ["bash", "-c", f"sleep {delay} && bash run.sh"])

    for folder in ("markers", "logs"):
        (tmp_path / folder).mkdir()
    bench = Bench({"slow": tool("slow", 0.2), "fast": tool("fast", 0)}, all_workloads(1),
                  tmp_path, timeout_seconds=60, budget_seconds=0.5)
    bench.run_group("a", ["a"], repetitions=6)
    slow, fast = bench.contestants
    assert len(slow.samples) == 3 and "stopped after 3 of 6 runs" in slow.budget_note
    assert len(fast.samples) == 6 and not fast.budget_note


def test_the_actions_workload_goes_only_to_tools_that_run_actions(tmp_path: Path) -> None:
    tools = all_tools()
    bench = _bench(tmp_path, {name: tools[name] for name in ("conveyor", "act", "bash")})
    contestants = bench.prepare("e", ["e"])
    assert [c.tool_name for c in contestants] == ["conveyor", "act"]
    act = tools["act"].command_for_workload(all_workloads(1)["e"])
    assert "--no-cache-server" not in act and "127.0.0.1" in act
    assert "--no-cache-server" in tools["act"].command_for_workload(all_workloads(1)["a"])


def test_a_workload_can_ask_for_a_clean_workspace_before_each_run(tmp_path: Path) -> None:
    # The step fails when it finds what the previous run left in the workspace.
    step = Step("once", "test ! -e leftover && touch leftover")
    workload = Workload("a", "in place", (Job("j", (step,)),), clean_between_runs=True)
    bench = _bench(tmp_path, {"bash": all_tools()["bash"]})
    bench.workloads = {"a": workload}
    bench.run_group("a", ["a"], repetitions=2)
    (contestant,) = bench.contestants
    assert not contestant.failure_detail, contestant.failure_detail
    assert [sample.ok for sample in contestant.samples] == [True, True]


@pytest.mark.slow
@pytest.mark.parametrize("tool_name", ["conveyor", "act"])
def test_the_actions_workload_runs_warm_after_its_priming_run(
    tmp_path: Path, tool_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = all_tools()[tool_name]
    workload = all_workloads(1)["e"]
    if tool.missing_reason_for(workload):
        pytest.skip(f"{tool_name}: {tool.missing_reason_for(workload)}")
    # conveyor's cache store starts empty: the priming run misses and saves the entry.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    bench = _bench(tmp_path, {tool_name: tool})
    bench.run_group("e", ["e"], repetitions=1)
    (contestant,) = bench.contestants
    assert not contestant.failure_detail, contestant.failure_detail
    assert contestant.samples[0].ok


def test_a_cache_miss_does_not_count_as_a_warm_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    bench = _bench(tmp_path, {"conveyor": all_tools()["conveyor"]})
    (contestant,) = bench.prepare("e", ["e"])
    # The first run of all finds no cache entry: it succeeds, but writes no marker.
    bench.run_once(contestant, record=True)
    assert "no marker" in contestant.failure_detail
    assert "cache-hit=" in contestant.failure_detail or contestant.samples[0].exit_code == 0


def test_act_without_the_local_actions_is_not_run_on_e_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import peers

    monkeypatch.setattr(peers, "ACTIONS_DIR", tmp_path / "actions")
    act = all_tools()["act"]
    if act.missing_reason():
        pytest.skip("act is not installed (bench/setup_peers.sh installs it)")
    reason = act.missing_reason_for(all_workloads(1)["e"])
    assert reason and "actions/checkout@v4" in reason and "bench/README.md" in reason
    assert act.missing_reason_for(all_workloads(1)["a"]) is None
    bench = _bench(tmp_path, {"act": act})
    (contestant,) = bench.prepare("e", ["e"])
    assert contestant.skipped_reason == f"not run: {reason}"
