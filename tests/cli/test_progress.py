"""The progress display of `bench run`: one bar per phase, labels printed as they are, a running clock and an
estimate of the time left that follows what the run has taken so far. Driven on a fake clock, drawn at 80 columns."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from bench.cli.progress import RunPlan, RunProgress


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def drive(progress: RunProgress, now: FakeTime, names: list[str], left: list[str]) -> None:
    """The runner's calls for an idle baseline of 4 s, then per workload a 2 s set-up, a 3 s warm-up that ends
    steady and three 5 s repeats; ``left`` collects the overall estimate after each phase."""
    overall = progress._overall

    def note() -> None:
        progress._before_refresh()
        left.append(progress._progress.tasks[overall].fields["left"])

    for k in range(9):
        progress.update("idle", k * 0.5, 4.0, "idle baseline")
        now.t += 0.5
    progress.update("idle", 4.0, 4.0, "idle baseline")
    note()
    for name in names:
        progress.update("setup", 0, 1, name)
        now.t += 2.0
        progress.update("setup", 1, 1, name)
        note()
        for done in (0.0, 1.0, 2.0):
            progress.update("warmup", done, 60.0, name)
            now.t += 1.0
        progress.update("warmup", 3.0, 3.0, name)
        note()
        for r in range(1, 4):
            progress.update("repeat", r - 1, 3, name)
            now.t += 2.5
            progress._before_refresh()
            bar = progress._progress.tasks[progress._bar]
            assert bar.completed == pytest.approx(r - 1 + 0.5)  # moves inside a repeat, by its expected length
            now.t += 2.5
            progress.update("repeat", r, 3, name)
        note()


@pytest.fixture
def drawn():
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None, force_terminal=False)
    now = FakeTime()
    left: list[str] = []
    plan = RunPlan(workloads=2, idle_s=4.0, repeats=3, duration_s=5.0, warmup_min_s=2.0, warmup_max_s=60.0)
    with RunProgress(True, console, plan=plan, now=now) as progress:
        drive(progress, now, ["[x]gemm", "[bold]bert"], left)
    return out.getvalue(), left


def test_one_bar_per_phase_with_labels_printed_as_they_are(drawn):
    text, _ = drawn
    lines = [line for line in text.splitlines() if line.strip()]
    labels = [line.split("  ")[0].strip() for line in lines]
    assert labels == ["run", "idle baseline", "[x]gemm: set-up", "[x]gemm: warm-up", "[x]gemm: repeats",
                      "[bold]bert: set-up", "[bold]bert: warm-up", "[bold]bert: repeats"]
    for line in lines[1:]:
        assert "100%" in line, line  # every phase ended, so every bar is full, once
    assert all(len(line) <= 80 for line in text.splitlines())


def test_each_bar_keeps_its_own_clock_and_the_run_its_total(drawn):
    text, _ = drawn
    clocks = {line.split("  ")[0].strip(): re.findall(r"\d:\d\d:\d\d", line) for line in text.splitlines()
              if line.strip()}
    assert clocks["idle baseline"] == ["0:00:04"]  # not 0:00:01 (the last 1 s block)
    assert clocks["[x]gemm: set-up"] == ["0:00:02"] and clocks["[x]gemm: warm-up"] == ["0:00:03"]
    assert clocks["[x]gemm: repeats"] == ["0:00:15"]
    assert clocks["run"] == ["0:00:44"] and "done" in text.splitlines()[0]


def test_the_estimate_of_time_left_follows_the_run(drawn):
    _, left = drawn
    seconds = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in (re.findall(r"(\d+):(\d\d):(\d\d)", x)[0]
                                                                      for x in left)]
    # after idle: 2 x (set-up 0 (none seen yet) + warm-up 2 + 3 x 5) = 34; after the first set-up (2 s): its
    # warm-up 2 + repeats 15 + the next workload 2 + 2 + 15 = 36; after its 3 s warm-up: 15 + 2 + 3 + 15 = 35;
    # after its repeats: 20 (the second workload as the first went); then 18, 15, 0
    assert seconds == [34, 36, 35, 20, 18, 15, 0]


def test_plan_before_anything_ran():
    plan = RunPlan(workloads=3, idle_s=10.0, repeats=3, duration_s=10.0, warmup_min_s=5.0, warmup_max_s=60.0)
    assert plan.remaining_s(None, 0, 0, 0, 0) == 10 + 3 * (5 + 30)
    # a warm-up past its expected length still has at least one 1 s block to go, never past its limit
    assert plan.remaining_s("warmup", 8.0, 60.0, 8.0, 0) == 1.0 + 30 + 2 * 35
    assert plan.remaining_s("warmup", 59.5, 60.0, 59.5, 0) == 0.5 + 30 + 2 * 35
    # the latency phase after an inference workload's repeats: what is left of its seconds, then the others
    assert plan.remaining_s("latency", 0.0, 4.0, 1.5, 0) == 2.5 + 2 * 35
