"""What a run tells its progress display (each phase once, filling once) and what it records of its own timing
(start, end and every phase's length in result.json). The run is on a simulated clock, so lengths are exact."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bench.clock import SimClock
from bench.conformance.fake_nvml import FakeGpu, FakeNvml
from tests.support.simrun import simulated_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    calls: list[tuple[str, float, float, str]] = []
    clock = SimClock()
    nvml = FakeNvml([FakeGpu("NVIDIA H100 80GB HBM3", power=300.0)], clock)
    folder = tmp_path_factory.mktemp("progress")
    result = simulated_run(folder, nvml, clock, progress=lambda *a: calls.append(a), idle_s=3.0)
    return result, calls, folder / "t"


def test_each_phase_is_reported_in_one_stretch_that_fills_once(run):
    _, calls, _ = run
    keys = list(dict.fromkeys((phase, label) for phase, _, _, label in calls))
    assert keys == [("idle", "idle baseline"), ("setup", "ticking"), ("warmup", "ticking"), ("repeat", "ticking"),
                    ("latency", "ticking")]  # the workload's name, as the bar shows it beside the phase
    stretches = [(phase, label) for phase, _, _, label in calls]
    for key in keys:  # one contiguous stretch per phase: a bar never restarts
        first, last = stretches.index(key), len(stretches) - 1 - stretches[::-1].index(key)
        assert all(k == key for k in stretches[first:last + 1]), key
        done = [d for phase, d, _, label in calls if (phase, label) == key]
        totals = [t for phase, _, t, label in calls if (phase, label) == key]
        assert done == sorted(done), (key, done)  # never goes back
        assert done[-1] == pytest.approx(totals[-1]) and done[-1] > 0  # and ends full
        if key[0] != "warmup":  # the warm-up's total shrinks to its length when it ends early
            assert len(set(totals)) == 1
    idle = [d for phase, d, _, _ in calls if phase == "idle"]
    assert len(idle) > 10 and idle[-1] == pytest.approx(3.0)  # smooth over all three 1 s blocks
    assert [d for phase, d, _, _ in calls if phase == "repeat"] == [0, 1, 1, 2, 2, 3]


def test_result_records_start_end_and_each_phase(run):
    result, _, folder = run
    data = json.loads((folder / "result.json").read_text())
    timing = data["timing"]
    start = dt.datetime.fromisoformat(timing["started_utc"])
    end = dt.datetime.fromisoformat(timing["finished_utc"])
    assert start.tzinfo is not None and end >= start
    phases = [(p["phase"], p["workload"]) for p in timing["phases"]]
    assert phases == [("idle", None), ("setup", "ticking"), ("warmup", "ticking"), ("repeats", "ticking"),
                      ("latency", "ticking"), ("finish", None)]
    by = {p["phase"]: p for p in timing["phases"]}
    windows = {w.name: w for w in result.windows}
    settle_s = 0.05  # closing a window waits for the counter refreshes that place its edge (10 ms apart here)

    def holds(phase: str, measured_s: float, closes: int) -> None:  # a phase is its windows and their closes
        assert measured_s <= by[phase]["duration_s"] <= measured_s + closes * settle_s, phase

    holds("idle", windows["idle"].duration_s, 1)
    assert 3.0 <= by["idle"]["duration_s"] < 3.5
    repeats = [w for n, w in windows.items() if "/repeat." in n]
    holds("repeats", sum(w.duration_s for w in repeats), len(repeats))
    holds("latency", windows["ticking/latency"].duration_s, 1)
    assert by["warmup"]["duration_s"] == pytest.approx(result.workload("ticking").warmup["duration_s"], abs=0.01)
    starts = [p["start_s"] for p in timing["phases"]]
    assert starts == sorted(starts) and starts[0] >= 0
    for a, b in zip(timing["phases"], timing["phases"][1:]):  # phases follow one another, none overlaps
        assert a["start_s"] + a["duration_s"] <= b["start_s"] + 1e-9
    last = timing["phases"][-1]
    assert timing["duration_s"] == pytest.approx(last["start_s"] + last["duration_s"])
    assert result.timing is not None and result.timing.duration_s == pytest.approx(timing["duration_s"])
