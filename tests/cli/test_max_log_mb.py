"""``conveyor run --max-log-mb``: a step's output past the cap is dropped, and said so."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_conveyor

FLOOD = "steps:\n  - run: yes | head -n 1000000\n  - run: echo second step ran\n"


def test_a_step_flooding_past_the_cap_is_cut_and_the_run_goes_on(repo: Path) -> None:
    (repo / ".conveyor.yml").write_text(FLOOD)
    result = run_conveyor("run", "--json", "--max-log-mb", "0.01", cwd=repo)
    assert result.returncode == 0, result.stderr
    lines = result.log_lines()
    notice = next(line for line in lines if line.startswith("conveyor: log truncated"))
    shown = lines.index(notice) * 2  # "y\n" each
    assert shown <= 10_485
    assert notice == (
        f"conveyor: log truncated at 10,485 bytes; {2_000_000 - shown:,} bytes dropped"
    )
    assert lines[-1] == "second step ran"


def test_a_cap_that_is_not_a_positive_number_is_refused(repo: Path) -> None:
    (repo / ".conveyor.yml").write_text(FLOOD)
    result = run_conveyor("run", "--max-log-mb", "lots", cwd=repo)
    assert result.returncode == 2
    assert "'lots' is not a number of megabytes" in result.stderr
